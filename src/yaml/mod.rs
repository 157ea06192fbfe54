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
mod parse;
mod scalar;
pub mod value;

pub use scalar::{float_to_sops, float_to_yaml, is_uint64, resolve_plain};
pub use value::{Document, MapItem, SeqItem, Text, Value};

/// A YAML load error. Positions are 1-based. Messages never contain scalar contents, which may
/// be secrets; key names are fine.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
#[error("line {line}, column {col}: {kind}")]
pub struct Error {
    pub line: usize,
    pub col: usize,
    pub kind: ErrorKind,
}

impl Error {
    pub(crate) fn new(line: usize, col: usize, kind: ErrorKind) -> Self {
        Error { line, col, kind }
    }
}

/// What went wrong while loading YAML.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The scanner or parser rejected the text.
    #[error("{0}")]
    Syntax(String),
    /// A mapping key that is not a string (`1: x`, `true: x`, `~: x`, a collection).
    #[error("non-string key (sops accepts only string keys)")]
    NonStringKey,
    /// The same key twice in one mapping.
    #[error("duplicate key `{key}` (first at line {first_line})")]
    DuplicateKey { key: String, first_line: usize },
    /// An integer above `i64::MAX`: go-yaml reads it as `uint64`, which sops rejects.
    #[error("unsupported integer (uint64): sops rejects integers above 9223372036854775807")]
    UnsupportedInteger,
    /// A document whose root is a scalar or a sequence.
    #[error("document root must be a mapping")]
    RootNotMapping,
    /// An explicit core tag the value does not match (`!!int abc`).
    #[error("value does not match its explicit tag")]
    TagMismatch,
    /// `!!binary` that is not valid base64 or not UTF-8 text.
    #[error("invalid !!binary value (bad base64 or not UTF-8)")]
    InvalidBinary,
    /// `*name` without an earlier `&name` in the same document.
    #[error("alias to an unknown anchor")]
    UnknownAlias,
    /// Nesting deeper than the parser accepts.
    #[error("nesting too deep")]
    TooDeep,
    /// Too many nodes after alias expansion.
    #[error("document too large after alias expansion")]
    TooLarge,
}

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
