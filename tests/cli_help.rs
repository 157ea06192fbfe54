//! The command-line surface: `--help` is snapshotted so changes to it are reviewed.

use std::process::Command;

fn help(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_sls-secrets"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(o.status.success());
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn top_level_help() {
    insta::assert_snapshot!(help(&["--help"]));
}

#[test]
fn render_help() {
    insta::assert_snapshot!(help(&["render", "--help"]));
}

#[test]
fn usage_errors_exit_2() {
    let o = Command::new(env!("CARGO_BIN_EXE_sls-secrets"))
        .args(["set"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = Command::new(env!("CARGO_BIN_EXE_sls-secrets"))
        .args(["frobnicate"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}
