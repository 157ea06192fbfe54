//! Key-level comparison of two versions of a stage file: which names were added, removed or
//! changed, and which recipients came or went. Values are masked unless asked for; a value
//! the file's rule leaves in clear (`*_unencrypted`) is shown as it is.
//!
//! A change is decided on plaintext when a key opens both versions, so a rotation alone (new
//! data key, same values) is no change. Without a key, equal ciphertext means unchanged and a
//! different one is "changed or re-encrypted" (sops gives every write of a changed value, and
//! every value after a rotation, a new ciphertext; the two can't be told apart without the key).

use std::path::Path;

use crate::config::CreationRule;
use crate::conformance;
use crate::json;
use crate::keys::{self, AgeIdentities};
use crate::sops::{self, rules::Rule};
use crate::store::{self, StoreError};
use crate::text::escape_control;
use crate::yaml::{MapItem, Text, Value};

pub const MASK: &str = "****";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    Added,
    Removed,
    Modified,
    Unchanged,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum KeyChange {
    Added,
    Removed,
    Changed,
    /// No key opened both versions and the ciphertext differs.
    ChangedOrReencrypted,
}

/// One side of a key change as it may be shown. No `Debug`: it may hold a secret.
pub enum Shown {
    Absent,
    /// An encrypted value: its plaintext when a key opened that version.
    Secret(Option<Text>),
    /// A value the file's rule leaves unencrypted.
    Clear(Text),
}

pub struct KeyDiff {
    pub name: String,
    pub change: KeyChange,
    pub old: Shown,
    pub new: Shown,
}

/// The comparison of one stage file. No `Debug`: it may hold secrets.
pub struct FileDiff {
    /// The file as named to the user (relative to the repository root).
    pub path: String,
    pub stage: String,
    pub status: FileStatus,
    /// Whether a key opened every version that exists (changes decided on plaintext).
    pub decrypted: bool,
    pub keys: Vec<KeyDiff>,
    pub recipients_added: Vec<String>,
    pub recipients_removed: Vec<String>,
    /// Encryption settings that changed: which values are encrypted, `mac_only_encrypted`.
    pub settings: Vec<SettingChange>,
}

/// A changed setting of the `sops:` block (public, so always shown).
pub struct SettingChange {
    pub name: &'static str,
    pub old: String,
    pub new: String,
}

impl FileDiff {
    pub fn changed(&self) -> bool {
        self.status != FileStatus::Unchanged
    }
}

/// One version of a stage file: entries as stored, and decrypted when a key opens it.
struct Version {
    stored: Vec<(String, Value)>,
    plain: Option<Vec<(String, Value)>>,
    rule: Rule,
    recipients: Vec<String>,
    /// Each recipient's kind and id, in the same order, to compare by key.
    keys: Vec<(String, String)>,
    /// The settings compared across versions, by name.
    settings: Vec<(&'static str, String)>,
}

/// The `sops:` settings that decide what is encrypted and what the MAC covers.
fn settings(meta: &sops::Metadata) -> Vec<(&'static str, String)> {
    vec![
        ("encryption", conformance::describe_rule(&meta.rule)),
        ("mac_only_encrypted", meta.mac_only_encrypted.to_string()),
    ]
}

fn top_entries(items: &[MapItem]) -> Vec<(String, Value)> {
    items
        .iter()
        .filter_map(|i| match i {
            MapItem::Entry(k, v) => Some((k.clone(), v.clone())),
            MapItem::Comment(_) => None,
        })
        .collect()
}

/// Every key that can open a file, as `age RECIPIENT` / `kms ARN` / the foreign key type, with
/// the comment `.sops.yaml` has beside it (who it is) when `rule` is known.
pub fn recipients(meta: &sops::Metadata, rule: Option<&CreationRule>) -> Vec<String> {
    let rule = rule.cloned().unwrap_or_default();
    conformance::file_recipients(meta, &rule)
        .into_iter()
        .map(|r| match (r.id.is_empty(), &r.comment) {
            (true, _) => format!("{} (not usable by sls-secrets)", r.kind),
            (false, None) => format!("{} {}", r.kind, r.id),
            (false, Some(c)) => format!("{} {} ({c})", r.kind, r.id),
        })
        .collect()
}

fn read_version(
    label: &Path,
    text: &str,
    ids: &AgeIdentities,
    rule: Option<&CreationRule>,
) -> Result<Version, StoreError> {
    let sops_err = |source| StoreError::Sops {
        path: label.to_owned(),
        source,
    };
    let file = sops::parse(text).map_err(sops_err)?;
    let stored = top_entries(file.docs.first().map_or(&[], |d| &d.items));
    let plain = match keys::unwrap_data_key(&file.meta, ids) {
        Ok(key) => {
            let opened = sops::parse(text)
                .and_then(|f| f.decrypt(key))
                .map_err(sops_err)?;
            Some(top_entries(opened.top()))
        }
        Err(_) => None,
    };
    Ok(Version {
        stored,
        plain,
        rule: file.meta.rule.clone(),
        recipients: recipients(&file.meta, rule),
        keys: conformance::file_recipients(&file.meta, &CreationRule::default())
            .into_iter()
            .map(|r| (r.kind, r.id))
            .collect(),
        settings: settings(&file.meta),
    })
}

/// The recipients of `a` that `b` lacks, compared by key (an SSH key written with another
/// comment is the same recipient).
fn only_in(a: &Version, b: &Version) -> Vec<String> {
    let has = |(kind, id): &(String, String)| {
        b.keys
            .iter()
            .any(|(k, i)| k == kind && crate::keys::same_id(kind, id, i))
    };
    a.recipients
        .iter()
        .zip(&a.keys)
        .filter(|(_, key)| !has(key))
        .map(|(shown, _)| shown.clone())
        .collect()
}

fn find<'a>(entries: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
    entries.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn shown(v: &Version, name: &str, clear: bool) -> Shown {
    let Some(stored) = find(&v.stored, name) else {
        return Shown::Absent;
    };
    let text = |value: &Value| {
        store::value_text(value).unwrap_or_else(|| Text::new("(a mapping or list)".into()))
    };
    if clear {
        return Shown::Clear(text(stored));
    }
    Shown::Secret(v.plain.as_ref().and_then(|p| find(p, name)).map(text))
}

/// Compares two versions of a stage file (`None`: the file does not exist on that side).
/// `label_old`/`label_new` name the versions in errors (`HEAD:secrets/prod.yml`); `rule`, the
/// file's creation rule when known, names recipients by their `.sops.yaml` comments.
pub fn compare(
    path: &str,
    stage: &str,
    old: Option<(&Path, &str)>,
    new: Option<(&Path, &str)>,
    ids: &AgeIdentities,
    rule: Option<&CreationRule>,
) -> Result<FileDiff, StoreError> {
    let old = old
        .map(|(l, t)| read_version(l, t, ids, rule))
        .transpose()?;
    let new = new
        .map(|(l, t)| read_version(l, t, ids, rule))
        .transpose()?;
    let empty = Version {
        stored: Vec::new(),
        plain: Some(Vec::new()),
        rule: Rule::default(),
        recipients: Vec::new(),
        keys: Vec::new(),
        settings: Vec::new(),
    };
    let (o, n) = (
        old.as_ref().unwrap_or(&empty),
        new.as_ref().unwrap_or(&empty),
    );
    let decrypted = o.plain.is_some() && n.plain.is_some();
    let mut names: Vec<&str> = o.stored.iter().map(|(k, _)| k.as_str()).collect();
    names.extend(
        n.stored
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| find(&o.stored, k).is_none()),
    );
    let mut keys = Vec::new();
    for name in names {
        let rule = if new.is_some() { &n.rule } else { &o.rule };
        let clear = !rule.encrypts(&[name.to_owned()]);
        let change = match (find(&o.stored, name), find(&n.stored, name)) {
            (Some(_), None) => KeyChange::Removed,
            (None, Some(_)) => KeyChange::Added,
            (Some(a), Some(b)) if clear => match a == b {
                true => continue,
                false => KeyChange::Changed,
            },
            (Some(a), Some(b)) => match (&o.plain, &n.plain) {
                (Some(pa), Some(pb)) if find(pa, name) == find(pb, name) => continue,
                (Some(_), Some(_)) => KeyChange::Changed,
                _ if a == b => continue,
                _ => KeyChange::ChangedOrReencrypted,
            },
            (None, None) => continue,
        };
        keys.push(KeyDiff {
            name: name.to_owned(),
            change,
            old: shown(o, name, clear),
            new: shown(n, name, clear),
        });
    }
    let (recipients_added, recipients_removed) = (only_in(n, o), only_in(o, n));
    let settings: Vec<SettingChange> = o
        .settings
        .iter()
        .zip(&n.settings)
        .filter(|((_, a), (_, b))| a != b)
        .map(|((name, a), (_, b))| SettingChange {
            name,
            old: a.clone(),
            new: b.clone(),
        })
        .collect();
    let status = match (&old, &new) {
        (None, Some(_)) => FileStatus::Added,
        (Some(_), None) => FileStatus::Removed,
        _ if keys.is_empty()
            && recipients_added.is_empty()
            && recipients_removed.is_empty()
            && settings.is_empty() =>
        {
            FileStatus::Unchanged
        }
        _ => FileStatus::Modified,
    };
    Ok(FileDiff {
        path: path.to_owned(),
        stage: stage.to_owned(),
        status,
        decrypted,
        keys,
        recipients_added,
        recipients_removed,
        settings,
    })
}

/// A value for display: masked unless `show_values`; a multi-line or odd value quoted.
fn display(s: &Shown, show_values: bool) -> Option<String> {
    let text = match s {
        Shown::Absent => return None,
        Shown::Secret(Some(t)) if show_values => t.as_str(),
        Shown::Secret(_) => return Some(MASK.to_owned()),
        Shown::Clear(t) => t.as_str(),
    };
    let plain = !text.is_empty()
        && !text.starts_with([' ', '"'])
        && !text.ends_with(' ')
        && !text.chars().any(char::is_control);
    Some(if plain {
        text.to_owned()
    } else {
        json::string(text)
    })
}

/// The human report: one block per changed file; `None` lines for unchanged files.
pub fn to_text(diffs: &[FileDiff], show_values: bool) -> String {
    let mut out = String::new();
    for d in diffs.iter().filter(|d| d.changed()) {
        let what = match d.status {
            FileStatus::Added => ": new file",
            FileStatus::Removed => ": deleted",
            _ => "",
        };
        // Names, paths and recipients come from files anyone can push: no raw control
        // character reaches the terminal (values are quoted by `display` when they hold one).
        out.push_str(&format!(
            "{} (stage {}){what}\n",
            escape_control(&d.path),
            escape_control(&d.stage)
        ));
        for k in &d.keys {
            let old = display(&k.old, show_values).unwrap_or_default();
            let new = display(&k.new, show_values).unwrap_or_default();
            let name = escape_control(&k.name);
            let line = match k.change {
                KeyChange::Added => format!("  + {name}: {new}"),
                KeyChange::Removed => format!("  - {name}: {old}"),
                KeyChange::Changed => format!("  ~ {name}: {old} -> {new}"),
                KeyChange::ChangedOrReencrypted => {
                    format!("  ~ {name}: changed or re-encrypted (no key to tell)")
                }
            };
            out.push_str(&line);
            out.push('\n');
        }
        for r in &d.recipients_added {
            out.push_str(&format!("  + recipient {}\n", escape_control(r)));
        }
        for r in &d.recipients_removed {
            out.push_str(&format!("  - recipient {}\n", escape_control(r)));
        }
        for c in &d.settings {
            out.push_str(&format!(
                "  ~ setting {}: {} -> {}\n",
                c.name,
                escape_control(&c.old),
                escape_control(&c.new)
            ));
        }
    }
    out
}

/// The `--json` report (shape documented in docs/git.md).
pub fn to_json(diffs: &[FileDiff], show_values: bool) -> String {
    let value = |s: &Shown| display_json(s, show_values);
    let files: Vec<String> = diffs
        .iter()
        .map(|d| {
            let keys: Vec<String> = d
                .keys
                .iter()
                .map(|k| {
                    format!(
                        r#"{{"name":{},"change":"{}","old":{},"new":{}}}"#,
                        json::string(&k.name),
                        match k.change {
                            KeyChange::Added => "added",
                            KeyChange::Removed => "removed",
                            KeyChange::Changed => "changed",
                            KeyChange::ChangedOrReencrypted => "changed_or_reencrypted",
                        },
                        value(&k.old),
                        value(&k.new)
                    )
                })
                .collect();
            let settings: Vec<String> = d
                .settings
                .iter()
                .map(|c| {
                    format!(
                        r#"{{"name":{},"old":{},"new":{}}}"#,
                        json::string(c.name),
                        json::string(&c.old),
                        json::string(&c.new)
                    )
                })
                .collect();
            format!(
                r#"{{"path":{},"stage":{},"status":"{}","decrypted":{},"keys":[{}],"recipients":{{"added":{},"removed":{}}},"settings":[{}]}}"#,
                json::string(&d.path),
                json::string(&d.stage),
                match d.status {
                    FileStatus::Added => "added",
                    FileStatus::Removed => "removed",
                    FileStatus::Modified => "modified",
                    FileStatus::Unchanged => "unchanged",
                },
                d.decrypted,
                keys.join(","),
                json::string_array(d.recipients_added.iter().map(String::as_str)),
                json::string_array(d.recipients_removed.iter().map(String::as_str)),
                settings.join(","),
            )
        })
        .collect();
    format!(
        "{{\"changed\":{},\"files\":[{}]}}\n",
        diffs.iter().any(FileDiff::changed),
        files.join(",")
    )
}

fn display_json(s: &Shown, show_values: bool) -> String {
    match s {
        Shown::Absent => "null".to_owned(),
        Shown::Secret(Some(t)) if show_values => json::string(t),
        Shown::Secret(_) => json::string(MASK),
        Shown::Clear(t) => json::string(t),
    }
}

/// Where a version of the secrets folder is read from.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    /// A commit (`git show REV:path`).
    Rev(&'a str),
    /// The files on disk.
    WorkTree,
}

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("{0}")]
    Git(#[from] crate::git::GitError),
    #[error("{0}")]
    /// Boxed: `StoreError` is large and these errors travel through many `?`s.
    Store(Box<StoreError>),
    #[error("the secrets folder {dir} is outside the git repository {root}")]
    Outside {
        dir: std::path::PathBuf,
        root: std::path::PathBuf,
    },
}

impl From<StoreError> for DiffError {
    fn from(e: StoreError) -> DiffError {
        DiffError::Store(Box::new(e))
    }
}

impl DiffError {
    pub fn hint(&self) -> Option<String> {
        match self {
            DiffError::Git(e) => e.hint().map(str::to_owned),
            DiffError::Store(e) => e.hint(),
            DiffError::Outside { .. } => Some(
                "run inside the repository that holds the secrets folder, or pass --secrets-dir"
                    .into(),
            ),
        }
    }
}

fn is_stage_file(name: &str) -> Option<&str> {
    let stem = name
        .strip_suffix(".yml")
        .or_else(|| name.strip_suffix(".yaml"))?;
    (!stem.is_empty() && !stem.starts_with('.')).then_some(stem)
}

fn list(root: &Path, dir: &Path, rel_dir: &str, src: Source<'_>) -> Result<Vec<String>, DiffError> {
    Ok(match src {
        Source::Rev(rev) => crate::git::files_at(root, rev, rel_dir)?,
        Source::WorkTree if dir.is_dir() => store::stage_files(dir)?
            .into_iter()
            .filter_map(|(_, p)| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect(),
        Source::WorkTree => Vec::new(),
    })
}

fn read(
    root: &Path,
    dir: &Path,
    rel: &str,
    name: &str,
    src: Source<'_>,
) -> Result<Option<String>, DiffError> {
    match src {
        Source::Rev(rev) => Ok(crate::git::show(root, rev, rel)?),
        Source::WorkTree => {
            let p = dir.join(name);
            match crate::files::read_text(&p) {
                Ok(t) => Ok(Some(t)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(StoreError::Io { path: p, source }.into()),
            }
        }
    }
}

fn label(rel: &str, src: Source<'_>) -> std::path::PathBuf {
    match src {
        Source::Rev(rev) => format!("{rev}:{rel}").into(),
        Source::WorkTree => rel.into(),
    }
}

/// Compares every stage file of the secrets folder `dir` (or only those of `stages`) between
/// two sources, in stage order. Files present on one side only are added / removed whole.
pub fn diff_sources(
    root: &Path,
    dir: &Path,
    old: Source<'_>,
    new: Source<'_>,
    stages: Option<&[String]>,
    ids: &AgeIdentities,
) -> Result<Vec<FileDiff>, DiffError> {
    for src in [old, new] {
        if let Source::Rev(rev) = src {
            crate::git::verify_rev(root, rev)?;
        }
    }
    let rel_dir = crate::git::relative(root, dir).ok_or_else(|| DiffError::Outside {
        dir: dir.to_owned(),
        root: root.to_owned(),
    })?;
    let mut names: Vec<String> = list(root, dir, &rel_dir, old)?;
    names.extend(list(root, dir, &rel_dir, new)?);
    names.retain(|n| match (is_stage_file(n), stages) {
        (Some(s), Some(want)) => want.iter().any(|w| w == s),
        (Some(_), None) => true,
        (None, _) => false,
    });
    names.sort_by(|a, b| is_stage_file(a).cmp(&is_stage_file(b)).then(a.cmp(b)));
    names.dedup();
    let mut out = Vec::new();
    for name in &names {
        let rel = if rel_dir.is_empty() {
            name.clone()
        } else {
            format!("{rel_dir}/{name}")
        };
        let a = read(root, dir, &rel, name, old)?;
        let b = read(root, dir, &rel, name, new)?;
        let (la, lb) = (label(&rel, old), label(&rel, new));
        let stage = is_stage_file(name).unwrap_or(name);
        let rule = store::creation_rule(&dir.join(name)).ok();
        out.push(compare(
            &rel,
            stage,
            a.as_deref().map(|t| (la.as_path(), t)),
            b.as_deref().map(|t| (lb.as_path(), t)),
            ids,
            rule.as_ref(),
        )?);
    }
    Ok(out)
}

/// The stage a stage file's name stands for (`prod.yml` → `prod`).
pub fn stage_of(file_name: &str) -> Option<&str> {
    is_stage_file(file_name)
}

/// One version of a stage file as text for git's `textconv` (what `git log -p` and `git show`
/// diff when no external diff runs): names, values masked, each encrypted value with a short
/// fingerprint of its ciphertext (public already), so a changed line means "changed or
/// re-encrypted"; then who can open it and the encryption settings, so a change of the `sops:`
/// block shows as a changed line too. No key is used: each version is converted on its own.
/// Control characters in names and settings are escaped: git prints these lines as they are.
pub fn textconv(text: &str, rule: Option<&CreationRule>) -> String {
    use sha2::{Digest, Sha256};
    let file = match sops::parse(text) {
        Ok(f) => f,
        Err(e) => {
            return format!(
                "# sls-secrets: not a readable SOPS file ({}); content hidden\n",
                escape_control(&e.to_string())
            );
        }
    };
    let mut out = String::from(
        "# sls-secrets: values masked; a new fingerprint means changed or re-encrypted\n",
    );
    for (name, value) in top_entries(file.docs.first().map_or(&[], |d| &d.items)) {
        let shown_name = escape_control(&name).into_owned();
        if !file.meta.rule.encrypts(std::slice::from_ref(&name)) {
            let shown = display(
                &Shown::Clear(store::value_text(&value).unwrap_or_default()),
                false,
            );
            out.push_str(&format!("{shown_name}: {}\n", shown.unwrap_or_default()));
            continue;
        }
        let enc = crate::yaml::emit(
            &[crate::yaml::Document {
                items: vec![MapItem::Entry(name.clone(), value)],
            }],
            sops::SOPS_INDENT,
        );
        let digest = Sha256::digest(enc.as_bytes());
        let fp: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        out.push_str(&format!("{shown_name}: {MASK} (ciphertext {fp})\n"));
    }
    for r in recipients(&file.meta, rule) {
        out.push_str(&format!("# recipient: {}\n", escape_control(&r)));
    }
    for (name, value) in settings(&file.meta) {
        out.push_str(&format!("# setting {name}: {}\n", escape_control(&value)));
    }
    out
}
