//! The sops file reader on any input, opened with a fixed data key: never panics, and never
//! returns plaintext unless the file's MAC is valid. The MAC is checked independently: the
//! returned plaintext is re-encrypted (the encrypt-side walk recomputes the MAC from the
//! plaintext) and that MAC must equal the one stored in the input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sls_secrets::sops::{DataKey, cipher, parse};
use sls_secrets::timefmt::canonical_rfc3339;

/// The key the seed corpus is encrypted with (fuzz/src/bin/make_seeds.rs).
pub const KEY: [u8; 32] = [7; 32];

fn stored_mac(key: &DataKey, mac: &str, lastmodified: &str) -> Vec<u8> {
    let aad = canonical_rfc3339(lastmodified).expect("decrypt accepted the timestamp");
    let (m, _, _) = cipher::decrypt(key, mac, aad.as_bytes()).expect("decrypt opened the MAC");
    m.to_vec()
}

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = parse(src) else {
        return;
    };
    let key = DataKey::from_bytes(&KEY).expect("32 bytes");
    let (mac, lastmodified) = (file.meta.mac.clone(), file.meta.lastmodified.clone());
    let Ok(mut plain) = file.decrypt(key) else {
        return;
    };
    // Plaintext came back: the stored MAC must be the MAC of exactly this plaintext.
    let key = DataKey::from_bytes(&KEY).expect("32 bytes");
    let stored = stored_mac(&key, &mac, &lastmodified);
    let text = plain
        .encrypt(&lastmodified)
        .expect("a decrypted file encrypts");
    let recomputed = stored_mac(&key, &plain.meta.mac, &lastmodified);
    assert_eq!(stored, recomputed, "plaintext returned without a valid MAC");
    // And the re-encrypted file opens to the same plaintext.
    let back = parse(&text)
        .expect("our output parses")
        .decrypt(key)
        .expect("our output decrypts");
    assert!(
        back.docs == plain.docs,
        "re-encryption changed the plaintext"
    );
});
