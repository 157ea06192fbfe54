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
pub use super::recipient::looks_private;
pub(crate) use super::recipient::redact_private;
use super::recipient::{AgeRecipient, RecipientKind};
use super::source::KeySource;
use super::terminal::{Terminal, has_terminal};
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

/// Parses an `age1...` recipient.
pub fn parse_recipient(s: &str) -> Result<age::x25519::Recipient, AgeError> {
    age::x25519::Recipient::from_str(s.trim()).map_err(|_| AgeError::BadRecipient {
        text: redact_private(s),
        why: "expected age1...".into(),
    })
}

/// The age recipient that wraps for `r`: X25519, SSH, or the plugin `age-plugin-<name>` from
/// PATH (which may show messages or ask on the terminal).
fn recipient_for(r: &AgeRecipient) -> Result<Box<dyn age::Recipient>, AgeError> {
    let bad = |why: String| AgeError::BadRecipient {
        text: r.text().to_owned(),
        why,
    };
    Ok(match r.kind() {
        RecipientKind::X25519 => Box::new(parse_recipient(r.key())?),
        RecipientKind::Ssh { .. } => Box::new(
            age::ssh::Recipient::from_str(r.key())
                .map_err(|_| bad("not a valid SSH key".into()))?,
        ),
        RecipientKind::Plugin { name } => {
            let recipient = age::plugin::Recipient::from_str(r.key()).map_err(|e| bad(e.into()))?;
            let terminal = Terminal::new(has_terminal());
            Box::new(
                age::plugin::RecipientPluginV1::new(name, &[recipient], &[], terminal).map_err(
                    |_| AgeError::MissingPlugin {
                        program: format!("age-plugin-{name}"),
                        recipient: r.short(),
                    },
                )?,
            )
        }
    })
}

/// Wraps the data key for one recipient of any kind: an armored age file, as sops stores
/// it, with the recipient as written (sops keeps an SSH key's comment).
pub fn wrap(key: &DataKey, recipient: &str) -> Result<AgeEntry, AgeError> {
    let parsed = AgeRecipient::parse(recipient)?;
    let r = recipient_for(&parsed)?;
    let wrap_err = |e: std::io::Error| AgeError::Wrap(e.to_string());
    let encryptor = age::Encryptor::with_recipients(std::iter::once(r.as_ref()))
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
        recipient: parsed.text().to_owned(),
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
    fn a_plugin_recipient_without_its_program_names_the_program() {
        // A valid recipient (bech32 of bytes 0..32) for a plugin that does not exist.
        let recipient =
            "age1slsnotinstalled1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnzs23v9ccrydpk8qarc0s733nzg";
        let key = DataKey::generate().unwrap();
        let Err(e) = wrap(&key, recipient) else {
            panic!("wrapped without the plugin program")
        };
        assert!(
            e.to_string()
                .contains("the program age-plugin-slsnotinstalled was not found on PATH"),
            "{e}"
        );
    }

    #[test]
    fn a_private_key_given_as_recipient_never_prints() {
        let key = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";
        let e = parse_recipient(key).unwrap_err();
        assert!(!format!("{e}").contains("1QQQQ"), "{e}");
        assert!(!format!("{e:?}").contains("1QQQQ"), "{e:?}");
    }
}

/// Opening entries of every kind with the identities `identities.rs` loads.
#[cfg(test)]
mod opening {
    use std::io::Write;

    use age::secrecy::SecretString;

    use super::*;
    use crate::keys::ssh::test_keys::{LOCKED, LOCKED_PUB, PLAIN, PLAIN_PUB};
    use crate::keys::unwrap_data_key;
    use crate::sops::Metadata;

    fn home_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".ssh")).unwrap();
        for (name, bytes) in files {
            std::fs::write(dir.path().join(name), bytes).unwrap();
        }
        dir
    }

    fn file_for(key: &DataKey, recipients: &[&str]) -> Metadata {
        let entries = recipients
            .iter()
            .map(|r| KeyEntry::Age(wrap(key, r).unwrap()))
            .collect();
        Metadata::with_keys(entries)
    }

    #[test]
    fn ssh_keys_from_the_variable_and_from_home_open_their_entries() {
        let home = home_with(&[
            (".ssh/id_ed25519", PLAIN.as_bytes()),
            ("locked", LOCKED.as_bytes()),
        ]);
        let key = DataKey::generate().unwrap();
        // The entry keeps the comment; the key matches whatever comment is written.
        let meta = file_for(&key, &[&format!("{PLAIN_PUB} renamed")]);
        assert!(meta.keys()[0].id().ends_with("plain@sls renamed"));
        let env = AgeEnv {
            home: Some(home.path().to_owned()),
            ..AgeEnv::default()
        };
        let ids = AgeIdentities::load(&env);
        assert_eq!(ids.rank(meta.keys()[0].id()), 0);
        assert_eq!(unwrap_data_key(&meta, &ids).unwrap().expose(), key.expose());

        let env = AgeEnv {
            ssh_key_file: Some(home.path().join(".ssh/id_ed25519")),
            ..AgeEnv::default()
        };
        let ids = AgeIdentities::load(&env);
        assert_eq!(unwrap_data_key(&meta, &ids).unwrap().expose(), key.expose());
        let places: Vec<String> = ids.tried().iter().map(|t| t.place.clone()).collect();
        assert!(
            places
                .iter()
                .any(|p| p.starts_with("SOPS_AGE_SSH_PRIVATE_KEY_FILE=")),
            "{places:?}"
        );
        assert!(
            places
                .iter()
                .any(|p| p == "SOPS_AGE_SSH_PRIVATE_KEY_CMD: not set"),
            "{places:?}"
        );
    }

    #[test]
    fn a_locked_key_without_a_terminal_is_skipped_with_a_note() {
        let home = home_with(&[(".ssh/id_ed25519", LOCKED.as_bytes())]);
        let key = DataKey::generate().unwrap();
        let meta = file_for(&key, &[LOCKED_PUB]);
        let env = AgeEnv {
            home: Some(home.path().to_owned()),
            ..AgeEnv::default()
        };
        let e = unwrap_data_key(&meta, &AgeIdentities::load(&env))
            .err()
            .unwrap();
        let details = e.details();
        assert!(
            details.contains(&format!(
                "{}: can't use it: passphrase-protected; no terminal to ask on: skipped",
                home.path().join(".ssh/id_ed25519").display()
            )),
            "{details}"
        );
        assert!(
            details.contains("run sls-secrets in a terminal"),
            "{details}"
        );
        assert!(!details.contains("PRIVATE KEY"), "{details}");
    }

    #[test]
    fn no_passphrase_is_asked_when_a_key_that_needs_none_opens_the_file() {
        let home = home_with(&[
            (".ssh/id_ed25519", LOCKED.as_bytes()),
            (".ssh/id_rsa", PLAIN.as_bytes()),
        ]);
        let key = DataKey::generate().unwrap();
        // The locked key's entry comes first in the file.
        let meta = file_for(&key, &[LOCKED_PUB, PLAIN_PUB]);
        let env = AgeEnv {
            home: Some(home.path().to_owned()),
            // Asking would fail and be recorded as a problem.
            answer: Some("wrong"),
            ..AgeEnv::default()
        };
        let ids = AgeIdentities::load(&env);
        assert_eq!(unwrap_data_key(&meta, &ids).unwrap().expose(), key.expose());
        assert!(ids.problems().is_empty(), "{:?}", ids.problems());
        // Only the locked key's own entry: asked, and the wrong answer is reported.
        let meta = file_for(&key, &[LOCKED_PUB]);
        let e = unwrap_data_key(&meta, &ids).err().unwrap();
        assert!(e.details().contains("wrong passphrase"), "{}", e.details());
    }

    fn passphrase_file(identity: &str, passphrase: &str, armored: bool) -> Vec<u8> {
        // A low work factor: the default costs seconds per decryption in a debug build.
        let mut scrypt = age::scrypt::Recipient::new(SecretString::from(passphrase.to_owned()));
        scrypt.set_work_factor(10);
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&scrypt as &dyn age::Recipient))
                .unwrap();
        let mut out = Vec::new();
        let format = if armored {
            age::armor::Format::AsciiArmor
        } else {
            age::armor::Format::Binary
        };
        let armor = age::armor::ArmoredWriter::wrap_output(&mut out, format).unwrap();
        let mut w = encryptor.wrap_output(armor).unwrap();
        w.write_all(identity.as_bytes()).unwrap();
        w.finish().unwrap().finish().unwrap();
        out
    }

    #[test]
    fn a_passphrase_protected_keys_file_opens_with_the_right_passphrase_only() {
        let identity = age::x25519::Identity::generate();
        let recipient = identity.to_public().to_string();
        let secret = age::secrecy::ExposeSecret::expose_secret(&identity.to_string()).to_owned();
        let key = DataKey::generate().unwrap();
        let meta = file_for(&key, &[&recipient]);
        for armored in [true, false] {
            let dir = home_with(&[("keys.txt", &passphrase_file(&secret, "pw", armored))]);
            let with = |answer: Option<&'static str>, terminal: bool| {
                AgeIdentities::load(&AgeEnv {
                    key_file: Some(dir.path().join("keys.txt")),
                    terminal,
                    answer,
                    ..AgeEnv::default()
                })
            };
            let ids = with(Some("pw"), true);
            assert_eq!(unwrap_data_key(&meta, &ids).unwrap().expose(), key.expose());
            let e = unwrap_data_key(&meta, &with(Some("nope"), true))
                .err()
                .unwrap();
            assert!(e.details().contains("wrong passphrase"), "{}", e.details());
            let e = unwrap_data_key(&meta, &with(None, false)).err().unwrap();
            let details = e.details();
            assert!(
                details.contains("encrypted with a passphrase, and there is no terminal"),
                "{details}"
            );
            assert!(e.needs_terminal());
            assert!(
                !details.contains(&secret) && !details.contains("pw\n"),
                "{details}"
            );
        }
    }

    /// A key file that is a FIFO or a device is refused, not read: the load returns (no
    /// wait for a writer, no endless read of `/dev/zero`) and says what the file is.
    #[cfg(unix)]
    #[test]
    fn key_files_that_are_fifos_devices_or_folders_are_refused_not_read() {
        let home = home_with(&[]);
        let fifo = home.path().join(".ssh/id_ed25519");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success(), "mkfifo");
        std::os::unix::fs::symlink("/dev/zero", home.path().join(".ssh/id_rsa")).unwrap();
        std::fs::create_dir(home.path().join("keys.txt")).unwrap();
        let env = AgeEnv {
            home: Some(home.path().to_owned()),
            key_file: Some(home.path().join("keys.txt")),
            ssh_key_file: Some(home.path().join(".ssh/id_rsa")),
            ..AgeEnv::default()
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(AgeIdentities::load(&env).problems());
        });
        let problems = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("loading the identities returns")
            .join("\n");
        for what in ["FIFO", "character device", "directory"] {
            assert!(problems.contains(what), "{what}: {problems}");
        }
        assert_eq!(
            problems.matches("character device").count(),
            2,
            "{problems}"
        );
    }

    #[test]
    fn a_plugin_identity_without_its_program_is_reported() {
        let plugin = age::plugin::Identity::default_for_plugin("slsnotinstalled").unwrap();
        let env = AgeEnv {
            key: Some(plugin.to_string()),
            ..AgeEnv::default()
        };
        let ids = AgeIdentities::load(&env);
        let problems = ids.problems().join("\n");
        assert!(
            problems.contains("age-plugin-slsnotinstalled (identities from SOPS_AGE_KEY): the program age-plugin-slsnotinstalled was not found on PATH"),
            "{problems}"
        );
    }
}
