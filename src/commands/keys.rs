//! `keys [--stage S]`: who can open each stage file (SSH and plugin keys short, with their
//! comment and `.sops.yaml`'s comment beside them), when its data key was last wrapped, and
//! whether `.sops.yaml` asks for other keys now. `keys add` and `keys remove` are their own
//! files (`keys_add.rs`, `keys_remove.rs`). `keys --stage S --add-kms ARN` wraps the
//! current data key for one more KMS key (values and their ciphertexts unchanged).

use std::path::Path;

use sls_secrets::config::CreationRule;
use sls_secrets::keys;
use sls_secrets::people;
use sls_secrets::sops::Metadata;
use sls_secrets::sops::metadata::KeyEntry;
use sls_secrets::store::{self, StoreError};
use sls_secrets::text::{escape_control, escape_control_lines};

use super::{Context, EXIT_OK, Failure, print_stdout};
use crate::cli::{KeysAction, KeysArgs};

pub(crate) fn run(args: &KeysArgs, ctx: &Context) -> Result<u8, Failure> {
    match &args.action {
        Some(KeysAction::Add(add)) => return super::keys_add::run(add, ctx),
        Some(KeysAction::Remove(remove)) => return super::keys_remove::run(remove, ctx),
        None => {}
    }
    match (&args.add_kms, &args.stage) {
        (Some(arn), Some(stage)) => add_kms(args, ctx, stage, arn),
        // clap requires --stage with --add-kms.
        (Some(_), None) => Err(Failure::new("--add-kms needs --stage")),
        (None, stage) => show(ctx, stage.as_deref()),
    }
}

fn show(ctx: &Context, only: Option<&str>) -> Result<u8, Failure> {
    let mut out = String::new();
    // One stage: every file its secrets come from (its own, or its stage rule's).
    let files = match only {
        Some(stage) => ctx
            .resolve_stage(&ctx.cwd()?, stage)?
            .layers
            .into_iter()
            .map(|l| (l.stage, l.path))
            .collect(),
        None => ctx.stage_files(None)?,
    };
    for (stage, path) in files {
        let file = match store::read_encrypted(&path) {
            Ok(file) => file,
            // Listing every stage: a YAML file in secrets/ that is not a sops file (notes, a
            // template, text in another encoding) is skipped with the reason, not the end of
            // the listing.
            Err(e) if only.is_none() && not_a_stage_file(&e) => {
                eprintln!(
                    "sls-secrets: skipped {}",
                    escape_control_lines(&e.to_string())
                );
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let meta = &file.meta;
        let rule = store::creation_rule(&path);
        out.push_str(&format!("{} (stage {stage})\n", path.display()));
        recipients(&mut out, meta, rule.as_ref().ok());
        out.push_str(&format!("  last modified: {}\n", meta.lastmodified));
        out.push_str(&format!(
            "  data key last wrapped: {}\n",
            last_wrapped(&path, meta)
        ));
        match rule {
            Ok(rule) => rule_drift(&mut out, &stage, meta, &rule),
            Err(e) => out.push_str(&format!("  .sops.yaml: {e}\n")),
        }
    }
    // Recipients, ARNs and dates come from the files' metadata, which anyone can push.
    print_stdout(&escape_control_lines(&out))
}

/// A file that can't be a sops file: not sops YAML, or not UTF-8 text (sops writes UTF-8).
fn not_a_stage_file(e: &StoreError) -> bool {
    match e {
        StoreError::Sops { .. } => true,
        StoreError::Io { source, .. } => source.kind() == std::io::ErrorKind::InvalidData,
        _ => false,
    }
}

/// One line per key that can open the file: SSH and plugin recipients short, and the
/// comment `.sops.yaml` has beside the recipient (who it is), if any.
fn recipients(out: &mut String, meta: &Metadata, rule: Option<&CreationRule>) {
    // One line each: a recipient's text (an SSH comment) may hold a line break, which would
    // show as a key of its own.
    for key in meta.keys() {
        let described = people::describe_key(key);
        let described = escape_control(&described);
        let comment = rule.and_then(|rule| people::rule_comment(rule, key.id()));
        match comment {
            Some(c) => out.push_str(&format!("  {}  {described}  # {c}\n", key.kind())),
            None => out.push_str(&format!("  {}  {described}\n", key.kind())),
        }
    }
    for f in &meta.foreign_keys {
        let f = escape_control(f);
        out.push_str(&format!("  {f}  (not usable by sls-secrets)\n"));
    }
}

/// The keys `.sops.yaml` asks for that the file lacks (`+`) or has in excess (`-`), kind by
/// kind.
fn rule_drift(out: &mut String, stage: &str, meta: &Metadata, rule: &CreationRule) {
    let ids = |list: &[KeyEntry], kind: &str| -> Vec<String> {
        let of_kind = list.iter().filter(|key| key.kind() == kind);
        of_kind.map(|key| key.id().to_owned()).collect()
    };
    let mut diff = Vec::new();
    for kind in keys::KINDS {
        let (have, want) = (ids(meta.keys(), kind), ids(&rule.keys, kind));
        // By key: an SSH key written with another comment is the same key.
        let within = |list: &[String], id: &str| list.iter().any(|k| keys::same_id(kind, k, id));
        let missing = want.iter().filter(|id| !within(&have, id));
        diff.extend(missing.map(|id| format!("+ {kind} {}", escape_control(id))));
        let extra = have.iter().filter(|id| !within(&want, id));
        diff.extend(extra.map(|id| format!("- {kind} {}", escape_control(id))));
    }
    if diff.is_empty() {
        out.push_str("  .sops.yaml: up to date\n");
        return;
    }
    out.push_str(&format!(
        "  .sops.yaml (creation_rules[{}]) asks for different keys; run `sls-secrets rotate --stage {stage}`:\n",
        rule.index
    ));
    for d in diff {
        out.push_str(&format!("    {d}\n"));
    }
    // `--add-kms` adds a KMS key without a new data key.
    let have_kms = ids(meta.keys(), "kms");
    if let Some(arn) = ids(&rule.keys, "kms")
        .iter()
        .find(|arn| !have_kms.contains(arn))
    {
        let arn = escape_control(arn);
        out.push_str(&format!(
            "  or keep the data key and add a KMS key: `sls-secrets keys --stage {stage} --add-kms {arn}`\n"
        ));
    }
}

/// When the data key was last wrapped: the latest `created_at` (KMS records one), else the
/// date of the commit that introduced the current age stanza (sops records no time for age).
fn last_wrapped(path: &Path, meta: &Metadata) -> String {
    if let Some(created) = meta.keys().iter().filter_map(KeyEntry::created_at).max() {
        return created.to_owned();
    }
    let Some(stanza) = meta.keys().iter().find(|key| key.created_at().is_none()) else {
        return "unknown".into();
    };
    // A line of the armored body is unique to this wrapping.
    let Some(needle) = stanza.enc().lines().nth(2) else {
        return "unknown".into();
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    match sls_secrets::git::last_commit_with(dir, path.file_name().unwrap_or_default(), needle) {
        Some(date) => format!("{date} (git commit date)"),
        None => "not recorded (not committed to git yet)".into(),
    }
}

/// `--add-kms ARN`: wraps the stage's current data key for one more KMS key. Values and
/// their ciphertexts are unchanged; only the `sops:` block gains an entry.
fn add_kms(args: &KeysArgs, ctx: &Context, stage: &str, arn: &str) -> Result<u8, Failure> {
    let mut spec = keys::kms::parse_key(arn).map_err(|e| {
        let hint = e.hint();
        let f = Failure::new(e.to_string());
        match hint {
            Some(h) => f.hint(h),
            None => f,
        }
    })?;
    for kv in &args.context {
        let Some((k, v)) = kv.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(Failure::new(format!("--context `{kv}` is not KEY=VALUE"))
                .hint("example: --context stage=prod"));
        };
        spec.context.retain(|(old, _)| old != k);
        spec.context.push((k.to_owned(), v.to_owned()));
    }
    spec.aws_profile = args.aws_profile.clone().unwrap_or_default();
    let path = ctx.existing_stage_file(stage)?;
    let ids = ctx.identities()?;
    let _lock = store::lock_dir(path.parent().unwrap_or(Path::new(".")))?;
    let mut file = store::open(&path, &ids)?;
    store::add_kms_key(&path, &mut file, &spec)?;
    store::save(&path, &mut file)?;
    eprintln!(
        "{} (stage {stage}) can now also be opened with KMS key {}; values unchanged",
        path.display(),
        escape_control(&spec.arn)
    );
    Ok(EXIT_OK)
}
