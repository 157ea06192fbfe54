//! An age recipient of any kind sops accepts in its `age` lists: X25519 (`age1…`), a plugin
//! (`age1<name>1…`) or an SSH public key (`ssh-ed25519 …`, `ssh-rsa …`, with its comment).
//!
//! sops stores the recipient as it was given, an SSH key's comment included, so two texts
//! name the same key when their [`AgeRecipient::key`] is equal; comparisons go through it.

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use sha2::{Digest, Sha256};

use super::error::AgeError;

/// The kinds of age recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecipientKind {
    X25519,
    /// `age1<name>1…`, handled by the `age-plugin-<name>` program.
    Plugin {
        name: String,
    },
    /// `ssh-ed25519` or `ssh-rsa`.
    Ssh {
        key_type: String,
    },
}

/// A parsed age recipient: the text as written, and the key it names.
#[derive(Clone, Debug)]
pub struct AgeRecipient {
    text: String,
    key: String,
    kind: RecipientKind,
    comment: Option<String>,
}

impl AgeRecipient {
    /// Parses a recipient as sops' `parseRecipient` does (age/keysource.go).
    pub fn parse(text: &str) -> Result<AgeRecipient, AgeError> {
        let text = text.trim();
        let bad = |why: &str| AgeError::BadRecipient {
            text: redact_private(text),
            why: why.to_owned(),
        };
        if text.starts_with("ssh-") {
            return parse_ssh(text).map_err(|why| bad(&why));
        }
        // sops tells the kinds apart by these exact prefixes: `AGE1…` is no recipient to it.
        if !text.starts_with("age1") && text.to_ascii_lowercase().starts_with("age1") {
            return Err(bad(
                "age recipients are written in lowercase (sops refuses any other case)",
            ));
        }
        if let Ok(r) = age::x25519::Recipient::from_str(text) {
            return Ok(AgeRecipient {
                text: text.to_owned(),
                key: r.to_string(),
                kind: RecipientKind::X25519,
                comment: None,
            });
        }
        if text.to_ascii_lowercase().starts_with("age1pq1") {
            return Err(bad(
                "post-quantum age recipients (age1pq1…) are not supported by sls-secrets yet",
            ));
        }
        match age::plugin::Recipient::from_str(text) {
            Ok(r) => Ok(AgeRecipient {
                text: text.to_owned(),
                key: r.to_string(),
                kind: RecipientKind::Plugin {
                    name: r.plugin().to_owned(),
                },
                comment: None,
            }),
            Err(_) => Err(bad(
                "expected age1…, age1<plugin>1…, ssh-ed25519 … or ssh-rsa …",
            )),
        }
    }

    /// The recipient as written (an SSH key with its comment), as sops stores it.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The key alone, without an SSH comment: equal for two texts that name the same key.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn kind(&self) -> &RecipientKind {
        &self.kind
    }

    /// An SSH key's comment (`alice@laptop`).
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }

    /// A short name for lists: an X25519 recipient whole; an SSH key's type, the start of
    /// its SHA256 fingerprint (as `ssh-keygen -l` prints it) and its comment; a plugin's
    /// name and the ends of its recipient.
    pub fn short(&self) -> String {
        match &self.kind {
            RecipientKind::X25519 => self.key.clone(),
            RecipientKind::Ssh { key_type } => {
                let fingerprint = self.fingerprint().unwrap_or_default();
                let short: String = fingerprint.chars().take(7 + 12).collect();
                match &self.comment {
                    Some(comment) => format!("{key_type} {short}… {comment}"),
                    None => format!("{key_type} {short}…"),
                }
            }
            RecipientKind::Plugin { name } => {
                let key = &self.key;
                let head: String = key.chars().take(name.len() + 12).collect();
                let tail: String = key
                    .chars()
                    .skip(key.chars().count().saturating_sub(6))
                    .collect();
                format!("plugin {name} {head}…{tail}")
            }
        }
    }

    /// An SSH key's fingerprint as `ssh-keygen -l` prints it (`SHA256:…`).
    pub fn fingerprint(&self) -> Option<String> {
        let RecipientKind::Ssh { .. } = self.kind else {
            return None;
        };
        let blob = STANDARD.decode(self.key.split(' ').nth(1)?).ok()?;
        Some(format!(
            "SHA256:{}",
            STANDARD_NO_PAD.encode(Sha256::digest(&blob))
        ))
    }

    /// Whether `other` (a recipient's text) names the same key.
    pub fn same_key(&self, other: &str) -> bool {
        match AgeRecipient::parse(other) {
            Ok(other) => other.key == self.key,
            Err(_) => other.trim() == self.text,
        }
    }
}

/// Whether text looks like a private key rather than a recipient: an age private key or
/// plugin identity, or an SSH private key (`id_ed25519` pasted instead of `id_ed25519.pub`).
pub fn looks_private(s: &str) -> bool {
    let t = s.trim_start().to_ascii_uppercase();
    t.starts_with("AGE-SECRET-KEY-") || t.starts_with("AGE-PLUGIN-") || looks_ssh_private(&t)
}

/// `-----BEGIN OPENSSH PRIVATE KEY-----` and the PEM forms, or a PuTTY key file (uppercased).
fn looks_ssh_private(upper: &str) -> bool {
    let pem = upper.starts_with("-----BEGIN") && upper.contains("PRIVATE KEY");
    pem || upper.starts_with("PUTTY-USER-KEY-FILE")
}

/// Never echo a private key, even one given where a recipient belongs.
pub(crate) fn redact_private(s: &str) -> String {
    if !looks_private(s) {
        s.to_owned()
    } else if looks_ssh_private(&s.trim_start().to_ascii_uppercase()) {
        "-----BEGIN … PRIVATE KEY----- (an SSH private key: give the .pub file's line instead; treat this one as leaked)"
            .to_owned()
    } else {
        "AGE-SECRET-KEY-… (a private key: treat it as leaked)".to_owned()
    }
}

/// `ssh-ed25519 AAAA… comment` or `ssh-rsa AAAA… comment`: the age crate checks the key
/// (RSA at least 2048 bits); the comment is kept for lists.
fn parse_ssh(text: &str) -> Result<AgeRecipient, String> {
    use age::ssh::ParseRecipientKeyError as E;
    // Fields apart by any run of spaces or tabs, as Go's ssh.ParseAuthorizedKey (sops) reads them.
    let (key_type, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let rest = rest.trim_start();
    let (blob, comment) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let comment = Some(comment.trim()).filter(|comment| !comment.is_empty());
    let key = format!("{key_type} {blob}");
    match age::ssh::Recipient::from_str(&key) {
        Ok(_) => Ok(AgeRecipient {
            text: text.to_owned(),
            key,
            kind: RecipientKind::Ssh {
                key_type: key_type.to_owned(),
            },
            comment: comment.map(str::to_owned),
        }),
        Err(E::RsaModulusTooSmall) => {
            Err("an RSA key under 2048 bits is too weak; use ssh-ed25519 or RSA of 2048 bits or more".into())
        }
        Err(E::RsaModulusTooLarge) => Err("the RSA key is larger than age supports".into()),
        Err(E::Unsupported(kind)) => Err(format!(
            "SSH key type {kind} is not supported by age; use ssh-ed25519 or ssh-rsa"
        )),
        Err(_) => Err("not a valid SSH public key (expected `ssh-ed25519 AAAA…` or `ssh-rsa AAAA…`, as in a .pub file)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJWYyCUyUulBdR59ahTIXNw/o/ygJlF084qkYEyhWu9M";

    #[test]
    fn an_ssh_key_keeps_its_comment_and_compares_by_key() {
        let r = AgeRecipient::parse(&format!("{ED} alice@laptop")).unwrap();
        assert_eq!(r.key(), ED);
        assert_eq!(r.comment(), Some("alice@laptop"));
        assert!(r.same_key(ED));
        assert!(r.same_key(&format!("{ED} other comment")));
        // Any run of spaces or tabs between the fields, as sops reads them.
        let spaced = ED.replace(' ', " \t ") + "\talice@laptop";
        let r2 = AgeRecipient::parse(&spaced).unwrap();
        assert_eq!((r2.key(), r2.comment()), (ED, Some("alice@laptop")));
        // ssh-keygen -lf of this key prints this fingerprint.
        assert_eq!(
            r.fingerprint().unwrap(),
            "SHA256:9X2NeS9pwDGrH+sGKSNJ5Fay4NdXI7XUEd22eiKwIsE"
        );
        assert!(
            r.short()
                .starts_with("ssh-ed25519 SHA256:9X2NeS9pwDGr… alice@laptop")
        );
    }

    /// An SSH private key pasted where its public key belongs is never echoed.
    #[test]
    fn an_ssh_private_key_given_as_recipient_never_prints() {
        let private = crate::keys::ssh::test_keys::PLAIN;
        let body = private.lines().nth(2).unwrap();
        for text in [private.to_owned(), format!("  {private}")] {
            let e = AgeRecipient::parse(&text).unwrap_err();
            let (shown, debug) = (e.to_string(), format!("{e:?}"));
            assert!(!shown.contains(body) && !debug.contains(body), "{shown}");
            assert!(shown.contains("an SSH private key"), "{shown}");
        }
        assert!(looks_private("-----BEGIN RSA PRIVATE KEY-----\nMIIE"));
        assert!(!looks_private(ED));
    }

    #[test]
    fn x25519_and_bad_recipients() {
        let recipient = age::x25519::Identity::generate().to_public().to_string();
        let r = AgeRecipient::parse(&recipient).unwrap();
        assert_eq!(r.kind(), &RecipientKind::X25519);
        assert!(AgeRecipient::parse("ssh-ed25519 AAAAnotakey").is_err());
        assert!(AgeRecipient::parse("age1nope").is_err());
        let e = AgeRecipient::parse(&recipient.to_uppercase()).unwrap_err();
        assert!(e.to_string().contains("lowercase"), "{e}");
    }
}
