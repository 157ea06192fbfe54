//! Local identities: the age identities on this machine, found where sops looks for them
//! (age/keysource.go), and everything that was looked at on the way, for the "no key could
//! open this file" error. Key sources that open entries locally (age) use them.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::armor::ArmoredReader;
use zeroize::Zeroizing;

use super::error::AgeError;
use crate::sops::DataKey;

impl AgeError {
    /// The error without the source's name (for a list that names the source already).
    fn problem(&self) -> String {
        match self {
            AgeError::BadIdentity { line, .. } => {
                format!("line {line} is not an age identity (expected AGE-SECRET-KEY-1...)")
            }
            AgeError::Source { why, .. } => why.clone(),
            other => other.to_string(),
        }
    }
}

/// Where identities were looked for, for the "no key could open this file" error.
#[derive(Clone, Debug)]
pub struct Tried {
    pub place: String,
    /// How many identities it held; `None` when the place was not there at all or was broken.
    pub found: Option<usize>,
    /// Why the place could not be used (unreadable file, not identities, failing command).
    pub problem: Option<String>,
}

/// age identities from every place sops looks, combined.
pub struct AgeIdentities {
    identities: Vec<age::x25519::Identity>,
    pub tried: Vec<Tried>,
}

/// The environment the identities are read from; a struct so tests need not mutate the
/// process environment.
#[derive(Clone, Default)]
pub struct AgeEnv {
    pub key: Option<String>,
    pub key_file: Option<PathBuf>,
    pub key_cmd: Option<String>,
    pub config_dir: Option<PathBuf>,
}

impl AgeEnv {
    pub fn from_process() -> AgeEnv {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        AgeEnv {
            key: var("SOPS_AGE_KEY"),
            key_file: var("SOPS_AGE_KEY_FILE").map(PathBuf::from),
            key_cmd: var("SOPS_AGE_KEY_CMD"),
            config_dir: user_config_dir(),
        }
    }

    /// `<UserConfigDir>/sops/age/keys.txt`, where sops keeps and looks for age identities.
    pub fn default_keys_file(&self) -> Option<PathBuf> {
        self.config_dir
            .as_ref()
            .map(|d| d.join("sops").join("age").join("keys.txt"))
    }
}

/// Go's `os.UserConfigDir` (with sops' `$XDG_CONFIG_HOME` preference on macOS too).
pub fn user_config_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(x));
    }
    let home = PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?);
    if cfg!(target_os = "macos") {
        Some(home.join("Library").join("Application Support"))
    } else {
        Some(home.join(".config"))
    }
}

/// Parses identities text: one per line, blank lines and `#` comments ignored.
pub fn parse_identities(
    text: &str,
    source_name: &str,
) -> Result<Vec<age::x25519::Identity>, AgeError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // The line itself is secret: report only its number.
        let id = age::x25519::Identity::from_str(line).map_err(|_| AgeError::BadIdentity {
            source_name: source_name.to_owned(),
            line: i + 1,
        })?;
        out.push(id);
    }
    Ok(out)
}

impl AgeIdentities {
    /// Loads identities from `SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD` and the
    /// default keys file, combining all of them as sops does. Like sops, a source that can't
    /// be used (missing file, not identities, failing command) doesn't stop the others: it is
    /// recorded in `tried` and reported only if no key opens the file.
    pub fn load(env: &AgeEnv) -> AgeIdentities {
        let mut ids = AgeIdentities {
            identities: Vec::new(),
            tried: Vec::new(),
        };
        match &env.key {
            Some(key) => ids.add("SOPS_AGE_KEY", Ok(Zeroizing::new(key.clone()))),
            None => ids.note("SOPS_AGE_KEY: not set"),
        }
        match &env.key_file {
            Some(path) => {
                let name = format!("SOPS_AGE_KEY_FILE={}", path.display());
                ids.add(&name, read_key_file(path, &name));
            }
            None => ids.note("SOPS_AGE_KEY_FILE: not set"),
        }
        match &env.key_cmd {
            Some(cmd) => {
                let name = format!("SOPS_AGE_KEY_CMD `{cmd}`");
                ids.add(&name, run_key_cmd(cmd, &name));
            }
            None => ids.note("SOPS_AGE_KEY_CMD: not set"),
        }
        match env.default_keys_file() {
            Some(path) if path.exists() => {
                let name = path.display().to_string();
                ids.add(&name, read_key_file(&path, &name));
            }
            Some(path) => ids.note(&format!("{}: no such file", path.display())),
            None => ids.note("the user config dir (neither XDG_CONFIG_HOME nor HOME is set)"),
        }
        ids
    }

    /// The sources that were there but could not be used, with why (for `init`, which must
    /// not create a new identity when the user's own one is only misconfigured).
    pub fn problems(&self) -> Vec<String> {
        self.tried
            .iter()
            .filter_map(|t| Some(format!("{}: {}", t.place, t.problem.as_ref()?)))
            .collect()
    }

    /// Identities given directly (tests, or a generated key).
    pub fn from_identities(identities: Vec<age::x25519::Identity>, place: &str) -> AgeIdentities {
        let found = identities.len();
        AgeIdentities {
            identities,
            tried: vec![Tried {
                place: place.to_owned(),
                found: Some(found),
                problem: None,
            }],
        }
    }

    /// Adds the identities of one source, or records why it could not be used.
    fn add(&mut self, name: &str, text: Result<Zeroizing<String>, AgeError>) {
        match text.and_then(|t| parse_identities(&t, name)) {
            Ok(found) => {
                self.tried.push(Tried {
                    place: name.to_owned(),
                    found: Some(found.len()),
                    problem: None,
                });
                self.identities.extend(found);
            }
            Err(e) => self.tried.push(Tried {
                place: name.to_owned(),
                found: None,
                problem: Some(e.problem()),
            }),
        }
    }

    fn note(&mut self, place: &str) {
        self.tried.push(Tried {
            place: place.to_owned(),
            found: None,
            problem: None,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }

    /// The public recipients of the loaded identities.
    pub fn recipients(&self) -> Vec<String> {
        self.identities
            .iter()
            .map(|i| i.to_public().to_string())
            .collect()
    }

    /// Opens one armored age file (an `age` entry's `enc`) with any of the identities;
    /// `None` when none of them can.
    pub fn open(&self, armored: &str) -> Option<DataKey> {
        if self.identities.is_empty() {
            return None;
        }
        let decryptor =
            age::Decryptor::new_buffered(ArmoredReader::new(armored.as_bytes())).ok()?;
        let mut reader = decryptor
            .decrypt(self.identities.iter().map(|i| i as &dyn age::Identity))
            .ok()?;
        // A data key is 32 bytes (33 for a Shamir share): read into a fixed buffer so no
        // reallocation leaves an unwiped copy behind.
        let mut key = Zeroizing::new([0u8; 34]);
        let mut n = 0;
        while n < key.len() {
            match reader.read(&mut key[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(_) => return None,
            }
        }
        DataKey::from_bytes(&key[..n])
    }
}

fn read_key_file(path: &Path, name: &str) -> Result<Zeroizing<String>, AgeError> {
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| AgeError::Source {
            source_name: name.to_owned(),
            why: e.to_string(),
        })
}

fn run_key_cmd(cmd: &str, name: &str) -> Result<Zeroizing<String>, AgeError> {
    let err = |why: String| AgeError::Source {
        source_name: name.to_owned(),
        why,
    };
    // Split shell-style and run without a shell, as sops does.
    let argv = shlex::split(cmd).ok_or_else(|| err("unbalanced quotes".into()))?;
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| err("empty command".into()))?;
    let out = std::process::Command::new(prog)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| err(e.to_string()))?;
    let stdout = Zeroizing::new(out.stdout);
    if !out.status.success() {
        return Err(err(format!("exited with {}", out.status)));
    }
    String::from_utf8(stdout.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| err("printed non-UTF-8 output".into()))
}
