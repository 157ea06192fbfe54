//! `init --git`: the `.gitattributes` lines that route stage files to our git drivers, and
//! the repository's local git config that defines them (`diff.sls-secrets.command` for `git
//! diff`, `diff.sls-secrets.textconv` for `git log -p` / `git show`, which run no external
//! diff without `--ext-diff`, and `merge.sls-secrets.driver` / `.name`). Idempotent: only what
//! differs is written.
//!
//! The driver commands name the running binary by its absolute path: git runs them through
//! the shell with its own PATH (hooks, GUIs, IDEs), where `sls-secrets` may not be found, and
//! a local config never leaves this clone. Run `init --git` again after moving the binary.

use std::path::{Path, PathBuf};

use crate::git::{self, GitError};

pub const DRIVER: &str = "sls-secrets";
const MERGE_NAME: &str = "sls-secrets: three-way merge per key of SOPS stage files";
/// Stage files are `<stage>.yml`, or `<stage>.yaml` when only that exists.
const EXTENSIONS: [&str; 2] = ["yml", "yaml"];

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0}")]
    Git(#[from] GitError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("refusing to write {path}: it {what}")]
    Unsafe { path: PathBuf, what: String },
}

/// What `install` did: one line per change, and warnings about what will still not work.
#[derive(Default)]
pub struct Installed {
    pub done: Vec<String>,
    pub warnings: Vec<String>,
}

/// The `.gitattributes` lines for stage files in `rel_dir` (relative to the root, with `/`).
pub fn attributes_lines(rel_dir: &str) -> Vec<String> {
    EXTENSIONS
        .iter()
        .map(|ext| format!("{rel_dir}/*.{ext} diff={DRIVER} merge={DRIVER}"))
        .collect()
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

/// `.gitattributes` is written only as a regular file inside the repository: a symlink to a
/// file elsewhere (someone's dotfile, a system file) would have our lines appended to it.
fn check_attributes_file(root: &Path, attrs: &Path) -> Result<(), SetupError> {
    let unsafe_file = |what: String| SetupError::Unsafe {
        path: attrs.to_owned(),
        what,
    };
    let Ok(meta) = std::fs::symlink_metadata(attrs) else {
        return Ok(());
    };
    if meta.file_type().is_symlink() {
        let target = std::fs::canonicalize(attrs).map_err(|source| SetupError::Io {
            path: attrs.to_owned(),
            source,
        })?;
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_owned());
        if !target.starts_with(&root) {
            return Err(unsafe_file(format!(
                "is a symbolic link to {}, outside the repository",
                target.display()
            )));
        }
        let target_meta = std::fs::metadata(&target).map_err(|source| SetupError::Io {
            path: target.clone(),
            source,
        })?;
        if let Some(what) = crate::files::not_a_regular_file(&target_meta.file_type()) {
            return Err(unsafe_file(format!("links to a file that {what}")));
        }
        return Ok(());
    }
    match crate::files::not_a_regular_file(&meta.file_type()) {
        Some(what) => Err(unsafe_file(what.to_owned())),
        None => Ok(()),
    }
}

/// The merge driver's command line. git expands `%O`, `%A`, ... in it and reads `%%` as `%`,
/// so a `%` in the binary's path is doubled (a folder named `%O` would become a file name).
fn merge_command(exe: &str) -> String {
    format!("{} git-merge %O %A %B %P", exe.replace('%', "%%"))
}

/// Sets up both drivers in the repository at `root` for stage files in `rel_dir`, running
/// `exe`; `probe` names a stage file there to ask git about.
pub fn install(
    root: &Path,
    rel_dir: &str,
    exe: &Path,
    probe: &str,
) -> Result<Installed, SetupError> {
    let mut out = Installed::default();
    let attrs = root.join(".gitattributes");
    check_attributes_file(root, &attrs)?;
    let mut text = match crate::files::read_text(&attrs) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(SetupError::Io {
                path: attrs,
                source,
            });
        }
    };
    let mut added = Vec::new();
    for line in attributes_lines(rel_dir) {
        if let Some(t) = with_line(&text, &line) {
            text = t;
            added.push(line);
        }
    }
    if !added.is_empty() {
        crate::store::write_atomic(&attrs, text.as_bytes(), 0o644).map_err(|e| SetupError::Io {
            path: attrs.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        for line in added {
            out.done
                .push(format!("{}: added `{line}`", attrs.display()));
        }
    }
    let exe = git::shell_quote(&exe.to_string_lossy());
    let settings = [
        (format!("diff.{DRIVER}.command"), format!("{exe} git-diff")),
        (
            format!("diff.{DRIVER}.textconv"),
            format!("{exe} git-textconv"),
        ),
        (format!("merge.{DRIVER}.name"), MERGE_NAME.to_owned()),
        (format!("merge.{DRIVER}.driver"), merge_command(&exe)),
    ];
    for (key, value) in settings {
        if git::config_get(root, &key)?.as_deref() != Some(value.as_str()) {
            git::config_set(root, &key, &value)?;
            out.done
                .push(format!("git config --local {key} \"{value}\""));
        }
    }
    out.warnings = overridden(root, rel_dir, probe, &text)?;
    Ok(out)
}

/// Asks git which drivers a stage file really gets: a later `.gitattributes` line
/// (`secrets/*.yml -diff merge=binary`), a `.gitattributes` in a subfolder or
/// `.git/info/attributes` can override ours, and then merges are git's text merges again.
fn overridden(
    root: &Path,
    rel_dir: &str,
    probe: &str,
    attributes: &str,
) -> Result<Vec<String>, SetupError> {
    let mut warnings = Vec::new();
    for ext in EXTENSIONS {
        let rel = format!("{rel_dir}/{probe}.{ext}");
        let wrong: Vec<String> = git::check_attr(root, &rel, &["diff", "merge"])?
            .into_iter()
            .filter(|(_, value)| value != DRIVER)
            .map(|(attr, value)| format!("{attr}: {value}"))
            .collect();
        if wrong.is_empty() {
            continue;
        }
        let ours = attributes_lines(rel_dir);
        let later: Vec<&str> = attributes
            .lines()
            .skip_while(|l| !ours.iter().any(|o| o == l.trim()))
            .filter(|l| {
                let words: Vec<&str> = l.split_whitespace().skip(1).collect();
                !ours.iter().any(|o| o == l.trim())
                    && words.iter().any(|w| {
                        let attr = w.trim_start_matches(['-', '!']);
                        attr == "binary"
                            || attr
                                .split('=')
                                .next()
                                .is_some_and(|a| a == "diff" || a == "merge")
                    })
            })
            .collect();
        let candidates = if later.is_empty() {
            String::new()
        } else {
            format!(
                "; later lines of .gitattributes that may: `{}`",
                later.join("`, `")
            )
        };
        warnings.push(format!(
            "git does not use the sls-secrets drivers for {rel} ({}): another attributes line overrides ours (`git check-attr -a {rel}` shows what applies){candidates}; without the merge driver a merge of stage files is a text merge",
            wrong.join(", ")
        ));
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_keep_every_line_and_are_idempotent() {
        let lines = attributes_lines("secrets");
        assert_eq!(
            lines,
            [
                "secrets/*.yml diff=sls-secrets merge=sls-secrets",
                "secrets/*.yaml diff=sls-secrets merge=sls-secrets"
            ]
        );
        let line = &lines[0];
        let t = with_line("*.png binary", line).unwrap();
        assert_eq!(t, format!("*.png binary\n{line}\n"));
        assert_eq!(with_line(&t, line), None);
        assert_eq!(with_line("", line).unwrap(), format!("{line}\n"));
    }

    #[test]
    fn a_percent_sign_in_the_binarys_path_is_doubled_for_git() {
        assert_eq!(
            merge_command("/opt/bin%O/sls-secrets"),
            "/opt/bin%%O/sls-secrets git-merge %O %A %B %P"
        );
    }
}
