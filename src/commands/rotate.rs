//! `rotate --stage S | --all`: a new data key per stage file, wrapped for the keys
//! `.sops.yaml` asks for now, with the rule's encryption settings (`*_suffix`/`*_regex`,
//! `mac_only_encrypted`). Every file is opened and planned before any is written.

use std::path::Path;

use sls_secrets::store::{self, StoreError};

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
        let in_stage = |e: StoreError| Failure::from(e).in_stage(stage);
        let mut file = store::open(path, &ids).map_err(in_stage)?;
        let rule = store::creation_rule(path)?;
        store::rekey(path, &mut file, &rule.keys, &ids).map_err(in_stage)?;
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
