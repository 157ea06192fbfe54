//! `age-plugin-slstest`: the smallest real age plugin, for sls-secrets' tests.
//!
//! Recipient `age1slstest1…` holds a 32-byte X25519 public key and identity
//! `AGE-PLUGIN-SLSTEST-1…` the 32-byte secret. A wrapped file key is age's native X25519
//! stanza (c2sp.org/age, "X25519 recipient stanza") tagged `slstest` instead of `X25519`:
//! the same ECDH, HKDF label and ChaCha20-Poly1305, with age-core's primitives.
//! tests/age_plugin.rs checks that age's own X25519 identity opens these stanzas once
//! re-tagged. So the cryptography is real, and what the tests exercise is the plugin protocol
//! (c2sp.org/age-plugin) as the age crate and sops speak it.
//!
//! Not the `age` crate itself: it would double this plugin's cold build (i18n, post-quantum
//! and scrypt code it never runs), which scripts/test pays beside the main build.
//!
//! Usage: `age-plugin-slstest --age-plugin=recipient-v1|identity-v1` (run by age clients);
//! `age-plugin-slstest --keygen` prints a new identity with its recipient in a comment;
//! `age-plugin-slstest --x25519 <identity-file` prints age's X25519 identity for the same key.

use std::collections::{HashMap, HashSet};
use std::io;

use age_core::format::{FileKey, Stanza};
use age_core::primitives::{aead_decrypt, aead_encrypt, bech32_decode, bech32_encode, hkdf};
use age_core::secrecy::ExposeSecret;
use age_plugin::{
    Callbacks, PluginHandler, identity, identity::IdentityPluginV1, recipient,
    recipient::RecipientPluginV1, run_state_machine,
};
use base64::{Engine, prelude::BASE64_STANDARD_NO_PAD};
use bech32::Hrp;
use x25519_dalek::{EphemeralSecret, PublicKey, StaticSecret};
use zeroize::Zeroizing;

const PLUGIN_NAME: &str = "slstest";
/// The stanza tag of this plugin's wrapped file keys.
const TAG: &str = "slstest";
/// age's X25519 stanza key label: these are X25519 stanzas in all but the tag.
const X25519_LABEL: &[u8] = b"age-encryption.org/v1/X25519";
/// A wrapped file key: 16 bytes and the Poly1305 tag.
const FILE_KEY_BYTES: usize = 16;

/// The 32 bytes of an X25519 key (public or secret), if the key is this plugin's (age passes
/// the name the recipient or identity was written with).
fn key_bytes(plugin_name: &str, key: &[u8]) -> Result<Zeroizing<[u8; 32]>, String> {
    if plugin_name != PLUGIN_NAME {
        return Err(format!("not an {PLUGIN_NAME} key"));
    }
    let bytes: [u8; 32] = key
        .try_into()
        .map_err(|_| format!("expected a 32-byte key, got {} bytes", key.len()))?;
    Ok(Zeroizing::new(bytes))
}

/// HKDF-SHA-256 of the shared secret, salted with both public keys: age's X25519 wrap key.
fn wrap_key(shared: &[u8; 32], ephemeral: &PublicKey, recipient: &PublicKey) -> [u8; 32] {
    let salt = [ephemeral.as_bytes().as_slice(), recipient.as_bytes()].concat();
    hkdf(&salt, X25519_LABEL, shared)
}

/// Wraps one file key for `recipient`, as age's X25519 recipient does.
fn wrap(recipient: &PublicKey, file_key: &FileKey) -> Result<Stanza, String> {
    let ephemeral = EphemeralSecret::random();
    let share = PublicKey::from(&ephemeral);
    let shared = ephemeral.diffie_hellman(recipient);
    if !shared.was_contributory() {
        return Err("the recipient is a low-order point".to_owned());
    }
    let key = Zeroizing::new(wrap_key(shared.as_bytes(), &share, recipient));
    Ok(Stanza {
        tag: TAG.to_owned(),
        args: vec![BASE64_STANDARD_NO_PAD.encode(share.as_bytes())],
        body: aead_encrypt(&key, file_key.expose_secret()),
    })
}

/// The file key in `stanza` if `identity` opens it; `None` for another key's stanza (which
/// can't be told apart) or a malformed one.
fn unwrap(identity: &StaticSecret, stanza: &Stanza) -> Option<FileKey> {
    let [share] = &stanza.args[..] else {
        return None;
    };
    let share: [u8; 32] = BASE64_STANDARD_NO_PAD.decode(share).ok()?.try_into().ok()?;
    let share = PublicKey::from(share);
    let shared = identity.diffie_hellman(&share);
    if !shared.was_contributory() {
        return None;
    }
    let key = Zeroizing::new(wrap_key(shared.as_bytes(), &share, &identity.into()));
    let plain = Zeroizing::new(aead_decrypt(&key, FILE_KEY_BYTES, &stanza.body).ok()?);
    Some(FileKey::init_with_mut(|file_key| {
        file_key.copy_from_slice(&plain)
    }))
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
    recipients: Vec<PublicKey>,
}

impl RecipientPluginV1 for RecipientPlugin {
    fn add_recipient(
        &mut self,
        index: usize,
        plugin_name: &str,
        bytes: &[u8],
    ) -> Result<(), recipient::Error> {
        key_bytes(plugin_name, bytes)
            .map(|key| self.recipients.push(PublicKey::from(*key)))
            .map_err(|message| recipient::Error::Recipient { index, message })
    }

    fn add_identity(
        &mut self,
        index: usize,
        plugin_name: &str,
        bytes: &[u8],
    ) -> Result<(), recipient::Error> {
        key_bytes(plugin_name, bytes)
            .map(|key| {
                let public = PublicKey::from(&StaticSecret::from(*key));
                self.recipients.push(public)
            })
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
    identities: Vec<StaticSecret>,
}

impl IdentityPluginV1 for IdentityPlugin {
    fn add_identity(
        &mut self,
        index: usize,
        plugin_name: &str,
        bytes: &[u8],
    ) -> Result<(), identity::Error> {
        key_bytes(plugin_name, bytes)
            .map(|key| self.identities.push(StaticSecret::from(*key)))
            .map_err(|message| identity::Error::Identity { index, message })
    }

    /// A file whose stanzas none of the identities opens gets no entry: the protocol's "not
    /// mine", so the client tries its other identities.
    fn unwrap_file_keys(
        &mut self,
        files: Vec<Vec<Stanza>>,
        _callbacks: impl Callbacks<identity::Error>,
    ) -> io::Result<HashMap<usize, Result<FileKey, Vec<identity::Error>>>> {
        let mut file_keys = HashMap::new();
        for (file_index, stanzas) in files.iter().enumerate() {
            let ours = stanzas.iter().filter(|stanza| stanza.tag == TAG);
            let opened = ours
                .flat_map(|stanza| self.identities.iter().map(move |id| (id, stanza)))
                .find_map(|(identity, stanza)| unwrap(identity, stanza));
            if let Some(file_key) = opened {
                file_keys.insert(file_index, Ok(file_key));
            }
        }
        Ok(file_keys)
    }
}

/// Prints a new identity, in the format of `age-keygen` and every other plugin.
fn keygen() {
    let identity = StaticSecret::random();
    let public = PublicKey::from(&identity);
    age_plugin::print_new_identity(PLUGIN_NAME, identity.as_bytes(), public.as_bytes());
}

/// Reads this plugin's identity on stdin and prints age's X25519 identity for the same key
/// (`AGE-SECRET-KEY-1…`), so a test can check with the `age` crate that these stanzas are
/// age's X25519 ones.
fn to_x25519() -> io::Result<()> {
    let mut line = Zeroizing::new(String::new());
    io::stdin().read_line(&mut line)?;
    let hrp = format!("AGE-PLUGIN-{}-", PLUGIN_NAME.to_uppercase());
    let secret = bech32_decode(
        line.trim(),
        |_| "not bech32",
        |found| match found.as_str().eq_ignore_ascii_case(&hrp) {
            true => Ok(()),
            false => Err("not an AGE-PLUGIN-SLSTEST-1… identity"),
        },
        |_, bytes| Ok(Zeroizing::new(bytes.collect::<Vec<u8>>())),
    )
    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let native = Zeroizing::new(bech32_encode(
        Hrp::parse_unchecked("AGE-SECRET-KEY-"),
        &secret,
    ));
    println!("{}", native.to_uppercase());
    Ok(())
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
        ["--x25519"] => to_x25519(),
        _ => {
            eprintln!(
                "usage: age-plugin-slstest --keygen | --x25519 | --age-plugin=recipient-v1|identity-v1"
            );
            std::process::exit(2)
        }
    }
}
