//! Key sources that wrap and unwrap a file's data key: age (local, tried first) and AWS KMS
//! (network, tried only when no age identity opens the file).
//!
//! Each source implements [`KeySource`] once, on its own entry type (`age.rs`, `kms.rs`);
//! [`source_of`] is the one place that maps an entry to its source. This module runs them:
//! sops' decryption order and the error that lists every place tried. `identities.rs` finds
//! the local identities; `error.rs` holds the sources' errors.

pub mod age;
mod error;
pub mod identities;
pub mod kms;
pub mod recipient;
mod source;
mod ssh;
pub mod terminal;

use crate::sops::metadata::KeyEntry;
use crate::sops::{DataKey, Metadata};
use crate::text::escape_control;

pub use self::error::{AgeError, KeyError, KmsError};
pub use self::identities::{AgeEnv, AgeIdentities, Tried};
pub use self::source::KeySource;

/// Every kind of key entry, in the order `keys` lists them (local first).
pub const KINDS: [&str; 2] = ["age", "kms"];

/// The source that wraps and opens `entry`.
pub fn source_of(entry: &KeyEntry) -> &dyn KeySource {
    match entry {
        KeyEntry::Age(entry) => entry,
        KeyEntry::Kms(entry) => entry,
    }
}

/// One key that was tried and why it did not open the file.
#[derive(Debug)]
pub struct Attempt {
    /// The source's heading word for its keys (`AWS KMS keys`).
    pub noun: &'static str,
    /// The key's name (the ARN).
    pub id: String,
    pub error: KeyError,
}

/// No configured key opened the file. Lists every place looked, the file's recipients, and
/// each key tried with its failure.
#[derive(Debug, thiserror::Error)]
#[error("no key could decrypt the data key")]
pub struct NoKey {
    /// Where local identities were looked for.
    pub tried: Vec<Tried>,
    /// The recipients of the entries opened locally (age), in file order: none of ours.
    pub file_recipients: Vec<String>,
    /// Every key tried over the network, in order, with why it failed.
    pub attempts: Vec<Attempt>,
    /// Key types in the file that sls-secrets can't use.
    pub foreign: Vec<String>,
}

impl NoKey {
    /// The multi-line explanation printed under the error.
    pub fn details(&self) -> String {
        let mut out = String::from("age identities looked for in:\n");
        for tried in &self.tried {
            out.push_str(&tried_line(tried));
        }
        if !self.file_recipients.is_empty() {
            out.push_str("the file is encrypted for these age recipients:\n");
            // Escaped: a pushed file's recipient (an SSH comment) may hold a line break.
            for recipient in &self.file_recipients {
                out.push_str(&format!("  - {}\n", escape_control(recipient)));
            }
        }
        let mut nouns: Vec<&str> = Vec::new();
        for attempt in &self.attempts {
            if !nouns.contains(&attempt.noun) {
                nouns.push(attempt.noun);
            }
        }
        for noun in nouns {
            out.push_str(&format!("{noun} tried:\n"));
            let group: Vec<&Attempt> = self
                .attempts
                .iter()
                .filter(|attempt| attempt.noun == noun)
                .collect();
            out.push_str(&attempt_lines(&group));
        }
        if !self.foreign.is_empty() {
            out.push_str(&format!(
                "it also has {} keys, which sls-secrets can't use\n",
                escape_control(&self.foreign.join(", "))
            ));
        }
        if self.needs_terminal() {
            out.push_str(
                "a passphrase-protected key was not used: run sls-secrets in a terminal to be asked for its passphrase (it is never read from the environment)\n",
            );
        }
        out
    }

    /// The plugin programs that identities needed and PATH did not have.
    pub fn missing_plugins(&self) -> Vec<String> {
        let problems = self.tried.iter().filter_map(|t| t.problem.as_deref());
        problems
            .filter_map(|p| {
                let program = p
                    .strip_prefix("the program ")?
                    .strip_suffix(" was not found on PATH")?;
                Some(program.to_owned())
            })
            .collect()
    }

    /// Whether a key was left unused only because there was no terminal to ask its
    /// passphrase on.
    pub fn needs_terminal(&self) -> bool {
        self.tried.iter().any(|tried| {
            tried
                .problem
                .as_deref()
                .is_some_and(|p| p.contains("no terminal"))
        })
    }

    /// Whether a key that needs the network (AWS KMS) was tried, so the fix may be there.
    pub fn has_kms(&self) -> bool {
        !self.attempts.is_empty()
    }
}

fn tried_line(tried: &Tried) -> String {
    let place = &tried.place;
    match (&tried.problem, tried.found) {
        (Some(problem), _) => format!("  - {place}: can't use it: {problem}\n"),
        (None, Some(1)) => format!("  - {place}: 1 identity, not one of the file's\n"),
        (None, Some(count)) => {
            format!("  - {place}: {count} identities, none of them the file's\n")
        }
        (None, None) => format!("  - {place}\n"),
    }
}

/// One line per attempt, then one hint per kind of failure, in the order met.
fn attempt_lines(attempts: &[&Attempt]) -> String {
    let mut out = String::new();
    for attempt in attempts {
        // Most messages name the key already.
        let message = attempt.error.to_string();
        if message.contains(&attempt.id) {
            out.push_str(&format!("  - {}\n", escape_control(&message)));
        } else {
            let (id, message) = (escape_control(&attempt.id), escape_control(&message));
            out.push_str(&format!("  - {id}: {message}\n"));
        }
    }
    let mut hints: Vec<String> = Vec::new();
    for hint in attempts.iter().filter_map(|attempt| attempt.error.hint()) {
        if !hints.contains(&hint) {
            hints.push(hint);
        }
    }
    for hint in hints {
        out.push_str(&format!("{hint}\n"));
    }
    out
}

/// sops' decryption order: entries opened locally first (no network), then the others in
/// file order; among the local ones, those addressed to one of our identities first (no
/// wasted work), and those that need no passphrase before those that do (no question asked
/// when a key of ours opens the file without one). Recipients compare by key: an SSH key
/// written with another comment is ours too.
fn decryption_order<'a>(keys: &'a [KeyEntry], local: &AgeIdentities) -> Vec<&'a KeyEntry> {
    let mut order: Vec<&KeyEntry> = keys.iter().collect();
    order.sort_by_key(|entry| {
        let is_local = source_of(entry).is_local();
        let rank = if is_local { local.rank(entry.id()) } else { 0 };
        (!is_local, rank)
    });
    order
}

/// Whether two key entries name the same key: age recipients by key (an SSH key's comment
/// does not count), KMS keys by ARN.
pub fn same_key(a: &KeyEntry, b: &KeyEntry) -> bool {
    a.kind() == b.kind() && same_id(a.kind(), a.id(), b.id())
}

/// [`same_key`] for a kind and two ids (`age` recipients by key, anything else as written).
pub fn same_id(kind: &str, a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    kind == "age" && recipient::AgeRecipient::parse(a).is_ok_and(|recipient| recipient.same_key(b))
}

/// Opens a file's data key: the local identities first, then each KMS key in file order
/// until one works (sops' decryption order; at most one `Decrypt` per KMS entry per run).
pub fn unwrap_data_key(meta: &Metadata, local: &AgeIdentities) -> Result<DataKey, NoKey> {
    let mut attempts = Vec::new();
    for entry in decryption_order(meta.keys(), local) {
        let source = source_of(entry);
        match source.unwrap(local) {
            Some(Ok(key)) => return Ok(key),
            Some(Err(error)) => attempts.push(Attempt {
                noun: source.noun(),
                id: entry.id().to_owned(),
                error,
            }),
            None => {}
        }
    }
    let local_ids = meta
        .keys()
        .iter()
        .filter(|entry| source_of(entry).is_local());
    Err(NoKey {
        tried: local.tried(),
        file_recipients: local_ids.map(|entry| entry.id().to_owned()).collect(),
        attempts,
        foreign: meta.foreign_keys.clone(),
    })
}

/// Opens the data key from `keys` with the local identities only, never the network.
pub fn unwrap_local(keys: &[KeyEntry], local: &AgeIdentities) -> Option<DataKey> {
    decryption_order(keys, local)
        .into_iter()
        .map(source_of)
        .filter(|source| source.is_local())
        .find_map(|source| source.unwrap(local)?.ok())
}

/// Wraps `key` for every key of a creation rule, in the rule's order (age locally, one KMS
/// `Encrypt` per KMS key).
pub fn wrap_all(key: &DataKey, keys: &[KeyEntry]) -> Result<Vec<KeyEntry>, KeyError> {
    keys.iter()
        .map(|entry| source_of(entry).wrap(key))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sops::{AgeEntry, KmsEntry};

    fn age(recipient: &str) -> KeyEntry {
        KeyEntry::Age(AgeEntry {
            recipient: recipient.to_owned(),
            ..AgeEntry::default()
        })
    }

    fn kms(arn: &str, enc: &str) -> KeyEntry {
        KeyEntry::Kms(KmsEntry {
            arn: arn.to_owned(),
            enc: enc.to_owned(),
            ..KmsEntry::default()
        })
    }

    fn local() -> (AgeIdentities, String) {
        let identity = ::age::x25519::Identity::generate();
        let recipient = identity.to_public().to_string();
        (
            AgeIdentities::from_identities(vec![identity], "test key"),
            recipient,
        )
    }

    #[test]
    fn local_keys_first_ours_first_then_the_rest_in_file_order() {
        let (ids, ours) = local();
        let keys = [
            kms("arn:a", ""),
            age("age1other"),
            kms("arn:b", ""),
            age(&ours),
        ];
        let order: Vec<&str> = decryption_order(&keys, &ids)
            .iter()
            .map(|entry| entry.id())
            .collect();
        assert_eq!(order, [ours.as_str(), "age1other", "arn:a", "arn:b"]);
    }

    #[test]
    fn a_rule_wrapped_through_the_interface_opens_locally() {
        let (ids, ours) = local();
        let key = DataKey::generate().unwrap();
        let wrapped = wrap_all(&key, &[age(&ours)]).unwrap();
        assert_eq!(wrapped[0].id(), ours);
        let opened = unwrap_local(&wrapped, &ids).expect("our identity opens it");
        assert_eq!(opened.expose(), key.expose());
        let meta = Metadata::with_keys(wrapped);
        assert_eq!(unwrap_data_key(&meta, &ids).unwrap().expose(), key.expose());
    }

    /// The error lists the places looked, the file's age recipients and each KMS key tried
    /// (an `enc` that is not base64 fails before any network call).
    #[test]
    fn no_key_lists_every_place_and_key() {
        let arn = "arn:aws:kms:us-east-1:111122223333:key/k";
        let meta = Metadata::with_keys(vec![kms(arn, "not base64!"), age("age1other")]);
        let nobody = AgeIdentities::from_identities(Vec::new(), "nowhere");
        let error = unwrap_data_key(&meta, &nobody).err().expect("no key");
        assert!(error.has_kms());
        let forged = Metadata::with_keys(vec![age("ssh-ed25519 AAAA x\nFORGED")]);
        let shown = unwrap_data_key(&forged, &nobody).err().unwrap().details();
        assert!(!shown.contains("\nFORGED"), "{shown}");
        assert_eq!(
            error.details(),
            format!(
                "age identities looked for in:\n  - nowhere: 0 identities, none of them the file's\n\
                 the file is encrypted for these age recipients:\n  - age1other\n\
                 AWS KMS keys tried:\n  - `sops.kms[].enc` of {arn} is not valid base64\n"
            )
        );
    }
}
