//! Fixture snapshots for `render`: one folder per shape under tests/fixtures/render/, each with
//! a `serverless.yml` and optionally a `secrets.txt` (NAME=value lines; `\n`, `\r`, `\t`,
//! `\\` and `\u{XXXX}` escapes). The snapshot holds the notes, the masked diff and the
//! rendered file (with CR, BOM and a missing final newline made visible), or the error.

use std::path::Path;

use sls_secrets::render::{RenderOptions, Secret, render, unified_diff};

const DEFAULT_SECRETS: &str = "DB_PASSWORD=s3cr3t-db-pass\nAPI_KEY=k3y-abc-123\n";

fn unescape(v: &str) -> String {
    let mut out = String::new();
    let mut it = v.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some('u') => {
                let hex: String = it.by_ref().skip(1).take_while(|&c| c != '}').collect();
                let cp = u32::from_str_radix(&hex, 16).expect("hex escape");
                out.push(char::from_u32(cp).expect("code point"));
            }
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn load_secrets(dir: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dir.join("secrets.txt"))
        .unwrap_or_else(|_| DEFAULT_SECRETS.to_string());
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').expect("NAME=value");
            (k.to_string(), unescape(v))
        })
        .collect()
}

fn visible(s: &str) -> String {
    let mut v = s.replace('\u{feff}', "<BOM>").replace('\r', "␍");
    if !s.is_empty() && !s.ends_with('\n') {
        v.push_str("⏎ <no newline at end of file>");
    }
    v
}

#[test]
fn render_fixtures() {
    insta::glob!("fixtures/render/*/serverless.yml", |path| {
        let dir = path.parent().expect("fixture dir");
        let source = std::fs::read_to_string(path).expect("read fixture");
        let pairs = load_secrets(dir);
        let secrets: Vec<Secret<'_>> = pairs
            .iter()
            .map(|(n, v)| Secret { name: n, value: v })
            .collect();
        let opts = RenderOptions::default();
        let snap = match render(&source, &secrets, &opts) {
            Ok(r) => {
                let masked_output = r.masked_output();
                let diff = unified_diff(
                    &r.masked_original(),
                    &masked_output,
                    "serverless.yml",
                    false,
                );
                // Leak check: no value in anything meant for a terminal.
                for (_, v) in &pairs {
                    if v.len() >= 3 {
                        assert!(
                            !masked_output.contains(v.as_str()),
                            "value leaked into masked_output"
                        );
                        assert!(!diff.contains(v.as_str()), "value leaked into the diff");
                        assert!(
                            !r.notes.iter().any(|n| n.contains(v.as_str())),
                            "value leaked into notes"
                        );
                    }
                }
                // Idempotent: rendering the output again changes nothing.
                let again = render(&r.output, &secrets, &opts)
                    .unwrap_or_else(|e| panic!("second render failed: {e}"));
                assert_eq!(again.output, r.output, "render is not idempotent");
                assert!(!again.changed);
                // No secrets: identity.
                let none = render(&source, &[], &opts).expect("no-secret render");
                assert_eq!(none.output, source);
                assert_eq!(r.changed, r.output != source);
                format!(
                    "== notes\n{}\n== masked diff\n{}\n== output\n{}",
                    r.notes.join("\n"),
                    visible(&diff),
                    visible(&r.output)
                )
            }
            Err(e) => {
                let shown = e.to_string();
                for (_, v) in &pairs {
                    if v.len() >= 3 {
                        assert!(!shown.contains(v.as_str()), "value leaked into an error");
                    }
                }
                format!("== error\n{shown}\n")
            }
        };
        insta::assert_snapshot!(snap);
    });
}

/// An earlier render's output with a syntax error: the error must not echo the secret.
#[test]
fn parse_error_snippet_masks_secret_values() {
    let src = "provider:\n  environment:\n    DB_PASSWORD: \"hunter2-secret\" ]\n";
    let secrets = [Secret {
        name: "DB_PASSWORD",
        value: "hunter2-secret",
    }];
    let err = match render(src, &secrets, &RenderOptions::default()) {
        Ok(_) => panic!("must not parse"),
        Err(e) => e.to_string(),
    };
    assert!(err.starts_with("3:"), "{err}");
    assert!(!err.contains("hunter2-secret"), "{err}");
    assert!(err.contains("****"), "{err}");
}
