//! STUB — placeholder for the lead's value-history module (issue 25, the offboarding
//! report). The lead replaces this whole file; only the signature below is relied on
//! (`keys remove`'s report). Until then every name's last change is "unknown".
//!
//! When a stage file's values last changed, from the git history of the file.

use std::path::Path;

use crate::keys::AgeIdentities;

/// When one name's value last changed.
pub struct LastChange {
    pub name: String,
    pub changed: Changed,
}

pub enum Changed {
    /// The newest commit that changed the value: its committer date and id.
    Commit { date: String, commit: String },
    /// Changed in the working tree since the last commit.
    Uncommitted,
    /// Not known: `since` the oldest date the history covers, if any, and why.
    Unknown { since: Option<String>, why: String },
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{0}")]
    Git(String),
}

/// STUB: the last change of each of `names` in the stage file at `path`.
pub fn last_changes(
    _path: &Path,
    names: &[String],
    _ids: &AgeIdentities,
) -> Result<Vec<LastChange>, HistoryError> {
    Ok(names
        .iter()
        .map(|name| LastChange {
            name: name.clone(),
            changed: Changed::Unknown {
                since: None,
                why: "value history is not available in this build".into(),
            },
        })
        .collect())
}
