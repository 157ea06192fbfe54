//! The `render` command end to end: output modes, stage choice, seed.yml opt-out, masked
//! diff snapshot, and no secret in anything printed.

mod common;

use common::{Repo, assert_error, assert_ok, stderr, stdout};

const SERVICE: &str = "service: svc\nprovider:\n  name: aws\n  stage: ${opt:stage, 'staging'}\n  environment:\n    # keep me\n    LOG_LEVEL: info\n    API_KEY: placeholder\nfunctions:\n  fn1:\n    handler: h.fn1\n";

fn repo() -> Repo {
    let r = Repo::with_config();
    r.write("svc/serverless.yml", SERVICE);
    r.set("staging", "API_KEY", "staging-api-key-1234");
    r.set("staging", "DB_PASSWORD", "staging-db-pass-5678");
    r.set("prod", "API_KEY", "prod-api-key-9999");
    r
}

#[test]
fn stdout_by_default_with_the_stage_from_the_file() {
    let r = repo();
    let o = r.cmd("svc").args(["render"]).output().unwrap();
    assert_ok(&o);
    assert_eq!(
        stdout(&o),
        SERVICE.replace(
            "API_KEY: placeholder\n",
            "API_KEY: \"staging-api-key-1234\"\n    DB_PASSWORD: \"staging-db-pass-5678\"\n"
        )
    );
    assert!(
        stderr(&o)
            .contains("stage `staging` (from default of ${opt:stage, ...} in serverless.yml)"),
        "{}",
        stderr(&o)
    );
    // The config is untouched.
    assert_eq!(r.read("svc/serverless.yml"), SERVICE);
}

#[test]
fn masked_diff_is_deterministic_and_leaks_nothing() {
    let r = repo();
    let o = r
        .cmd("svc")
        .args(["render", "--stage", "staging", "--diff", "--exit-code"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let all = stdout(&o) + &stderr(&o);
    assert!(
        !all.contains("staging-api-key") && !all.contains("staging-db-pass"),
        "{all}"
    );
    insta::assert_snapshot!("render_cli_masked_diff", stdout(&o));
    let again = r
        .cmd("svc")
        .args(["render", "--stage", "staging", "--diff"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(stdout(&again), stdout(&o));

    let shown = r
        .cmd("svc")
        .args(["render", "--stage", "staging", "--diff", "--show-values"])
        .output()
        .unwrap();
    assert!(
        stdout(&shown).contains("+    DB_PASSWORD: \"staging-db-pass-5678\""),
        "{}",
        stdout(&shown)
    );
    assert!(stdout(&shown).contains("-    API_KEY: placeholder"));
}

#[test]
fn masked_diff_of_an_already_rendered_file_hides_the_secrets_it_holds() {
    let r = repo();
    let o = r
        .cmd("svc")
        .args(["render", "--stage", "staging", "--in-place", "--force"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert!(
        r.read("svc/serverless.yml")
            .contains("staging-db-pass-5678")
    );
    r.set("staging", "NEW_TOKEN", "staging-new-token-4242");
    let o = r
        .cmd("svc")
        .args(["render", "--stage", "staging", "--diff"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_ok(&o);
    let out = stdout(&o);
    // The old secrets are context lines next to the added one: masked, not shown.
    assert!(out.contains("+    NEW_TOKEN: \"****\""), "{out}");
    assert!(out.contains("     DB_PASSWORD: ****"), "{out}");
    for v in [
        "staging-api-key-1234",
        "staging-db-pass-5678",
        "staging-new-token-4242",
    ] {
        assert!(!out.contains(v), "{v} leaked:\n{out}");
        assert!(!stderr(&o).contains(v));
    }
}

#[test]
fn output_file_is_private_and_in_place_refuses_tracked_files() {
    let r = repo();
    let o = r
        .cmd("svc")
        .args(["render", "-s", "prod", "-o", "rendered.yml"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert!(
        r.read("svc/rendered.yml")
            .contains("API_KEY: \"prod-api-key-9999\"")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(r.path().join("svc/rendered.yml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A real git repository that tracks serverless.yml.
    std::fs::remove_dir_all(r.path().join(".git")).unwrap();
    let git = |args: &[&str]| {
        assert!(
            std::process::Command::new("git")
                .args(args)
                .current_dir(r.path())
                .env("HOME", r.path().join("home"))
                .output()
                .unwrap()
                .status
                .success()
        );
    };
    git(&["init", "-q"]);
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "add",
        "svc/serverless.yml",
    ]);
    let o = r
        .cmd("svc")
        .args(["render", "-s", "prod", "--in-place"])
        .output()
        .unwrap();
    assert_error(&o);
    assert!(stderr(&o).contains("tracked by git"), "{}", stderr(&o));
    assert_eq!(r.read("svc/serverless.yml"), SERVICE, "nothing written");
    // Without git the answer is unknown: fail closed.
    let o = r
        .cmd("svc")
        .args(["render", "-s", "prod", "--in-place"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_error(&o);
    assert!(stderr(&o).contains("can't tell"), "{}", stderr(&o));
    assert_eq!(r.read("svc/serverless.yml"), SERVICE, "nothing written");
    // `CI=` (empty) is not set.
    let o = r
        .cmd("svc")
        .args(["render", "-s", "prod", "--in-place"])
        .env("CI", "")
        .output()
        .unwrap();
    assert_error(&o);
    assert!(stderr(&o).contains("tracked by git"), "{}", stderr(&o));
    assert_eq!(r.read("svc/serverless.yml"), SERVICE, "nothing written");
    let o = r
        .cmd("svc")
        .args(["render", "-s", "prod", "--in-place"])
        .env("CI", "true")
        .output()
        .unwrap();
    assert_ok(&o);
    assert!(r.read("svc/serverless.yml").contains("prod-api-key-9999"));
    // --force on a tracked file, outside CI.
    let o = r
        .cmd("svc")
        .args(["render", "-s", "staging", "--in-place", "--force"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert!(
        r.read("svc/serverless.yml")
            .contains("staging-db-pass-5678")
    );
}

#[test]
fn seed_opt_out_leaves_the_environment_alone_without_needing_a_key() {
    let r = repo();
    r.write(
        "seed.yml",
        "before_compile:\n  - echo hi\nsls_set_secret_envs: false\n",
    );
    let o = r
        .cmd("svc")
        .env("SOPS_AGE_KEY_FILE", "/nonexistent")
        .args(["render", "--stage", "staging"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(stdout(&o), SERVICE);
    assert!(
        stderr(&o).contains("sls_set_secret_envs: false"),
        "{}",
        stderr(&o)
    );
    // --set-env overrides the opt-out.
    let o = r
        .cmd("svc")
        .args(["render", "--stage", "staging", "--set-env"])
        .output()
        .unwrap();
    assert!(stdout(&o).contains("staging-db-pass-5678"));
    // exec still gives the build its secrets (Seed: the opt-out only stops Lambda injection).
    let o = r
        .cmd("svc")
        .args([
            "exec",
            "--stage",
            "staging",
            "--",
            "sh",
            "-c",
            "echo $DB_PASSWORD",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "staging-db-pass-5678\n");
}

#[test]
fn bad_input_is_a_located_error_and_writes_nothing() {
    let r = repo();
    r.write(
        "svc/serverless.yml",
        "provider:\n  environment:\n    A: [unclosed\n",
    );
    let o = r
        .cmd("svc")
        .args(["render", "-s", "staging", "-o", "out.yml"])
        .output()
        .unwrap();
    assert_error(&o);
    assert!(stderr(&o).contains("serverless.yml:"), "{}", stderr(&o));
    assert!(!r.path().join("svc/out.yml").exists());
    let o = r
        .cmd("svc")
        .args(["render", "-s", "nosuchstage"])
        .output()
        .unwrap();
    assert_error(&o);
    assert!(stderr(&o).contains("has no secrets file"), "{}", stderr(&o));
    let o = r
        .cmd(".")
        .args(["render", "-s", "staging"])
        .output()
        .unwrap();
    assert_error(&o);
    assert!(stderr(&o).contains("no serverless.yml"), "{}", stderr(&o));
}

#[test]
fn no_set_env_and_the_dev_fallback() {
    let r = repo();
    // --no-set-env: nothing injected, and no key needed.
    let o = r
        .cmd("svc")
        .env("SOPS_AGE_KEY_FILE", "/nonexistent")
        .args(["render", "--stage", "staging", "--no-set-env"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(stdout(&o), SERVICE);
    assert!(stderr(&o).contains("turned off"), "{}", stderr(&o));

    // No --stage and no stage in the file: `dev`, and stderr says why.
    r.write(
        "svc/serverless.yml",
        "service: svc\nprovider:\n  name: aws\n",
    );
    r.set("dev", "DEV_ONLY", "dev-secret-value");
    let o = r.cmd("svc").args(["render"]).output().unwrap();
    assert_ok(&o);
    assert!(
        stdout(&o).contains("    DEV_ONLY: \"dev-secret-value\"\n"),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("stage `dev` ("), "{}", stderr(&o));
}

#[test]
fn readme_demo_command_shows_a_masked_diff() {
    // The README's first command, exactly: on the committed demo with its demo key.
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_sls-secrets"))
        .current_dir(&demo)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &demo)
        .env("NO_COLOR", "1")
        .env("SOPS_AGE_KEY_FILE", "demo-age-key.txt")
        .args(["render", "--stage", "production", "--diff"])
        .output()
        .unwrap();
    assert_ok(&o);
    let out = stdout(&o);
    assert!(out.contains("+    STRIPE_API_KEY: \"****\""), "{out}");
    insta::assert_snapshot!("readme_demo_diff", out);
}

#[test]
fn render_keeps_only_lambdas_rule_so_build_variables_render() {
    // `exec` refuses NODE_OPTIONS (a build is not a Lambda function); Lambda accepts it, so
    // render writes it.
    let r = repo();
    r.set("staging", "NODE_OPTIONS", "--enable-source-maps");
    let out = rendered(&r);
    assert!(
        out.contains("NODE_OPTIONS: \"--enable-source-maps\""),
        "{out}"
    );
}

/// `render -s staging` of `svc/serverless.yml`: what it prints.
fn rendered(r: &Repo) -> String {
    let o = r
        .cmd("svc")
        .args(["render", "-s", "staging"])
        .output()
        .unwrap();
    assert_ok(&o);
    stdout(&o)
}

#[test]
fn a_parse_error_never_prints_one_line_of_a_multi_line_secret() {
    let r = repo();
    r.set(
        "staging",
        "TLS_KEY",
        "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----\n",
    );
    // A broken hand edit of an earlier render: the key's second line ended up as a value.
    let e = render_error(
        &r,
        "service: svc\nprovider:\n  name: aws\n  environment:\n    BROKEN: MIIEvQIBADANBgkqhkiG9w0BAQEFAASC: x\n",
    );
    assert!(e.contains("5:"), "the error still says where: {e}");
    assert!(!e.contains("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"), "{e}");
    assert!(!e.contains("MIIEvQIB"), "{e}");
}

#[test]
fn diff_lines_never_carry_a_raw_control_character() {
    let r = repo();
    r.write(
        "svc/serverless.yml",
        &SERVICE.replace("    # keep me\n", "    # evil \u{1b}[2J\u{9b}1m\ttabbed\n"),
    );
    for extra in [&[][..], &["--show-values"][..]] {
        let o = r
            .cmd("svc")
            .args(["render", "--stage", "staging", "--diff"])
            .args(extra)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert_ok(&o);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            !out.chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t'),
            "{extra:?}: {out:?}"
        );
        assert!(
            out.contains(" # evil \\u{1b}[2J\\u{9b}1m\ttabbed\n"),
            "{extra:?}: {out}"
        );
    }
}

#[test]
fn a_parse_error_message_never_names_a_line_of_a_secret() {
    let r = repo();
    r.set(
        "staging",
        "MULTI",
        "first-line\nSECRETLINEONEabc\nlast-line\n",
    );
    // A duplicate key equal to one line of the secret: the message names the key.
    let e = render_error(
        &r,
        "service: svc\nprovider:\n  name: aws\n  environment:\n    SECRETLINEONEabc: a\n    SECRETLINEONEabc: b\n",
    );
    assert!(
        e.contains("6:") && e.contains("duplicate mapping key"),
        "{e}"
    );
    assert!(!e.contains("SECRETLINEONE"), "{e}");
}

/// `render -s staging` of `yaml`: it must fail; its stderr.
fn render_error(r: &Repo, yaml: &str) -> String {
    r.write("svc/serverless.yml", yaml);
    let o = r
        .cmd("svc")
        .args(["render", "-s", "staging"])
        .output()
        .unwrap();
    assert_error(&o);
    stderr(&o)
}

#[test]
fn serverless_v4_has_no_escape_for_placeholders_so_render_refuses_them() {
    let r = Repo::with_config();
    r.write(
        "svc/serverless.yml",
        "service: svc\nprovider:\n  name: aws\n  runtime: nodejs20.x\n",
    );
    r.set("prod", "TEMPLATE", "hello ${name} from-a-secret");
    r.set("prod", "PLAIN", "plain-secret-value");
    let render = |args: &[&str]| {
        r.cmd("svc")
            .args(["render", "--stage", "prod"])
            .args(args)
            .output()
            .unwrap()
    };
    // No package.json, no frameworkVersion: v3 rules, `${` escaped.
    let o = render(&[]);
    assert_ok(&o);
    assert!(
        stderr(&o).contains("framework Serverless v3 (the default"),
        "{}",
        stderr(&o)
    );
    assert!(
        stdout(&o).contains(r#"TEMPLATE: "hello \\${name} from-a-secret""#),
        "{}",
        stdout(&o)
    );

    // The repository's package.json asks for Serverless v4: refused, nothing printed.
    r.write(
        "package.json",
        r#"{"name": "app", "devDependencies": {"serverless": "^4.4.1"}}"#,
    );
    let o = render(&[]);
    assert_error(&o);
    let err = stderr(&o);
    assert!(
        err.contains("framework Serverless v4 (") && err.contains("serverless ^4.4.1"),
        "{err}"
    );
    assert!(
        err.contains("secret `TEMPLATE`") && err.contains("plugins: [sls-secrets]"),
        "{err}"
    );
    assert!(
        !err.contains("from-a-secret") && stdout(&o).is_empty(),
        "{err}"
    );
    // --framework overrides; osls reads `\${` like v3.
    let o = render(&["--framework", "osls"]);
    assert_ok(&o);
    assert!(
        stderr(&o).contains("framework osls (from --framework)"),
        "{}",
        stderr(&o)
    );
    // The nearest package.json wins: the service depends on osls.
    r.write(
        "svc/package.json",
        r#"{"devDependencies": {"osls": "^4.3.1"}}"#,
    );
    let o = render(&[]);
    assert_ok(&o);
    assert!(stderr(&o).contains("framework osls ("), "{}", stderr(&o));
    // frameworkVersion is the fallback without a package.json naming a framework.
    std::fs::remove_file(r.path().join("svc/package.json")).unwrap();
    std::fs::remove_file(r.path().join("package.json")).unwrap();
    r.write(
        "svc/serverless.yml",
        "service: svc\nframeworkVersion: '4'\nprovider:\n  name: aws\n",
    );
    let o = render(&[]);
    assert_error(&o);
    assert!(
        stderr(&o).contains("frameworkVersion: '4'"),
        "{}",
        stderr(&o)
    );
}

/// Render makes no thread: under a container's pid limit that allows no second task, a
/// large render works (an earlier version panicked there with "failed to spawn thread").
/// The limit is a cgroup (v1 `pids` controller, as root) allowing one task.
#[test]
fn a_large_render_works_where_no_thread_can_be_made() {
    let root = std::path::Path::new("/sys/fs/cgroup/pids");
    let group = root.join(format!("sls-secrets-test-{}", std::process::id()));
    if std::fs::create_dir(&group).is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs a writable cgroup v1 pids controller at {} (root)",
            root.display()
        );
        eprintln!("skipped: no writable {}", root.display());
        return;
    }
    std::fs::write(group.join("pids.max"), "1").unwrap();
    let r = repo();
    let mut big = String::from("service: big\nprovider:\n  name: aws\nfunctions:\n");
    for i in 0..3000 {
        big.push_str(&format!(
            "  fn{i}:\n    handler: h.f{i}\n    environment:\n      API_KEY: old\n"
        ));
    }
    r.write("big/serverless.yml", &big);
    let base = r.cmd("big");
    let mut c = std::process::Command::new("sh");
    // Join the cgroup, then become the binary (same pid): its threads count against the limit.
    c.arg("-c")
        .arg(format!(
            "echo $$ > {}/cgroup.procs && exec \"$0\" \"$@\"",
            group.display()
        ))
        .arg(base.get_program())
        .args(["render", "--stage", "prod"])
        .env_clear()
        .current_dir(base.get_current_dir().unwrap());
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    let o = c.output().unwrap();
    let _ = std::fs::remove_dir(&group);
    assert_ok(&o);
    let expected = big
        .replace(
            "  name: aws\n",
            "  name: aws\n  environment:\n    API_KEY: \"prod-api-key-9999\"\n",
        )
        .replace(
            "      API_KEY: old\n",
            "      API_KEY: \"prod-api-key-9999\"\n",
        );
    assert!(stdout(&o) == expected, "{}", stderr(&o));
}

/// `custom.slsSecrets.delivery: sealed` is the plugin's (docs/sealed.md): render refuses it,
/// at its line, with the plugin as the hint, and writes nothing; `environment` renders as
/// without the key, and so does a `kmsKeyArn` beside it.
#[test]
fn sealed_delivery_is_refused_with_the_plugin_as_hint() {
    let r = repo();
    let custom = |delivery: &str| {
        SERVICE.replace(
            "provider:\n",
            &format!(
                "custom:\n  slsSecrets:\n    kmsKeyArn: arn:aws:kms:eu-west-1:111122223333:key/k\n    delivery: {delivery}\nprovider:\n"
            ),
        )
    };
    for (delivery, needle) in [
        ("sealed", "custom.slsSecrets.delivery is `sealed`"),
        ("${self:custom.mode}", "holds a variable"),
        ("plain", "neither `environment` nor `sealed`"),
    ] {
        r.write("svc/serverless.yml", &custom(delivery));
        let o = r
            .cmd("svc")
            .args(["render", "-s", "staging", "-o", "out.yml"])
            .output()
            .unwrap();
        assert_error(&o);
        let err = stderr(&o);
        assert!(
            err.contains("serverless.yml:5") && err.contains(needle),
            "{err}"
        );
        if delivery == "sealed" {
            assert!(
                err.contains("hint: sealed delivery is done by the Serverless plugin"),
                "{err}"
            );
        }
        assert!(!err.contains("staging-api-key-1234"), "{err}");
        assert!(!r.path().join("svc/out.yml").exists());
    }
    r.write("svc/serverless.yml", &custom("environment"));
    let out = rendered(&r);
    assert!(out.contains("API_KEY: \"staging-api-key-1234\""), "{out}");
}
