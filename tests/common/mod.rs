//! Shared test helpers: locating `../shared`, hex, and running the built binary.
#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared/<rel>` next to the repository. A test that needs it is `#[ignore]`d with its
/// reason for a plain `cargo test`; `scripts/test` runs it, and a missing file fails it.
pub fn shared(rel: &str) -> PathBuf {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared")).join(rel);
    assert!(
        p.exists(),
        "{} is missing: this test needs ../shared next to the repository",
        p.display()
    );
    p
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
/// A second age identity (a teammate), not in ../shared.
pub const SECOND_KEY: &str =
    "AGE-SECRET-KEY-1GQ9778VQXMMJVE8SK7J6VT8UJ4HDQAJUVSFCWCM02D8GEWQ72PVQ2Y5J33";

/// The public recipient of [`SECOND_KEY`].
pub fn second_recipient() -> String {
    SECOND_KEY
        .parse::<age::x25519::Identity>()
        .unwrap()
        .to_public()
        .to_string()
}

/// stdout then stderr, for asserting what a run printed anywhere.
pub fn both(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

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
        output_with_stdin(self.cmd(".").args(args), stdin)
    }

    pub fn set(&self, stage: &str, key: &str, value: &str) {
        let out = self.run_stdin(&["set", "--stage", stage, key], value);
        assert_ok(&out);
    }
}

/// Runs `c` with `stdin` piped in; its output.
pub fn output_with_stdin(c: &mut Command, stdin: &str) -> Output {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The command may exit before reading stdin (e.g. a rejected name).
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
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

/// A test tool installed by scripts/test: `$env_var`, else `rel` in the repo. A test that
/// needs one is `#[ignore]`d with its reason for a plain `cargo test`; `scripts/test` installs
/// the tools and runs it, and a missing tool fails it (never a silent pass).
pub fn tool(env_var: &str, rel: &str, what: &str) -> PathBuf {
    let from_env = std::env::var_os(env_var).map(PathBuf::from);
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel);
    from_env
        .filter(|p| p.exists())
        .or(Some(local).filter(|p| p.exists()))
        .unwrap_or_else(|| {
            panic!("{what} is missing: run this test with scripts/test, which installs it")
        })
}

/// The real sops binary (installed into .venv by scripts/test).
pub fn sops() -> PathBuf {
    tool("SLS_SECRETS_TEST_SOPS", ".venv/bin/sops", "the sops binary")
}

/// Runs sops with the repo's key, the AWS test variables (moto) and no update check.
pub fn run_sops(sops: &Path, repo: &Repo, args: &[&str]) -> Output {
    let mut c = Command::new(sops);
    c.args(args)
        .current_dir(repo.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", repo.path().join("home"))
        .env("SOPS_AGE_KEY_FILE", &repo.key_file);
    pass_aws_env(&mut c).output().unwrap()
}

/// `plain` (YAML) encrypted by the real sops as if it were `path` in the repository (its
/// store and `.sops.yaml` rule), with `flags` (`--age R` wins over the rule, as anyone's sops
/// allows). Returns the encrypted text.
pub fn sops_encrypt_as(repo: &Repo, path: &str, plain: &str, flags: &[&str]) -> String {
    let sops = sops();
    repo.write("home/plain.yml", plain);
    let mut args = vec!["encrypt", "--filename-override", path];
    args.extend_from_slice(flags);
    args.push("home/plain.yml");
    let o = run_sops(&sops, repo, &args);
    assert_ok(&o);
    stdout(&o)
}

/// The local AWS KMS (moto server) that scripts/test starts, and the two keys it created.
/// Tests that need it are `#[ignore]`d for a plain `cargo test`.
pub struct Moto {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// The key stage files are wrapped for.
    pub arn: String,
    /// Another key: the wrong one.
    pub arn2: String,
}

pub fn moto() -> Moto {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (
        var("SLS_SECRETS_TEST_MOTO_URL"),
        var("SLS_SECRETS_TEST_KMS_ARN"),
        var("SLS_SECRETS_TEST_KMS_ARN2"),
    ) {
        (Some(url), Some(arn), Some(arn2)) => Moto { url, arn, arn2 },
        _ => panic!(
            "no moto server (SLS_SECRETS_TEST_MOTO_URL/_KMS_ARN unset): run this test with scripts/test, which starts one"
        ),
    }
}

/// The AWS variables a child process needs to reach moto (and nothing from the real machine).
pub const AWS_VARS: &[&str] = &[
    "AWS_ENDPOINT_URL_KMS",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_EC2_METADATA_DISABLED",
];

/// Copies the AWS test variables (set by scripts/test) into a child's environment.
pub fn pass_aws_env(c: &mut Command) -> &mut Command {
    for k in AWS_VARS {
        if let Some(v) = std::env::var_os(k) {
            c.env(k, v);
        }
    }
    c
}

impl Moto {
    /// One HTTP/1.1 request to moto's own API (`/moto-api/...`); returns the body.
    pub fn api(&self, method: &str, path: &str) -> String {
        http(&self.url, method, path)
    }

    /// Starts a fresh recording of every request moto receives.
    pub fn start_recording(&self) {
        self.api("POST", "/moto-api/recorder/reset-recording");
        self.api("POST", "/moto-api/recorder/start-recording");
    }

    /// Stops recording; returns what each recorded request whose body contains `marker` was:
    /// its `X-Amz-Target` (`TrentService.Decrypt`, JSON protocol) or `Action=...` (STS, query
    /// protocol). The recorder is process-global: a unique context value keeps tests apart.
    pub fn stop_recording(&self, marker: &str) -> Vec<String> {
        use base64::Engine;
        self.api("POST", "/moto-api/recorder/stop-recording");
        let body = self.api("GET", "/moto-api/recorder/download-recording");
        body.lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|e| {
                let raw = e["body"].as_str().unwrap_or_default();
                let text = if e["body_encoded"].as_bool() == Some(true) {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(raw)
                        .unwrap_or_default();
                    String::from_utf8_lossy(&bytes).into_owned()
                } else {
                    raw.to_owned()
                };
                if !text.contains(marker) {
                    return None;
                }
                match e["headers"]["X-Amz-Target"].as_str() {
                    Some(t) => Some(t.to_owned()),
                    None => text
                        .split('&')
                        .find(|p| p.starts_with("Action="))
                        .map(str::to_owned),
                }
            })
            .collect()
    }
}

/// Counts how often `target` (e.g. `TrentService.Decrypt`) occurs.
pub fn count(targets: &[String], target: &str) -> usize {
    targets.iter().filter(|t| *t == target).count()
}

/// A minimal HTTP/1.1 client (Connection: close) for moto's API; no extra dependency.
pub fn http(base: &str, method: &str, path: &str) -> String {
    use std::io::Read;
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(host).expect("connect to moto");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read moto response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    assert!(
        head.starts_with("HTTP/1.1 2") || head.starts_with("HTTP/1.0 2"),
        "{method} {path}: {head}"
    );
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A unique marker for one test's requests (used as an encryption-context value).
pub fn marker(name: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{name}-{}-{n}", std::process::id())
}

/// A real git repository with `.sops.yaml` for the test recipient and `secrets/`.
pub fn git_repo() -> Repo {
    let r = Repo::with_config();
    std::fs::remove_dir(r.path().join(".git")).unwrap();
    git_ok(&r, &["init", "-q", "-b", "main"]);
    r.write(".gitignore", "home/\n");
    r
}

pub fn git(r: &Repo, args: &[&str]) -> Output {
    git_cmd(r).args(args).output().unwrap()
}

/// git in the repository with an isolated environment (no system or user config).
pub fn git_cmd(r: &Repo) -> Command {
    let mut c = Command::new("git");
    c.current_dir(r.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", r.path().join("home"))
        .env("SOPS_AGE_KEY_FILE", &r.key_file)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_PAGER", "cat");
    c
}

#[track_caller]
pub fn git_ok(r: &Repo, args: &[&str]) -> String {
    let o = git(r, args);
    assert_ok(&o);
    stdout(&o)
}

pub fn commit_all(r: &Repo, msg: &str) {
    git_ok(r, &["add", "-A"]);
    git_ok(r, &["commit", "-q", "-m", msg]);
}

/// Each Lambda function's logical id and environment in a packaged CloudFormation template
/// (`.serverless/cloudformation-template-update-stack.json`).
pub fn lambda_environments(
    template: &str,
) -> Vec<(String, serde_json::Map<String, serde_json::Value>)> {
    let tpl: serde_json::Value = serde_json::from_str(template).unwrap();
    let mut out = Vec::new();
    for (name, res) in tpl["Resources"].as_object().unwrap() {
        if res["Type"] == "AWS::Lambda::Function" {
            let vars = res["Properties"]["Environment"]["Variables"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            out.push((name.clone(), vars));
        }
    }
    out
}
