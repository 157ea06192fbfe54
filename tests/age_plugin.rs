//! age plugins (`age1<name>1…` recipients, `AGE-PLUGIN-…` identities) with the real sops and a
//! real plugin: `age-plugin-slstest` (tests/age-plugin-slstest), built by scripts/test into the
//! folder `SLS_SECRETS_TEST_AGE_PLUGIN_DIR`. Its stanzas are age's X25519 ones re-tagged
//! `slstest`, so these tests exercise the plugin protocol as sops speaks it, with no hardware.

mod common;

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use age::Identity as _;
use age_core::format::Stanza;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use common::{Repo, TEST_KEY_1, TEST_RECIPIENT_1, assert_error, assert_ok, stderr, stdout};

const PLUGIN: &str = "age-plugin-slstest";

/// The folder holding the test plugin; a missing plugin fails the test.
fn plugin_dir() -> PathBuf {
    let dir = common::tool(
        "SLS_SECRETS_TEST_AGE_PLUGIN_DIR",
        "target/age-plugin-slstest/debug",
        "the test age plugin (age-plugin-slstest)",
    );
    assert!(
        dir.join(PLUGIN).is_file(),
        "{PLUGIN} is missing from {}: run this test with scripts/test, which builds it",
        dir.display()
    );
    dir
}

/// PATH with the plugin's folder first: how a user who installed the plugin runs things.
fn path_with_plugin() -> OsString {
    let inherited = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![plugin_dir()];
    dirs.extend(std::env::split_paths(&inherited));
    std::env::join_paths(dirs).unwrap()
}

/// A new plugin identity: (the `AGE-PLUGIN-SLSTEST-1…` line, its `age1slstest1…` recipient).
fn keygen() -> (String, String) {
    let o = Command::new(plugin_dir().join(PLUGIN))
        .arg("--keygen")
        .output()
        .unwrap();
    assert_ok(&o);
    let text = stdout(&o);
    let identity = text.lines().find(|l| l.starts_with("AGE-PLUGIN-SLSTEST-1"));
    let recipient = text.lines().find_map(|l| l.strip_prefix("# recipient: "));
    match (identity, recipient) {
        (Some(i), Some(r)) if r.starts_with("age1slstest1") => (i.to_owned(), r.to_owned()),
        _ => panic!("{PLUGIN} --keygen printed no identity and recipient"),
    }
}

/// Writes `home/<name>` holding `lines` (identities); returns its path.
fn key_file(r: &Repo, name: &str, lines: &[&str]) -> PathBuf {
    let path = r.path().join("home").join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// The real sops with `keys` as SOPS_AGE_KEY_FILE and the plugin on PATH.
fn sops(r: &Repo, keys: &Path, args: &[&str]) -> Output {
    Command::new(common::sops())
        .args(args)
        .current_dir(r.path())
        .env_clear()
        .env("PATH", path_with_plugin())
        .env("HOME", r.path().join("home"))
        .env("SOPS_AGE_KEY_FILE", keys)
        .output()
        .unwrap()
}

/// sls-secrets with `keys` as SOPS_AGE_KEY_FILE and the plugin on PATH (or not).
fn ours(r: &Repo, keys: &Path, plugin_on_path: bool, args: &[&str]) -> Output {
    let mut c = r.cmd(".");
    c.env("SOPS_AGE_KEY_FILE", keys);
    if plugin_on_path {
        c.env("PATH", path_with_plugin());
    }
    c.args(args).output().unwrap()
}

/// `secrets/dev.yml` written by the real sops for `recipients` (comma-separated).
fn sops_writes_dev(r: &Repo, recipients: &str) {
    r.write("home/plain.yml", "DB_PASSWORD: hunter2\nAPI_KEY: abc 123\n");
    let nobody = key_file(r, "none.txt", &[]);
    // As if it were secrets/dev.yml (its .sops.yaml rule, if any); `--age` wins over the rule.
    let args = [
        "encrypt",
        "--filename-override",
        "secrets/dev.yml",
        "--age",
        recipients,
    ];
    let o = sops(r, &nobody, &[&args[..], &["home/plain.yml"]].concat());
    assert_ok(&o);
    r.write("secrets/dev.yml", &stdout(&o));
}

/// The recipient stanzas of each age entry (`enc`) in a sops file, in file order.
fn stanzas(file: &str) -> Vec<Vec<Stanza>> {
    let mut out = Vec::new();
    let mut armor: Option<String> = None;
    for line in file.lines().map(str::trim) {
        match (line, armor.as_mut()) {
            ("-----BEGIN AGE ENCRYPTED FILE-----", _) => armor = Some(String::new()),
            ("-----END AGE ENCRYPTED FILE-----", Some(b64)) => {
                let bytes = STANDARD.decode(b64.as_bytes()).unwrap();
                out.push(header_stanzas(&String::from_utf8_lossy(&bytes)));
                armor = None;
            }
            (_, Some(b64)) => b64.push_str(line),
            _ => {}
        }
    }
    out
}

/// The stanzas of an age header (c2sp.org/age): `-> TAG ARGS…`, then the body in lines of 64
/// base64 characters, the last one shorter.
fn header_stanzas(age_file: &str) -> Vec<Stanza> {
    let header = age_file.split("\n---").next().unwrap_or_default();
    let mut lines = header.lines();
    let mut out = Vec::new();
    while let Some(line) = lines.next() {
        let Some(stanza) = line.strip_prefix("-> ") else {
            continue;
        };
        let mut words = stanza.split(' ').map(str::to_owned);
        let tag = words.next().unwrap();
        let mut body = String::new();
        for body_line in lines.by_ref() {
            body.push_str(body_line);
            if body_line.len() < 64 {
                break;
            }
        }
        out.push(Stanza {
            tag,
            args: words.collect(),
            body: STANDARD_NO_PAD.decode(body).unwrap(),
        });
    }
    out
}

/// The stanza tags of each age entry in a sops file, in file order, without the rust age
/// crate's random `…-grease` stanza (there to keep clients ignoring unknown tags).
fn stanza_tags(file: &str) -> Vec<Vec<String>> {
    let real = |tag: &String| !tag.ends_with("-grease");
    let tags = |entry: Vec<Stanza>| entry.into_iter().map(|s| s.tag).filter(real).collect();
    stanzas(file).into_iter().map(tags).collect()
}

/// A repo whose `.sops.yaml` wraps new stage files for the plugin recipient and the X25519
/// test recipient.
fn repo_with_plugin_rule(plugin_recipient: &str) -> Repo {
    let r = Repo::new();
    r.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: secrets/.*\\.yml$\n    age: {plugin_recipient},{TEST_RECIPIENT_1}\n"
        ),
    );
    std::fs::create_dir(r.path().join("secrets")).unwrap();
    r
}

/// (a) The plugin speaks the protocol sops uses: sops encrypts to it and decrypts with it,
/// and another identity of the same plugin opens nothing (real cryptography).
#[test]
#[ignore = "needs sops and the test age plugin: scripts/test builds them and runs this"]
fn sops_encrypts_and_decrypts_through_the_plugin() {
    let (identity, recipient) = keygen();
    let r = Repo::new();
    sops_writes_dev(&r, &recipient);
    let file = r.read("secrets/dev.yml");
    assert!(file.contains(&format!("recipient: {recipient}")), "{file}");
    assert_eq!(stanza_tags(&file), [["slstest"]]);

    let keys = key_file(&r, "plugin.txt", &[&identity]);
    let o = sops(&r, &keys, &["decrypt", "secrets/dev.yml"]);
    assert_ok(&o);
    assert_eq!(stdout(&o), "DB_PASSWORD: hunter2\nAPI_KEY: abc 123\n");

    let (other, _) = keygen();
    let wrong = key_file(&r, "other.txt", &[&other]);
    let o = sops(&r, &wrong, &["decrypt", "secrets/dev.yml"]);
    assert!(!o.status.success(), "another plugin key opened the file");
}

/// The plugin's stanza is age's X25519 stanza in all but its tag: age's own X25519 identity
/// for the same key opens it once re-tagged, and one for another key doesn't. So the plugin's
/// cryptography is age's.
#[test]
#[ignore = "needs sops and the test age plugin: scripts/test builds them and runs this"]
fn the_plugin_stanza_is_age_x25519() {
    let (identity, recipient) = keygen();
    let r = Repo::new();
    sops_writes_dev(&r, &recipient);
    let native = native_identity(&identity);
    let same_key = |plugin: &str, native: &str| bech32_bytes(plugin) == bech32_bytes(native);
    assert!(same_key(&recipient, &native.to_public().to_string()));

    let entries = stanzas(&r.read("secrets/dev.yml"));
    let [entry] = &entries[..] else {
        panic!("one age entry expected: {entries:?}")
    };
    let [stanza] = &entry[..] else {
        panic!("one stanza expected: {entry:?}")
    };
    assert_eq!((stanza.tag.as_str(), stanza.args.len()), ("slstest", 1));
    let x25519 = Stanza {
        tag: "X25519".to_owned(),
        args: stanza.args.clone(),
        body: stanza.body.clone(),
    };
    assert!(matches!(native.unwrap_stanza(&x25519), Some(Ok(_))));
    let other = native_identity(&keygen().0);
    assert!(other.unwrap_stanza(&x25519).is_none());
}

/// age's X25519 identity for the key of a plugin identity (`age-plugin-slstest --x25519`).
fn native_identity(plugin_identity: &str) -> age::x25519::Identity {
    let mut child = Command::new(plugin_dir().join(PLUGIN))
        .arg("--x25519")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{plugin_identity}").unwrap();
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    assert_ok(&o);
    stdout(&o).trim().parse().unwrap()
}

/// The data of a bech32 string (any HRP).
fn bech32_bytes(s: &str) -> Vec<u8> {
    let decoded = age_core::primitives::bech32_decode(
        s,
        |_| "not bech32",
        |_| Ok(()),
        |_, bytes| Ok(bytes.collect::<Vec<u8>>()),
    );
    decoded.unwrap()
}

/// (b) sls-secrets opens a file sops wrote for the plugin recipient, with the plugin identity.
#[test]
#[ignore = "needs sops and the test age plugin: scripts/test builds them and runs this"]
fn we_read_what_sops_wrote_for_a_plugin() {
    let (identity, recipient) = keygen();
    let r = Repo::new();
    sops_writes_dev(&r, &recipient);
    let keys = key_file(&r, "plugin.txt", &[&identity]);

    let o = ours(&r, &keys, true, &["get", "--stage", "dev", "API_KEY"]);
    assert_ok(&o);
    assert_eq!(stdout(&o), "abc 123");
    let o = ours(&r, &keys, true, &["decrypt", "secrets/dev.yml"]);
    assert_ok(&o);
    let theirs = sops(&r, &keys, &["decrypt", "secrets/dev.yml"]);
    assert_ok(&theirs);
    assert_eq!(stdout(&o), stdout(&theirs));

    // The identity in SOPS_AGE_KEY, as sops also reads it.
    let o = r
        .cmd(".")
        .env_remove("SOPS_AGE_KEY_FILE")
        .env("SOPS_AGE_KEY", &identity)
        .env("PATH", path_with_plugin())
        .args(["get", "--stage", "dev", "DB_PASSWORD"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(stdout(&o), "hunter2");
}

/// (c) A stage file sls-secrets writes under a rule with a plugin and an X25519 recipient:
/// sops opens it with the plugin identity alone, and with the X25519 one alone; so do we.
#[test]
#[ignore = "needs sops and the test age plugin: scripts/test builds them and runs this"]
fn sops_reads_what_we_write_for_a_plugin() {
    let (identity, recipient) = keygen();
    let r = repo_with_plugin_rule(&recipient);
    r.write("home/value.txt", "p@ss: word #1\n");
    let set = [
        "set",
        "--stage",
        "dev",
        "DB_PASSWORD",
        "--from-file",
        "home/value.txt",
    ];
    let o = ours(&r, &r.key_file, true, &set);
    assert_ok(&o);
    let file = r.read("secrets/dev.yml");
    assert!(file.contains(&format!("recipient: {recipient}")), "{file}");
    let tags = stanza_tags(&file);
    assert!(tags.contains(&vec!["slstest".to_owned()]), "{tags:?}");
    assert!(tags.contains(&vec!["X25519".to_owned()]), "{tags:?}");

    let plugin_only = key_file(&r, "plugin.txt", &[&identity]);
    let x25519_only = key_file(&r, "x25519.txt", &[TEST_KEY_1]);
    for keys in [&plugin_only, &x25519_only] {
        let o = sops(
            &r,
            keys,
            &[
                "decrypt",
                "--extract",
                "[\"DB_PASSWORD\"]",
                "secrets/dev.yml",
            ],
        );
        assert_ok(&o);
        assert_eq!(stdout(&o), "p@ss: word #1\n");
    }
    let o = ours(
        &r,
        &plugin_only,
        true,
        &["get", "--stage", "dev", "DB_PASSWORD"],
    );
    assert_ok(&o);
    assert_eq!(stdout(&o), "p@ss: word #1\n");
}

/// An error line that names the plugin's program and says it is not on PATH.
fn names_missing_plugin(stderr: &str) -> bool {
    stderr
        .lines()
        .any(|l| l.contains(PLUGIN) && l.contains("PATH"))
}

/// (d) Writing for a plugin recipient whose program is not on PATH: a clear error naming the
/// program, exit 2, nothing written (a new file, and a rotation of an existing one).
#[test]
#[ignore = "needs sops and the test age plugin: scripts/test builds them and runs this"]
fn writing_for_a_plugin_that_is_not_installed_fails_clearly() {
    let (_, recipient) = keygen();
    let r = repo_with_plugin_rule(&recipient);
    let o = r.run_stdin(&["set", "--stage", "dev", "DB_PASSWORD"], "hunter2");
    assert_error(&o);
    assert!(names_missing_plugin(&stderr(&o)), "{}", stderr(&o));
    assert!(!r.path().join("secrets/dev.yml").exists());

    // An existing file (sops wrote it for the X25519 key only): rotating it for the rule's
    // plugin recipient fails the same way and leaves it as it was.
    sops_writes_dev(&r, TEST_RECIPIENT_1);
    let before = r.read("secrets/dev.yml");
    let o = r.run(&["rotate", "--stage", "dev"]);
    assert_error(&o);
    assert!(names_missing_plugin(&stderr(&o)), "{}", stderr(&o));
    assert_eq!(r.read("secrets/dev.yml"), before);
}

/// (d) Reading with a plugin identity whose program is not on PATH: exit 2, and the error
/// lists what was tried (the key file, the plugin) and the file's recipients.
#[test]
#[ignore = "needs sops and the test age plugin: scripts/test builds them and runs this"]
fn reading_with_a_plugin_that_is_not_installed_says_what_was_tried() {
    let (identity, recipient) = keygen();
    let r = Repo::new();
    sops_writes_dev(&r, &recipient);
    let keys = key_file(&r, "plugin.txt", &[&identity]);
    let o = ours(&r, &keys, false, &["get", "--stage", "dev", "API_KEY"]);
    assert_error(&o);
    let err = stderr(&o);
    assert!(names_missing_plugin(&err), "{err}");
    // The key file was looked in, and what was wrong with the identity it holds.
    let key_file_lines = err.lines().filter(|l| l.contains(keys.to_str().unwrap()));
    assert!(
        key_file_lines.filter(|l| l.contains(PLUGIN)).count() >= 1,
        "{err}"
    );
    assert!(err.contains(&recipient), "{err}");
    // The fix is the plugin, not another key file.
    assert!(
        err.contains("1 plugin identity, tried below") && !err.contains("not one of the file's"),
        "{err}"
    );
    assert!(
        err.trim_end().ends_with(&format!(
            "install {PLUGIN} where PATH finds it (sops needs it too)"
        )),
        "{err}"
    );
    assert!(
        !err.contains("abc 123") && !err.contains(&identity),
        "{err}"
    );
}

/// A missing plugin doesn't stop the other identities: a file also wrapped for an X25519 key
/// opens with that key though the plugin identity beside it can't be used.
#[test]
#[ignore = "needs sops and the test age plugin: scripts/test builds them and runs this"]
fn a_missing_plugin_does_not_stop_other_identities() {
    let (identity, recipient) = keygen();
    let r = Repo::new();
    sops_writes_dev(&r, &format!("{recipient},{TEST_RECIPIENT_1}"));
    let keys = key_file(&r, "both.txt", &[&identity, TEST_KEY_1]);
    let o = ours(&r, &keys, false, &["get", "--stage", "dev", "API_KEY"]);
    assert_ok(&o);
    assert_eq!(stdout(&o), "abc 123");
}

/// (e) `keys` lists the plugin recipient of a stage file.
#[test]
#[ignore = "needs sops and the test age plugin: scripts/test builds them and runs this"]
fn keys_lists_the_plugin_recipient() {
    let (_, recipient) = keygen();
    let r = Repo::new();
    sops_writes_dev(&r, &format!("{recipient},{TEST_RECIPIENT_1}"));
    let o = r.run(&["keys", "--stage", "dev"]);
    assert_ok(&o);
    let out = stdout(&o);
    // The whole recipient, or a short form keeping its start and end.
    let (head, tail) = (&recipient[..16], &recipient[recipient.len() - 6..]);
    let line = out.lines().find(|l| l.contains(head) && l.contains(tail));
    assert!(line.is_some_and(|l| l.contains("slstest")), "{out}");
    assert!(out.contains(TEST_RECIPIENT_1), "{out}");
}

/// Reading a file never runs a plugin program that its recipients name, only the plugins of
/// the user's own identities: `git merge` (the merge driver), `git log -p` (textconv), `get`,
/// `check`, `keys` and `diff` on a branch's file wrapped for a plugin run no `age-plugin-*`
/// (here one on PATH that would leave a mark) when the user's identity is an X25519 key.
#[test]
#[ignore = "needs sops, git and the test age plugin: scripts/test builds them and runs this"]
fn reading_a_file_never_runs_a_plugin_its_recipients_name() {
    let (_, recipient) = keygen();
    let r = common::git_repo();
    r.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: secrets/.*\\.yml$\n    age: {recipient},{TEST_RECIPIENT_1}\n"
        ),
    );
    assert_ok(&r.run(&["init", "--git"]));
    let set = |name: &str, value: &str| {
        r.write("home/value.txt", value);
        let value = std::fs::File::open(r.path().join("home/value.txt")).unwrap();
        let mut c = r.cmd(".");
        c.env("PATH", path_with_plugin()).stdin(value);
        assert_ok(&c.args(["set", "--stage", "prod", name]).output().unwrap());
    };
    set("A1", "value-one");
    common::commit_all(&r, "first");
    common::git_ok(&r, &["checkout", "-q", "-b", "other"]);
    set("B1", "value-two");
    common::commit_all(&r, "theirs");
    common::git_ok(&r, &["checkout", "-q", "main"]);
    set("C1", "value-three");
    common::commit_all(&r, "ours");

    // From here on, the only age-plugin-slstest on PATH leaves a mark when run.
    let fake = r.path().join("home/bin");
    std::fs::create_dir_all(&fake).unwrap();
    let mark = r.path().join("home/plugin-was-run");
    let script = fake.join(PLUGIN);
    std::fs::write(
        &script,
        format!("#!/bin/sh\ntouch '{}'\nexit 1\n", mark.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut dirs = vec![fake];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let path = std::env::join_paths(dirs).unwrap();

    let merged = common::git_cmd(&r)
        .env("PATH", &path)
        .args(["merge", "--no-edit", "other"])
        .output()
        .unwrap();
    assert_ok(&merged);
    let log = common::git_cmd(&r)
        .env("PATH", &path)
        .args(["log", "-p"])
        .output()
        .unwrap();
    assert_ok(&log);
    for args in [
        &["get", "--stage", "prod", "B1"][..],
        &["check"],
        &["keys"],
        &["diff", "--stage", "prod"],
    ] {
        let o = r.cmd(".").env("PATH", &path).args(args).output().unwrap();
        assert!(
            !mark.exists(),
            "`sls-secrets {}` ran the plugin: {}",
            args.join(" "),
            stderr(&o)
        );
    }
    assert!(!mark.exists(), "a plugin named by the file was run");
    let o = r
        .cmd(".")
        .env("PATH", &path)
        .args(["get", "--stage", "prod", "B1"])
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "value-two");
    // The mark works: writing for the rule's plugin recipient does run the program on PATH.
    let o = r
        .cmd(".")
        .env("PATH", &path)
        .args(["rotate", "--stage", "prod"])
        .output()
        .unwrap();
    assert_error(&o);
    assert!(mark.exists(), "rotate did not run {PLUGIN}: {}", stderr(&o));
}
