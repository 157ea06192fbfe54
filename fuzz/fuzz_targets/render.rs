//! The render path on any input: never panics; when it renders, the output re-parses, keeps
//! every secret readable back unchanged, and rendering again changes nothing.

#![no_main]

use libfuzzer_sys::fuzz_target;
use saphyr_parser::{Event, Parser};
use sls_secrets::render::{RenderOptions, Secret, parser_text, render, serverless_unescape};

/// Values chosen to need escaping: quotes, backslash, `${`, YAML indicators, a line break,
/// U+2028, a control character.
const SECRETS: [Secret<'static>; 3] = [
    Secret {
        name: "DB_PASSWORD",
        value: "p\"a\\s: #s ${x}\n*&!%@",
    },
    Secret {
        name: "API_KEY",
        value: "\u{2028}k\u{1}",
    },
    Secret {
        name: "LOG_LEVEL",
        value: "",
    },
];

/// Every double-quoted scalar that follows a plain scalar `name` (i.e. `NAME: "..."`).
fn values_of(doc: &str, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut prev_is_key = false;
    let mut p = Parser::new_from_str(doc);
    while let Some(Ok((ev, _))) = p.next_event() {
        if let Event::Scalar(v, style, _, _) = ev {
            let is_key = v == name && style == saphyr_parser::ScalarStyle::Plain;
            if prev_is_key && style == saphyr_parser::ScalarStyle::DoubleQuoted {
                out.push(v.into_owned());
            }
            prev_is_key = is_key;
        } else {
            prev_is_key = false;
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let opts = RenderOptions {
        env_limit: usize::MAX,
        ..RenderOptions::default()
    };
    // No secrets: the file comes back byte for byte (or is refused).
    if let Ok(r) = render(src, &[], &opts) {
        assert_eq!(r.output, src);
        assert!(!r.changed);
    }
    let Ok(r) = render(src, &SECRETS, &opts) else {
        return;
    };
    // The output is one valid YAML document (read as Serverless reads it: indentation inside
    // flow collections and quoted scalars is relaxed the way js-yaml relaxes it).
    let output = parser_text(&r.output);
    let mut p = Parser::new_from_str(&output);
    while let Some(ev) = p.next_event() {
        assert!(ev.is_ok(), "rendered output does not parse");
    }
    // Every secret is in the output, written so Serverless reads back the exact value. A
    // `custom.slsSecrets` scope may leave one out on purpose: there the render's own coverage
    // checks (streamed, and tree against tree in this `-a` build) are the oracle.
    let scoped = src.contains("slsSecrets");
    for s in SECRETS.iter().filter(|_| !scoped) {
        let found = values_of(&output, s.name);
        assert!(
            found
                .iter()
                .any(|v| serverless_unescape(v).as_deref() == Some(s.value)),
            "secret {} not found",
            s.name
        );
    }
    // Idempotent: rendering the output again changes nothing.
    let again = render(&r.output, &SECRETS, &opts).expect("the output renders again");
    assert_eq!(again.output, r.output, "render is not idempotent");
});
