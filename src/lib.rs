//! sls-secrets: per-stage secrets in SOPS-format files, injected into `serverless.yml`.
//!
//! The library; the command line (`main.rs`, `cli.rs`, `commands/`) is a thin layer on top.
//!
//! - [`store`]: stage files (`secrets/<stage>.yml`): find, open, save atomically under a lock.
//! - [`files`]: reading given text files only as regular files of a bounded size.
//! - [`tempfiles`]: plaintext temporary files, removed on TERM/INT/HUP as well as on return.
//! - [`sops`]: the SOPS file format: metadata, value cipher, MAC, one tree walk.
//! - [`keys`]: data-key sources: age identities and AWS KMS.
//! - [`config`]: `.sops.yaml` creation rules (read, and extended by `init`).
//! - [`rule_edit`]: text edits of `.sops.yaml` creation rules (a recipient in or out, a rule
//!   split for one file), keeping every other byte.
//! - [`people`]: `keys add`/`keys remove`: one recipient into or out of the rules and the
//!   stage files, planned and checked before anything is written.
//! - [`history`]: when each value of a stage file last changed (git), for the offboarding report.
//! - [`offboard`]: the report `keys remove` prints (names, last changes, advice; no value).
//! - [`conformance`]: whether a stage file is what its creation rule asks for.
//! - [`render`]: format-preserving edits of `serverless.yml`.
//! - [`exec`]: runs a child process with the secrets in its environment.
//! - [`forward`]: passes signals on to a child (`exec`'s command, `edit`'s editor).
//! - [`framework`]: which Serverless framework reads the file (v3, v4, osls) and how it reads `${`.
//! - [`seed`]: Seed's `seed.yml` opt-out (`sls_set_secret_envs`).
//! - [`git`]: running git (`REV:path`, local config); [`git_drivers`]: `init --git`;
//!   [`gitignore`]: keeping `.serverless/` (plaintext values after `sls package`) out of git.
//! - [`secrets_diff`]: key-level comparison of two versions of a stage file (`diff`);
//!   [`secrets_merge`]: their three-way merge per key (`git-merge`).
//! - [`check`]: what `check` verifies about stage files (CI, pre-commit).
//! - [`glob`]: name globs for stage rules and scoping.
//! - [`json`]: the JSON strings the command line prints.
//! - [`lambda`]: Lambda's rules for where secrets go (scope, placement, 4 KB), for render and the plugin.
//! - [`sealed`]: sealed delivery: each function's secrets sealed for one KMS key in its package,
//!   opened at cold start by the Lambda exec wrapper.
//! - [`deployed`]: what a stage's stack has deployed against what git holds (`status`).
//! - [`envname`]: which names Lambda accepts as environment variables.
//! - [`envpolicy`]: which variables a stage file may not set for `exec` (one table, sourced).
//! - [`yaml`]: typed YAML tree for SOPS files (parse and emit, go-yaml v3 compatible).
//! - [`timefmt`]: RFC 3339 timestamps as sops writes them.
//! - [`text`]: control characters escaped in everything shown to a person.

pub mod check;
pub mod config;
pub mod conformance;
pub mod deployed;
pub mod envname;
pub mod envpolicy;
pub mod exec;
pub mod files;
pub mod forward;
pub mod framework;
pub mod git;
pub mod git_drivers;
pub mod gitignore;
pub mod glob;
pub mod history;
pub mod json;
pub mod keys;
pub mod lambda;
pub mod offboard;
pub mod people;
pub mod render;
pub mod rule_edit;
pub mod sealed;
pub mod secrets_diff;
pub mod secrets_merge;
pub mod seed;
pub mod sops;
pub mod stages;
pub mod store;
pub mod tempfiles;
pub mod text;
pub mod timefmt;
pub mod yaml;
