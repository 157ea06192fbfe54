//! `decrypt FILE`: any SOPS YAML file to plaintext YAML on stdout, like `sops decrypt`.

use sls_secrets::store;
use zeroize::Zeroizing;

use super::{Context, Failure, print_stdout};
use crate::cli::DecryptArgs;

pub(crate) fn run(args: &DecryptArgs, ctx: &Context) -> Result<u8, Failure> {
    let file = store::open(&args.file, &ctx.identities()?)?;
    let text = Zeroizing::new(file.to_plain_yaml());
    print_stdout(&text)
}
