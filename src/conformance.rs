//! Whether a stage file is what its `.sops.yaml` creation rule asks for: who can open it (age
//! recipients, KMS keys, and any other key type), which values it encrypts (the one
//! `*_suffix` / `*_regex` setting) and `mac_only_encrypted`. The file's own metadata is
//! written by whoever committed it, and nothing but the MAC-less `sops:` block records it, so
//! the rule in the reviewed `.sops.yaml` is what decides. One comparison, used by the merge
//! driver (a side that disagrees is a conflict) and by `check` (an error).

use std::fmt;

use crate::config::CreationRule;
use crate::keys::same_id;
use crate::sops::metadata::KeyEntry;
use crate::sops::{Metadata, rules::Rule};
use crate::text::escape_control;

/// A key that can open a file, or that the rule lists.
#[derive(Clone, PartialEq, Eq)]
pub struct Recipient {
    /// `age`, `kms`, or a key type sls-secrets can't use (`pgp`, `gcp_kms`, ...).
    pub kind: String,
    /// The age recipient or KMS ARN; empty for a foreign key type.
    pub id: String,
    /// The comment beside it in `.sops.yaml` (`- age1... # alice`), if any.
    pub comment: Option<String>,
}

/// Escaped: the kind and id come from a stage file anyone can push, and a line break in an
/// SSH key's comment must not start a line of its own in `check` or a merge conflict.
impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = escape_control(&self.kind);
        if self.id.is_empty() {
            return write!(f, "{kind} keys (not usable by sls-secrets)");
        }
        write!(f, "{kind} `{}`", escape_control(&self.id))?;
        if let Some(c) = &self.comment {
            write!(f, " ({c})")?;
        }
        Ok(())
    }
}

/// One way a file differs from its creation rule.
#[derive(Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// Can open the file, but the rule does not list it (removed from the rule, or added to
    /// the file by someone else).
    Extra(Recipient),
    /// The rule lists it, but the file is not encrypted for it.
    Missing(Recipient),
    /// The file decides which values are encrypted by another setting than the rule's.
    Encryption {
        file: String,
        rule: String,
    },
    MacOnlyEncrypted {
        file: bool,
        rule: bool,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Extra(r) => write!(
                f,
                "extra recipient: {r} can open this file but .sops.yaml does not list it"
            ),
            Mismatch::Missing(r) => write!(
                f,
                "missing recipient: .sops.yaml lists {r} but the file is not encrypted for it"
            ),
            Mismatch::Encryption { file, rule } => write!(
                f,
                "encryption setting: the file says `{}`, .sops.yaml's rule says `{rule}`",
                escape_control(file)
            ),
            Mismatch::MacOnlyEncrypted { file, rule } => write!(
                f,
                "encryption setting: the file says `mac_only_encrypted: {file}`, .sops.yaml's rule says `{rule}`"
            ),
        }
    }
}

impl Mismatch {
    /// The recipient concerned, for a recipient mismatch.
    pub fn recipient(&self) -> Option<&Recipient> {
        match self {
            Mismatch::Extra(r) | Mismatch::Missing(r) => Some(r),
            _ => None,
        }
    }
}

/// A rule as it is stored in a file's metadata: `key: text`.
pub fn describe_rule(rule: &Rule) -> String {
    format!("{}: {}", rule.key(), rule.text())
}

/// The recipients that can open a file: its key entries, and one per foreign key type.
pub fn file_recipients(meta: &Metadata, rule: &CreationRule) -> Vec<Recipient> {
    let keys = meta.keys().iter().map(|key| recipient(rule, key));
    let foreign = meta.foreign_keys.iter().map(|kind| Recipient {
        kind: kind.clone(),
        id: String::new(),
        comment: None,
    });
    keys.chain(foreign).collect()
}

/// The recipients a creation rule lists.
pub fn rule_recipients(rule: &CreationRule) -> Vec<Recipient> {
    rule.keys.iter().map(|key| recipient(rule, key)).collect()
}

fn recipient(rule: &CreationRule, key: &KeyEntry) -> Recipient {
    Recipient {
        kind: key.kind().to_owned(),
        id: key.id().to_owned(),
        comment: rule.comment_for(key.id()),
    }
}

/// Every way `meta` differs from `rule`, recipients first (extra, then missing), each once.
pub fn mismatches(meta: &Metadata, rule: &CreationRule) -> Vec<Mismatch> {
    let have = file_recipients(meta, rule);
    let want = rule_recipients(rule);
    // By key: an SSH key written with another comment is the same recipient.
    let same = |a: &Recipient, b: &Recipient| a.kind == b.kind && same_id(&a.kind, &a.id, &b.id);
    let mut out: Vec<Mismatch> = Vec::new();
    for r in &have {
        let extra = Mismatch::Extra(r.clone());
        if !want.iter().any(|w| same(w, r)) && !out.contains(&extra) {
            out.push(extra);
        }
    }
    for r in &want {
        let missing = Mismatch::Missing(r.clone());
        if !have.iter().any(|h| same(h, r)) && !out.contains(&missing) {
            out.push(missing);
        }
    }
    let wanted = rule.rule.clone().unwrap_or_default();
    if (meta.rule.key(), meta.rule.text()) != (wanted.key(), wanted.text()) {
        out.push(Mismatch::Encryption {
            file: describe_rule(&meta.rule),
            rule: describe_rule(&wanted),
        });
    }
    if meta.mac_only_encrypted != rule.mac_only_encrypted {
        out.push(Mismatch::MacOnlyEncrypted {
            file: meta.mac_only_encrypted,
            rule: rule.mac_only_encrypted,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sops::AgeEntry;

    fn age_keys(age: &[&str]) -> Vec<KeyEntry> {
        let entry = |recipient: &&str| {
            KeyEntry::Age(AgeEntry {
                recipient: (*recipient).to_owned(),
                enc: String::new(),
            })
        };
        age.iter().map(entry).collect()
    }

    fn meta(age: &[&str]) -> Metadata {
        Metadata::with_keys(age_keys(age))
    }

    fn rule(age: &[&str]) -> CreationRule {
        CreationRule {
            keys: age_keys(age),
            ..Default::default()
        }
    }

    #[test]
    fn the_same_recipients_and_the_default_setting_agree() {
        assert!(mismatches(&meta(&["age1a", "age1b"]), &rule(&["age1b", "age1a"])).is_empty());
    }

    #[test]
    fn an_ssh_key_with_another_comment_is_the_same_recipient() {
        const ED: &str =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJWYyCUyUulBdR59ahTIXNw/o/ygJlF084qkYEyhWu9M";
        let (laptop, desk) = (format!("{ED} alice@laptop"), format!("{ED} alice@desk"));
        assert!(mismatches(&meta(&[&laptop, "age1a"]), &rule(&["age1a", &desk])).is_empty());
        assert!(mismatches(&meta(&[ED]), &rule(&[&laptop])).is_empty());
        // A line break in a comment (a pushed file) stays on the mismatch's one line.
        let forged = format!("{ED} x\nFORGED");
        let shown = mismatches(&meta(&[&forged]), &rule(&["age1a"]))[0].to_string();
        assert!(
            !shown.contains('\n') && shown.contains("x\\u{a}FORGED"),
            "{shown}"
        );
        // Another key is still a conflict both ways.
        assert_eq!(mismatches(&meta(&[&laptop]), &rule(&["age1a"])).len(), 2);
    }

    #[test]
    fn extra_and_missing_recipients_and_other_settings_are_named() {
        let mut m = meta(&["age1a", "age1x"]);
        m.rule = Rule::from_key("unencrypted_regex", "^STRIPE_")
            .unwrap()
            .unwrap();
        m.mac_only_encrypted = true;
        let found: Vec<String> = mismatches(&m, &rule(&["age1a", "age1b"]))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [
                "extra recipient: age `age1x` can open this file but .sops.yaml does not list it",
                "missing recipient: .sops.yaml lists age `age1b` but the file is not encrypted for it",
                "encryption setting: the file says `unencrypted_regex: ^STRIPE_`, .sops.yaml's rule says `unencrypted_suffix: _unencrypted`",
                "encryption setting: the file says `mac_only_encrypted: true`, .sops.yaml's rule says `false`",
            ]
        );
    }

    #[test]
    fn keys_of_every_kind_are_compared_in_one_list() {
        let arn = "arn:aws:kms:us-east-1:111122223333:key/k";
        let kms = KeyEntry::Kms(crate::sops::KmsEntry {
            arn: arn.to_owned(),
            ..Default::default()
        });
        let mut wanted = rule(&["age1a"]);
        wanted.keys.push(kms.clone());
        let mut file = age_keys(&["age1a"]);
        file.push(kms);
        assert!(mismatches(&Metadata::with_keys(file), &wanted).is_empty());
        let found: Vec<String> = mismatches(&meta(&["age1a"]), &wanted)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [format!(
                "missing recipient: .sops.yaml lists kms `{arn}` but the file is not encrypted for it"
            )]
        );
    }
}
