//! `git-merge %O %A %B %P`: git's merge driver for stage files (`merge.sls-secrets.driver`,
//! set by `init --git`). A clean merge rewrites `%A` encrypted by `.sops.yaml`'s creation rule
//! for the file, with a fresh MAC, and exits 0. A conflict (names changed on both branches, a
//! side that emptied the file, a side whose recipients or encryption settings are not the
//! rule's) leaves `%A` as it was, says what conflicts (never a value) and how to resolve, and
//! exits 1, so `git merge` stops. Any error also leaves `%A` untouched (exit 2: git sees a
//! conflict).

use std::path::{Path, PathBuf};

use sls_secrets::git::shell_quote;
use sls_secrets::secrets_merge::{self, Conflict, MergeError, Outcome, Side, Version};
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
    sls_secrets::files::read_text(p).map_err(|e| Failure::new(format!("{}: {e}", p.display())))
}

/// How the path and the stage are shown: escaped for the terminal, and quoted for the shell
/// in commands meant to be pasted (a crafted path must not run `$(...)`).
struct Names {
    shown: String,
    quoted_path: String,
    quoted_stage: String,
}

impl Names {
    fn new(path: &Path) -> Names {
        let raw = path.to_string_lossy();
        let stage = path
            .file_stem()
            .map_or_else(|| raw.clone(), |s| s.to_string_lossy());
        Names {
            shown: escape_control(&raw).into_owned(),
            quoted_path: escape_control(&shell_quote(&raw)).into_owned(),
            quoted_stage: escape_control(&shell_quote(&stage)).into_owned(),
        }
    }
}

pub(crate) fn run(args: &GitMergeArgs, ctx: &Context) -> Result<u8, Failure> {
    let names = Names::new(&args.path);
    let (base, ours, theirs) = (read(&args.base)?, read(&args.ours)?, read(&args.theirs)?);
    let label = |which: &str| PathBuf::from(format!("{} ({which})", names.shown));
    let (lb, lo, lt) = (
        label("common ancestor"),
        label("this branch"),
        label("the other branch"),
    );
    // git runs the driver at the top of the work tree, where `.sops.yaml` is still this
    // branch's while git merges.
    let target = std::path::absolute(&args.path).unwrap_or_else(|_| args.path.clone());
    let rule = store::creation_rule(&target).map_err(|e| {
        Failure::from(e).hint(format!(
            "the merged file is encrypted by .sops.yaml's rule for it, and there is none; {}",
            keeps_ours()
        ))
    })?;
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
        &rule,
        &ctx.identities()?,
    )
    .map_err(|e| Failure::from(e).hint(key_hint(&names)))?;
    match outcome {
        Outcome::Conflicts(conflicts) => {
            eprintln!(
                "sls-secrets: merge conflict in {} (values not shown):",
                names.shown
            );
            for c in &conflicts {
                eprintln!("  {}", describe(c));
            }
            eprintln!("{}", resolve_hint(&conflicts, &names));
            Ok(EXIT_CHANGES)
        }
        Outcome::Clean {
            mut file,
            from_theirs,
            took_their_key,
        } => {
            store::save(&args.ours, &mut file)?;
            if took_their_key {
                eprintln!(
                    "sls-secrets: {}: the other branch rotated the data key; the merge uses the new key",
                    names.shown
                );
            }
            if !from_theirs.is_empty() {
                eprintln!(
                    "sls-secrets: merged {}: {} from the other branch",
                    names.shown,
                    escape_control(&from_theirs.join(", "))
                );
            }
            Ok(EXIT_OK)
        }
    }
}

fn describe(c: &Conflict) -> String {
    match c {
        Conflict::Key { name, kind } => format!("{}: {}", escape_control(name), kind.describe()),
        Conflict::Emptied(side) => format!(
            "{} emptied the file: a deletion of every secret of the stage, never merged silently",
            side.describe()
        ),
        Conflict::Rule { side, mismatches } => {
            let what: Vec<String> = mismatches
                .iter()
                .map(|m| escape_control(&m.to_string()).into_owned())
                .collect();
            format!(
                "{}'s file is not what .sops.yaml asks for:\n    {}",
                side.describe(),
                what.join("\n    ")
            )
        }
    }
}

fn keeps_ours() -> &'static str {
    "the file keeps this branch's version (valid and encrypted)"
}

/// How to resolve: one paragraph per kind of conflict present.
fn resolve_hint(conflicts: &[Conflict], names: &Names) -> String {
    let (path, stage) = (&names.quoted_path, &names.quoted_stage);
    let mut out = format!("{}; to resolve:", keeps_ours());
    if conflicts.iter().any(|c| matches!(c, Conflict::Emptied(_))) {
        let theirs_emptied = conflicts
            .iter()
            .any(|c| matches!(c, Conflict::Emptied(Side::Theirs)));
        out.push_str(&format!(
            "\n  to delete stage {stage}: git rm {path} && git commit\n  to keep it: git {}-- {path} && git add {path} && git commit",
            if theirs_emptied {
                "checkout --ours "
            } else {
                "checkout --theirs "
            }
        ));
    }
    if conflicts.iter().any(|c| matches!(c, Conflict::Rule { .. })) {
        out.push_str(&format!(
            "\n  the rule decides who can open a stage file and what is encrypted; a side that differs was edited by hand, re-encrypted for someone else, or made under another .sops.yaml:\n  \
             keep one side (git checkout --ours|--theirs -- {path}), re-apply the other side's changes (sls-secrets diff HEAD MERGE_HEAD --stage {stage}),\n  \
             then sls-secrets rotate --stage {stage}   # encrypts it by .sops.yaml's rule, for its recipients\n  \
             git add {path} && git commit"
        ));
    }
    if conflicts.iter().any(|c| matches!(c, Conflict::Key { .. })) {
        out.push_str(&key_steps(names));
    }
    out
}

fn key_steps(names: &Names) -> String {
    let (path, stage) = (&names.quoted_path, &names.quoted_stage);
    format!(
        "\n  sls-secrets diff HEAD MERGE_HEAD --stage {stage}      # what the other branch changed\n  \
         sls-secrets edit --stage {stage}   (or: sls-secrets set --stage {stage} NAME)\n  \
         git add {path} && git commit"
    )
}

fn key_hint(names: &Names) -> String {
    format!("{}; to resolve:{}", keeps_ours(), key_steps(names))
}
