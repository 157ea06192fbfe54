//! `exec`: run a build command with the stage's secrets in its environment.
//!
//! No shell and no temporary files: the command is argv after `--` and secrets only ever go
//! into the child's environment block (never argv, which `ps` shows). SIGINT, SIGTERM and
//! SIGHUP are forwarded; the child's exit code is returned, 128+N for a death by signal N.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::process::{Command, Stdio};

use crate::forward::Forwarder;
use crate::yaml::Text;

/// Variables that hold or find the age identities, including the SSH key sops can use as
/// one: never passed to the child, which has no need to know where they are.
pub const KEY_VARIABLES: [&str; 5] = [
    "SOPS_AGE_KEY",
    "SOPS_AGE_KEY_FILE",
    "SOPS_AGE_KEY_CMD",
    "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
    "SOPS_AGE_SSH_PRIVATE_KEY_CMD",
];

/// Values shorter than this are not masked: masking `1` or `yes` would garble the output
/// without protecting anything.
pub const MIN_MASK_LEN: usize = 4;
pub const MASK: &[u8] = b"***";

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("no command given: use `sls-secrets exec --stage STAGE -- COMMAND [ARGS...]`")]
    NoCommand,
    #[error("can't run `{program}`: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("waiting for `{program}`: {source}")]
    Wait {
        program: String,
        #[source]
        source: std::io::Error,
    },
}

pub struct ExecOptions {
    /// Only the secrets plus PATH and HOME from our environment.
    pub pristine: bool,
    /// Replace secret values in the child's stdout/stderr with `***`.
    pub mask_output: bool,
}

/// Names of inherited variables that the secrets override (for a note on stderr).
pub fn overridden(secrets: &[(String, Text)]) -> Vec<&str> {
    secrets
        .iter()
        .filter(|(k, _)| std::env::var_os(k).is_some())
        .map(|(k, _)| k.as_str())
        .collect()
}

/// Runs `argv` and returns the exit code to exit with.
pub fn run(
    argv: &[OsString],
    secrets: &[(String, Text)],
    opts: &ExecOptions,
) -> Result<u8, ExecError> {
    let (program, args) = argv.split_first().ok_or(ExecError::NoCommand)?;
    let shown = program.to_string_lossy().into_owned();
    let mut cmd = Command::new(program);
    cmd.args(args);
    if opts.pristine {
        cmd.env_clear();
        for keep in ["PATH", "HOME"] {
            if let Some(v) = std::env::var_os(keep) {
                cmd.env(keep, v);
            }
        }
    }
    for (k, v) in secrets {
        cmd.env(k, v.as_str());
    }
    if opts.mask_output {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    }

    // The child must not inherit the keys that open every stage.
    for key_var in KEY_VARIABLES {
        cmd.env_remove(key_var);
    }
    // Registered before spawning so a signal arriving in between is not lost.
    let mut forward = Forwarder::register(&[
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ])
    .map_err(|source| ExecError::Spawn {
        program: shown.clone(),
        source,
    })?;
    let mut child = cmd.spawn().map_err(|source| ExecError::Spawn {
        program: shown.clone(),
        source,
    })?;
    forward.start(child.id());

    let mut pumps = Vec::new();
    if opts.mask_output {
        let values: Vec<Vec<u8>> = secrets
            .iter()
            .filter(|(_, v)| v.chars().count() >= MIN_MASK_LEN)
            .map(|(_, v)| v.as_bytes().to_vec())
            .collect();
        if let Some(out) = child.stdout.take() {
            let values = values.clone();
            pumps.push(std::thread::spawn(move || {
                pump(out, std::io::stdout(), values)
            }));
        }
        if let Some(err) = child.stderr.take() {
            pumps.push(std::thread::spawn(move || {
                pump(err, std::io::stderr(), values)
            }));
        }
    }
    let status = child.wait().map_err(|source| ExecError::Wait {
        program: shown,
        source,
    });
    for p in pumps {
        let _ = p.join();
    }
    forward.stop();
    let status = status?;
    Ok(exit_code(status))
}

#[cfg(unix)]
fn exit_code(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => c as u8,
        (None, Some(sig)) => (128 + sig) as u8,
        _ => 1,
    }
}

#[cfg(not(unix))]
fn exit_code(status: std::process::ExitStatus) -> u8 {
    status.code().unwrap_or(1) as u8
}

/// Copies `from` to `to`, masking secret values as it goes.
fn pump(mut from: impl Read, mut to: impl Write, values: Vec<Vec<u8>>) {
    let mut masker = Masker::new(values);
    let mut buf = [0u8; 8192];
    loop {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let out = masker.push(&buf[..n]);
                if to.write_all(&out).and_then(|()| to.flush()).is_err() {
                    // Our output is gone (closed pipe); keep draining so the child isn't blocked.
                    continue;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    let _ = to.write_all(&masker.finish());
    let _ = to.flush();
}

/// Streaming replacement of secret values by `***`. Output is released as soon as it can't
/// be the start of a secret, so a value split across reads is still masked while ordinary
/// output is not held back.
pub struct Masker {
    values: Vec<Vec<u8>>,
    pending: Vec<u8>,
}

impl Masker {
    pub fn new(mut values: Vec<Vec<u8>>) -> Masker {
        values.retain(|v| !v.is_empty());
        // Longest first, so a value containing another is masked whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        Masker {
            values,
            pending: Vec::new(),
        }
    }

    /// Feeds a chunk; returns what can be written now.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(chunk);
        let mut out = Vec::with_capacity(self.pending.len());
        let mut i = 0;
        let p = &self.pending;
        'scan: while i < p.len() {
            for v in &self.values {
                if p[i..].starts_with(v) {
                    out.extend_from_slice(MASK);
                    i += v.len();
                    continue 'scan;
                }
            }
            // Could a secret start here and continue in the next chunk? Hold from here.
            if self
                .values
                .iter()
                .any(|v| v.len() > p.len() - i && v.starts_with(&p[i..]))
            {
                break;
            }
            out.push(p[i]);
            i += 1;
        }
        self.pending.drain(..i);
        out
    }

    /// Flushes what is held back at end of stream.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }
}

impl Drop for Masker {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.pending.zeroize();
        for v in &mut self.values {
            v.zeroize();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask_chunks(values: &[&str], chunks: &[&str]) -> String {
        let mut m = Masker::new(values.iter().map(|v| v.as_bytes().to_vec()).collect());
        let mut out = Vec::new();
        for c in chunks {
            out.extend(m.push(c.as_bytes()));
        }
        out.extend(m.finish());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn masks_values_split_across_chunks() {
        assert_eq!(
            mask_chunks(&["hunter2"], &["pass=hun", "ter2 ok\n"]),
            "pass=*** ok\n"
        );
        assert_eq!(
            mask_chunks(&["hunter2"], &["h", "u", "n", "t", "e", "r", "2"]),
            "***"
        );
        assert_eq!(mask_chunks(&["hunter2"], &["hunt", "ing\n"]), "hunting\n");
        assert_eq!(
            mask_chunks(&["abcd", "abcdef"], &["xabcdefy abcdz"]),
            "x***y ***z"
        );
    }

    #[test]
    fn releases_output_that_cannot_be_a_secret() {
        let mut m = Masker::new(vec![b"secret".to_vec()]);
        assert_eq!(m.push(b"progress 10%\r"), b"progress 10%\r");
        assert_eq!(m.push(b"sec"), b"");
        assert_eq!(m.push(b"ond"), b"second");
    }
}
