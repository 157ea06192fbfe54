//! Shared test helpers: locating `../shared`, hex, and running the built binary.
#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared/<rel>` next to the repository. Missing in CI is a failure, never a skip.
pub fn shared(rel: &str) -> Option<PathBuf> {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared")).join(rel);
    if p.exists() {
        return Some(p);
    }
    if std::env::var_os("CI").is_some() {
        panic!("{} is missing; CI must have ../shared", p.display());
    }
    eprintln!(
        "skipping: {} not found (set up ../shared to run this test)",
        p.display()
    );
    None
}

pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}
