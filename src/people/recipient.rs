//! The key being added or removed: read from the command line or a `.pub` file, found by
//! the short form `keys` shows, named for people, and compared by key.

use std::path::Path;

use super::error::AccessError;
use super::target::Target;
use crate::config::CreationRule;
use crate::keys;
use crate::keys::recipient::AgeRecipient;
use crate::sops::metadata::KeyEntry;
use crate::store::{self, StoreError};

/// A recipient given on the command line: parsed, and refused when sops would split it.
pub fn parse_recipient(text: &str) -> Result<AgeRecipient, AccessError> {
    let recipient = AgeRecipient::parse(text).map_err(StoreError::Age)?;
    if recipient.text().contains(',') {
        return Err(AccessError::Comma);
    }
    Ok(recipient)
}

/// The public key in an SSH `.pub` file (its first key line, as `ssh-keygen` writes it).
pub fn read_public_key(path: &Path) -> Result<AgeRecipient, AccessError> {
    let io = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let text = crate::files::read_text(path).map_err(io)?;
    if text.contains("PRIVATE KEY") {
        return Err(io(std::io::Error::other(
            "is a private key; give the public key (the .pub file next to it)",
        ))
        .into());
    }
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    // A `USER.keys` download may hold several keys: adding only the first would be a guess.
    if lines.len() > 1 {
        return Err(io(std::io::Error::other(format!(
            "holds {} keys; give the one to use with --ssh \"ssh-ed25519 ...\"",
            lines.len()
        )))
        .into());
    }
    parse_recipient(lines.first().copied().unwrap_or_default())
}

/// The key to remove as given: text (a recipient, or a fingerprint or short form as `keys`
/// shows it), or a key read from a `.pub` file.
pub enum Given {
    Text(String),
    Key(AgeRecipient),
}

/// The recipient `given` names. A full recipient stands for itself; a short form (`keys`
/// shows an SSH key as `ssh-ed25519 SHA256:9X2NeS9pwDGr… alice@laptop`) or a fingerprint
/// prefix (`SHA256:9X2NeS9pwDGr`) names the one recipient of the targets' files or rules
/// it fits.
pub fn resolve_recipient(given: Given, targets: &[Target]) -> Result<AgeRecipient, AccessError> {
    let text = match given {
        Given::Key(key) => return Ok(key),
        Given::Text(text) => text,
    };
    let parse_error = match AgeRecipient::parse(&text) {
        Ok(recipient) => return Ok(recipient),
        Err(e) => e,
    };
    let wanted = text.trim();
    let prefix = wanted
        .split_whitespace()
        .find(|w| w.starts_with("SHA256:"))
        .map(|w| w.trim_end_matches(['…', '.']))
        .filter(|w| w.len() >= "SHA256:".len() + 6);
    let mut found: Vec<AgeRecipient> = Vec::new();
    for candidate in candidates(targets) {
        let fits = candidate.short() == wanted
            || prefix.is_some_and(|p| candidate.fingerprint().is_some_and(|f| f.starts_with(p)));
        if fits && !found.iter().any(|f| f.key() == candidate.key()) {
            found.push(candidate);
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(StoreError::Age(parse_error).into()),
        _ => Err(AccessError::Ambiguous {
            given: wanted.to_owned(),
            keys: found.iter().map(AgeRecipient::short).collect(),
        }),
    }
}

/// Every age recipient of the targets' files and of their `.sops.yaml` rules.
fn candidates(targets: &[Target]) -> Vec<AgeRecipient> {
    let mut texts: Vec<String> = Vec::new();
    for target in targets {
        if let Ok(file) = store::read_encrypted(&target.path) {
            texts.extend(file.meta.keys().iter().map(|k| k.id().to_owned()));
        }
        if let Ok(rule) = store::creation_rule(&target.path) {
            texts.extend(rule.keys.iter().map(|k| k.id().to_owned()));
        }
    }
    texts
        .iter()
        .filter_map(|t| AgeRecipient::parse(t).ok())
        .collect()
}

/// How `keys` and errors name a key: an SSH or plugin recipient short (type, fingerprint,
/// comment), an X25519 recipient or KMS ARN whole.
pub fn describe_key(entry: &KeyEntry) -> String {
    match entry {
        KeyEntry::Age(age) => AgeRecipient::parse(&age.recipient)
            .map(|r| r.short())
            .unwrap_or_else(|_| age.recipient.clone()),
        KeyEntry::Kms(_) => keys::source_of(entry).describe(),
    }
}

/// The `.sops.yaml` comment beside a recipient (who it is), matched by key: the file may
/// hold an SSH key with another comment than the rule's.
pub fn rule_comment(rule: &CreationRule, id: &str) -> Option<String> {
    if let Some(c) = rule.comment_for(id) {
        return Some(c);
    }
    let recipient = AgeRecipient::parse(id).ok()?;
    rule.comments
        .iter()
        .find(|(r, _)| recipient.same_key(r))
        .map(|(_, c)| c.clone())
}

/// Whether `entry` is an age entry for the same key as `recipient`.
pub(super) fn is_recipient(entry: &KeyEntry, recipient: &AgeRecipient) -> bool {
    matches!(entry, KeyEntry::Age(_)) && recipient.same_key(entry.id())
}
