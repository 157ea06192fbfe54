//! People come and go: one age recipient (X25519, SSH or plugin) added to or taken out of
//! the `.sops.yaml` creation rules and the stage files (`keys add`, `keys remove`).
//!
//! Everything is planned before anything is written: every file opened, the rules edited as
//! text (`rule_edit`) and the edit read back to check that each stage file's rule gains or
//! loses exactly that recipient and nothing else changes. Adding wraps each file's existing
//! data key for the newcomer (values untouched); removing gives each file a new data key for
//! the keys it keeps (every value re-encrypted).
//!
//! `target.rs`: what is changed; `recipient.rs`: the key, as given and as shown;
//! `rules.rs`: the `.sops.yaml` part; `error.rs`: what is refused.

mod error;
mod recipient;
mod rules;
mod target;

use std::path::{Path, PathBuf};

pub use error::AccessError;
pub use recipient::{
    Given, describe_key, parse_recipient, read_public_key, resolve_recipient, rule_comment,
};
pub use target::{Change, Target};

use crate::config::{self, Config};
use crate::keys::AgeIdentities;
use crate::keys::recipient::AgeRecipient;
use crate::sops::PlainFile;
use crate::sops::metadata::KeyEntry;
use crate::store::{self, StoreError};
use recipient::is_recipient;
use rules::RuleEdit;

/// A planned change of one stage file.
pub struct FilePlan {
    pub stage: String,
    pub path: PathBuf,
    pub file: PlainFile,
    /// Whether the file changes (it lacked the recipient to add, or had the one to remove).
    pub changed: bool,
    /// Key kinds sls-secrets can't wrap for (pgp, …) that a new data key leaves behind.
    pub dropped: Vec<String>,
    /// Whether `apply` wrote it.
    pub written: bool,
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
    /// The repository root: a `.sops.yaml` link is written through only to a file inside it.
    pub root: PathBuf,
    /// Whether `apply` wrote `.sops.yaml`.
    pub config_written: bool,
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
    let root = store::repo_root(&std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned()));
    check_config_link(&config_path, &root)?;
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
        root,
        config_written: false,
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

/// A `.sops.yaml` that is a link is written through (it stays a link), but only to a file
/// inside the repository: a link committed on a branch must not make `keys` write elsewhere.
fn check_config_link(config: &Path, root: &Path) -> Result<(), AccessError> {
    if !std::fs::symlink_metadata(config).is_ok_and(|m| m.is_symlink()) {
        return Ok(());
    }
    let io = |source| StoreError::Io {
        path: config.to_owned(),
        source,
    };
    let target = std::fs::canonicalize(config).map_err(io)?;
    let root = std::fs::canonicalize(root).map_err(io)?;
    if target.starts_with(&root) {
        return Ok(());
    }
    Err(AccessError::ConfigLink {
        path: config.to_owned(),
        target,
    })
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
        written: false,
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
            check_config_link(&self.config_path, &self.root)?;
        }
        for i in 0..self.files.len() {
            let f = &mut self.files[i];
            if !f.changed {
                continue;
            }
            if let Err(e) = store::save(&f.path, &mut f.file) {
                return Err(self.partly(e));
            }
            self.files[i].written = true;
        }
        if self.new_config != self.old_config {
            store::write_atomic(&self.config_path, self.new_config.as_bytes(), 0o644)
                .map_err(|e| self.partly(e))?;
            self.config_written = true;
        }
        Ok(())
    }

    /// A write that failed: after other files were written, the error says which.
    fn partly(&self, source: StoreError) -> AccessError {
        let written: Vec<String> = self
            .files
            .iter()
            .filter(|f| f.written)
            .map(|f| f.path.display().to_string())
            .collect();
        if written.is_empty() {
            return source.into();
        }
        AccessError::PartlyWritten {
            written,
            config: self.config_path.clone(),
            source: Box::new(source),
        }
    }

    /// What changed and what didn't, one line each, for stderr.
    pub fn summary(&self) -> String {
        let who = self.recipient.short();
        let mut out = String::new();
        for f in &self.files {
            let file = format!("{} (stage {})", f.path.display(), f.stage);
            let line = match (self.change, f.changed) {
                (_, true) if !f.written => {
                    format!("{file}: NOT changed: the command stopped before writing it")
                }
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
        if self.new_config != self.old_config && !self.config_written {
            out.push_str(&format!(
                "{config}: NOT changed: the command stopped before writing it\n"
            ));
            return out;
        }
        for line in self.notes.iter().flat_map(|note| note.lines()) {
            out.push_str(&format!("{config}: {line}\n"));
        }
        if self.new_config == self.old_config {
            out.push_str(&format!("{config}: unchanged\n"));
        }
        out
    }
}
