//! The edits over the rule shapes `.sops.yaml` files use, snapshotted (insta), and each
//! result read back by the config parser: the rule holds exactly the expected recipients.

use super::*;
use crate::config::Config;

const A: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
const B: &str = "age1mqa2pgac9vm7nt4jwhhc2xftafrtaft620xup6z0fyf9ek4zjgjscmkwk4";
const NEW: &str = "age12ycqv5td3k72mdnjzhsj9qz9lvky24me78kdj6t3u84dukwd557shjcxup";
const SSH: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJWYyCUyUulBdR59ahTIXNw/o/ygJlF084qkYEyhWu9M alice@laptop";
const ARN: &str = "arn:aws:kms:eu-west-1:111122223333:key/k";

/// The age recipients (and KMS ARNs) rule `index` holds, as the config parser reads them.
fn keys_of(text: &str, index: usize, file: &str) -> Vec<String> {
    let cfg = Config::from_text(std::path::Path::new("/repo/.sops.yaml"), text).unwrap();
    let rule = cfg
        .rule_for(&std::path::Path::new("/repo").join(file))
        .unwrap()
        .unwrap();
    assert_eq!(rule.index, index, "{text}");
    rule.keys.iter().map(|k| k.id().to_owned()).collect()
}

fn is(recipient: &'static str) -> impl Fn(&str) -> bool {
    move |s| s == recipient
}

#[test]
fn adds_to_a_comma_list() {
    let text = format!(
        "# team\ncreation_rules:\n    - path_regex: (^|/)secrets/[^/]+\\.ya?ml$\n      age: {A},{B}\n"
    );
    let out = add_recipient(&text, 0, NEW).unwrap();
    assert_eq!(keys_of(&out, 0, "secrets/dev.yml"), [A, B, NEW]);
    insta::assert_snapshot!(out);
}

#[test]
fn adds_to_a_quoted_list_with_spaces() {
    let text = format!("creation_rules:\n  - path_regex: secrets/\n    age: \"{A}, {B}\"\n");
    let out = add_recipient(&text, 0, NEW).unwrap();
    assert_eq!(keys_of(&out, 0, "secrets/dev.yml"), [A, B, NEW]);
    insta::assert_snapshot!(out);
}

/// A comment beside a one-recipient line names that person: the newcomer gets a line of its
/// own (a block list), not a place under someone else's name.
#[test]
fn a_commented_line_becomes_a_block_list() {
    let text = format!("creation_rules:\n  - path_regex: secrets/\n    age: '{A}' # alice\n");
    let out = add_recipient(&text, 0, NEW).unwrap();
    assert_eq!(keys_of(&out, 0, "secrets/dev.yml"), [A, NEW]);
    insta::assert_snapshot!("commented_one", out);
    let cfg = Config::from_text(std::path::Path::new("/repo/.sops.yaml"), &out).unwrap();
    let rule = cfg
        .rule_for(std::path::Path::new("/repo/secrets/dev.yml"))
        .unwrap()
        .unwrap();
    assert_eq!(rule.comment_for(A).as_deref(), Some("alice"));
    assert_eq!(rule.comment_for(NEW), None);
    let text = format!("creation_rules:\n  - age: {A},{B} # team\n");
    let out = add_recipient(&text, 0, NEW).unwrap();
    assert_eq!(keys_of(&out, 0, "secrets/dev.yml"), [A, B, NEW]);
    insta::assert_snapshot!("commented_several", out);
}

#[test]
fn adds_to_a_block_list_and_removes_keeping_comments() {
    let text = format!(
        "creation_rules:\n  - path_regex: prod\\.yml$\n    kms: {ARN}\n  - path_regex: secrets/\n    age:\n      - {A} # alice\n      # the CI key\n      - {B}   # ci\n    encrypted_regex: ^(DB|API)_\n"
    );
    let added = add_recipient(&text, 1, SSH).unwrap();
    assert_eq!(keys_of(&added, 1, "secrets/dev.yml"), [A, B, SSH]);
    insta::assert_snapshot!("block_list_added", added);
    let removed = remove_recipient(&added, 1, &is(A)).unwrap().unwrap();
    assert_eq!(keys_of(&removed, 1, "secrets/dev.yml"), [B, SSH]);
    insta::assert_snapshot!("block_list_removed", removed);
    assert!(remove_recipient(&text, 1, &is(NEW)).unwrap().is_none());
}

#[test]
fn an_ssh_key_whose_comment_holds_a_hash_is_quoted() {
    let key = SSH.replace("alice@laptop", "bob #2");
    let text = format!("creation_rules:\n  - age: {A}\n");
    let out = add_recipient(&text, 0, &key).unwrap();
    assert_eq!(keys_of(&out, 0, "secrets/dev.yml"), [A, key.as_str()]);
    insta::assert_snapshot!(out);
}

#[test]
fn key_groups_block_and_flow() {
    let text = format!(
        "creation_rules:\n  - path_regex: secrets/\n    key_groups:\n      - age:\n          - {A}\n        kms:\n          - arn: {ARN}\n            context: {{stage: dev}}\n"
    );
    let out = add_recipient(&text, 0, NEW).unwrap();
    assert_eq!(keys_of(&out, 0, "secrets/dev.yml"), [A, NEW, ARN]);
    insta::assert_snapshot!("key_groups_block_added", out);
    // The group's last age recipient out, its KMS key left: the `-` line stays, as `[]`.
    let removed = remove_recipient(&text, 0, &is(A)).unwrap().unwrap();
    assert_eq!(keys_of(&removed, 0, "secrets/dev.yml"), [ARN]);
    insta::assert_snapshot!("key_groups_block_emptied", removed);
    let flow = format!("creation_rules:\n  - key_groups:\n      - age: [{A}]\n");
    let out = add_recipient(&flow, 0, NEW).unwrap();
    assert_eq!(keys_of(&out, 0, "secrets/dev.yml"), [A, NEW]);
    insta::assert_snapshot!("key_groups_flow_added", out);
}

#[test]
fn a_rule_with_no_age_gets_one() {
    let text = format!(
        "creation_rules:\n  - path_regex: secrets/\n    kms: {ARN}\n    aws_profile: prod\nstores:\n  yaml:\n    indent: 4\n"
    );
    let out = add_recipient(&text, 0, NEW).unwrap();
    assert_eq!(keys_of(&out, 0, "secrets/dev.yml"), [NEW, ARN]);
    insta::assert_snapshot!("flat_kms_only", out);
    let group = format!("creation_rules:\n  - key_groups:\n      - kms:\n          - arn: {ARN}\n");
    let out = add_recipient(&group, 0, NEW).unwrap();
    assert_eq!(keys_of(&out, 0, "secrets/dev.yml"), [NEW, ARN]);
    insta::assert_snapshot!("group_kms_only", out);
}

#[test]
fn removes_from_a_comma_list_and_drops_an_emptied_key() {
    let text =
        format!("creation_rules:\n  - path_regex: secrets/\n    age: {A}, {B}\n    kms: {ARN}\n");
    let out = remove_recipient(&text, 0, &is(A)).unwrap().unwrap();
    assert_eq!(keys_of(&out, 0, "secrets/dev.yml"), [B, ARN]);
    let out = remove_recipient(&out, 0, &is(B)).unwrap().unwrap();
    assert_eq!(keys_of(&out, 0, "secrets/dev.yml"), [ARN]);
    insta::assert_snapshot!(out);
}

#[test]
fn splits_a_shared_rule_for_one_file() {
    let text = format!(
        "creation_rules:\n  # every stage file\n  - path_regex: (^|/)secrets/[^/]+\\.ya?ml$\n    age: {A} # alice\n    encrypted_regex: ^DB_\n  - path_regex: other/\n    age: {B}\n"
    );
    let split = split_rule(&text, 0, r"^secrets/dev\.yml$", "stage dev only").unwrap();
    let out = add_recipient(&split, 0, NEW).unwrap();
    assert_eq!(keys_of(&out, 0, "secrets/dev.yml"), [A, NEW]);
    assert_eq!(keys_of(&out, 1, "secrets/prod.yml"), [A]);
    assert_eq!(keys_of(&out, 2, "other/x.yml"), [B]);
    insta::assert_snapshot!("split_then_added", out);
    // A rule with no path_regex whose first key sits on the `-` line.
    let bare = format!("creation_rules:\n- age: {A}\n  kms: {ARN}\n");
    let out = split_rule(&bare, 0, r"^secrets/dev\.yml$", "stage dev only").unwrap();
    let out = remove_recipient(&out, 0, &is(A)).unwrap().unwrap();
    assert_eq!(keys_of(&out, 0, "secrets/dev.yml"), [ARN]);
    assert_eq!(keys_of(&out, 1, "secrets/prod.yml"), [A, ARN]);
    insta::assert_snapshot!("split_bare_then_removed", out);
}

#[test]
fn crlf_and_no_final_newline_are_kept() {
    let text = format!("creation_rules:\r\n  - path_regex: x\r\n    age:\r\n      - {A}");
    let out = add_recipient(&text, 0, NEW).unwrap();
    assert_eq!(
        out,
        format!(
            "creation_rules:\r\n  - path_regex: x\r\n    age:\r\n      - {A}\r\n      - {NEW}\r\n"
        )
    );
}

#[test]
fn what_it_does_not_edit_is_an_error_naming_the_line() {
    let cases = [
        format!("creation_rules:\n  - {{path_regex: x, age: {A}}}\n"),
        format!("creation_rules:\n  - path_regex: x\n    age: >\n      {A}\n"),
        format!("creation_rules:\n  - key_groups:\n      - age: [{A}]\n      - age: [{B}]\n"),
        format!("creation_rules:\n  - path_regex: x\n    age: {A},\n      {B}\n"),
        format!("creation_rules: [{{age: {A}}}]\n"),
    ];
    let errors: Vec<String> = cases
        .iter()
        .map(|text| add_recipient(text, 0, NEW).unwrap_err().to_string())
        .collect();
    insta::assert_snapshot!(errors.join("\n"));
    assert!(matches!(
        add_recipient("stores: {}\n", 0, NEW),
        Err(EditError::NoRules)
    ));
    assert!(matches!(
        add_recipient(&format!("creation_rules:\n  - age: {A}\n"), 1, NEW),
        Err(EditError::NoRule(1))
    ));
}
