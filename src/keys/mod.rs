//! Key sources that wrap and unwrap a file's data key: age (local, tried first) and AWS KMS
//! (network, tried only when no age identity opens the file).

pub mod age;
pub mod kms;

use crate::sops::{DataKey, Metadata};

pub use self::age::{AgeEnv, AgeError, AgeIdentities};
pub use self::kms::{KmsError, KmsKeySpec};

/// One KMS key that was tried and why it did not open the file.
#[derive(Debug)]
pub struct KmsAttempt {
    pub arn: String,
    pub error: KmsError,
}

/// No configured key opened the file. Lists every place looked, the file's recipients, and
/// each KMS key tried with its failure.
#[derive(Debug, thiserror::Error)]
#[error("no key could decrypt the data key")]
pub struct NoKey {
    pub tried: Vec<self::age::Tried>,
    pub file_recipients: Vec<String>,
    pub kms: Vec<KmsAttempt>,
    pub foreign: Vec<String>,
}

impl NoKey {
    /// The multi-line explanation printed under the error.
    pub fn details(&self) -> String {
        let mut s = String::from("age identities looked for in:\n");
        for t in &self.tried {
            if let Some(problem) = &t.problem {
                s.push_str(&format!("  - {}: can't use it: {problem}\n", t.place));
                continue;
            }
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
        if !self.kms.is_empty() {
            s.push_str("AWS KMS keys tried:\n");
            for a in &self.kms {
                // Most messages name the key already.
                let msg = a.error.to_string();
                if msg.contains(&a.arn) {
                    s.push_str(&format!("  - {msg}\n"));
                } else {
                    s.push_str(&format!("  - {}: {msg}\n", a.arn));
                }
            }
            // One hint per kind of failure, in the order met.
            let mut hints: Vec<String> = Vec::new();
            for h in self.kms.iter().filter_map(|a| a.error.hint()) {
                if !hints.contains(&h) {
                    hints.push(h);
                }
            }
            for h in hints {
                s.push_str(&format!("{h}\n"));
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

    /// Whether the file could have been opened with AWS KMS (so the fix may be AWS-side).
    pub fn has_kms(&self) -> bool {
        !self.kms.is_empty()
    }
}

/// Opens a file's data key: the local age identities first, then each KMS key in file order
/// until one works (sops' decryption order; at most one `Decrypt` per KMS entry per run).
pub fn unwrap_data_key(meta: &Metadata, ids: &AgeIdentities) -> Result<DataKey, NoKey> {
    if let Some(key) = ids.unwrap(&meta.age) {
        return Ok(key);
    }
    let mut kms_tried = Vec::new();
    for entry in &meta.kms {
        match kms::unwrap(entry) {
            Ok(key) => return Ok(key),
            Err(error) => kms_tried.push(KmsAttempt {
                arn: entry.arn.clone(),
                error,
            }),
        }
    }
    Err(NoKey {
        tried: ids.tried.clone(),
        file_recipients: meta.age.iter().map(|e| e.recipient.clone()).collect(),
        kms: kms_tried,
        foreign: meta.foreign_keys.clone(),
    })
}

/// Wraps `key` for every KMS key of a rule (one `Encrypt` each).
pub fn wrap_kms(
    key: &DataKey,
    specs: &[KmsKeySpec],
) -> Result<Vec<crate::sops::KmsEntry>, KmsError> {
    specs.iter().map(|s| kms::wrap(key, s)).collect()
}
