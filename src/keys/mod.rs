//! Key sources that wrap and unwrap a file's data key: age (local, tried first) and AWS KMS.

pub mod age;

use crate::sops::{DataKey, Metadata};

pub use self::age::{AgeEnv, AgeError, AgeIdentities};

/// No configured key opened the file. Lists every place looked and the file's recipients.
#[derive(Debug, thiserror::Error)]
#[error("no key could decrypt the data key")]
pub struct NoKey {
    pub tried: Vec<self::age::Tried>,
    pub file_recipients: Vec<String>,
    pub kms_arns: Vec<String>,
    pub foreign: Vec<String>,
}

impl NoKey {
    /// The multi-line explanation printed under the error.
    pub fn details(&self) -> String {
        let mut s = String::from("age identities looked for in:\n");
        for t in &self.tried {
            match t.found {
                Some(1) => s.push_str(&format!(
                    "  - {}: 1 identity, not one of the file's
",
                    t.place
                )),
                Some(n) => s.push_str(&format!(
                    "  - {}: {n} identities, none of them the file's
",
                    t.place
                )),
                None => s.push_str(&format!(
                    "  - {}
",
                    t.place
                )),
            }
        }
        if !self.file_recipients.is_empty() {
            s.push_str("the file is encrypted for these age recipients:\n");
            for r in &self.file_recipients {
                s.push_str(&format!("  - {r}\n"));
            }
        }
        if !self.kms_arns.is_empty() {
            s.push_str("and these AWS KMS keys:\n");
            for a in &self.kms_arns {
                s.push_str(&format!("  - {a}\n"));
            }
        }
        if !self.foreign.is_empty() {
            s.push_str(&format!(
                "it also has {} keys, which sls-secrets can't use\n",
                self.foreign.join(", ")
            ));
        }
        s
    }
}

/// Opens a file's data key with the local age identities.
pub fn unwrap_data_key(meta: &Metadata, ids: &AgeIdentities) -> Result<DataKey, NoKey> {
    if let Some(key) = ids.unwrap(&meta.age) {
        return Ok(key);
    }
    Err(NoKey {
        tried: ids.tried.clone(),
        file_recipients: meta.age.iter().map(|e| e.recipient.clone()).collect(),
        kms_arns: meta.kms.iter().map(|e| e.arn.clone()).collect(),
        foreign: meta.foreign_keys.clone(),
    })
}
