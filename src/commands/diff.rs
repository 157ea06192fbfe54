//! `diff [REV_A [REV_B]] [--stage S | --all] [--show-values] [--exit-code] [--json]`: the
//! secrets added, removed and changed in each stage file between two revisions (default:
//! HEAD against the working tree), values masked.

use sls_secrets::git;
use sls_secrets::secrets_diff::{self, DiffError, Source};

use super::{Context, EXIT_CHANGES, EXIT_OK, Failure, print_stdout};
use crate::cli::DiffArgs;

impl From<DiffError> for Failure {
    fn from(e: DiffError) -> Failure {
        Failure::with_hint(e.to_string(), e.hint())
    }
}

pub(crate) fn run(args: &DiffArgs, ctx: &Context) -> Result<u8, Failure> {
    if let Some(s) = &args.stage {
        sls_secrets::store::check_stage(s)?;
    }
    let root = git::toplevel(&ctx.cwd()?).map_err(DiffError::from)?;
    let dir = ctx.secrets_dir()?;
    let (old, new) = match (&args.rev_a, &args.rev_b) {
        (None, _) => (Source::Rev("HEAD"), Source::WorkTree),
        (Some(a), None) => (Source::Rev(a), Source::WorkTree),
        (Some(a), Some(b)) => (Source::Rev(a), Source::Rev(b)),
    };
    let ids = ctx.identities()?;
    // A stage's files: with a stage rule, every file its secrets come from.
    let stages: Option<Vec<String>> = match &args.stage {
        None => None,
        Some(stage) => Some(match ctx.resolve_stage(&ctx.cwd()?, stage) {
            Ok(resolution) => {
                let mut files: Vec<String> =
                    resolution.layers.into_iter().map(|l| l.stage).collect();
                if !files.contains(stage) {
                    files.push(stage.clone());
                }
                files
            }
            // Its file may be gone from the work tree and still be in a revision.
            Err(_) => vec![stage.clone()],
        }),
    };
    let diffs = secrets_diff::diff_sources(&root, &dir, old, new, stages.as_deref(), &ids)?;
    if args.show_values && diffs.iter().any(|d| d.changed() && !d.decrypted) {
        eprintln!("sls-secrets: no key opens some versions; their values stay masked");
    }
    let text = if args.json {
        secrets_diff::to_json(&diffs, args.show_values)
    } else {
        let t = secrets_diff::to_text(&diffs, args.show_values);
        if t.is_empty() {
            "no changes\n".to_owned()
        } else {
            t
        }
    };
    print_stdout(&text)?;
    let changed = diffs.iter().any(|d| d.changed());
    Ok(if args.exit_code && changed {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}
