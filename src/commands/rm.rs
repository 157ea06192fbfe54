//! `rm --stage S NAME`: removes one secret (the other values keep their ciphertext).

use std::path::Path;

use sls_secrets::store;
use sls_secrets::yaml::MapItem;

use super::{Context, EXIT_OK, Failure};
use crate::cli::RmArgs;

pub(crate) fn run(args: &RmArgs, ctx: &Context) -> Result<u8, Failure> {
    let key = &args.key;
    let path = ctx.existing_stage_file(&args.stage.stage)?;
    let ids = ctx.identities()?;
    let _lock = store::lock_dir(path.parent().unwrap_or(Path::new(".")))?;
    let mut file = store::open(&path, &ids)?;
    let items = file.top_mut();
    let before = items.len();
    items.retain(|i| !matches!(i, MapItem::Entry(k, _) if k == key));
    if items.len() == before {
        return Err(Failure::new(format!(
            "no secret `{key}` in {}",
            path.display()
        )));
    }
    store::save(&path, &mut file)?;
    eprintln!("removed `{key}` from {}", path.display());
    Ok(EXIT_OK)
}
