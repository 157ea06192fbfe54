//! The YAML load error: where (1-based line and column) and what, never a scalar's content.

/// A YAML load error. Positions are 1-based. Messages never contain scalar contents, which may
/// be secrets; key names are fine.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
/// Displays as `LINE:COL: what`, so a caller can prefix `FILE:` for `FILE:LINE:COL: what`.
#[error("{line}:{col}: {kind}")]
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
