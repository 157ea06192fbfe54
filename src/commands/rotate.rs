//! `rotate --stage S | --all`: a new data key per stage file, wrapped for the keys
//! `.sops.yaml` asks for now, with the rule's encryption settings (`*_suffix`/`*_regex`,
//! `mac_only_encrypted`). Every file is opened and planned before any is written.

use std::path::Path;

use sls_secrets::keys;
use sls_secrets::sops::DataKey;
use sls_secrets::store;

use super::{Context, EXIT_OK, Failure};
use crate::cli::RotateArgs;

pub(crate) fn run(args: &RotateArgs, ctx: &Context) -> Result<u8, Failure> {
    let ids = ctx.identities()?;
    let stages = ctx.stage_files(args.stage.as_deref())?;
    let _lock = store::lock_dir(stages[0].1.parent().unwrap_or(Path::new(".")))?;
    // Open and plan every file before writing any: a file that can't be decrypted stops the
    // whole rotation with nothing written (sops once wrote an empty file here).
    let mut planned = Vec::new();
    for (stage, path) in &stages {
        let file = store::open(path, &ids).map_err(|e| Failure::from(e).in_stage(stage))?;
        let rule = store::creation_rule(path)?;
        let key = DataKey::generate()
            .map_err(|e| Failure::new(format!("random number generator: {e}")))?;
        let wrapped = store::wrap_for_rule(path, &key, &rule)?;
        // `save` checks the values against the new key in memory; check the new local wraps
        // too where one of our identities is among the recipients (a KMS check would cost a
        // call).
        if let Some(opened) = keys::unwrap_local(&wrapped, &ids)
            && opened.expose() != key.expose()
        {
            return Err(Failure::new(format!(
                "stage `{stage}`: internal error: the new data key's age wrap does not open to it; nothing was written"
            )));
        }
        let mut file = file;
        file.set_key(key);
        file.meta.set_keys(wrapped);
        // The rule also decides which values are encrypted: a file whose `sops:` block was
        // edited (values left in clear) is encrypted by the rule again.
        file.meta.set_encryption(
            rule.rule.clone().unwrap_or_default(),
            rule.mac_only_encrypted,
        );
        planned.push((stage, path, file, rule));
    }
    for (stage, path, mut file, rule) in planned {
        store::save(path, &mut file)?;
        let names: Vec<&str> = rule.keys.iter().map(|key| key.id()).collect();
        eprintln!(
            "rotated {} (stage {stage}): new data key for {}",
            path.display(),
            names.join(", ")
        );
    }
    Ok(EXIT_OK)
}
