//! `age-plugin-slstest`: the smallest real age plugin, for sls-secrets' tests.
//!
//! Recipient `age1slstest1…` holds a 32-byte X25519 public key and identity
//! `AGE-PLUGIN-SLSTEST-1…` the 32-byte secret. Wrapping computes age's native X25519 stanza
//! for the same key and re-tags it `slstest`; unwrapping re-tags it `X25519` and lets age's
//! X25519 identity open it. So the cryptography is age's own, and what the tests exercise is
//! the plugin protocol (c2sp.org/age-plugin) as age, rage and sops speak it.
//!
//! Usage: `age-plugin-slstest --age-plugin=recipient-v1|identity-v1` (run by age clients);
//! `age-plugin-slstest --keygen` prints a new identity with its recipient in a comment.

use std::collections::{HashMap, HashSet};
use std::io;

use age::{Identity as _, Recipient as _};
use age_core::format::{FileKey, Stanza};
use age_core::primitives::bech32_encode;
use age_core::secrecy::ExposeSecret;
use age_plugin::{
    Callbacks, PluginHandler, identity, identity::IdentityPluginV1, recipient,
    recipient::RecipientPluginV1, run_state_machine,
};
use bech32::Hrp;

const PLUGIN_NAME: &str = "slstest";
/// The stanza tag of this plugin's wrapped file keys.
const TAG: &str = "slstest";
/// age's native X25519 stanza tag.
const X25519_TAG: &str = "X25519";

/// The key is this plugin's (age passes every name that resolved to this binary) and 32
/// bytes, like every X25519 key, public or secret.
fn check_key(plugin_name: &str, key: &[u8]) -> Result<(), String> {
    match key.len() {
        _ if plugin_name != PLUGIN_NAME => Err(format!("not an {PLUGIN_NAME} key")),
        32 => Ok(()),
        n => Err(format!("expected a 32-byte key, got {n} bytes")),
    }
}

/// Builds age's X25519 recipient from a public key's bytes (via its bech32 form, the only
/// constructor age offers).
fn x25519_recipient(plugin_name: &str, public: &[u8]) -> Result<age::x25519::Recipient, String> {
    check_key(plugin_name, public)?;
    bech32_encode(Hrp::parse_unchecked("age"), public)
        .parse()
        .map_err(|e: &str| e.to_owned())
}

/// Builds age's X25519 identity from a secret key's bytes.
fn x25519_identity(plugin_name: &str, secret: &[u8]) -> Result<age::x25519::Identity, String> {
    check_key(plugin_name, secret)?;
    let text = age_core::secrecy::SecretString::from(
        bech32_encode(Hrp::parse_unchecked("AGE-SECRET-KEY-"), secret).to_uppercase(),
    );
    text.expose_secret().parse().map_err(|e: &str| e.to_owned())
}

/// The 32 bytes inside a bech32 string (age's X25519 keys, for `--keygen`).
fn bech32_bytes(s: &str) -> Vec<u8> {
    bech32::primitives::decode::CheckedHrpstring::new::<bech32::Bech32>(s)
        .expect("age writes valid bech32")
        .byte_iter()
        .collect()
}

/// Wraps one file key for an X25519 key, as this plugin's stanza.
fn wrap(recipient: &age::x25519::Recipient, file_key: &FileKey) -> Result<Stanza, String> {
    let (mut stanzas, _labels) = recipient
        .wrap_file_key(file_key)
        .map_err(|e| e.to_string())?;
    let mut stanza = stanzas.pop().ok_or("age wrote no X25519 stanza")?;
    stanza.tag = TAG.to_owned();
    Ok(stanza)
}

struct Handler;

impl PluginHandler for Handler {
    type RecipientV1 = RecipientPlugin;
    type IdentityV1 = IdentityPlugin;

    fn recipient_v1(self) -> io::Result<Self::RecipientV1> {
        Ok(RecipientPlugin::default())
    }

    fn identity_v1(self) -> io::Result<Self::IdentityV1> {
        Ok(IdentityPlugin::default())
    }
}

/// `recipient-v1`: wraps file keys for recipients (and for identities, by their public key).
#[derive(Default)]
struct RecipientPlugin {
    recipients: Vec<age::x25519::Recipient>,
}

impl RecipientPluginV1 for RecipientPlugin {
    fn add_recipient(
        &mut self,
        index: usize,
        plugin_name: &str,
        bytes: &[u8],
    ) -> Result<(), recipient::Error> {
        x25519_recipient(plugin_name, bytes)
            .map(|r| self.recipients.push(r))
            .map_err(|message| recipient::Error::Recipient { index, message })
    }

    fn add_identity(
        &mut self,
        index: usize,
        plugin_name: &str,
        bytes: &[u8],
    ) -> Result<(), recipient::Error> {
        x25519_identity(plugin_name, bytes)
            .map(|i| self.recipients.push(i.to_public()))
            .map_err(|message| recipient::Error::Identity { index, message })
    }

    fn labels(&mut self) -> HashSet<String> {
        HashSet::new()
    }

    fn wrap_file_keys(
        &mut self,
        file_keys: Vec<FileKey>,
        _callbacks: impl Callbacks<recipient::Error>,
    ) -> io::Result<Result<Vec<Vec<Stanza>>, Vec<recipient::Error>>> {
        let wrapped: Result<Vec<Vec<Stanza>>, String> = file_keys
            .iter()
            .map(|file_key| self.recipients.iter().map(|r| wrap(r, file_key)).collect())
            .collect();
        Ok(wrapped.map_err(|message| vec![recipient::Error::Internal { message }]))
    }
}

/// `identity-v1`: unwraps this plugin's stanzas with the identities it was given.
#[derive(Default)]
struct IdentityPlugin {
    identities: Vec<age::x25519::Identity>,
}

impl IdentityPluginV1 for IdentityPlugin {
    fn add_identity(
        &mut self,
        index: usize,
        plugin_name: &str,
        bytes: &[u8],
    ) -> Result<(), identity::Error> {
        x25519_identity(plugin_name, bytes)
            .map(|i| self.identities.push(i))
            .map_err(|message| identity::Error::Identity { index, message })
    }

    fn unwrap_file_keys(
        &mut self,
        files: Vec<Vec<Stanza>>,
        _callbacks: impl Callbacks<identity::Error>,
    ) -> io::Result<HashMap<usize, Result<FileKey, Vec<identity::Error>>>> {
        let mut file_keys = HashMap::new();
        for (file_index, stanzas) in files.into_iter().enumerate() {
            if let Some(result) = self.unwrap_one(file_index, stanzas) {
                file_keys.insert(file_index, result);
            }
        }
        Ok(file_keys)
    }
}

impl IdentityPlugin {
    /// The file key from the first of this plugin's stanzas an identity opens; errors for
    /// malformed stanzas; `None` when no identity matches (the protocol's "not mine").
    fn unwrap_one(
        &self,
        file_index: usize,
        stanzas: Vec<Stanza>,
    ) -> Option<Result<FileKey, Vec<identity::Error>>> {
        let mut errors = Vec::new();
        for (stanza_index, mut stanza) in stanzas.into_iter().enumerate() {
            if stanza.tag != TAG {
                continue;
            }
            stanza.tag = X25519_TAG.to_owned();
            for identity in &self.identities {
                match identity.unwrap_stanza(&stanza) {
                    Some(Ok(file_key)) => return Some(Ok(file_key)),
                    Some(Err(e)) => errors.push(identity::Error::Stanza {
                        file_index,
                        stanza_index,
                        message: e.to_string(),
                    }),
                    None => {}
                }
            }
        }
        (!errors.is_empty()).then_some(Err(errors))
    }
}

/// Prints a new identity, in the format of `age-keygen` and every other plugin.
fn keygen() {
    let identity = age::x25519::Identity::generate();
    let secret = age_core::secrecy::SecretBox::new(Box::new(bech32_bytes(
        identity.to_string().expose_secret(),
    )));
    let public = bech32_bytes(&identity.to_public().to_string());
    age_plugin::print_new_identity(PLUGIN_NAME, secret.expose_secret(), &public);
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [arg] if arg.starts_with("--age-plugin=") => {
            run_state_machine(&arg["--age-plugin=".len()..], Handler)
        }
        ["--age-plugin", state_machine] => run_state_machine(state_machine, Handler),
        ["--keygen"] => {
            keygen();
            Ok(())
        }
        _ => {
            eprintln!("usage: age-plugin-slstest --keygen | --age-plugin=recipient-v1|identity-v1");
            std::process::exit(2)
        }
    }
}
