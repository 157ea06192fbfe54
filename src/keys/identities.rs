//! Local identities: the age identities on this machine, found where sops looks for them
//! (age/keysource.go), and everything that was looked at on the way, for the "no key could
//! open this file" error. Key sources that open entries locally (age) use them.
//!
//! What we follow from sops 3.13 (`loadIdentities`, `loadAgeSSHIdentities`):
//! - age sources: `SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD` (split shell-style,
//!   run without a shell), then `<UserConfigDir>/sops/age/keys.txt`; all of them combined.
//!   Lines are `AGE-SECRET-KEY-1…` or `AGE-PLUGIN-…` (run through `age-plugin-<name>` from
//!   PATH, one plugin process per name); a source that is an age file encrypted to a
//!   passphrase (binary or armored, what `age -p` writes) asks for it on the terminal, once,
//!   when it is first needed.
//! - SSH keys: `SOPS_AGE_SSH_PRIVATE_KEY_FILE`, `SOPS_AGE_SSH_PRIVATE_KEY_CMD` (prints the
//!   key; split and run like `SOPS_AGE_KEY_CMD`), and `~/.ssh/id_ed25519` and `~/.ssh/id_rsa`
//!   when they exist. As in sops, the files in `~/.ssh` are looked at even when a variable
//!   is set. sops loads the SSH keys before the age sources; the order only matters for who
//!   is asked first, so here keys that never ask come first, whatever their source.
//! - Unlike sops, we do not pass `SOPS_AGE_RECIPIENT` to the commands (they run once, before
//!   any file is read), and do not derive an X25519 identity from an ed25519 SSH key.
//! - A passphrase is read only from the terminal (`/dev/tty`), never from the environment.
//!   Without a terminal a passphrase-protected SSH key is skipped with a note, and an
//!   encrypted identity file is reported as unusable.

use std::cell::RefCell;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::armor::ArmoredReader;
use zeroize::Zeroizing;

use super::error::AgeError;
use super::recipient::{AgeRecipient, RecipientKind};
use super::ssh;
use super::terminal::{Terminal, has_terminal};
use crate::sops::DataKey;

impl AgeError {
    /// The error without the source's name (for a list that names the source already).
    fn problem(&self) -> String {
        match self {
            AgeError::BadIdentity { line, .. } => {
                format!(
                    "line {line} is not an age identity (expected AGE-SECRET-KEY-1... or AGE-PLUGIN-...)"
                )
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
    /// Why the place could not be used (unreadable file, not identities, failing command,
    /// a wrong passphrase).
    pub problem: Option<String>,
}

/// One identity (or one plugin with its identities), where it came from, and what it opens.
struct Local {
    identity: Box<dyn age::Identity>,
    place: String,
    /// The recipient it opens (the key, no SSH comment), when known without asking anyone.
    recipient: Option<String>,
    /// The plugin that holds it, for a plugin's identities.
    plugin: Option<String>,
    /// Whether using it may ask for a passphrase.
    asks: bool,
}

/// age identities from every place sops looks, combined.
pub struct AgeIdentities {
    /// In the order they are tried: those that never ask first.
    local: Vec<Local>,
    tried: Vec<Tried>,
    /// Failures met while opening files (a wrong passphrase, a plugin's error), by place.
    failures: RefCell<Vec<(String, String)>>,
}

/// The environment the identities are read from; a struct so tests need not mutate the
/// process environment.
#[derive(Clone, Default)]
pub struct AgeEnv {
    pub key: Option<String>,
    pub key_file: Option<PathBuf>,
    pub key_cmd: Option<String>,
    pub config_dir: Option<PathBuf>,
    pub ssh_key_file: Option<PathBuf>,
    pub ssh_key_cmd: Option<String>,
    /// The home folder, for `~/.ssh/id_ed25519` and `~/.ssh/id_rsa`.
    pub home: Option<PathBuf>,
    /// Whether a passphrase may be asked for on the terminal.
    pub terminal: bool,
    /// Tests: the answer to every passphrase question, instead of the terminal.
    #[cfg(test)]
    pub(crate) answer: Option<&'static str>,
}

impl AgeEnv {
    pub fn from_process() -> AgeEnv {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        AgeEnv {
            key: var("SOPS_AGE_KEY"),
            key_file: var("SOPS_AGE_KEY_FILE").map(PathBuf::from),
            key_cmd: var("SOPS_AGE_KEY_CMD"),
            config_dir: user_config_dir(),
            ssh_key_file: var("SOPS_AGE_SSH_PRIVATE_KEY_FILE").map(PathBuf::from),
            ssh_key_cmd: var("SOPS_AGE_SSH_PRIVATE_KEY_CMD"),
            home: std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            terminal: has_terminal(),
            #[cfg(test)]
            answer: None,
        }
    }

    fn asker(&self) -> Terminal {
        #[cfg(test)]
        if self.answer.is_some() {
            return Terminal::answering(self.answer);
        }
        Terminal::new(self.terminal)
    }

    /// `<UserConfigDir>/sops/age/keys.txt`, where sops keeps and looks for age identities.
    pub fn default_keys_file(&self) -> Option<PathBuf> {
        self.config_dir
            .as_ref()
            .map(|d| d.join("sops").join("age").join("keys.txt"))
    }

    /// The same environment without the SSH keys: only the age sources (`init` makes its
    /// rule from them, never from an SSH key found by chance in `~/.ssh`).
    pub fn age_only(&self) -> AgeEnv {
        AgeEnv {
            ssh_key_file: None,
            ssh_key_cmd: None,
            home: None,
            ..self.clone()
        }
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

/// Parses X25519 identities text: one per line, blank lines and `#` comments ignored.
pub fn parse_identities(
    text: &str,
    source_name: &str,
) -> Result<Vec<age::x25519::Identity>, AgeError> {
    let mut out = Vec::new();
    for line in identity_lines(text, source_name)? {
        match line {
            Line::X25519(id) => out.push(id),
            Line::Plugin(_, number) => {
                return Err(AgeError::BadIdentity {
                    source_name: source_name.to_owned(),
                    line: number,
                });
            }
        }
    }
    Ok(out)
}

enum Line {
    X25519(age::x25519::Identity),
    /// A plugin identity and its line number.
    Plugin(age::plugin::Identity, usize),
}

/// The identities of an identities text, X25519 and plugin ones, in order.
fn identity_lines(text: &str, source_name: &str) -> Result<Vec<Line>, AgeError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // The line itself is secret: report only its number.
        let bad = || AgeError::BadIdentity {
            source_name: source_name.to_owned(),
            line: i + 1,
        };
        if line.starts_with("AGE-PLUGIN-") {
            let id = age::plugin::Identity::from_str(line).map_err(|_| bad())?;
            out.push(Line::Plugin(id, i + 1));
        } else {
            let id = age::x25519::Identity::from_str(line).map_err(|_| bad())?;
            out.push(Line::X25519(id));
        }
    }
    Ok(out)
}

/// Whether `bytes` is an age file (binary or armored) rather than identities text.
fn is_age_file(bytes: &[u8]) -> bool {
    let start = bytes.trim_ascii_start();
    start.starts_with(b"age-encryption.org/") || start.starts_with(b"-----BEGIN AGE ENCRYPTED FILE")
}

/// The plugin identities met while loading, by plugin name, with where they came from.
#[derive(Default)]
struct Plugins(Vec<(String, Vec<age::plugin::Identity>, Vec<String>)>);

impl Plugins {
    fn add(&mut self, id: age::plugin::Identity, place: &str) {
        let name = id.plugin().to_owned();
        match self.0.iter_mut().find(|(n, ..)| *n == name) {
            Some((_, ids, places)) => {
                ids.push(id);
                if !places.iter().any(|p| p == place) {
                    places.push(place.to_owned());
                }
            }
            None => self.0.push((name, vec![id], vec![place.to_owned()])),
        }
    }
}

impl AgeIdentities {
    /// Loads identities from every place sops looks (see the module doc), combining all of
    /// them as sops does. Like sops, a source that can't be used (missing file, not
    /// identities, failing command) doesn't stop the others: it is recorded in `tried` and
    /// reported only if no key opens the file.
    pub fn load(env: &AgeEnv) -> AgeIdentities {
        let terminal = env.asker();
        let mut ids = AgeIdentities::empty();
        let mut plugins = Plugins::default();
        match &env.key {
            Some(key) => {
                let bytes = Zeroizing::new(key.as_bytes().to_vec());
                ids.add("SOPS_AGE_KEY", Ok(bytes), &mut plugins, &terminal);
            }
            None => ids.note("SOPS_AGE_KEY: not set"),
        }
        match &env.key_file {
            Some(path) => {
                let name = format!("SOPS_AGE_KEY_FILE={}", path.display());
                ids.add(&name, read_key_file(path, &name), &mut plugins, &terminal);
            }
            None => ids.note("SOPS_AGE_KEY_FILE: not set"),
        }
        match &env.key_cmd {
            Some(cmd) => {
                let name = format!("SOPS_AGE_KEY_CMD `{cmd}`");
                ids.add(&name, run_key_cmd(cmd, &name), &mut plugins, &terminal);
            }
            None => ids.note("SOPS_AGE_KEY_CMD: not set"),
        }
        match env.default_keys_file() {
            Some(path) if path.exists() => {
                let name = path.display().to_string();
                ids.add(&name, read_key_file(&path, &name), &mut plugins, &terminal);
            }
            Some(path) => ids.note(&format!("{}: no such file", path.display())),
            None => ids.note("the user config dir (neither XDG_CONFIG_HOME nor HOME is set)"),
        }
        ids.add_plugins(plugins, &terminal);
        ids.load_ssh(env, &terminal);
        // Keys that never ask first, plugins (a process each time) after the other keys;
        // stable, so within each group in sops' order of sources.
        ids.local
            .sort_by_key(|local| (local.asks, local.plugin.is_some()));
        ids
    }

    fn empty() -> AgeIdentities {
        AgeIdentities {
            local: Vec::new(),
            tried: Vec::new(),
            failures: RefCell::new(Vec::new()),
        }
    }

    /// The SSH keys, in sops' order: the file, the command, then `~/.ssh`.
    fn load_ssh(&mut self, env: &AgeEnv, terminal: &Terminal) {
        match &env.ssh_key_file {
            Some(path) => {
                let name = format!("SOPS_AGE_SSH_PRIVATE_KEY_FILE={}", path.display());
                let key = read_key_file(path, &name);
                self.add_ssh(&name, &path.display().to_string(), key, terminal);
            }
            None => self.note("SOPS_AGE_SSH_PRIVATE_KEY_FILE: not set"),
        }
        match &env.ssh_key_cmd {
            Some(cmd) => {
                let name = format!("SOPS_AGE_SSH_PRIVATE_KEY_CMD `{cmd}`");
                let key = run_key_cmd(cmd, &name);
                self.add_ssh(&name, "from SOPS_AGE_SSH_PRIVATE_KEY_CMD", key, terminal);
            }
            None => self.note("SOPS_AGE_SSH_PRIVATE_KEY_CMD: not set"),
        }
        let Some(home) = &env.home else {
            return self.note("~/.ssh/id_ed25519 and ~/.ssh/id_rsa (HOME is not set)");
        };
        for file in ["id_ed25519", "id_rsa"] {
            let path = home.join(".ssh").join(file);
            let name = path.display().to_string();
            if path.exists() {
                self.add_ssh(&name, &name, read_key_file(&path, &name), terminal);
            } else {
                self.note(&format!("{name}: no such file"));
            }
        }
    }

    /// Adds one SSH key, or records why it could not be used.
    fn add_ssh(
        &mut self,
        name: &str,
        label: &str,
        bytes: Result<Zeroizing<Vec<u8>>, AgeError>,
        terminal: &Terminal,
    ) {
        let parsed = bytes
            .map_err(|e| e.problem())
            .and_then(|bytes| ssh::parse(&bytes, label, terminal));
        match parsed {
            Ok(key) => {
                self.found(name, 1);
                self.local.push(Local {
                    place: name.to_owned(),
                    recipient: Some(key.recipient.clone()),
                    plugin: None,
                    asks: key.asks,
                    identity: Box::new(key),
                });
            }
            Err(problem) => self.unusable(name, problem),
        }
    }

    /// The sources that were there but could not be used, with why (for `init`, which must
    /// not create a new identity when the user's own one is only misconfigured).
    pub fn problems(&self) -> Vec<String> {
        self.tried()
            .iter()
            .filter_map(|t| Some(format!("{}: {}", t.place, t.problem.as_ref()?)))
            .collect()
    }

    /// Every place looked, with what was found there and, for a key that failed while
    /// opening a file (a wrong passphrase), why.
    pub fn tried(&self) -> Vec<Tried> {
        let mut tried = self.tried.clone();
        for (place, problem) in self.failures.borrow().iter() {
            match tried.iter_mut().find(|t| &t.place == place) {
                Some(t) => t.problem = Some(problem.clone()),
                None => tried.push(Tried {
                    place: place.clone(),
                    found: None,
                    problem: Some(problem.clone()),
                }),
            }
        }
        tried
    }

    /// Identities given directly (tests, or a generated key).
    pub fn from_identities(identities: Vec<age::x25519::Identity>, place: &str) -> AgeIdentities {
        let mut ids = AgeIdentities::empty();
        ids.found(place, identities.len());
        for id in identities {
            ids.push_x25519(id, place);
        }
        ids
    }

    fn push_x25519(&mut self, id: age::x25519::Identity, place: &str) {
        self.local.push(Local {
            recipient: Some(id.to_public().to_string()),
            identity: Box::new(id),
            place: place.to_owned(),
            plugin: None,
            asks: false,
        });
    }

    /// Adds the identities of one age source, or records why it could not be used.
    fn add(
        &mut self,
        name: &str,
        bytes: Result<Zeroizing<Vec<u8>>, AgeError>,
        plugins: &mut Plugins,
        terminal: &Terminal,
    ) {
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(e) => return self.unusable(name, e.problem()),
        };
        if is_age_file(&bytes) {
            return self.add_encrypted(name, bytes.to_vec(), terminal);
        }
        let text = match std::str::from_utf8(&bytes) {
            Ok(text) => text,
            Err(_) => return self.unusable(name, "not UTF-8 text, nor an age file".to_owned()),
        };
        match identity_lines(text, name) {
            Ok(lines) => {
                // A plugin's identities are tried, and reported, through their plugin.
                let plugin = lines
                    .iter()
                    .filter(|l| matches!(l, Line::Plugin(..)))
                    .count();
                match (lines.len() - plugin, plugin) {
                    (0, 1) => self.note(&format!("{name}: 1 plugin identity, tried below")),
                    (0, n) if n > 1 => {
                        self.note(&format!("{name}: {n} plugin identities, tried below"))
                    }
                    (x25519, _) => self.found(name, x25519),
                }
                for line in lines {
                    match line {
                        Line::X25519(id) => self.push_x25519(id, name),
                        Line::Plugin(id, _) => plugins.add(id, name),
                    }
                }
            }
            Err(e) => self.unusable(name, e.problem()),
        }
    }

    /// An identity file encrypted to a passphrase: decrypted when first needed, after asking
    /// on the terminal.
    fn add_encrypted(&mut self, name: &str, bytes: Vec<u8>, terminal: &Terminal) {
        if !terminal.ask {
            return self.unusable(
                name,
                "encrypted with a passphrase, and there is no terminal to ask for it on".into(),
            );
        }
        let reader = ArmoredReader::new(std::io::Cursor::new(bytes));
        match age::encrypted::Identity::from_buffer(reader, Some(name.to_owned()), terminal.clone(), None) {
            Ok(Some(identity)) => {
                self.found(name, 1);
                self.local.push(Local {
                    identity: Box::new(identity),
                    place: name.to_owned(),
                    recipient: None,
                    plugin: None,
                    asks: true,
                });
            }
            Ok(None) => self.unusable(
                name,
                "an age file encrypted to a key, not a passphrase; sls-secrets can't read identities from it".into(),
            ),
            Err(e) => self.unusable(name, format!("not a readable age file: {e}")),
        }
    }

    /// One plugin per name holds all its identities (one plugin process per file entry).
    fn add_plugins(&mut self, plugins: Plugins, terminal: &Terminal) {
        for (name, ids, places) in plugins.0 {
            let place = format!("age-plugin-{name} (identities from {})", places.join(", "));
            match age::plugin::IdentityPluginV1::new(&name, &ids, terminal.clone()) {
                Ok(plugin) => self.local.push(Local {
                    identity: Box::new(plugin),
                    place,
                    recipient: None,
                    plugin: Some(name),
                    asks: false,
                }),
                Err(_) => self.unusable(
                    &place,
                    format!("the program age-plugin-{name} was not found on PATH"),
                ),
            }
        }
    }

    fn found(&mut self, place: &str, count: usize) {
        self.tried.push(Tried {
            place: place.to_owned(),
            found: Some(count),
            problem: None,
        });
    }

    fn unusable(&mut self, place: &str, problem: String) {
        self.tried.push(Tried {
            place: place.to_owned(),
            found: None,
            problem: Some(problem),
        });
    }

    fn note(&mut self, place: &str) {
        self.tried.push(Tried {
            place: place.to_owned(),
            found: None,
            problem: None,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.local.is_empty()
    }

    /// The public recipients of the loaded identities whose recipient is known without asking
    /// anyone (X25519 and SSH keys; not plugins, not encrypted identity files).
    pub fn recipients(&self) -> Vec<String> {
        self.local
            .iter()
            .filter_map(|local| local.recipient.clone())
            .collect()
    }

    /// How soon to try an entry for `recipient`: 0 for one of our keys that never asks,
    /// 1 for a plugin we have identities for, 2 for one of our keys that asks for a
    /// passphrase, 3 for the others (only an encrypted identity file may still open them).
    pub fn rank(&self, recipient: &str) -> u8 {
        let Ok(parsed) = AgeRecipient::parse(recipient) else {
            return 3;
        };
        let mine = |asks: bool| {
            self.local
                .iter()
                .any(|l| l.asks == asks && l.recipient.as_deref() == Some(parsed.key()))
        };
        if mine(false) {
            return 0;
        }
        if let RecipientKind::Plugin { name } = parsed.kind()
            && self.local.iter().any(|l| l.plugin.as_ref() == Some(name))
        {
            return 1;
        }
        if mine(true) { 2 } else { 3 }
    }

    /// Opens one armored age file (an `age` entry's `enc`) with any of the identities;
    /// `None` when none of them can. Identities are tried one at a time so that one that
    /// fails (a wrong passphrase, a plugin error) is recorded and does not stop the others.
    pub fn open(&self, armored: &str) -> Option<DataKey> {
        for local in &self.local {
            let decryptor =
                age::Decryptor::new_buffered(ArmoredReader::new(armored.as_bytes())).ok()?;
            match decryptor.decrypt(std::iter::once(local.identity.as_ref())) {
                Ok(reader) => {
                    if let Some(key) = read_data_key(reader) {
                        return Some(key);
                    }
                }
                Err(age::DecryptError::NoMatchingKeys) => {}
                Err(e) => self.failed(local, &e),
            }
        }
        None
    }

    /// Records why an identity failed, once per place.
    fn failed(&self, local: &Local, e: &age::DecryptError) {
        let why = match e {
            age::DecryptError::KeyDecryptionFailed if local.asks => {
                "wrong passphrase, or none given".to_owned()
            }
            other => other.to_string(),
        };
        let mut failures = self.failures.borrow_mut();
        if !failures.iter().any(|(place, _)| place == &local.place) {
            failures.push((local.place.clone(), why));
        }
    }
}

/// The data key from a decrypting reader: 32 bytes (33 for a Shamir share), read into a
/// fixed buffer so no reallocation leaves an unwiped copy behind.
fn read_data_key(mut reader: impl Read) -> Option<DataKey> {
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

/// A key file, read only if it is a regular file of a bounded size: `~/.ssh/id_ed25519` as a
/// FIFO must not hang every command (the merge driver, `git diff`), nor a symlink to
/// `/dev/zero` exhaust memory.
fn read_key_file(path: &Path, name: &str) -> Result<Zeroizing<Vec<u8>>, AgeError> {
    crate::files::read_bytes(path)
        .map(Zeroizing::new)
        .map_err(|e| AgeError::Source {
            source_name: name.to_owned(),
            why: e.to_string(),
        })
}

fn run_key_cmd(cmd: &str, name: &str) -> Result<Zeroizing<Vec<u8>>, AgeError> {
    let err = |why: String| AgeError::Source {
        source_name: name.to_owned(),
        why,
    };
    // Split shell-style and run without a shell, as sops does.
    let argv = shlex::split(cmd).ok_or_else(|| err("unbalanced quotes".into()))?;
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| err("empty command".into()))?;
    // Its stderr is not shown, as sops does not show it: a key command that goes wrong may
    // print the key there, and our stderr ends up in CI logs and `git diff` output.
    let out = std::process::Command::new(prog)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|e| err(e.to_string()))?;
    let stdout = Zeroizing::new(out.stdout);
    if !out.status.success() {
        return Err(err(format!(
            "exited with {} (its stderr is not shown: it could hold key material; run the command yourself to see it)",
            out.status
        )));
    }
    Ok(stdout)
}
