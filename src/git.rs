//! Running git: the repository root, a file as it is at a revision (`git show REV:path`), the
//! files a revision holds under a folder, and the repository's local config. Paths handed to
//! git are relative to the repository root, with `/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("can't run git: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("{0} is not inside a git repository")]
    NotARepo(PathBuf),
    #[error("`{0}` is not a revision of this repository")]
    BadRev(String),
    #[error("`git {args}` failed: {stderr}")]
    Failed { args: String, stderr: String },
    #[error("{rev}:{path} is not UTF-8 text")]
    NotText { rev: String, path: String },
    #[error("{rev}:{path} is larger than 16 MiB")]
    TooLarge { rev: String, path: String },
}

impl GitError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            GitError::Spawn(_) => Some("install git and make sure it is on PATH"),
            GitError::NotARepo(_) => Some("run inside the repository (or `git init` first)"),
            GitError::BadRev(_) => Some(
                "name a commit, branch or tag (`git log --oneline` lists them); a repository with no commit has no HEAD yet",
            ),
            _ => None,
        }
    }
}

/// git, run in `dir`, deaf to the caller's `GIT_*` variables. `GIT_DIR`, `GIT_WORK_TREE`,
/// `GIT_CEILING_DIRECTORIES`, `GIT_INDEX_FILE`, `GIT_CONFIG_PARAMETERS` and their kin make git
/// answer about another repository, or about none: a tracked file would be reported untracked
/// and overwritten with plaintext. Without them git finds the repository that holds `dir`.
pub fn command(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("-C").arg(dir).stdin(Stdio::null());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("GIT_") {
            c.env_remove(name);
        }
    }
    c
}

fn run(dir: &Path, args: &[&str]) -> Result<Output, GitError> {
    command(dir).args(args).output().map_err(GitError::Spawn)
}

/// Whether git tracks `path`: `Ok(false)` outside a repository, `Err(why)` when git can't
/// tell (not installed, refusing the repository, failing), so callers can fail closed.
pub fn tracks(path: &Path) -> Result<bool, String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let git = |args: &[&std::ffi::OsStr]| {
        command(dir)
            .args(args)
            // Its messages are matched below: untranslated.
            .env("LC_ALL", "C")
            // A file name is a name, not a glob (`serverless[1].yml`).
            .env("GIT_LITERAL_PATHSPECS", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("running git: {e}"))
    };
    let first_line = |o: &Output| {
        let text = String::from_utf8_lossy(&o.stderr);
        let line = text.lines().next().unwrap_or_default().trim().to_owned();
        format!("git exited with {}: {line}", o.status)
    };
    let inside = git(&["rev-parse".as_ref(), "--is-inside-work-tree".as_ref()])?;
    if !inside.status.success() {
        // Only "not a repository" means nothing can be committed by accident. git exits 128
        // for other refusals too ("detected dubious ownership"): those can't tell.
        // "not a git repository: PATH" (a moved worktree, a dangling `.git` file) is a
        // broken repository, not an absent one.
        let not_a_repo =
            String::from_utf8_lossy(&inside.stderr).contains("not a git repository (or any");
        return if not_a_repo {
            Ok(false)
        } else {
            Err(first_line(&inside))
        };
    }
    let name = path.file_name().unwrap_or_default();
    let listed = git(&[
        "ls-files".as_ref(),
        "--error-unmatch".as_ref(),
        "--".as_ref(),
        name,
    ])?;
    match listed.status.code() {
        Some(0) => Ok(true),
        // --error-unmatch: exit 1 for a path git doesn't know.
        Some(1) => Ok(false),
        _ => Err(first_line(&listed)),
    }
}

/// The committer date (ISO 8601) of the newest commit that added or removed `needle` in
/// `file` (in folder `dir`), if any.
pub fn last_commit_with(dir: &Path, file: &std::ffi::OsStr, needle: &str) -> Option<String> {
    let out = command(dir)
        .args(["log", "-1", "--format=%cI", "-S", needle, "--"])
        .arg(file)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let date = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !date.is_empty()).then_some(date)
}

fn checked(dir: &Path, args: &[&str]) -> Result<Vec<u8>, GitError> {
    let out = run(dir, args)?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(GitError::Failed {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// The top folder of the work tree holding `dir`, as git resolves it (symlinks resolved).
pub fn toplevel(dir: &Path) -> Result<PathBuf, GitError> {
    let out = run(dir, &["rev-parse", "--show-toplevel"])?;
    if !out.status.success() {
        return Err(GitError::NotARepo(dir.to_owned()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(PathBuf::from(text.trim_end_matches(['\n', '\r'])))
}

/// `path` relative to the repository root `root`, with `/` (what `REV:path` wants).
pub fn relative(root: &Path, path: &Path) -> Option<String> {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    let (root, path) = (canon(root), canon(path));
    let rel = path.strip_prefix(&root).ok()?;
    Some(
        rel.components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
    )
}

/// Checks that `rev` names a commit.
pub fn verify_rev(root: &Path, rev: &str) -> Result<(), GitError> {
    let spec = format!("{rev}^{{commit}}");
    let out = run(
        root,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &spec,
        ],
    )?;
    if out.status.success() {
        Ok(())
    } else {
        Err(GitError::BadRev(rev.to_owned()))
    }
}

/// The file `rel` as it is at `rev`, or `None` when the revision has no such file.
pub fn show(root: &Path, rev: &str, rel: &str) -> Result<Option<String>, GitError> {
    let object = format!("{rev}:{rel}");
    let size = run(root, &["cat-file", "-s", &object])?;
    if !size.status.success() {
        return Ok(None);
    }
    // A version is read whole: a huge one (committed on a branch, compressed to little)
    // must not be, as a working file of that size isn't (`files`).
    let size: u64 = String::from_utf8_lossy(&size.stdout)
        .trim()
        .parse()
        .unwrap_or(u64::MAX);
    if size > crate::files::MAX_TEXT_BYTES {
        return Err(GitError::TooLarge {
            rev: rev.to_owned(),
            path: rel.to_owned(),
        });
    }
    let bytes = checked(root, &["cat-file", "blob", &object])?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| GitError::NotText {
            rev: rev.to_owned(),
            path: rel.to_owned(),
        })
}

/// The commits that changed file `rel` on the current branch (first parents), newest first,
/// across renames: NUL-separated
/// `<commit>\t<committer date>` records, each followed by a `\n<path then>` record (none for
/// a merge that kept the file as it was).
pub fn log_file(root: &Path, rel: &str) -> Result<String, GitError> {
    let out = checked(
        root,
        &[
            "log",
            "--follow",
            // This branch's history: a side branch's older commits interleaved by date
            // would read as changes; a merge is listed (`-m`: against its first parent).
            "--first-parent",
            "-m",
            "-z",
            "--name-only",
            "--format=%H%x09%cI",
            "--",
            rel,
        ],
    )?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The files git tracks in the work tree, relative to `root`.
pub fn ls_files(root: &Path) -> Result<Vec<String>, GitError> {
    let out = checked(root, &["ls-files", "-z"])?;
    Ok(String::from_utf8_lossy(&out)
        .split('\0')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect())
}

/// The commits a shallow clone's history is cut at (their parents were not fetched); empty
/// for a full clone.
pub fn shallow_commits(root: &Path) -> Result<Vec<String>, GitError> {
    let out = checked(root, &["rev-parse", "--git-path", "shallow"])?;
    let rel = String::from_utf8_lossy(&out).trim_end().to_owned();
    Ok(std::fs::read_to_string(root.join(rel))
        .map(|text| text.lines().map(str::to_owned).collect())
        .unwrap_or_default())
}

/// The file names directly inside folder `rel_dir` at `rev` (no subfolders).
pub fn files_at(root: &Path, rev: &str, rel_dir: &str) -> Result<Vec<String>, GitError> {
    let spec = format!("{rev}:{rel_dir}");
    if !run(root, &["cat-file", "-e", &spec])?.status.success() {
        return Ok(Vec::new());
    }
    let out = checked(root, &["ls-tree", "--name-only", &spec])?;
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .map(str::to_owned)
        .collect())
}

/// A value of the repository's local config, if set.
pub fn config_get(root: &Path, key: &str) -> Result<Option<String>, GitError> {
    let out = run(root, &["config", "--local", "--get", key])?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim_end().to_owned()))
}

/// Sets a value in the repository's local config (`.git/config`).
pub fn config_set(root: &Path, key: &str, value: &str) -> Result<(), GitError> {
    checked(root, &["config", "--local", key, value]).map(drop)
}

/// The values of `attrs` for `rel` (a path relative to the root, with `/`) as git resolves
/// them from every attributes file: `set`, `unset`, `unspecified` or the value.
pub fn check_attr(
    root: &Path,
    rel: &str,
    attrs: &[&str],
) -> Result<Vec<(String, String)>, GitError> {
    let mut args = vec!["check-attr"];
    args.extend_from_slice(attrs);
    args.extend_from_slice(&["--", rel]);
    let out = checked(root, &args)?;
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| {
            // `path: attr: value`; the path may itself hold `: `, so split from the right.
            let (rest, value) = l.rsplit_once(": ")?;
            let (_, attr) = rest.rsplit_once(": ")?;
            Some((attr.to_owned(), value.to_owned()))
        })
        .collect())
}

/// Quotes a word for the POSIX shell git runs driver commands with.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%=,".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("/usr/bin/sls-secrets"), "/usr/bin/sls-secrets");
        assert_eq!(shell_quote("/a b/x"), "'/a b/x'");
        assert_eq!(shell_quote("/it's"), r"'/it'\''s'");
    }
}
