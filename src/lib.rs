//! sls-secrets: per-stage secrets in SOPS-format files, injected into `serverless.yml`.
//!
//! - [`yaml`]: typed YAML tree for SOPS files (parse and emit, go-yaml v3 compatible).
//! - [`render`]: format-preserving edits of `serverless.yml`.

pub mod render;
pub mod yaml;
