//! `exec`: secrets reach the child's environment only, exit codes and signals pass through,
//! output masking works across chunk boundaries.

mod common;

use common::{Repo, assert_error, assert_ok, stderr, stdout};

fn repo() -> Repo {
    let r = Repo::with_config();
    r.set("prod", "DB_PASSWORD", "pa55-w0rd-xyz");
    r.set("prod", "HOME_OVERRIDE", "ok");
    r.set("prod", "SHORT", "ab");
    r
}

#[test]
fn secrets_override_inherited_variables() {
    let r = repo();
    let o = r
        .cmd(".")
        .env("DB_PASSWORD", "inherited")
        .env("KEEP_ME", "kept")
        .args([
            "exec",
            "--stage",
            "prod",
            "--",
            "sh",
            "-c",
            "echo \"$DB_PASSWORD|$KEEP_ME|$SHORT\"",
        ])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(stdout(&o), "pa55-w0rd-xyz|kept|ab\n");
    assert!(
        stderr(&o).contains("override inherited DB_PASSWORD"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("pa55"), "{}", stderr(&o));
}

#[test]
fn pristine_passes_only_secrets_path_and_home() {
    let r = repo();
    let o = r
        .cmd(".")
        .env("KEEP_ME", "kept")
        .args(["exec", "--stage", "prod", "--pristine", "--", "env"])
        .output()
        .unwrap();
    assert_ok(&o);
    let mut names: Vec<String> = stdout(&o)
        .lines()
        .map(|l| l.split('=').next().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["DB_PASSWORD", "HOME", "HOME_OVERRIDE", "PATH", "SHORT"]
    );
}

#[test]
fn exit_codes_and_signals_pass_through() {
    let r = repo();
    let code = |args: &[&str]| {
        let mut all = vec!["exec", "--stage", "prod", "--"];
        all.extend_from_slice(args);
        r.run(&all).status.code()
    };
    assert_eq!(code(&["true"]), Some(0));
    assert_eq!(code(&["sh", "-c", "exit 3"]), Some(3));
    assert_eq!(code(&["sh", "-c", "kill -TERM $$"]), Some(128 + 15));
    assert_eq!(code(&["sh", "-c", "kill -KILL $$"]), Some(128 + 9));
    let o = r.run(&["exec", "--stage", "prod", "--", "/no/such/program"]);
    assert_error(&o);
}

#[test]
fn arguments_keep_spaces_and_quotes() {
    let r = repo();
    let o = r.run(&[
        "exec",
        "--stage",
        "prod",
        "--",
        "printf",
        "[%s]\n",
        "a b",
        "it's \"q\"",
        "",
        "$DB_PASSWORD",
    ]);
    assert_ok(&o);
    assert_eq!(stdout(&o), "[a b]\n[it's \"q\"]\n[]\n[$DB_PASSWORD]\n");
}

/// Sends `signal` to `sls-secrets exec` and checks the child got it (it traps it and exits 7).
fn forwards(signal: &str) {
    let r = repo();
    let script = format!(
        "trap 'echo got-{signal}; exit 7' {signal}; echo ready; while :; do sleep 0.05; done"
    );
    let mut child = r
        .cmd(".")
        .args(["exec", "--stage", "prod", "--", "sh", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 6];
    std::io::Read::read_exact(&mut out, &mut buf).unwrap();
    assert_eq!(&buf, b"ready\n");
    std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(rest, format!("got-{signal}\n"));
    assert_eq!(status.code(), Some(7));
}

#[test]
fn sigterm_is_forwarded_to_the_child() {
    forwards("TERM");
}

#[test]
fn sigint_from_outside_the_terminal_is_forwarded_to_the_child() {
    // From a terminal the child gets Ctrl-C from the kernel itself, so only a signal sent
    // to us (CI cancelling a job) is forwarded.
    forwards("INT");
}

#[test]
fn mask_output_hides_values_even_split_across_writes() {
    let r = repo();
    let script = "printf 'pass=pa55-'; sleep 0.2; printf 'w0rd-xyz end\\n'; echo \"$DB_PASSWORD\" >&2; echo short=$SHORT";
    let o = r.run(&[
        "exec",
        "--stage",
        "prod",
        "--mask-output",
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_ok(&o);
    assert_eq!(stdout(&o), "pass=*** end\nshort=ab\n");
    assert!(stderr(&o).contains("***\n"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("SHORT (values shorter than 4"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("pa55"));
}

#[cfg(target_os = "linux")]
#[test]
fn secrets_are_not_in_the_child_command_line() {
    let r = repo();
    let o = r.run(&[
        "exec",
        "--stage",
        "prod",
        "--",
        "sh",
        "-c",
        "cat /proc/$$/cmdline; printf '\\n'; cat /proc/$PPID/cmdline",
    ]);
    assert_ok(&o);
    let text = stdout(&o);
    assert!(text.contains("exec"), "{text}");
    assert!(!text.contains("pa55-w0rd-xyz"), "{text}");
}

#[test]
fn the_child_never_sees_the_age_key_and_stage_files_cannot_hijack_it() {
    let r = repo();
    let o = r
        .cmd(".")
        .env("SOPS_AGE_KEY_CMD", format!("cat {}", r.key_file.display()))
        .args([
            "exec",
            "--stage",
            "prod",
            "--",
            "sh",
            "-c",
            "echo \"[$SOPS_AGE_KEY_FILE][$SOPS_AGE_KEY_CMD][$SOPS_AGE_KEY]\"",
        ])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(stdout(&o), "[][][]\n");
    for name in ["PATH", "LD_PRELOAD", "NODE_OPTIONS", "BASH_ENV"] {
        let r = Repo::with_config();
        r.set("prod", name, "/tmp/evil");
        let o = r.run(&["exec", "--stage", "prod", "--", "true"]);
        assert_error(&o);
        assert!(
            stderr(&o).contains("exec refuses to set it from a stage file"),
            "{name}: {}",
            stderr(&o)
        );
    }
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn a_value_with_a_nul_byte_is_refused_by_name() {
    // `set` refuses a NUL byte, but sops (or anyone) can write one.
    let sops = common::sops();
    let r = repo();
    let o = common::run_sops(
        &sops,
        &r,
        &[
            "set",
            "secrets/prod.yml",
            "[\"WITH_NUL\"]",
            "\"sec\\u0000ret-value\"",
        ],
    );
    assert_ok(&o);
    let o = r.run(&["exec", "--stage", "prod", "--", "true"]);
    assert_error(&o);
    let e = stderr(&o);
    assert!(e.contains("`WITH_NUL` contains a NUL byte"), "{e}");
    assert!(!e.contains("ret-value"), "{e}");
}

/// A real git repository at the repo's root (replacing the bare `.git` folder of `Repo`).
fn git_repo() -> Repo {
    let r = Repo::with_config();
    std::fs::remove_dir(r.path().join(".git")).unwrap();
    let o = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(r.path())
        .env("HOME", r.path().join("home"))
        .output()
        .expect("git is required for this test");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    r
}

#[test]
fn git_config_from_a_stage_file_cannot_run_a_command() {
    let r = git_repo();
    let marker = r.path().join("fsmonitor-ran");
    r.set("prod", "GIT_CONFIG_COUNT", "1");
    r.set("prod", "GIT_CONFIG_KEY_0", "core.fsmonitor");
    r.set(
        "prod",
        "GIT_CONFIG_VALUE_0",
        &format!("touch '{}'; false", marker.display()),
    );
    let o = r.run(&["exec", "--stage", "prod", "--", "git", "status"]);
    assert_error(&o);
    let e = stderr(&o);
    assert!(e.contains("`GIT_CONFIG_COUNT` (git: "), "{e}");
    assert!(e.contains("exec refuses to set them"), "{e}");
    assert!(
        e.contains("--allow GIT_CONFIG_COUNT --allow GIT_CONFIG_KEY_0 --allow GIT_CONFIG_VALUE_0"),
        "{e}"
    );
    assert!(!marker.exists(), "git ran the stage file's command");

    // The same stage with the three names allowed: git runs the command, so the refusal above
    // is what kept it from running.
    let o = r.run(&[
        "exec",
        "--stage",
        "prod",
        "--allow",
        "GIT_CONFIG_COUNT",
        "--allow",
        "GIT_CONFIG_KEY_0",
        "--allow",
        "GIT_CONFIG_VALUE_0",
        "--",
        "git",
        "status",
    ]);
    assert_ok(&o);
    assert!(
        marker.exists(),
        "with --allow, git should have run core.fsmonitor"
    );
}

#[test]
fn loader_and_package_manager_variables_are_refused_in_any_case() {
    for (name, family) in [
        ("NODE_PATH", "Node.js"),
        ("JAVA_TOOL_OPTIONS", "JVM"),
        ("Npm_Config_Script_Shell", "npm"),
    ] {
        let r = Repo::with_config();
        r.set("prod", "DB_PASSWORD", "pa55-w0rd-xyz");
        r.set("prod", name, "/tmp/evil");
        let o = r.run(&["exec", "--stage", "prod", "--", "true"]);
        assert_error(&o);
        let e = stderr(&o);
        assert!(e.contains(&format!("`{name}` ({family}: ")), "{name}: {e}");
        assert!(e.contains(&format!("--allow {name}")), "{name}: {e}");
        let o = r.run(&[
            "exec", "--stage", "prod", "--allow", name, "--", "sh", "-c", "true",
        ]);
        assert_ok(&o);
    }
}

#[test]
fn git_credentials_and_identity_pass_through_to_the_child() {
    // Ordinary secret names that the `GIT_` rule once refused: git ignores them (or, for the
    // identity variables, only records them), so `exec` must hand them to the build.
    let r = Repo::with_config();
    r.set("prod", "GIT_TOKEN", "ghp-token-value");
    r.set("prod", "GIT_CREDENTIALS", "bot:pa55");
    r.set("prod", "GIT_AUTHOR_NAME", "Release Bot");
    let o = r.run(&[
        "exec",
        "--stage",
        "prod",
        "--",
        "sh",
        "-c",
        "echo \"$GIT_TOKEN|$GIT_CREDENTIALS|$GIT_AUTHOR_NAME\"",
    ]);
    assert_ok(&o);
    assert_eq!(stdout(&o), "ghp-token-value|bot:pa55|Release Bot\n");
}

#[test]
fn tar_options_from_a_stage_file_is_refused_unless_allowed() {
    // GNU tar prepends TAR_OPTIONS to its arguments, and a checkpoint action runs a command.
    let r = repo();
    let value = "--checkpoint=1 --checkpoint-action=exec=touch-pwned";
    r.set("prod", "TAR_OPTIONS", value);
    let o = r.run(&["exec", "--stage", "prod", "--", "true"]);
    assert_error(&o);
    let e = stderr(&o);
    assert!(e.contains("`TAR_OPTIONS` (command-line options: "), "{e}");
    assert!(e.contains("exec refuses to set it"), "{e}");
    assert!(e.contains("--allow TAR_OPTIONS"), "{e}");
    assert!(!e.contains("touch-pwned"), "the value leaked: {e}");

    let o = r.run(&[
        "exec",
        "--stage",
        "prod",
        "--allow",
        "TAR_OPTIONS",
        "--",
        "sh",
        "-c",
        "echo \"$TAR_OPTIONS|$DB_PASSWORD\"",
    ]);
    assert_ok(&o);
    assert_eq!(stdout(&o), format!("{value}|pa55-w0rd-xyz\n"));
}

#[test]
fn every_name_from_issue_22_is_refused_in_one_error_with_its_family() {
    let r = Repo::with_config();
    let names = [
        ("TAR_OPTIONS", "command-line options"),
        ("RSYNC_CONNECT_PROG", "command hook"),
        ("CVS_RSH", "command hook"),
        ("SWC_BINARY_PATH", "native binaries"),
        ("SASS_BINARY_PATH", "native binaries"),
        ("TS_NODE_PROJECT", "TypeScript loaders"),
        ("R_PROFILE_USER", "R"),
        ("TCLLIBPATH", "library paths"),
        ("VOLTA_HOME", "version managers and toolchain homes"),
        ("ANSIBLE_CONFIG", "configuration file pointer"),
        // Not in the issue: caught by the shape of the name.
        ("FOO_OPTIONS", "command-line options"),
        ("XYZ_RSH", "command hook"),
    ];
    for (name, _) in names {
        r.set("prod", name, "/tmp/evil");
    }
    r.set("prod", "DB_PASSWORD", "pa55-w0rd-xyz");
    let o = r.run(&["exec", "--stage", "prod", "--", "true"]);
    assert_error(&o);
    let e = stderr(&o);
    for (name, family) in names {
        assert!(e.contains(&format!("`{name}` ({family}: ")), "{name}: {e}");
        assert!(e.contains(&format!("--allow {name}")), "{name}: {e}");
    }
    assert!(!e.contains("DB_PASSWORD"), "{e}");
}

#[test]
fn ordinary_secret_names_pass_next_to_the_suffix_families() {
    let r = Repo::with_config();
    r.set("prod", "DB_PASSWORD", "pa55-w0rd-xyz");
    r.set("prod", "STRIPE_KEY", "sk-test-value");
    r.set("prod", "API_TOKEN", "tok-value");
    let o = r.run(&[
        "exec",
        "--stage",
        "prod",
        "--",
        "sh",
        "-c",
        "echo \"$DB_PASSWORD|$STRIPE_KEY|$API_TOKEN\"",
    ]);
    assert_ok(&o);
    assert_eq!(stdout(&o), "pa55-w0rd-xyz|sk-test-value|tok-value\n");
}

#[test]
fn the_child_never_learns_where_the_ssh_key_is() {
    let r = repo();
    let ssh_key = r.path().join("home/.ssh/id_ed25519");
    let o = r
        .cmd(".")
        .env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &ssh_key)
        .env("SOPS_AGE_SSH_PRIVATE_KEY_CMD", "cat /some/where/id_ed25519")
        .args([
            "exec",
            "--stage",
            "prod",
            "--",
            "sh",
            "-c",
            "echo \"[$SOPS_AGE_SSH_PRIVATE_KEY_FILE][$SOPS_AGE_SSH_PRIVATE_KEY_CMD][$DB_PASSWORD]\"",
        ])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(stdout(&o), "[][][pa55-w0rd-xyz]\n");
}
