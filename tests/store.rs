//! The secrets store end to end through the binary: set/get/list/rm/init, atomic writes,
//! stable ciphertexts, locking, name checks and leaks.

mod common;

use common::{Repo, assert_error, assert_ok, stderr, stdout};

#[test]
fn set_get_list_rm_round_trip() {
    let r = Repo::with_config();
    r.set("prod", "DB_PASSWORD", "s3cr3t-Pa55\n");
    r.set("prod", "API_KEY", "k-123");
    let out = r.run(&["get", "--stage", "prod", "DB_PASSWORD"]);
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        "s3cr3t-Pa55",
        "one trailing newline of stdin is dropped"
    );

    let out = r.run(&["list", "--stage", "prod"]);
    assert_ok(&out);
    assert_eq!(stdout(&out), "DB_PASSWORD\nAPI_KEY\n");
    let out = r.run(&["list", "--stage", "prod", "--json"]);
    assert_eq!(stdout(&out), "[\"DB_PASSWORD\",\"API_KEY\"]\n");

    assert_ok(&r.run(&["rm", "--stage", "prod", "API_KEY"]));
    assert_eq!(
        stdout(&r.run(&["list", "--stage", "prod"])),
        "DB_PASSWORD\n"
    );
    assert_error(&r.run(&["rm", "--stage", "prod", "API_KEY"]));
    assert_error(&r.run(&["get", "--stage", "prod", "API_KEY"]));
}

#[test]
fn from_file_keeps_exact_bytes_and_values_keep_their_type() {
    let r = Repo::with_config();
    r.write("cert.pem", "-----BEGIN X-----\nabc\n-----END X-----\n");
    assert_ok(&r.run(&["set", "--stage", "dev", "CERT", "--from-file", "cert.pem"]));
    for (k, v) in [
        ("MODE", "0755"),
        ("DAY", "2024-01-01"),
        ("NOTHING", "~"),
        ("YES", "yes"),
        ("EMPTY", ""),
    ] {
        r.set("dev", k, v);
    }
    assert_eq!(
        stdout(&r.run(&["get", "--stage", "dev", "CERT"])),
        "-----BEGIN X-----\nabc\n-----END X-----\n"
    );
    for (k, v) in [
        ("MODE", "0755"),
        ("DAY", "2024-01-01"),
        ("NOTHING", "~"),
        ("YES", "yes"),
        ("EMPTY", ""),
    ] {
        assert_eq!(stdout(&r.run(&["get", "--stage", "dev", k])), v, "{k}");
    }
    let text = r.read("secrets/dev.yml");
    assert!(text.contains("type:str]"));
    assert!(!text.contains("type:int") && !text.contains("type:time"));
}

#[test]
fn stage_file_holds_no_plaintext_and_output_leaks_nothing() {
    let r = Repo::with_config();
    let secret = "leak-canary-7d1f0c";
    let out = r.run_stdin(&["set", "--stage", "prod", "TOKEN"], secret);
    assert_ok(&out);
    let mut seen = stdout(&out) + &stderr(&out);
    seen += &r.read("secrets/prod.yml");
    for args in [
        &["list", "--stage", "prod"][..],
        &["list", "--stage", "prod", "--json"],
        &["get", "--stage", "prod", "MISSING"],
        &["rm", "--stage", "prod", "MISSING"],
        &["set", "--stage", "prod", "AWS_REGION"],
        &["set", "--stage", "prod", "bad-name"],
    ] {
        let o = r.run_stdin(args, secret);
        seen += &stdout(&o);
        seen += &stderr(&o);
    }
    assert!(!seen.contains(secret), "secret leaked:\n{seen}");
    assert!(seen.contains("TOKEN"));
}

#[test]
fn unchanged_values_keep_their_ciphertext() {
    let r = Repo::with_config();
    r.set("prod", "AA", "one");
    r.set("prod", "BB", "two");
    let before = r.read("secrets/prod.yml");
    r.set("prod", "BB", "three");
    let after = r.read("secrets/prod.yml");
    let changed: Vec<_> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.trim_start().split(':').next().unwrap().to_owned())
        // lastmodified has a one-second resolution: it may or may not differ.
        .filter(|k| k != "lastmodified")
        .collect();
    assert_eq!(changed, ["BB", "mac"], "before:\n{before}\nafter:\n{after}");
    assert_eq!(before.lines().count(), after.lines().count());
}

#[test]
fn names_are_checked() {
    let r = Repo::with_config();
    for bad in ["1ABC", "MY-KEY", "A", "_X", "A B"] {
        let o = r.run_stdin(&["set", "--stage", "prod", bad], "v");
        assert_error(&o);
        assert!(
            stderr(&o).contains("not a valid environment variable name"),
            "{bad}: {}",
            stderr(&o)
        );
    }
    for reserved in [
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_LAMBDA_FUNCTION_NAME",
        "LAMBDA_TASK_ROOT",
    ] {
        let o = r.run_stdin(&["set", "--stage", "prod", reserved], "v");
        assert_error(&o);
        assert!(
            stderr(&o).contains("reserved by AWS Lambda"),
            "{reserved}: {}",
            stderr(&o)
        );
    }
    assert!(
        !r.path().join("secrets/prod.yml").exists(),
        "nothing written"
    );
    let o = r.run_stdin(&["set", "--stage", "../etc", "OK_NAME"], "v");
    assert_error(&o);
}

#[test]
fn secrets_dir_is_found_from_a_nested_service_and_can_be_overridden() {
    let r = Repo::with_config();
    r.set("prod", "SHARED", "x");
    std::fs::create_dir_all(r.path().join("services/api")).unwrap();
    let o = r
        .cmd("services/api")
        .args(["list", "--stage", "prod"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(stdout(&o), "SHARED\n");

    std::fs::create_dir_all(r.path().join("other")).unwrap();
    let o = r
        .cmd("services/api")
        .args(["list", "--stage", "prod", "--secrets-dir", "../../other"])
        .output()
        .unwrap();
    assert_error(&o);
    assert!(stderr(&o).contains("has no secrets file"), "{}", stderr(&o));
    let o = r
        .cmd("services/api")
        .env("SLS_SECRETS_DIR", r.path().join("secrets"))
        .args(["list", "--stage", "prod"])
        .output()
        .unwrap();
    assert_ok(&o);
}

#[test]
fn no_secrets_dir_is_a_clear_error() {
    let r = Repo::new();
    let o = r.run(&["list", "--stage", "prod"]);
    assert_error(&o);
    assert!(
        stderr(&o).contains("no `secrets/` folder"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("hint: run `sls-secrets init`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn wrong_key_lists_every_place_tried() {
    let r = Repo::with_config();
    r.set("prod", "AA", "one");
    std::fs::write(
        &r.key_file,
        "AGE-SECRET-KEY-1GQ9778VQXMMJVE8SK7J6VT8UJ4HDQAJUVSFCWCM02D8GEWQ72PVQ2Y5J33\n",
    )
    .unwrap();
    let o = r.run(&["get", "--stage", "prod", "AA"]);
    assert_error(&o);
    let e = stderr(&o);
    assert!(e.contains("no key could decrypt"), "{e}");
    assert!(e.contains("SOPS_AGE_KEY_FILE="), "{e}");
    assert!(e.contains("SOPS_AGE_KEY: not set"), "{e}");
    assert!(e.contains("keys.txt: no such file"), "{e}");
    assert!(e.contains(common::TEST_RECIPIENT_1), "{e}");
    assert!(stdout(&o).is_empty());
}

#[test]
fn concurrent_sets_all_land() {
    let r = Repo::with_config();
    r.set("prod", "FIRST", "0");
    let n = 12;
    let children: Vec<_> = (0..n)
        .map(|i| {
            let mut c = r
                .cmd(".")
                .args(["set", "--stage", "prod", &format!("KEY_{i}")])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(format!("value-{i}").as_bytes())
                .unwrap();
            c
        })
        .collect();
    for c in children {
        assert_ok(&c.wait_with_output().unwrap());
    }
    let names = stdout(&r.run(&["list", "--stage", "prod"]));
    for i in 0..n {
        assert!(
            names.contains(&format!("KEY_{i}\n")),
            "KEY_{i} lost:\n{names}"
        );
        assert_eq!(
            stdout(&r.run(&["get", "--stage", "prod", &format!("KEY_{i}")])),
            format!("value-{i}")
        );
    }
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(r.path().join("secrets"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, [std::ffi::OsString::from("prod.yml")]);
}

#[test]
fn init_creates_config_and_key_and_keeps_existing_rules() {
    let r = Repo::new();
    // No identity anywhere: init makes one at sops' default location.
    let o = r
        .cmd(".")
        .env_remove("SOPS_AGE_KEY_FILE")
        .args(["init"])
        .output()
        .unwrap();
    assert_ok(&o);
    let keys = r.path().join("home/.config/sops/age/keys.txt");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let key_text = std::fs::read_to_string(&keys).unwrap();
    let recipient = key_text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap();
    assert!(stderr(&o).contains(recipient));
    assert!(stderr(&o).contains("SOPS_AGE_KEY"));
    assert!(r.read(".sops.yaml").contains(recipient));
    assert!(r.path().join("secrets").is_dir());
    // The new key works with the default location and no env.
    let o = r
        .cmd(".")
        .env_remove("SOPS_AGE_KEY_FILE")
        .args(["set", "--stage", "dev", "X1"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_ok(&o);
    // Running again changes nothing.
    let before = r.read(".sops.yaml");
    assert_ok(
        &r.cmd(".")
            .env_remove("SOPS_AGE_KEY_FILE")
            .args(["init"])
            .output()
            .unwrap(),
    );
    assert_eq!(r.read(".sops.yaml"), before);

    // An existing config keeps its rules; ours goes first.
    let r2 = Repo::new();
    let other = "# ours\ncreation_rules:\n  - path_regex: infra/.*\n    kms: arn:aws:kms:us-east-1:111122223333:key/x\n";
    r2.write(".sops.yaml", other);
    assert_ok(&r2.run(&["init", "--age", common::TEST_RECIPIENT_1]));
    let cfg = r2.read(".sops.yaml");
    assert!(
        cfg.starts_with("# ours\ncreation_rules:\n  - path_regex: (^|/)secrets/"),
        "{cfg}"
    );
    assert!(
        cfg.ends_with(
            "  - path_regex: infra/.*\n    kms: arn:aws:kms:us-east-1:111122223333:key/x\n"
        ),
        "{cfg}"
    );
    r2.set("prod", "A1", "v");
    assert_error(&r2.run(&["init", "--age", "not-a-recipient"]));
}

#[cfg(unix)]
#[test]
fn rewrites_keep_the_file_mode() {
    use std::os::unix::fs::PermissionsExt;
    let r = Repo::with_config();
    r.set("prod", "AA", "one");
    let path = r.path().join("secrets/prod.yml");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    r.set("prod", "BB", "two");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o640
    );
}

#[test]
fn identities_come_from_every_sops_source() {
    let r = Repo::with_config();
    r.set("prod", "AA", "one");
    let key = std::fs::read_to_string(&r.key_file).unwrap();
    let get = |c: &mut std::process::Command| {
        let o = c.args(["get", "--stage", "prod", "AA"]).output().unwrap();
        assert_ok(&o);
        stdout(&o)
    };
    // SOPS_AGE_KEY, with comments and blank lines around the key.
    assert_eq!(
        get(r
            .cmd(".")
            .env_remove("SOPS_AGE_KEY_FILE")
            .env("SOPS_AGE_KEY", format!("# mine\n\n{key}"))),
        "one"
    );
    // SOPS_AGE_KEY_CMD, split shell-style and run without a shell.
    let cmd = format!("cat '{}'", r.key_file.display());
    assert_eq!(
        get(r
            .cmd(".")
            .env_remove("SOPS_AGE_KEY_FILE")
            .env("SOPS_AGE_KEY_CMD", cmd)),
        "one"
    );
    // The default location under XDG_CONFIG_HOME.
    r.write("xdg/sops/age/keys.txt", &key);
    assert_eq!(
        get(r
            .cmd(".")
            .env_remove("SOPS_AGE_KEY_FILE")
            .env("XDG_CONFIG_HOME", r.path().join("xdg"))),
        "one"
    );
    // A malformed identity doesn't stop the other sources (as in sops)...
    assert_eq!(
        get(r.cmd(".").env("SOPS_AGE_KEY", "AGE-SECRET-KEY-1NOTAKEY")),
        "one"
    );
    // ...and when nothing opens the file it is reported by line number, never by content.
    let o = r
        .cmd(".")
        .env_remove("SOPS_AGE_KEY_FILE")
        .env("SOPS_AGE_KEY", "AGE-SECRET-KEY-1NOTAKEY")
        .args(["get", "--stage", "prod", "AA"])
        .output()
        .unwrap();
    assert_error(&o);
    assert!(
        stderr(&o).contains("SOPS_AGE_KEY: can't use it: line 1 is not an age identity"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("NOTAKEY"));
}

#[test]
fn values_are_never_stored_in_clear() {
    let r = Repo::with_config();
    let o = r.run_stdin(
        &["set", "--stage", "prod", "REGION_unencrypted"],
        "eu-west-1",
    );
    assert_error(&o);
    assert!(
        stderr(&o).contains("would be stored unencrypted"),
        "{}",
        stderr(&o)
    );
    // An empty rule means "unset" (the default suffix), as in sops, not "encrypt nothing".
    r.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - path_regex: secrets/.*\\.yml$\n    age: {}\n    unencrypted_regex: ''\n", common::TEST_RECIPIENT_1),
    );
    r.set("dev", "TOKEN", "supersecret-value");
    assert!(!r.read("secrets/dev.yml").contains("supersecret-value"));
    // A private key pasted as a recipient is refused and never echoed.
    r.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {}\n", common::TEST_KEY_1),
    );
    let o = r.run_stdin(&["set", "--stage", "qa", "TOKEN"], "x");
    assert_error(&o);
    assert!(stderr(&o).contains("PRIVATE key"), "{}", stderr(&o));
    assert!(!stderr(&o).contains(common::TEST_KEY_1));
}

#[test]
fn set_refuses_values_render_or_exec_could_never_use() {
    let r = Repo::with_config();
    let path = r.path().join("secrets/prod.yml");
    for (value, why) in [("pa$${ss}word", "`$${`"), ("sec\0ret-value", "NUL byte")] {
        let o = r.run_stdin(&["set", "--stage", "prod", "BAD"], value);
        assert_error(&o);
        assert!(stderr(&o).contains(why), "{}", stderr(&o));
        assert!(stderr(&o).contains("hint: "), "{}", stderr(&o));
        assert!(!stderr(&o).contains("ret-value") && !stderr(&o).contains("ss}word"));
        assert!(!path.exists(), "nothing written for {why}");
    }
    // An existing file is left as it was.
    r.set("prod", "GOOD", "fine-value");
    let before = std::fs::read(&path).unwrap();
    let o = r.run_stdin(&["set", "--stage", "prod", "GOOD"], "x$${y}");
    assert_error(&o);
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn an_empty_secrets_dir_variable_is_unset() {
    let r = Repo::with_config();
    r.set("prod", "AA", "one");
    let o = r
        .cmd(".")
        .env("SLS_SECRETS_DIR", "")
        .args(["list", "--stage", "prod"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(stdout(&o), "AA\n");
    let o = r
        .cmd(".")
        .env("SLS_SECRETS_DIR", "")
        .args(["get", "--stage", "prod", "AA"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(stdout(&o), "one");
}
