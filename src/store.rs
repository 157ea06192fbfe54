//! The per-stage secrets store: `secrets/<stage>.yml` found by walking up from the service
//! folder, opened with the local keys, and rewritten atomically under a lock.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::{self, Config, ConfigError};
use crate::keys::{self, AgeIdentities, KeyError, KmsError, NoKey};
use crate::sops::metadata::KeyEntry;
use crate::sops::{self, AgeEntry, DataKey, KmsEntry, Metadata, PlainFile, SopsError};
use crate::tempfiles::PlaintextTemp;
use crate::yaml::{MapItem, Text, Value};

pub const SECRETS_DIR: &str = "secrets";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no `secrets/` folder between {start} and the repository root")]
    NoSecretsDir { start: PathBuf },
    #[error("`{0}` is not a valid stage name (letters, digits, `-` and `_`)")]
    BadStage(String),
    #[error("stage `{stage}` has no secrets file ({path})")]
    NoStage { stage: String, path: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", located(path, source))]
    Sops {
        path: PathBuf,
        #[source]
        source: SopsError,
    },
    #[error("{path}: {source}")]
    NoKey {
        path: PathBuf,
        #[source]
        source: NoKey,
    },
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("no `.sops.yaml` creation rule matches {path}")]
    NoRule { path: PathBuf },
    #[error("the `.sops.yaml` rule for {path} names no age recipient or KMS key")]
    NoRecipients { path: PathBuf },
    #[error("{0}")]
    Age(#[from] keys::AgeError),
    #[error("{path}: {source}")]
    Kms {
        path: PathBuf,
        #[source]
        source: KmsError,
    },
    #[error("{path} is already encrypted for KMS key {arn}")]
    KmsKeyPresent { path: PathBuf, arn: String },
    #[error(
        "internal error: the new data key's age wrap for {path} does not open to it; nothing was written"
    )]
    WrapCheckFailed { path: PathBuf },
    #[error("internal error: {path} did not decrypt to what was written; nothing was changed")]
    VerifyFailed { path: PathBuf },
    #[error("refusing to write {path}: it {what}")]
    UnsafeOutput { path: PathBuf, what: &'static str },
    #[error("refusing to write {path}: it is inside the secrets folder {dir}")]
    InsideSecretsDir { path: PathBuf, dir: PathBuf },
    #[error("refusing to write {path}: it is a sops-encrypted file")]
    SopsFileTarget { path: PathBuf },
    #[error(
        "{path}: `{name}` is a nested mapping or list; a stage file maps variable names to values"
    )]
    NestedValue { path: PathBuf, name: String },
}

/// `FILE:LINE:COL: what` for YAML errors, `FILE: what` otherwise.
fn located(path: &Path, e: &SopsError) -> String {
    match e {
        SopsError::Yaml(y) => format!("{}:{y}", path.display()),
        other => format!("{}: {other}", path.display()),
    }
}

impl StoreError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            StoreError::NoSecretsDir { .. } => {
                "run `sls-secrets init` at the repository root, or pass --secrets-dir DIR".into()
            }
            StoreError::NoStage { stage, .. } => {
                format!("create it with `sls-secrets set --stage {stage} NAME`")
            }
            StoreError::NoKey { source, .. } if source.has_kms() && source.file_recipients.is_empty() => {
                source.details().trim_end().to_owned()
            }
            StoreError::NoKey { source, .. } if !source.missing_plugins().is_empty() => format!(
                "{}install {} where PATH finds it (sops needs it too)",
                source.details(),
                source.missing_plugins().join(" and ")
            ),
            StoreError::NoKey { source, .. } => {
                let ssh = source.file_recipients.iter().any(|r| r.starts_with("ssh-"));
                format!(
                    "{}set SOPS_AGE_KEY_FILE to a file holding one of the file's age identities{}",
                    source.details(),
                    if ssh {
                        " (SOPS_AGE_SSH_PRIVATE_KEY_FILE for an SSH key)"
                    } else {
                        ""
                    }
                )
            }
            StoreError::Kms { source, .. } => return source.hint(),
            StoreError::Age(keys::AgeError::MissingPlugin { program, .. }) => {
                format!("install {program} where PATH finds it (sops needs it too)")
            }
            StoreError::NoRule { .. } | StoreError::NoRecipients { .. } => {
                "run `sls-secrets init` to add a rule for secrets/*.yml to .sops.yaml".into()
            }
            StoreError::UnsafeOutput { .. } => {
                "give a new path or a regular file (`-` for stdout), e.g. -o serverless.rendered.yml".into()
            }
            StoreError::InsideSecretsDir { .. } => {
                "the secrets folder holds only encrypted stage files; render next to serverless.yml".into()
            }
            StoreError::SopsFileTarget { .. } => {
                "plaintext never replaces an encrypted file; render next to serverless.yml, e.g. -o serverless.rendered.yml".into()
            }
            StoreError::Sops {
                source: SopsError::MacMismatch | SopsError::MacUnreadable | SopsError::Walk(_),
                ..
            } => "restore the file from git (`git checkout -- FILE`); edit secrets only with sls-secrets or sops".into(),
            _ => return None,
        })
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Validates a stage name: it becomes a file name, so no separators or dots.
pub fn check_stage(stage: &str) -> Result<(), StoreError> {
    let ok = !stage.is_empty()
        && stage.len() <= 128
        && stage
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && stage
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadStage(stage.to_owned()))
    }
}

/// The nearest `secrets/` folder from `start` up to the repository root (the first folder
/// holding `.git`), so one folder serves every service of a monorepo.
pub fn find_secrets_dir(start: &Path) -> Result<PathBuf, StoreError> {
    // Outside a repository only the start folder counts: walking up to `/` could pick up a
    // folder (and keys) that another user controls.
    let in_repo = start.ancestors().any(|d| d.join(".git").exists());
    for dir in start.ancestors() {
        let candidate = dir.join(SECRETS_DIR);
        if candidate.is_dir() {
            return Ok(candidate);
        }
        if !in_repo || dir.join(".git").exists() {
            break;
        }
    }
    Err(StoreError::NoSecretsDir {
        start: start.to_owned(),
    })
}

/// The repository root (nearest folder with `.git`), else `start`.
pub fn repo_root(start: &Path) -> PathBuf {
    start
        .ancestors()
        .find(|d| d.join(".git").exists())
        .unwrap_or(start)
        .to_owned()
}

/// Stage files of a secrets folder (`*.yml`, `*.yaml`, not hidden), sorted by stage name.
pub fn stage_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, StoreError> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io(dir))?.flatten() {
        let p = e.path();
        let (Some(stem), Some(ext)) = (p.file_stem(), p.extension()) else {
            continue;
        };
        if (ext == "yml" || ext == "yaml") && !stem.to_string_lossy().starts_with('.') {
            out.push((stem.to_string_lossy().into_owned(), p));
        }
    }
    out.sort();
    Ok(out)
}

/// `<dir>/<stage>.yml`, or `<stage>.yaml` when only that exists.
pub fn stage_path(dir: &Path, stage: &str) -> Result<PathBuf, StoreError> {
    check_stage(stage)?;
    let yml = dir.join(format!("{stage}.yml"));
    let yaml = dir.join(format!("{stage}.yaml"));
    Ok(if !yml.exists() && yaml.exists() {
        yaml
    } else {
        yml
    })
}

/// A sops file parsed but not decrypted: names and metadata need no key.
pub fn read_encrypted(path: &Path) -> Result<sops::EncryptedFile, StoreError> {
    let text = crate::files::read_text(path).map_err(io(path))?;
    sops::parse(&text).map_err(|source| StoreError::Sops {
        path: path.to_owned(),
        source,
    })
}

/// The stage's secrets as environment strings, in file order (typed values as sops prints
/// them: `true`, `1.5`, a date as written).
pub fn stage_env(path: &Path, file: &PlainFile) -> Result<Vec<(String, Text)>, StoreError> {
    let mut out = Vec::new();
    for item in file.top() {
        let MapItem::Entry(name, value) = item else {
            continue;
        };
        let text = value_text(value).ok_or_else(|| StoreError::NestedValue {
            path: path.to_owned(),
            name: name.clone(),
        })?;
        out.push((name.clone(), text));
    }
    Ok(out)
}

/// A scalar as an environment string (as sops prints it); `None` for a mapping or list.
pub fn value_text(value: &Value) -> Option<Text> {
    Some(match value {
        Value::Str(s) | Value::Time(s) => s.clone(),
        Value::Int(i) => Text::new(i.to_string()),
        Value::Float(f) => Text::new(sops::tree::format_go_float(*f)),
        Value::Bool(b) => Text::new(b.to_string()),
        Value::Null => Text::new(String::new()),
        Value::Map(_) | Value::Seq(_) => return None,
    })
}

/// Reads and decrypts any sops file with the given identities.
pub fn open(path: &Path, ids: &AgeIdentities) -> Result<PlainFile, StoreError> {
    let text = crate::files::read_text(path).map_err(io(path))?;
    open_text(path, &text, ids)
}

pub fn open_text(path: &Path, text: &str, ids: &AgeIdentities) -> Result<PlainFile, StoreError> {
    let sops_err = |source| StoreError::Sops {
        path: path.to_owned(),
        source,
    };
    let file = sops::parse(text).map_err(sops_err)?;
    let key = keys::unwrap_data_key(&file.meta, ids).map_err(|source| StoreError::NoKey {
        path: path.to_owned(),
        source,
    })?;
    file.decrypt(key).map_err(sops_err)
}

/// The stage file at `path`, or a new empty one with keys from `.sops.yaml`.
pub fn open_or_create(path: &Path, ids: &AgeIdentities) -> Result<(PlainFile, bool), StoreError> {
    if path.exists() {
        return open(path, ids).map(|f| (f, false));
    }
    let rule = creation_rule(path)?;
    let key = DataKey::generate().map_err(|e| StoreError::Io {
        path: path.to_owned(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let mut meta = Metadata::with_keys(wrap_for_rule(path, &key, &rule)?);
    if let Some(r) = rule.rule {
        meta.rule = r;
    }
    meta.mac_only_encrypted = rule.mac_only_encrypted;
    Ok((PlainFile::new(key, meta), true))
}

/// The `.sops.yaml` creation rule for a (new) stage file.
pub fn creation_rule(path: &Path) -> Result<config::CreationRule, StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let cfg_path = config::find(dir).ok_or_else(|| StoreError::NoRule {
        path: path.to_owned(),
    })?;
    let cfg_abs = std::path::absolute(&cfg_path).unwrap_or(cfg_path);
    let cfg = Config::load(&cfg_abs)?;
    cfg.rule_for(&abs)?.ok_or_else(|| StoreError::NoRule {
        path: path.to_owned(),
    })
}

/// Wraps a data key for every key a creation rule names: age locally, then one KMS
/// `Encrypt` per KMS key.
pub fn wrap_for_rule(
    path: &Path,
    key: &DataKey,
    rule: &config::CreationRule,
) -> Result<Vec<KeyEntry>, StoreError> {
    wrap_keys(path, key, &rule.keys)
}

/// Wraps a data key for each of `keys` (a rule's, or a file's), in their order.
fn wrap_keys(path: &Path, key: &DataKey, keys: &[KeyEntry]) -> Result<Vec<KeyEntry>, StoreError> {
    if keys.is_empty() {
        return Err(StoreError::NoRecipients {
            path: path.to_owned(),
        });
    }
    keys::wrap_all(key, keys).map_err(|error| key_error(path, error))
}

fn key_error(path: &Path, error: KeyError) -> StoreError {
    match error {
        KeyError::Age(source) => StoreError::Age(source),
        KeyError::Kms(source) => StoreError::Kms {
            path: path.to_owned(),
            source,
        },
    }
}

/// A new data key for an open file, wrapped for `keys` (`rotate`: the rule's; `keys remove`:
/// the file's but one). Every value gets a new ciphertext when the file is saved, which
/// checks them against the new key; the new local wraps are checked here, where one of our
/// identities is among the recipients (a KMS check would cost a call).
pub fn rekey(
    path: &Path,
    file: &mut PlainFile,
    keys: &[KeyEntry],
    ids: &AgeIdentities,
) -> Result<(), StoreError> {
    let key = DataKey::generate().map_err(|e| StoreError::Io {
        path: path.to_owned(),
        source: std::io::Error::other(format!("random number generator: {e}")),
    })?;
    let wrapped = wrap_keys(path, &key, keys)?;
    if let Some(opened) = keys::unwrap_local(&wrapped, ids)
        && opened.expose() != key.expose()
    {
        return Err(StoreError::WrapCheckFailed {
            path: path.to_owned(),
        });
    }
    file.set_key(key);
    file.meta.set_keys(wrapped);
    Ok(())
}

/// Adds an age recipient (any kind sops accepts) to an open file: the *same* data key is
/// wrapped for it, so values and their ciphertexts stay as they are (`sops updatekeys`).
/// Save the file to keep the change.
pub fn add_age_recipient(
    path: &Path,
    file: &mut PlainFile,
    recipient: &str,
) -> Result<(), StoreError> {
    let entry = KeyEntry::Age(AgeEntry {
        recipient: recipient.to_owned(),
        enc: String::new(),
    });
    let wrapped = keys::source_of(&entry)
        .wrap(&file.key)
        .map_err(|error| key_error(path, error))?;
    file.meta.add_key(wrapped);
    Ok(())
}

/// Adds a KMS key to an open file: the *same* data key is wrapped for it (one `Encrypt`), so
/// values stay as they are. Save the file to keep the change.
pub fn add_kms_key(path: &Path, file: &mut PlainFile, spec: &KmsEntry) -> Result<(), StoreError> {
    let present = file
        .meta
        .keys()
        .iter()
        .any(|key| key.kind() == "kms" && key.id() == spec.arn);
    if present {
        return Err(StoreError::KmsKeyPresent {
            path: path.to_owned(),
            arn: spec.arn.clone(),
        });
    }
    let entry = keys::kms::wrap(&file.key, spec).map_err(|source| StoreError::Kms {
        path: path.to_owned(),
        source,
    })?;
    file.meta.add_key(KeyEntry::Kms(entry));
    Ok(())
}

/// One age stanza per recipient.
pub fn wrap_age(key: &DataKey, recipients: &[String]) -> Result<Vec<AgeEntry>, StoreError> {
    recipients
        .iter()
        .map(|r| keys::age::wrap(key, r).map_err(StoreError::from))
        .collect()
}

/// Holds an exclusive lock on a folder for the duration of a read-modify-write, so
/// concurrent writers serialise and none is lost. Locking the folder (not the file) survives
/// the file being replaced by rename, and leaves no lock file behind.
pub struct DirLock(#[allow(dead_code)] File);

pub fn lock_dir(dir: &Path) -> Result<DirLock, StoreError> {
    let f = File::open(dir).map_err(io(dir))?;
    match f.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            eprintln!(
                "sls-secrets: waiting for another sls-secrets to finish with {}...",
                dir.display()
            );
            f.lock().map_err(io(dir))?;
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(dir)(e)),
    }
    Ok(DirLock(f))
}

/// Writes `text` to `path` atomically: a temporary file in the same folder, synced, then
/// renamed over the target. Keeps the existing file's mode; new files get `new_mode`.
pub fn write_atomic(path: &Path, text: &[u8], new_mode: u32) -> Result<(), StoreError> {
    write_with_mode(path, text, existing_mode(path).unwrap_or(new_mode))
}

/// Creates `path` with `text`, mode 0600, atomically and never over an existing file (an age
/// identity: half a keys file, or replacing one, would lock its owner out).
pub fn create_private(path: &Path, text: &[u8]) -> Result<(), StoreError> {
    write_temp_then(path, text, 0o600, Replace::Never)
}

fn write_with_mode(path: &Path, text: &[u8], mode: u32) -> Result<(), StoreError> {
    write_temp_then(path, text, mode, Replace::ThroughLink)
}

/// How the atomic rename treats an existing target.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Replace {
    /// Never over an existing file.
    Never,
    /// Replace it; a symlink is replaced too (never followed: a link planted after a check
    /// must not redirect plaintext).
    Link,
    /// Replace it; a symlink (a stage file kept elsewhere) is written through, kept as a link.
    ThroughLink,
}

fn write_temp_then(
    path: &Path,
    text: &[u8],
    mode: u32,
    replace: Replace,
) -> Result<(), StoreError> {
    let no_clobber = replace == Replace::Never;
    let resolved;
    let path = if replace == Replace::ThroughLink
        && std::fs::symlink_metadata(path).is_ok_and(|m| m.is_symlink())
    {
        resolved = std::fs::canonicalize(path).map_err(io(path))?;
        resolved.as_path()
    } else {
        path
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // Removed on a TERM/INT/HUP too (`tempfiles`), not only on return.
    let mut tmp = PlaintextTemp::new_in(dir, ".sls-secrets-").map_err(io(path))?;
    if !no_clobber {
        keep_owner(tmp.as_file(), path).map_err(io(path))?;
    }
    // After the owner: chown clears set-id bits.
    set_mode(tmp.as_file(), mode).map_err(io(path))?;
    tmp.as_file_mut().write_all(text).map_err(io(path))?;
    tmp.as_file().sync_all().map_err(io(path))?;
    tmp.persist(path, no_clobber).map_err(io(path))
}

/// As root, a replaced file keeps its owner and group: a user's file must not become root's.
/// (Anyone else can only create files they own; their rename behaves as it always did.)
#[cfg(unix)]
fn keep_owner(tmp: &File, target: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Ok(old) = std::fs::metadata(target) else {
        return Ok(());
    };
    let new = tmp.metadata()?;
    if rustix::process::geteuid().is_root() && (old.uid(), old.gid()) != (new.uid(), new.gid()) {
        std::os::unix::fs::fchown(tmp, Some(old.uid()), Some(old.gid()))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn keep_owner(_: &File, _: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn existing_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn existing_mode(_: &Path) -> Option<u32> {
    None
}

#[cfg(unix)]
fn set_mode(f: &File, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &File, _: u32) -> std::io::Result<()> {
    Ok(())
}

/// Checks that plaintext may be written to `path`: a new path or a regular file, never a
/// device, FIFO, socket, folder or symlink (the rename would replace it: `/dev/null` would
/// become a file of secrets), and never inside one of `secrets_dirs` (a stage file would be
/// replaced by plaintext).
pub fn check_plaintext_target(path: &Path, secrets_dirs: &[PathBuf]) -> Result<(), StoreError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) => {
            if let Some(what) = crate::files::not_a_regular_file(&meta.file_type()) {
                return Err(StoreError::UnsafeOutput {
                    path: path.to_owned(),
                    what,
                });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(path)(e)),
    }
    refuse_secret_store(path, secrets_dirs)
}

/// Refuses a plaintext write into the secrets store: inside one of `secrets_dirs`, inside any
/// `secrets/` folder from the repository root down (a monorepo has several), or over a file
/// that is a sops file wherever it is. Checked on the real path the write would reach.
pub fn refuse_secret_store(path: &Path, secrets_dirs: &[PathBuf]) -> Result<(), StoreError> {
    let real = match std::fs::canonicalize(path) {
        Ok(p) => p,
        Err(_) => {
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            std::fs::canonicalize(dir)
                .map_err(io(dir))?
                .join(path.file_name().unwrap_or_default())
        }
    };
    let real_dir = real.parent().unwrap_or(Path::new("/"));
    let inside = |dir: &Path| StoreError::InsideSecretsDir {
        path: path.to_owned(),
        dir: dir.to_owned(),
    };
    for secrets in secrets_dirs {
        if let Ok(real_secrets) = std::fs::canonicalize(secrets)
            && real_dir.starts_with(&real_secrets)
        {
            return Err(inside(secrets));
        }
    }
    // The target's folder and every folder above it below the repository root (outside a
    // repository, the target's folder only, as in `find_secrets_dir`).
    let root = repo_root(real_dir);
    let below_root = real_dir.ancestors().take_while(|d| *d != root);
    for dir in std::iter::once(real_dir).chain(below_root) {
        if dir.file_name().is_some_and(|n| n == SECRETS_DIR) {
            return Err(inside(dir));
        }
    }
    // Only a file with a top-level `sops:` key can be one: the rendered file that `-o`
    // replaces on every deploy is not parsed a second time.
    if std::fs::metadata(&real).is_ok_and(|m| m.is_file())
        && let Ok(text) = crate::files::read_text(&real)
        && text.lines().any(|l| l.starts_with("sops:"))
        && sops::parse(&text).is_ok()
    {
        return Err(StoreError::SopsFileTarget {
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// Writes plaintext atomically with mode 0600, whatever mode an existing file had.
pub fn write_private(path: &Path, text: &[u8]) -> Result<(), StoreError> {
    write_temp_then(path, text, 0o600, Replace::Link)
}

/// [`write_private`] over a file the user named as the one to replace (`--in-place`): a
/// symlink is written through and kept.
pub fn replace_private(path: &Path, text: &[u8]) -> Result<(), StoreError> {
    write_temp_then(path, text, 0o600, Replace::ThroughLink)
}

/// Encrypts `file`, checks the text decrypts back to the same values with the same key,
/// then writes it atomically.
pub fn save(path: &Path, file: &mut PlainFile) -> Result<(), StoreError> {
    let now = crate::timefmt::now_utc();
    let text = file.encrypt(&now).map_err(|source| StoreError::Sops {
        path: path.to_owned(),
        source,
    })?;
    let reread = sops::parse(&text)
        .and_then(|f| {
            let key = DataKey::from_bytes(file.key.expose()).expect("32-byte key");
            f.decrypt(key)
        })
        .map_err(|_| StoreError::VerifyFailed {
            path: path.to_owned(),
        })?;
    // Compare as text: NaN != NaN would fail a structural comparison.
    if *zeroize::Zeroizing::new(reread.to_plain_yaml())
        != *zeroize::Zeroizing::new(file.to_plain_yaml())
    {
        return Err(StoreError::VerifyFailed {
            path: path.to_owned(),
        });
    }
    write_atomic(path, text.as_bytes(), 0o644)
}
