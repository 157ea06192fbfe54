//! `copy --from dev --to pr-42 [NAME...] [--overwrite]`: secrets from one stage into another
//! stage's own file. Values are copied as they are stored (typed and byte-exact), decrypted in
//! memory only; the target is encrypted for the `.sops.yaml` rule of the target's path, never
//! with the source's recipients. Names the target already has are refused without
//! `--overwrite`, and then nothing is written.

use std::path::Path;

use sls_secrets::envname;
use sls_secrets::store;
use sls_secrets::yaml::{MapItem, Value};

use super::{Context, EXIT_OK, Failure};
use crate::cli::CopyArgs;

pub(crate) fn run(args: &CopyArgs, ctx: &Context) -> Result<u8, Failure> {
    let (from, to) = (&args.from, &args.to);
    store::check_stage(from)?;
    store::check_stage(to)?;
    if from == to {
        return Err(Failure::new("--from and --to name the same stage"));
    }
    let ids = ctx.identities()?;
    let values = source_values(ctx, from, &ids).map_err(|f| f.in_stage(from))?;
    let wanted = chosen(&values, &args.names, from)?;
    let path = ctx.stage_file(to)?;
    let _lock = store::lock_dir(path.parent().unwrap_or(Path::new(".")))?;
    let (mut file, created) =
        store::open_or_create(&path, &ids).map_err(|e| Failure::from(e).in_stage(to))?;
    let taken: Vec<&str> = wanted
        .iter()
        .filter(|(name, _)| file.get(name).is_some())
        .map(|(name, _)| name.as_str())
        .collect();
    if !taken.is_empty() && !args.overwrite {
        return Err(Failure::new(format!(
            "stage `{to}` already has {}; nothing was copied",
            taken.join(", ")
        ))
        .hint("pass --overwrite to replace them, or name only the others"));
    }
    for (name, _) in &wanted {
        if !file.meta.rule.encrypts(std::slice::from_ref(name)) {
            return Err(Failure::new(format!(
                "{}: `{name}` would be stored unencrypted (the file's rule is `{}: {}`); nothing was copied",
                path.display(),
                file.meta.rule.key(),
                file.meta.rule.text()
            )));
        }
    }
    let items = file.top_mut();
    for (name, value) in &wanted {
        match items
            .iter_mut()
            .find(|i| matches!(i, MapItem::Entry(k, _) if k == name))
        {
            Some(MapItem::Entry(_, v)) => *v = value.clone(),
            _ => items.push(MapItem::Entry(name.clone(), value.clone())),
        }
    }
    store::save(&path, &mut file)?;
    let names: Vec<&str> = wanted.iter().map(|(n, _)| n.as_str()).collect();
    eprintln!(
        "copied {} from stage {from} into {}{}",
        names.join(", "),
        path.display(),
        if created { " (new stage file)" } else { "" }
    );
    Ok(EXIT_OK)
}

/// Every secret `stage` resolves to, as stored (typed), later layers winning.
fn source_values(
    ctx: &Context,
    stage: &str,
    ids: &sls_secrets::keys::AgeIdentities,
) -> Result<Vec<(String, Value)>, Failure> {
    let resolution = ctx.resolve_stage(&ctx.cwd()?, stage)?;
    let mut out: Vec<(String, Value)> = Vec::new();
    for layer in &resolution.layers {
        let file = store::open(&layer.path, ids)?;
        for item in file.top() {
            let MapItem::Entry(name, value) = item else {
                continue;
            };
            if matches!(value, Value::Map(_) | Value::Seq(_)) {
                return Err(store::StoreError::NestedValue {
                    path: layer.path.clone(),
                    name: name.clone(),
                }
                .into());
            }
            match out.iter_mut().find(|(n, _)| n == name) {
                Some(entry) => entry.1 = value.clone(),
                None => out.push((name.clone(), value.clone())),
            }
        }
    }
    Ok(out)
}

/// The named secrets of `values` (all when `names` is empty); a name it lacks is an error.
fn chosen(
    values: &[(String, Value)],
    names: &[String],
    from: &str,
) -> Result<Vec<(String, Value)>, Failure> {
    if names.is_empty() {
        if values.is_empty() {
            return Err(Failure::new(format!(
                "stage `{from}` has no secrets to copy"
            )));
        }
        return Ok(values.to_vec());
    }
    names
        .iter()
        .map(|name| {
            envname::check_secret(name)?;
            values
                .iter()
                .find(|(n, _)| n == name)
                .cloned()
                .ok_or_else(|| {
                    Failure::new(format!("stage `{from}` has no secret `{name}`")).hint(format!(
                        "see its names with `sls-secrets list --stage {from}`"
                    ))
                })
        })
        .collect()
}
