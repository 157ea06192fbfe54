//! Property tests for `render`: no secrets is the identity, rendering is idempotent, and any
//! string value survives the trip through the file (re-parsed with saphyr-parser, then
//! un-escaped the way Serverless v3 does).

use proptest::prelude::*;
use saphyr_parser::{Event, Parser};
use sls_secrets::render::{Error, RenderOptions, Secret, render, serverless_unescape};

/// Pieces that appear in real files: values in several styles, comments, tags.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("plain".to_string()),
        Just("\"quoted\"".to_string()),
        Just("'single'".to_string()),
        Just("!Ref Thing".to_string()),
        Just("${self:custom.x}".to_string()),
        Just("123".to_string()),
        Just("".to_string()),
        Just("~".to_string()),
        Just("\"ünï ✓\"   # cömment".to_string()),
        Just("[a, b]".to_string()),
        Just("{ x: 1 }".to_string()),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("DB_PASSWORD".to_string()),
        Just("API_KEY".to_string()),
        Just("LOG_LEVEL".to_string()),
        Just("OTHER".to_string()),
        Just("X1".to_string()),
    ]
}

fn env_block(indent: usize) -> impl Strategy<Value = Option<String>> {
    let pad = " ".repeat(indent);
    prop_oneof![
        Just(None),
        Just(Some(format!("{pad}environment:\n"))),
        Just(Some(format!("{pad}environment: ~   # null\n"))),
        Just(Some(format!("{pad}environment: {{}}\n"))),
        Just(Some(format!("{pad}environment: ${{file(env.yml)}}\n"))),
        prop::collection::btree_map(key(), value(), 1..4).prop_map({
            let pad = pad.clone();
            move |m| {
                let inner = " ".repeat(indent + 2);
                let mut s = format!("{pad}environment:\n");
                for (k, v) in m {
                    s.push_str(&format!("{inner}{k}: {v}\n"));
                    s.push_str(&format!("{inner}# comment\n"));
                }
                Some(s)
            }
        }),
        prop::collection::btree_map(key(), Just("v".to_string()), 1..3).prop_map({
            let pad = pad.clone();
            move |m| {
                let items: Vec<String> = m.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                Some(format!("{pad}environment: {{ {} }}\n", items.join(", ")))
            }
        }),
    ]
}

fn document() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just(None), Just(Some(0usize)), Just(Some(1))],
        env_block(2),
        prop::collection::vec(env_block(4), 0..3),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(provider, penv, fenvs, crlf, final_nl, bom)| {
            let mut s = String::from("# top comment ✓\nservice: prop\n");
            match provider {
                None => {}
                Some(0) => {
                    s.push_str("provider:\n  name: aws\n");
                    if let Some(e) = penv {
                        s.push_str(&e);
                    }
                }
                Some(_) => s.push_str("provider:\n"),
            }
            if !fenvs.is_empty() {
                s.push_str("functions:\n");
                for (i, e) in fenvs.into_iter().enumerate() {
                    s.push_str(&format!("  fn{i}:\n    handler: h.f{i}\n"));
                    if let Some(e) = e {
                        s.push_str(&e);
                    }
                }
            }
            s.push_str("resources:\n  Resources: {}\n");
            if !final_nl {
                s.pop();
            }
            if crlf {
                s = s.replace('\n', "\r\n");
            }
            if bom {
                s.insert(0, '\u{feff}');
            }
            s
        })
}

fn secret_value() -> impl Strategy<Value = String> {
    let special = prop_oneof![
        Just("${".to_string()),
        Just("${opt:stage}".to_string()),
        Just("\\".to_string()),
        Just(": ".to_string()),
        Just(" #".to_string()),
        Just("\u{2028}".to_string()),
        Just("\u{85}".to_string()),
        Just("\u{feff}".to_string()),
        Just("*".to_string()),
        Just("&".to_string()),
        Just("!".to_string()),
        Just("%".to_string()),
        Just("@".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        Just("\n".to_string()),
        Just("\r\n".to_string()),
        Just("\t".to_string()),
        Just("\0".to_string()),
        Just("yes".to_string()),
        Just("0755".to_string()),
        Just("~".to_string()),
        any::<char>().prop_map(|c| c.to_string()),
        "[ -~]{0,4}",
    ];
    prop::collection::vec(special, 0..8).prop_map(|v| v.concat())
}

fn secrets() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::btree_map(key(), secret_value(), 0..3).prop_map(|m| m.into_iter().collect())
}

/// The scalar value of `key` in the (first) mapping where it appears as a key.
fn find_value(doc: &str, key: &str) -> Option<String> {
    let mut p = Parser::new_from_str(doc);
    let mut prev_was_key = false;
    let mut depth_stack: Vec<bool> = Vec::new(); // true = mapping; tracks key/value alternation
    let mut expect_key: Vec<bool> = Vec::new();
    while let Some(Ok((ev, _))) = p.next_event() {
        match ev {
            Event::MappingStart(..) => {
                depth_stack.push(true);
                expect_key.push(true);
                prev_was_key = false;
            }
            Event::SequenceStart(..) => {
                depth_stack.push(false);
                expect_key.push(false);
                prev_was_key = false;
            }
            Event::MappingEnd | Event::SequenceEnd => {
                depth_stack.pop();
                expect_key.pop();
                if let Some(k) = expect_key.last_mut() {
                    *k = true;
                }
            }
            Event::Scalar(v, ..) => {
                let in_map = depth_stack.last() == Some(&true);
                let is_key = in_map && expect_key.last() == Some(&true);
                if prev_was_key {
                    return Some(v.to_string());
                }
                prev_was_key = is_key && v == key;
                if in_map && let Some(k) = expect_key.last_mut() {
                    *k = !*k;
                }
            }
            _ => {}
        }
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_secrets_is_identity(doc in document()) {
        let r = render(&doc, &[], &RenderOptions::default()).expect("valid document");
        prop_assert_eq!(&r.output, &doc);
        prop_assert!(!r.changed);
    }

    #[test]
    fn render_is_idempotent(doc in document(), pairs in secrets()) {
        let secrets: Vec<Secret<'_>> = pairs.iter().map(|(n, v)| Secret { name: n, value: v }).collect();
        let opts = RenderOptions::default();
        match render(&doc, &secrets, &opts) {
            Ok(once) => {
                let twice = render(&once.output, &secrets, &opts).expect("second render");
                prop_assert_eq!(&twice.output, &once.output);
                prop_assert!(!twice.changed);
                for (_, v) in &pairs {
                    // A value that already occurs in the input (e.g. `: ${`) may show; a leak
                    // is a value the masked output has that the input did not.
                    if v.chars().count() >= 4 && !"****".contains(v.as_str()) && !doc.contains(v.as_str()) {
                        prop_assert!(!once.masked_output().contains(v.as_str()));
                        // The second render's input already holds every secret: unchanged
                        // lines show as diff context, so both masked sides must hide them.
                        prop_assert!(!twice.masked_original().contains(v.as_str()));
                        prop_assert!(!twice.masked_output().contains(v.as_str()));
                    }
                }
            }
            Err(e) => {
                // Only refusals we expect from these shapes.
                let ok = matches!(e, Error::Unsupported { .. } | Error::Unwritable { .. });
                prop_assert!(ok, "unexpected error: {}", e);
            }
        }
    }

    #[test]
    fn any_value_round_trips(v in secret_value(), crlf in any::<bool>()) {
        let mut doc = "service: rt\nprovider:\n  name: aws\n  environment:\n    OTHER: x\n".to_string();
        if crlf {
            doc = doc.replace('\n', "\r\n");
        }
        let secrets = [Secret { name: "SECRET", value: &v }];
        match render(&doc, &secrets, &RenderOptions::default()) {
            Ok(r) => {
                let yaml = find_value(&r.output, "SECRET").expect("SECRET present");
                prop_assert_eq!(serverless_unescape(&yaml), Some(v.clone()));
                if !v.contains("${") {
                    prop_assert_eq!(yaml, v);
                }
            }
            Err(Error::Unwritable { .. }) => {
                let has = v.contains("$${");
                prop_assert!(has, "refused a writable value");
            }
            Err(e) => prop_assert!(false, "unexpected error: {}", e),
        }
    }

    #[test]
    fn arbitrary_input_never_panics(s in "[ -~\n\t{}\\[\\]:#&*!|>-]{0,80}") {
        let secrets = [Secret { name: "A_KEY", value: "v" }];
        let _ = render(&s, &secrets, &RenderOptions::default());
    }
}
