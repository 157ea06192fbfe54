//! sls-secrets: per-stage secrets in SOPS-format files, injected into `serverless.yml`.
//!
//! - [`yaml`]: typed YAML tree for SOPS files (parse and emit, go-yaml v3 compatible).
//! - [`render`]: format-preserving edits of `serverless.yml`.

pub mod app;
pub mod cli;
pub mod config;
pub mod edit;
pub mod envname;
pub mod exec;
pub mod keys;
pub mod render;
pub mod render_command;
pub mod seed;
pub mod sops;
pub mod store;
pub mod timefmt;
pub mod yaml;
