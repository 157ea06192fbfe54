//! age key source: wraps the data key as one armored age file per recipient (sops'
//! age/keysource.go) and opens it with the local identities (`identities.rs`, re-exported
//! here for the callers that know them by this path).

use std::io::Write;
use std::str::FromStr;

use age::armor::{ArmoredWriter, Format};
use age::secrecy::ExposeSecret;
use zeroize::Zeroizing;

pub use super::error::AgeError;
use super::error::KeyError;
pub use super::identities::{AgeEnv, AgeIdentities, parse_identities};
use super::source::KeySource;
use crate::sops::metadata::KeyEntry;
use crate::sops::{AgeEntry, DataKey};

impl KeySource for AgeEntry {
    fn describe(&self) -> String {
        self.recipient.clone()
    }

    fn noun(&self) -> &'static str {
        "age recipients"
    }

    fn is_local(&self) -> bool {
        true
    }

    fn wrap(&self, key: &DataKey) -> Result<KeyEntry, KeyError> {
        Ok(KeyEntry::Age(wrap(key, &self.recipient)?))
    }

    fn unwrap(&self, local: &AgeIdentities) -> Option<Result<DataKey, KeyError>> {
        // A failure is only "none of our identities": the error lists where they came from.
        local.open(&self.enc).map(Ok)
    }
}

/// Whether text looks like an age private key (or plugin identity) rather than a recipient.
pub fn looks_private(s: &str) -> bool {
    let t = s.trim_start().to_ascii_uppercase();
    t.starts_with("AGE-SECRET-KEY-") || t.starts_with("AGE-PLUGIN-")
}

/// Never echo a private key, even one given where a recipient belongs.
pub(crate) fn redact_private(s: &str) -> String {
    if looks_private(s) {
        "AGE-SECRET-KEY-… (a private key: treat it as leaked)".to_owned()
    } else {
        s.to_owned()
    }
}

/// Parses an `age1...` recipient.
pub fn parse_recipient(s: &str) -> Result<age::x25519::Recipient, AgeError> {
    age::x25519::Recipient::from_str(s.trim()).map_err(|_| AgeError::BadRecipient {
        text: redact_private(s),
        why: "expected age1...".into(),
    })
}

/// Wraps the data key for one recipient: an armored age file, as sops stores it.
pub fn wrap(key: &DataKey, recipient: &str) -> Result<AgeEntry, AgeError> {
    let r = parse_recipient(recipient)?;
    let wrap_err = |e: std::io::Error| AgeError::Wrap(e.to_string());
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient))
        .map_err(|e| AgeError::Wrap(e.to_string()))?;
    let mut out = Vec::new();
    let armor = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor).map_err(wrap_err)?;
    let mut w = encryptor.wrap_output(armor).map_err(wrap_err)?;
    w.write_all(key.expose()).map_err(wrap_err)?;
    w.finish().and_then(|a| a.finish()).map_err(wrap_err)?;
    let mut enc = String::from_utf8(out).map_err(|_| AgeError::Wrap("armor not UTF-8".into()))?;
    if !enc.ends_with('\n') {
        enc.push('\n');
    }
    Ok(AgeEntry {
        recipient: r.to_string(),
        enc,
    })
}

/// A new identity and its recipient, for `init` on a machine with no key.
pub fn generate() -> (Zeroizing<String>, String) {
    let id = age::x25519::Identity::generate();
    let secret = Zeroizing::new(id.to_string().expose_secret().to_owned());
    (secret, id.to_public().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_key_given_as_recipient_never_prints() {
        let key = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";
        let e = parse_recipient(key).unwrap_err();
        assert!(!format!("{e}").contains("1QQQQ"), "{e}");
        assert!(!format!("{e:?}").contains("1QQQQ"), "{e:?}");
    }
}
