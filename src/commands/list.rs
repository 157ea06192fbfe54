//! `list --stage S [--json]`: the secret names of a stage. Names are stored in clear, so no
//! key is needed.

use std::fmt::Write as _;

use sls_secrets::store;
use sls_secrets::yaml::MapItem;

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
        out.push('[');
        for (i, n) in names.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&json_string(n));
        }
        out.push_str("]\n");
    } else {
        for n in names {
            out.push_str(n);
            out.push('\n');
        }
    }
    print_stdout(&out)
}

fn json_string(s: &str) -> String {
    let mut o = String::new();
    push_json_string(&mut o, s);
    o
}

/// Appends `s` as a JSON string literal (shared with `export`, which writes secret values
/// into a buffer it zeroizes).
pub(crate) fn push_json_string(o: &mut String, s: &str) {
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
}
