//! SSH keys and passphrase-protected identities, end to end with the real tools: keys made by
//! `ssh-keygen`, files written by the real sops opened by sls-secrets and the other way
//! round, and passphrases asked on a terminal only (a pty from util-linux `script`; `setsid`
//! for a run with no terminal at all, even when the tests run in one).

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{Repo, assert_error, assert_ok, stderr, stdout};

/// A key made by `ssh-keygen` in the repo's `keys/` folder: its private key file and its
/// public key line (with the comment).
fn keygen(
    r: &Repo,
    name: &str,
    kind: &str,
    bits: Option<&str>,
    passphrase: &str,
) -> (PathBuf, String) {
    let dir = r.path().join("keys");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let mut c = Command::new("ssh-keygen");
    c.args([
        "-q",
        "-t",
        kind,
        "-N",
        passphrase,
        "-C",
        &format!("{name}@laptop"),
        "-f",
    ])
    .arg(&path);
    if let Some(bits) = bits {
        c.args(["-b", bits]);
    }
    let o = c.output().expect("ssh-keygen is installed");
    assert_ok(&o);
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    (path, public.trim().to_owned())
}

/// A repo whose `.sops.yaml` rule lists `age` as written (a YAML list or a comma list).
fn repo_with_age(age_yaml: &str) -> Repo {
    let r = Repo::new();
    r.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - path_regex: secrets/.*\\.yml$\n    age:{age_yaml}\n"),
    );
    std::fs::create_dir(r.path().join("secrets")).unwrap();
    r
}

fn yaml_list(items: &[&str]) -> String {
    items.iter().map(|i| format!("\n      - {i}")).collect()
}

/// sls-secrets with no age key at all, and `vars` set.
fn ours(r: &Repo, vars: &[(&str, &Path)]) -> Command {
    let mut c = r.cmd(".");
    c.env_remove("SOPS_AGE_KEY_FILE");
    for (k, v) in vars {
        c.env(k, v);
    }
    c
}

/// The real sops with no age key at all, and `vars` set.
fn sops(r: &Repo, vars: &[(&str, &Path)]) -> Command {
    let mut c = Command::new(common::sops());
    c.current_dir(r.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", r.path().join("home"))
        .env("SOPS_DISABLE_VERSION_CHECK", "1");
    for (k, v) in vars {
        c.env(k, v);
    }
    c
}

/// `command` in a session of its own, with no controlling terminal.
fn without_terminal(command: &Command) -> Command {
    let mut c = Command::new("setsid");
    c.arg("-w")
        .arg(command.get_program())
        .args(command.get_args());
    copy_env(command, &mut c);
    c.stdin(Stdio::null());
    c
}

fn copy_env(from: &Command, to: &mut Command) {
    to.env_clear();
    if let Some(dir) = from.get_current_dir() {
        to.current_dir(dir);
    }
    for (k, v) in from.get_envs() {
        if let Some(v) = v {
            to.env(k, v);
        }
    }
}

/// Runs `command` on a new terminal (a pty from util-linux `script`); types `answer` when
/// the output shows a passphrase prompt. Returns everything shown on the terminal and
/// whether the command succeeded.
fn on_terminal(command: &Command, answer: &str) -> (String, bool) {
    let quote = |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"));
    let mut line = quote(command.get_program());
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&quote(arg));
    }
    let mut c = Command::new("script");
    c.args(["-qefc", &line, "/dev/null"]);
    copy_env(command, &mut c);
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux script is installed");
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut shown = Vec::new();
    let mut stdin = child.stdin.take().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !String::from_utf8_lossy(&shown).contains("assphrase") {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(bytes) => shown.extend(bytes),
            Err(_) => break,
        }
    }
    let _ = stdin.write_all(format!("{answer}\n").as_bytes());
    let _ = stdin.flush();
    let status = child.wait().unwrap();
    drop(stdin);
    reader.join().unwrap();
    shown.extend(rx.try_iter().flatten());
    (
        String::from_utf8_lossy(&shown).into_owned(),
        status.success(),
    )
}

fn output(c: &mut Command) -> Output {
    c.stdin(Stdio::null()).output().unwrap()
}

/// The value of `NAME` in stage `dev`.
fn get(r: &Repo, vars: &[(&str, &Path)]) -> Output {
    output(ours(r, vars).args(["get", "--stage", "dev", "NAME"]))
}

/// The real sops encrypts `NAME: value` as `secrets/dev.yml` under the repo's rule.
fn sops_writes_dev(r: &Repo) {
    r.write("home/plain.yml", "NAME: from-sops\n");
    let o = output(sops(r, &[]).args([
        "encrypt",
        "--filename-override",
        "secrets/dev.yml",
        "home/plain.yml",
    ]));
    assert_ok(&o);
    r.write("secrets/dev.yml", &stdout(&o));
}

/// sls-secrets writes `NAME` in stage `dev` under the repo's rule (no key needed to create).
fn we_write_dev(r: &Repo, value: &str) {
    assert_ok(&r.run_stdin(&["set", "--stage", "dev", "NAME"], value));
}

/// On a terminal: asked for the passphrase, the right one opens the file (shows `value`), a
/// wrong one is a clear error; neither shows key material.
fn asks_on_terminal(c: &Command, right: &str, value: &str) {
    let (shown, ok) = on_terminal(c, right);
    assert!(ok && shown.contains(value), "{shown}");
    let (shown, ok) = on_terminal(c, "not-it");
    assert!(!ok && shown.contains("wrong passphrase"), "{shown}");
    assert!(
        !shown.contains("AGE-SECRET-KEY") && !shown.contains("PRIVATE KEY"),
        "{shown}"
    );
}

#[test]
#[ignore = "needs sops, ssh-keygen, setsid and script (scripts/test runs it)"]
fn we_open_what_sops_writes_for_ssh_keys() {
    let r = Repo::new();
    let (ed, ed_pub) = keygen(&r, "alice", "ed25519", None, "");
    let (rsa, rsa_pub) = keygen(&r, "bob", "rsa", Some("2048"), "");
    // The YAML list form, and the comma-list form.
    for age in [
        yaml_list(&[&ed_pub, &rsa_pub]),
        format!(" {ed_pub},{rsa_pub}"),
    ] {
        let r = repo_with_age(&age);
        sops_writes_dev(&r);
        // sops keeps each key's comment in the file.
        assert!(
            r.read("secrets/dev.yml").contains(&ed_pub),
            "{}",
            r.read("secrets/dev.yml")
        );
        for key in [&ed, &rsa] {
            let o = get(&r, &[("SOPS_AGE_SSH_PRIVATE_KEY_FILE", key)]);
            assert_ok(&o);
            assert_eq!(stdout(&o).trim_end(), "from-sops");
        }
        // A command that prints the key (split shell-style, run without a shell).
        let cmd = format!("cat '{}'", rsa.display());
        let o = get(&r, &[("SOPS_AGE_SSH_PRIVATE_KEY_CMD", Path::new(&cmd))]);
        assert_ok(&o);
        assert_eq!(stdout(&o).trim_end(), "from-sops");
        // ~/.ssh/id_ed25519 and ~/.ssh/id_rsa, each alone.
        for (key, name) in [(&ed, "id_ed25519"), (&rsa, "id_rsa")] {
            let home = r.path().join(format!("home-{name}"));
            std::fs::create_dir_all(home.join(".ssh")).unwrap();
            std::fs::copy(key, home.join(".ssh").join(name)).unwrap();
            let o = get(&r, &[("HOME", &home)]);
            assert_ok(&o);
            assert_eq!(stdout(&o).trim_end(), "from-sops");
        }
        // No key: the error lists the SSH places looked.
        let o = get(&r, &[]);
        assert_error(&o);
        let e = stderr(&o);
        assert!(e.contains("SOPS_AGE_SSH_PRIVATE_KEY_FILE: not set"), "{e}");
        assert!(e.contains(".ssh/id_ed25519: no such file"), "{e}");
    }
}

#[test]
#[ignore = "needs sops, ssh-keygen, setsid and script (scripts/test runs it)"]
fn sops_opens_what_we_write_for_ssh_keys() {
    let r = Repo::new();
    let (ed, ed_pub) = keygen(&r, "alice", "ed25519", None, "");
    let (rsa, rsa_pub) = keygen(&r, "bob", "rsa", Some("3072"), "");
    let r2 = repo_with_age(&yaml_list(&[&ed_pub, &rsa_pub]));
    we_write_dev(&r2, "from-us");
    let file = r2.read("secrets/dev.yml");
    assert!(file.contains(&ed_pub) && file.contains(&rsa_pub), "{file}");
    for key in [&ed, &rsa] {
        let o = output(sops(&r2, &[("SOPS_AGE_SSH_PRIVATE_KEY_FILE", key)]).args([
            "decrypt",
            "--extract",
            "[\"NAME\"]",
            "secrets/dev.yml",
        ]));
        assert_ok(&o);
        assert_eq!(stdout(&o), "from-us");
    }
    // The same key written with another comment in .sops.yaml is the same recipient.
    let renamed = ed_pub.replace("alice@laptop", "alice@desktop");
    r2.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: secrets/.*\\.yml$\n    age:{}\n",
            yaml_list(&[&renamed, &rsa_pub])
        ),
    );
    let o = output(
        ours(&r2, &[("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &ed)]).args(["check", "--stage", "dev"]),
    );
    assert_ok(&o);
}

#[test]
#[ignore = "needs sops, ssh-keygen, setsid and script (scripts/test runs it)"]
fn an_rsa_key_under_2048_bits_is_refused_with_its_line() {
    let r = Repo::new();
    let (_, weak) = keygen(&r, "old", "rsa", Some("1024"), "");
    let r = repo_with_age(&yaml_list(&[common::TEST_RECIPIENT_1, &weak]));
    let o = r.run_stdin(&["set", "--stage", "dev", "NAME"], "v");
    assert_error(&o);
    let e = stderr(&o);
    assert!(e.contains(".sops.yaml:5: creation_rules[0].age"), "{e}");
    assert!(e.contains("under 2048 bits"), "{e}");
    assert!(
        !r.path().join("secrets/dev.yml").exists(),
        "nothing written"
    );
}

#[test]
#[ignore = "needs sops, ssh-keygen, setsid and script (scripts/test runs it)"]
fn a_passphrase_protected_ssh_key_is_asked_for_on_a_terminal_only() {
    let r = Repo::new();
    let (locked, locked_pub) = keygen(&r, "carol", "ed25519", None, "correct horse");
    let (plain, plain_pub) = keygen(&r, "dave", "ed25519", None, "");
    let home = r.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::copy(&locked, home.join(".ssh/id_ed25519")).unwrap();
    let both = repo_with_age(&yaml_list(&[&locked_pub, &plain_pub]));
    we_write_dev(&both, "v1");
    let vars: [(&str, &Path); 2] = [("HOME", &home), ("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &plain)];
    // No terminal: the locked key is skipped, the other one opens the file.
    let mut c = ours(&both, &vars);
    c.args(["get", "--stage", "dev", "NAME"]);
    let o = output(&mut without_terminal(&c));
    assert_ok(&o);
    assert_eq!(stdout(&o).trim_end(), "v1");

    // Only the locked key can open it.
    let only = repo_with_age(&yaml_list(&[&locked_pub]));
    we_write_dev(&only, "v2");
    let mut c = ours(&only, &vars);
    c.args(["get", "--stage", "dev", "NAME"]);
    let o = output(&mut without_terminal(&c));
    assert_error(&o);
    let e = stderr(&o);
    assert!(
        e.contains(&format!(
            "{}: can't use it: passphrase-protected; no terminal to ask on: skipped",
            home.join(".ssh/id_ed25519").display()
        )),
        "{e}"
    );
    assert!(e.contains("run sls-secrets in a terminal"), "{e}");
    assert!(
        !e.contains("PRIVATE KEY") && !e.contains("correct horse"),
        "{e}"
    );

    // On a terminal: asked, and it opens.
    let (shown, _) = on_terminal(&c, "correct horse");
    assert!(shown.contains("Passphrase for SSH key"), "{shown}");
    asks_on_terminal(&c, "correct horse", "v2");
}

/// `identity` encrypted to `passphrase` as `age -p` writes it (a low work factor: fast).
fn passphrase_file(identity: &str, passphrase: &str, armored: bool) -> Vec<u8> {
    use age::secrecy::SecretString;
    let mut scrypt = age::scrypt::Recipient::new(SecretString::from(passphrase.to_owned()));
    scrypt.set_work_factor(12);
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&scrypt as &dyn age::Recipient)).unwrap();
    let format = if armored {
        age::armor::Format::AsciiArmor
    } else {
        age::armor::Format::Binary
    };
    let mut out = Vec::new();
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, format).unwrap();
    let mut w = encryptor.wrap_output(armor).unwrap();
    w.write_all(identity.as_bytes()).unwrap();
    w.finish().unwrap().finish().unwrap();
    out
}

#[test]
#[ignore = "needs sops, ssh-keygen, setsid and script (scripts/test runs it)"]
fn a_passphrase_protected_keys_file_is_asked_for_on_a_terminal_only() {
    for armored in [true, false] {
        let r = Repo::with_config();
        r.set("dev", "NAME", "locked-value");
        std::fs::write(
            &r.key_file,
            passphrase_file(&format!("{}\n", common::TEST_KEY_1), "pw-1234", armored),
        )
        .unwrap();
        // No terminal: exit 2 with a clear message; no variable is ever used as the passphrase.
        let mut c = r.cmd(".");
        c.args(["get", "--stage", "dev", "NAME"]);
        for var in [
            "SOPS_AGE_PASSPHRASE",
            "AGE_PASSPHRASE",
            "SOPS_AGE_KEY_PASSPHRASE",
            "PASSPHRASE",
        ] {
            c.env(var, "pw-1234");
        }
        let o = output(&mut without_terminal(&c));
        assert_error(&o);
        let e = stderr(&o);
        assert!(
            e.contains("encrypted with a passphrase, and there is no terminal to ask for it on"),
            "{e}"
        );
        assert!(e.contains("run sls-secrets in a terminal"), "{e}");
        assert!(
            !e.contains("pw-1234") && !e.contains("AGE-SECRET-KEY"),
            "{e}"
        );
        asks_on_terminal(&c, "pw-1234", "locked-value");
    }
}

/// `init --age` takes an SSH public key (a developer's only key), quoting it when its comment
/// needs it; sops reads the rule and opens what we write with the SSH key.
#[test]
#[ignore = "needs sops and ssh-keygen (scripts/test runs it)"]
fn init_takes_an_ssh_key_and_sops_reads_the_rule() {
    let r = Repo::new();
    let (key, public) = keygen(&r, "carol", "ed25519", None, "");
    // A comment YAML would cut at ` #` unless quoted.
    let public = format!("{public} #laptop: 2");
    let o = output(r.cmd(".").args(["init", "--age", &public]));
    assert_ok(&o);
    let config = r.read(".sops.yaml");
    assert!(config.contains(&format!("age: '{public}'")), "{config}");
    we_write_dev(&r, "from-init");
    let o = output(sops(&r, &[("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &key)]).args([
        "decrypt",
        "--extract",
        "[\"NAME\"]",
        "secrets/dev.yml",
    ]));
    assert_ok(&o);
    assert_eq!(stdout(&o), "from-init");
    // sops itself picks the same recipient from our rule for a file it creates.
    r.write("secrets/new.yml", "A: b\n");
    let o = output(sops(&r, &[]).args(["encrypt", "-i", "secrets/new.yml"]));
    assert_ok(&o);
    assert!(
        r.read("secrets/new.yml").contains(&public),
        "{}",
        r.read("secrets/new.yml")
    );
    // A comma would be two recipients to sops.
    let r2 = Repo::new();
    let o = output(r2.cmd(".").args(["init", "--age", &format!("{public}, x")]));
    assert_error(&o);
    assert!(stderr(&o).contains("holds a comma"), "{}", stderr(&o));
    assert!(!r2.path().join(".sops.yaml").exists());
}

/// Ctrl-C at the passphrase prompt interrupts sls-secrets and leaves the terminal as it was:
/// echo on (rpassword raised SIGINT with echo still off, so the shell typed blind after it).
#[test]
#[ignore = "needs ssh-keygen and script (scripts/test runs it)"]
fn ctrl_c_at_the_passphrase_prompt_leaves_the_terminal_echoing() {
    let r = Repo::new();
    let (locked, locked_pub) = keygen(&r, "erin", "ed25519", None, "correct horse");
    let only = repo_with_age(&yaml_list(&[&locked_pub]));
    we_write_dev(&only, "v1");
    let c = ours(&only, &[("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &locked)]);
    // The same run inside a shell that then shows the terminal's settings.
    let mut line = format!("'{}'", c.get_program().to_string_lossy());
    for arg in ["get", "--stage", "dev", "NAME"] {
        line.push_str(&format!(" {arg}"));
    }
    let mut shell = Command::new("sh");
    shell.args(["-c", &format!("{line}; echo \"exit=$?\"; stty -a")]);
    copy_env(&c, &mut shell);
    let (shown, _) = on_terminal(&shell, "\x03");
    assert!(shown.contains("Passphrase for SSH key"), "{shown}");
    assert!(
        shown.contains("exit=130"),
        "interrupted as by Ctrl-C: {shown}"
    );
    let settings: Vec<&str> = shown.split_whitespace().collect();
    assert!(
        settings.contains(&"echo") && !settings.contains(&"-echo"),
        "{shown}"
    );
    assert!(settings.contains(&"icanon"), "{shown}");
}

/// A repo whose rule lists a new ed25519 key of `name` (no passphrase), with `NAME: v1` in
/// stage `dev`: the repo holding the key (keep it), the repo, the key file and public key.
fn repo_for_new_key(name: &str) -> (Repo, Repo, PathBuf, String) {
    let keys = Repo::new();
    let (private, public) = keygen(&keys, name, "ed25519", None, "");
    let r = repo_with_age(&yaml_list(&[&public]));
    we_write_dev(&r, "v1");
    (keys, r, private, public)
}

/// An SSH private key given where its public key belongs (`--ssh "$(cat ~/.ssh/id_ed25519)"`)
/// is refused with exit 2 and never echoed, neither by our check nor by the argument parser.
#[test]
#[ignore = "needs ssh-keygen (scripts/test runs it)"]
fn an_ssh_private_key_given_as_a_recipient_is_never_echoed() {
    let (_keys, r, private, _) = repo_for_new_key("frank");
    let key = std::fs::read_to_string(&private).unwrap();
    let body = key.lines().nth(2).unwrap().to_owned();
    let runs: [&[&str]; 4] = [
        &["keys", "add", "--ssh", &key, "--all"],
        &["keys", "add", "--age", &key, "--all"],
        &["keys", "remove", &key, "--all"],
        &["keys", "add", &format!("--ssh={key}"), "--all"],
    ];
    for args in runs {
        let o = output(ours(&r, &[]).args(args));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(!e.contains(&body) && !stdout(&o).contains(&body), "{e}");
        assert!(e.contains("an SSH private key"), "{e}");
    }
}

/// A key command's stderr is never shown (sops does not show it either): a command that
/// prints the private key there, working or failing, leaks nothing into our output.
#[test]
#[ignore = "needs ssh-keygen (scripts/test runs it)"]
fn a_key_commands_stderr_is_never_shown() {
    let (_keys, r, private, _) = repo_for_new_key("gina");
    let key = private.display().to_string();
    let body = std::fs::read_to_string(&private)
        .unwrap()
        .lines()
        .nth(2)
        .unwrap()
        .to_owned();
    for (var, script, works) in [
        (
            "SOPS_AGE_SSH_PRIVATE_KEY_CMD",
            format!("cat '{key}' >&2; cat '{key}'"),
            true,
        ),
        (
            "SOPS_AGE_SSH_PRIVATE_KEY_CMD",
            format!("cat '{key}' >&2; exit 3"),
            false,
        ),
        (
            "SOPS_AGE_KEY_CMD",
            format!("echo GARBAGE-ON-STDERR >&2; cat '{key}' >&2; exit 3"),
            false,
        ),
    ] {
        // In a file, so that the command the error names does not hold what it prints.
        r.write("keycmd.sh", &script);
        let cmd = format!("sh '{}'", r.path().join("keycmd.sh").display());
        let o = get(&r, &[(var, Path::new(&cmd))]);
        let (out, e) = (stdout(&o), stderr(&o));
        assert!(!e.contains(&body) && !out.contains(&body), "{var}: {e}");
        assert!(!e.contains("GARBAGE-ON-STDERR"), "{e}");
        if works {
            assert_ok(&o);
            assert_eq!(out.trim_end(), "v1");
        } else {
            assert_error(&o);
            assert!(
                e.contains("exited with") && e.contains("stderr is not shown"),
                "{e}"
            );
        }
    }
}

/// A recipient's SSH comment with a line break (the stage file is anyone's to push) shows as
/// one escaped line in `keys`, never as a key line of its own.
#[test]
#[ignore = "needs ssh-keygen (scripts/test runs it)"]
fn a_line_break_in_an_ssh_comment_cannot_forge_a_line_in_keys() {
    let (_keys, r, _, public) = repo_for_new_key("hana");
    let key: Vec<&str> = public.split(' ').take(2).collect();
    let forged = format!("\"{} x\\n  age  age1forged\"", key.join(" "));
    let file = r.read("secrets/dev.yml").replace(&public, &forged);
    assert!(file.contains("age1forged"), "{file}");
    r.write("secrets/dev.yml", &file);
    let o = output(ours(&r, &[]).args(["keys", "--stage", "dev"]));
    assert_ok(&o);
    let out = stdout(&o);
    assert!(
        !out.lines()
            .any(|l| l.trim_start().starts_with("age  age1forged")),
        "{out}"
    );
    assert!(out.contains("x\\u{a}  age  age1forged"), "{out}");
}

/// git's diff driver runs while git's pager may read the same terminal: it never asks for a
/// passphrase, and says it could not tell a change from a re-encryption.
#[test]
#[ignore = "needs ssh-keygen and script (scripts/test runs it)"]
fn the_git_diff_driver_never_asks_for_a_passphrase() {
    let r = Repo::new();
    let (locked, locked_pub) = keygen(&r, "frank", "ed25519", None, "correct horse");
    let only = repo_with_age(&yaml_list(&[&locked_pub]));
    we_write_dev(&only, "v1");
    let old = only.path().join("old.yml");
    std::fs::rename(only.path().join("secrets/dev.yml"), &old).unwrap();
    // A new file (no key here opens the old one to change it).
    we_write_dev(&only, "v2");
    let mut c = ours(&only, &[("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &locked)]);
    let (hex, mode) = ("0".repeat(40), "100644");
    c.args(["git-diff", "secrets/dev.yml"])
        .arg(&old)
        .args([&hex, mode])
        .arg(only.path().join("secrets/dev.yml"))
        .args([&hex, mode]);
    // On a terminal with nothing typed: a prompt would show, then read end of input.
    let line = format!(
        "'{}' git-diff secrets/dev.yml '{}' {hex} {mode} '{}' {hex} {mode}",
        c.get_program().to_string_lossy(),
        old.display(),
        only.path().join("secrets/dev.yml").display()
    );
    // A prompt would wait for the terminal for ever: bounded.
    let mut script = Command::new("timeout");
    script.args(["20", "script", "-qefc", &line, "/dev/null"]);
    copy_env(&c, &mut script);
    let o = script
        .stdin(Stdio::null())
        .output()
        .expect("util-linux script");
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(!shown.contains("assphrase"), "{shown}");
    assert!(
        shown.contains("NAME: changed or re-encrypted (no key to tell)"),
        "{shown}"
    );
}
