//! The rules part of a plan: the `.sops.yaml` creation rules that change (`rule_edit`),
//! a shared rule split for one stage, and the edited text read back and compared rule by
//! rule before anything is written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::AccessError;
use super::recipient::is_recipient;
use super::target::{Change, Target};
use crate::config::{Config, CreationRule};
use crate::keys::recipient::AgeRecipient;
use crate::rule_edit;
use crate::sops::metadata::KeyEntry;
use crate::store::StoreError;

/// The rules part of a plan: which rules change, and the checked text.
pub(super) struct RuleEdit<'a> {
    pub(super) cfg: &'a Config,
    pub(super) change: Change,
    pub(super) recipient: &'a AgeRecipient,
    pub(super) targets: &'a [Target],
    pub(super) only_stage: bool,
    pub(super) stage_files: &'a [(String, PathBuf)],
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
    pub(super) fn plan(&self) -> Result<(String, Vec<String>), AccessError> {
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
        if self.change == Change::Remove && !self.only_stage {
            notes.extend(self.left_in_other_rules(&by_rule));
        }
        if !self.only_stage {
            notes.extend(self.other_folders(&by_rule));
        }
        self.check(&text)?;
        Ok((text, notes))
    }

    /// The rules no stage file uses that still hold the recipient being removed: whoever
    /// offboards someone should know the key stays there (other files sops creates).
    fn left_in_other_rules(
        &self,
        edited: &BTreeMap<usize, (CreationRule, Vec<&Target>)>,
    ) -> Vec<String> {
        self.cfg
            .all_rules()
            .iter()
            .filter(|r| !edited.contains_key(&r.index))
            .filter(|r| r.keys.iter().any(|k| is_recipient(k, self.recipient)))
            .map(|r| {
                format!(
                    "creation_rules[{}] still has {}: it serves no stage file here, so it was left as it is (edit it by hand if the key should go from it too)",
                    r.index,
                    self.recipient.short()
                )
            })
            .collect()
    }

    /// Stage files of other services (a `secrets/` folder elsewhere in the repository) that
    /// an edited rule serves too: `--all` changed only this folder's files, so they keep
    /// their recipients, now not what the rule says. Tracked files only.
    fn other_folders(&self, edited: &BTreeMap<usize, (CreationRule, Vec<&Target>)>) -> Vec<String> {
        let Some(dir) = self.targets.first().and_then(|t| t.path.parent()) else {
            return Vec::new();
        };
        let Ok(root) = crate::git::toplevel(dir) else {
            return Vec::new();
        };
        let name = dir.file_name();
        let mut notes = Vec::new();
        for rel in crate::git::ls_files(&root).unwrap_or_default() {
            let path = root.join(&rel);
            let other = path
                .parent()
                .is_some_and(|p| p.file_name() == name && !same_dir(p, dir));
            let stage_file = rel.ends_with(".yml") || rel.ends_with(".yaml");
            if !other || !stage_file {
                continue;
            }
            let edited_rule = self
                .rule_of(&path)
                .ok()
                .flatten()
                .is_some_and(|r| edited.contains_key(&r.index));
            let Ok(file) = crate::store::read_encrypted(&path) else {
                continue;
            };
            let has = file
                .meta
                .keys()
                .iter()
                .any(|k| is_recipient(k, self.recipient));
            let left = match self.change {
                Change::Add => !has,
                Change::Remove => has,
            };
            if edited_rule && left {
                let still = if has {
                    "can still be opened by"
                } else {
                    "can't be opened by"
                };
                notes.push(format!(
                    "{} uses the same rule but is in another folder, so it was not changed: it {still} {} (run the same command in its folder)",
                    path.display(),
                    self.recipient.short()
                ));
            }
        }
        notes
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

/// Whether two folders are the same one (as given, or resolved).
fn same_dir(a: &Path, b: &Path) -> bool {
    a == b
        || matches!((std::fs::canonicalize(a), std::fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y)
}
