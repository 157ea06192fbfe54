//! AWS KMS key source against a real KMS-compatible server (moto, started by scripts/test):
//! round trips, context and key mismatches, call counts (moto's request recorder), sops
//! interop, and bounded failures (no credentials, no region, an endpoint that never answers).
//!
//! Two layers: library tests call `sls_secrets::keys` directly (need only moto); CLI tests run
//! the built binary on stage files.

mod common;

use std::net::TcpListener;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{Moto, Repo, assert_error, assert_ok, count, marker, pass_aws_env, stderr, stdout};
use sls_secrets::keys::{self, AgeIdentities, KmsError};
use sls_secrets::sops::metadata::KeyEntry;
use sls_secrets::sops::{AgeEntry, DataKey, KmsEntry, Metadata};

const DECRYPT: &str = "TrentService.Decrypt";
const ENCRYPT: &str = "TrentService.Encrypt";

/// moto's recorder is one per server: tests that record take turns.
static RECORDER: Mutex<()> = Mutex::new(());

fn recorder() -> std::sync::MutexGuard<'static, ()> {
    RECORDER.lock().unwrap_or_else(|p| p.into_inner())
}

/// A KMS key not wrapped yet, as a creation rule names it.
fn spec(arn: &str, ctx: &[(&str, &str)]) -> KmsEntry {
    KmsEntry {
        arn: arn.to_owned(),
        context: ctx
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..KmsEntry::default()
    }
}

fn age_ids() -> AgeIdentities {
    let ids = keys::age::parse_identities(common::TEST_KEY_1, "test").unwrap();
    AgeIdentities::from_identities(ids, "test key")
}

fn no_age_ids() -> AgeIdentities {
    AgeIdentities::from_identities(Vec::new(), "nowhere (test)")
}

// ---------------------------------------------------------------- library level

#[test]
#[ignore = "needs a moto server (local AWS KMS): scripts/test sets it up and runs this"]
fn wrap_unwrap_round_trip() {
    let m = common::moto();
    let key = DataKey::generate().unwrap();
    let mk = marker("roundtrip");
    let entry = keys::kms::wrap(&key, &spec(&m.arn, &[("stage", "prod"), ("run", &mk)])).unwrap();
    assert_eq!(entry.arn, m.arn);
    assert_eq!(entry.aws_profile, "");
    assert_eq!(entry.role, "");
    assert_eq!(entry.context.len(), 2);
    // RFC 3339 UTC, seconds, Z (as sops writes it).
    assert_eq!(entry.created_at.len(), 20, "{}", entry.created_at);
    assert!(entry.created_at.ends_with('Z') && entry.created_at.as_bytes()[10] == b'T');
    assert!(
        !entry.enc.contains(&hexs(key.expose())),
        "enc must not hold the key"
    );
    let back = keys::kms::unwrap(&entry).unwrap();
    assert_eq!(back.expose(), key.expose());
}

fn hexs(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
#[ignore = "needs a moto server (local AWS KMS): scripts/test sets it up and runs this"]
fn context_mismatch_fails() {
    let m = common::moto();
    let key = DataKey::generate().unwrap();
    let mk = marker("ctx");
    let mut entry =
        keys::kms::wrap(&key, &spec(&m.arn, &[("stage", "prod"), ("run", &mk)])).unwrap();
    entry.context[0].1 = "dev".into();
    let e = keys::kms::unwrap(&entry).err().expect("must fail");
    assert!(matches!(e, KmsError::InvalidCiphertext { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains(&m.arn) && msg.contains("encryption context"),
        "{msg}"
    );
    // A missing context fails too.
    entry.context.clear();
    assert!(keys::kms::unwrap(&entry).is_err());
}

#[test]
#[ignore = "needs a moto server (local AWS KMS): scripts/test sets it up and runs this"]
fn wrong_key_fails_clearly() {
    let m = common::moto();
    let key = DataKey::generate().unwrap();
    let mut entry = keys::kms::wrap(&key, &spec(&m.arn, &[("run", &marker("wrong"))])).unwrap();
    entry.arn = m.arn2.clone();
    let e = keys::kms::unwrap(&entry).err().expect("must fail");
    let msg = e.to_string();
    assert!(msg.contains(&m.arn2), "names the key: {msg}");
    assert!(e.hint().is_some(), "has a hint: {e:?}");
    // moto answers AccessDenied for a KeyId that is not the ciphertext's key; real KMS says
    // IncorrectKeyException. Both are clear.
    assert!(
        matches!(
            e,
            KmsError::AccessDenied { .. } | KmsError::InvalidCiphertext { .. }
        ),
        "{e:?}"
    );
    if let KmsError::AccessDenied { identity, .. } = &e {
        assert!(identity.contains("access key"), "{identity}");
        assert!(
            !identity.contains("test"),
            "access key ID is masked: {identity}"
        );
    }
}

#[test]
#[ignore = "needs a moto server (local AWS KMS): scripts/test sets it up and runs this"]
fn tampered_enc_and_bad_base64_fail() {
    let m = common::moto();
    let key = DataKey::generate().unwrap();
    let mut entry = keys::kms::wrap(&key, &spec(&m.arn, &[("run", &marker("tamper"))])).unwrap();
    let mut bad = entry.clone();
    bad.enc = "not base64!".into();
    assert!(matches!(
        keys::kms::unwrap(&bad),
        Err(KmsError::BadEnc { .. })
    ));
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut blob = b64.decode(&entry.enc).unwrap();
    let last = blob.len() - 1;
    blob[last] ^= 1;
    entry.enc = b64.encode(blob);
    assert!(keys::kms::unwrap(&entry).is_err());
}

/// age is tried first: with the age key no KMS call is made; without it exactly one Decrypt,
/// and a second open of the same file in the same run makes none. The keys are wrapped the
/// way a creation rule's are, through the key-source interface, KMS listed first.
#[test]
#[ignore = "needs a moto server (local AWS KMS): scripts/test sets it up and runs this"]
fn age_first_then_exactly_one_decrypt() {
    let m = common::moto();
    let _turn = recorder();
    let key = DataKey::generate().unwrap();
    let mk = marker("order");
    let rule_keys = [
        KeyEntry::Kms(spec(&m.arn, &[("run", &mk)])),
        KeyEntry::Age(AgeEntry {
            recipient: common::TEST_RECIPIENT_1.to_owned(),
            ..AgeEntry::default()
        }),
    ];
    m.start_recording();
    let wrapped = keys::wrap_all(&key, &rule_keys).unwrap();
    assert_eq!(count(&m.stop_recording(&mk), ENCRYPT), 1);
    assert!(wrapped.iter().all(|entry| !entry.enc().is_empty()));
    let meta = Metadata::with_keys(wrapped);

    m.start_recording();
    let k = keys::unwrap_data_key(&meta, &age_ids()).unwrap();
    assert_eq!(k.expose(), key.expose());
    let calls = m.stop_recording(&mk);
    assert_eq!(
        count(&calls, DECRYPT),
        0,
        "age key present: no KMS call ({calls:?})"
    );

    m.start_recording();
    for _ in 0..3 {
        let k = keys::unwrap_data_key(&meta, &no_age_ids()).unwrap();
        assert_eq!(k.expose(), key.expose());
    }
    let calls = m.stop_recording(&mk);
    assert_eq!(
        count(&calls, DECRYPT),
        1,
        "one Decrypt per file per run ({calls:?})"
    );
}

/// A file with two KMS keys where the first is wrong: the second opens it, and the error
/// for the case where none works lists each key with its reason.
#[test]
#[ignore = "needs a moto server (local AWS KMS): scripts/test sets it up and runs this"]
fn no_key_lists_kms_attempts() {
    let m = common::moto();
    let key = DataKey::generate().unwrap();
    let mk = marker("nokey");
    let good = keys::kms::wrap(&key, &spec(&m.arn, &[("run", &mk)])).unwrap();
    let mut wrong_ctx = good.clone();
    wrong_ctx.context = vec![("run".into(), "other".into())];
    let meta = Metadata::new(Vec::new(), vec![wrong_ctx.clone(), good]);
    let k = keys::unwrap_data_key(&meta, &no_age_ids()).unwrap();
    assert_eq!(k.expose(), key.expose());

    let meta = Metadata::with_keys(vec![KeyEntry::Kms(wrong_ctx)]);
    let e = keys::unwrap_data_key(&meta, &no_age_ids())
        .err()
        .expect("must fail");
    assert!(e.has_kms() && e.file_recipients.is_empty());
    assert_eq!(e.attempts.len(), 1);
    assert_eq!(e.attempts[0].id, m.arn);
    let d = e.details();
    assert!(d.contains("AWS KMS keys tried:"), "{d}");
    assert!(d.contains(&format!("  - KMS key {} can't", m.arn)), "{d}");
    assert!(d.contains("encryption context"), "{d}");
}

/// `role`: STS AssumeRole first (moto implements STS at the same endpoint).
#[test]
#[ignore = "needs a moto server (local AWS KMS): scripts/test sets it up and runs this"]
fn role_is_assumed_first() {
    let m = common::moto();
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL_STS").is_some(),
        "AWS_ENDPOINT_URL_STS not set: scripts/test points STS at moto next to KMS"
    );
    let _turn = recorder();
    let key = DataKey::generate().unwrap();
    let mk = marker("role");
    let mut s = spec(&m.arn, &[("run", &mk)]);
    s.role = "arn:aws:iam::123456789012:role/sls-secrets-test".into();
    m.start_recording();
    let entry = keys::kms::wrap(&key, &s).unwrap();
    let back = keys::kms::unwrap(&entry).unwrap();
    // The session name is sops@<hostname>, so AssumeRole requests carry `sops%40`.
    let calls = m.stop_recording("");
    assert_eq!(entry.role, s.role);
    assert_eq!(back.expose(), key.expose());
    let assume = calls.iter().position(|c| c == "Action=AssumeRole");
    let encrypt = calls.iter().position(|c| c == ENCRYPT);
    assert!(
        matches!((assume, encrypt), (Some(a), Some(e)) if a < e),
        "AssumeRole before Encrypt: {calls:?}"
    );
    // Credentials are resolved once per (region, profile, role) per run.
    assert_eq!(
        calls.iter().filter(|c| *c == "Action=AssumeRole").count(),
        1,
        "{calls:?}"
    );
}

// ------------------------------------------------- child processes (environment varies)

/// Runs `child_probe` in a fresh copy of this test binary with exactly `env`, and returns
/// (its output, elapsed). The child wraps or unwraps one key and prints the outcome.
fn probe(env: &[(&str, &str)], what: &str) -> (String, Duration) {
    let exe = std::env::current_exe().unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut c = Command::new(exe);
    c.args(["--exact", "child_probe", "--nocapture", "--test-threads=1"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("SLS_SECRETS_TEST_CHILD", what);
    for (k, v) in env {
        c.env(k, v);
    }
    let t = Instant::now();
    let out = c.output().unwrap();
    let elapsed = t.elapsed();
    (format!("{}{}", stdout(&out), stderr(&out)), elapsed)
}

/// Not a test on its own: the body of `probe` children.
#[test]
fn child_probe() {
    let Ok(what) = std::env::var("SLS_SECRETS_TEST_CHILD") else {
        return;
    };
    let arn = std::env::var("PROBE_ARN").unwrap();
    let key = DataKey::generate().unwrap();
    let result = match what.as_str() {
        "wrap" => keys::kms::wrap(&key, &spec(&arn, &[])).map(|e| e.enc),
        _ => keys::kms::unwrap(&KmsEntry {
            arn: arn.clone(),
            role: String::new(),
            context: vec![("stage".into(), "prod".into())],
            created_at: "2026-01-01T00:00:00Z".into(),
            enc: "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=".into(),
            aws_profile: std::env::var("PROBE_PROFILE").unwrap_or_default(),
        })
        .map(|_| "unwrapped".to_owned()),
    };
    match result {
        Ok(s) => println!("PROBE-OK {}", s.len()),
        Err(e) => println!("PROBE-ERR {e}\nPROBE-HINT {}", e.hint().unwrap_or_default()),
    }
}

/// A loopback port that accepts connections and never answers. The thread stops by itself.
fn silent_listener(hold: Duration) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    l.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let end = Instant::now() + hold;
        let mut held = Vec::new();
        while Instant::now() < end {
            match l.accept() {
                Ok((s, _)) => held.push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    format!("http://{addr}")
}

#[test]
fn silent_endpoint_fails_within_bound() {
    let url = silent_listener(Duration::from_secs(40));
    let arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000";
    let (out, elapsed) = probe(
        &[
            ("PROBE_ARN", arn),
            ("AWS_ENDPOINT_URL_KMS", &url),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
        "unwrap",
    );
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}: {out}");
    assert!(out.contains("PROBE-ERR no answer from KMS at"), "{out}");
    assert!(out.contains(&url) && out.contains(arn), "{out}");
    eprintln!("silent endpoint: failed in {elapsed:?}");
}

#[test]
fn no_credentials_is_one_clear_message() {
    let arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000";
    let (out, elapsed) = probe(
        &[
            ("PROBE_ARN", arn),
            ("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:9"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
        "unwrap",
    );
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}: {out}");
    assert!(
        out.contains(&format!("PROBE-ERR no AWS credentials for KMS key {arn}")),
        "{out}"
    );
    // The chain that was tried, without the SDK's Debug dump.
    assert!(out.contains("Environment"), "{out}");
    assert!(
        !out.contains("CredentialsError {") && !out.contains("source: Some"),
        "{out}"
    );
    assert!(out.contains("PROBE-HINT set AWS_ACCESS_KEY_ID"), "{out}");
}

/// The SDK panics on an empty endpoint override: it is a clear error before any call.
#[test]
fn an_empty_endpoint_variable_is_an_error_not_a_panic() {
    let arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000";
    for var in ["AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL"] {
        let (out, _) = probe(
            &[
                ("PROBE_ARN", arn),
                (var, ""),
                ("AWS_ACCESS_KEY_ID", "test"),
                ("AWS_SECRET_ACCESS_KEY", "test"),
            ],
            "unwrap",
        );
        assert!(
            out.contains(&format!("PROBE-ERR {var} is set but empty")),
            "{out}"
        );
        assert!(out.contains("PROBE-HINT unset it"), "{out}");
        assert!(!out.contains("panicked"), "{out}");
    }
}

#[test]
fn missing_profile_is_named() {
    let arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000";
    let (out, _) = probe(
        &[
            ("PROBE_ARN", arn),
            ("PROBE_PROFILE", "nosuchprofile"),
            ("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:9"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
        "unwrap",
    );
    assert!(out.contains("(aws_profile nosuchprofile)"), "{out}");
    assert!(
        out.contains("check that the profile named in the file exists"),
        "{out}"
    );
}

#[test]
fn no_region_names_how_to_set_it() {
    // Not a full ARN: no region in it, and none in the environment.
    let arn = "arn:aws:kms:::key/00000000-0000-0000-0000-000000000000";
    let (out, elapsed) = probe(
        &[
            ("PROBE_ARN", arn),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
        "unwrap",
    );
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}: {out}");
    assert!(out.contains("PROBE-ERR no AWS region for KMS key"), "{out}");
    assert!(out.contains("AWS_REGION"), "{out}");
}

#[test]
fn refused_endpoint_fails_fast() {
    // Port 9 (discard) on loopback: nothing listens, connect is refused.
    let arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000";
    let (out, elapsed) = probe(
        &[
            ("PROBE_ARN", arn),
            ("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:9"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
        "unwrap",
    );
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}: {out}");
    assert!(
        out.contains("PROBE-ERR can't reach KMS at http://127.0.0.1:9"),
        "{out}"
    );
}

/// The global `AWS_ENDPOINT_URL` is honoured too.
#[test]
#[ignore = "needs a moto server (local AWS KMS): scripts/test sets it up and runs this"]
fn global_endpoint_url_is_honoured() {
    let m = common::moto();
    let (out, _) = probe(
        &[
            ("PROBE_ARN", &m.arn),
            ("AWS_ENDPOINT_URL", &m.url),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
        "wrap",
    );
    assert!(out.contains("PROBE-OK"), "{out}");
}

// ------------------------------------------------------------------------ CLI level

/// The binary with the repo's isolated environment plus the moto variables.
fn cmd(r: &Repo) -> Command {
    let mut c = r.cmd(".");
    pass_aws_env(&mut c);
    c
}

/// Same, but without the age key: only KMS can open files.
fn cmd_no_age(r: &Repo) -> Command {
    let mut c = cmd(r);
    c.env_remove("SOPS_AGE_KEY_FILE");
    c
}

fn set(r: &Repo, stage: &str, key: &str, value: &str) {
    use std::io::Write;
    let mut child = cmd(r)
        .args(["set", "--stage", stage, key])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(value.as_bytes())
        .unwrap();
    assert_ok(&child.wait_with_output().unwrap());
}

fn repo_with_rule(rule: &str) -> Repo {
    let r = Repo::new();
    r.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - path_regex: secrets/.*\\.yml$\n{rule}"),
    );
    std::fs::create_dir(r.path().join("secrets")).unwrap();
    r
}

#[test]
#[ignore = "needs a moto server (local AWS KMS): scripts/test sets it up and runs this"]
fn cli_kms_only_file_round_trip() {
    let m = common::moto();
    let r = repo_with_rule(&format!("    kms: {}\n", m.arn));
    set(&r, "prod", "DB_PASSWORD", "hunter2");
    set(&r, "prod", "API_KEY", "k-123");
    let text = r.read("secrets/prod.yml");
    assert!(text.contains(&format!("arn: {}", m.arn)), "{text}");
    assert!(text.contains("aws_profile: \"\""), "{text}");
    assert!(!text.contains("age:"), "{text}");
    let o = cmd_no_age(&r)
        .args(["get", "--stage", "prod", "DB_PASSWORD"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(stdout(&o), "hunter2");
}

#[test]
#[ignore = "needs a moto server (local AWS KMS): scripts/test sets it up and runs this"]
fn cli_age_and_kms_file_opens_either_way_with_call_counts() {
    let m = common::moto();
    let _turn = recorder();
    let mk = marker("cli-count");
    let r = repo_with_rule(&format!(
        "    key_groups:\n      - age:\n          - {}\n        kms:\n          - arn: {}\n            context:\n              run: {mk}\n              stage: prod\n",
        common::TEST_RECIPIENT_1,
        m.arn
    ));
    for i in 0..12 {
        set(&r, "prod", &format!("SECRET_{i}"), &format!("value-{i}"));
    }
    let text = r.read("secrets/prod.yml");
    assert!(
        text.contains("age:") && text.contains("kms:") && text.contains(&mk),
        "{text}"
    );

    // With the age key: no KMS call at all.
    m.start_recording();
    let o = cmd(&r)
        .args([
            "exec",
            "--stage",
            "prod",
            "--",
            "sh",
            "-c",
            "echo $SECRET_11",
        ])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(stdout(&o).trim(), "value-11");
    let calls = m.stop_recording(&mk);
    assert_eq!(count(&calls, DECRYPT), 0, "{calls:?}");

    // Without it: exactly one Decrypt per run, however many secrets.
    m.start_recording();
    let o = cmd_no_age(&r)
        .args([
            "exec",
            "--stage",
            "prod",
            "--",
            "sh",
            "-c",
            "echo $SECRET_0 $SECRET_11",
        ])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(stdout(&o).trim(), "value-0 value-11");
    let o = cmd_no_age(&r)
        .args(["get", "--stage", "prod", "SECRET_5"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(stdout(&o), "value-5");
    let calls = m.stop_recording(&mk);
    assert_eq!(
        count(&calls, DECRYPT),
        2,
        "two runs, one Decrypt each: {calls:?}"
    );
    assert_eq!(count(&calls, ENCRYPT), 0, "{calls:?}");
}

/// `render` (merged from the render branch): one Decrypt per render of a stage file with
/// many secrets, none with the age key.
#[test]
#[ignore = "needs a moto server (local AWS KMS): scripts/test sets it up and runs this"]
fn cli_render_makes_one_decrypt() {
    let m = common::moto();
    let _turn = recorder();
    let mk = marker("render");
    let r = repo_with_rule(&format!(
        "    key_groups:\n      - age:\n          - {}\n        kms:\n          - arn: {}\n            context:\n              run: {mk}\n",
        common::TEST_RECIPIENT_1,
        m.arn
    ));
    r.write(
        "svc/serverless.yml",
        "service: svc\nprovider:\n  name: aws\n  environment:\n    LOG_LEVEL: info\nfunctions:\n  fn1:\n    handler: h.fn1\n",
    );
    for i in 0..10 {
        set(&r, "prod", &format!("SECRET_{i}"), &format!("value-{i}"));
    }
    let render = |with_age: bool| {
        let mut c = r.cmd("svc");
        pass_aws_env(&mut c);
        if !with_age {
            c.env_remove("SOPS_AGE_KEY_FILE");
        }
        let o = c.args(["render", "--stage", "prod"]).output().unwrap();
        assert_ok(&o);
        assert!(
            stdout(&o).contains("SECRET_9: \"value-9\""),
            "{}",
            stdout(&o)
        );
    };
    m.start_recording();
    render(true);
    let calls = m.stop_recording(&mk);
    assert_eq!(count(&calls, DECRYPT), 0, "{calls:?}");
    m.start_recording();
    render(false);
    let calls = m.stop_recording(&mk);
    assert_eq!(count(&calls, DECRYPT), 1, "{calls:?}");
}

#[test]
#[ignore = "needs a moto server (local AWS KMS): scripts/test sets it up and runs this"]
fn cli_context_mismatch_and_wrong_key_fail_clearly() {
    let m = common::moto();
    let r = repo_with_rule(&format!(
        "    key_groups:\n      - kms:\n          - arn: {}\n            context:\n              stage: prod\n",
        m.arn
    ));
    set(&r, "prod", "DB_PASSWORD", "hunter2");
    let good = r.read("secrets/prod.yml");

    r.write(
        "secrets/prod.yml",
        &good.replace("stage: prod", "stage: dev"),
    );
    let o = cmd_no_age(&r)
        .args(["get", "--stage", "prod", "DB_PASSWORD"])
        .output()
        .unwrap();
    assert_error(&o);
    let e = stderr(&o);
    assert!(
        e.contains(&m.arn) && e.contains("encryption context"),
        "{e}"
    );
    assert!(!e.contains("hunter2"));

    r.write("secrets/prod.yml", &good.replace(&m.arn, &m.arn2));
    let o = cmd_no_age(&r)
        .args(["get", "--stage", "prod", "DB_PASSWORD"])
        .output()
        .unwrap();
    assert_error(&o);
    let e = stderr(&o);
    assert!(e.contains(&m.arn2), "{e}");
    assert!(e.contains("AWS KMS keys tried:"), "{e}");
}

#[test]
#[ignore = "needs a moto server (local AWS KMS): scripts/test sets it up and runs this"]
fn cli_init_kms_then_set_get() {
    let m = common::moto();
    let r = Repo::new();
    let o = cmd(&r).args(["init", "--kms", &m.arn]).output().unwrap();
    assert_ok(&o);
    assert!(r.read(".sops.yaml").contains(&m.arn));
    set(&r, "staging", "TOKEN", "t0k3n");
    let o = cmd_no_age(&r)
        .args(["get", "--stage", "staging", "TOKEN"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(stdout(&o), "t0k3n");
}

/// Flat rule forms: comma list, and `arn+role` (STS AssumeRole against moto).
#[test]
#[ignore = "needs a moto server (local AWS KMS): scripts/test sets it up and runs this"]
fn cli_flat_comma_list_and_role_form() {
    let m = common::moto();
    let role = "arn:aws:iam::123456789012:role/deploy";
    let r = repo_with_rule(&format!("    kms: {}, {}+{role}\n", m.arn, m.arn2));
    set(&r, "prod", "API_TOKEN", "1");
    let text = r.read("secrets/prod.yml");
    assert_eq!(text.matches("- arn: ").count(), 2, "{text}");
    assert!(text.contains(&format!("role: {role}")), "{text}");
    let o = cmd_no_age(&r)
        .args(["get", "--stage", "prod", "API_TOKEN"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(stdout(&o), "1");
}

/// `keys --add-kms`: the same data key, wrapped for one more key; values untouched.
#[test]
#[ignore = "needs a moto server (local AWS KMS): scripts/test sets it up and runs this"]
fn cli_add_kms_rewraps_same_data_key() {
    let m = common::moto();
    let r = Repo::with_config();
    common::Repo::set(&r, "prod", "DB_PASSWORD", "hunter2");
    let before = r.read("secrets/prod.yml");
    let o = cmd(&r)
        .args([
            "keys",
            "--stage",
            "prod",
            "--add-kms",
            &m.arn,
            "--context",
            "stage=prod",
        ])
        .output()
        .unwrap();
    assert_ok(&o);
    let after = r.read("secrets/prod.yml");
    let value_line = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("DB_PASSWORD:"))
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        value_line(&before),
        value_line(&after),
        "values keep their ciphertext"
    );
    assert!(
        after.contains(&m.arn) && after.contains("stage: prod"),
        "{after}"
    );
    let o = cmd_no_age(&r)
        .args(["get", "--stage", "prod", "DB_PASSWORD"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(stdout(&o), "hunter2");
    // Adding it twice is an error, not a duplicate entry.
    let o = cmd(&r)
        .args(["keys", "--stage", "prod", "--add-kms", &m.arn])
        .output()
        .unwrap();
    assert_error(&o);
}

#[test]
#[ignore = "needs a moto server (local AWS KMS): scripts/test sets it up and runs this"]
fn cli_rotate_rewraps_for_kms() {
    let m = common::moto();
    let r = Repo::with_config();
    common::Repo::set(&r, "prod", "DB_PASSWORD", "hunter2");
    r.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: secrets/.*\\.yml$\n    age: {}\n    kms: {}\n",
            common::TEST_RECIPIENT_1,
            m.arn
        ),
    );
    let o = cmd(&r).args(["keys", "--stage", "prod"]).output().unwrap();
    assert_ok(&o);
    assert!(
        stdout(&o).contains(&format!("--add-kms {}", m.arn)),
        "{}",
        stdout(&o)
    );
    let o = cmd(&r)
        .args(["rotate", "--stage", "prod"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert!(r.read("secrets/prod.yml").contains(&m.arn));
    let o = cmd_no_age(&r)
        .args(["get", "--stage", "prod", "DB_PASSWORD"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(stdout(&o), "hunter2");
}

#[test]
#[ignore = "needs a moto server (local AWS KMS): scripts/test sets it up and runs this"]
fn cli_silent_endpoint_fails_within_bound() {
    let m = common::moto();
    let r = repo_with_rule(&format!("    kms: {}\n", m.arn));
    set(&r, "prod", "DB_PASSWORD", "hunter2");
    let url = silent_listener(Duration::from_secs(40));
    let t = Instant::now();
    let o = cmd_no_age(&r)
        .env("AWS_ENDPOINT_URL_KMS", &url)
        .args(["get", "--stage", "prod", "DB_PASSWORD"])
        .output()
        .unwrap();
    let elapsed = t.elapsed();
    assert_error(&o);
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    let e = stderr(&o);
    assert!(e.contains(&format!("no answer from KMS at {url}")), "{e}");
}

// ---------------------------------------------------------------------- sops interop

fn sops_and_moto() -> (std::path::PathBuf, Moto) {
    (common::sops(), common::moto())
}

#[test]
#[ignore = "needs the sops binary and a moto server (local AWS KMS): scripts/test sets it up and runs this"]
fn sops_decrypts_our_kms_file() {
    let (sops, m) = sops_and_moto();
    let r = repo_with_rule(&format!(
        "    key_groups:\n      - kms:\n          - arn: {}\n            context:\n              stage: prod\n",
        m.arn
    ));
    set(&r, "prod", "DB_PASSWORD", "hunter2");
    // sops without any age key: only KMS (moto) can open it.
    let mut c = Command::new(&sops);
    c.args(["decrypt", "secrets/prod.yml"])
        .current_dir(r.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", r.path().join("home"));
    let o = pass_aws_env(&mut c).output().unwrap();
    assert_ok(&o);
    assert!(
        stdout(&o).contains("DB_PASSWORD: hunter2"),
        "{}",
        stdout(&o)
    );
}

#[test]
#[ignore = "needs the sops binary and a moto server (local AWS KMS): scripts/test sets it up and runs this"]
fn we_decrypt_a_kms_file_sops_wrote() {
    let (sops, m) = sops_and_moto();
    let r = Repo::new();
    std::fs::create_dir(r.path().join("secrets")).unwrap();
    r.write("plain.yml", "DB_PASSWORD: hunter2\nPORT: \"5432\"\n");
    let o = common::run_sops(
        &sops,
        &r,
        &[
            "encrypt",
            "--kms",
            &m.arn,
            "--encryption-context",
            "stage:prod,team:core",
            "--output",
            "secrets/prod.yml",
            "plain.yml",
        ],
    );
    assert_ok(&o);
    let text = r.read("secrets/prod.yml");
    assert!(text.contains("team: core"), "{text}");
    let o = cmd_no_age(&r)
        .args(["get", "--stage", "prod", "DB_PASSWORD"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(stdout(&o), "hunter2");
    let o = cmd_no_age(&r)
        .args(["decrypt", "secrets/prod.yml"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert!(stdout(&o).contains("PORT: \"5432\""), "{}", stdout(&o));
}

// ------------------------------------------------------------- credential sources

/// A loopback HTTP server that answers every request with `respond(request head)` and
/// records the request heads. Stops by itself after `hold`.
fn http_stub(
    hold: Duration,
    respond: fn(&str) -> (u16, String),
) -> (String, std::sync::Arc<Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    l.set_nonblocking(true).unwrap();
    let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&seen);
    std::thread::spawn(move || {
        let end = Instant::now() + hold;
        while Instant::now() < end {
            let Ok((mut s, _)) = l.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            s.set_nonblocking(false).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut raw = Vec::new();
            let mut buf = [0u8; 4096];
            while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => raw.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&raw).into_owned();
            let (status, body) = respond(&head);
            log.lock().unwrap().push(head);
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (format!("http://{addr}"), seen)
}

/// The binary with only a shared-config profile for credentials (no key variables).
fn cmd_profile_only(r: &Repo, profile: &str, config: &std::path::Path) -> Command {
    let mut c = cmd_no_age(r);
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", config)
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            r.path().join("no-credentials-file"),
        )
        .env("AWS_PROFILE", profile);
    c
}

#[test]
#[ignore = "needs a moto server (local AWS KMS): scripts/test sets it up and runs this"]
fn cli_credential_process_profile_opens_kms_file() {
    let m = common::moto();
    let r = repo_with_rule(&format!("    kms: {}\n", m.arn));
    set(&r, "prod", "DB_PASSWORD", "from-a-process");
    // `credential_process`: the profile runs a command that prints credentials as JSON (how
    // many teams wire aws-vault, 1Password or their SSO helper).
    let ran = r.path().join("process-ran");
    let script = r.path().join("creds.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ntouch '{}'\nprintf '%s' '{{\"Version\": 1, \"AccessKeyId\": \"AKIAPROCESSTEST0001\", \"SecretAccessKey\": \"test\"}}'\n",
            ran.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = r.path().join("aws-config");
    std::fs::write(
        &config,
        format!(
            "[profile cp]\ncredential_process = {}\nregion = us-east-1\n",
            script.display()
        ),
    )
    .unwrap();
    let out = cmd_profile_only(&r, "cp", &config)
        .args(["get", "--stage", "prod", "DB_PASSWORD"])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "from-a-process");
    assert!(ran.exists(), "the credential process did not run");
}

/// The SSO portal's GetRoleCredentials, for the bearer token in the test's token cache.
fn sso_portal(head: &str) -> (u16, String) {
    let lower = head.to_ascii_lowercase();
    if !head.starts_with("GET /federation/credentials?")
        || !lower.contains("x-amz-sso_bearer_token: cached-sso-token")
    {
        return (401, r#"{"message":"bad token"}"#.into());
    }
    let expires_ms = (std::time::SystemTime::now() + Duration::from_secs(3600))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    (
        200,
        format!(
            r#"{{"roleCredentials":{{"accessKeyId":"ASIASSOTEST00001","secretAccessKey":"test","sessionToken":"sso-session-token","expiration":{expires_ms}}}}}"#
        ),
    )
}

#[test]
#[ignore = "needs a moto server (local AWS KMS): scripts/test sets it up and runs this"]
fn cli_sso_profile_with_cached_token_opens_kms_file() {
    let m = common::moto();
    let r = repo_with_rule(&format!("    kms: {}\n", m.arn));
    set(&r, "prod", "DB_PASSWORD", "from-sso");
    // IAM Identity Center: `aws sso login` leaves a token in ~/.aws/sso/cache/<sha1 of the
    // session name>.json; the SDK trades it for role credentials at the SSO portal. moto has
    // no portal, so a loopback stub answers that one call; KMS is moto.
    let (portal, seen) = http_stub(Duration::from_secs(30), sso_portal);
    let config = r.path().join("aws-config");
    std::fs::write(
        &config,
        "[profile sso]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Deployer\nregion = us-east-1\n\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n",
    )
    .unwrap();
    let sha1 = Command::new("sha1sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"corp")?;
            c.wait_with_output()
        })
        .expect("sha1sum");
    let digest = String::from_utf8_lossy(&sha1.stdout)[..40].to_owned();
    let cache = r.path().join("home/.aws/sso/cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(
        cache.join(format!("{digest}.json")),
        r#"{"startUrl":"https://corp.awsapps.com/start","region":"us-east-1","accessToken":"cached-sso-token","expiresAt":"2099-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    let out = cmd_profile_only(&r, "sso", &config)
        .env("AWS_ENDPOINT_URL_SSO", &portal)
        .args(["get", "--stage", "prod", "DB_PASSWORD"])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "from-sso");
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter()
            .any(|h| h.contains("role_name=Deployer") && h.contains("account_id=111122223333")),
        "the SSO portal was not asked for the profile's role: {seen:?}"
    );
}

#[test]
fn unclassified_kms_error_names_status_and_endpoint() {
    // A proxy or a broken endpoint answering with something that is not a KMS error: the SDK
    // can only say "unhandled error"; the message must say what came back and from where.
    let (url, _) = http_stub(Duration::from_secs(30), |_| {
        (502, "<html>Bad Gateway</html>".into())
    });
    let arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000";
    let (out, _) = probe(
        &[
            ("PROBE_ARN", arn),
            ("AWS_ENDPOINT_URL_KMS", &url),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
        "unwrap",
    );
    assert!(out.contains("PROBE-ERR"), "{out}");
    assert!(out.contains("HTTP 502"), "no status: {out}");
    assert!(out.contains(&url), "no endpoint: {out}");
    assert!(!out.contains("unhandled error: Error"), "{out}");
}

#[test]
#[ignore = "needs a moto server (local AWS KMS): scripts/test sets it up and runs this"]
fn cli_a_missing_age_key_file_does_not_stop_kms() {
    let m = common::moto();
    let r = repo_with_rule(&format!("    kms: {}\n", m.arn));
    set(&r, "prod", "DB_PASSWORD", "hunter2");
    let o = cmd_no_age(&r)
        .env("SOPS_AGE_KEY_FILE", r.path().join("home/no-such-key.txt"))
        .args(["get", "--stage", "prod", "DB_PASSWORD"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(stdout(&o), "hunter2");
}
