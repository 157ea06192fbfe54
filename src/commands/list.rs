//! `list --stage S [--json]`: the secret names of a stage. Names are stored in clear, so no
//! key is needed. A stage whose secrets come from a stage rule lists every name it gets, each
//! with the stage it comes from.

use sls_secrets::text::escape_control;
use sls_secrets::yaml::MapItem;
use sls_secrets::{json, store};

use super::{Context, Failure, print_stdout};
use crate::cli::ListArgs;

pub(crate) fn run(args: &ListArgs, ctx: &Context) -> Result<u8, Failure> {
    let stage = &args.stage.stage;
    let resolution = ctx.resolve_stage(&ctx.cwd()?, stage)?;
    // (name, stage it comes from); a later layer's name replaces an earlier one's source.
    let mut names: Vec<(String, &str)> = Vec::new();
    for layer in &resolution.layers {
        let file = store::read_encrypted(&layer.path)?;
        let items = file.docs.first().map_or(&[][..], |d| &d.items[..]);
        for item in items {
            let MapItem::Entry(name, _) = item else {
                continue;
            };
            match names.iter_mut().find(|(n, _)| n == name) {
                Some(entry) => entry.1 = &layer.stage,
                None => names.push((name.clone(), &layer.stage)),
            }
        }
    }
    let mut out = String::new();
    if args.json {
        out.push_str(&json::string_array(names.iter().map(|(n, _)| n.as_str())));
        out.push('\n');
    } else {
        for (name, from) in &names {
            out.push_str(&escape_control(name));
            if resolution.by_rule() {
                out.push_str(&format!("  (from {from})"));
            }
            out.push('\n');
        }
    }
    print_stdout(&out)
}
