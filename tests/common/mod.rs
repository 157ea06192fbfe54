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

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The first test age identity of ../shared/sops-vectors (sops' own test key).
pub const TEST_KEY_1: &str =
    "AGE-SECRET-KEY-1NJT5YCS2LWU4V4QAJQ6R4JNU7LXPDX602DZ9NUFANVU5GDTGUWCQ5T59M6";
pub const TEST_RECIPIENT_1: &str = "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw";

/// A throwaway repository: a temp folder with `.git`, an isolated HOME, and an age key.
pub struct Repo {
    pub dir: tempfile::TempDir,
    pub key_file: PathBuf,
}

impl Repo {
    pub fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".git")).unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        let key_file = dir.path().join("home/key.txt");
        std::fs::write(&key_file, format!("{TEST_KEY_1}\n")).unwrap();
        Repo { dir, key_file }
    }

    /// A repo with `.sops.yaml` for the test recipient and an empty `secrets/`.
    pub fn with_config() -> Repo {
        let r = Repo::new();
        r.write(
            ".sops.yaml",
            &format!(
                "creation_rules:\n  - path_regex: secrets/.*\\.yml$\n    age: {TEST_RECIPIENT_1}\n"
            ),
        );
        std::fs::create_dir(r.path().join("secrets")).unwrap();
        r
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap()
    }

    /// The binary with a clean, isolated environment, run in `rel` (relative to the repo).
    pub fn cmd(&self, rel: &str) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sls-secrets"));
        c.current_dir(self.path().join(rel))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path().join("home"))
            .env("SOPS_AGE_KEY_FILE", &self.key_file)
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(".").args(args).output().unwrap()
    }

    /// Runs with `stdin` piped in.
    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .cmd(".")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The command may exit before reading stdin (e.g. a rejected name).
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        child.wait_with_output().unwrap()
    }

    pub fn set(&self, stage: &str, key: &str, value: &str) {
        let out = self.run_stdin(&["set", "--stage", stage, key], value);
        assert_ok(&out);
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
pub fn assert_ok(o: &Output) {
    assert!(
        o.status.success(),
        "failed: {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

#[track_caller]
pub fn assert_error(o: &Output) {
    assert_eq!(
        o.status.code(),
        Some(2),
        "expected exit 2\nstdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
    assert!(
        stderr(o).contains("error: "),
        "no error line: {}",
        stderr(o)
    );
}

/// The real sops binary (installed into .venv by scripts/test). Required in CI.
pub fn sops() -> Option<PathBuf> {
    let from_env = std::env::var_os("SLS_SECRETS_TEST_SOPS").map(PathBuf::from);
    let local = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/sops"));
    match from_env
        .filter(|p| p.exists())
        .or(Some(local).filter(|p| p.exists()))
    {
        Some(p) => Some(p),
        None if std::env::var_os("CI").is_some() => {
            panic!("the sops binary is missing; run scripts/test")
        }
        None => {
            eprintln!("skipping: sops binary not installed (run scripts/test)");
            None
        }
    }
}

/// Runs sops with the repo's key and no update check.
pub fn run_sops(sops: &Path, repo: &Repo, args: &[&str]) -> Output {
    Command::new(sops)
        .args(args)
        .current_dir(repo.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", repo.path().join("home"))
        .env("SOPS_AGE_KEY_FILE", &repo.key_file)
        .output()
        .unwrap()
}
