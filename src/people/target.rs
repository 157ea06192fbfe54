//! What a change is about: adding or removing, and which stage files.

use std::path::PathBuf;

/// What to do with the recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Add,
    Remove,
}

/// A stage file to change.
#[derive(Clone, Debug)]
pub struct Target {
    pub stage: String,
    pub path: PathBuf,
}
