//! Quoting properties (issue 6), extending `render_props::any_value_round_trips` (one block
//! provider environment, saphyr only):
//! - every place a value can be written — appended to a block mapping, replacing a value
//!   (with a trailing comment), inserted into a flow mapping, filling `environment:` (null),
//!   creating `environment`, overriding a shadowing function key — in LF and CRLF files;
//! - every occurrence of the key in the output decodes to the exact value;
//! - values drawn towards the hard cases: C0/C1 control characters, DEL, U+2028/U+2029,
//!   BOM, `${`, leading `*&!%@`, `: `, ` #`, quotes, backslashes, surrounding blanks;
//! - the same values read back by an independent YAML parser: js-yaml, which Serverless v3
//!   itself uses (skipped locally when scripts/test has not installed it; required in CI).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use saphyr_parser::{Event, Parser};
use sls_secrets::render::{Error, RenderOptions, Secret, render, serverless_unescape};

/// Pieces that need escaping, quoting, or break naive emitters.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "${", "${opt:stage}", "\\${x}", ": ", " #", "#", "*", "&", "!", "%", "@", "`", "|",
            ">", "-", "? ", "[", "{", "\"", "'", "\\", "\n", "\r", "\r\n", "\t", " ",
            "\u{2028}", "\u{2029}", "\u{85}", "\u{feff}", "\u{a0}", "\u{7f}", "\u{0}",
            "yes", "0755", "~", "null", "1e3", "2024-01-01", "---", "...",
        ])
        .prop_map(str::to_string),
        // Any C0 or C1 control character.
        2 => prop_oneof![0u32..0x20, 0x7fu32..0xa0]
            .prop_map(|c| char::from_u32(c).map(String::from).unwrap_or_default()),
        1 => any::<char>().prop_map(String::from),
        2 => "[ -~]{0,6}",
    ]
}

/// A value that starts with one of `*&!%@` a third of the time.
fn value() -> impl Strategy<Value = String> {
    (
        prop::option::weighted(
            0.3,
            prop::sample::select(vec!['*', '&', '!', '%', '@', ' ']),
        ),
        prop::collection::vec(piece(), 0..6),
    )
        .prop_map(|(lead, parts)| {
            let mut s: String = lead.map(String::from).unwrap_or_default();
            s.push_str(&parts.concat());
            s
        })
}

/// Documents covering each way a value is written. `SECRET` is the key under test.
const SHAPES: &[&str] = &[
    // appended to a block mapping
    "service: q\nprovider:\n  name: aws\n  environment:\n    OTHER: x\n",
    // replacing an existing value, keeping the comment
    "service: q\nprovider:\n  name: aws\n  environment:\n    SECRET: old   # note\n    OTHER: x\n",
    // a flow mapping
    "service: q\nprovider:\n  name: aws\n  environment: { OTHER: 1, BB: \"two\" }\n",
    // `environment:` with a null value
    "service: q\nprovider:\n  name: aws\n  environment: ~\n",
    // no environment, no provider
    "service: q\nprovider:\n  name: aws\n",
    "service: q\n",
    // a function key that would shadow the secret
    "service: q\nprovider:\n  name: aws\nfunctions:\n  f:\n    handler: h.f\n    environment:\n      SECRET: shadow\n",
];

/// Every scalar that is the value of a `key` entry, in document order.
fn values_of(doc: &str, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    // (is a mapping, next scalar is a key)
    let mut stack: Vec<(bool, bool)> = Vec::new();
    let mut take_next = false;
    let mut p = Parser::new_from_str(doc);
    while let Some(ev) = p.next_event() {
        let (ev, _) = ev.expect("the output parses");
        match ev {
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                take_next = false;
                stack.push((matches!(ev, Event::MappingStart(..)), true));
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                if let Some(top) = stack.last_mut() {
                    top.1 = true;
                }
            }
            Event::Scalar(v, ..) => {
                if take_next {
                    out.push(v.to_string());
                }
                let top = stack.last_mut();
                take_next = matches!(top.as_deref(), Some((true, true))) && v == key;
                if let Some(t) = top
                    && t.0
                {
                    t.1 = !t.1;
                }
            }
            _ => {}
        }
    }
    out
}

fn rendered(shape: &str, v: &str, crlf: bool) -> Option<String> {
    let doc = if crlf {
        shape.replace('\n', "\r\n")
    } else {
        shape.to_string()
    };
    let secrets = [Secret {
        name: "SECRET",
        value: v,
    }];
    match render(&doc, &secrets, &RenderOptions::default()) {
        Ok(r) => Some(r.output),
        Err(Error::Unwritable { .. }) => {
            assert!(v.contains("$${"), "refused a writable value {v:?}");
            None
        }
        Err(e) => panic!("unexpected error {e} for {v:?} in {shape:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_slot_round_trips(
        v in value(),
        shape in prop::sample::select(SHAPES),
        crlf in any::<bool>(),
    ) {
        let Some(out) = rendered(shape, &v, crlf) else { return Ok(()) };
        let found = values_of(&out, "SECRET");
        prop_assert!(!found.is_empty(), "SECRET missing:\n{}", out);
        for yaml in found {
            prop_assert_eq!(serverless_unescape(&yaml), Some(v.clone()), "in:\n{}", out);
        }
    }
}

/// js-yaml from tests/serverless (installed by scripts/test), like `common::tool`: tests
/// that use it are `#[ignore]`d for a plain `cargo test`, and a missing one fails them.
fn js_yaml() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/serverless/node_modules");
    let ok = dir.join("js-yaml").is_dir()
        && Command::new("node")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        ok,
        "js-yaml/node missing: run this test with scripts/test, which installs them"
    );
    dir
}

/// Many values in one file, read back by js-yaml (one node process for all of them).
#[test]
#[ignore = "needs Serverless v3 and osls: scripts/test sets it up and runs this"]
fn js_yaml_reads_back_every_value() {
    let modules = js_yaml();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = prop::collection::vec(value(), 400);
    let mut values = strategy.new_tree(&mut runner).expect("values").current();
    values.retain(|v| !v.contains("$${"));
    // Every control character and line separator on its own, too.
    values.extend(
        (0u32..0x20)
            .chain(0x7f..0xa0)
            .filter_map(char::from_u32)
            .map(String::from),
    );
    values.extend(
        [
            "\u{2028}",
            "\u{2029}",
            "a\u{2028}b",
            " #x",
            "x: y",
            "${a}",
            "\\${a}",
        ]
        .map(String::from),
    );
    let names: Vec<String> = (0..values.len()).map(|i| format!("S{i:04}")).collect();
    let secrets: Vec<Secret<'_>> = names
        .iter()
        .zip(&values)
        .map(|(n, v)| Secret { name: n, value: v })
        .collect();
    let doc = "service: q\nprovider:\n  name: aws\n  environment: { AA: 1 }\n";
    let opts = RenderOptions {
        env_limit: usize::MAX,
        ..RenderOptions::default()
    };
    let out = render(doc, &secrets, &opts).expect("renders").output;
    let script = "const y=require('js-yaml');let s='';process.stdin.on('data',d=>s+=d);\
                  process.stdin.on('end',()=>process.stdout.write(JSON.stringify(y.load(s).provider.environment)));";
    let mut child = Command::new("node")
        .args(["-e", script])
        .env("NODE_PATH", &modules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(out.as_bytes())
        .expect("write");
    let res = child.wait_with_output().expect("node output");
    assert!(res.status.success(), "js-yaml failed on:\n{out}");
    let env: serde_json::Value = serde_json::from_slice(&res.stdout).expect("JSON");
    for (n, v) in names.iter().zip(&values) {
        let got = env[n].as_str().unwrap_or_else(|| panic!("{n} missing"));
        assert_eq!(
            serverless_unescape(got).as_deref(),
            Some(v.as_str()),
            "{n}: {v:?}"
        );
    }
}
