//! YAML for SOPS files: a typed tree (go-yaml v3 resolution, comments kept as items), a parser
//! built on saphyr-parser, and an emitter that writes what go-yaml v3's encoder writes
//! (what `sops` itself prints), so files we write look like files sops writes.
//!
//! This module is for SOPS stage files and `.sops.yaml` only. `serverless.yml` is never
//! round-tripped through it: render edits that file as text (see `render`).
//!
//! - [`parse`]: every document of a file, typed as go-yaml v3 types scalars (`017` is 15,
//!   `yes` is a string, `2024-01-01` is a timestamp), aliases expanded, merge keys kept as a
//!   literal `<<` entry, comments placed where sops' YAML store puts them.
//! - [`emit`]: the inverse, byte for byte what sops prints with the same indent.
//!
//! # Limitations
//! - Comments are recovered from the source text by position, not reported by the parser. Their
//!   placement follows sops' output for the cases in `../shared/sops-vectors`; unusual layouts
//!   (comments inside flow collections, after a block scalar header, between a key and a
//!   collection value on their own lines) are kept but may sit at a different place than
//!   go-yaml would put them.
//! - Strings containing U+2028/U+2029 are double-quoted (go-yaml writes them raw in single
//!   quotes, which YAML 1.2 readers do not read back identically).
//! - Only block style is written (as go-yaml's encoder does for sops' trees); anchors are not.

mod emit;
mod error;
mod parse;
mod scalar;
pub mod value;

pub use error::{Error, ErrorKind};
pub use scalar::{float_to_sops, float_to_yaml, is_uint64, resolve_plain};
pub use value::{Document, MapItem, SeqItem, Text, Value};

/// Parse every YAML document of a SOPS file (or `.sops.yaml`) into typed trees.
///
/// Zero documents (empty input, only comments) give an empty `Vec`.
pub fn parse(src: &str) -> Result<Vec<Document>, Error> {
    parse::parse(src)
}

/// Emit documents exactly as go-yaml v3's encoder does with the given indent (sops uses 4),
/// separated by `---` lines. go-yaml clamps the indent to 2..=9 (anything else means 2).
pub fn emit(docs: &[Document], indent: usize) -> String {
    emit::emit(docs, indent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(src: &str) -> ErrorKind {
        parse(src).expect_err(src).kind
    }

    #[test]
    fn errors() {
        assert_eq!(kind("1: x\n"), ErrorKind::NonStringKey);
        assert_eq!(kind("true: x\n"), ErrorKind::NonStringKey);
        assert_eq!(kind("~: x\n"), ErrorKind::NonStringKey);
        assert_eq!(kind("2024-01-01: x\n"), ErrorKind::NonStringKey);
        assert_eq!(kind("? [a]\n: x\n"), ErrorKind::NonStringKey);
        assert_eq!(
            kind("a: 1\nb: 2\na: 3\n"),
            ErrorKind::DuplicateKey {
                key: "a".into(),
                first_line: 1
            }
        );
        assert_eq!(
            kind("a: 9223372036854775808\n"),
            ErrorKind::UnsupportedInteger
        );
        assert_eq!(kind("- a\n"), ErrorKind::RootNotMapping);
        assert_eq!(kind("just text\n"), ErrorKind::RootNotMapping);
        assert_eq!(kind("a: !!int abc\n"), ErrorKind::TagMismatch);
        assert_eq!(kind("a: !!binary '%%'\n"), ErrorKind::InvalidBinary);
        // saphyr rejects unknown anchors itself.
        assert!(matches!(kind("a: *nope\n"), ErrorKind::Syntax(_)));
        assert!(matches!(kind("a: [\n"), ErrorKind::Syntax(_)));
        let deep = format!("a: {}{}\n", "[".repeat(1000), "]".repeat(1000));
        // saphyr has its own recursion limit; either refusal is fine.
        assert!(matches!(
            kind(&deep),
            ErrorKind::TooDeep | ErrorKind::Syntax(_)
        ));
        let mut deep = String::new();
        for i in 0..300 {
            deep.push_str(&" ".repeat(i));
            deep.push_str("k:\n");
        }
        assert!(matches!(
            kind(&deep),
            ErrorKind::TooDeep | ErrorKind::Syntax(_)
        ));
        // Billion laughs: each level doubles the expanded size.
        let mut bomb = String::from("a0: &a0 [x, x]\n");
        for i in 1..40 {
            bomb.push_str(&format!("a{i}: &a{i} [*a{}, *a{}]\n", i - 1, i - 1));
        }
        assert_eq!(kind(&bomb), ErrorKind::TooLarge);
    }

    #[test]
    fn error_positions_and_no_secrets() {
        let e = parse("a: 1\nb:\n  c: 1\n  c: hunter2\n").expect_err("dup");
        assert_eq!((e.line, e.col), (4, 3));
        let e = parse("a: 'hunter2\n").expect_err("unterminated");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = parse("a: !!int hunter2\n").expect_err("tag");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(!format!("{e:?}").contains("hunter2"));
        assert_eq!((e.line, e.col), (1, 4));
    }

    #[test]
    fn documents() {
        assert_eq!(parse("").expect("empty"), vec![]);
        assert_eq!(parse("# only a comment\n").expect("comment"), vec![]);
        assert_eq!(
            parse("---\n").expect("empty doc"),
            vec![Document::default()]
        );
        assert_eq!(emit(&parse("---\n").expect("empty doc"), 4), "{}\n");
        let docs = parse("a: 1\n---\nb: 2\n...\n").expect("multi");
        assert_eq!(emit(&docs, 4), "a: 1\n---\nb: 2\n");
    }

    #[test]
    fn tags_and_aliases() {
        let docs = parse(
            "a: !!str 1\nb: !!binary aGVsbG8=\nc: !Ref x\nd: !!float 1\ne: ! 12\n\
             f: &s v\ng: *s\n!!str 1: k\n\"2\": q\n<<: m\nh: !!merge <<\n",
        )
        .expect("parse");
        let items = &docs[0].items;
        let get = |k: &str| value::get(items, k).cloned();
        let s = |v: &str| Some(Value::Str(v.to_owned().into()));
        assert_eq!(get("a"), s("1"));
        assert_eq!(get("b"), s("hello"));
        assert_eq!(get("c"), s("x"));
        assert_eq!(get("d"), Some(Value::Float(1.0)));
        assert_eq!(get("e"), Some(Value::Int(12)));
        assert_eq!(get("g"), s("v"));
        assert_eq!(get("1"), s("k"));
        assert_eq!(get("2"), s("q"));
        assert_eq!(get("<<"), s("m"));
        assert_eq!(get("h"), s("<<"));
        let out = emit(&docs, 4);
        assert!(out.contains("d: 1\n"), "{out}");
        assert!(
            out.contains("\"1\": k\n\"2\": q\n!!merge <<: m\nh: !!merge <<\n"),
            "{out}"
        );
        // Everything but `d` reads back the same: go-yaml writes the float 1 as `1`, an int.
        let mut back = parse(&out).expect("re-parse");
        let mut docs = docs;
        for d in [&mut back, &mut docs] {
            d[0].items
                .retain(|i| !matches!(i, MapItem::Entry(k, _) if k == "d"));
        }
        assert_eq!(back, docs);
    }

    /// Every string must come back identical after emit + parse, whatever quoting it needed.
    #[test]
    fn quoting_round_trips() {
        let cases = [
            "yes",
            "Yes",
            "y",
            "no",
            "off",
            "42",
            "0o17",
            "1e21",
            "1_000",
            ".5",
            "a: b",
            " lead",
            "trail ",
            "#x",
            "x #y",
            "x#y",
            "*a",
            "&a",
            "!a",
            "%a",
            "@a",
            "`a",
            "-",
            "- a",
            "-a",
            "? a",
            "?a",
            ":",
            ":a",
            "a:",
            "null",
            "~",
            "",
            "héllo ✓",
            "\t",
            "a\tb",
            "\u{1}",
            "\u{7f}",
            "\u{85}",
            "\u{a0}x",
            "\u{2028}",
            "a\u{2029}b",
            "😀",
            "\u{feff}",
            "'",
            "\"",
            "\\",
            "a\nb",
            "a\n",
            "a\n\n",
            "\n",
            "\na",
            " a\nb",
            "a \nb",
            "a\n b",
            "a\r\nb",
            "---",
            "...",
            "--- x",
            "[a]",
            "{a}",
            "a, b",
            "<<",
            "2024-01-01",
            "1:30",
            "true",
            "0x1F",
            "- - x",
            "key: |",
            "a\u{0}b",
            "\u{10ffff}",
        ];
        for input in cases {
            let v = Value::Str(input.to_owned().into());
            let docs = vec![Document {
                items: vec![
                    MapItem::Entry("k".into(), v.clone()),
                    MapItem::Entry("l".into(), Value::Seq(vec![SeqItem::Value(v.clone())])),
                    MapItem::Entry(input.to_owned(), Value::Int(1)),
                ],
            }];
            let out = emit(&docs, 4);
            let back = parse(&out).unwrap_or_else(|e| panic!("{input:?}: {e}\n{out}"));
            assert_eq!(back, docs, "{input:?}:\n{out}");
        }
    }

    #[test]
    fn comments_follow_sops() {
        // sops ≤ 3.12 prints inline comments as head comments; foot comments stay in their
        // mapping, indented like its keys.
        let src = "# top\na: 1 # inline\nb:\n    c: 2\n    # foot of b\nd:\n    - x # on x\n    # before y\n    - y\n    # end of list\n# end\n";
        let docs = parse(src).expect("parse");
        // go-yaml separates a document's foot comment with a blank line.
        let want = "# top\n# inline\na: 1\nb:\n    c: 2\n    # foot of b\nd:\n    # on x\n    - x\n    # before y\n    - \"y\"\n    # end of list\n\n# end\n";
        assert_eq!(emit(&docs, 4), want);
        assert_eq!(emit(&parse(want).expect("re-parse"), 4), want);
        // A comment on the key line of a block value goes before the key.
        // go-yaml's indentation indicator, except inside sequences (see emit.rs).
        let docs = parse("a: \"\\na\"\nl:\n    - \"\\n b\"\n").expect("parse");
        let out = emit(&docs, 4);
        assert_eq!(out, "a: |4-\n\n    a\nl:\n    - |2-\n\n       b\n");
        assert_eq!(parse(&out).expect("re-parse"), docs);
        let docs = parse("k: # about k\n    x: 1\n").expect("parse");
        assert_eq!(emit(&docs, 4), "# about k\nk:\n    x: 1\n");
        // `#` inside scalars is not a comment.
        let docs = parse("a: \"q # x\"\nb: x#y\nc: |\n    # body\n").expect("parse");
        assert_eq!(emit(&docs, 4), "a: 'q # x'\nb: x#y\nc: |\n    # body\n");
    }
}
