//! Sealed delivery (docs/sealed.md) against a real KMS-compatible server (moto, started by
//! scripts/test): `seal` writes each function's share of the stage as a sops file for one KMS
//! key, and `wrap` (the Lambda exec wrapper) opens it with one Decrypt and execs a fake runtime
//! (`env -0`) that must see every secret exactly; every failure is one line, exit 2, the
//! runtime not started, no value printed. The frameworks' side is in tests/npm_package.rs.

mod common;

use std::process::{Command, Output};

use common::{Repo, assert_ok, both, count, moto, output_with_stdin, pass_aws_env, stderr, stdout};

/// Values that break naive quoting, line-based parsing or `NAME=value` splitting.
const SECRETS: &[(&str, &str)] = &[
    ("DB_PASSWORD", "pa55: w0rd = \"quoted\" 'single' $HOME"),
    ("MULTILINE", "line one\nline two\n"),
    ("STRIPE_KEY", "sk_live_stripe_only"),
    ("UNICODE", "ünïcödé ✓"),
];

/// Where the plugin puts the payloads, relative to the package root.
const PAYLOADS: &str = ".serverless/sls-secrets/sealed";

/// The resolved service as the plugin sends it: `api` shadows DB_PASSWORD, STRIPE_KEY is
/// scoped to `payments`, `cron` gets the provider's.
const SERVICE: &str = r#"{"provider":{"environment":{"LOG_LEVEL":[4,false]}},
 "functions":{"api":{"environment":{"DB_PASSWORD":[3,false]}},"payments":{"environment":null},"cron":{"environment":null}},
 "slsSecrets":{"delivery":"sealed","kmsKeyArn":"(the plugin's)","functions":{"payments":["STRIPE_KEY"]}}}"#;

fn sealed_repo() -> Repo {
    let r = Repo::with_config();
    for (k, v) in SECRETS {
        r.write("v.txt", v);
        assert_ok(&r.run(&["set", "--stage", "prod", k, "--from-file", "v.txt"]));
    }
    std::fs::remove_file(r.path().join("v.txt")).unwrap();
    r
}

/// `seal` of [`SERVICE`] for `arn` into `out` (relative to the repository).
fn seal_into(r: &Repo, arn: &str, out: &str) -> Output {
    let mut c = r.cmd(".");
    pass_aws_env(&mut c);
    let args = [
        "seal",
        "--stage",
        "prod",
        "--service",
        "app",
        "--kms-key",
        arn,
        "--out",
        out,
    ];
    output_with_stdin(c.args(args), SERVICE)
}

/// `seal` into `task/` (the package root, where the plugin puts the payloads); its JSON answer.
fn seal(r: &Repo, arn: &str) -> (serde_json::Value, Output) {
    let o = seal_into(r, arn, &format!("task/{PAYLOADS}"));
    assert_ok(&o);
    (serde_json::from_str(&stdout(&o)).unwrap(), o)
}

/// `wrap -- RUNTIME...` as Lambda runs it: only the function's environment (its two
/// variables, Lambda's, the role's credentials) and the unpacked package in `task/`.
fn wrap(r: &Repo, function: &str, runtime: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sls-secrets"));
    c.current_dir(r.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LAMBDA_TASK_ROOT", r.path().join("task"))
        .env("SLS_SECRETS_SEALED", format!("{PAYLOADS}/{function}.yml"))
        .env("AWS_LAMBDA_FUNCTION_NAME", format!("app-prod-{function}"))
        .env("LOG_LEVEL", "info")
        .arg("wrap")
        .arg("--")
        .args(runtime);
    pass_aws_env(&mut c);
    c
}

/// The fake runtime's environment (`env -0`), as name → value.
fn runtime_env(o: &Output) -> Vec<(String, String)> {
    assert_ok(o);
    String::from_utf8(o.stdout.clone())
        .unwrap()
        .split('\0')
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (k, v) = e.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn value<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[test]
#[ignore = "needs a moto server (local AWS KMS): scripts/test sets it up and runs this"]
fn each_function_gets_exactly_its_secrets_and_nothing_is_in_clear() {
    let m = moto();
    let r = sealed_repo();
    let (answer, o) = seal(&r, &m.arn);
    // The answer and the log name functions and names, never a value; neither does a payload.
    let payloads: Vec<String> = ["api", "payments", "cron"]
        .iter()
        .map(|f| r.read(&format!("task/{PAYLOADS}/{f}.yml")))
        .collect();
    for (_, v) in SECRETS {
        let line = v.lines().next().unwrap();
        assert!(!both(&o).contains(line), "a value in seal's output");
        assert!(
            payloads.iter().all(|p| !p.contains(line)),
            "a value in clear"
        );
    }
    assert_eq!(
        answer["functions"]["payments"]["names"],
        serde_json::json!(["DB_PASSWORD", "MULTILINE", "STRIPE_KEY", "UNICODE"])
    );
    assert_eq!(
        answer["functions"]["api"]["names"],
        serde_json::json!(["DB_PASSWORD", "MULTILINE", "UNICODE"])
    );
    // Sealed for the one KMS key only (no age recipient), bound to the service and stage by
    // the KMS encryption context the plugin's IAM statement requires.
    for p in &payloads {
        assert!(p.contains(&m.arn) && !p.contains("age1"), "{p}");
        assert!(
            p.contains("sls-secrets:service: app") && p.contains("sls-secrets:stage: prod"),
            "{p}"
        );
    }

    // The runtime sees every secret exactly, and the function's own variables; one Decrypt.
    let enc = payloads[1]
        .lines()
        .find_map(|l| l.trim().strip_prefix("enc: "))
        .unwrap()
        .to_owned();
    m.start_recording();
    let env = runtime_env(&wrap(&r, "payments", &["env", "-0"]).output().unwrap());
    assert_eq!(count(&m.stop_recording(&enc), "TrentService.Decrypt"), 1);
    for (k, v) in SECRETS {
        assert_eq!(value(&env, k), Some(*v), "{k}");
    }
    assert_eq!(value(&env, "LOG_LEVEL"), Some("info"));
    // A function STRIPE_KEY is not scoped to never sees it.
    for function in ["api", "cron"] {
        let env = runtime_env(&wrap(&r, function, &["env", "-0"]).output().unwrap());
        assert_eq!(value(&env, "STRIPE_KEY"), None, "{function}");
        assert_eq!(value(&env, "DB_PASSWORD"), Some(SECRETS[0].1), "{function}");
    }
    // The payload is a sops file: the real sops opens it with the same key.
    let sops = common::sops();
    let o = common::run_sops(&sops, &r, &["decrypt", &format!("task/{PAYLOADS}/api.yml")]);
    assert_ok(&o);
    assert!(stdout(&o).contains("UNICODE: ünïcödé ✓"), "{}", stdout(&o));
}

/// One failure of `wrap`: exit 2, one line on stderr holding `needle`, the runtime not started
/// (it would touch `started`), no value anywhere.
#[track_caller]
fn fails_closed(r: &Repo, mut c: Command, needle: &str) {
    let marker = r.path().join("started");
    let o = c
        .args(["sh", "-c", &format!("touch '{}'; env", marker.display())])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{needle}: {}", both(&o));
    assert_eq!(err.lines().count(), 1, "{needle}: not one line:\n{err}");
    assert!(
        err.starts_with("error: sls-secrets wrap: ")
            && err.contains(needle)
            && err.trim_end().ends_with("the runtime was not started"),
        "{needle}: {err}"
    );
    assert!(!marker.exists(), "{needle}: the runtime started");
    assert_eq!(stdout(&o), "", "{needle}");
    for (_, v) in SECRETS {
        assert!(
            !err.contains(v.lines().next().unwrap()),
            "{needle}: a value"
        );
    }
}

#[test]
#[ignore = "needs a moto server (local AWS KMS): scripts/test sets it up and runs this"]
fn every_failure_is_one_line_and_the_runtime_never_starts() {
    let m = moto();
    let r = sealed_repo();
    seal(&r, &m.arn);
    let payload = format!("task/{PAYLOADS}/payments.yml");
    let original = r.read(&payload);

    // No payload where the variable says.
    fails_closed(&r, wrap(&r, "nope", &[]), "can't read the sealed payload");
    let mut c = wrap(&r, "payments", &[]);
    c.env("SLS_SECRETS_SEALED", "../secrets/prod.yml");
    fails_closed(
        &r,
        c,
        "is not a relative path inside the function's package",
    );
    let mut c = wrap(&r, "payments", &[]);
    c.env_remove("LAMBDA_TASK_ROOT");
    fails_closed(&r, c, "LAMBDA_TASK_ROOT is not set");

    // A value's ciphertext changed: AES-GCM and the MAC refuse it.
    let data = original.find("data:").unwrap() + 5;
    let mut bytes = original.clone().into_bytes();
    bytes[data] = if bytes[data] == b'A' { b'B' } else { b'A' };
    r.write(&payload, &String::from_utf8(bytes).unwrap());
    fails_closed(&r, wrap(&r, "payments", &[]), "was altered");
    // The wrapped data key changed: KMS can't decrypt it.
    let enc = original
        .lines()
        .find_map(|l| l.trim().strip_prefix("enc: "))
        .unwrap();
    let flipped = if enc.starts_with('A') { "B" } else { "A" }.to_owned() + &enc[1..];
    r.write(&payload, &original.replace(enc, &flipped));
    fails_closed(&r, wrap(&r, "payments", &[]), &m.arn);
    // A variable added in clear (LD_PRELOAD) under settings that leave it out of the MAC: the
    // MAC still fails, as `mac_only_encrypted` changes how the MAC starts (sops.go).
    assert!(
        original.contains("    unencrypted_suffix: _unencrypted\n"),
        "{original}"
    );
    let loosened = original
        .replace(
            "    unencrypted_suffix: _unencrypted\n",
            "    encrypted_regex: ^(DB_PASSWORD|MULTILINE|STRIPE_KEY|UNICODE)$\n    mac_only_encrypted: true\n",
        )
        .replacen("DB_PASSWORD:", "LD_PRELOAD: /tmp/evil.so\nDB_PASSWORD:", 1);
    r.write(&payload, &loosened);
    fails_closed(&r, wrap(&r, "payments", &[]), "MAC mismatch");
    // A role (or profile) in the key entry, which the MAC does not cover: the wrapper would
    // assume it instead of using the function's role.
    let arn_line = original.lines().find(|l| l.contains("- arn: ")).unwrap();
    let indent = " ".repeat(arn_line.find('-').unwrap() + 2);
    let with_role = original.replace(
        &format!("{arn_line}\n"),
        &format!("{arn_line}\n{indent}role: arn:aws:iam::123456789012:role/elsewhere\n"),
    );
    assert_ne!(with_role, original);
    r.write(&payload, &with_role);
    fails_closed(
        &r,
        wrap(&r, "payments", &[]),
        "not sealed for exactly one KMS key",
    );
    // Another stage's or service's context (a payload moved between them): KMS refuses it.
    r.write(
        &payload,
        &original.replace("sls-secrets:stage: prod", "sls-secrets:stage: dev"),
    );
    fails_closed(&r, wrap(&r, "payments", &[]), &m.arn);
    // KMS denies the call (moto's AccessDenied: asked with a key that is not the ciphertext's).
    r.write(&payload, &original.replace(&m.arn, &m.arn2));
    fails_closed(&r, wrap(&r, "payments", &[]), "KMS denied Decrypt");
    r.write(&payload, &original);

    // No network: nothing listens on the endpoint.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut c = wrap(&r, "payments", &[]);
    c.env("AWS_ENDPOINT_URL_KMS", &url);
    fails_closed(&r, c, "can't reach KMS");
    // No credentials (a role-less function), and an empty endpoint override.
    let mut c = wrap(&r, "payments", &[]);
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("HOME", r.path().join("home"))
        .env("AWS_EC2_METADATA_DISABLED", "true");
    fails_closed(&r, c, "no AWS credentials");
    let mut c = wrap(&r, "payments", &[]);
    c.env("AWS_ENDPOINT_URL_KMS", "");
    fails_closed(&r, c, "AWS_ENDPOINT_URL_KMS is set but empty");

    // And with everything back in place the same runtime starts.
    let o = wrap(&r, "payments", &["env", "-0"]).output().unwrap();
    assert_eq!(value(&runtime_env(&o), "STRIPE_KEY"), Some(SECRETS[2].1));
}

#[test]
#[ignore = "needs a moto server (local AWS KMS): scripts/test sets it up and runs this"]
fn seal_refuses_an_alias_and_keeps_lambdas_rules() {
    let m = moto();
    let r = sealed_repo();
    let alias = m
        .arn
        .replace(":key/", ":alias/")
        .replace(m.arn.rsplit('/').next().unwrap(), "prod-secrets");
    let o = seal_into(&r, &alias, "task");
    common::assert_error(&o);
    assert!(
        stderr(&o).contains("is not a KMS key ARN"),
        "{}",
        stderr(&o)
    );
    assert!(!r.path().join("task").exists());
    // The 4 KB rule applies as in environment delivery: nothing is sealed.
    r.write("v.txt", &"x".repeat(4200));
    assert_ok(&r.run(&["set", "--stage", "prod", "BIG", "--from-file", "v.txt"]));
    let o = seal_into(&r, &m.arn, "task");
    common::assert_error(&o);
    assert!(
        stderr(&o).contains("over the 4096-byte Lambda limit"),
        "{}",
        stderr(&o)
    );
    assert!(!r.path().join("task").exists());
}

/// A symbolic link in the package (the payload, or a folder on its way) that leads out of
/// `LAMBDA_TASK_ROOT` is refused before anything is read: the file it names could be
/// `/proc/self/environ` (the role's credentials) or another package's payload.
#[test]
#[ignore = "needs a moto server (local AWS KMS): scripts/test sets it up and runs this"]
fn a_symlink_out_of_the_package_is_refused() {
    let m = moto();
    let r = sealed_repo();
    seal(&r, &m.arn);
    let outside = r.path().join("outside");
    std::fs::create_dir_all(outside.join("sealed")).unwrap();
    std::fs::copy(
        r.path().join(format!("task/{PAYLOADS}/payments.yml")),
        outside.join("sealed/payments.yml"),
    )
    .unwrap();
    let link = |target: &std::path::Path, at: &str| {
        std::os::unix::fs::symlink(target, r.path().join("task").join(at)).unwrap();
    };
    link(std::path::Path::new("/proc/self/environ"), "environ.yml");
    link(&outside.join("sealed/payments.yml"), "moved.yml");
    link(&outside.join("sealed"), "dir");
    for at in ["environ.yml", "moved.yml", "dir/payments.yml"] {
        let mut c = wrap(&r, "payments", &[]);
        c.env("SLS_SECRETS_SEALED", at);
        fails_closed(&r, c, "leads out of the function's package");
    }
    // A link that stays inside the package is followed.
    link(
        &r.path().join(format!("task/{PAYLOADS}/payments.yml")),
        "inside.yml",
    );
    let mut c = wrap(&r, "payments", &["env", "-0"]);
    c.env("SLS_SECRETS_SEALED", "inside.yml");
    let o = c.output().unwrap();
    assert_eq!(value(&runtime_env(&o), "STRIPE_KEY"), Some(SECRETS[2].1));
}
