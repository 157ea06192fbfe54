//! `edit` with a scripted editor, `rotate` and `keys`.

mod common;

use common::{Repo, assert_error, assert_ok, stderr, stdout};

fn enc_line<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(&format!("{key}: ")))
        .unwrap()
}

/// Leftover plaintext edit folders in the temp locations `edit` may use.
fn edit_dirs(tmp: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for root in [tmp] {
        if let Ok(rd) = std::fs::read_dir(root) {
            out.extend(rd.flatten().map(|e| e.path()).filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("sls-secrets-edit-")
            }));
        }
    }
    out
}

fn editor_script(r: &Repo, body: &str) -> String {
    let p = r.path().join("home/editor.sh");
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    p.to_string_lossy().into_owned()
}

/// A repository whose `prod` stage holds `KEEP`, and an empty folder for `edit`'s plaintext.
fn repo_with_tmp() -> (Repo, std::path::PathBuf) {
    let r = Repo::with_config();
    r.set("prod", "KEEP", "same-value");
    let tmp = r.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    (r, tmp)
}

/// `edit --stage prod` with a scripted editor, its plaintext in `tmp`.
fn edit_cmd(r: &Repo, editor_body: &str, tmp: &std::path::Path) -> std::process::Command {
    let mut c = r.cmd(".");
    c.env("EDITOR", editor_script(r, editor_body))
        .env("TMPDIR", tmp)
        .args(["edit", "--stage", "prod"]);
    c
}

#[test]
fn edit_changes_one_value_and_keeps_other_ciphertexts() {
    let r = Repo::with_config();
    r.set("prod", "KEEP", "same-value");
    r.set("prod", "CHANGE", "old-value");
    let before = r.read("secrets/prod.yml");
    let tmp = r.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    // The editor also records the file's mode and its folder's mode.
    let ed = editor_script(
        &r,
        "stat -c '%a' \"$1\" \"$(dirname \"$1\")\" > \"$HOME/modes\"; \
         echo \"key:${SOPS_AGE_KEY_FILE:-unset}${SOPS_AGE_KEY:-}\" > \"$HOME/editor-env\"; \
         sed -i 's/old-value/new-value/' \"$1\"",
    );
    let o = r
        .cmd(".")
        .env("EDITOR", ed)
        .env("TMPDIR", &tmp)
        .args(["edit", "--stage", "prod"])
        .output()
        .unwrap();
    assert_ok(&o);
    let after = r.read("secrets/prod.yml");
    assert_eq!(enc_line(&before, "KEEP"), enc_line(&after, "KEEP"));
    assert_ne!(enc_line(&before, "CHANGE"), enc_line(&after, "CHANGE"));
    assert_eq!(
        stdout(&r.run(&["get", "--stage", "prod", "CHANGE"])),
        "new-value"
    );
    assert_eq!(r.read("home/modes"), "600\n700\n");
    // The editor does not get the key that opens every stage.
    assert_eq!(r.read("home/editor-env"), "key:unset\n");
    assert!(edit_dirs(&tmp).is_empty());
}

#[cfg(target_os = "linux")]
#[test]
fn plaintext_goes_to_memory_backed_storage_by_default() {
    let r = Repo::with_config();
    r.set("prod", "KEEP", "same-value");
    let ed = editor_script(&r, "dirname \"$1\" > \"$HOME/where\"");
    let o = r
        .cmd(".")
        .env("EDITOR", ed)
        .args(["edit", "--stage", "prod"])
        .output()
        .unwrap();
    assert_ok(&o);
    let dir = r.read("home/where");
    assert!(dir.starts_with("/dev/shm/sls-secrets-edit-"), "{dir}");
    assert!(
        !std::path::Path::new(dir.trim()).exists(),
        "left behind: {dir}"
    );
}

#[test]
fn failing_or_interrupted_editor_leaves_nothing_behind() {
    let (r, tmp) = repo_with_tmp();
    let before = r.read("secrets/prod.yml");
    for body in [
        "echo 'X1: \"changed\"' >> \"$1\"; exit 1",
        // Ctrl-C: the whole foreground group gets SIGINT; here the editor sends it to its parent.
        "echo 'X1: \"changed\"' >> \"$1\"; kill -INT $PPID; exit 130",
        "echo 'not: [valid' >> \"$1\"",
        "echo 'PORT: 5432' >> \"$1\"",
        "echo 'AWS_REGION: \"x\"' >> \"$1\"",
    ] {
        let o = edit_cmd(&r, body, &tmp).output().unwrap();
        assert_error(&o);
        assert!(
            stderr(&o).contains("nothing was written"),
            "{body}: {}",
            stderr(&o)
        );
        assert!(!stderr(&o).contains("same-value"));
        assert_eq!(r.read("secrets/prod.yml"), before, "{body}");
        assert!(edit_dirs(&tmp).is_empty(), "{body}: plaintext left behind");
    }
}

/// Whether process `pid` still exists (a zombie counts as gone: it runs nothing).
fn process_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or_default()
            .trim_start()
            .starts_with('Z')
    })
}

#[cfg(target_os = "linux")]
#[test]
fn terminate_reaches_the_editor_and_removes_the_plaintext() {
    use std::time::{Duration, Instant};
    let (r, tmp) = repo_with_tmp();
    let before = r.read("secrets/prod.yml");
    let mut child = edit_cmd(&r, "echo $$ > \"$HOME/editor.pid\"; exec sleep 60", &tmp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid_file = r.path().join("home/editor.pid");
    let started = Instant::now();
    let editor_pid = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
        {
            break pid;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the editor never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(edit_dirs(&tmp).len(), 1);
    let ours = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(ours, rustix::process::Signal::TERM).unwrap();
    let sent = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if sent.elapsed() > Duration::from_secs(5) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if status.is_none() {
        // Clean up before failing: the editor and then us.
        if let Some(p) = rustix::process::Pid::from_raw(editor_pid) {
            let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
        }
        let _ = child.wait();
        panic!("sls-secrets was still waiting for the editor 5 s after SIGTERM");
    }
    let o = child.wait_with_output().unwrap();
    assert!(
        stderr(&o).contains("interrupted; nothing was written"),
        "{}",
        stderr(&o)
    );
    assert!(!process_alive(editor_pid), "the editor is still running");
    assert!(edit_dirs(&tmp).is_empty(), "plaintext left behind");
    assert_eq!(r.read("secrets/prod.yml"), before);
}

#[cfg(target_os = "linux")]
#[test]
fn leftover_edit_folders_of_dead_processes_are_removed() {
    let (r, tmp) = repo_with_tmp();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let folder = |name: String| {
        let p = tmp.join(name);
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("prod.yml"), "KEEP: same-value\n").unwrap();
        p
    };
    let stale = folder(format!("sls-secrets-edit-{dead}-aaaaaa"));
    let live = folder(format!("sls-secrets-edit-{}-bbbbbb", std::process::id()));
    let unrelated = folder(format!("sls-secrets-edit-other-{dead}"));
    let foreign = rustix::process::geteuid().is_root().then(|| {
        let p = folder(format!("sls-secrets-edit-{dead}-cccccc"));
        std::os::unix::fs::chown(&p, Some(12345), Some(12345)).unwrap();
        p
    });
    assert_ok(&edit_cmd(&r, "true", &tmp).output().unwrap());
    assert!(!stale.exists(), "the dead process's folder was kept");
    assert!(live.exists(), "a live process's folder was removed");
    assert!(unrelated.exists());
    match foreign {
        Some(p) => assert!(p.exists(), "another user's folder was removed"),
        None => eprintln!("not root: the other-user case needs chown"),
    }
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn rotate_changes_every_ciphertext_and_locks_out_removed_recipients() {
    let r = Repo::with_config();
    r.set("prod", "A1", "one");
    r.set("prod", "B1", "two");
    let before = r.read("secrets/prod.yml");
    // A second recipient is added, then rotation wraps for both.
    let second = "AGE-SECRET-KEY-1GQ9778VQXMMJVE8SK7J6VT8UJ4HDQAJUVSFCWCM02D8GEWQ72PVQ2Y5J33";
    let id = age::x25519::Identity::from_str_exact(second);
    let recipient2 = id.to_public().to_string();
    r.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: secrets/.*\\.yml$\n    age: {},{recipient2}\n",
            common::TEST_RECIPIENT_1
        ),
    );
    let o = r.run(&["keys", "--stage", "prod"]);
    assert_ok(&o);
    assert!(
        stdout(&o).contains(&format!("+ age {recipient2}")),
        "{}",
        stdout(&o)
    );
    assert_ok(&r.run(&["rotate", "--stage", "prod"]));
    let after = r.read("secrets/prod.yml");
    for k in ["A1", "B1"] {
        assert_ne!(enc_line(&before, k), enc_line(&after, k));
        assert_eq!(
            stdout(&r.run(&["get", "--stage", "prod", k])),
            if k == "A1" { "one" } else { "two" }
        );
    }
    // The data key itself is new (not only the IVs), and the first recipient still opens it.
    let data_key = |text: &str| -> Vec<u8> {
        let file = sls_secrets::sops::parse(text).unwrap_or_else(|e| panic!("{e}"));
        let ids = sls_secrets::keys::age::AgeIdentities::from_identities(
            vec![age::x25519::Identity::from_str_exact(
                common::TEST_KEY_1.trim(),
            )],
            "test",
        );
        sls_secrets::keys::unwrap_local(file.meta.keys(), &ids)
            .expect("the first recipient opens it")
            .expose()
            .to_vec()
    };
    assert_ne!(data_key(&before), data_key(&after));
    let keys = stdout(&r.run(&["keys"]));
    assert!(keys.contains(".sops.yaml: up to date"), "{keys}");
    assert!(keys.contains("data key last wrapped: "), "{keys}");
    let sops = common::sops();
    let o = common::run_sops(&sops, &r, &["decrypt", "secrets/prod.yml"]);
    assert_ok(&o);
    assert_eq!(stdout(&o), "A1: one\nB1: two\n");
    // Remove the first recipient and rotate: its key no longer opens the file.
    r.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - path_regex: secrets/.*\\.yml$\n    age: {recipient2}\n"),
    );
    assert_ok(&r.run(&["rotate", "--all"]));
    let o = r.run(&["get", "--stage", "prod", "A1"]);
    assert_error(&o);
    std::fs::write(&r.key_file, format!("{second}\n")).unwrap();
    assert_eq!(stdout(&r.run(&["get", "--stage", "prod", "A1"])), "one");
}

#[test]
fn rotate_writes_nothing_when_the_file_does_not_decrypt() {
    let r = Repo::with_config();
    r.set("prod", "A1", "one");
    let text = r.read("secrets/prod.yml");
    let tampered = text.replace("A1: ENC[AES256_GCM,data:", "A1: ENC[AES256_GCM,data:AA");
    r.write("secrets/prod.yml", &tampered);
    assert_error(&r.run(&["rotate", "--stage", "prod"]));
    assert_eq!(r.read("secrets/prod.yml"), tampered);
}

trait FromStrExact {
    fn from_str_exact(s: &str) -> Self;
}
impl FromStrExact for age::x25519::Identity {
    fn from_str_exact(s: &str) -> Self {
        s.parse().unwrap()
    }
}

#[test]
fn keys_for_every_stage_skips_a_yaml_file_that_is_not_a_stage_file() {
    let r = Repo::with_config();
    r.set("prod", "AA", "one");
    r.set("staging", "BB", "two");
    r.write(
        "secrets/README.yml",
        "notes: this folder holds the stage files\n",
    );
    let o = r.run(&["keys"]);
    assert_ok(&o);
    let out = stdout(&o);
    assert!(out.contains("prod.yml (stage prod)"), "{out}");
    assert!(out.contains("staging.yml (stage staging)"), "{out}");
    assert!(!out.contains("README"), "{out}");
    let e = stderr(&o);
    assert!(e.contains("skipped") && e.contains("README.yml"), "{e}");
    assert!(e.contains("sops"), "says why: {e}");
    // Asked for by name, it is still an error.
    assert_error(&r.run(&["keys", "--stage", "README"]));
}

#[test]
fn keys_for_every_stage_skips_a_file_that_is_not_utf8() {
    let r = Repo::with_config();
    r.set("prod", "AA", "one");
    std::fs::write(r.path().join("secrets/latin1.yml"), b"note: caf\xe9\n").unwrap();
    let o = r.run(&["keys"]);
    assert_ok(&o);
    let out = stdout(&o);
    assert!(out.contains("prod.yml (stage prod)"), "{out}");
    assert!(!out.contains("latin1"), "{out}");
    let e = stderr(&o);
    assert!(e.contains("skipped") && e.contains("latin1.yml"), "{e}");
    assert!(e.contains("UTF-8"), "says why: {e}");
    // Asked for by name, it is still an error.
    assert_error(&r.run(&["keys", "--stage", "latin1"]));
}
