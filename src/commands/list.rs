//! `list --stage S [--json]`: the secret names of a stage. Names are stored in clear, so no
//! key is needed.

use sls_secrets::text::escape_control;
use sls_secrets::yaml::MapItem;
use sls_secrets::{json, store};

use super::{Context, Failure, print_stdout};
use crate::cli::ListArgs;

pub(crate) fn run(args: &ListArgs, ctx: &Context) -> Result<u8, Failure> {
    let path = ctx.existing_stage_file(&args.stage.stage)?;
    let file = store::read_encrypted(&path)?;
    let names: Vec<&str> = file
        .docs
        .first()
        .map(|d| {
            d.items
                .iter()
                .filter_map(|i| match i {
                    MapItem::Entry(k, _) => Some(k.as_str()),
                    MapItem::Comment(_) => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = String::new();
    if args.json {
        out.push_str(&json::string_array(names.iter().copied()));
        out.push('\n');
    } else {
        for n in names {
            out.push_str(&escape_control(n));
            out.push('\n');
        }
    }
    print_stdout(&out)
}
