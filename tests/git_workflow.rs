//! The git workflow with real git and real sops: `diff` between revisions, the diff and
//! merge drivers set up by `init --git`, and `check`.

mod common;

use std::process::Output;

use common::{commit_all, git, git_cmd, git_ok, git_repo};

use common::{
    Repo, SECOND_KEY, TEST_RECIPIENT_1, assert_error, assert_ok, both, second_recipient, stderr,
    stdout,
};

/// Every secret value the tests use: none may appear in any output.
const VALUES: &[&str] = &[
    "value-one",
    "value-two",
    "value-three",
    "changed-one",
    "ours-val",
    "theirs-val",
];

#[track_caller]
fn assert_no_values(text: &str) {
    for v in VALUES {
        assert!(!text.contains(v), "a secret value leaked: {v} in\n{text}");
    }
}

/// prod with A1, B1 committed; then A1 changed, B1 removed, C1 added in the working tree.
fn repo_with_changes() -> Repo {
    let r = git_repo();
    r.set("prod", "A1", "value-one");
    r.set("prod", "B1", "value-two");
    r.set("dev", "A1", "value-one");
    commit_all(&r, "first");
    r.set("prod", "A1", "changed-one");
    assert_ok(&r.run(&["rm", "--stage", "prod", "B1"]));
    r.set("prod", "C1", "value-three");
    r
}

#[test]
fn diff_shows_masked_key_changes_between_head_and_the_working_tree() {
    let r = repo_with_changes();
    let o = r.run(&["diff"]);
    assert_ok(&o);
    let out = stdout(&o);
    assert_no_values(&both(&o));
    insta::assert_snapshot!("diff_head_vs_worktree", out);
    assert!(out.contains("  ~ A1: **** -> ****\n"), "{out}");
    assert!(out.contains("  - B1: ****\n"), "{out}");
    assert!(out.contains("  + C1: ****\n"), "{out}");
    assert!(
        !out.contains("dev.yml"),
        "unchanged files are not listed: {out}"
    );
    assert_eq!(r.run(&["diff", "--exit-code"]).status.code(), Some(1));
    assert_eq!(
        r.run(&["diff", "--exit-code", "--stage", "dev"])
            .status
            .code(),
        Some(0)
    );
    let shown = stdout(&r.run(&["diff", "--show-values"]));
    assert!(
        shown.contains("  ~ A1: value-one -> changed-one\n"),
        "{shown}"
    );
}

#[test]
fn diff_json_is_stable() {
    let r = repo_with_changes();
    let o = r.run(&["diff", "--json"]);
    assert_ok(&o);
    assert_no_values(&stdout(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["changed"], true);
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["path"], "secrets/dev.yml");
    assert_eq!(files[0]["status"], "unchanged");
    let prod = &files[1];
    assert_eq!(prod["stage"], "prod");
    assert_eq!(prod["status"], "modified");
    assert_eq!(prod["decrypted"], true);
    assert_eq!(
        prod["keys"],
        serde_json::json!([
            {"name": "A1", "change": "changed", "old": "****", "new": "****"},
            {"name": "B1", "change": "removed", "old": "****", "new": null},
            {"name": "C1", "change": "added", "old": null, "new": "****"},
        ])
    );
    assert_eq!(
        prod["recipients"],
        serde_json::json!({"added": [], "removed": []})
    );
}

#[test]
fn rotation_alone_is_no_change_with_a_key_and_unknown_without() {
    let r = git_repo();
    r.set("prod", "A1", "value-one");
    commit_all(&r, "first");
    assert_ok(&r.run(&["rotate", "--stage", "prod"]));
    let o = r.run(&["diff", "--exit-code"]);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    assert_eq!(stdout(&o), "no changes\n");
    // Without the key the ciphertext differs and nothing can tell why.
    r.write("home/other.txt", SECOND_KEY);
    let o = r
        .cmd(".")
        .env("SOPS_AGE_KEY_FILE", r.path().join("home/other.txt"))
        .args(["diff"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert!(
        stdout(&o).contains("  ~ A1: changed or re-encrypted (no key to tell)\n"),
        "{}",
        both(&o)
    );
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn diff_shows_recipients_and_unencrypted_values_in_clear() {
    let sops = common::sops();
    let r = git_repo();
    r.set("prod", "A1", "value-one");
    let o = common::run_sops(
        &sops,
        &r,
        &[
            "set",
            "secrets/prod.yml",
            r#"["REGION_unencrypted"]"#,
            r#""eu-west-1""#,
        ],
    );
    assert_ok(&o);
    commit_all(&r, "first");
    let o = common::run_sops(
        &sops,
        &r,
        &[
            "set",
            "secrets/prod.yml",
            r#"["REGION_unencrypted"]"#,
            r#""us-east-1""#,
        ],
    );
    assert_ok(&o);
    let second = second_recipient();
    r.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - path_regex: secrets/.*\\.yml$\n    age: {TEST_RECIPIENT_1},{second}\n"),
    );
    assert_ok(&r.run(&["rotate", "--stage", "prod"]));
    let out = stdout(&r.run(&["diff"]));
    assert!(
        out.contains("  ~ REGION_unencrypted: eu-west-1 -> us-east-1\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!("  + recipient age {second}\n")),
        "{out}"
    );
    assert!(!out.contains("A1"), "A1 did not change: {out}");
}

#[test]
fn diff_between_two_revisions_with_files_added_and_removed_whole() {
    let r = git_repo();
    r.set("prod", "A1", "value-one");
    commit_all(&r, "first");
    r.set("qa", "Q1", "value-two");
    std::fs::remove_file(r.path().join("secrets/prod.yml")).unwrap();
    commit_all(&r, "second");
    let o = r.run(&["diff", "HEAD~1", "HEAD"]);
    assert_ok(&o);
    let out = stdout(&o);
    assert_no_values(&out);
    assert!(
        out.contains("secrets/prod.yml (stage prod): deleted\n  - A1: ****\n"),
        "{out}"
    );
    assert!(
        out.contains("secrets/qa.yml (stage qa): new file\n  + Q1: ****\n"),
        "{out}"
    );
    let o = r.run(&["diff", "HEAD~1", "--stage", "qa"]);
    assert!(
        stdout(&o).starts_with("secrets/qa.yml (stage qa): new file\n"),
        "{}",
        both(&o)
    );
}

#[test]
fn diff_errors_exit_2_with_a_hint() {
    let r = git_repo();
    r.set("prod", "A1", "value-one");
    // No commit yet: HEAD does not exist.
    let o = r.run(&["diff"]);
    assert_error(&o);
    assert!(
        stderr(&o).contains("`HEAD` is not a revision"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("hint: "), "{}", stderr(&o));
    commit_all(&r, "first");
    assert_error(&r.run(&["diff", "no-such-branch"]));
}

fn init_git(r: &Repo) -> Output {
    r.run(&["init", "--git"])
}

#[test]
fn init_git_sets_up_both_drivers_keeping_gitattributes_and_is_idempotent() {
    let r = git_repo();
    r.write(".gitattributes", "*.png binary");
    let o = init_git(&r);
    assert_ok(&o);
    assert!(stderr(&o).contains("already has a rule"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(".gitattributes: added"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        r.read(".gitattributes"),
        "*.png binary\nsecrets/*.yml diff=sls-secrets merge=sls-secrets\nsecrets/*.yaml diff=sls-secrets merge=sls-secrets\n"
    );
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_sls-secrets")).unwrap();
    let exe = exe.to_str().unwrap();
    assert_eq!(
        git_ok(&r, &["config", "--local", "diff.sls-secrets.command"]),
        format!("{exe} git-diff\n")
    );
    assert_eq!(
        git_ok(&r, &["config", "--local", "merge.sls-secrets.driver"]),
        format!("{exe} git-merge %O %A %B %P\n")
    );
    assert!(!git_ok(&r, &["config", "--local", "merge.sls-secrets.name"]).is_empty());
    assert_eq!(
        git_ok(&r, &["config", "--local", "diff.sls-secrets.textconv"]),
        format!("{exe} git-textconv\n")
    );
    let config_before = r.read(".git/config");
    let o = init_git(&r);
    assert_ok(&o);
    assert!(stderr(&o).contains("nothing to change"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("wrote"), "{}", stderr(&o));
    assert_eq!(r.read(".git/config"), config_before);
    assert_eq!(
        r.read(".gitattributes"),
        "*.png binary\nsecrets/*.yml diff=sls-secrets merge=sls-secrets\nsecrets/*.yaml diff=sls-secrets merge=sls-secrets\n"
    );
}

#[test]
fn init_git_refuses_a_gitattributes_symlink_that_leaves_the_repository() {
    let r = git_repo();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("someones-file");
    std::fs::write(&target, "keep me\n").unwrap();
    std::os::unix::fs::symlink(&target, r.path().join(".gitattributes")).unwrap();
    let o = init_git(&r);
    assert_error(&o);
    assert!(
        stderr(&o).contains("outside the repository"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");
    // Nothing was configured either.
    let o = git(&r, &["config", "--local", "--get-regexp", "sls-secrets"]);
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    // A link to a file inside the repository is written through.
    std::fs::remove_file(r.path().join(".gitattributes")).unwrap();
    r.write("config/attributes", "*.png binary\n");
    std::os::unix::fs::symlink("config/attributes", r.path().join(".gitattributes")).unwrap();
    assert_ok(&init_git(&r));
    assert!(r.read("config/attributes").contains("merge=sls-secrets"));
}

#[test]
fn init_git_warns_when_a_later_attributes_line_overrides_the_drivers() {
    let r = git_repo();
    assert_ok(&init_git(&r));
    let mut text = r.read(".gitattributes");
    text.push_str("secrets/*.yml -diff merge=binary\n");
    r.write(".gitattributes", &text);
    let o = init_git(&r);
    assert_ok(&o);
    let err = stderr(&o);
    assert!(
        err.contains("warning: git does not use the sls-secrets drivers for secrets/prod.yml (diff: unset, merge: binary)"),
        "{err}"
    );
    assert!(err.contains("`secrets/*.yml -diff merge=binary`"), "{err}");
    assert!(
        !err.contains("secrets/prod.yaml ("),
        "the .yaml line still applies: {err}"
    );
}

#[test]
fn init_git_in_a_service_folder_covers_its_own_secrets_folder() {
    let r = git_repo();
    std::fs::create_dir_all(r.path().join("services/api/secrets")).unwrap();
    let o = r
        .cmd("services/api")
        .args(["init", "--git"])
        .output()
        .unwrap();
    assert_ok(&o);
    let attrs = r.read(".gitattributes");
    assert!(
        attrs.contains("services/api/secrets/*.yml diff=sls-secrets merge=sls-secrets\n"),
        "{attrs}"
    );
    let o = git(
        &r,
        &["check-attr", "merge", "--", "services/api/secrets/prod.yml"],
    );
    assert_eq!(
        stdout(&o),
        "services/api/secrets/prod.yml: merge: sls-secrets\n"
    );
}

#[test]
fn init_git_without_sops_yaml_creates_both() {
    let r = Repo::new();
    std::fs::remove_dir(r.path().join(".git")).unwrap();
    git_ok(&r, &["init", "-q"]);
    let o = init_git(&r);
    assert_ok(&o);
    assert!(r.read(".sops.yaml").contains(TEST_RECIPIENT_1));
    assert!(r.read(".gitattributes").contains("diff=sls-secrets"));
    // Outside a git repository `--git` is an error that says what to do.
    let plain = tempfile::tempdir().unwrap();
    let o = r
        .cmd(".")
        .current_dir(plain.path())
        .args(["init", "--git"])
        .output()
        .unwrap();
    assert_error(&o);
    assert!(
        stderr(&o).contains("not inside a git repository"),
        "{}",
        stderr(&o)
    );
}

/// Changes committed in two commits, the drivers set up.
fn repo_with_history() -> Repo {
    let r = git_repo();
    assert_ok(&init_git(&r));
    r.set("prod", "A1", "value-one");
    r.set("prod", "B1", "value-two");
    commit_all(&r, "first");
    r.set("prod", "A1", "changed-one");
    r.set("prod", "C1", "value-three");
    r
}

#[test]
fn git_diff_log_and_show_print_the_masked_key_diff() {
    let r = repo_with_history();
    let o = git(&r, &["diff"]);
    assert_ok(&o);
    let out = stdout(&o);
    assert_no_values(&both(&o));
    assert!(
        out.contains("diff --sls-secrets a/secrets/prod.yml b/secrets/prod.yml\n"),
        "{out}"
    );
    assert!(
        out.contains("  ~ A1: **** -> ****\n  + C1: ****\n"),
        "{out}"
    );
    assert!(!out.contains("ENC["), "no ciphertext churn: {out}");
    commit_all(&r, "second");
    // With --ext-diff, log and show run the key-level diff too.
    for args in [
        &["log", "-p", "--ext-diff"][..],
        &["show", "--ext-diff"][..],
    ] {
        let o = git(&r, args);
        assert_ok(&o);
        let out = stdout(&o);
        assert_no_values(&both(&o));
        assert!(out.contains("  ~ A1: **** -> ****"), "git {args:?}: {out}");
        assert!(!out.contains("ENC["), "git {args:?}: {out}");
    }
    // Without it they diff the masked textconv view: names, no values, no ciphertext.
    for args in [
        &["log", "-p"][..],
        &["show"][..],
        &["log", "-p", "--", "secrets/prod.yml"][..],
    ] {
        let o = git(&r, args);
        assert_ok(&o);
        let out = stdout(&o);
        assert_no_values(&both(&o));
        for part in [
            "-A1: **** (ciphertext ",
            "+A1: **** (ciphertext ",
            "+C1: **** (ciphertext ",
        ] {
            assert!(out.contains(part), "git {args:?}: no {part}: {out}");
        }
        for part in ["-B1: ", "ENC["] {
            assert!(!out.contains(part), "git {args:?}: {part}: {out}");
        }
    }
    let log = git_ok(&r, &["log", "-p", "--ext-diff"]);
    assert!(
        log.contains("secrets/prod.yml (stage prod): new file\n  + A1: ****\n  + B1: ****\n"),
        "{log}"
    );
}

#[test]
fn git_diff_driver_reports_an_unreadable_file_without_stopping_git() {
    let r = repo_with_history();
    commit_all(&r, "second");
    r.write("secrets/prod.yml", "A1: plaintext-oops\n");
    let o = git(&r, &["diff"]);
    assert_ok(&o);
    assert!(
        stdout(&o).contains("secrets/prod.yml: can't compare:"),
        "{}",
        both(&o)
    );
    assert!(!both(&o).contains("plaintext-oops"), "{}", both(&o));
}

/// A repository with the drivers, prod holding A1 and B1 on `main`, and a branch `other`.
fn repo_with_branch() -> Repo {
    let r = git_repo();
    assert_ok(&init_git(&r));
    r.set("prod", "A1", "value-one");
    r.set("prod", "B1", "value-two");
    commit_all(&r, "first");
    git_ok(&r, &["branch", "other"]);
    r
}

fn enc_line(text: &str, key: &str) -> String {
    text.lines()
        .find(|l| l.starts_with(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no {key} in {text}"))
        .to_owned()
}

fn sops_decrypt(r: &Repo) -> String {
    let o = common::run_sops(&common::sops(), r, &["decrypt", "secrets/prod.yml"]);
    assert_ok(&o);
    stdout(&o)
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn git_merge_combines_keys_set_on_two_branches() {
    let r = repo_with_branch();
    git_ok(&r, &["checkout", "-q", "other"]);
    r.set("prod", "THEIRS_KEY", "theirs-val");
    assert_ok(&r.run(&["rm", "--stage", "prod", "B1"]));
    commit_all(&r, "theirs");
    git_ok(&r, &["checkout", "-q", "main"]);
    r.set("prod", "OURS_KEY", "ours-val");
    commit_all(&r, "ours");
    let before = r.read("secrets/prod.yml");
    let o = git(&r, &["merge", "--no-edit", "other"]);
    assert_ok(&o);
    assert_no_values(&both(&o));
    let merged = r.read("secrets/prod.yml");
    // Values unchanged relative to this branch keep their ciphertext.
    for k in ["A1", "OURS_KEY"] {
        assert_eq!(enc_line(&before, k), enc_line(&merged, k));
    }
    let plain = sops_decrypt(&r);
    {
        // THEIRS_KEY follows A1 on the other branch (B1 removed there), so it goes after A1.
        assert_eq!(
            plain,
            "A1: value-one\nTHEIRS_KEY: theirs-val\nOURS_KEY: ours-val\n"
        );
    }
    assert_eq!(
        stdout(&r.run(&["get", "--stage", "prod", "THEIRS_KEY"])),
        "theirs-val"
    );
    assert_eq!(git_ok(&r, &["status", "--porcelain"]), "");
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn git_merge_stops_on_a_key_changed_on_both_branches_without_showing_values() {
    let r = repo_with_branch();
    git_ok(&r, &["checkout", "-q", "other"]);
    r.set("prod", "A1", "theirs-val");
    commit_all(&r, "theirs");
    git_ok(&r, &["checkout", "-q", "main"]);
    r.set("prod", "A1", "ours-val");
    commit_all(&r, "ours");
    let ours = r.read("secrets/prod.yml");
    let o = git(&r, &["merge", "--no-edit", "other"]);
    assert!(!o.status.success(), "the merge must stop: {}", both(&o));
    let out = both(&o);
    assert_no_values(&out);
    assert!(
        out.contains("A1: changed differently on both branches"),
        "{out}"
    );
    assert!(out.contains("sls-secrets edit --stage prod"), "{out}");
    assert!(!out.contains("B1"), "B1 merged cleanly: {out}");
    // The file is this branch's, still valid.
    assert_eq!(r.read("secrets/prod.yml"), ours);
    assert_eq!(
        stdout(&r.run(&["get", "--stage", "prod", "A1"])),
        "ours-val"
    );
    let plain = sops_decrypt(&r);
    {
        assert!(plain.contains("A1: ours-val"), "{plain}");
    }
    let status = git_ok(&r, &["status", "--porcelain"]);
    assert!(status.contains("UU secrets/prod.yml"), "{status}");
}

#[test]
fn git_merge_without_a_key_leaves_the_file_and_says_why() {
    let r = repo_with_branch();
    git_ok(&r, &["checkout", "-q", "other"]);
    r.set("prod", "THEIRS_KEY", "theirs-val");
    commit_all(&r, "theirs");
    git_ok(&r, &["checkout", "-q", "main"]);
    r.set("prod", "OURS_KEY", "ours-val");
    commit_all(&r, "ours");
    let ours = r.read("secrets/prod.yml");
    r.write("home/other.txt", SECOND_KEY);
    let o = git_cmd(&r)
        .env("SOPS_AGE_KEY_FILE", r.path().join("home/other.txt"))
        .args(["merge", "--no-edit", "other"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(both(&o).contains("no key could decrypt"), "{}", both(&o));
    assert_no_values(&both(&o));
    assert_eq!(r.read("secrets/prod.yml"), ours);
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn diff_and_check_escape_control_characters_in_key_names() {
    let sops = common::sops();
    let r = git_repo();
    r.set("prod", "A1", "value-one");
    r.set("dev", "A1", "value-one");
    commit_all(&r, "first");
    // A key that would clear the terminal and recolour what follows (ESC, C1 CSI, BEL).
    r.write(
        "secrets/prod.yml",
        "A1: value-one\n\"EVIL\\e[2J\\x9b8m\\aKEY\": value-two\n",
    );
    let o = common::run_sops(&sops, &r, &["encrypt", "--in-place", "secrets/prod.yml"]);
    assert_ok(&o);
    let raw_control = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .chars()
            .any(|c| c != '\n' && c.is_control())
    };
    for args in [
        &["diff"][..],
        &["diff", "--show-values"][..],
        &["check"][..],
    ] {
        let o = r.run(args);
        if !args.contains(&"--show-values") {
            assert_no_values(&both(&o));
        }
        assert!(!raw_control(&o.stdout), "{args:?}: {:?}", stdout(&o));
        assert!(!raw_control(&o.stderr), "{args:?}: {:?}", stderr(&o));
        assert!(
            stdout(&o).contains("EVIL\\u{1b}[2J\\u{9b}8m\\u{7}KEY"),
            "{args:?}: {}",
            stdout(&o)
        );
    }
}
