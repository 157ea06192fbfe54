//! Temporary plaintext files that a TERM, INT or HUP must not leave behind.
//!
//! The atomic writer (`store`) creates `.sls-secrets-*` next to its target and renames it
//! over the target; in between, the file holds plaintext, and a signal's default action would
//! end the process and leave it there. Every such file is created and renamed while holding
//! one process-wide registry lock, and recorded in it. The first one starts a thread that
//! waits for those signals: it takes the same lock (so no file is half created or half
//! renamed), removes every recorded file, and ends the process with the signal's default
//! action, keeping the lock so nothing new is created meanwhile. The parent sees a death by
//! signal N (a shell reports 128+N), exactly as without the handler.
//!
//! The handler stays for the rest of the process: commands that write are short and end with
//! the write. A SIGKILL can't be caught; nothing here helps with it.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use tempfile::NamedTempFile;

/// The signals that remove the recorded files before ending the process.
pub const CLEANUP_SIGNALS: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

static RECORDED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static WATCHER: OnceLock<Result<(), String>> = OnceLock::new();

fn recorded() -> MutexGuard<'static, Vec<PathBuf>> {
    // A panic elsewhere while holding the lock leaves a list that is still right.
    RECORDED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts the signal thread, once per process.
fn watch_signals() -> io::Result<()> {
    let started = WATCHER.get_or_init(|| {
        let mut signals =
            signal_hook::iterator::Signals::new(CLEANUP_SIGNALS).map_err(|e| e.to_string())?;
        std::thread::Builder::new()
            .name("sls-secrets-tempfiles".into())
            .spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    let mut files = recorded();
                    for path in files.drain(..) {
                        let _ = std::fs::remove_file(path);
                    }
                    let _ = signal_hook::low_level::emulate_default_handler(sig);
                    // Not reached: the default action of these signals ends the process.
                    signal_hook::low_level::exit(128 + sig);
                }
            })
            .map(drop)
            .map_err(|e| e.to_string())
    });
    started.clone().map_err(io::Error::other)
}

/// A temporary file that holds plaintext until it is persisted: removed when dropped, or by
/// the signal thread if a TERM, INT or HUP arrives first.
pub struct PlaintextTemp {
    file: Option<NamedTempFile>,
}

impl PlaintextTemp {
    /// Creates `<dir>/<prefix>XXXXXX` (mode 0600) and records it.
    pub fn new_in(dir: &Path, prefix: &str) -> io::Result<PlaintextTemp> {
        watch_signals()?;
        let mut files = recorded();
        let file = tempfile::Builder::new().prefix(prefix).tempfile_in(dir)?;
        files.push(file.path().to_owned());
        Ok(PlaintextTemp { file: Some(file) })
    }

    pub fn as_file(&self) -> &std::fs::File {
        self.file().as_file()
    }

    pub fn as_file_mut(&mut self) -> &mut std::fs::File {
        self.file
            .as_mut()
            .expect("present until persisted")
            .as_file_mut()
    }

    fn file(&self) -> &NamedTempFile {
        self.file.as_ref().expect("present until persisted")
    }

    /// Renames the file to `target` (replacing it, or never when `no_clobber`) and forgets it.
    pub fn persist(mut self, target: &Path, no_clobber: bool) -> io::Result<()> {
        let mut files = recorded();
        let file = self.file.take().expect("present until persisted");
        let path = file.path().to_owned();
        let persisted = if no_clobber {
            file.persist_noclobber(target).map(drop)
        } else {
            file.persist(target).map(drop)
        };
        files.retain(|p| *p != path);
        // On failure the temporary file is removed when the error (which owns it) drops.
        persisted.map_err(|e| e.error)
    }
}

impl Drop for PlaintextTemp {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            let mut files = recorded();
            let path = file.path().to_owned();
            drop(file);
            files.retain(|p| *p != path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_until_persisted_or_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let kept = PlaintextTemp::new_in(dir.path(), ".t-").unwrap();
        let kept_path = kept.file().path().to_owned();
        let dropped = PlaintextTemp::new_in(dir.path(), ".t-").unwrap();
        let dropped_path = dropped.file().path().to_owned();
        assert!(recorded().contains(&kept_path) && recorded().contains(&dropped_path));
        drop(dropped);
        assert!(!dropped_path.exists() && !recorded().contains(&dropped_path));
        let target = dir.path().join("target");
        kept.persist(&target, false).unwrap();
        assert!(target.exists() && !kept_path.exists());
        assert!(!recorded().contains(&kept_path));
    }
}
