//! Writes never destroy or expose (issue 11): `render -o` writes only a regular file or a new
//! path, never into the secrets folder or over a git-tracked file; `--in-place` fails closed
//! when git refuses the repository and keeps the file's owner; a TERM/INT/HUP during a write
//! leaves no plaintext temporary file; `set` keeps list comments and symlinks.

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Repo, assert_error, assert_ok, run_sops, stderr, stdout};

const SERVICE: &str = "service: svc\nprovider:\n  name: aws\n  environment:\n    LOG_LEVEL: info\n";

fn repo() -> Repo {
    let r = Repo::with_config();
    r.write("svc/serverless.yml", SERVICE);
    r.set("prod", "API_KEY", "prod-api-key-9999");
    r
}

/// `render --stage prod ARGS...` in the service folder, with extra environment variables.
fn render(r: &Repo, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    r.cmd("svc")
        .args(["render", "--stage", "prod"])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn render_to(r: &Repo, out: &Path) -> std::process::Output {
    r.cmd("svc")
        .args(["render", "--stage", "prod", "-o"])
        .arg(out)
        .output()
        .unwrap()
}

/// Replaces the test repository's stand-in `.git` folder with a real repository.
fn git_init(r: &Repo) {
    std::fs::remove_dir(r.path().join(".git")).unwrap();
    git(r.path(), &["init", "-q"]);
}

fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git is needed by these tests");
    assert!(o.status.success(), "git {args:?}: {}", stderr(&o));
}

/// chown to another uid needs root: these tests are `#[ignore]`d for a plain `cargo test`;
/// scripts/test runs them as root (CI is root), and skips them by name for anyone else.
fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "needs root (chown to another uid): run as root, as CI does"
    );
}

fn temp_leftovers(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".sls-secrets-")
        })
        .collect()
}

#[track_caller]
fn assert_refused(o: &std::process::Output, why: &str) {
    assert_error(o);
    assert!(
        stderr(o).contains(why),
        "expected `{why}` in: {}",
        stderr(o)
    );
    assert!(!stdout(o).contains("prod-api-key"), "{}", stdout(o));
}

#[test]
fn output_refuses_devices_fifos_sockets_directories_and_symlinks() {
    let r = repo();
    // As root a regression would replace the machine's /dev/null and /dev/stdout: use private
    // copies (the same device, the same link) there; as another user, the real ones.
    let (null, stdout_link) = if rustix::process::geteuid().is_root() {
        let null = r.path().join("null");
        let made = Command::new("mknod")
            .arg(&null)
            .args(["c", "1", "3"])
            .status();
        assert!(made.unwrap().success());
        let link = r.path().join("stdout");
        std::os::unix::fs::symlink("/proc/self/fd/1", &link).unwrap();
        (null, link)
    } else {
        (PathBuf::from("/dev/null"), PathBuf::from("/dev/stdout"))
    };
    let o = render_to(&r, &null);
    assert_refused(&o, "is a character device");
    assert!(
        std::fs::symlink_metadata(&null)
            .unwrap()
            .file_type()
            .is_char_device(),
        "the device was replaced"
    );

    let o = render_to(&r, &stdout_link);
    assert_refused(&o, "is a symbolic link");
    assert!(
        std::fs::symlink_metadata(&stdout_link)
            .unwrap()
            .is_symlink()
    );

    let fifo = r.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let o = render_to(&r, &fifo);
    assert_refused(&o, "is a FIFO");
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );

    let socket = r.path().join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let o = render_to(&r, &socket);
    assert_refused(&o, "is a socket");
    assert!(
        std::fs::symlink_metadata(&socket)
            .unwrap()
            .file_type()
            .is_socket()
    );

    let dir = r.path().join("adir");
    std::fs::create_dir(&dir).unwrap();
    let o = render_to(&r, &dir);
    assert_refused(&o, "is a directory");
    assert!(dir.is_dir());

    r.write("target.yml", "untouched\n");
    let link = r.path().join("link.yml");
    std::os::unix::fs::symlink(r.path().join("target.yml"), &link).unwrap();
    let o = render_to(&r, &link);
    assert_refused(&o, "is a symbolic link");
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(r.read("target.yml"), "untouched\n");

    // Nothing was left next to any refused target.
    assert!(temp_leftovers(r.path()).is_empty());
}

#[test]
fn output_refuses_the_secrets_folder() {
    let r = repo();
    let before = std::fs::read(r.path().join("secrets/prod.yml")).unwrap();
    for target in [
        "../secrets/prod.yml",
        "../secrets/new.yml",
        "../secrets/./../secrets/x.yml",
    ] {
        let o = render_to(&r, Path::new(target));
        assert_refused(&o, "secrets folder");
    }
    assert_eq!(
        std::fs::read(r.path().join("secrets/prod.yml")).unwrap(),
        before
    );
    assert!(!r.path().join("secrets/new.yml").exists());
    assert!(!r.path().join("secrets/x.yml").exists());
}

#[test]
fn no_plaintext_write_lands_in_any_secrets_folder_or_on_a_sops_file() {
    // A monorepo: the service has its own `secrets/`, the repository root another one. The
    // nearest folder serves the render; the root's stage files must be just as safe.
    let r = repo();
    std::fs::create_dir(r.path().join("svc/secrets")).unwrap();
    std::fs::copy(
        r.path().join("secrets/prod.yml"),
        r.path().join("svc/secrets/prod.yml"),
    )
    .unwrap();
    std::fs::copy(
        r.path().join("secrets/prod.yml"),
        r.path().join("secrets/staging.yml"),
    )
    .unwrap();
    // A sops file kept outside any secrets folder, and a link into the root's folder.
    std::fs::copy(
        r.path().join("secrets/prod.yml"),
        r.path().join("svc/prod.enc.yml"),
    )
    .unwrap();
    std::os::unix::fs::symlink(r.path().join("secrets"), r.path().join("svc/link")).unwrap();
    let before: Vec<(PathBuf, Vec<u8>)> = [
        "secrets/prod.yml",
        "secrets/staging.yml",
        "svc/secrets/prod.yml",
        "svc/prod.enc.yml",
    ]
    .iter()
    .map(|f| (r.path().join(f), std::fs::read(r.path().join(f)).unwrap()))
    .collect();
    for target in [
        "../secrets/staging.yml",
        "../secrets/new.yml",
        "secrets/prod.yml",
        "link/new.yml",
        "prod.enc.yml",
    ] {
        let o = render(&r, &["-o", target], &[("CI", "1")]);
        assert_error(&o);
        assert!(!stdout(&o).contains("prod-api-key"), "{}", stdout(&o));
    }
    // --in-place on a stage file (a sops file is a YAML mapping, so render would edit it).
    let o = r
        .cmd(".")
        .args([
            "render",
            "--stage",
            "prod",
            "-c",
            "secrets/staging.yml",
            "--in-place",
            "--force",
        ])
        .output()
        .unwrap();
    assert_error(&o);
    assert!(stderr(&o).contains("secrets folder"), "{}", stderr(&o));
    for (path, bytes) in &before {
        assert_eq!(
            &std::fs::read(path).unwrap(),
            bytes,
            "{} changed",
            path.display()
        );
    }
    assert!(!r.path().join("secrets/new.yml").exists());
}

#[test]
fn output_dash_is_stdout_and_a_new_path_is_written() {
    let r = repo();
    let o = render_to(&r, Path::new("-"));
    assert_ok(&o);
    assert!(stdout(&o).contains("API_KEY: \"prod-api-key-9999\""));
    assert!(!r.path().join("svc/-").exists());

    let o = render_to(&r, Path::new("serverless.rendered.yml"));
    assert_ok(&o);
    let meta = std::fs::metadata(r.path().join("svc/serverless.rendered.yml")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // Replacing a regular file is fine.
    assert_ok(&render_to(&r, Path::new("serverless.rendered.yml")));
}

#[test]
fn output_refuses_a_git_tracked_file_unless_force_or_ci() {
    let r = repo();
    git_init(&r);
    r.write("svc/tracked.yml", "tracked\n");
    git(r.path(), &["add", "svc/tracked.yml"]);
    let o = render_to(&r, Path::new("tracked.yml"));
    assert_refused(&o, "is tracked by git");
    let o = render(&r, &["-o", "tracked.yml"], &[("CI", "")]);
    assert_refused(&o, "is tracked by git");
    assert_eq!(r.read("svc/tracked.yml"), "tracked\n");

    let o = render(&r, &["-o", "tracked.yml", "--force"], &[]);
    assert_ok(&o);
    assert!(r.read("svc/tracked.yml").contains("prod-api-key-9999"));

    r.write("svc/tracked.yml", "tracked\n");
    let o = render(&r, &["-o", "tracked.yml"], &[("CI", "1")]);
    assert_ok(&o);
    assert!(r.read("svc/tracked.yml").contains("prod-api-key-9999"));
}

#[test]
fn in_place_on_a_symlinked_config_checks_and_keeps_the_link() {
    let r = repo();
    git_init(&r);
    std::fs::rename(
        r.path().join("svc/serverless.yml"),
        r.path().join("svc/real.yml"),
    )
    .unwrap();
    git(r.path(), &["add", "svc/real.yml"]);
    std::os::unix::fs::symlink("real.yml", r.path().join("svc/serverless.yml")).unwrap();
    let o = render(&r, &["--in-place"], &[]);
    assert_refused(&o, "real.yml is tracked by git");
    assert_eq!(r.read("svc/real.yml"), SERVICE);

    let o = render(&r, &["--in-place", "--force"], &[]);
    assert_ok(&o);
    let link = std::fs::symlink_metadata(r.path().join("svc/serverless.yml")).unwrap();
    assert!(link.is_symlink(), "the link was replaced by a regular file");
    assert!(r.read("svc/real.yml").contains("prod-api-key-9999"));
}

#[test]
#[ignore = "needs root (chown): scripts/test runs it as root"]
fn in_place_refuses_when_git_refuses_the_repository() {
    require_root();
    let r = repo();
    git_init(&r);
    // Owned by another user: git refuses ("detected dubious ownership"), exit 128 as for
    // "not a git repository"; only the latter may count as untracked.
    let chown = Command::new("chown")
        .args(["-R", "12345"])
        .arg(r.path())
        .status()
        .unwrap();
    assert!(chown.success());
    let o = render(&r, &["--in-place"], &[("GIT_CONFIG_NOSYSTEM", "1")]);
    assert_refused(&o, "can't tell");
    assert!(stderr(&o).contains("dubious ownership"), "{}", stderr(&o));
    assert_eq!(r.read("svc/serverless.yml"), SERVICE);

    // The same for -o.
    let o = render_to(&r, Path::new("out.yml"));
    assert_refused(&o, "can't tell");
    assert!(!r.path().join("svc/out.yml").exists());
}

#[test]
#[ignore = "needs root (chown): scripts/test runs it as root"]
fn in_place_keeps_the_owner_and_writes_mode_0600() {
    require_root();
    let r = repo();
    let config = r.path().join("svc/serverless.yml");
    std::os::unix::fs::chown(&config, Some(12345), Some(12345)).unwrap();
    let o = render(&r, &["--in-place", "--force"], &[]);
    assert_ok(&o);
    let meta = std::fs::metadata(&config).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (12345, 12345));
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    assert!(r.read("svc/serverless.yml").contains("prod-api-key-9999"));
}

/// A config large enough that writing and syncing it takes a while: a long comment, which
/// the renderer copies unchanged.
fn large_service() -> String {
    let mut s = String::from(SERVICE);
    let line = format!("# {}\n", "x".repeat(200));
    s.reserve(line.len() * 20_000);
    for _ in 0..20_000 {
        s.push_str(&line);
    }
    s
}

/// Starts `args`, waits until its temporary file appears next to `target`, sends `sig`;
/// returns whether the signal landed while the temporary file existed, and the status.
fn signal_during_write(
    r: &Repo,
    args: &[&str],
    dir: &Path,
    sig: rustix::process::Signal,
) -> (bool, std::process::ExitStatus) {
    let mut child = r
        .cmd("svc")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = rustix::process::Pid::from_child(&child);
    let mut hit = false;
    loop {
        if !temp_leftovers(dir).is_empty() {
            let _ = rustix::process::kill_process(pid, sig);
            hit = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
    }
    let status = child.wait().unwrap();
    (hit && status.code().is_none(), status)
}

#[test]
fn a_signal_while_writing_leaves_no_plaintext_temporary_file() {
    use std::os::unix::process::ExitStatusExt;
    let r = repo();
    r.write("svc/serverless.yml", &large_service());
    let dir = r.path().join("svc");
    for (sig, args) in [
        (
            rustix::process::Signal::TERM,
            &["render", "--stage", "prod", "-o", "out.yml"][..],
        ),
        (
            rustix::process::Signal::INT,
            &["render", "--stage", "prod", "-o", "out.yml"][..],
        ),
        (
            rustix::process::Signal::HUP,
            &["render", "--stage", "prod", "--in-place", "--force"][..],
        ),
    ] {
        let (mut landed, mut tries) = (0, 0);
        for _ in 0..20 {
            tries += 1;
            let (hit, status) = signal_during_write(&r, args, &dir, sig);
            let left = temp_leftovers(&dir);
            assert!(left.is_empty(), "{sig:?} left {left:?}");
            if hit {
                // Died of the signal (a shell reports 128+N).
                assert_eq!(status.signal(), Some(sig.as_raw()), "{status:?}");
                landed += 1;
                if landed == 1 {
                    break;
                }
            }
            // --in-place may have rendered the file already: start again from the large one.
            r.write("svc/serverless.yml", &large_service());
        }
        eprintln!("{sig:?}: {landed} signal(s) during a write in {tries} run(s)");
        assert!(landed > 0, "{sig:?} never arrived during a write");
    }
}

#[test]
fn set_writes_through_a_symlinked_stage_file() {
    let r = repo();
    std::fs::create_dir(r.path().join("vault")).unwrap();
    std::fs::rename(
        r.path().join("secrets/prod.yml"),
        r.path().join("vault/prod.yml"),
    )
    .unwrap();
    std::os::unix::fs::symlink("../vault/prod.yml", r.path().join("secrets/prod.yml")).unwrap();
    r.set("prod", "DB_PASSWORD", "db-pass-1234");
    let link = std::fs::symlink_metadata(r.path().join("secrets/prod.yml")).unwrap();
    assert!(link.is_symlink(), "the link was replaced by a regular file");
    assert!(r.read("vault/prod.yml").contains("DB_PASSWORD: ENC["));
    assert_eq!(
        stdout(&r.run(&["get", "--stage", "prod", "DB_PASSWORD"])),
        "db-pass-1234"
    );
    assert!(temp_leftovers(&r.path().join("vault")).is_empty());
    assert!(temp_leftovers(&r.path().join("secrets")).is_empty());
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn set_keeps_comments_inside_lists_of_a_sops_written_file() {
    let sops = common::sops();
    let r = Repo::with_config();
    r.write(
        "secrets/prod.yml",
        "API_KEY: one\nLIST:\n  - a\n  # note inside the list\n  - b\n# top comment\nOTHER: two\n",
    );
    assert_ok(&run_sops(&sops, &r, &["encrypt", "-i", "secrets/prod.yml"]));
    let before = run_sops(&sops, &r, &["decrypt", "secrets/prod.yml"]);
    assert_ok(&before);
    assert!(stdout(&before).contains("# note inside the list"));

    r.set("prod", "NEW_KEY", "three");
    let after = run_sops(&sops, &r, &["decrypt", "secrets/prod.yml"]);
    assert_ok(&after);
    assert_eq!(
        stdout(&after),
        format!("{}NEW_KEY: three\n", stdout(&before)),
        "a set lost something"
    );
    let ours = r.run(&["decrypt", "secrets/prod.yml"]);
    assert_ok(&ours);
    assert_eq!(stdout(&ours), stdout(&after));
}

#[test]
#[ignore = "needs the sops binary: scripts/test sets it up and runs this"]
fn a_list_comment_sops_stored_as_a_comment_line_is_opened_and_encrypted_once() {
    let r = Repo::with_config();
    // Before a mapping item sops writes the comment as a `#ENC[...]` line, not as an item.
    let text = common::sops_encrypt_as(
        &r,
        "secrets/prod.yml",
        "API_KEY: one\nLIST:\n    - # a list note\n      k: v\n",
        &[],
    );
    assert!(text.contains("    #ENC["), "{text}");
    r.write("secrets/prod.yml", &text);
    let sops = common::sops();
    let before = run_sops(&sops, &r, &["decrypt", "secrets/prod.yml"]);
    assert_ok(&before);
    assert!(
        stdout(&before).contains("# a list note"),
        "{}",
        stdout(&before)
    );
    let ours = r.run(&["decrypt", "secrets/prod.yml"]);
    assert_eq!(stdout(&ours), stdout(&before), "decrypt showed ciphertext");
    r.set("prod", "NEW_KEY", "three");
    let after = run_sops(&sops, &r, &["decrypt", "secrets/prod.yml"]);
    assert_ok(&after);
    assert!(
        stdout(&after).contains("# a list note"),
        "{}",
        stdout(&after)
    );
    assert!(
        !stdout(&after).contains("ENC["),
        "encrypted twice: {}",
        stdout(&after)
    );
}

#[test]
fn a_plaintext_write_replaces_a_symlink_instead_of_following_it() {
    // `-o` checks its target first; a link planted after that check must not redirect the
    // write (only stage files and `--in-place` write through their links, deliberately).
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "keep me").unwrap();
    let link = dir.path().join("out.yml");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    sls_secrets::store::write_private(&link, b"plaintext").unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    let meta = std::fs::symlink_metadata(&link).unwrap();
    assert!(meta.file_type().is_file(), "the link was followed");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&link).unwrap(), "plaintext");
}

#[test]
fn the_tracked_file_guard_is_not_steered_by_the_callers_git_variables() {
    let r = repo();
    git_init(&r);
    r.write("svc/tracked.yml", "tracked\n");
    git(r.path(), &["add", "svc/tracked.yml"]);
    let elsewhere = tempfile::tempdir().unwrap();
    git(elsewhere.path(), &["init", "-q"]);
    let svc = r.path().join("svc");
    let other_git = elsewhere.path().join(".git");
    let empty_index = elsewhere.path().join("empty-index");
    for env in [
        vec![("GIT_CEILING_DIRECTORIES", svc.to_str().unwrap())],
        vec![("GIT_DIR", other_git.to_str().unwrap())],
        vec![
            ("GIT_DIR", other_git.to_str().unwrap()),
            ("GIT_WORK_TREE", svc.to_str().unwrap()),
        ],
        vec![("GIT_INDEX_FILE", empty_index.to_str().unwrap())],
    ] {
        let o = render(&r, &["-o", "tracked.yml"], &env);
        assert_refused(&o, "is tracked by git");
        assert_eq!(r.read("svc/tracked.yml"), "tracked\n", "{env:?}");
    }
}

/// Runs `cmd`, failing the test if it has not exited within 20 s (a read of /dev/zero would
/// run until memory is gone, a FIFO would wait forever).
fn output_within_20s(mut cmd: Command) -> std::process::Output {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{cmd:?} did not finish in 20 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_stage_file_or_serverless_yml_that_is_a_device_or_a_fifo_is_an_error_not_a_hang() {
    for special in ["/dev/zero", "fifo"] {
        let r = repo();
        git_init(&r);
        git(r.path(), &["add", "-A"]);
        git(
            r.path(),
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "-qm",
                "x",
            ],
        );
        let link = |rel: &str| {
            let p = r.path().join(rel);
            std::fs::remove_file(&p).unwrap();
            if special == "fifo" {
                let made = Command::new("mkfifo").arg(&p).status().unwrap();
                assert!(made.success());
            } else {
                std::os::unix::fs::symlink(special, &p).unwrap();
            }
        };
        link("secrets/prod.yml");
        let runs: [&[&str]; 6] = [
            &["check"],
            &["list", "--stage", "prod"],
            &["get", "--stage", "prod", "API_KEY"],
            &["diff"],
            &["render", "--stage", "prod"],
            &["git-textconv", "../secrets/prod.yml"],
        ];
        for args in runs {
            let mut cmd = r.cmd("svc");
            cmd.args(args);
            let o = output_within_20s(cmd);
            assert_error(&o);
            assert!(
                stderr(&o).contains("not a regular file"),
                "{special} {args:?}: {}",
                stderr(&o)
            );
        }
        // serverless.yml itself.
        std::fs::remove_file(r.path().join("secrets/prod.yml")).unwrap();
        r.set("prod", "API_KEY", "prod-api-key-9999");
        link("svc/serverless.yml");
        let mut cmd = r.cmd("svc");
        cmd.args(["render", "--stage", "prod"]);
        let o = output_within_20s(cmd);
        assert_error(&o);
        assert!(stderr(&o).contains("serverless.yml: "), "{}", stderr(&o));
        assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
    }
}
