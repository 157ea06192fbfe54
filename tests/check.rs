//! `check` on fixtures built with the real binary and real sops: every finding with its
//! file:line, its fix and the exit code; no value on any output. And the pre-commit hook
//! (`.pre-commit-hooks.yaml`) with the real `pre-commit` framework.

mod common;

use std::process::Output;

use common::{
    Repo, TEST_RECIPIENT_1, assert_error, assert_ok, both, git_ok, git_repo, second_recipient,
    stdout,
};

const VALUES: &[&str] = &["value-one", "value-two", "plain-secret", "half-plain"];

#[track_caller]
fn assert_no_values(o: &Output) {
    let text = both(o);
    for v in VALUES {
        assert!(!text.contains(v), "a secret value leaked: {v} in\n{text}");
    }
}

fn check(r: &Repo, args: &[&str]) -> Output {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    let o = r.run(&all);
    assert_no_values(&o);
    o
}

/// `check` with no age identity anywhere (a pre-commit hook on a machine without a key).
fn check_without_key(r: &Repo) -> Output {
    let o = r
        .cmd(".")
        .env_remove("SOPS_AGE_KEY_FILE")
        .args(["check"])
        .output()
        .unwrap();
    assert_no_values(&o);
    o
}

fn rule(recipients: &str) -> String {
    format!("creation_rules:\n  - path_regex: secrets/.*\\.yml$\n    age: {recipients}\n")
}

#[test]
fn a_clean_repository_passes_with_and_without_a_key() {
    let r = Repo::with_config();
    r.set("prod", "A1", "value-one");
    r.set("dev", "A1", "value-two");
    let o = check(&r, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    insta::assert_snapshot!("check_clean", stdout(&o));
    let o = check_without_key(&r);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    assert!(
        stdout(&o).contains("MAC verified for 0 of 2"),
        "{}",
        both(&o)
    );
}

#[test]
fn a_plaintext_stage_file_is_an_error() {
    let r = Repo::with_config();
    r.set("prod", "A1", "value-one");
    r.write("secrets/plain.yml", "# oops\nDB_PASSWORD: plain-secret\n");
    for o in [check(&r, &[]), check_without_key(&r)] {
        assert_eq!(o.status.code(), Some(1), "{}", both(&o));
        assert!(
            stdout(&o).contains("secrets/plain.yml:1: error: not a SOPS file: no `sops` metadata, so its values are in plain text\n  fix: don't commit it; add each value with `sls-secrets set --stage plain NAME`"),
            "{}",
            both(&o)
        );
    }
    insta::assert_snapshot!("check_plaintext", stdout(&check(&r, &["--stage", "plain"])));
}

#[test]
fn a_half_encrypted_file_names_the_clear_value_without_showing_it() {
    let r = Repo::with_config();
    r.set("prod", "A1", "value-one");
    r.set("prod", "B1", "value-two");
    let text = r.read("secrets/prod.yml");
    let b1 = text.lines().find(|l| l.starts_with("B1: ")).unwrap();
    r.write("secrets/prod.yml", &text.replace(b1, "B1: half-plain"));
    for o in [check(&r, &[]), check_without_key(&r)] {
        assert_eq!(o.status.code(), Some(1), "{}", both(&o));
        assert!(
            stdout(&o).contains("secrets/prod.yml:2: error: `B1` is in plain text, but the file's rule (`unencrypted_suffix: _unencrypted`) encrypts it\n  fix: the value is exposed: change it where it was issued, remove the line and `sls-secrets set --stage prod B1`\n"),
            "{}",
            both(&o)
        );
    }
    insta::assert_snapshot!("check_half_encrypted", stdout(&check(&r, &[])));
}

#[test]
fn an_extra_recipient_fails_with_the_rotate_fix() {
    let r = Repo::with_config();
    let second = second_recipient();
    r.write(".sops.yaml", &rule(&format!("{TEST_RECIPIENT_1},{second}")));
    r.set("prod", "A1", "value-one");
    r.write(".sops.yaml", &rule(TEST_RECIPIENT_1));
    let o = check_without_key(&r);
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("error: extra recipient: age `{second}` can open this file but .sops.yaml does not list it\n  fix: `sls-secrets rotate --stage prod`")),
        "{out}"
    );
    let line = r
        .read("secrets/prod.yml")
        .lines()
        .position(|l| l.contains(&second))
        .unwrap()
        + 1;
    assert!(
        out.contains(&format!("secrets/prod.yml:{line}: error: extra recipient")),
        "{out}"
    );
    // age's random grease stanzas move the line from run to run.
    insta::assert_snapshot!(
        "check_extra_recipient",
        out.replace(&format!(":{line}:"), ":LINE:")
    );
    // rotate is the fix.
    assert_ok(&r.run(&["rotate", "--stage", "prod"]));
    assert_eq!(check(&r, &[]).status.code(), Some(0));
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn an_invalid_or_reserved_name_is_an_error() {
    let sops = common::sops();
    let r = Repo::with_config();
    r.set("prod", "A1", "value-one");
    let o = common::run_sops(
        &sops,
        &r,
        &[
            "set",
            "secrets/prod.yml",
            r#"["AWS_REGION"]"#,
            r#""eu-west-1""#,
        ],
    );
    assert_ok(&o);
    let o = check(&r, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert!(
        stdout(&o).contains("secrets/prod.yml:2: error: `AWS_REGION` is reserved by AWS Lambda and can't be set on a function\n  fix: Lambda sets this variable itself; pick another name: `sls-secrets set --stage prod NEW_NAME`, then `sls-secrets rm --stage prod AWS_REGION`\n"),
        "{}",
        both(&o)
    );
    insta::assert_snapshot!("check_reserved_name", stdout(&o));
}

#[test]
fn a_name_missing_in_one_stage_is_a_warning_and_fails_with_strict() {
    let r = Repo::with_config();
    r.set("prod", "A1", "value-one");
    r.set("prod", "B1", "value-two");
    r.set("dev", "A1", "value-one");
    let o = check(&r, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let out = stdout(&o);
    assert!(
        out.contains("secrets/dev.yml:1: warning: `B1` is set for prod but not for dev\n  fix: `sls-secrets set --stage dev B1` if dev needs it\n"),
        "{out}"
    );
    insta::assert_snapshot!("check_missing_in_one_stage", out);
    assert_eq!(check(&r, &["--strict"]).status.code(), Some(1));
    // One stage alone has nothing to compare with.
    assert_eq!(
        check(&r, &["--strict", "--stage", "dev"]).status.code(),
        Some(0)
    );
}

#[test]
fn with_a_key_a_tampered_value_fails_the_mac() {
    let r = Repo::with_config();
    r.set("prod", "A1", "value-one");
    r.set("prod", "B1", "value-two");
    let text = r.read("secrets/prod.yml");
    let a1 = text
        .lines()
        .find(|l| l.starts_with("A1: "))
        .unwrap()
        .to_owned();
    let b1 = text
        .lines()
        .find(|l| l.starts_with("B1: "))
        .unwrap()
        .to_owned();
    // A1 gets B1's ciphertext: still ENC[...], but bound to the other name (the AAD).
    let tampered = text.replace(&a1[4..], &b1[4..]);
    r.write("secrets/prod.yml", &tampered);
    let o = check(&r, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert!(
        stdout(&o).contains("error: does not decrypt:"),
        "{}",
        both(&o)
    );
    // Without a key the structure is fine: nothing to report.
    assert_eq!(check_without_key(&r).status.code(), Some(0));
}

#[test]
fn with_a_key_and_serverless_yml_each_stage_must_render() {
    let r = Repo::with_config();
    r.write(
        "serverless.yml",
        "service: x\nprovider:\n  name: aws\nfunctions:\n  api:\n    handler: h.api\n",
    );
    r.set("dev", "A1", "value-one");
    r.run_stdin(&["set", "--stage", "prod", "BIG"], &"x".repeat(5000));
    let o = check(&r, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    let out = stdout(&o);
    assert!(
        out.contains("serverless.yml:1: error: rendering stage prod would fail: "),
        "{out}"
    );
    assert!(!out.contains("stage dev would fail"), "{out}");
    assert!(!out.contains("xxxxxxxx"), "{out}");
    // Nothing written.
    assert_eq!(
        r.read("serverless.yml"),
        "service: x\nprovider:\n  name: aws\nfunctions:\n  api:\n    handler: h.api\n"
    );
    assert!(!r.path().join("secrets/.sls-secrets-tmp").exists());
}

#[test]
fn a_dollar_brace_value_fails_the_render_check_when_serverless_v4_reads_the_file() {
    let r = Repo::with_config();
    let service = "service: x\nframeworkVersion: '4'\nprovider:\n  name: aws\n";
    r.write("serverless.yml", service);
    r.set("prod", "TEMPLATE", "Hello ${name}");
    let o = check(&r, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert!(
        stdout(&o).contains(
            "rendering stage prod would fail: secret `TEMPLATE`: the value contains `${`"
        ),
        "{}",
        stdout(&o)
    );
    // Serverless v3 reads `${` escaped: the same value renders there.
    r.write("serverless.yml", &service.replace("'4'", "'3'"));
    assert_eq!(check(&r, &[]).status.code(), Some(0));
}

#[test]
fn errors_exit_2() {
    let r = Repo::new();
    assert_error(&check(&r, &[]));
    let r = Repo::with_config();
    assert_error(&check(&r, &["--stage", "nope"]));
}

/// The pre-commit framework installed by scripts/test.
fn pre_commit() -> std::path::PathBuf {
    common::tool(
        "SLS_SECRETS_TEST_PRECOMMIT",
        ".venv-precommit/bin/pre-commit",
        "the pre-commit framework",
    )
}

/// A git repository holding only the shipped `.pre-commit-hooks.yaml`; returns its commit.
fn hooks_repo(dir: &std::path::Path) -> String {
    let hooks = Repo::new();
    std::fs::remove_dir(hooks.path().join(".git")).unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".pre-commit-hooks.yaml");
    std::fs::copy(&shipped, hooks.path().join(".pre-commit-hooks.yaml")).unwrap();
    git_ok(&hooks, &["init", "-q"]);
    git_ok(&hooks, &["add", ".pre-commit-hooks.yaml"]);
    git_ok(&hooks, &["commit", "-q", "-m", "hooks"]);
    let sha = git_ok(&hooks, &["rev-parse", "HEAD"]).trim().to_owned();
    let kept = hooks.dir.keep();
    std::fs::rename(&kept, dir).unwrap();
    sha
}

#[test]
#[ignore = "needs pre-commit: scripts/test sets it up and runs this"]
fn the_pre_commit_hook_blocks_a_plaintext_stage_file_and_passes_a_valid_one() {
    let pre_commit = pre_commit();
    let r = git_repo();
    let hooks_dir = r.path().join("home/hooks");
    let sha = hooks_repo(&hooks_dir);
    r.write(
        ".pre-commit-config.yaml",
        &format!(
            "repos:\n  - repo: {}\n    rev: {sha}\n    hooks:\n      - id: sls-secrets-check\n",
            hooks_dir.display()
        ),
    );
    // The hook runs `sls-secrets` from PATH, with no key (a fresh clone's developer).
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_sls-secrets"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let hook_env = |c: &mut std::process::Command| {
        c.env("PATH", &path)
            .env("PRE_COMMIT_HOME", r.path().join("home/pre-commit-cache"))
            .env_remove("SOPS_AGE_KEY_FILE");
    };
    let mut c = std::process::Command::new(&pre_commit);
    c.args(["install"])
        .current_dir(r.path())
        .env_clear()
        .env("HOME", r.path().join("home"));
    hook_env(&mut c);
    assert_ok(&c.output().unwrap());
    let commit = |msg: &str| {
        let mut c = common::git_cmd(&r);
        hook_env(&mut c);
        c.args(["commit", "-q", "-m", msg]).output().unwrap()
    };
    // .sops.yaml runs the hook too: no stage file yet is fine.
    git_ok(&r, &["add", "-A"]);
    assert_ok(&commit("set up"));
    r.write("secrets/x.yml", "DB_PASSWORD: plain-secret\n");
    git_ok(&r, &["add", "secrets/x.yml"]);
    let o = commit("plaintext");
    assert!(!o.status.success(), "the hook must block it: {}", both(&o));
    assert_no_values(&o);
    let out = both(&o);
    assert!(out.contains("sls-secrets check"), "{out}");
    assert!(
        out.contains("secrets/x.yml:1: error: not a SOPS file"),
        "{out}"
    );
    assert_eq!(git_ok(&r, &["log", "--format=%s"]), "set up\n");

    std::fs::remove_file(r.path().join("secrets/x.yml")).unwrap();
    r.set("x", "DB_PASSWORD", "value-one");
    git_ok(&r, &["add", "-A"]);
    let o = commit("encrypted");
    assert_ok(&o);
    assert_no_values(&o);
    assert_eq!(git_ok(&r, &["log", "--format=%s"]), "encrypted\nset up\n");
}

/// `plain` encrypted by the real sops for the test recipient with `flags`, as
/// `secrets/prod.yml`.
fn sops_made(r: &Repo, plain: &str, flags: &[&str]) {
    let mut all = vec!["--age", TEST_RECIPIENT_1];
    all.extend_from_slice(flags);
    let text = common::sops_encrypt_as(r, "secrets/prod.yml", plain, &all);
    r.write("secrets/prod.yml", &text);
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn a_sops_file_whose_settings_leave_every_value_in_clear_fails_with_and_without_a_key() {
    for flags in [
        &["--unencrypted-regex", ".*"][..],
        &["--encrypted-regex", "^NOTHING$"][..],
        &["--encrypted-suffix", "_enc"][..],
    ] {
        let r = Repo::with_config();
        sops_made(&r, "A1: plain-secret\nB1: half-plain\n", flags);
        assert!(r.read("secrets/prod.yml").contains("A1: plain-secret"));
        for o in [check(&r, &[]), check_without_key(&r)] {
            assert_eq!(o.status.code(), Some(1), "{flags:?}: {}", both(&o));
            let out = stdout(&o);
            assert!(
                out.contains("secrets/prod.yml:1: error: `A1` is in plain text, but .sops.yaml's rule (`unencrypted_suffix: _unencrypted`) encrypts it"),
                "{flags:?}: {out}"
            );
            assert!(
                out.contains("error: `B1` is in plain text"),
                "{flags:?}: {out}"
            );
            assert!(
                out.contains("error: encryption setting: the file says `"),
                "{flags:?}: {out}"
            );
        }
        // rotate encrypts it by the rule: check passes, and sops reads the result.
        assert_ok(&r.run(&["rotate", "--stage", "prod"]));
        assert!(!r.read("secrets/prod.yml").contains("plain-secret"));
        assert_eq!(check(&r, &[]).status.code(), Some(0), "{flags:?}");
    }
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn a_comment_in_clear_in_an_encrypted_file_is_an_error() {
    let r = Repo::with_config();
    r.set("prod", "A1", "value-one");
    let text = r.read("secrets/prod.yml");
    r.write(
        "secrets/prod.yml",
        &format!("# old password: plain-secret\n{text}"),
    );
    let o = check_without_key(&r);
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert!(
        stdout(&o).contains(
            "secrets/prod.yml:1: error: a comment is in plain text in an encrypted file (sops encrypts comments)"
        ),
        "{}",
        stdout(&o)
    );
    // A comment sops encrypted is fine.
    let r = Repo::with_config();
    sops_made(&r, "# the database\nA1: value-one\n", &[]);
    assert!(r.read("secrets/prod.yml").contains("#ENC["));
    assert_eq!(check(&r, &[]).status.code(), Some(0));
    // Under `encrypted_regex`, sops leaves top-level comments in clear: no finding when the
    // repository's rule says so too.
    let r = Repo::with_config();
    r.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: secrets/.*\\.yml$\n    age: {TEST_RECIPIENT_1}\n    encrypted_regex: ^A\n"
        ),
    );
    r.write("home/plain.yml", "# a note\nA1: value-one\n");
    let sops = common::sops();
    let o = common::run_sops(
        &sops,
        &r,
        &[
            "encrypt",
            "--filename-override",
            "secrets/prod.yml",
            "home/plain.yml",
        ],
    );
    assert_ok(&o);
    r.write("secrets/prod.yml", &stdout(&o));
    assert!(r.read("secrets/prod.yml").contains("# a note"));
    let o = check(&r, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
}

/// `sls package` writes every environment value in clear into `.serverless/`: `check` warns
/// while git would commit it, `init` adds it to `.gitignore` once, and a `.gitignore` that is
/// a link is left alone.
#[test]
fn check_warns_until_init_makes_git_ignore_the_serverless_folder() {
    let r = git_repo();
    r.write(
        "serverless.yml",
        "service: x\nprovider:\n  name: aws\nfunctions:\n  api:\n    handler: h.api\n",
    );
    r.set("prod", "A1", "value-one");
    let o = check(&r, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let out = stdout(&o);
    assert!(
        out.contains(".gitignore:2: warning: git does not ignore `.serverless/`"),
        "{out}"
    );
    assert_eq!(check(&r, &["--strict"]).status.code(), Some(1));

    assert_ok(&r.run(&["init"]));
    assert_ok(&r.run(&["init"]));
    let ignore = r.read(".gitignore");
    assert_eq!(ignore.matches(".serverless/").count(), 1, "{ignore}");
    assert!(ignore.starts_with("home/\n"), "kept: {ignore}");
    let o = check(&r, &["--strict"]);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    assert!(!stdout(&o).contains(".serverless"), "{}", stdout(&o));
}

#[test]
fn init_leaves_a_gitignore_link_alone_and_says_so() {
    let r = git_repo();
    r.write("elsewhere/ignore", "home/\n");
    std::fs::remove_file(r.path().join(".gitignore")).unwrap();
    std::os::unix::fs::symlink("elsewhere/ignore", r.path().join(".gitignore")).unwrap();
    let o = r.run(&["init"]);
    assert_ok(&o);
    assert!(
        both(&o).contains("is not a regular file; add `.serverless/` to it yourself"),
        "{}",
        both(&o)
    );
    assert_eq!(r.read("elsewhere/ignore"), "home/\n");
    assert!(
        std::fs::symlink_metadata(r.path().join(".gitignore"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}
