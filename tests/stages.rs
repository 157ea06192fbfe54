//! Stages that come and go (issue 24): pull-request and branch stages get a parent's secrets
//! by a rule in `.sls-secrets.yml`, `copy` moves secrets between stages, and every command that
//! reads a stage resolves it the same way. Run with the built binary in a throwaway repository.

mod common;

use common::{Repo, assert_error, assert_ok, both, stderr, stdout};

const RULES: &str = "stages:\n  - match: \"pr-*\"\n    from: dev\n  - match: feature-*\n    from: staging\n  - match: staging\n    from: dev\n  - match: local\n    none: true\n";

/// dev with A1 and B1, prod with its own A1, and the rules above at the repository root.
fn repo() -> Repo {
    let r = Repo::with_config();
    r.set("dev", "A1", "dev-a1");
    r.set("dev", "B1", "dev-b1");
    r.set("prod", "A1", "prod-a1");
    r.write(".sls-secrets.yml", RULES);
    r
}

fn get(r: &Repo, stage: &str, name: &str) -> String {
    let o = r.run(&["get", "--stage", stage, name]);
    assert_ok(&o);
    stdout(&o)
}

#[test]
fn a_pull_request_stage_gets_its_parents_secrets_and_says_so() {
    let r = repo();
    let o = r.run(&["get", "--stage", "pr-42", "A1"]);
    assert_ok(&o);
    assert_eq!(stdout(&o), "dev-a1");
    assert!(
        stderr(&o).contains(
            "sls-secrets: stage pr-42: secrets from dev (rule \"pr-*\", .sls-secrets.yml:2)"
        ),
        "{}",
        stderr(&o)
    );
    let o = r.run(&["list", "--stage", "pr-42"]);
    assert_ok(&o);
    assert_eq!(stdout(&o), "A1  (from dev)\nB1  (from dev)\n");
    // keys shows the files the stage's secrets come from.
    let o = r.run(&["keys", "--stage", "pr-42"]);
    assert_ok(&o);
    assert!(stdout(&o).contains("dev.yml (stage dev)"), "{}", stdout(&o));
    // A chain: feature-x from staging, which has no file, from dev.
    assert_eq!(get(&r, "feature-x", "B1"), "dev-b1");
    // A stage with its own file and no rule is as before, with no note.
    let o = r.run(&["get", "--stage", "prod", "A1"]);
    assert_eq!(stdout(&o), "prod-a1");
    assert!(!stderr(&o).contains("secrets from"), "{}", stderr(&o));
    // No file and no rule: still an error (a typo must never deploy without secrets).
    let o = r.run(&["get", "--stage", "prdo", "A1"]);
    assert_error(&o);
    assert!(stderr(&o).contains("has no secrets file"), "{}", stderr(&o));
}

#[test]
fn a_stage_file_of_its_own_is_layered_over_the_parent() {
    let r = repo();
    // `set` writes pr-7's own file, created by its creation rule.
    r.set("pr-7", "A1", "pr7-a1");
    assert!(r.path().join("secrets/pr-7.yml").exists());
    assert_eq!(get(&r, "pr-7", "A1"), "pr7-a1");
    assert_eq!(get(&r, "pr-7", "B1"), "dev-b1");
    let o = r.run(&["list", "--stage", "pr-7"]);
    assert_eq!(stdout(&o), "A1  (from pr-7)\nB1  (from dev)\n");
    assert!(
        stderr(&o)
            .contains("secrets from dev (rule \"pr-*\", .sls-secrets.yml:2), its own file on top"),
        "{}",
        stderr(&o)
    );
    // exec gets the layered environment.
    let o = r
        .cmd(".")
        .args(["exec", "--stage", "pr-7", "--", "sh", "-c", "echo $A1 $B1"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(stdout(&o), "pr7-a1 dev-b1\n");
    // export too, and it says where they came from.
    let o = r.run(&["export", "--stage", "pr-7", "--format", "json"]);
    assert_ok(&o);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["secrets"]["A1"], "pr7-a1");
    assert_eq!(v["secrets"]["B1"], "dev-b1");
    assert!(
        v["from"].as_str().unwrap().contains("secrets from dev"),
        "{v}"
    );
}

#[test]
fn a_none_stage_has_no_secrets_on_purpose() {
    let r = repo();
    let o = r
        .cmd(".")
        .args([
            "exec",
            "--stage",
            "local",
            "--",
            "sh",
            "-c",
            "echo ${A1:-unset}",
        ])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(stdout(&o), "unset\n");
    assert!(
        stderr(&o)
            .contains("stage local: no secrets, on purpose (rule \"local\", .sls-secrets.yml:8)"),
        "{}",
        stderr(&o)
    );
    let o = r.run(&["export", "--stage", "local", "--format", "json"]);
    assert_ok(&o);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["secrets"], serde_json::json!({}));
}

#[test]
fn bad_rules_are_refused_with_file_and_line_and_nothing_is_written() {
    for (rules, line, what) in [
        (
            "stages:\n  - match: a\n    from: b\n  - match: b\n    from: a\n",
            5,
            "the `from` rules loop: a -> b -> a",
        ),
        (
            "stages:\n  - match: a\n    from: qa\n",
            3,
            "`from: qa` for stage a resolves to nothing",
        ),
        (
            "stages:\n  - match: a\n    form: dev\n",
            3,
            "unknown key `form`",
        ),
        (
            "stages:\n  - match: a[12]\n    from: dev\n",
            2,
            "not a stage glob",
        ),
    ] {
        let r = repo();
        r.write(".sls-secrets.yml", rules);
        let before = r.read("secrets/dev.yml");
        for args in [
            &["get", "--stage", "a", "A1"][..],
            &["export", "--stage", "a", "--format", "json"][..],
        ] {
            let o = r.run(args);
            assert_error(&o);
            let err = stderr(&o);
            assert!(
                err.contains(&format!(".sls-secrets.yml:{line}: ")) && err.contains(what),
                "{args:?} {rules:?}: {err}"
            );
            assert!(stdout(&o).is_empty(), "{}", stdout(&o));
        }
        assert_eq!(r.read("secrets/dev.yml"), before);
        // check reports the same problem as a finding.
        let o = r.run(&["check"]);
        assert_eq!(o.status.code(), Some(1), "{rules:?}: {}", both(&o));
        assert!(
            stdout(&o).contains(&format!(".sls-secrets.yml:{line}: error: ")),
            "{rules:?}: {}",
            stdout(&o)
        );
    }
}

#[test]
fn rm_of_a_stage_without_its_own_file_points_at_the_parent() {
    let r = repo();
    let o = r.run(&["rm", "--stage", "pr-42", "A1"]);
    assert_error(&o);
    let err = stderr(&o);
    assert!(
        err.contains("its secrets come from dev (rule \"pr-*\", .sls-secrets.yml:2)"),
        "{err}"
    );
    assert!(err.contains("--stage dev"), "{err}");
    assert_eq!(get(&r, "dev", "A1"), "dev-a1");
}

#[test]
fn copy_moves_values_byte_exact_and_refuses_to_overwrite_unless_asked() {
    let r = repo();
    let tricky = "line one\n  line two: 'x' \"y\" $HOME ${env:X}\t\u{1}é";
    r.write("home/v.txt", tricky);
    assert_ok(&r.run(&[
        "set",
        "--stage",
        "dev",
        "TRICKY",
        "--from-file",
        "home/v.txt",
    ]));
    let o = r.run(&["copy", "--from", "dev", "--to", "qa", "TRICKY", "A1"]);
    assert_ok(&o);
    assert_eq!(get(&r, "qa", "TRICKY"), tricky);
    assert_eq!(get(&r, "qa", "A1"), "dev-a1");
    let o = r.run(&["list", "--stage", "qa"]);
    assert_eq!(stdout(&o), "TRICKY\nA1\n");
    // A name the target has: refused, nothing written.
    let before = r.read("secrets/prod.yml");
    let o = r.run(&["copy", "--from", "dev", "--to", "prod"]);
    assert_error(&o);
    assert!(stderr(&o).contains("already has A1"), "{}", stderr(&o));
    assert_eq!(r.read("secrets/prod.yml"), before);
    let o = r.run(&["copy", "--from", "dev", "--to", "prod", "--overwrite"]);
    assert_ok(&o);
    assert_eq!(get(&r, "prod", "A1"), "dev-a1");
    assert_eq!(get(&r, "prod", "B1"), "dev-b1");
    // A name the source lacks.
    let o = r.run(&["copy", "--from", "dev", "--to", "qa", "NOPE"]);
    assert_error(&o);
    assert!(
        stderr(&o).contains("has no secret `NOPE`"),
        "{}",
        stderr(&o)
    );
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn copy_encrypts_for_the_target_rule_and_sops_reads_the_result() {
    let r = repo();
    let second = common::second_recipient();
    // prod files are for a second recipient only.
    r.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: secrets/prod-eu\\.yml$\n    age: {second}\n  - path_regex: secrets/.*\\.yml$\n    age: {}\n",
            common::TEST_RECIPIENT_1
        ),
    );
    assert_ok(&r.run(&["copy", "--from", "dev", "--to", "prod-eu"]));
    let text = r.read("secrets/prod-eu.yml");
    assert!(text.contains(&second), "{text}");
    assert!(!text.contains(common::TEST_RECIPIENT_1), "{text}");
    r.write("home/second.txt", common::SECOND_KEY);
    let sops = common::sops();
    let o = std::process::Command::new(sops)
        .args(["decrypt", "secrets/prod-eu.yml"])
        .current_dir(r.path())
        .env_clear()
        .env("SOPS_AGE_KEY_FILE", r.path().join("home/second.txt"))
        .env("HOME", r.path().join("home"))
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(stdout(&o), "A1: dev-a1\nB1: dev-b1\n");
}
