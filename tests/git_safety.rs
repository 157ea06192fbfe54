//! The git surface under attack (issue 22): the merge driver never writes a value in clear,
//! never drops secrets silently and never adopts recipients `.sops.yaml` doesn't list,
//! whatever a branch holds; a change of the `sops:` block is visible in every diff. Every
//! case runs real git (a real `git merge` with the driver `init --git` installs) on files made
//! by sls-secrets or by the real `sops`.

mod common;

use std::process::Output;

use common::{
    Repo, SECOND_KEY, TEST_RECIPIENT_1, assert_ok, both, commit_all, git, git_cmd, git_ok,
    git_repo, run_sops, second_recipient, stderr, stdout,
};

/// Every secret value these tests use: none may appear in any output.
const VALUES: &[&str] = &["sk_live_51Hx", "value-one", "value-two", "d1-value"];

#[track_caller]
fn assert_no_values(text: &str) {
    for v in VALUES {
        assert!(!text.contains(v), "a secret value leaked: {v} in\n{text}");
    }
}

/// The drivers installed, prod with A1 and B1 committed on `main`, and a branch `other`.
fn repo_with_branch() -> Repo {
    let r = git_repo();
    assert_ok(&r.run(&["init", "--git"]));
    r.set("prod", "A1", "value-one");
    r.set("prod", "B1", "value-two");
    commit_all(&r, "first");
    git_ok(&r, &["branch", "other"]);
    r
}

fn merge(r: &Repo) -> Output {
    git(r, &["merge", "--no-edit", "other"])
}

#[track_caller]
fn assert_conflict(r: &Repo, o: &Output, ours: &str) {
    assert!(!o.status.success(), "the merge must stop: {}", both(o));
    assert_no_values(&both(o));
    assert_eq!(r.read("secrets/prod.yml"), ours, "the file must stay ours");
    let status = git_ok(r, &["status", "--porcelain"]);
    assert!(status.contains("secrets/prod.yml"), "{status}");
}

/// Commits `theirs` on `other` and `ours` on `main`, then merges `other` into `main`.
fn merge_after(r: &Repo, theirs: impl FnOnce(&Repo), ours: impl FnOnce(&Repo)) -> Output {
    git_ok(r, &["checkout", "-q", "other"]);
    theirs(r);
    commit_all(r, "theirs");
    git_ok(r, &["checkout", "-q", "main"]);
    ours(r);
    commit_all(r, "ours");
    merge(r)
}

/// [`merge_after`] that must stop with a conflict, `secrets/prod.yml` left as ours; its stderr.
#[track_caller]
fn conflict_after(r: &Repo, theirs: impl FnOnce(&Repo), ours: impl FnOnce(&Repo)) -> String {
    let mut ours_text = String::new();
    let o = merge_after(r, theirs, |r| {
        ours(r);
        ours_text = r.read("secrets/prod.yml");
    });
    assert_conflict(r, &o, &ours_text);
    stderr(&o)
}

fn add_d1(r: &Repo) {
    r.set("prod", "D1", "d1-value");
}

fn edit_rule_to_stripe(r: &Repo) {
    edit_metadata(
        r,
        "unencrypted_suffix: _unencrypted",
        "unencrypted_regex: ^STRIPE_",
    );
}

fn set_stripe(r: &Repo) {
    r.set("prod", "STRIPE_KEY", "sk_live_51Hx");
}

/// Values encrypted by the real sops for `recipients`, as anyone with the team's public keys
/// can make them.
fn sops_file_for(r: &Repo, plain: &str, recipients: &str) -> String {
    common::sops_encrypt_as(r, "secrets/prod.yml", plain, &["--age", recipients])
}

/// `.sops.yaml` lists a second recipient, with a comment naming her; prod is rotated for it.
fn add_carol_and_rotate(r: &Repo) {
    let second = second_recipient();
    r.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: secrets/.*\\.yml$\n    key_groups:\n      - age:\n          - {TEST_RECIPIENT_1}\n          - {second} # carol@example.com\n"
        ),
    );
    assert_ok(&r.run(&["rotate", "--stage", "prod"]));
}

fn sops() -> std::path::PathBuf {
    common::sops()
}

/// Replaces one line of the `sops:` block, as someone without a key can.
fn edit_metadata(r: &Repo, from: &str, to: &str) {
    let text = r.read("secrets/prod.yml");
    assert!(text.contains(from), "{text}");
    r.write("secrets/prod.yml", &text.replacen(from, to, 1));
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn a_metadata_edit_on_this_branch_never_lets_a_merged_secret_be_written_in_clear() {
    let r = repo_with_branch();
    // On main, without any key: values named STRIPE_* are now "unencrypted".
    let err = conflict_after(&r, set_stripe, edit_rule_to_stripe);
    assert!(
        err.contains("this branch's file is not what .sops.yaml asks for"),
        "{err}"
    );
    assert!(
        err.contains("the file says `unencrypted_regex: ^STRIPE_`, .sops.yaml's rule says `unencrypted_suffix: _unencrypted`"),
        "{err}"
    );
    assert!(err.contains("sls-secrets rotate --stage prod"), "{err}");
    // Nowhere in the work tree is the value in clear.
    assert!(!r.read("secrets/prod.yml").contains("sk_live_51Hx"));
    // check finds the edit on main too.
    let o = r.run(&["check"]);
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert!(stdout(&o).contains("encryption setting"), "{}", stdout(&o));
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn a_metadata_edit_on_the_other_branch_is_a_conflict_too() {
    let r = repo_with_branch();
    let err = conflict_after(&r, edit_rule_to_stripe, set_stripe);
    assert!(
        err.contains("the other branch's file is not what .sops.yaml asks for"),
        "{err}"
    );
}

#[test]
fn a_branch_that_empties_the_stage_file_is_a_deletion_conflict() {
    for emptied in ["", "  \n\n\t\n"] {
        let r = repo_with_branch();
        let err = conflict_after(&r, |r| r.write("secrets/prod.yml", emptied), add_d1);
        assert!(err.contains("the other branch emptied the file"), "{err}");
        assert!(err.contains("git rm secrets/prod.yml"), "{err}");
        for name in ["A1", "B1", "D1"] {
            assert_ok(&r.run(&["get", "--stage", "prod", name]));
        }
    }
}

#[test]
fn emptying_the_file_on_this_branch_is_a_deletion_conflict_too() {
    let r = repo_with_branch();
    let err = conflict_after(&r, add_d1, |r| r.write("secrets/prod.yml", ""));
    assert!(err.contains("this branch emptied the file"), "{err}");
    assert!(
        err.contains("git checkout --theirs -- secrets/prod.yml"),
        "{err}"
    );
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn a_branch_re_encrypted_for_an_extra_recipient_is_a_conflict_naming_it() {
    let r = repo_with_branch();
    let attacker = second_recipient();
    let err = conflict_after(
        &r,
        |r| {
            let file = sops_file_for(
                r,
                "A1: value-one\nB1: value-two\n",
                &format!("{TEST_RECIPIENT_1},{attacker}"),
            );
            r.write("secrets/prod.yml", &file);
        },
        add_d1,
    );
    assert!(
        err.contains(&format!(
            "extra recipient: age `{attacker}` can open this file but .sops.yaml does not list it"
        )),
        "{err}"
    );
    assert!(!err.contains("rotated the data key"), "{err}");
    // The extra recipient can't read D1.
    r.write("home/attacker.txt", SECOND_KEY);
    let o = r
        .cmd(".")
        .env("SOPS_AGE_KEY_FILE", r.path().join("home/attacker.txt"))
        .args(["get", "--stage", "prod", "D1"])
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", both(&o));
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn a_branch_missing_a_recipient_of_the_rule_is_a_conflict_naming_it() {
    let r = repo_with_branch();
    let second = second_recipient();
    // The rule lists two recipients; the other branch's file is for the first only.
    add_carol_and_rotate(&r);
    commit_all(&r, "a second recipient");
    let err = conflict_after(
        &r,
        |r| {
            let file = sops_file_for(r, "A1: value-one\nB1: d1-value\n", TEST_RECIPIENT_1);
            r.write("secrets/prod.yml", &file);
        },
        add_d1,
    );
    assert!(
        err.contains(&format!(
            "missing recipient: .sops.yaml lists age `{second}` (carol@example.com) but the file is not encrypted for it"
        )),
        "{err}"
    );
}

#[test]
fn a_routine_rotation_on_the_other_branch_is_kept() {
    let r = repo_with_branch();
    let mut rotated = String::new();
    let o = merge_after(
        &r,
        |r| {
            assert_ok(&r.run(&["rotate", "--stage", "prod"]));
            rotated = r.read("secrets/prod.yml");
        },
        add_d1,
    );
    assert_ok(&o);
    assert!(stderr(&o).contains("rotated the data key"), "{}", both(&o));
    // The merged file's data key is the rotated one: its age stanza is theirs.
    let stanza = |text: &str| {
        text.lines()
            .skip_while(|l| !l.contains("-----BEGIN AGE ENCRYPTED FILE-----"))
            .nth(1)
            .unwrap()
            .to_owned()
    };
    assert_eq!(stanza(&r.read("secrets/prod.yml")), stanza(&rotated));
    assert_eq!(
        stdout(&r.run(&["get", "--stage", "prod", "D1"])),
        "d1-value"
    );
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn a_recipient_added_with_its_rule_on_a_branch_conflicts_and_resolves_by_the_merged_rule() {
    let r = repo_with_branch();
    let second = second_recipient();
    let err = conflict_after(
        &r,
        |r| {
            r.write(
                ".sops.yaml",
                &format!("creation_rules:\n  - path_regex: secrets/.*\\.yml$\n    age: {TEST_RECIPIENT_1},{second}\n"),
            );
            assert_ok(&r.run(&["rotate", "--stage", "prod"]));
        },
        add_d1,
    );
    // While git merges, .sops.yaml is still this branch's: the new recipient is extra there.
    assert!(
        err.contains(&format!("extra recipient: age `{second}`")),
        "{err}"
    );
    // The resolution the hint gives: keep theirs, re-apply ours, encrypt by the merged rule.
    assert!(
        r.read(".sops.yaml").contains(&second),
        "git merged .sops.yaml"
    );
    git_ok(&r, &["checkout", "--theirs", "--", "secrets/prod.yml"]);
    add_d1(&r);
    assert_ok(&r.run(&["rotate", "--stage", "prod"]));
    git_ok(&r, &["add", "secrets/prod.yml"]);
    git_ok(&r, &["commit", "-q", "--no-edit"]);
    let o = r.run(&["check"]);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    r.write("home/second.txt", SECOND_KEY);
    let o = r
        .cmd(".")
        .env("SOPS_AGE_KEY_FILE", r.path().join("home/second.txt"))
        .args(["get", "--stage", "prod", "D1"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(stdout(&o), "d1-value");
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn a_side_with_a_foreign_key_type_is_a_conflict() {
    let r = repo_with_branch();
    let err = conflict_after(
        &r,
        |r| {
            // A pgp stanza next to the age one (sops would use it to decrypt).
            let text = r.read("secrets/prod.yml");
            let with_pgp = text.replacen(
                "    lastmodified:",
                "    pgp:\n        - created_at: \"2024-01-01T00:00:00Z\"\n          enc: x\n          fp: 0123456789ABCDEF\n    lastmodified:",
                1,
            );
            assert_ne!(text, with_pgp);
            r.write("secrets/prod.yml", &with_pgp);
            r.set("prod", "T1", "value-two");
        },
        add_d1,
    );
    assert!(
        err.contains("extra recipient: pgp keys (not usable by sls-secrets)"),
        "{err}"
    );
}

#[test]
fn the_resolve_commands_quote_a_crafted_path() {
    let r = repo_with_branch();
    // A stage file whose name would run a command if pasted unquoted.
    let name = "secrets/x$(touch PWNED).yml";
    std::fs::copy(r.path().join("secrets/prod.yml"), r.path().join(name)).unwrap();
    commit_all(&r, "crafted");
    git_ok(&r, &["branch", "-f", "other"]);
    git_ok(&r, &["checkout", "-q", "other"]);
    r.write(name, "");
    commit_all(&r, "empty it");
    git_ok(&r, &["checkout", "-q", "main"]);
    r.write(name, &r.read("secrets/prod.yml").replacen("A1:", "A2:", 1));
    commit_all(&r, "change it");
    let o = merge(&r);
    assert!(!o.status.success(), "{}", both(&o));
    let err = stderr(&o);
    assert!(
        err.contains("git rm 'secrets/x$(touch PWNED).yml'"),
        "{err}"
    );
    assert!(!err.contains("git rm secrets/x$("), "{err}");
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn a_merged_key_keeps_one_copy_of_the_comment_lines_around_it() {
    let r = repo_with_branch();
    let sops = sops();
    // A file with a comment after the last key (sops keeps it as a trailing comment).
    let text = sops_file_for(
        &r,
        "# the database\nA1: value-one\nB1: value-two\n# end of list\n",
        TEST_RECIPIENT_1,
    );
    r.write("secrets/prod.yml", &text);
    commit_all(&r, "with comments");
    git_ok(&r, &["branch", "-f", "other"]);
    git_ok(&r, &["checkout", "-q", "other"]);
    r.set("prod", "C1", "d1-value");
    commit_all(&r, "theirs");
    git_ok(&r, &["checkout", "-q", "main"]);
    r.set("prod", "A1", "value-two");
    commit_all(&r, "ours");
    assert_ok(&merge(&r));
    let o = run_sops(&sops, &r, &["decrypt", "secrets/prod.yml"]);
    assert_ok(&o);
    let plain = stdout(&o);
    assert_eq!(plain.matches("# end of list").count(), 1, "{plain}");
    assert_eq!(plain.matches("# the database").count(), 1, "{plain}");
    assert!(plain.contains("C1: d1-value"), "{plain}");
}

#[test]
fn a_merge_driver_binary_whose_path_holds_a_percent_sign_still_merges() {
    let r = git_repo();
    // The binary copied into a folder named like git's placeholders.
    let bin_dir = r.path().join("home/bin%O%A");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let bin = bin_dir.join("sls-secrets");
    std::fs::copy(env!("CARGO_BIN_EXE_sls-secrets"), &bin).unwrap();
    let init = || {
        std::process::Command::new(&bin)
            .current_dir(r.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", r.path().join("home"))
            .env("SOPS_AGE_KEY_FILE", &r.key_file)
            .args(["init", "--git"])
            .output()
    };
    // A test thread that forks while the copy's write handle is open makes the first exec
    // fail with "text file busy" (ETXTBSY) until that child has exec'd: try again then.
    let mut o = init();
    for _ in 0..50 {
        match &o {
            Err(e) if e.raw_os_error() == Some(26) => {
                std::thread::sleep(std::time::Duration::from_millis(20));
                o = init();
            }
            _ => break,
        }
    }
    assert_ok(&o.unwrap());
    r.set("prod", "A1", "value-one");
    commit_all(&r, "first");
    git_ok(&r, &["branch", "other"]);
    git_ok(&r, &["checkout", "-q", "other"]);
    r.set("prod", "B1", "value-two");
    commit_all(&r, "theirs");
    git_ok(&r, &["checkout", "-q", "main"]);
    r.set("prod", "D1", "d1-value");
    commit_all(&r, "ours");
    let o = git_cmd(&r)
        .args(["merge", "--no-edit", "other"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(
        stdout(&r.run(&["get", "--stage", "prod", "B1"])),
        "value-two"
    );
}

/// Output with any raw control character other than a line break.
fn raw_control(bytes: &[u8]) -> bool {
    String::from_utf8_lossy(bytes)
        .chars()
        .any(|c| c != '\n' && c.is_control())
}

/// The diff of the `sops:` block alone, in `diff`, `diff --json`, git's external diff and
/// `git log -p` (textconv).
#[track_caller]
fn assert_setting_shown(r: &Repo, shown: &str) {
    let o = r.run(&["diff", "--exit-code"]);
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert_eq!(
        stdout(&o),
        format!("secrets/prod.yml (stage prod)\n{shown}"),
        "{}",
        both(&o)
    );
    let json = stdout(&r.run(&["diff", "--json"]));
    assert!(json.contains(r#""settings":[{"name":"#), "{json}");
    let o = git(r, &["diff", "--", "secrets/prod.yml"]);
    assert!(stdout(&o).contains(shown), "{}", both(&o));
    commit_all(r, "settings");
    let log = git_ok(r, &["log", "-p", "-1", "--", "secrets/prod.yml"]);
    let setting = shown
        .split(':')
        .next()
        .unwrap()
        .trim_start_matches("  ~ setting ");
    assert!(log.contains(&format!("-# setting {setting}:")), "{log}");
    assert!(log.contains(&format!("+# setting {setting}:")), "{log}");
}

#[test]
fn a_hand_edit_of_the_encryption_rule_shows_in_every_diff() {
    let r = repo_with_branch();
    edit_metadata(
        &r,
        "unencrypted_suffix: _unencrypted",
        "unencrypted_regex: ^STRIPE_",
    );
    assert_setting_shown(
        &r,
        "  ~ setting encryption: unencrypted_suffix: _unencrypted -> unencrypted_regex: ^STRIPE_\n",
    );
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn mac_only_encrypted_turned_on_shows_in_every_diff() {
    let r = repo_with_branch();
    let mut rule = r.read(".sops.yaml");
    rule.push_str("    mac_only_encrypted: true\n");
    r.write(".sops.yaml", &rule);
    // rotate encrypts by the rule's settings, so the file now says it too.
    assert_ok(&r.run(&["rotate", "--stage", "prod"]));
    assert!(
        r.read("secrets/prod.yml")
            .contains("mac_only_encrypted: true")
    );
    assert_eq!(
        stdout(&r.run(&["get", "--stage", "prod", "A1"])),
        "value-one"
    );
    let o = run_sops(&sops(), &r, &["decrypt", "secrets/prod.yml"]);
    assert_ok(&o);
    assert_setting_shown(&r, "  ~ setting mac_only_encrypted: false -> true\n");
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn a_recipient_added_shows_with_its_sops_yaml_comment() {
    let r = repo_with_branch();
    let second = second_recipient();
    add_carol_and_rotate(&r);
    let o = r.run(&["diff", "--exit-code"]);
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert!(
        stdout(&o).contains(&format!("  + recipient age {second} (carol@example.com)\n")),
        "{}",
        both(&o)
    );
    let o = git(&r, &["diff", "--", "secrets/prod.yml"]);
    assert!(
        stdout(&o).contains(&format!("  + recipient age {second} (carol@example.com)\n")),
        "{}",
        both(&o)
    );
    commit_all(&r, "carol");
    let log = git_ok(&r, &["log", "-p", "-1", "--", "secrets/prod.yml"]);
    assert!(
        log.contains(&format!("+# recipient: age {second}\n")),
        "{log}"
    );
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn git_log_shows_control_characters_in_key_names_escaped() {
    let r = repo_with_branch();
    let plain = "\"A1\\e]0;PWNED\\a\\e[31mX\": value-one\n";
    r.write(
        "secrets/prod.yml",
        &sops_file_for(&r, plain, TEST_RECIPIENT_1),
    );
    commit_all(&r, "evil name");
    for args in [
        &["log", "-p"][..],
        &["show"][..],
        &["log", "-p", "--ext-diff"][..],
    ] {
        let o = git(&r, args);
        assert_ok(&o);
        assert!(!raw_control(&o.stdout), "git {args:?}: {:?}", stdout(&o));
        assert!(
            stdout(&o).contains("A1\\u{1b}]0;PWNED\\u{7}\\u{1b}[31mX"),
            "git {args:?}: {}",
            stdout(&o)
        );
    }
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn a_new_stage_file_under_a_mac_only_encrypted_rule_is_one_sops_reads() {
    let r = git_repo();
    let mut rule = r.read(".sops.yaml");
    rule.push_str("    mac_only_encrypted: true\n");
    r.write(".sops.yaml", &rule);
    r.set("prod", "A1", "value-one");
    assert!(
        r.read("secrets/prod.yml")
            .contains("mac_only_encrypted: true")
    );
    let o = run_sops(&sops(), &r, &["decrypt", "secrets/prod.yml"]);
    assert_ok(&o);
    assert_eq!(stdout(&o), "A1: value-one\n");
    assert_eq!(r.run(&["check"]).status.code(), Some(0));
}
