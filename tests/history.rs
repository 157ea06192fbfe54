//! When each value last changed, from real git history (the offboarding report's dates).

mod common;

use common::{Repo, TEST_KEY_1, assert_ok, git, git_cmd, git_ok, git_repo};
use sls_secrets::history::{Changed, last_changes};
use sls_secrets::keys::AgeIdentities;

fn commit_at(r: &Repo, date: &str) {
    git_ok(r, &["add", "-A"]);
    let o = git_cmd(r)
        .env("GIT_COMMITTER_DATE", date)
        .env("GIT_AUTHOR_DATE", date)
        .args(["commit", "-q", "-m", date])
        .output()
        .unwrap();
    assert_ok(&o);
}

fn ours() -> AgeIdentities {
    let ids = sls_secrets::keys::age::parse_identities(TEST_KEY_1, "test").unwrap();
    AgeIdentities::from_identities(ids, "test")
}

fn changed(r: &Repo, names: &[&str]) -> Vec<(String, Changed)> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let path = r.path().join("secrets/prod.yml");
    last_changes(&path, &names, &ours())
        .unwrap()
        .into_iter()
        .map(|c| (c.name, c.changed))
        .collect()
}

fn date_of(changed: &Changed) -> &str {
    match changed {
        Changed::Commit { date, .. } => date,
        other => panic!("expected a commit, got {other:?}"),
    }
}

/// Re-encryption (a new data key, the same value set again) is not a change; a new value is.
#[test]
fn the_date_is_the_oldest_commit_with_the_same_value_through_rotations_and_re_sets() {
    let r = git_repo();
    r.set("prod", "API_KEY", "one");
    r.set("prod", "DB_PASS", "two");
    commit_at(&r, "2026-01-01T10:00:00Z");
    r.set("prod", "API_KEY", "three");
    commit_at(&r, "2026-02-01T10:00:00Z");
    assert_ok(&r.run(&["rotate", "--stage", "prod"]));
    commit_at(&r, "2026-03-01T10:00:00Z");
    // Set again to the same value (a new ciphertext), and a new name not committed.
    r.set("prod", "DB_PASS", "two");
    r.set("prod", "NEW_KEY", "four");
    let got = changed(&r, &["API_KEY", "DB_PASS", "NEW_KEY"]);
    assert_eq!(date_of(&got[0].1), "2026-02-01T10:00:00Z");
    assert_eq!(date_of(&got[1].1), "2026-01-01T10:00:00Z");
    assert_eq!(got[2].1, Changed::Uncommitted);
    // A changed value not yet committed is uncommitted, whatever history says.
    r.set("prod", "DB_PASS", "five");
    assert_eq!(changed(&r, &["DB_PASS"])[0].1, Changed::Uncommitted);
}

/// A version the caller can't open ends the walk: "the same since at least".
#[test]
fn an_older_version_no_key_opens_bounds_the_answer() {
    let r = git_repo();
    // The first version is for the second key only.
    let second = common::second_recipient();
    r.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - path_regex: secrets/.*\\.yml$\n    age: {second}\n"),
    );
    let second_key = r.path().join("home/second.txt");
    std::fs::write(&second_key, format!("{}\n", common::SECOND_KEY)).unwrap();
    let o = r
        .cmd(".")
        .env("SOPS_AGE_KEY_FILE", &second_key)
        .args(["set", "--stage", "prod", "API_KEY"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"one")?;
            child.wait_with_output()
        })
        .unwrap();
    assert_ok(&o);
    commit_at(&r, "2026-01-01T10:00:00Z");
    // Then re-keyed for both, value unchanged.
    r.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: secrets/.*\\.yml$\n    age: {},{second}\n",
            common::TEST_RECIPIENT_1
        ),
    );
    let o = r
        .cmd(".")
        .env("SOPS_AGE_KEY_FILE", &second_key)
        .args(["rotate", "--stage", "prod"])
        .output()
        .unwrap();
    assert_ok(&o);
    commit_at(&r, "2026-02-01T10:00:00Z");
    let got = changed(&r, &["API_KEY"]);
    match &got[0].1 {
        Changed::Unknown { since, why } => {
            assert_eq!(since.as_deref(), Some("2026-02-01T10:00:00Z"));
            assert!(why.contains("can't be opened"), "{why}");
        }
        other => panic!("expected unknown, got {other:?}"),
    }
}

#[test]
fn outside_git_every_name_is_unknown() {
    let r = common::Repo::with_config();
    r.set("prod", "API_KEY", "one");
    let got = changed(&r, &["API_KEY"]);
    assert!(
        matches!(&got[0].1, Changed::Unknown { since: None, why } if why.contains("git")),
        "{got:?}"
    );
}

/// An unknown change's date bound and reason.
fn unknown(changed: &Changed) -> (Option<&str>, &str) {
    match changed {
        Changed::Unknown { since, why } => (since.as_deref(), why),
        other => panic!("expected unknown, got {other:?}"),
    }
}

fn changed_at(path: &std::path::Path, names: &[&str]) -> Vec<Changed> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    last_changes(path, &names, &ours())
        .unwrap()
        .into_iter()
        .map(|c| c.changed)
        .collect()
}

/// A stage file renamed keeps its history: the date is when the value was set under the old
/// name, not the rename.
#[test]
fn a_renamed_stage_file_is_followed() {
    let r = git_repo();
    r.set("production", "API_KEY", "one");
    commit_at(&r, "2026-01-01T10:00:00Z");
    git_ok(&r, &["mv", "secrets/production.yml", "secrets/prod.yml"]);
    commit_at(&r, "2026-06-01T10:00:00Z");
    let got = changed(&r, &["API_KEY"]);
    assert_eq!(date_of(&got[0].1), "2026-01-01T10:00:00Z");
}

/// A file deleted and added back: the value dates from when it came back; a version that is
/// not a SOPS file bounds the answer and says so (not "your keys").
#[test]
fn a_deleted_version_ends_the_walk_and_an_unparsable_one_is_named() {
    let r = git_repo();
    r.set("prod", "API_KEY", "one");
    commit_at(&r, "2026-01-01T10:00:00Z");
    let text = r.read("secrets/prod.yml");
    git_ok(&r, &["rm", "-q", "secrets/prod.yml"]);
    commit_at(&r, "2026-02-01T10:00:00Z");
    r.write("secrets/prod.yml", &text);
    commit_at(&r, "2026-03-01T10:00:00Z");
    let got = changed(&r, &["API_KEY"]);
    assert_eq!(date_of(&got[0].1), "2026-03-01T10:00:00Z");
    r.write("secrets/prod.yml", "not: [a sops file\n");
    commit_at(&r, "2026-04-01T10:00:00Z");
    r.write("secrets/prod.yml", &text);
    commit_at(&r, "2026-05-01T10:00:00Z");
    let got = changed(&r, &["API_KEY"]);
    let (since, why) = unknown(&got[0].1);
    assert_eq!(since, Some("2026-05-01T10:00:00Z"));
    assert!(why.contains("is not a SOPS file"), "{why}");
}

/// In a shallow clone the oldest fetched commit only seems to add the file: a value the same
/// there is "unchanged since at least", not "set then".
#[test]
fn a_shallow_clone_does_not_date_a_value_at_its_cut() {
    let r = git_repo();
    r.set("prod", "OLD_KEY", "one");
    r.set("prod", "NEW_KEY", "two");
    commit_at(&r, "2026-01-01T10:00:00Z");
    r.set("prod", "NEW_KEY", "three");
    commit_at(&r, "2026-02-01T10:00:00Z");
    r.set("prod", "NEW_KEY", "four");
    commit_at(&r, "2026-03-01T10:00:00Z");
    let clone = tempfile::tempdir().unwrap();
    let url = format!("file://{}", r.path().display());
    let dest = clone.path().join("c");
    let o = git_cmd(&r)
        .args(["clone", "-q", "--depth", "2", &url])
        .arg(&dest)
        .output()
        .unwrap();
    assert_ok(&o);
    let got = changed_at(&dest.join("secrets/prod.yml"), &["OLD_KEY", "NEW_KEY"]);
    let (since, why) = unknown(&got[0]);
    assert_eq!(since, Some("2026-02-01T10:00:00Z"));
    assert!(why.contains("shallow"), "{why}");
    assert_eq!(date_of(&got[1]), "2026-03-01T10:00:00Z");
    // The full history dates it.
    let full = changed_at(&r.path().join("secrets/prod.yml"), &["OLD_KEY"]);
    assert_eq!(date_of(&full[0]), "2026-01-01T10:00:00Z");
}

/// Across a merge, the walk follows this branch (first parents): a value brought in by the
/// merge dates from the merge, and the side branch's commits, interleaved by date, don't
/// read as changes (nor make a committed value look uncommitted).
#[test]
fn a_merged_value_dates_from_the_merge_on_this_branch() {
    let r = git_repo();
    r.set("prod", "API_KEY", "a0");
    r.set("prod", "DB_PASS", "b0");
    commit_at(&r, "2026-01-01T10:00:00Z");
    git_ok(&r, &["checkout", "-q", "-b", "feat"]);
    r.set("prod", "API_KEY", "a1");
    commit_at(&r, "2026-02-01T10:00:00Z");
    git_ok(&r, &["checkout", "-q", "main"]);
    r.set("prod", "DB_PASS", "b1");
    commit_at(&r, "2026-03-01T10:00:00Z");
    // No merge driver here: the stage file conflicts; take feat's and set DB_PASS again.
    let _ = git(&r, &["merge", "-q", "--no-ff", "--no-edit", "feat"]);
    git_ok(&r, &["checkout", "-q", "--theirs", "secrets/prod.yml"]);
    r.set("prod", "DB_PASS", "b1");
    commit_at(&r, "2026-05-01T10:00:00Z");
    let parents = git_ok(&r, &["log", "-1", "--format=%P"]);
    assert_eq!(parents.split_whitespace().count(), 2, "a merge commit");
    let got = changed(&r, &["API_KEY", "DB_PASS"]);
    assert_eq!(date_of(&got[0].1), "2026-05-01T10:00:00Z");
    assert_eq!(date_of(&got[1].1), "2026-03-01T10:00:00Z");
}

/// A version too large to be a stage file (committed on a branch: zeros compress to little)
/// is not read whole; it bounds the answer and says why.
#[test]
fn a_huge_version_is_not_read() {
    let r = git_repo();
    r.write("secrets/prod.yml", &"#".repeat(17 * 1024 * 1024));
    commit_at(&r, "2026-01-01T10:00:00Z");
    std::fs::remove_file(r.path().join("secrets/prod.yml")).unwrap();
    r.set("prod", "API_KEY", "one");
    commit_at(&r, "2026-02-01T10:00:00Z");
    let got = changed(&r, &["API_KEY"]);
    let (since, why) = unknown(&got[0].1);
    assert_eq!(since, Some("2026-02-01T10:00:00Z"));
    assert!(why.contains("larger than 16 MiB"), "{why}");
}
