//! The `yaml` module against files written by the real sops binary
//! (`../shared/sops-vectors`, see its README.txt): parse + emit must reproduce sops' bytes.

use std::path::{Path, PathBuf};

use sls_secrets::yaml::{self, Document, MapItem, SeqItem, Value};

/// `../shared/sops-vectors`: tests that read it are `#[ignore]`d for a plain `cargo test`;
/// `scripts/test` runs them, and a missing folder fails them.
fn vectors_dir() -> PathBuf {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/sops-vectors"
    ));
    assert!(dir.is_dir(), "missing test vectors at {}", dir.display());
    dir.to_path_buf()
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

const GENERATED: &[&str] = &[
    "secrets.dev",
    "anchors",
    "multidoc",
    "regex",
    "shamir",
    "kms",
    "unencrypted-types",
];

#[test]
#[ignore = "needs ../shared: scripts/test sets it up and runs this"]
fn encrypted_files_round_trip_byte_for_byte() {
    let dir = vectors_dir();
    let mut names: Vec<String> = GENERATED
        .iter()
        .map(|n| format!("generated/{n}.enc.yaml"))
        .collect();
    // Written by sops 3.7.1 / go-yaml v3 with indent 4 as well.
    names.push("age-example.enc.yaml".into());
    for name in names {
        let src = read(&dir, &name);
        let docs = yaml::parse(&src).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(yaml::emit(&docs, 4), src, "{name}");
    }
}

#[test]
#[ignore = "needs ../shared: scripts/test sets it up and runs this"]
fn decrypted_output_matches_sops_decrypt() {
    let dir = vectors_dir();
    for name in GENERATED {
        let plain = read(&dir, &format!("generated/{name}.plain.yaml"));
        let want = read(&dir, &format!("generated/{name}.sops-decrypt-output.yaml"));
        let docs = yaml::parse(&plain).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(yaml::emit(&docs, 4), want, "{name}");
        // sops' output is a fixed point.
        let again = yaml::parse(&want).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(yaml::emit(&again, 4), want, "{name} (re-emit)");
        if *name == "unencrypted-types" {
            // go-yaml writes the float 1.0 as `1`, which reads back as an int: the type drift
            // sops itself has (sops-format.md §13 #14). Everything else is unchanged.
            continue;
        }
        assert_eq!(again, docs, "{name}: output re-parses to the same tree");
    }
}

#[test]
#[ignore = "needs ../shared: scripts/test sets it up and runs this"]
fn other_vectors_parse() {
    let dir = vectors_dir();
    for name in [
        "age-example.enc.yaml",
        "age-types-humphd.enc.yaml",
        "age-example.sops-config.yaml",
        "generated/sops-config.yaml",
        "pgp-comments.enc.yaml",
        "pgp-comments.plain.yaml",
        "pgp-comments-unencrypted-comments.enc.yaml",
        "pgp-example.enc.yaml",
        "pgp-format.enc.yaml",
        "pgp-multiple-keys.enc.yaml",
        "pgp-no-mac.enc.yaml",
    ] {
        let docs = yaml::parse(&read(&dir, name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!docs.is_empty(), "{name}");
        assert!(
            yaml::value::get(&docs[0].items, "sops").is_some()
                || name.contains("plain")
                || name.contains("config"),
            "{name}"
        );
    }
}

fn get<'a>(items: &'a [MapItem], path: &[&str]) -> &'a Value {
    let (first, rest) = path.split_first().expect("non-empty path");
    let v = yaml::value::get(items, first).unwrap_or_else(|| panic!("missing {first}"));
    match rest {
        [] => v,
        _ => get(
            v.as_map().unwrap_or_else(|| panic!("{first} is not a map")),
            rest,
        ),
    }
}

fn s(v: &str) -> Value {
    Value::Str(v.to_owned().into())
}
fn t(v: &str) -> Value {
    Value::Time(v.to_owned().into())
}
fn comments(items: &[MapItem]) -> Vec<&str> {
    items
        .iter()
        .filter_map(|i| match i {
            MapItem::Comment(c) => Some(c.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
#[ignore = "needs ../shared: scripts/test sets it up and runs this"]
fn plain_files_are_typed_like_go_yaml() {
    let dir = vectors_dir();
    let docs = yaml::parse(&read(&dir, "generated/secrets.dev.plain.yaml")).expect("parse");
    let root = &docs[0].items;
    assert_eq!(
        comments(root),
        [" Stage secrets for my-service (top-level comment)"]
    );
    let pe = ["provider_environment"];
    let at = |k: &str| get(root, &[pe[0], k]).clone();
    assert_eq!(at("DB_PASSWORD"), s("hunter2"));
    assert_eq!(at("PORT"), Value::Int(5432));
    assert_eq!(at("RATIO"), Value::Float(0.75));
    assert_eq!(at("BIG_FLOAT"), Value::Float(1e21));
    assert_eq!(at("FEATURE_FLAG"), Value::Bool(true));
    assert_eq!(at("OFF_FLAG"), Value::Bool(false));
    assert_eq!(at("EMPTY"), s(""));
    assert_eq!(at("NULLVAL"), Value::Null);
    assert_eq!(at("WHEN"), t("2024-01-01T00:00:00Z"));
    assert_eq!(at("WHEN_TS"), t("2006-01-02T15:04:05+07:00"));
    assert_eq!(at("WHEN_QUOTED"), s("2024-01-01"));
    assert_eq!(at("QUOTED_INT"), s("42"));
    assert_eq!(at("OCTALISH"), Value::Int(15));
    assert_eq!(at("MULTILINE"), s("line1\nline2\n"));
    assert_eq!(at("UNICODE"), s("héllo ✓"));
    let env = get(root, &pe).as_map().expect("map");
    // The inline comment moved before its key; the head comment stayed before LIST.
    assert_eq!(
        comments(env),
        [" inline comment", " head comment before LIST"]
    );
    assert!(matches!(&env[0], MapItem::Comment(_)));
    let Value::Seq(list) = at("LIST") else {
        panic!("LIST")
    };
    assert!(matches!(&list[1], SeqItem::Comment(c) if c.as_str() == " comment in list"));
    assert_eq!(list[2], SeqItem::Value(Value::Int(1)));

    let docs = yaml::parse(&read(&dir, "generated/unencrypted-types.plain.yaml")).expect("parse");
    let root = &docs[0].items;
    let at = |k: &str| get(root, &["plain_unencrypted", k]).clone();
    assert_eq!(at("float_whole"), Value::Float(1.0));
    assert_eq!(at("float_exp"), Value::Float(6.02e23));
    assert_eq!(at("bool_title"), Value::Bool(false));
    assert_eq!(at("yes_word"), s("yes"));
    assert_eq!(at("on_word"), s("on"));
    assert_eq!(at("octal_like"), Value::Int(15));
    assert_eq!(at("hex"), Value::Int(31));
    assert_eq!(at("datetime"), t("2006-01-02T15:04:05.12+07:00"));

    let docs = yaml::parse(&read(&dir, "generated/anchors.plain.yaml")).expect("parse");
    let root = &docs[0].items;
    assert_eq!(get(root, &["dev", "<<", "user"]), &s("admin"));
    assert_eq!(get(root, &["copy", "pass"]), &s("pw"));
    assert_eq!(
        yaml::parse(&read(&dir, "generated/multidoc.plain.yaml"))
            .expect("parse")
            .len(),
        2
    );
}

#[test]
#[ignore = "needs ../shared: scripts/test sets it up and runs this"]
fn comment_vectors_keep_comments_in_place() {
    let dir = vectors_dir();
    let docs = yaml::parse(&read(&dir, "pgp-comments.plain.yaml")).expect("parse");
    let items = &docs[0].items;
    assert!(matches!(&items[0], MapItem::Comment(c) if c.as_str() == " first comment in file"));
    assert!(matches!(&items[2], MapItem::Comment(c) if c.as_str() == " this-is-a-comment"));
    let docs = yaml::parse(&read(&dir, "age-example.enc.yaml")).expect("parse");
    let nested = get(&docs[0].items, &["this", "is", "a", "nested"])
        .as_map()
        .expect("map");
    assert_eq!(comments(nested).len(), 3);
    assert!(matches!(nested.last(), Some(MapItem::Comment(_))));
}

/// Truncated and corrupted prefixes of every vector: errors are fine, panics are not.
#[test]
#[ignore = "needs ../shared: scripts/test sets it up and runs this"]
fn no_panic_on_garbage() {
    let dir = vectors_dir();
    let mut files = Vec::new();
    for sub in ["", "generated"] {
        for entry in std::fs::read_dir(dir.join(sub))
            .expect("read dir")
            .flatten()
        {
            let p = entry.path();
            if p.extension().is_some_and(|e| e == "yaml") {
                files.push(std::fs::read_to_string(&p).expect("read"));
            }
        }
    }
    for src in &files {
        let cuts: Vec<usize> = (0..=src.len())
            .step_by(29)
            .filter(|&i| src.is_char_boundary(i))
            .collect();
        for &i in &cuts {
            let prefix = &src[..i];
            if let Ok(docs) = yaml::parse(prefix) {
                let _ = yaml::emit(&docs, 4);
            }
            // Same prefix with structural noise spliced in.
            for noise in ["\n  - [", ": {", "\t#", "\"\\", "&a *a", "\n? "] {
                let mut s = prefix.to_owned();
                s.push_str(noise);
                s.push_str(&src[i..]);
                if let Ok(docs) = yaml::parse(&s) {
                    let _ = yaml::emit(&docs, 4);
                }
            }
        }
    }
}

#[test]
#[ignore = "needs ../shared: scripts/test sets it up and runs this"]
fn round_trip_of_emitted_trees_is_stable() {
    let dir = vectors_dir();
    for name in GENERATED {
        let docs: Vec<Document> =
            yaml::parse(&read(&dir, &format!("generated/{name}.enc.yaml"))).expect("parse");
        let out = yaml::emit(&docs, 2);
        let again = yaml::parse(&out).expect("re-parse");
        assert_eq!(again, docs, "{name} with indent 2");
    }
}
