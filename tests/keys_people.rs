//! `keys add` / `keys remove` end to end (issue 25 items 4-6): the rules in `.sops.yaml`,
//! the stage files, the real sops reading both, the offboarding report, and bad input
//! refused with nothing written.

mod common;

use std::collections::BTreeMap;
use std::process::Output;

use age::secrecy::ExposeSecret;
use common::{
    Repo, SECOND_KEY, TEST_RECIPIENT_1, assert_error, assert_ok, commit_all, git_repo, run_sops,
    second_recipient, sops, stderr, stdout,
};

/// A new age identity: (private key, recipient).
fn identity() -> (String, String) {
    let id = age::x25519::Identity::generate();
    (
        id.to_string().expose_secret().to_owned(),
        id.to_public().to_string(),
    )
}

/// A repository with dev (two values) and prod (one) encrypted for the test key.
fn two_stages() -> Repo {
    let r = Repo::with_config();
    r.set("dev", "DB_PASSWORD", "dev-db-V4LUE");
    r.set("dev", "API_TOKEN", "dev-api-V4LUE");
    r.set("prod", "DB_PASSWORD", "prod-db-V4LUE");
    r
}

/// `decrypt FILE` with only `key` as identity.
fn decrypt_with(r: &Repo, key: &str, file: &str) -> Output {
    r.cmd(".")
        .env_remove("SOPS_AGE_KEY_FILE")
        .env("SOPS_AGE_KEY", key)
        .args(["decrypt", file])
        .output()
        .unwrap()
}

/// The real sops decrypting `file` with only `key`.
fn sops_decrypt_with(r: &Repo, key: &str, file: &str) -> Output {
    let key_file = r.path().join("home/only-key.txt");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    sops_decrypt_env(r, file, "SOPS_AGE_KEY_FILE", &key_file.to_string_lossy())
}

/// The real sops decrypting `file` with only an SSH private key.
fn sops_decrypt_with_ssh(r: &Repo, private: &str, file: &str) -> Output {
    sops_decrypt_env(r, file, "SOPS_AGE_SSH_PRIVATE_KEY_FILE", private)
}

/// The real sops decrypting `file` with no key source but `var=value`.
fn sops_decrypt_env(r: &Repo, file: &str, var: &str, value: &str) -> Output {
    std::process::Command::new(sops())
        .args(["decrypt", file])
        .current_dir(r.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", r.path().join("home"))
        .env(var, value)
        .output()
        .unwrap()
}

/// The value lines (`NAME: ENC[...]`) of a stage file, by name.
fn ciphertexts(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with(' ') && l.contains(": ENC["))
        .map(|l| {
            let (name, enc) = l.split_once(": ").unwrap();
            (name.to_owned(), enc.to_owned())
        })
        .collect()
}

/// The age recipients the real sops picks from `.sops.yaml` for a new file at `path`.
fn sops_recipients_for(r: &Repo, path: &str) -> String {
    r.write("home/plain.yml", "X: y\n");
    let o = run_sops(
        &sops(),
        r,
        &["encrypt", "--filename-override", path, "home/plain.yml"],
    );
    assert_ok(&o);
    let text = stdout(&o);
    text.lines()
        .filter(|l| l.trim_start().starts_with("- recipient:"))
        .map(|l| l.trim_start()["- recipient: ".len()..].to_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every file that `keys` commands may write, with its bytes.
fn snapshot(r: &Repo) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    out.insert(
        ".sops.yaml".to_owned(),
        std::fs::read(r.path().join(".sops.yaml")).unwrap(),
    );
    for e in std::fs::read_dir(r.path().join("secrets")).unwrap() {
        let p = e.unwrap().path();
        out.insert(
            p.file_name().unwrap().to_string_lossy().into_owned(),
            std::fs::read(&p).unwrap(),
        );
    }
    out
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn add_all_opens_every_file_and_keeps_every_ciphertext() {
    let r = two_stages();
    let before = (r.read("secrets/dev.yml"), r.read("secrets/prod.yml"));
    let (key, recipient) = identity();
    // `lastmodified` has whole seconds.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let o = r.run(&["keys", "add", "--age", &recipient, "--all"]);
    assert_ok(&o);
    for (file, old, value) in [
        ("secrets/dev.yml", &before.0, "dev-db-V4LUE"),
        ("secrets/prod.yml", &before.1, "prod-db-V4LUE"),
    ] {
        let new = r.read(file);
        assert_eq!(
            ciphertexts(&new),
            ciphertexts(old),
            "{file}: values re-encrypted"
        );
        assert_eq!(
            ciphertexts(&new).len(),
            if file.contains("dev") { 2 } else { 1 }
        );
        assert_ne!(
            new.lines().find(|l| l.contains("lastmodified")),
            old.lines().find(|l| l.contains("lastmodified"))
        );
        let ours = decrypt_with(&r, &key, file);
        assert_ok(&ours);
        assert!(stdout(&ours).contains(value), "{}", stdout(&ours));
        let theirs = sops_decrypt_with(&r, &key, file);
        assert_ok(&theirs);
        assert!(stdout(&theirs).contains(value));
        // The old key still opens it (the MAC is valid for both).
        assert_ok(&r.run(&["decrypt", file]));
    }
    // The rule names the newcomer, and sops reads the edited file and picks it.
    assert!(r.read(".sops.yaml").contains(&recipient));
    let picked = sops_recipients_for(&r, "secrets/qa.yml");
    assert!(
        picked.contains(&recipient) && picked.contains(TEST_RECIPIENT_1),
        "{picked}"
    );
    assert!(stderr(&o).contains("values unchanged"), "{}", stderr(&o));
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn add_for_one_stage_splits_a_shared_rule_and_leaves_prod_alone() {
    let r = two_stages();
    let prod = std::fs::read(r.path().join("secrets/prod.yml")).unwrap();
    let (key, recipient) = identity();
    let o = r.run(&["keys", "add", "--age", &recipient, "--stage", "dev"]);
    assert_ok(&o);
    assert!(
        stderr(&o).contains("also serves stage prod")
            && stderr(&o).contains("got a rule of its own"),
        "{}",
        stderr(&o)
    );
    assert_ok(&decrypt_with(&r, &key, "secrets/dev.yml"));
    assert_error(&decrypt_with(&r, &key, "secrets/prod.yml"));
    assert_eq!(
        std::fs::read(r.path().join("secrets/prod.yml")).unwrap(),
        prod
    );
    // sops: dev's new rule has the newcomer; prod and later files keep the shared rule.
    let config = r.read(".sops.yaml");
    assert!(
        config.contains(r"path_regex: ^secrets/dev\.yml$"),
        "{config}"
    );
    assert!(sops_recipients_for(&r, "secrets/dev.yml").contains(&recipient));
    for other in ["secrets/prod.yml", "secrets/qa.yml"] {
        let picked = sops_recipients_for(&r, other);
        assert!(!picked.contains(&recipient), "{other}: {picked}");
        assert!(picked.contains(TEST_RECIPIENT_1));
    }
    // A second add for the same stage goes into dev's own rule: no second split.
    let (_, third) = identity();
    assert_ok(&r.run(&["keys", "add", "--age", &third, "--stage", "dev"]));
    assert_eq!(r.read(".sops.yaml").matches("path_regex").count(), 2);
}

/// A git repository whose dev and prod files are encrypted for the test key, the second
/// key and a leaver, committed.
fn with_leaver() -> (Repo, String, String) {
    let r = git_repo();
    r.set("dev", "DB_PASSWORD", "dev-db-V4LUE");
    r.set("dev", "API_TOKEN", "dev-api-V4LUE");
    r.set("prod", "STRIPE_KEY", "prod-stripe-V4LUE");
    assert_ok(&r.run(&["keys", "add", "--age", &second_recipient(), "--all"]));
    let (key, recipient) = identity();
    assert_ok(&r.run(&["keys", "add", "--age", &recipient, "--all"]));
    commit_all(&r, "secrets");
    (r, key, recipient)
}

#[test]
#[ignore = "needs the sops binary and git: scripts/test sets them up and runs this"]
fn remove_all_rekeys_every_file_and_reports_names_never_values() {
    let (r, key, recipient) = with_leaver();
    let before = (r.read("secrets/dev.yml"), r.read("secrets/prod.yml"));
    let o = r.run(&["keys", "remove", &recipient, "--all"]);
    assert_ok(&o);
    for (file, old) in [
        ("secrets/dev.yml", &before.0),
        ("secrets/prod.yml", &before.1),
    ] {
        let new = r.read(file);
        let (old_values, new_values) = (ciphertexts(old), ciphertexts(&new));
        assert_eq!(old_values.len(), new_values.len());
        for (name, enc) in &new_values {
            assert_ne!(
                Some(enc),
                old_values.get(name),
                "{file} {name}: same ciphertext"
            );
        }
        assert_error(&decrypt_with(&r, &key, file));
        assert_ok(&decrypt_with(&r, SECOND_KEY, file));
        assert_ok(&r.run(&["decrypt", file]));
        let theirs = sops_decrypt_with(&r, SECOND_KEY, file);
        assert_ok(&theirs);
        assert!(stdout(&theirs).contains("V4LUE"));
    }
    assert!(!r.read(".sops.yaml").contains(&recipient));
    assert!(!sops_recipients_for(&r, "secrets/qa.yml").contains(&recipient));
    let report = stdout(&o);
    for name in [
        "DB_PASSWORD",
        "API_TOKEN",
        "STRIPE_KEY",
        "stage dev",
        "stage prod",
    ] {
        assert!(report.contains(name), "{name} missing:\n{report}");
    }
    assert!(
        report.contains("Change each secret at its source"),
        "{report}"
    );
    let everything = format!("{report}{}", stderr(&o));
    assert!(
        !everything.contains("V4LUE"),
        "a value was printed:\n{everything}"
    );
}

#[test]
#[ignore = "needs the sops binary and git: scripts/test sets them up and runs this"]
fn remove_one_stage_as_json_keeps_the_other_stage_open_to_it() {
    let (r, key, recipient) = with_leaver();
    let prod = std::fs::read(r.path().join("secrets/prod.yml")).unwrap();
    let o = r.run(&["keys", "remove", &recipient, "--stage", "dev", "--json"]);
    assert_ok(&o);
    assert_error(&decrypt_with(&r, &key, "secrets/dev.yml"));
    assert_ok(&decrypt_with(&r, &key, "secrets/prod.yml"));
    assert_eq!(
        std::fs::read(r.path().join("secrets/prod.yml")).unwrap(),
        prod
    );
    assert!(!sops_recipients_for(&r, "secrets/dev.yml").contains(&recipient));
    assert!(sops_recipients_for(&r, "secrets/prod.yml").contains(&recipient));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["version"], 1);
    assert_eq!(report["recipient"], recipient.as_str());
    let stages = report["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 1);
    assert_eq!(stages[0]["stage"], "dev");
    let mut names: Vec<&str> = stages[0]["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let kind = n["changed"]["kind"].as_str().unwrap();
            assert!(["commit", "uncommitted", "unknown"].contains(&kind), "{n}");
            n["name"].as_str().unwrap()
        })
        .collect();
    names.sort();
    assert_eq!(names, ["API_TOKEN", "DB_PASSWORD"]);
    assert!(!stdout(&o).contains("V4LUE"));
}

/// Runs `args`, expects exit 2 with `message` in stderr, and every file byte-identical.
#[track_caller]
fn refused(r: &Repo, args: &[&str], message: &str) -> String {
    let before = snapshot(r);
    let o = r.run(args);
    assert_error(&o);
    assert!(stderr(&o).contains(message), "{args:?}: {}", stderr(&o));
    assert_eq!(snapshot(r), before, "{args:?} wrote something");
    stderr(&o)
}

#[test]
#[ignore = "needs the sops binary and ssh-keygen: scripts/test sets them up and runs this"]
fn bad_input_is_refused_with_nothing_written() {
    let r = two_stages();
    let (_, newcomer) = identity();
    refused(
        &r,
        &["keys", "add", "--age", "age1nope", "--all"],
        "is not an age recipient",
    );
    refused(
        &r,
        &[
            "keys",
            "add",
            "--ssh",
            "ssh-ed25519 AAAAnotakey bob",
            "--all",
        ],
        "is not an age recipient",
    );
    let weak = ssh_key(&r, "weak", &["-t", "rsa", "-b", "1024"]);
    refused(
        &r,
        &["keys", "add", "--ssh-file", &weak, "--stage", "dev"],
        "under 2048 bits",
    );
    let private = weak.trim_end_matches(".pub");
    refused(
        &r,
        &["keys", "add", "--ssh-file", private, "--all"],
        "is a private key",
    );
    let two = format!("{}\n{}\n", ssh_public(&r, "one"), ssh_public(&r, "two"));
    r.write("home/two.pub", &two);
    refused(
        &r,
        &["keys", "add", "--ssh-file", "home/two.pub", "--all"],
        "holds 2 keys",
    );
    let comma = format!("{} bob,laptop", ssh_public(&r, "comma"));
    refused(&r, &["keys", "add", "--ssh", &comma, "--all"], "comma");
    refused(
        &r,
        &["keys", "add", "--age", TEST_RECIPIENT_1, "--all"],
        "already a recipient of",
    );
    refused(
        &r,
        &["keys", "add", "--age", &newcomer],
        "give --stage STAGE or --all",
    );
    refused(
        &r,
        &["keys", "add", "--age", &newcomer, "--stage", "dev", "--all"],
        "both given",
    );
    refused(
        &r,
        &["keys", "remove", &newcomer, "--all"],
        "is not a recipient of",
    );
    refused(
        &r,
        &["keys", "remove", TEST_RECIPIENT_1, "--stage", "dev"],
        "is the last key of",
    );
    // A stage with no file of its own, by a stage rule: say where its secrets come from.
    r.write(
        ".sls-secrets.yml",
        "stages:\n  - match: \"pr-*\"\n    from: dev\n",
    );
    refused(
        &r,
        &["keys", "add", "--age", &newcomer, "--stage", "pr-1"],
        "its secrets come from dev",
    );
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn a_file_this_user_cannot_open_stops_everything_and_names_who_can() {
    let r = two_stages();
    // qa is encrypted for the second key only (by the real sops: anyone's sops can).
    let qa = common::sops_encrypt_as(
        &r,
        "secrets/qa.yml",
        "X: qa-V4LUE\n",
        &["--age", &second_recipient()],
    );
    r.write("secrets/qa.yml", &qa);
    let (_, newcomer) = identity();
    let err = refused(
        &r,
        &["keys", "add", "--age", &newcomer, "--all"],
        "can't open",
    );
    assert!(
        err.contains("secrets/qa.yml") && err.contains(&second_recipient()),
        "{err}"
    );
    assert!(err.contains("it can be opened by"), "{err}");
}

/// Makes an SSH key pair with ssh-keygen; returns the public key file's path.
fn ssh_key(r: &Repo, name: &str, args: &[&str]) -> String {
    let path = r.path().join("home").join(name);
    let o = std::process::Command::new("ssh-keygen")
        .args(args)
        .args(["-q", "-N", "", "-C", &format!("{name}@laptop"), "-f"])
        .arg(&path)
        .output()
        .expect("ssh-keygen is needed");
    assert_ok(&o);
    format!("{}.pub", path.display())
}

/// An ed25519 public key without its comment.
fn ssh_public(r: &Repo, name: &str) -> String {
    let text = std::fs::read_to_string(ssh_key(r, name, &["-t", "ed25519"])).unwrap();
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A `.sops.yaml` rule for the test key (`# ci`) and a new SSH key `name@laptop` (with
/// `comment`); returns the public key file and its text.
fn with_ssh_in_rule(r: &Repo, name: &str, comment: &str) -> (String, String) {
    let public = ssh_key(r, name, &["-t", "ed25519"]);
    let key_text = std::fs::read_to_string(&public).unwrap().trim().to_owned();
    r.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: secrets/.*\\.yml$\n    age:\n      - {TEST_RECIPIENT_1} # ci\n      - {key_text} # {comment}\n"
        ),
    );
    (public, key_text)
}

#[test]
#[ignore = "needs the sops binary and ssh-keygen: scripts/test sets them up and runs this"]
fn keys_lists_an_ssh_recipient_short_with_its_comments() {
    let r = Repo::with_config();
    let (public, key_text) = with_ssh_in_rule(&r, "alice", "Alice Liddell");
    let sops_file = common::sops_encrypt_as(&r, "secrets/dev.yml", "X: y\n", &[]);
    r.write("secrets/dev.yml", &sops_file);
    let o = r.run(&["keys", "--stage", "dev"]);
    assert_ok(&o);
    let out = stdout(&o);
    let fingerprint = std::process::Command::new("ssh-keygen")
        .args(["-l", "-f", &public])
        .output()
        .unwrap();
    let fingerprint = stdout(&fingerprint);
    let sha = fingerprint.split_whitespace().nth(1).unwrap();
    assert!(
        out.contains(&format!(
            "age  ssh-ed25519 {}… alice@laptop  # Alice Liddell",
            &sha[..19]
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("age  {TEST_RECIPIENT_1}  # ci")),
        "{out}"
    );
    assert!(!out.contains(&key_text), "the whole key was listed:\n{out}");
    assert!(out.contains(".sops.yaml: up to date"), "{out}");
}

/// `keys add --ssh-file`: the rule holds the key as sops wants it (with its comment), the
/// file's data key is wrapped for it, and sops opens the file with the SSH private key.
/// Wrapping for an SSH recipient comes with issue 25 item 1 (branch wt-ssh): until that
/// lands this test fails at the wrap.
#[test]
#[ignore = "needs the sops binary and ssh-keygen: scripts/test sets them up and runs this"]
fn add_ssh_file_edits_the_rule_and_wraps_for_the_key() {
    let r = two_stages();
    let public = ssh_key(&r, "bob", &["-t", "ed25519"]);
    let key_text = std::fs::read_to_string(&public).unwrap().trim().to_owned();
    let o = r.run(&["keys", "add", "--ssh-file", &public, "--stage", "dev"]);
    assert_ok(&o);
    let config = r.read(".sops.yaml");
    assert!(config.contains(&key_text), "{config}");
    assert!(sops_recipients_for(&r, "secrets/dev.yml").contains("bob@laptop"));
    let dev = r.read("secrets/dev.yml");
    assert!(dev.contains("ssh-ed25519"), "{dev}");
    let private = public.trim_end_matches(".pub");
    let theirs = sops_decrypt_with_ssh(&r, private, "secrets/dev.yml");
    assert_ok(&theirs);
    assert!(stdout(&theirs).contains("dev-db-V4LUE"));
    // Removing it by the short form `keys` lists (fingerprint prefix) works too.
    let fingerprint = std::process::Command::new("ssh-keygen")
        .args(["-l", "-f", &public])
        .output()
        .unwrap();
    let sha = stdout(&fingerprint)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned();
    assert_ok(&r.run(&["keys", "remove", &sha[..19], "--stage", "dev"]));
    assert!(!r.read("secrets/dev.yml").contains("ssh-ed25519"));
}

/// The real sops reads what the `.sops.yaml` editor writes, in every rule shape it edits:
/// an X25519 recipient and an SSH key whose comment needs quoting go in, then out again.
#[test]
#[ignore = "needs the sops binary and ssh-keygen: scripts/test sets them up and runs this"]
fn sops_reads_every_edited_rule_shape() {
    use sls_secrets::rule_edit::{add_recipient, remove_recipient};
    let r = Repo::with_config();
    let (_, newcomer) = identity();
    let ssh = format!("{} bob #2 laptop", ssh_public(&r, "bob"));
    let blob = ssh.split_whitespace().nth(1).unwrap().to_owned();
    let second = second_recipient();
    let shapes = [
        format!(
            "creation_rules:\n    - path_regex: (^|/)secrets/[^/]+\\.ya?ml$\n      age: {TEST_RECIPIENT_1},{second}\n"
        ),
        format!(
            "creation_rules:\n  - path_regex: secrets/\n    age: \"{TEST_RECIPIENT_1}, {second}\"\n"
        ),
        format!("creation_rules:\n  - path_regex: secrets/\n    age: {TEST_RECIPIENT_1} # alice\n"),
        format!(
            "creation_rules:\n  # all\n  - path_regex: secrets/\n    age:\n      - {TEST_RECIPIENT_1} # alice\n      - {second} # ci\n    encrypted_regex: ^X\n"
        ),
        format!(
            "creation_rules:\n  - path_regex: secrets/\n    key_groups:\n      - age:\n          - {TEST_RECIPIENT_1}\n"
        ),
        format!("creation_rules:\n  - key_groups:\n      - age: [{TEST_RECIPIENT_1}]\n"),
    ];
    // In and out again gives the original text back, except where adding changed the form:
    // a plain list quoted for the SSH key's `#`, a commented line made a block list.
    let changes_form = [true, false, true, false, false, false];
    for (shape, changes_form) in shapes.iter().zip(changes_form) {
        let added = add_recipient(shape, 0, &newcomer).unwrap();
        let added = add_recipient(&added, 0, &ssh).unwrap();
        r.write(".sops.yaml", &added);
        let picked = sops_recipients_for(&r, "secrets/dev.yml");
        for want in [TEST_RECIPIENT_1, newcomer.as_str(), blob.as_str()] {
            assert!(
                picked.contains(want),
                "{want} not picked from\n{added}\n{picked}"
            );
        }
        let removed = remove_recipient(&added, 0, &|s| s == newcomer)
            .unwrap()
            .unwrap();
        let removed = remove_recipient(&removed, 0, &|s| s.contains(&blob))
            .unwrap()
            .unwrap();
        if !changes_form {
            assert_eq!(&removed, shape, "in and out again is the original text");
        }
        r.write(".sops.yaml", &removed);
        let picked = sops_recipients_for(&r, "secrets/dev.yml");
        assert!(
            picked.contains(TEST_RECIPIENT_1) && !picked.contains(&newcomer),
            "{picked}"
        );
    }
}

/// An SSH key put in by sops (anyone's sops can) comes out by the fingerprint `keys` shows:
/// removing needs no SSH support, only a key that opens the file.
#[test]
#[ignore = "needs the sops binary and ssh-keygen: scripts/test sets them up and runs this"]
fn remove_an_ssh_key_by_the_fingerprint_keys_shows() {
    let r = Repo::with_config();
    let (public, _) = with_ssh_in_rule(&r, "carol", "Carol");
    for stage in ["dev", "prod"] {
        let file = format!("secrets/{stage}.yml");
        let text = common::sops_encrypt_as(&r, &file, "DB_PASSWORD: carol-V4LUE\n", &[]);
        r.write(&file, &text);
    }
    let listed = stdout(&r.run(&["keys"]));
    let short = listed
        .lines()
        .find(|l| l.contains("carol@laptop"))
        .unwrap()
        .trim_start()
        .trim_start_matches("age  ")
        .split("  #")
        .next()
        .unwrap()
        .to_owned();
    assert!(short.starts_with("ssh-ed25519 SHA256:"), "{listed}");
    let private = public.trim_end_matches(".pub");
    assert_ok(&sops_decrypt_with_ssh(&r, private, "secrets/dev.yml"));
    let o = r.run(&["keys", "remove", &short, "--all"]);
    assert_ok(&o);
    assert!(stdout(&o).contains("DB_PASSWORD") && !stdout(&o).contains("V4LUE"));
    let config = r.read(".sops.yaml");
    assert!(
        !config.contains("carol") && config.contains("# ci"),
        "{config}"
    );
    for file in ["secrets/dev.yml", "secrets/prod.yml"] {
        assert!(!r.read(file).contains("ssh-ed25519"));
        let theirs = sops_decrypt_with_ssh(&r, private, file);
        assert!(!theirs.status.success(), "carol's key still opens {file}");
        let ours = run_sops(&sops(), &r, &["decrypt", file]);
        assert_ok(&ours);
        assert!(stdout(&ours).contains("carol-V4LUE"));
    }
}

/// A rule whose keys come from a YAML merge key (`<<: *team`): sops reads the merged
/// recipients, so an `age:` written into the rule would override them and new files would be
/// encrypted for the newcomer alone. Refused, naming the rule, nothing written.
#[test]
fn a_rule_with_a_merge_key_is_refused_with_nothing_written() {
    let r = two_stages();
    r.write(
        ".sops.yaml",
        &format!(
            "x-team: &team\n  age: {TEST_RECIPIENT_1}\ncreation_rules:\n  - path_regex: secrets/.*\\.yml$\n    <<: *team\n"
        ),
    );
    let (_, newcomer) = identity();
    let err = refused(
        &r,
        &["keys", "add", "--age", &newcomer, "--all"],
        "creation_rules[0]: a YAML merge key",
    );
    assert!(err.contains(".sops.yaml"), "{err}");
    refused(
        &r,
        &["keys", "remove", TEST_RECIPIENT_1, "--all"],
        "a YAML merge key",
    );
}

/// A `.sops.yaml` that is a link out of the repository (committed on a branch, say) is not
/// written through; a link inside the repository is, and stays a link.
#[cfg(unix)]
#[test]
fn a_sops_yaml_linked_outside_the_repository_is_not_written() {
    let r = two_stages();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("sops.yaml");
    std::fs::rename(r.path().join(".sops.yaml"), &target).unwrap();
    std::os::unix::fs::symlink(&target, r.path().join(".sops.yaml")).unwrap();
    let rules = std::fs::read_to_string(&target).unwrap();
    let (_, newcomer) = identity();
    refused(
        &r,
        &["keys", "add", "--age", &newcomer, "--all"],
        "outside the repository",
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), rules);
    // Inside the repository: written through, still a link.
    std::fs::remove_file(r.path().join(".sops.yaml")).unwrap();
    r.write("conf/sops.yaml", &rules);
    std::os::unix::fs::symlink("conf/sops.yaml", r.path().join(".sops.yaml")).unwrap();
    assert_ok(&r.run(&["keys", "add", "--age", &newcomer, "--all"]));
    let link = std::fs::symlink_metadata(r.path().join(".sops.yaml")).unwrap();
    assert!(link.file_type().is_symlink());
    assert!(r.read("conf/sops.yaml").contains(&newcomer));
}

/// A write that fails after another file was written: the error and the summary say which
/// file changed and that the rest, `.sops.yaml` included, did not.
#[cfg(unix)]
#[test]
fn a_write_failing_midway_is_reported_with_what_was_written() {
    use sls_secrets::keys::AgeIdentities;
    use sls_secrets::people::{self, Change, Target};
    let r = two_stages();
    // prod's file lives elsewhere, behind a link; that folder goes away before the write.
    let elsewhere = r.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::rename(
        r.path().join("secrets/prod.yml"),
        elsewhere.join("prod.yml"),
    )
    .unwrap();
    std::os::unix::fs::symlink("../elsewhere/prod.yml", r.path().join("secrets/prod.yml")).unwrap();
    let rules = r.read(".sops.yaml");
    let ids = sls_secrets::keys::age::parse_identities(common::TEST_KEY_1, "test").unwrap();
    let ids = AgeIdentities::from_identities(ids, "test");
    let (key, newcomer) = identity();
    let recipient = people::parse_recipient(&newcomer).unwrap();
    let targets: Vec<Target> = ["dev", "prod"]
        .iter()
        .map(|s| Target {
            stage: s.to_string(),
            path: r.path().join(format!("secrets/{s}.yml")),
        })
        .collect();
    let mut plan = people::plan(Change::Add, &recipient, &targets, false, &ids).unwrap();
    std::fs::remove_dir_all(&elsewhere).unwrap();
    let err = plan.apply().unwrap_err().to_string();
    assert!(
        err.contains("secrets/dev.yml had been written")
            && err.contains(".sops.yaml was not changed"),
        "{err}"
    );
    let summary = plan.summary();
    assert!(
        summary.contains("dev.yml (stage dev): can now be opened"),
        "{summary}"
    );
    assert!(
        summary.contains("prod.yml (stage prod): NOT changed"),
        "{summary}"
    );
    assert!(summary.contains(".sops.yaml: NOT changed"), "{summary}");
    assert!(!summary.contains("added to creation_rules"), "{summary}");
    assert_eq!(r.read(".sops.yaml"), rules);
    assert_ok(&decrypt_with(&r, &key, "secrets/dev.yml"));
}

/// `keys remove --all` edits the rules the stage files use; a rule for other files that still
/// holds the key is named in the summary, so the offboarding is not thought complete.
#[test]
fn remove_all_names_a_rule_for_other_files_that_keeps_the_key() {
    let r = Repo::with_config();
    let (_, leaver) = identity();
    r.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: secrets/.*\\.yml$\n    age: {TEST_RECIPIENT_1},{leaver}\n  - path_regex: config/.*\\.json$\n    age: {leaver}\n"
        ),
    );
    r.set("dev", "DB_PASSWORD", "dev-db-V4LUE");
    let o = r.run(&["keys", "remove", &leaver, "--all"]);
    assert_ok(&o);
    let err = stderr(&o);
    assert!(
        err.contains(&format!("creation_rules[1] still has {leaver}")),
        "{err}"
    );
    assert!(!r.read("secrets/dev.yml").contains(&leaver));
}

/// In a repository of several services sharing one rule, `--all` changes this service's
/// files; another service's stage file the same rule serves is named, with what it still
/// allows, so an offboarding is not thought complete.
#[test]
fn a_stage_file_of_another_service_under_the_same_rule_is_named() {
    let r = git_repo();
    let (_, leaver) = identity();
    r.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: (^|/)secrets/[^/]+\\.yml$\n    age: {TEST_RECIPIENT_1},{leaver}\n"
        ),
    );
    r.write("home/value", "V4LUE");
    for service in ["a", "b"] {
        std::fs::create_dir_all(r.path().join(service).join("secrets")).unwrap();
        let o = r
            .cmd(service)
            .args(["set", "--stage", "dev", "DB_PASSWORD"])
            .stdin(std::fs::File::open(r.path().join("home/value")).unwrap())
            .output()
            .unwrap();
        assert_ok(&o);
    }
    commit_all(&r, "two services");
    let o = r
        .cmd("a")
        .args(["keys", "remove", &leaver, "--all"])
        .output()
        .unwrap();
    assert_ok(&o);
    let err = stderr(&o);
    assert!(
        err.contains("b/secrets/dev.yml uses the same rule but is in another folder")
            && err.contains(&format!("it can still be opened by {leaver}")),
        "{err}"
    );
    assert!(!r.read("a/secrets/dev.yml").contains(&leaver));
}
