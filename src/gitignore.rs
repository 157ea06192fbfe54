//! `.serverless/` and git: `sls package` writes every environment value, secrets included, in
//! clear into `.serverless/` (the CloudFormation template), so the folder must never be
//! committed. `init` adds it to `.gitignore`; `check` warns when git would not ignore it.

use std::path::Path;

use crate::git;
use crate::store::{self, StoreError};

/// The line `init` adds: a pattern without a slash matches in every service folder.
pub const PATTERN: &str = ".serverless/";

/// Whether git ignores `dir/.serverless/`; `None` outside a repository or when git can't
/// tell.
pub fn serverless_ignored(dir: &Path) -> Option<bool> {
    let out = git::command(dir)
        .args(["check-ignore", "-q", "--", PATTERN])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    match out.status.code() {
        Some(0) => Some(true),
        Some(1) => Some(false),
        _ => None,
    }
}

/// What `ensure_ignored` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Ensured {
    AlreadyIgnored,
    Added,
    /// `.gitignore` is a link or not a regular file: left alone, with why.
    Refused(String),
}

/// Adds `.serverless/` to `root/.gitignore` unless git (inside a repository) or the file's
/// own lines (outside one) already ignore `dir/.serverless/`.
pub fn ensure_ignored(root: &Path, dir: &Path) -> Result<Ensured, StoreError> {
    let path = root.join(".gitignore");
    if let Ok(meta) = std::fs::symlink_metadata(&path)
        && !meta.file_type().is_file()
    {
        return Ok(Ensured::Refused(format!(
            "{} is not a regular file; add `{PATTERN}` to it yourself",
            path.display()
        )));
    }
    let text = match crate::files::read_text(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Ok(Ensured::Refused(format!("{}: {e}", path.display()))),
    };
    let ignored = serverless_ignored(dir).unwrap_or_else(|| lists_serverless(&text));
    if ignored {
        return Ok(Ensured::AlreadyIgnored);
    }
    let mut new = text;
    if !new.is_empty() && !new.ends_with('\n') {
        new.push('\n');
    }
    new.push_str("# sls package writes environment values, secrets included, here in clear\n");
    new.push_str(PATTERN);
    new.push('\n');
    store::write_atomic(&path, new.as_bytes(), 0o644)?;
    Ok(Ensured::Added)
}

/// Outside git: whether a line of `.gitignore` names the folder.
fn lists_serverless(text: &str) -> bool {
    text.lines().map(str::trim).any(|line| {
        matches!(
            line,
            ".serverless"
                | ".serverless/"
                | "/.serverless"
                | "/.serverless/"
                | "**/.serverless"
                | "**/.serverless/"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_git_the_lines_decide() {
        assert!(lists_serverless("node_modules\n.serverless\n"));
        assert!(lists_serverless("/.serverless/\n"));
        assert!(!lists_serverless("# .serverless/\n.serverless-offline\n"));
    }
}
