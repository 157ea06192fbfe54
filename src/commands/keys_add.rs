//! `keys add (--age R | --ssh KEY | --ssh-file PATH) (--stage S | --all)`: a new teammate's
//! (or machine's) key goes into the matching `.sops.yaml` creation rules, edited as text, and
//! each stage file's current data key is wrapped for it, like `sops updatekeys`: values and
//! their ciphertexts unchanged. A rule `--stage S` shares with other files is split first, so
//! they are unaffected. Everything is planned before anything is written.

use std::path::Path;

use sls_secrets::keys::recipient::{AgeRecipient, RecipientKind};
use sls_secrets::people::{self, Change};
use sls_secrets::store;
use sls_secrets::text::escape_control_lines;

use super::{Context, EXIT_OK, Failure};
use crate::cli::KeysAddArgs;

pub(crate) fn run(args: &KeysAddArgs, ctx: &Context) -> Result<u8, Failure> {
    let recipient = recipient(args)?;
    let stage = args.scope.stage.as_deref();
    let targets = ctx.key_scope(stage, args.scope.all)?;
    let ids = ctx.identities()?;
    let dir = targets[0].path.parent().unwrap_or(Path::new("."));
    let _lock = store::lock_dir(dir)?;
    let mut plan = people::plan(Change::Add, &recipient, &targets, stage.is_some(), &ids)?;
    // The summary also when a write failed: it says which files were written.
    let applied = plan.apply();
    eprint!("{}", escape_control_lines(&plan.summary()));
    applied?;
    Ok(EXIT_OK)
}

/// The key to add, from exactly one of `--age`, `--ssh`, `--ssh-file`.
fn recipient(args: &KeysAddArgs) -> Result<AgeRecipient, Failure> {
    let given = [
        args.age.is_some(),
        args.ssh.is_some(),
        args.ssh_file.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(Failure::new("give the key to add: one of --age, --ssh, --ssh-file").hint(
            "--age age1...; --ssh \"ssh-ed25519 AAAA... alice@laptop\"; --ssh-file ~/.ssh/id_ed25519.pub",
        ));
    }
    let recipient = match (&args.age, &args.ssh, &args.ssh_file) {
        (Some(age), _, _) => people::parse_recipient(age)?,
        (_, Some(ssh), _) => people::parse_recipient(ssh)?,
        (_, _, Some(path)) => people::read_public_key(path)?,
        _ => unreachable!("exactly one was given"),
    };
    let is_ssh = matches!(recipient.kind(), RecipientKind::Ssh { .. });
    if args.age.is_some() && is_ssh {
        return Err(Failure::new("--age was given an SSH key")
            .hint("use --ssh \"ssh-ed25519 ...\" or --ssh-file PATH.pub"));
    }
    if args.age.is_none() && !is_ssh {
        return Err(Failure::new(
            "--ssh/--ssh-file was given an age recipient, not an SSH public key",
        )
        .hint("use --age age1..."));
    }
    Ok(recipient)
}
