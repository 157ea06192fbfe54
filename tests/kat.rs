//! Known-answer tests from ../shared/sops-vectors/kat: every value re-encrypts to the exact
//! `ENC[...]` string sops wrote and decrypts back, the MAC inputs hash to the stored MAC, and
//! every age stanza unwraps to the data key.

mod common;

use sha2::{Digest, Sha512};
use sls_secrets::keys::KeySource;
use sls_secrets::keys::age::{AgeIdentities, parse_identities};
use sls_secrets::sops::AgeEntry;
use sls_secrets::sops::cipher::{self, DataKey};

fn kat_files() -> Vec<serde_json::Value> {
    let dir = common::shared("sops-vectors/kat");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 18,
        "expected the 18 kat files, found {}",
        files.len()
    );
    files
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

fn b64(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

#[test]
#[ignore = "needs ../shared: scripts/test sets it up and runs this"]
fn every_value_encrypts_and_decrypts_to_the_known_answer() {
    let mut checked = 0;
    for kat in kat_files() {
        let key = DataKey::from_bytes(&common::hex(kat["data_key_hex"].as_str().unwrap())).unwrap();
        for v in kat["values"].as_array().unwrap() {
            let (aad, kind, plain, enc) = (
                v["aad"].as_str().unwrap(),
                v["type"].as_str().unwrap(),
                v["plaintext_utf8"].as_str().unwrap(),
                v["enc"].as_str().unwrap(),
            );
            let iv: [u8; 32] = b64(v["iv_b64"].as_str().unwrap()).try_into().unwrap();
            assert_eq!(
                cipher::encrypt(&key, plain.as_bytes(), &iv, aad.as_bytes(), kind),
                enc,
                "{}: {aad}",
                kat["source_file"]
            );
            let (got, got_kind, got_iv) = cipher::decrypt(&key, enc, aad.as_bytes()).unwrap();
            assert_eq!(&*got, plain.as_bytes());
            assert_eq!(got_kind, kind);
            assert_eq!(got_iv, iv);
            // The same ciphertext under another path must not open (AAD binds the key path).
            assert_eq!(
                cipher::decrypt(&key, enc, b"some:other:path:").err(),
                Some(cipher::CipherError::Auth)
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} values checked");
}

#[test]
#[ignore = "needs ../shared: scripts/test sets it up and runs this"]
fn mac_inputs_hash_to_the_stored_mac() {
    // The vectors agree with themselves: the listed inputs hash to the MAC sops stored.
    for kat in kat_files() {
        let mut h = Sha512::new();
        if kat["mac_only_encrypted"].as_bool().unwrap() {
            h.update(Sha256Sops::digest());
        }
        for input in kat["mac_inputs_utf8"].as_array().unwrap() {
            h.update(input.as_str().unwrap().as_bytes());
        }
        let hex: String = h.finalize().iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(
            hex,
            kat["mac_plaintext"].as_str().unwrap(),
            "{}",
            kat["source_file"]
        );
    }
}

#[test]
#[ignore = "needs ../shared: scripts/test sets it up and runs this"]
fn our_tree_walk_computes_the_stored_mac_of_every_yaml_vector() {
    // The library's own walk (the one decrypt and encrypt use) over each YAML file sops
    // wrote must produce the known MAC.
    let root = common::shared("sops-vectors");
    let mut checked = 0;
    for kat in kat_files() {
        let name = kat["source_file"].as_str().unwrap();
        // Shamir files are refused by design (a clear "not supported" error, tests/store.rs).
        if !name.ends_with(".yaml") || kat["shamir_threshold"].as_u64().unwrap_or(0) > 1 {
            continue;
        }
        let path = ["generated", "upstream", "."]
            .iter()
            .map(|d| root.join(d).join(name))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{name} not found under {}", root.display()));
        let mut file = sls_secrets::sops::parse(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let key = DataKey::from_bytes(&common::hex(kat["data_key_hex"].as_str().unwrap())).unwrap();
        let mut stash = Default::default();
        let mac = sls_secrets::sops::tree::walk(
            &mut file.docs,
            &key,
            &file.meta.rule,
            file.meta.mac_only_encrypted,
            sls_secrets::sops::tree::Mode::Decrypt { stash: &mut stash },
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(mac, kat["mac_plaintext"].as_str().unwrap(), "{name}");
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} YAML vectors checked");
}

struct Sha256Sops;
impl Sha256Sops {
    fn digest() -> [u8; 32] {
        sha2::Sha256::digest(b"sops").into()
    }
}

#[test]
#[ignore = "needs ../shared: scripts/test sets it up and runs this"]
fn every_age_stanza_unwraps_to_the_data_key() {
    let keys = common::shared("sops-vectors/age-test-keys.txt");
    let humphd = common::shared("sops-vectors/age-types-humphd-key.txt");
    let mut ids = parse_identities(&std::fs::read_to_string(keys).unwrap(), "test").unwrap();
    ids.extend(parse_identities(&std::fs::read_to_string(humphd).unwrap(), "test").unwrap());
    let ids = AgeIdentities::from_identities(ids, "test keys");
    let mut unwrapped = 0;
    for kat in kat_files() {
        let want = common::hex(kat["data_key_hex"].as_str().unwrap());
        let Some(stanzas) = kat["age_stanzas"].as_array() else {
            continue;
        };
        for s in stanzas {
            let entry = AgeEntry {
                recipient: s["recipient"].as_str().unwrap().to_owned(),
                enc: s["enc"].as_str().unwrap().to_owned(),
            };
            // humphd's file has recipients whose keys we don't have; ours must open.
            if let Some(key) = entry.unwrap(&ids).transpose().unwrap() {
                assert_eq!(
                    key.expose().as_slice(),
                    want.as_slice(),
                    "{}",
                    kat["source_file"]
                );
                unwrapped += 1;
            }
        }
    }
    assert!(unwrapped >= 10, "only {unwrapped} stanzas unwrapped");
}

/// Blocks of ../shared/sops-vectors/age-keysource-test-vectors.txt (sops' age unit-test data).
fn keysource_vectors() -> std::collections::HashMap<String, String> {
    let path = common::shared("sops-vectors").join("age-keysource-test-vectors.txt");
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = std::collections::HashMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line.strip_prefix("=== ") else {
            continue;
        };
        let end = format!("=== end {name}");
        let body: Vec<&str> = lines.by_ref().take_while(|l| *l != end).collect();
        out.insert(name.to_string(), body.join("\n"));
    }
    out
}

#[test]
#[ignore = "needs ../shared: scripts/test sets it up and runs this"]
fn sops_age_keysource_vectors() {
    let v = keysource_vectors();
    let ids = parse_identities(&v["mockIdentity"], "mockIdentity").expect("X25519 identity");
    let ours = AgeIdentities::from_identities(ids.clone(), "mockIdentity");
    assert_eq!(ours.recipients(), vec![v["mockRecipient"].clone()]);
    let other = parse_identities(&v["mockOtherIdentity"], "other").expect("X25519 identity");
    assert_ne!(
        AgeIdentities::from_identities(other, "other").recipients(),
        vec![v["mockRecipient"].clone()]
    );
    // The armored file opens with the identity and holds the 4 bytes "data"...
    let mut plain = Vec::new();
    let d = age::Decryptor::new_buffered(age::armor::ArmoredReader::new(
        v["mockEncryptedKey"].as_bytes(),
    ))
    .unwrap();
    std::io::Read::read_to_end(
        &mut d
            .decrypt(ids.iter().map(|i| i as &dyn age::Identity))
            .unwrap(),
        &mut plain,
    )
    .unwrap();
    assert_eq!(plain, v["mockEncryptedKeyPlain"].as_bytes());
    // ...which is not a 32-byte data key: our unwrap says no rather than guessing.
    let entry = AgeEntry {
        recipient: v["mockRecipient"].clone(),
        enc: v["mockEncryptedKey"].clone(),
    };
    assert!(entry.unwrap(&ours).is_none());
    // Post-quantum hybrid and SSH identities are not supported: a clear error naming the
    // line, never the key.
    for name in ["mockHybridIdentity", "mockSshIdentity"] {
        let e = parse_identities(&v[name], name)
            .err()
            .expect(name)
            .to_string();
        assert!(e.contains(name) && e.contains("line 1"), "{e}");
        let key_text = v[name].lines().find(|l| l.len() > 40).unwrap();
        assert!(!e.contains(&key_text[..40]), "{e}");
    }
}
