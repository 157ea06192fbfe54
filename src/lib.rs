//! sls-secrets: per-stage secrets in SOPS-format files, injected into `serverless.yml`.
//!
//! - [`yaml`]: typed YAML tree for SOPS files (parse and emit, go-yaml v3 compatible).
//! - [`render`]: format-preserving edits of `serverless.yml`.

pub mod keys;
pub mod sops;
pub mod timefmt;
pub mod yaml;
pub mod config;
pub mod envname;
pub mod store;
pub mod app;
pub mod cli;
pub mod exec;
pub mod edit;
pub mod seed;
