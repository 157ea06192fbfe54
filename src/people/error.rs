//! What `keys add` / `keys remove` refuse, each with what to do about it.

use std::path::PathBuf;

use crate::config::ConfigError;
use crate::rule_edit::EditError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    // Boxed: a store error is large, and every result here carries the enum.
    #[error("{0}")]
    Store(Box<StoreError>),
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{path}: {source}")]
    Edit {
        path: PathBuf,
        #[source]
        source: EditError,
    },
    #[error("{path}: the edited rules would not be what was asked ({why}); nothing was written")]
    EditCheck { path: PathBuf, why: String },
    #[error(
        "{path} is a link to {}, outside the repository; nothing was written",
        target.display()
    )]
    ConfigLink { path: PathBuf, target: PathBuf },
    #[error(
        "{source}; stopped there: {} had been written, {} was not changed",
        written.join(", "),
        config.display()
    )]
    PartlyWritten {
        written: Vec<String>,
        config: PathBuf,
        #[source]
        source: Box<StoreError>,
    },
    #[error("{path} changed while the rules were being edited; nothing was written to it")]
    ConfigChanged { path: PathBuf },
    #[error(
        "the recipient's comment holds a comma, which sops reads as a separator between recipients"
    )]
    Comma,
    #[error(
        "can't open {path} (stage {stage}) to wrap its data key for the change; nothing was written"
    )]
    Unreadable {
        stage: String,
        path: PathBuf,
        /// Who can open it: its keys, short.
        who: Vec<String>,
        #[source]
        source: Box<StoreError>,
    },
    #[error("{recipient} is already a recipient of {places}; nothing to add")]
    AlreadyPresent { recipient: String, places: String },
    #[error("{recipient} is not a recipient of {places}; nothing to remove")]
    Absent { recipient: String, places: String },
    #[error("`{given}` fits several keys: {}", keys.join("; "))]
    Ambiguous { given: String, keys: Vec<String> },
    #[error("{recipient} is the last key of {place}: without it nobody could open {what}")]
    LastRecipient {
        recipient: String,
        place: String,
        what: String,
    },
}

impl From<StoreError> for AccessError {
    fn from(e: StoreError) -> AccessError {
        AccessError::Store(Box::new(e))
    }
}

impl AccessError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            AccessError::Store(e) => return e.hint(),
            AccessError::Unreadable { who, source, .. } => {
                let mut hint = format!("it can be opened by: {}", who.join("; "));
                hint.push_str("\nask one of them to run this, or name only the stages you can open (--stage)");
                if let Some(more) = source.hint() {
                    hint.push('\n');
                    hint.push_str(&more);
                }
                hint
            }
            AccessError::Edit { .. } | AccessError::EditCheck { .. } => {
                "edit .sops.yaml by hand (then `sls-secrets rotate`), or report the layout that was refused".into()
            }
            AccessError::ConfigChanged { .. } => "run the command again".into(),
            AccessError::ConfigLink { .. } => {
                "edit the rules in the file the link points to by hand (then `sls-secrets rotate`), or replace the link with the file".into()
            }
            AccessError::PartlyWritten { .. } => {
                "fix the cause and run the same command again: the files already changed are left as they are".into()
            }
            AccessError::Comma => "remove the comma from the key's comment (the text after the key)".into(),
            AccessError::AlreadyPresent { .. } => "`sls-secrets keys` shows who can open each file".into(),
            AccessError::Absent { .. } => {
                "`sls-secrets keys` shows each file's recipients; give the recipient as listed there".into()
            }
            AccessError::LastRecipient { .. } => {
                "add the key that replaces it first (`sls-secrets keys add`), then remove this one".into()
            }
            AccessError::Ambiguous { .. } => "give more of the fingerprint, or the whole key".into(),
            AccessError::Config(_) => return None,
        })
    }
}
