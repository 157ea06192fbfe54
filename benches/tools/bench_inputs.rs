//! Writes the benchmark inputs to a folder (default `target/bench-inputs/`):
//!
//! - `age-key.txt`: the committed test-only age identity;
//! - `typical/serverless.yml` (~200 lines) + `typical/secrets/bench.yml` (20 secrets);
//! - `large/serverless.yml` (2,000 functions, ~42k lines) + `large/secrets/bench.yml` (200);
//! - `secrets-2000.yml`: a sops file with 2,000 entries.
//!
//! Run: `cargo run --release --example bench_inputs [-- DIR]` (scripts/bench does).

#[path = "../support/inputs.rs"]
mod inputs;

use std::fs;
use std::path::{Path, PathBuf};

fn write(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    }
    fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    eprintln!(
        "{:>9} bytes {:>6} lines  {}",
        text.len(),
        text.lines().count(),
        path.display()
    );
}

fn main() {
    let out = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("target/bench-inputs"), PathBuf::from);
    write(
        &out.join("age-key.txt"),
        &format!(
            "# public key: {}\n{}\n",
            inputs::AGE_RECIPIENT,
            inputs::AGE_KEY
        ),
    );
    write(&out.join("typical/serverless.yml"), &inputs::typical());
    write(
        &out.join("typical/secrets/bench.yml"),
        &inputs::encrypted(&inputs::secrets(20, 32)),
    );
    write(&out.join("large/serverless.yml"), &inputs::large(2000, 200));
    write(
        &out.join("large/secrets/bench.yml"),
        &inputs::encrypted(&inputs::secrets(200, 8)),
    );
    write(
        &out.join("secrets-2000.yml"),
        &inputs::encrypted(&inputs::secrets(2000, 32)),
    );
}
