//! `git-diff PATH OLD-FILE OLD-HEX OLD-MODE NEW-FILE NEW-HEX NEW-MODE`: git's external diff
//! protocol (`diff.sls-secrets.command`, set by `init --git`), so `git diff`, `git log -p`
//! and `git show` print the masked key-level diff of a stage file.
//!
//! git stops the whole diff when an external diff exits non-zero, so a file we can't read is
//! reported inside the output and the exit code stays 0.

use std::path::Path;

use sls_secrets::secrets_diff;
use sls_secrets::text::escape_control_lines;

use super::{Context, EXIT_OK, Failure, print_stdout};
use crate::cli::GitDiffArgs;

pub(crate) fn run(args: &GitDiffArgs, ctx: &Context) -> Result<u8, Failure> {
    let path = args.args[0].to_string_lossy().into_owned();
    let [_, old, _, _, new, _, _] = args.args.as_slice() else {
        // git passes the path alone for an unmerged path.
        return print_stdout(&escape_control_lines(&format!("* Unmerged path {path}\n")));
    };
    let name = Path::new(&path)
        .file_name()
        .unwrap_or_default()
        .to_string_lossy();
    let stage = secrets_diff::stage_of(&name).unwrap_or(&name).to_owned();
    let body = match diff(ctx, &path, &stage, old, new) {
        Ok(text) if text.is_empty() => format!("{path} (stage {stage}): no secret changed\n"),
        Ok(text) => text,
        Err(f) => format!("{path}: can't compare: {}\n", f.message),
    };
    // Paths and the reason a file can't be read come from the repository: escape control
    // characters (the body's names are escaped already).
    print_stdout(&escape_control_lines(&format!(
        "diff --sls-secrets a/{path} b/{path}\n{body}"
    )))?;
    Ok(EXIT_OK)
}

fn read(p: &Path) -> Result<Option<String>, Failure> {
    if p == Path::new("/dev/null") {
        return Ok(None);
    }
    sls_secrets::files::read_text(p)
        .map(Some)
        .map_err(|e| Failure::new(format!("{}: {e}", p.display())))
}

fn diff(ctx: &Context, path: &str, stage: &str, old: &Path, new: &Path) -> Result<String, Failure> {
    let (a, b) = (read(old)?, read(new)?);
    let (la, lb) = (Path::new("a").join(path), Path::new("b").join(path));
    let ids = ctx.identities_without_prompt()?;
    // git runs the external diff at the top of the work tree, where `path` is relative to.
    let rule = sls_secrets::store::creation_rule(&ctx.cwd()?.join(path)).ok();
    let d = secrets_diff::compare(
        path,
        stage,
        a.as_deref().map(|t| (la.as_path(), t)),
        b.as_deref().map(|t| (lb.as_path(), t)),
        &ids,
        rule.as_ref(),
    )?;
    Ok(secrets_diff::to_text(&[d], false))
}
