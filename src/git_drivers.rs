//! `init --git`: the `.gitattributes` line that routes stage files to our git drivers, and
//! the repository's local git config that defines them (`diff.sls-secrets.command` for `git
//! diff`, `diff.sls-secrets.textconv` for `git log -p` / `git show`, which run no external
//! diff without `--ext-diff`, and `merge.sls-secrets.driver` / `.name`). Idempotent: only what differs is written.
//!
//! The driver commands name the running binary by its absolute path: git runs them through
//! the shell with its own PATH (hooks, GUIs, IDEs), where `sls-secrets` may not be found, and
//! a local config never leaves this clone. Run `init --git` again after moving the binary.

use std::path::Path;

use crate::git::{self, GitError};

pub const DRIVER: &str = "sls-secrets";
const MERGE_NAME: &str = "sls-secrets: three-way merge per key of SOPS stage files";

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0}")]
    Git(#[from] GitError),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The `.gitattributes` line for stage files in `rel_dir` (relative to the root, with `/`).
pub fn attributes_line(rel_dir: &str) -> String {
    format!("{rel_dir}/*.yml diff={DRIVER} merge={DRIVER}")
}

/// `text` with `line` appended unless a line already says exactly that; `None` if present.
pub fn with_line(text: &str, line: &str) -> Option<String> {
    if text.lines().any(|l| l.trim() == line) {
        return None;
    }
    let mut out = text.to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(line);
    out.push('\n');
    Some(out)
}

/// Sets up both drivers in the repository at `root` for stage files in `rel_dir`, running
/// `exe`. Returns one line per change made (empty: everything was already in place).
pub fn install(root: &Path, rel_dir: &str, exe: &Path) -> Result<Vec<String>, SetupError> {
    let mut done = Vec::new();
    let attrs = root.join(".gitattributes");
    let existing = match std::fs::read_to_string(&attrs) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(SetupError::Io {
                path: attrs,
                source,
            });
        }
    };
    let line = attributes_line(rel_dir);
    if let Some(text) = with_line(&existing, &line) {
        crate::store::write_atomic(&attrs, text.as_bytes(), 0o644).map_err(|e| SetupError::Io {
            path: attrs.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        done.push(format!("{}: added `{line}`", attrs.display()));
    }
    let exe = git::shell_quote(&exe.to_string_lossy());
    let settings = [
        (format!("diff.{DRIVER}.command"), format!("{exe} git-diff")),
        (
            format!("diff.{DRIVER}.textconv"),
            format!("{exe} git-textconv"),
        ),
        (format!("merge.{DRIVER}.name"), MERGE_NAME.to_owned()),
        (
            format!("merge.{DRIVER}.driver"),
            format!("{exe} git-merge %O %A %B %P"),
        ),
    ];
    for (key, value) in settings {
        if git::config_get(root, &key)?.as_deref() != Some(value.as_str()) {
            git::config_set(root, &key, &value)?;
            done.push(format!("git config --local {key} \"{value}\""));
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_keep_every_line_and_are_idempotent() {
        let line = attributes_line("secrets");
        assert_eq!(line, "secrets/*.yml diff=sls-secrets merge=sls-secrets");
        let t = with_line("*.png binary", &line).unwrap();
        assert_eq!(t, format!("*.png binary\n{line}\n"));
        assert_eq!(with_line(&t, &line), None);
        assert_eq!(with_line("", &line).unwrap(), format!("{line}\n"));
    }
}
