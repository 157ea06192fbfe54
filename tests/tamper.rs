//! Tampering is caught: every altered file exits 2 with a message naming the problem and
//! prints no plaintext.

mod common;

use common::{Repo, assert_error, stderr, stdout};
use sls_secrets::keys::age::{AgeIdentities, parse_identities};
use sls_secrets::store;
use sls_secrets::yaml::{MapItem, Text, Value};

const SECRETS: [(&str, &str); 3] = [
    ("ALPHA", "alpha-plaintext-1"),
    ("BETA", "beta-plaintext-2"),
    ("REGION_unencrypted", "eu-west-1"),
];

fn repo() -> (Repo, String) {
    let r = Repo::with_config();
    for (k, v) in SECRETS {
        if k.ends_with("_unencrypted") {
            // `set` refuses to store values in clear; add one the way sops can, via the library.
            let path = r.path().join("secrets/prod.yml");
            let ids = AgeIdentities::from_identities(
                parse_identities(common::TEST_KEY_1, "test").unwrap(),
                "test",
            );
            let mut file = store::open(&path, &ids).unwrap();
            file.top_mut().push(MapItem::Entry(
                k.to_owned(),
                Value::Str(Text::new(v.to_owned())),
            ));
            store::save(&path, &mut file).unwrap();
        } else {
            r.set("prod", k, v);
        }
    }
    let text = r.read("secrets/prod.yml");
    assert!(text.contains("REGION_unencrypted: eu-west-1"));
    (r, text)
}

fn line_value<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .unwrap()
}

#[track_caller]
fn assert_rejected(r: &Repo, tampered: &str, expect: &str) {
    r.write("secrets/prod.yml", tampered);
    for args in [
        &["get", "--stage", "prod", "ALPHA"][..],
        &["decrypt", "secrets/prod.yml"],
    ] {
        let o = r.run(args);
        assert_error(&o);
        let all = stdout(&o) + &stderr(&o);
        assert!(
            stderr(&o).contains(expect),
            "expected `{expect}` in: {}",
            stderr(&o)
        );
        for (k, v) in SECRETS {
            if !k.ends_with("_unencrypted") {
                assert!(!all.contains(v), "plaintext of {k} printed: {all}");
            }
        }
        assert!(stdout(&o).is_empty());
    }
}

#[test]
fn flipped_ciphertext_byte() {
    let (r, text) = repo();
    let enc = line_value(&text, "ALPHA");
    let data_start = enc.find("data:").unwrap() + 5;
    let mut bytes = enc.as_bytes().to_vec();
    bytes[data_start] = if bytes[data_start] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let tampered = text.replace(enc, std::str::from_utf8(&bytes).unwrap());
    assert_rejected(&r, &tampered, "`ALPHA`: authentication failed");
}

#[test]
fn values_swapped_between_keys() {
    let (r, text) = repo();
    let (a, b) = (line_value(&text, "ALPHA"), line_value(&text, "BETA"));
    let tampered = text
        .replace(&format!("ALPHA: {a}"), "ALPHA: @@")
        .replace(&format!("BETA: {b}"), &format!("BETA: {a}"))
        .replace("ALPHA: @@", &format!("ALPHA: {b}"));
    assert_rejected(&r, &tampered, "authentication failed");
}

#[test]
fn changed_unencrypted_value() {
    let (r, text) = repo();
    let tampered = text.replace(
        "REGION_unencrypted: eu-west-1",
        "REGION_unencrypted: us-east-1",
    );
    assert_ne!(tampered, text);
    assert_rejected(&r, &tampered, "MAC mismatch");
}

#[test]
fn removed_mac() {
    let (r, text) = repo();
    let tampered: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("mac:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_rejected(&r, &tampered, "has no MAC");
}

#[test]
fn altered_mac_or_lastmodified() {
    let (r, text) = repo();
    let mac = text
        .lines()
        .find(|l| l.trim_start().starts_with("mac: "))
        .unwrap();
    let i = mac.find("data:").unwrap() + 6;
    let mut m = mac.as_bytes().to_vec();
    m[i] = if m[i] == b'x' { b'y' } else { b'x' };
    assert_rejected(
        &r,
        &text.replace(mac, std::str::from_utf8(&m).unwrap()),
        "MAC can't be decrypted",
    );
    let lm = text
        .lines()
        .find(|l| l.trim_start().starts_with("lastmodified: "))
        .unwrap();
    assert_rejected(
        &r,
        &text.replace(lm, "    lastmodified: \"2001-01-01T00:00:00Z\""),
        "MAC can't be decrypted",
    );
}

#[test]
fn plaintext_value_pasted_in() {
    let (r, text) = repo();
    let tampered = text.replace(line_value(&text, "BETA"), "not-encrypted");
    assert_rejected(&r, &tampered, "`BETA`: value should be encrypted");
}

#[test]
fn truncated_file() {
    let (r, text) = repo();
    for cut in [text.len() / 3, text.len() / 2, text.len() - 40] {
        let mut t = text[..cut].to_owned();
        while !t.is_char_boundary(t.len()) {
            t.pop();
        }
        r.write("secrets/prod.yml", &t);
        let o = r.run(&["get", "--stage", "prod", "ALPHA"]);
        assert_error(&o);
        assert!(!stderr(&o).contains("alpha-plaintext"), "{}", stderr(&o));
        assert!(stdout(&o).is_empty());
        // The message names the file and what is wrong: missing metadata, or the position
        // where the YAML stops making sense.
        let e = stderr(&o);
        let located = e.contains("secrets/prod.yml:")
            && e.split("prod.yml:")
                .nth(1)
                .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()));
        assert!(
            e.contains("secrets/prod.yml") && (e.contains("is missing") || located),
            "cut {cut}: {e}"
        );
    }
}
