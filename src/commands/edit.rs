//! `edit`: decrypt a stage file into a private temporary folder, open the user's editor,
//! validate, and re-encrypt (unchanged values keep their ciphertext).
//!
//! The plaintext lives in a 0600 file inside a 0700 folder, on a memory-backed file system
//! when there is one (`/dev/shm`, unless `TMPDIR` says otherwise). The folder is removed on every exit path we control:
//! success, invalid input, editor failure, and SIGINT/SIGTERM/SIGHUP (which are caught so
//! the cleanup runs rather than the process dying; TERM and HUP are passed on to the editor so
//! we don't wait for it). The folder is named `sls-secrets-edit-<pid>-XXXXXX`: what a SIGKILL
//! leaves behind is removed by the next `edit` once that process is gone.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use zeroize::Zeroizing;

use sls_secrets::forward::Forwarder;
use sls_secrets::sops::PlainFile;
use sls_secrets::store;
use sls_secrets::yaml::{self, Document, MapItem, Text, Value};

use super::{Context, EXIT_OK, Failure};
use crate::cli::EditArgs;

/// Edit folders are `<EDIT_PREFIX><pid>-XXXXXX`.
const EDIT_PREFIX: &str = "sls-secrets-edit-";

const NEW_FILE_TEMPLATE: &str = "# One secret per line: NAME: \"value\" (quote values that look like numbers, dates or booleans).\n";

/// `$TMPDIR` when the user set one, else `/dev/shm` (memory-backed) when usable, else the
/// system temp folder.
fn temp_root() -> PathBuf {
    if let Some(t) = std::env::var_os("TMPDIR").filter(|t| !t.is_empty()) {
        return PathBuf::from(t);
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && tempfile::Builder::new()
            .prefix(".sls-secrets-probe-")
            .tempfile_in(shm)
            .is_ok()
    {
        shm.to_owned()
    } else {
        std::env::temp_dir()
    }
}

/// Removes edit folders that a killed `edit` left behind: ours (same user), named with the
/// pid of a process that no longer exists. Another user's folder, or a live process's, stays.
/// Best effort: a folder that can't be read or removed is left alone.
fn remove_stale_folders(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(EDIT_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<i32>().ok())
            .and_then(rustix::process::Pid::from_raw)
        else {
            continue;
        };
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let dead = rustix::process::test_kill_process(pid) == Err(rustix::io::Errno::SRCH);
        if meta.is_dir() && owned_by_us(&meta) && dead {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

#[cfg(unix)]
fn owned_by_us(meta: &std::fs::Metadata) -> bool {
    std::os::unix::fs::MetadataExt::uid(meta) == rustix::process::geteuid().as_raw()
}

#[cfg(not(unix))]
fn owned_by_us(_: &std::fs::Metadata) -> bool {
    false
}

fn editor() -> String {
    ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "vi".to_owned())
}

/// Checks the edited text: one flat mapping of valid names to string values.
fn validate(text: &str) -> Result<Vec<MapItem>, String> {
    let docs = yaml::parse(text).map_err(|e| format!("line:column {e}"))?;
    if docs.len() > 1 {
        return Err("only one YAML document is allowed".into());
    }
    let items = docs
        .into_iter()
        .next()
        .map(|d| d.items.clone())
        .unwrap_or_default();
    for item in &items {
        let MapItem::Entry(name, value) = item else {
            continue;
        };
        sls_secrets::envname::check(name).map_err(|e| e.to_string())?;
        match value {
            Value::Str(_) => {}
            Value::Map(_) | Value::Seq(_) => {
                return Err(format!(
                    "`{name}`: values must be text, not a mapping or list"
                ));
            }
            _ => {
                return Err(format!(
                    "`{name}`: YAML reads this value as a number, boolean, date or null; quote it (NAME: \"...\") to keep it as text"
                ));
            }
        }
    }
    Ok(items)
}

pub(crate) fn run(args: &EditArgs, ctx: &Context) -> Result<u8, Failure> {
    let stage = &args.stage.stage;
    store::check_stage(stage)?;
    let path = store::stage_path(&ctx.secrets_dir()?, stage)?;
    let ids = ctx.identities()?;
    let _lock = store::lock_dir(path.parent().unwrap_or(Path::new(".")))?;
    let (mut file, created) = store::open_or_create(&path, &ids)?;
    let interrupted = guard_plaintext()?;

    let root = temp_root();
    remove_stale_folders(&root);
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
    let prefix = format!("{EDIT_PREFIX}{}-", std::process::id());
    let dir = builder
        .prefix(&prefix)
        .tempdir_in(&root)
        .map_err(|e| Failure::new(format!("creating a private temporary folder: {e}")))?;
    let tmp = dir.path().join(format!("{stage}.yml"));
    // Typed values (from files sops wrote) are shown as text, so saving unchanged passes.
    let shown = Document {
        items: file
            .top()
            .iter()
            .map(|i| match i {
                MapItem::Entry(k, v) => MapItem::Entry(k.clone(), as_text(v)),
                other => other.clone(),
            })
            .collect(),
    };
    let original = Zeroizing::new(if file.top().is_empty() {
        NEW_FILE_TEMPLATE.to_owned()
    } else {
        yaml::emit(std::slice::from_ref(&shown), sls_secrets::sops::SOPS_INDENT)
    });
    write_private_new(&tmp, &original)?;
    let items = edit_until_valid(&tmp, &file, &interrupted)?;
    drop(dir);

    let has_entries = items.iter().any(|i| matches!(i, MapItem::Entry(..)));
    if (created && !has_entries) || (!created && items == shown.items) {
        eprintln!("no changes to {}", path.display());
        return Ok(EXIT_OK);
    }
    *file.top_mut() = items;
    store::save(&path, &mut file)?;
    eprintln!("saved {}", path.display());
    Ok(EXIT_OK)
}

/// While plaintext is on disk: no core dump may carry it, and SIGINT/SIGTERM/SIGHUP/SIGQUIT
/// set the returned flag instead of killing us, so the temporary folder is removed.
fn guard_plaintext() -> Result<Arc<AtomicBool>, Failure> {
    let interrupted = Arc::new(AtomicBool::new(false));
    let _ = rustix::process::getrlimit(rustix::process::Resource::Core)
        .maximum
        .map(|max| {
            rustix::process::setrlimit(
                rustix::process::Resource::Core,
                rustix::process::Rlimit {
                    current: Some(0),
                    maximum: Some(max),
                },
            )
        });
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGQUIT,
    ] {
        signal_hook::flag::register(sig, Arc::clone(&interrupted))
            .map_err(|e| Failure::new(format!("installing signal handlers: {e}")))?;
    }
    Ok(interrupted)
}

/// Runs the editor on `tmp` until its text is a valid stage file (re-opening it on a
/// terminal when it is not) and returns the new entries.
fn edit_until_valid(
    tmp: &Path,
    file: &PlainFile,
    interrupted: &AtomicBool,
) -> Result<Vec<MapItem>, Failure> {
    let editor = editor();
    let argv = shlex::split(&editor)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            Failure::new(format!("can't parse the editor command `{editor}`"))
                .hint("set EDITOR, e.g. EDITOR=\"code --wait\"")
        })?;
    loop {
        let mut command = std::process::Command::new(&argv[0]);
        command.args(&argv[1..]).arg(tmp);
        // The editor (and its plugins) needs this one file, not the key that opens every stage.
        for key_var in sls_secrets::exec::KEY_VARIABLES {
            command.env_remove(key_var);
        }
        let status = run_editor(&mut command)
            .map_err(|e| Failure::new(format!("can't run the editor `{editor}`: {e}")))?;
        if interrupted.load(Ordering::SeqCst) {
            return Err(Failure::new("interrupted; nothing was written"));
        }
        if !status.success() {
            return Err(Failure::new(format!(
                "the editor exited with {status}; nothing was written"
            )));
        }
        let text = Zeroizing::new(
            std::fs::read_to_string(tmp)
                .map_err(|e| Failure::new(format!("reading the edited file: {e}")))?,
        );
        match validate(&text) {
            Ok(items) => {
                let clear = items.iter().find_map(|i| match i {
                    MapItem::Entry(k, _) if !file.meta.rule.encrypts(std::slice::from_ref(k)) => {
                        Some(k.clone())
                    }
                    _ => None,
                });
                return match clear {
                    None => Ok(items),
                    Some(k) => Err(Failure::new(format!(
                        "`{k}` would be stored unencrypted by the file's rule; nothing was written"
                    ))),
                };
            }
            Err(why) => {
                if std::io::stdin().is_terminal() && ask_reopen(&why) {
                    continue;
                }
                return Err(Failure::new(format!(
                    "the edited secrets are invalid: {why}; nothing was written"
                )));
            }
        }
    }
}

/// Runs the editor, passing TERM and HUP on to it: a supervisor stopping us stops it, and we
/// return (and remove the plaintext) as soon as it has exited.
fn run_editor(command: &mut std::process::Command) -> std::io::Result<std::process::ExitStatus> {
    let mut forward =
        Forwarder::register(&[signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP])?;
    let mut child = command.spawn()?;
    forward.start(child.id());
    let status = child.wait();
    forward.stop();
    status
}

fn as_text(v: &Value) -> Value {
    match v {
        Value::Int(i) => Value::Str(Text::new(i.to_string())),
        Value::Float(f) => Value::Str(Text::new(sls_secrets::sops::tree::format_go_float(*f))),
        Value::Bool(b) => Value::Str(Text::new(b.to_string())),
        Value::Time(t) => Value::Str(t.clone()),
        other => other.clone(),
    }
}

fn ask_reopen(why: &str) -> bool {
    eprint!("error: {why}\nre-open the editor? [Y/n] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    !answer.trim().eq_ignore_ascii_case("n")
}

/// Creates a new 0600 file (never replaces an existing one).
fn write_private_new(path: &Path, text: &str) -> Result<(), Failure> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .map_err(|e| Failure::new(format!("creating {}: {e}", path.display())))?;
    f.write_all(text.as_bytes())
        .map_err(|e| Failure::new(format!("writing {}: {e}", path.display())))
}
