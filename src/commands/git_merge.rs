//! `git-merge %O %A %B %P`: git's merge driver for stage files (`merge.sls-secrets.driver`,
//! set by `init --git`). A clean merge rewrites `%A` encrypted for the keys `.sops.yaml` asks
//! for, with a fresh MAC, and exits 0. A conflict leaves `%A` as it was (our branch's valid
//! file), names the conflicting keys (never their values) and how to resolve, and exits 1,
//! so `git merge` stops. Any error also leaves `%A` untouched (exit 2: git sees a conflict).

use std::path::Path;

use sls_secrets::secrets_merge::{self, MergeError, Outcome, Version};
use sls_secrets::store;
use sls_secrets::text::escape_control;

use super::{Context, EXIT_CHANGES, EXIT_OK, Failure};
use crate::cli::GitMergeArgs;

impl From<MergeError> for Failure {
    fn from(e: MergeError) -> Failure {
        Failure::with_hint(e.to_string(), e.hint())
    }
}

fn read(p: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(p).map_err(|e| Failure::new(format!("{}: {e}", p.display())))
}

pub(crate) fn run(args: &GitMergeArgs, ctx: &Context) -> Result<u8, Failure> {
    // Path, stage and key names are printed: no raw control character reaches the terminal.
    let shown = escape_control(&args.path.display().to_string()).into_owned();
    let stage = args.path.file_stem().map_or_else(
        || shown.clone(),
        |s| escape_control(&s.to_string_lossy()).into_owned(),
    );
    let (base, ours, theirs) = (read(&args.base)?, read(&args.ours)?, read(&args.theirs)?);
    let label = |which: &str| std::path::PathBuf::from(format!("{shown} ({which})"));
    let (lb, lo, lt) = (
        label("common ancestor"),
        label("this branch"),
        label("the other branch"),
    );
    let outcome = secrets_merge::merge(
        &Version {
            label: &lb,
            text: &base,
        },
        &Version {
            label: &lo,
            text: &ours,
        },
        &Version {
            label: &lt,
            text: &theirs,
        },
        &ctx.identities()?,
    )
    .map_err(|e| Failure::from(e).hint(resolve_hint(&shown, &stage)))?;
    match outcome {
        Outcome::Conflicts(names) => {
            eprintln!("sls-secrets: merge conflict in {shown} (values not shown):");
            for (name, kind) in &names {
                eprintln!("  {}: {}", escape_control(name), kind.describe());
            }
            eprintln!("{}", resolve_hint(&shown, &stage));
            Ok(EXIT_CHANGES)
        }
        Outcome::Clean {
            mut file,
            from_theirs,
            took_their_key,
        } => {
            let target = std::path::absolute(&args.path).unwrap_or_else(|_| args.path.clone());
            // After the other branch's rotation its stanzas are the newer choice: the working
            // tree's .sops.yaml is still this branch's while git merges.
            if !took_their_key {
                match store::creation_rule(&target) {
                    Ok(rule) => {
                        if secrets_merge::align_recipients(&args.path, &mut file, &rule)? {
                            eprintln!(
                                "sls-secrets: {shown}: recipients set to what .sops.yaml asks for"
                            );
                        }
                    }
                    Err(e) => {
                        eprintln!("sls-secrets: {shown}: keeping this branch's recipients ({e})")
                    }
                }
            }
            store::save(&args.ours, &mut file)?;
            if took_their_key {
                eprintln!(
                    "sls-secrets: {shown}: the other branch rotated the data key; the merge uses the new key"
                );
            }
            if !from_theirs.is_empty() {
                eprintln!(
                    "sls-secrets: merged {shown}: {} from the other branch",
                    escape_control(&from_theirs.join(", "))
                );
            }
            Ok(EXIT_OK)
        }
    }
}

fn resolve_hint(path: &str, stage: &str) -> String {
    format!(
        "the file keeps this branch's version (valid and encrypted); to resolve:\n  \
         sls-secrets diff HEAD MERGE_HEAD --stage {stage}      # what the other branch changed\n  \
         sls-secrets edit --stage {stage}   (or: sls-secrets set --stage {stage} NAME)\n  \
         git add {path} && git commit"
    )
}
