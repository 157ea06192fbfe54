//! `export --stage S --format json|env`: the stage's secrets, machine-readable, for the
//! Serverless plugin and scripts. Plaintext only to a pipe; the same name checks as `render`.

mod common;

use common::{Repo, assert_error, assert_ok, stderr, stdout};

const SECRETS: &[(&str, &str)] = &[
    ("DB_PASSWORD", "pa55: w0rd # not a comment"),
    ("API_KEY", "${env:HOME}"),
    ("FILE_MODE", "0755"),
    ("ENABLED", "yes"),
    ("QUOTED", "say \"hi\" and 'bye' \\ done"),
    ("MULTILINE", "line one\nline two\ttab"),
    ("UNICODE", "héllo ✓ \u{2028} end"),
];

fn repo_with_secrets() -> Repo {
    let r = Repo::with_config();
    for (k, v) in SECRETS {
        r.write("v.txt", v);
        assert_ok(&r.run(&["set", "--stage", "prod", k, "--from-file", "v.txt"]));
    }
    std::fs::remove_file(r.path().join("v.txt")).unwrap();
    r
}

#[test]
fn json_gives_every_secret_exactly_in_file_order() {
    let r = repo_with_secrets();
    let o = r.run(&["export", "--stage", "prod", "--format", "json"]);
    assert_ok(&o);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["stage"], "prod");
    assert_eq!(v["setEnv"], true);
    let secrets = v["secrets"].as_object().unwrap();
    assert_eq!(secrets.len(), SECRETS.len());
    for (k, val) in SECRETS {
        assert_eq!(secrets[*k], *val, "{k}");
    }
    // Names only on stderr, never values.
    for (_, val) in SECRETS {
        assert!(!stderr(&o).contains(val), "a value leaked to stderr");
    }
    // File order is kept (stable output for scripts).
    let text = stdout(&o);
    assert!(text.find("DB_PASSWORD").unwrap() < text.find("UNICODE").unwrap());
}

#[test]
fn env_format_is_read_back_exactly_by_a_posix_shell() {
    let r = repo_with_secrets();
    let o = r.run(&["export", "--stage", "prod", "--format", "env"]);
    assert_ok(&o);
    let script = format!(
        "set -eu\n{}\nprintf '%s\\0' \"$DB_PASSWORD\" \"$API_KEY\" \"$FILE_MODE\" \"$ENABLED\" \"$QUOTED\" \"$MULTILINE\" \"$UNICODE\"",
        stdout(&o)
    );
    let sh = std::process::Command::new("sh")
        .args(["-c", &script])
        .env_clear()
        .output()
        .unwrap();
    assert_ok(&sh);
    let got: Vec<String> = String::from_utf8(sh.stdout)
        .unwrap()
        .split_terminator('\0')
        .map(str::to_owned)
        .collect();
    let want: Vec<&str> = SECRETS.iter().map(|(_, v)| *v).collect();
    assert_eq!(got, want);
}

#[test]
fn seed_opt_out_exports_nothing_and_needs_no_key() {
    let r = repo_with_secrets();
    r.write("seed.yml", "sls_set_secret_envs: false\n");
    let o = r
        .cmd(".")
        .env("SOPS_AGE_KEY_FILE", r.path().join("nope.txt"))
        .args(["export", "--stage", "prod", "--format", "json"])
        .output()
        .unwrap();
    assert_ok(&o);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["setEnv"], false);
    assert!(v["secrets"].as_object().unwrap().is_empty());
    assert!(
        stderr(&o).contains("sls_set_secret_envs: false"),
        "{}",
        stderr(&o)
    );
    // --set-env overrides it, as for render.
    let o = r.run(&["export", "--stage", "prod", "--format", "json", "--set-env"]);
    assert_ok(&o);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["secrets"].as_object().unwrap().len(), SECRETS.len());
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn reserved_and_invalid_names_are_refused_like_render() {
    let r = Repo::with_config();
    // sops writes what we refuse to: a stage file with a reserved name.
    r.set("prod", "GOOD_NAME", "v1");
    let sops = common::sops();
    let o = common::run_sops(
        &sops,
        &r,
        &[
            "set",
            "secrets/prod.yml",
            "[\"AWS_REGION\"]",
            "\"eu-west-1\"",
        ],
    );
    assert_ok(&o);
    let o = r.run(&["export", "--stage", "prod", "--format", "json"]);
    assert_error(&o);
    assert!(stderr(&o).contains("AWS_REGION"), "{}", stderr(&o));
    assert!(stderr(&o).contains("reserved"), "{}", stderr(&o));
    assert!(stderr(&o).contains("stage `prod`"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty(), "nothing on stdout on error");
    assert!(!stderr(&o).contains("eu-west-1"));
}

#[test]
fn missing_stage_is_a_clear_error() {
    let r = Repo::with_config();
    let o = r.run(&["export", "--stage", "nope", "--format", "json"]);
    assert_error(&o);
    assert!(stderr(&o).contains("nope"), "{}", stderr(&o));
    // For a local run the plugin asks to go on: nothing exported, and where the file would be.
    let o = r.run(&[
        "export",
        "--stage",
        "nope",
        "--format",
        "json",
        "--allow-missing",
    ]);
    assert_ok(&o);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["secrets"], serde_json::json!({}));
    assert!(
        v["missing"].as_str().unwrap().ends_with("secrets/nope.yml"),
        "{v}"
    );
    // A stage that has its file is exported as ever, with no `missing`.
    r.set("dev", "A1", "value");
    let o = r.run(&[
        "export",
        "--stage",
        "dev",
        "--format",
        "json",
        "--allow-missing",
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["secrets"]["A1"], "value");
    assert!(v.get("missing").is_none(), "{v}");
}

#[test]
fn a_terminal_stdout_is_refused_without_force() {
    // `script` gives the command a real terminal as stdout.
    let script = std::path::Path::new("/usr/bin/script");
    assert!(script.exists(), "`script` (util-linux) is missing");
    let r = repo_with_secrets();
    let bin = env!("CARGO_BIN_EXE_sls-secrets");
    let run = |extra: &str| {
        std::process::Command::new(script)
            .args([
                "-qec",
                &format!("{bin} export --stage prod --format json {extra}"),
                "/dev/null",
            ])
            .current_dir(r.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", r.path().join("home"))
            .env("SOPS_AGE_KEY_FILE", &r.key_file)
            .output()
            .unwrap()
    };
    let o = run("");
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stdout(&o).contains("terminal"), "{}", stdout(&o));
    assert!(!stdout(&o).contains("pa55"), "a value reached the terminal");
    let o = run("--force");
    assert_ok(&o);
    assert!(stdout(&o).contains("pa55"), "{}", stdout(&o));
}

/// `export --stage prod --format json EXTRA REDIRECT` through a real shell in the repository
/// (`> out.json`, `>> secrets/prod.yml`, `| cat`).
fn sh(r: &Repo, extra: &str, redirect: &str) -> std::process::Output {
    let bin = env!("CARGO_BIN_EXE_sls-secrets");
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{bin}' export --stage prod --format json {extra} {redirect}"
        ))
        .current_dir(r.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", r.path().join("home"))
        .env("SOPS_AGE_KEY_FILE", &r.key_file)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn a_regular_file_on_stdout_is_refused_and_with_force_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let r = repo_with_secrets();
    let o = sh(&r, "", "> out.json");
    assert_error(&o);
    assert!(
        stderr(&o).contains("out.json; export writes plaintext secrets only to a pipe"),
        "{}",
        stderr(&o)
    );
    assert_eq!(r.read("out.json"), "", "nothing was written");
    let o = sh(&r, "--force", "> out.json");
    assert_ok(&o);
    assert!(r.read("out.json").contains("pa55"));
    let mode = std::fs::metadata(r.path().join("out.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // A pipe and /dev/null stay fine.
    assert_ok(&sh(&r, "", "> /dev/null"));
    assert_ok(&sh(&r, "", "| cat > /dev/null"));
}

#[test]
fn a_stage_file_or_a_sops_file_on_stdout_is_refused_even_with_force() {
    let r = repo_with_secrets();
    let stage_file = r.read("secrets/prod.yml");
    for redirect in [">> secrets/prod.yml", "> secrets/dev.yml"] {
        let o = sh(&r, "--force", redirect);
        assert_error(&o);
        assert!(
            stderr(&o).contains("refusing to write plaintext secrets"),
            "{redirect}: {}",
            stderr(&o)
        );
        assert!(!both_contains_value(&o), "{redirect}");
    }
    assert_eq!(
        r.read("secrets/prod.yml"),
        stage_file,
        "the stage file is untouched"
    );
    assert_eq!(
        r.read("secrets/dev.yml"),
        "",
        "the shell made it; nothing was written"
    );
    // A sops file outside the secrets folder.
    r.write("backup.yml", &stage_file);
    let o = sh(&r, "--force", ">> backup.yml");
    assert_error(&o);
    assert!(
        stderr(&o).contains("it is a sops-encrypted file"),
        "{}",
        stderr(&o)
    );
    assert_eq!(r.read("backup.yml"), stage_file);
}

fn both_contains_value(o: &std::process::Output) -> bool {
    common::both(o).contains("pa55")
}
