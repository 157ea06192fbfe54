//! SSH private keys as age identities (`ssh-ed25519`, `ssh-rsa`), as sops 3.10+ uses them.
//!
//! A passphrase-protected key asks for its passphrase only when a file has an entry for that
//! very key (its stanza's tag, the first 4 bytes of SHA-256 of the public key, matches), and
//! only once per run: age's own `with_callbacks` would ask again for every entry, even entries
//! for other keys.

use std::cell::OnceCell;
use std::io::BufReader;

use age::secrecy::ExposeSecret;
use age::ssh::UnsupportedKey;
use age_core::format::{FileKey, Stanza};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use sha2::{Digest, Sha256};

use super::terminal::Terminal;

/// What a loaded SSH key is noted as when it is passphrase-protected and nothing can ask.
pub(crate) const NO_TERMINAL: &str = "passphrase-protected; no terminal to ask on: skipped";

/// One SSH private key.
pub(crate) struct SshIdentity {
    /// The public key (`ssh-ed25519 AAAA…`, no comment): the recipient it opens.
    pub recipient: String,
    /// Whether opening with it asks for a passphrase.
    pub asks: bool,
    /// The stanza tag of its entries.
    tag: String,
    key: Key,
}

enum Key {
    Ready(age::ssh::Identity),
    Locked {
        key: age::ssh::Identity,
        /// Where it came from, for the prompt.
        label: String,
        terminal: Terminal,
        /// The key once its passphrase was asked for (`None`: wrong or none given).
        opened: OnceCell<Option<age::ssh::Identity>>,
    },
}

/// Parses an SSH private key (`label` names it in the prompt). A passphrase-protected key
/// with no terminal to ask on, an unsupported key and text that is no SSH key are errors,
/// worded for the list of places tried; they never quote the key.
pub(crate) fn parse(bytes: &[u8], label: &str, terminal: &Terminal) -> Result<SshIdentity, String> {
    let identity = age::ssh::Identity::from_buffer(BufReader::new(bytes), Some(label.to_owned()))
        .map_err(|_| {
        "not an SSH private key age can read (OpenSSH or PEM format)".to_owned()
    })?;
    let asks = match &identity {
        age::ssh::Identity::Unencrypted(_) => false,
        age::ssh::Identity::Encrypted(_) if terminal.ask => true,
        age::ssh::Identity::Encrypted(_) => return Err(NO_TERMINAL.to_owned()),
        age::ssh::Identity::Unsupported(why) => return Err(unsupported(why)),
    };
    let recipient = age::ssh::Recipient::try_from(identity.clone())
        .map_err(|_| "its public key is not one age supports".to_owned())?
        .to_string();
    let tag = stanza_tag(&recipient).ok_or("its public key is malformed")?;
    let key = if asks {
        Key::Locked {
            key: identity,
            label: label.to_owned(),
            terminal: terminal.clone(),
            opened: OnceCell::new(),
        }
    } else {
        Key::Ready(identity)
    };
    Ok(SshIdentity {
        recipient,
        asks,
        tag,
        key,
    })
}

fn unsupported(why: &UnsupportedKey) -> String {
    match why {
        UnsupportedKey::EncryptedPem => {
            "an encrypted PEM key, which age can't read; convert it with `ssh-keygen -p -f FILE` (it keeps the passphrase and writes the OpenSSH format)".into()
        }
        UnsupportedKey::EncryptedSsh(cipher) => {
            format!("encrypted with cipher {cipher}, which age does not support")
        }
        UnsupportedKey::Hardware(kind) => {
            format!("a hardware security key ({kind}), which age can't use as an identity")
        }
        UnsupportedKey::Type(kind) => {
            format!("SSH key type {kind} is not supported; use ssh-ed25519 or ssh-rsa")
        }
    }
}

/// The tag age puts in an SSH stanza: base64 of the first 4 bytes of SHA-256 of the key blob.
fn stanza_tag(public: &str) -> Option<String> {
    let blob = STANDARD.decode(public.split(' ').nth(1)?).ok()?;
    Some(STANDARD_NO_PAD.encode(&Sha256::digest(&blob)[..4]))
}

impl age::Identity for SshIdentity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, age::DecryptError>> {
        let ssh = matches!(stanza.tag.as_str(), "ssh-ed25519" | "ssh-rsa");
        if !ssh || stanza.args.first() != Some(&self.tag) {
            return None;
        }
        match &self.key {
            Key::Ready(identity) => identity.unwrap_stanza(stanza),
            Key::Locked {
                key,
                label,
                terminal,
                opened,
            } => match opened.get_or_init(|| unlock(key, label, terminal)) {
                Some(identity) => identity.unwrap_stanza(stanza),
                None => Some(Err(age::DecryptError::KeyDecryptionFailed)),
            },
        }
    }
}

/// Asks for the passphrase once and decrypts the key with it.
fn unlock(
    key: &age::ssh::Identity,
    label: &str,
    terminal: &Terminal,
) -> Option<age::ssh::Identity> {
    use age::Callbacks;
    let age::ssh::Identity::Encrypted(encrypted) = key else {
        return None;
    };
    let passphrase = terminal.request_passphrase(&format!("Passphrase for SSH key {label}:"))?;
    if passphrase.expose_secret().is_empty() {
        return None;
    }
    encrypted
        .decrypt(passphrase)
        .ok()
        .map(age::ssh::Identity::Unencrypted)
}

/// Throwaway keys for the unit tests.
#[cfg(test)]
pub(crate) mod test_keys {
    /// Made with `ssh-keygen -t ed25519 -N "correct horse" -C test@sls`, for these tests only.
    pub(crate) const LOCKED: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABAVO0ivzA
1CwT2kZGNHWAl+AAAAEAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIAA2yfD78gjf0CmQ
bD7WrJtCIF0nY024RwZl+ENVm4iXAAAAkHu34+9mcEENTXfJPDbJwECVfWd8M2aDLVM/N8
oIZ770z/nsRkbHKMUzSzI0Sima95Sx8cSJlUVrDyLV57hU8i0DSHW/NwoGDRxK73xIPxSu
sWh5wCb1pieaYzXsBLDbV+OYvTQ155shj1GDTnIt8bcUvxXSkizUchtV6UtWX8cEbqc3To
7ux6HeYpvFYsr5WA==
-----END OPENSSH PRIVATE KEY-----
";
    pub(crate) const LOCKED_PUB: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAA2yfD78gjf0CmQbD7WrJtCIF0nY024RwZl+ENVm4iX";
    /// Made with `ssh-keygen -t ed25519 -N "" -C plain@sls`, for these tests only.
    pub(crate) const PLAIN: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACCVBhcbwIpSozd7/xzt3qPT7q73i0DUtFL6hHl44lj34QAAAJDpDtBl6Q7Q
ZQAAAAtzc2gtZWQyNTUxOQAAACCVBhcbwIpSozd7/xzt3qPT7q73i0DUtFL6hHl44lj34Q
AAAEAclmLJjPUMMQz1N5KKyZsyVSgQY/Qf2RNheVWOR7fllpUGFxvAilKjN3v/HO3eo9Pu
rveLQNS0UvqEeXjiWPfhAAAACXBsYWluQHNscwECAwQ=
-----END OPENSSH PRIVATE KEY-----
";
    pub(crate) const PLAIN_PUB: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJUGFxvAilKjN3v/HO3eo9PurveLQNS0UvqEeXjiWPfh plain@sls";
}

#[cfg(test)]
mod tests {
    use super::test_keys::*;
    use super::*;

    /// age's own test key (age/src/ssh/recipient.rs).
    const OTHER_PUB: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN";

    fn stanza_for(public: &str) -> Stanza {
        let recipient: age::ssh::Recipient = public.parse().unwrap();
        let file_key = FileKey::new(Box::new([7; 16]));
        let (mut stanzas, _) = age::Recipient::wrap_file_key(&recipient, &file_key).unwrap();
        stanzas.remove(0)
    }

    fn answering(answer: &'static str) -> Terminal {
        Terminal::answering(Some(answer))
    }

    #[test]
    fn the_stanza_tag_is_the_one_age_writes() {
        assert_eq!(
            stanza_for(OTHER_PUB).args[0],
            stanza_tag(OTHER_PUB).unwrap()
        );
    }

    #[test]
    fn a_locked_key_asks_only_for_its_own_entry_and_then_opens_it() {
        let id = parse(LOCKED.as_bytes(), "id_ed25519", &answering("correct horse")).unwrap();
        assert!(id.asks);
        assert_eq!(id.recipient, LOCKED_PUB);
        use age::Identity as _;
        assert!(id.unwrap_stanza(&stanza_for(OTHER_PUB)).is_none());
        let Key::Locked { opened, .. } = &id.key else {
            panic!("locked")
        };
        assert!(opened.get().is_none(), "asked for another key's entry");
        let key = id.unwrap_stanza(&stanza_for(LOCKED_PUB)).unwrap().unwrap();
        assert_eq!(key.expose_secret(), &[7; 16]);
    }

    #[test]
    fn a_wrong_passphrase_fails_and_no_terminal_skips_the_key() {
        use age::Identity as _;
        let id = parse(LOCKED.as_bytes(), "id_ed25519", &answering("wrong")).unwrap();
        assert!(matches!(
            id.unwrap_stanza(&stanza_for(LOCKED_PUB)),
            Some(Err(age::DecryptError::KeyDecryptionFailed))
        ));
        let e = parse(LOCKED.as_bytes(), "id_ed25519", &Terminal::new(false));
        assert_eq!(e.err().as_deref(), Some(NO_TERMINAL));
    }

    #[test]
    fn text_that_is_no_key_is_refused_without_quoting_it() {
        let e = parse(b"AGE-SECRET-KEY-1SECRET", "k", &Terminal::new(false))
            .err()
            .unwrap();
        assert!(!e.contains("SECRET"), "{e}");
    }
}
