//! `git-textconv FILE`: git's `textconv` for stage files (`diff.sls-secrets.textconv`, set by
//! `init --git`). `git log -p` and `git show` run no external diff unless given `--ext-diff`,
//! but they do run textconv, so their diffs show masked names instead of ciphertext churn.

use sls_secrets::secrets_diff;

use super::{Context, Failure, print_stdout};
use crate::cli::GitTextconvArgs;

pub(crate) fn run(args: &GitTextconvArgs, _ctx: &Context) -> Result<u8, Failure> {
    let text = sls_secrets::files::read_text(&args.file)
        .map_err(|e| Failure::new(format!("{}: {e}", args.file.display())))?;
    // git hands over a temporary copy, so which stage file (and rule) it is isn't known:
    // recipients are shown without their `.sops.yaml` comments.
    print_stdout(&secrets_diff::textconv(&text, None))
}
