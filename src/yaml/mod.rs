//! YAML for SOPS files: a typed tree (go-yaml v3 resolution, comments kept as items), a parser
//! built on saphyr-parser, and an emitter that writes what go-yaml v3's encoder writes
//! (what `sops` itself prints), so files we write look like files sops writes.
//!
//! This module is for SOPS stage files and `.sops.yaml` only. `serverless.yml` is never
//! round-tripped through it: render edits that file as text (see `render`).

pub mod value;

pub use value::{Document, MapItem, SeqItem, Text, Value};

// TEMPORARY stubs until the parser/emitter branch lands.
#[derive(Debug, thiserror::Error)]
#[error("yaml error at line {line}, column {col}: {message}")]
pub struct Error {
    pub line: usize,
    pub col: usize,
    pub message: String,
}
pub fn parse(_src: &str) -> Result<Vec<Document>, Error> {
    unimplemented!()
}
pub fn emit(_docs: &[Document], _indent: usize) -> String {
    unimplemented!()
}
