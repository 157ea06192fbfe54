//! People come and go: one age recipient (X25519, SSH or plugin) added to or taken out of
//! the `.sops.yaml` creation rules and the stage files (`keys add`, `keys remove`).
//!
//! Everything is planned before anything is written: every file opened, the rules edited as
//! text (`rule_edit`) and the edit read back to check that each stage file's rule gains or
//! loses exactly that recipient and nothing else changes. Adding wraps each file's existing
//! data key for the newcomer (values untouched); removing gives each file a new data key for
//! the keys it keeps (every value re-encrypted).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::{self, Config, ConfigError, CreationRule};
use crate::keys::recipient::AgeRecipient;
use crate::keys::{self, AgeIdentities};
use crate::rule_edit::{self, EditError};
use crate::sops::PlainFile;
use crate::sops::metadata::KeyEntry;
use crate::store::{self, StoreError};

/// What to do with the recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Add,
    Remove,
}

/// A stage file to change.
#[derive(Clone, Debug)]
pub struct Target {
    pub stage: String,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    // Boxed: a store error is large, and every result here carries the enum.
    #[error("{0}")]
    Store(Box<StoreError>),
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{path}: {source}")]
    Edit {
        path: PathBuf,
        #[source]
        source: EditError,
    },
    #[error("{path}: the edited rules would not be what was asked ({why}); nothing was written")]
    EditCheck { path: PathBuf, why: String },
    #[error("{path} changed while the rules were being edited; nothing was written to it")]
    ConfigChanged { path: PathBuf },
    #[error(
        "the recipient's comment holds a comma, which sops reads as a separator between recipients"
    )]
    Comma,
    #[error(
        "can't open {path} (stage {stage}) to wrap its data key for the change; nothing was written"
    )]
    Unreadable {
        stage: String,
        path: PathBuf,
        /// Who can open it: its keys, short.
        who: Vec<String>,
        #[source]
        source: Box<StoreError>,
    },
    #[error("{recipient} is already a recipient of {places}; nothing to add")]
    AlreadyPresent { recipient: String, places: String },
    #[error("{recipient} is not a recipient of {places}; nothing to remove")]
    Absent { recipient: String, places: String },
    #[error("`{given}` fits several keys: {}", keys.join("; "))]
    Ambiguous { given: String, keys: Vec<String> },
    #[error("{recipient} is the last key of {place}: without it nobody could open {what}")]
    LastRecipient {
        recipient: String,
        place: String,
        what: String,
    },
}

impl From<StoreError> for AccessError {
    fn from(e: StoreError) -> AccessError {
        AccessError::Store(Box::new(e))
    }
}

impl AccessError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            AccessError::Store(e) => return e.hint(),
            AccessError::Unreadable { who, source, .. } => {
                let mut hint = format!("it can be opened by: {}", who.join("; "));
                hint.push_str("\nask one of them to run this, or name only the stages you can open (--stage)");
                if let Some(more) = source.hint() {
                    hint.push('\n');
                    hint.push_str(&more);
                }
                hint
            }
            AccessError::Edit { .. } | AccessError::EditCheck { .. } => {
                "edit .sops.yaml by hand (then `sls-secrets rotate`), or report the layout that was refused".into()
            }
            AccessError::ConfigChanged { .. } => "run the command again".into(),
            AccessError::Comma => "remove the comma from the key's comment (the text after the key)".into(),
            AccessError::AlreadyPresent { .. } => "`sls-secrets keys` shows who can open each file".into(),
            AccessError::Absent { .. } => {
                "`sls-secrets keys` shows each file's recipients; give the recipient as listed there".into()
            }
            AccessError::LastRecipient { .. } => {
                "add the key that replaces it first (`sls-secrets keys add`), then remove this one".into()
            }
            AccessError::Ambiguous { .. } => "give more of the fingerprint, or the whole key".into(),
            AccessError::Config(_) => return None,
        })
    }
}

/// A planned change of one stage file.
pub struct FilePlan {
    pub stage: String,
    pub path: PathBuf,
    pub file: PlainFile,
    /// Whether the file changes (it lacked the recipient to add, or had the one to remove).
    pub changed: bool,
    /// Key kinds sls-secrets can't wrap for (pgp, …) that a new data key leaves behind.
    pub dropped: Vec<String>,
}

/// Everything a `keys add` / `keys remove` writes, checked, not written yet.
pub struct Plan {
    pub change: Change,
    pub recipient: AgeRecipient,
    pub files: Vec<FilePlan>,
    pub config_path: PathBuf,
    pub old_config: String,
    pub new_config: String,
    /// What happens to the rules, one line each.
    pub notes: Vec<String>,
}

/// A recipient given on the command line: parsed, and refused when sops would split it.
pub fn parse_recipient(text: &str) -> Result<AgeRecipient, AccessError> {
    let recipient = AgeRecipient::parse(text).map_err(StoreError::Age)?;
    if recipient.text().contains(',') {
        return Err(AccessError::Comma);
    }
    Ok(recipient)
}

/// The public key in an SSH `.pub` file (its first key line, as `ssh-keygen` writes it).
pub fn read_public_key(path: &Path) -> Result<AgeRecipient, AccessError> {
    let io = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let text = crate::files::read_text(path).map_err(io)?;
    if text.contains("PRIVATE KEY") {
        return Err(io(std::io::Error::other(
            "is a private key; give the public key (the .pub file next to it)",
        ))
        .into());
    }
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    // A `USER.keys` download may hold several keys: adding only the first would be a guess.
    if lines.len() > 1 {
        return Err(io(std::io::Error::other(format!(
            "holds {} keys; give the one to use with --ssh \"ssh-ed25519 ...\"",
            lines.len()
        )))
        .into());
    }
    parse_recipient(lines.first().copied().unwrap_or_default())
}

/// The key to remove as given: text (a recipient, or a fingerprint or short form as `keys`
/// shows it), or a key read from a `.pub` file.
pub enum Given {
    Text(String),
    Key(AgeRecipient),
}

/// The recipient `given` names. A full recipient stands for itself; a short form (`keys`
/// shows an SSH key as `ssh-ed25519 SHA256:9X2NeS9pwDGr… alice@laptop`) or a fingerprint
/// prefix (`SHA256:9X2NeS9pwDGr`) names the one recipient of the targets' files or rules
/// it fits.
pub fn resolve_recipient(given: Given, targets: &[Target]) -> Result<AgeRecipient, AccessError> {
    let text = match given {
        Given::Key(key) => return Ok(key),
        Given::Text(text) => text,
    };
    let parse_error = match AgeRecipient::parse(&text) {
        Ok(recipient) => return Ok(recipient),
        Err(e) => e,
    };
    let wanted = text.trim();
    let prefix = wanted
        .split_whitespace()
        .find(|w| w.starts_with("SHA256:"))
        .map(|w| w.trim_end_matches(['…', '.']))
        .filter(|w| w.len() >= "SHA256:".len() + 6);
    let mut found: Vec<AgeRecipient> = Vec::new();
    for candidate in candidates(targets) {
        let fits = candidate.short() == wanted
            || prefix.is_some_and(|p| candidate.fingerprint().is_some_and(|f| f.starts_with(p)));
        if fits && !found.iter().any(|f| f.key() == candidate.key()) {
            found.push(candidate);
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(StoreError::Age(parse_error).into()),
        _ => Err(AccessError::Ambiguous {
            given: wanted.to_owned(),
            keys: found.iter().map(AgeRecipient::short).collect(),
        }),
    }
}

/// Every age recipient of the targets' files and of their `.sops.yaml` rules.
fn candidates(targets: &[Target]) -> Vec<AgeRecipient> {
    let mut texts: Vec<String> = Vec::new();
    for target in targets {
        if let Ok(file) = store::read_encrypted(&target.path) {
            texts.extend(file.meta.keys().iter().map(|k| k.id().to_owned()));
        }
        if let Ok(rule) = store::creation_rule(&target.path) {
            texts.extend(rule.keys.iter().map(|k| k.id().to_owned()));
        }
    }
    texts
        .iter()
        .filter_map(|t| AgeRecipient::parse(t).ok())
        .collect()
}

/// How `keys` and errors name a key: an SSH or plugin recipient short (type, fingerprint,
/// comment), an X25519 recipient or KMS ARN whole.
pub fn describe_key(entry: &KeyEntry) -> String {
    match entry {
        KeyEntry::Age(age) => AgeRecipient::parse(&age.recipient)
            .map(|r| r.short())
            .unwrap_or_else(|_| age.recipient.clone()),
        KeyEntry::Kms(_) => keys::source_of(entry).describe(),
    }
}

/// The `.sops.yaml` comment beside a recipient (who it is), matched by key: the file may
/// hold an SSH key with another comment than the rule's.
pub fn rule_comment(rule: &CreationRule, id: &str) -> Option<String> {
    if let Some(c) = rule.comment_for(id) {
        return Some(c);
    }
    let recipient = AgeRecipient::parse(id).ok()?;
    rule.comments
        .iter()
        .find(|(r, _)| recipient.same_key(r))
        .map(|(_, c)| c.clone())
}

/// Whether `entry` is an age entry for the same key as `recipient`.
fn is_recipient(entry: &KeyEntry, recipient: &AgeRecipient) -> bool {
    matches!(entry, KeyEntry::Age(_)) && recipient.same_key(entry.id())
}

/// Opens and plans every target, edits the rules and checks the edit; writes nothing.
/// `only_stage`: one stage was named, so a rule it shares with other files is split.
pub fn plan(
    change: Change,
    recipient: &AgeRecipient,
    targets: &[Target],
    only_stage: bool,
    ids: &AgeIdentities,
) -> Result<Plan, AccessError> {
    let mut opened = Vec::new();
    for target in targets {
        opened.push((target, open_target(target, ids)?));
    }
    let dir = targets
        .first()
        .and_then(|t| t.path.parent())
        .unwrap_or(Path::new("."));
    let config_path = config::find(dir).ok_or_else(|| StoreError::NoRule {
        path: targets
            .first()
            .map_or_else(PathBuf::new, |t| t.path.clone()),
    })?;
    let config_path = std::path::absolute(&config_path).unwrap_or(config_path);
    let cfg = Config::load(&config_path)?;
    let stage_files = store::stage_files(dir)?;
    let edit = RuleEdit {
        cfg: &cfg,
        change,
        recipient,
        targets,
        only_stage,
        stage_files: &stage_files,
    };
    let (new_config, notes) = edit.plan()?;
    let mut files = Vec::new();
    for (target, file) in opened {
        files.push(plan_file(change, recipient, target, file, ids)?);
    }
    let plan = Plan {
        change,
        recipient: recipient.clone(),
        files,
        config_path,
        old_config: cfg.text().to_owned(),
        new_config,
        notes,
    };
    if !plan.changes_anything() {
        let places = plan.places();
        let recipient = recipient.short();
        return Err(match change {
            Change::Add => AccessError::AlreadyPresent { recipient, places },
            Change::Remove => AccessError::Absent { recipient, places },
        });
    }
    Ok(plan)
}

fn open_target(target: &Target, ids: &AgeIdentities) -> Result<PlainFile, AccessError> {
    store::open(&target.path, ids).map_err(|source| {
        let rule = store::creation_rule(&target.path).ok();
        let who_is = |key: &KeyEntry| {
            let comment = rule.as_ref().and_then(|r| rule_comment(r, key.id()));
            match comment {
                Some(c) => format!("{} (# {c})", describe_key(key)),
                None => describe_key(key),
            }
        };
        let who = store::read_encrypted(&target.path)
            .map(|f| f.meta.keys().iter().map(who_is).collect())
            .unwrap_or_default();
        match source {
            StoreError::NoKey { .. } => AccessError::Unreadable {
                stage: target.stage.clone(),
                path: target.path.clone(),
                who,
                source: Box::new(source),
            },
            other => other.into(),
        }
    })
}

/// One file's change: the same data key wrapped for one more recipient, or a new data key
/// for the keys it keeps.
fn plan_file(
    change: Change,
    recipient: &AgeRecipient,
    target: &Target,
    file: PlainFile,
    ids: &AgeIdentities,
) -> Result<FilePlan, AccessError> {
    let has = file.meta.keys().iter().any(|k| is_recipient(k, recipient));
    let mut plan = FilePlan {
        stage: target.stage.clone(),
        path: target.path.clone(),
        changed: false,
        dropped: Vec::new(),
        file,
    };
    match change {
        Change::Add if !has => {
            store::add_age_recipient(&plan.path, &mut plan.file, recipient.text())?;
            plan.changed = true;
        }
        Change::Remove if has => {
            let keep: Vec<KeyEntry> = plan
                .file
                .meta
                .keys()
                .iter()
                .filter(|k| !is_recipient(k, recipient))
                .cloned()
                .collect();
            if keep.is_empty() {
                return Err(AccessError::LastRecipient {
                    recipient: recipient.short(),
                    place: plan.path.display().to_string(),
                    what: "it".into(),
                });
            }
            plan.dropped = plan.file.meta.foreign_keys.clone();
            store::rekey(&plan.path, &mut plan.file, &keep, ids)?;
            plan.changed = true;
        }
        Change::Add | Change::Remove => {}
    }
    Ok(plan)
}

impl Plan {
    pub fn changes_anything(&self) -> bool {
        self.files.iter().any(|f| f.changed) || self.new_config != self.old_config
    }

    /// The files and rule file this plan looked at, for "already a recipient of …".
    fn places(&self) -> String {
        let mut places: Vec<String> = self
            .files
            .iter()
            .map(|f| f.path.display().to_string())
            .collect();
        places.push(format!("their rules in {}", self.config_path.display()));
        places.join(", ")
    }

    /// Writes every changed stage file (each atomically), then `.sops.yaml`, unless it
    /// changed since it was read.
    pub fn apply(&mut self) -> Result<(), AccessError> {
        if self.new_config != self.old_config {
            let now =
                crate::files::read_text(&self.config_path).map_err(|source| StoreError::Io {
                    path: self.config_path.clone(),
                    source,
                })?;
            if now != self.old_config {
                return Err(AccessError::ConfigChanged {
                    path: self.config_path.clone(),
                });
            }
        }
        for f in self.files.iter_mut().filter(|f| f.changed) {
            store::save(&f.path, &mut f.file)?;
        }
        if self.new_config != self.old_config {
            store::write_atomic(&self.config_path, self.new_config.as_bytes(), 0o644)?;
        }
        Ok(())
    }

    /// What changed and what didn't, one line each, for stderr.
    pub fn summary(&self) -> String {
        let who = self.recipient.short();
        let mut out = String::new();
        for f in &self.files {
            let file = format!("{} (stage {})", f.path.display(), f.stage);
            let line = match (self.change, f.changed) {
                (Change::Add, true) => {
                    format!("{file}: can now be opened by {who}; values unchanged")
                }
                (Change::Add, false) => format!("{file}: unchanged, {who} could already open it"),
                (Change::Remove, true) => {
                    format!("{file}: {who} removed; new data key, every value re-encrypted")
                }
                (Change::Remove, false) => format!("{file}: unchanged, {who} was not a recipient"),
            };
            out.push_str(&line);
            out.push('\n');
            if !f.dropped.is_empty() {
                out.push_str(&format!(
                    "  its {} keys were left out: sls-secrets can't wrap the new data key for them\n",
                    f.dropped.join(", ")
                ));
            }
        }
        let config = self.config_path.display();
        for line in self.notes.iter().flat_map(|note| note.lines()) {
            out.push_str(&format!("{config}: {line}\n"));
        }
        if self.new_config == self.old_config {
            out.push_str(&format!("{config}: unchanged\n"));
        }
        out
    }
}

/// The rules part of a plan: which rules change, and the checked text.
struct RuleEdit<'a> {
    cfg: &'a Config,
    change: Change,
    recipient: &'a AgeRecipient,
    targets: &'a [Target],
    only_stage: bool,
    stage_files: &'a [(String, PathBuf)],
}

/// A made-up stage file in the secrets folder: a rule that matches it matches stage files
/// created later, so it is shared even when one file uses it today.
const PROBE_STAGE: &str = "sls-secrets-probe-stage";

impl RuleEdit<'_> {
    fn rule_of(&self, path: &Path) -> Result<Option<CreationRule>, AccessError> {
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        Ok(self.cfg.rule_for(&abs)?)
    }

    fn probe(&self) -> Option<PathBuf> {
        let dir = self.targets.first()?.path.parent()?;
        Some(dir.join(format!("{PROBE_STAGE}.yml")))
    }

    /// The edited text and a note per rule; rules are changed from the last one up, so a
    /// rule put above one leaves the indices of those still to change alone.
    fn plan(&self) -> Result<(String, Vec<String>), AccessError> {
        let mut by_rule: BTreeMap<usize, (CreationRule, Vec<&Target>)> = BTreeMap::new();
        for target in self.targets {
            let rule = self
                .rule_of(&target.path)?
                .ok_or_else(|| StoreError::NoRule {
                    path: target.path.clone(),
                })?;
            by_rule
                .entry(rule.index)
                .or_insert_with(|| (rule, Vec::new()))
                .1
                .push(target);
        }
        let mut text = self.cfg.text().to_owned();
        let mut notes = Vec::new();
        for (index, (rule, targets)) in by_rule.iter().rev() {
            if let Some(note) = self.edit_rule(&mut text, *index, rule, targets)? {
                notes.push(note);
            }
        }
        notes.reverse();
        self.check(&text)?;
        Ok((text, notes))
    }

    /// Adds the recipient to rule `index` or takes it out, splitting the rule first when
    /// one stage was named and the rule serves other files too.
    fn edit_rule(
        &self,
        text: &mut String,
        index: usize,
        rule: &CreationRule,
        targets: &[&Target],
    ) -> Result<Option<String>, AccessError> {
        let who = self.recipient.short();
        let has = rule.keys.iter().any(|k| is_recipient(k, self.recipient));
        let at = format!("creation_rules[{index}]");
        match self.change {
            Change::Add if has => return Ok(Some(format!("{at} already has {who}"))),
            Change::Remove if !has => return Ok(Some(format!("{at} does not have {who}"))),
            Change::Remove if rule.keys.iter().all(|k| is_recipient(k, self.recipient)) => {
                return Err(AccessError::LastRecipient {
                    recipient: who,
                    place: format!("{at} in {}", self.cfg.path.display()),
                    what: "the files it creates".into(),
                });
            }
            Change::Add | Change::Remove => {}
        }
        let edit_err = |source| AccessError::Edit {
            path: self.cfg.path.clone(),
            source,
        };
        let mut note = String::new();
        if let (true, [target]) = (self.only_stage, targets)
            && let Some(shared) = self.shared_with(index, target)?
        {
            let regex = self.stage_regex(&target.path);
            let comment = format!(
                "stage {} only: split from the rule below by `sls-secrets keys`",
                target.stage
            );
            *text = rule_edit::split_rule(text, index, &regex, &comment).map_err(edit_err)?;
            note = format!(
                "{at} also serves {shared}, so stage {stage} got a rule of its own with the same keys and settings (path_regex {regex}), put above it as {at}; the shared rule, now creation_rules[{next}], is unchanged and {shared} keep their keys\n",
                stage = target.stage,
                next = index + 1,
            );
        }
        *text = match self.change {
            Change::Add => {
                rule_edit::add_recipient(text, index, self.recipient.text()).map_err(edit_err)?
            }
            Change::Remove => {
                let matches = |s: &str| self.recipient.same_key(s);
                rule_edit::remove_recipient(text, index, &matches)
                    .map_err(edit_err)?
                    .ok_or_else(|| AccessError::EditCheck {
                        path: self.cfg.path.clone(),
                        why: format!("{at} has {who} by the parser but not by the editor"),
                    })?
            }
        };
        let done = match self.change {
            Change::Add => "added to",
            Change::Remove => "removed from",
        };
        Ok(Some(format!("{note}{who} {done} {at}")))
    }

    /// What else rule `index` serves besides `target`: other stage files, or stage files
    /// created later (its path_regex matches any name).
    fn shared_with(&self, index: usize, target: &Target) -> Result<Option<String>, AccessError> {
        let mut others = Vec::new();
        for (stage, path) in self.stage_files {
            if *path != target.path && self.rule_of(path)?.is_some_and(|r| r.index == index) {
                others.push(format!("stage {stage}"));
            }
        }
        if let Some(probe) = self.probe()
            && self.rule_of(&probe)?.is_some_and(|r| r.index == index)
        {
            others.push("stage files created later".into());
        }
        Ok(match others.split_last() {
            None => None,
            Some((last, [])) => Some(last.clone()),
            Some((last, rest)) => Some(format!("{} and {last}", rest.join(", "))),
        })
    }

    /// A path_regex for exactly one file: its path relative to `.sops.yaml`'s folder, as
    /// sops matches it.
    fn stage_regex(&self, path: &Path) -> String {
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let base = self.cfg.path.parent().unwrap_or(Path::new(""));
        let rel = abs.strip_prefix(base).unwrap_or(&abs);
        let rel = rel.to_string_lossy().replace('\\', "/");
        let mut out = String::from("^");
        for c in rel.chars() {
            if "\\.+*?()|[]{}^$".contains(c) {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('$');
        out
    }

    /// Reads the edited text back: every stage file's rule (and, for one stage, a stage
    /// file created later) must have the same keys and settings as before, but for the
    /// recipient in or out of the targets' rules.
    fn check(&self, text: &str) -> Result<(), AccessError> {
        let new = Config::from_text(&self.cfg.path, text).map_err(|e| AccessError::EditCheck {
            path: self.cfg.path.clone(),
            why: e.to_string(),
        })?;
        let mut paths: Vec<(PathBuf, bool)> = self
            .stage_files
            .iter()
            .map(|(_, p)| (p.clone(), self.targets.iter().any(|t| t.path == *p)))
            .collect();
        if self.only_stage {
            paths.extend(self.probe().map(|p| (p, false)));
        }
        for (path, target) in paths {
            let abs = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
            let before = self.cfg.rule_for(&abs)?;
            let after = new.rule_for(&abs).map_err(|e| AccessError::EditCheck {
                path: self.cfg.path.clone(),
                why: e.to_string(),
            })?;
            let mut want = before
                .as_ref()
                .map(|r| key_set(&r.keys))
                .unwrap_or_default();
            if target {
                let key = format!("age {}", self.recipient.key());
                match self.change {
                    Change::Add if !want.contains(&key) => want.push(key),
                    Change::Remove => want.retain(|k| *k != key),
                    Change::Add => {}
                }
                want.sort();
            }
            let got = after.as_ref().map(|r| key_set(&r.keys)).unwrap_or_default();
            if got != want || settings(before.as_ref()) != settings(after.as_ref()) {
                return Err(AccessError::EditCheck {
                    path: self.cfg.path.clone(),
                    why: format!("the rule for {} would change otherwise", path.display()),
                });
            }
        }
        Ok(())
    }
}

/// A rule's keys as a sorted set: age recipients by key (an SSH comment aside), KMS keys
/// with everything that makes them another key.
fn key_set(keys: &[KeyEntry]) -> Vec<String> {
    let mut out: Vec<String> = keys
        .iter()
        .map(|k| match k {
            KeyEntry::Age(a) => format!(
                "age {}",
                AgeRecipient::parse(&a.recipient)
                    .map_or_else(|_| a.recipient.clone(), |r| r.key().to_owned())
            ),
            KeyEntry::Kms(k) => {
                format!("kms {} {} {:?} {}", k.arn, k.role, k.context, k.aws_profile)
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A rule's encryption settings, compared before and after an edit.
fn settings(rule: Option<&CreationRule>) -> Option<(Option<(String, String)>, bool)> {
    rule.map(|r| {
        (
            r.rule
                .as_ref()
                .map(|x| (x.key().to_owned(), x.text().to_owned())),
            r.mac_only_encrypted,
        )
    })
}
