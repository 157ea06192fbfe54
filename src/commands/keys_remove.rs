//! `keys remove RECIPIENT (--stage S | --all) [--json]`: a leaver's key comes out of the
//! matching `.sops.yaml` creation rules (edited as text; a rule `--stage S` shares with other
//! files is split first) and out of each stage file, which gets a new data key with every
//! value re-encrypted. Then the offboarding report on stdout: per stage, the names that key
//! could read and when each value last changed, and the advice to change the secrets at
//! their source. Everything is planned before anything is written.

use std::path::{Path, PathBuf};

use sls_secrets::offboard;
use sls_secrets::people::{self, Change};
use sls_secrets::store;
use sls_secrets::text::escape_control_lines;
use sls_secrets::yaml::MapItem;

use super::{Context, Failure, print_stdout};
use crate::cli::KeysRemoveArgs;

pub(crate) fn run(args: &KeysRemoveArgs, ctx: &Context) -> Result<u8, Failure> {
    let given = match (&args.recipient, &args.ssh_file) {
        (Some(text), None) => people::Given::Text(text.clone()),
        (None, Some(path)) => people::Given::Key(people::read_public_key(path)?),
        _ => {
            return Err(
                Failure::new("give the key to remove: RECIPIENT or --ssh-file PATH, one of them")
                    .hint("the recipient as `sls-secrets keys` or .sops.yaml lists it, e.g. `sls-secrets keys remove age1... --all`"),
            );
        }
    };
    let stage = args.scope.stage.as_deref();
    let targets = ctx.key_scope(stage, args.scope.all)?;
    let ids = ctx.identities()?;
    let dir = targets[0].path.parent().unwrap_or(Path::new("."));
    let _lock = store::lock_dir(dir)?;
    let recipient = people::resolve_recipient(given, &targets)?;
    let mut plan = people::plan(Change::Remove, &recipient, &targets, stage.is_some(), &ids)?;
    // Read the history before writing: a new data key changes every ciphertext, no value.
    let mut reports: Vec<offboard::StageReport> = plan
        .files
        .iter()
        .filter(|f| f.changed)
        .map(|f| {
            let names = f
                .file
                .top()
                .iter()
                .filter_map(|item| match item {
                    MapItem::Entry(name, _) => Some(name.clone()),
                    MapItem::Comment(_) => None,
                })
                .collect();
            offboard::stage_report(&f.stage, &f.path, names, &ids)
        })
        .collect();
    // The summary and the report also when a write failed, for the files written: a rerun
    // finishes the others, and would not report these again.
    let applied = plan.apply();
    eprint!("{}", escape_control_lines(&plan.summary()));
    let written: Vec<&PathBuf> = plan
        .files
        .iter()
        .filter(|f| f.written)
        .map(|f| &f.path)
        .collect();
    reports.retain(|r| written.contains(&&r.path));
    if reports.is_empty()
        && let Err(e) = applied
    {
        return Err(e.into());
    }
    let report = if args.json {
        offboard::json(&recipient, &reports)
    } else {
        escape_control_lines(&offboard::text(&recipient, &reports)).into_owned()
    };
    let code = print_stdout(&report)?;
    applied?;
    Ok(code)
}
