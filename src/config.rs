//! `.sops.yaml`: finding it, choosing the creation rule for a stage file, and adding our rule
//! (`init`) without disturbing the rules already there.

use std::path::{Path, PathBuf};

use crate::keys::AgeError;
use crate::keys::age::looks_private;
use crate::keys::recipient::AgeRecipient;
use crate::sops::metadata::KeyEntry;
use crate::sops::rules::Rule;
use crate::sops::{AgeEntry, KmsEntry};
use crate::yaml::{self, MapItem, SeqItem, Value};

pub const CONFIG_NAME: &str = ".sops.yaml";
/// The rule `init` writes: every stage file in any `secrets/` folder.
pub const STAGE_PATH_REGEX: &str = r"(^|/)secrets/[^/]+\.ya?ml$";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}:{source}")]
    Yaml {
        path: String,
        #[source]
        source: yaml::Error,
    },
    #[error("{path}: {why}")]
    Invalid { path: String, why: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// What a creation rule asks for a new file.
#[derive(Clone, Default)]
pub struct CreationRule {
    pub index: usize,
    /// Every key the rule names, not wrapped yet: its age recipients, then its KMS keys.
    pub keys: Vec<KeyEntry>,
    pub rule: Option<Rule>,
    pub mac_only_encrypted: bool,
    /// Each recipient's comment in `.sops.yaml` (`- age1... # alice`): who it is, for reviews.
    pub comments: Vec<(String, String)>,
}

impl CreationRule {
    /// The comment beside `recipient` in `.sops.yaml`, if any.
    pub fn comment_for(&self, recipient: &str) -> Option<String> {
        self.comments
            .iter()
            .find(|(r, _)| r == recipient)
            .map(|(_, c)| c.clone())
    }
}

/// A parsed `.sops.yaml`.
pub struct Config {
    pub path: PathBuf,
    items: Vec<MapItem>,
    /// The file as written, for the comments beside recipients.
    text: String,
    /// Each `path_regex` compiled once: a file with many rules is asked about many files.
    regexes: std::sync::Mutex<std::collections::HashMap<String, regex::Regex>>,
}

/// `SOPS_CONFIG`, else the nearest `.sops.yaml` from `start` upwards (as sops searches).
pub fn find(start: &Path) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SOPS_CONFIG").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p));
    }
    // Like sops, up to 100 parents; but never above the repository root when there is one.
    let root = start.ancestors().find(|d| d.join(".git").exists());
    for dir in start.ancestors().take(100) {
        let p = dir.join(CONFIG_NAME);
        if p.is_file() {
            return Some(p);
        }
        if Some(dir) == root {
            break;
        }
    }
    None
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = crate::files::read_text(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Config::from_text(path, &text)
    }

    /// The config `path` would be with `text` in it (an edit checked before it is written).
    pub fn from_text(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let mut docs = yaml::parse(text).map_err(|source| ConfigError::Yaml {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Config {
            path: path.to_owned(),
            items: docs
                .drain(..)
                .next()
                .map(|d| d.items.clone())
                .unwrap_or_default(),
            text: text.to_owned(),
            regexes: Default::default(),
        })
    }

    /// `path_regex` compiled (once per pattern).
    fn regex(&self, pattern: &str) -> Result<regex::Regex, regex::Error> {
        let mut cache = self.regexes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(re) = cache.get(pattern) {
            return Ok(re.clone());
        }
        let re = regex::Regex::new(pattern)?;
        cache.insert(pattern.to_owned(), re.clone());
        Ok(re)
    }

    /// The file as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    fn invalid(&self, why: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.display().to_string(),
            why: why.into(),
        }
    }

    fn rules(&self) -> Result<Vec<&[MapItem]>, ConfigError> {
        match yaml::value::get(&self.items, "creation_rules") {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Seq(seq)) => seq
                .iter()
                .filter_map(|i| match i {
                    SeqItem::Value(v) => Some(v),
                    SeqItem::Comment(_) => None,
                })
                .map(|v| {
                    v.as_map()
                        .ok_or_else(|| self.invalid("creation_rules entries must be mappings"))
                })
                .collect(),
            Some(_) => Err(self.invalid("creation_rules must be a list")),
        }
    }

    /// Every rule that parses, whatever files it matches (one that doesn't is left out).
    pub fn all_rules(&self) -> Vec<CreationRule> {
        let Ok(rules) = self.rules() else {
            return Vec::new();
        };
        rules
            .into_iter()
            .enumerate()
            .filter_map(|(index, rule)| self.parse_rule(index, rule).ok())
            .collect()
    }

    /// The first rule whose `path_regex` matches `file` (relative to the config's folder),
    /// or that has no `path_regex`.
    pub fn rule_for(&self, file: &Path) -> Result<Option<CreationRule>, ConfigError> {
        let base = self.path.parent().unwrap_or(Path::new(""));
        let rel = file.strip_prefix(base).unwrap_or(file);
        let rel = rel.to_string_lossy().replace('\\', "/");
        for (index, rule) in self.rules()?.into_iter().enumerate() {
            if let Some(re) = str_of(rule, "path_regex") {
                let re = self.regex(&re).map_err(|e| {
                    self.invalid(format!("creation_rules[{index}].path_regex: {e}"))
                })?;
                if !re.is_match(&rel) {
                    continue;
                }
            }
            return self.parse_rule(index, rule).map(Some);
        }
        Ok(None)
    }

    /// A merge key (`<<: *team`) brings in keys and settings sops applies and this reader
    /// would not see: a rule read without them would encrypt for fewer people, and an edit
    /// (`keys add`) would write an `age` that overrides the merged one.
    fn refuse_merge(&self, items: &[MapItem], at: &str) -> Result<(), ConfigError> {
        let merge = items
            .iter()
            .any(|item| matches!(item, MapItem::Entry(key, _) if key == "<<"));
        if merge {
            return Err(self.invalid(format!(
                "{at}: a YAML merge key (`<<`), which sls-secrets does not read; write the rule's keys and settings out in it"
            )));
        }
        Ok(())
    }

    /// The age recipients of `items` (`age:`), as entries. A private key pasted where a
    /// recipient belongs must not be echoed anywhere.
    fn age_keys(&self, items: &[MapItem], at: &str) -> Result<Vec<KeyEntry>, ConfigError> {
        let age = string_list(items, "age").map_err(|why| self.invalid(format!("{at}: {why}")))?;
        if age.iter().any(|recipient| looks_private(recipient)) {
            return Err(self.invalid(format!(
                "{at}: holds a PRIVATE key (AGE-SECRET-KEY-... or an SSH private key); put the public recipient there (age1..., or the ssh-ed25519 ... line of the .pub file), and treat that private key as leaked"
            )));
        }
        for recipient in &age {
            if let Err(e) = AgeRecipient::parse(recipient) {
                return Err(self.bad_recipient(at, recipient, &e));
            }
        }
        let entry = |recipient| {
            KeyEntry::Age(AgeEntry {
                recipient,
                enc: String::new(),
            })
        };
        Ok(age.into_iter().map(entry).collect())
    }

    /// A recipient that is not one (a malformed key, RSA under 2048 bits), named by the line
    /// that holds it, shortened: an RSA key is hundreds of characters.
    fn bad_recipient(&self, at: &str, recipient: &str, e: &AgeError) -> ConfigError {
        let why = match e {
            AgeError::BadRecipient { why, .. } => why.clone(),
            other => other.to_string(),
        };
        // The key part is what a line holds whole, even in a comma list.
        let needle: String = recipient
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let line = self
            .text
            .lines()
            .position(|l| l.contains(&needle))
            .map(|i| format!(":{}", i + 1))
            .unwrap_or_default();
        let mut shown: String = recipient.chars().take(40).collect();
        if shown.len() < recipient.len() {
            shown.push('…');
        }
        ConfigError::Invalid {
            path: format!("{}{line}", self.path.display()),
            why: format!("{at}: `{shown}` is not a valid age recipient: {why}"),
        }
    }

    /// The rule's keys in the `key_groups` form (one group): `age` and `kms` lists, each
    /// KMS key a mapping with its own `role`, `context` and `aws_profile`.
    fn group_keys(&self, index: usize, groups: &Value) -> Result<Vec<KeyEntry>, ConfigError> {
        let at = |what: &str| format!("creation_rules[{index}].{what}");
        let Value::Seq(groups) = groups else {
            return Err(self.invalid(format!("{}: expected a list", at("key_groups"))));
        };
        let groups: Vec<_> = groups
            .iter()
            .filter_map(|group| match group {
                SeqItem::Value(Value::Map(items)) => Some(items),
                _ => None,
            })
            .collect();
        if groups.len() != 1 {
            return Err(self.invalid(format!(
                "{}: {} key groups (Shamir secret sharing) are not supported; use one group",
                at("key_groups"),
                groups.len()
            )));
        }
        let group = groups[0];
        self.refuse_merge(group, &at("key_groups[0]"))?;
        let mut keys = self.age_keys(group, &at("key_groups[0].age"))?;
        if let Some(Value::Seq(kms)) = yaml::value::get(group, "kms") {
            for key in kms {
                let SeqItem::Value(Value::Map(key)) = key else {
                    continue;
                };
                let context = match yaml::value::get(key, "context") {
                    Some(Value::Map(ctx)) => ctx
                        .iter()
                        .filter_map(|item| match item {
                            MapItem::Entry(name, value) => Some((name.clone(), scalar_text(value))),
                            MapItem::Comment(_) => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                keys.push(KeyEntry::Kms(KmsEntry {
                    arn: str_of(key, "arn").unwrap_or_default(),
                    role: str_of(key, "role").unwrap_or_default(),
                    context,
                    aws_profile: str_of(key, "aws_profile").unwrap_or_default(),
                    ..KmsEntry::default()
                }));
            }
        }
        Ok(keys)
    }

    /// The rule's keys in sops' flat form: `age` and `kms` as comma lists or lists, KMS keys
    /// as `arn` or `arn+role_arn`, one `aws_profile` for all of them.
    fn flat_keys(&self, index: usize, rule: &[MapItem]) -> Result<Vec<KeyEntry>, ConfigError> {
        let at = |what: &str| format!("creation_rules[{index}].{what}");
        let mut keys = self.age_keys(rule, &at("age"))?;
        let profile = str_of(rule, "aws_profile").unwrap_or_default();
        for entry in
            string_list(rule, "kms").map_err(|why| self.invalid(format!("{}: {why}", at("kms"))))?
        {
            let (arn, role) = entry.split_once('+').unwrap_or((&entry, ""));
            keys.push(KeyEntry::Kms(KmsEntry {
                arn: arn.to_owned(),
                role: role.to_owned(),
                aws_profile: profile.clone(),
                ..KmsEntry::default()
            }));
        }
        Ok(keys)
    }

    fn parse_rule(&self, index: usize, rule: &[MapItem]) -> Result<CreationRule, ConfigError> {
        let at = |what: &str| format!("creation_rules[{index}].{what}");
        self.refuse_merge(rule, &format!("creation_rules[{index}]"))?;
        let keys = match yaml::value::get(rule, "key_groups") {
            Some(groups) => self.group_keys(index, groups)?,
            None => self.flat_keys(index, rule)?,
        };
        let mut out = CreationRule {
            index,
            keys,
            ..Default::default()
        };
        for key in crate::sops::rules::RULE_KEYS {
            let text = match yaml::value::get(rule, key) {
                None | Some(Value::Null) => None,
                Some(Value::Str(t)) if t.is_empty() => None,
                Some(Value::Str(t)) => Some(t.to_string()),
                Some(_) => return Err(self.invalid(format!("{}: expected a string", at(key)))),
            };
            if let Some(text) = text {
                if out.rule.is_some() {
                    return Err(self.invalid(format!(
                        "creation_rules[{index}]: more than one encryption rule"
                    )));
                }
                out.rule = Some(match Rule::from_key(key, &text) {
                    Some(Ok(r)) => r,
                    Some(Err(e)) => return Err(self.invalid(format!("{}: {e}", at(key)))),
                    None => {
                        return Err(
                            self.invalid(format!("{}: comment rules are not supported", at(key)))
                        );
                    }
                });
            }
        }
        out.mac_only_encrypted = matches!(
            yaml::value::get(rule, "mac_only_encrypted"),
            Some(Value::Bool(true))
        );
        out.comments = out
            .keys
            .iter()
            .map(KeyEntry::id)
            .filter_map(|id| Some((id.to_owned(), comment_beside(&self.text, id)?)))
            .collect();
        Ok(out)
    }
}

/// The comment after `id` on the first line of `text` that holds it (`- age1... # alice`).
fn comment_beside(text: &str, id: &str) -> Option<String> {
    let line = text.lines().find(|l| l.contains(id))?;
    let at = line.find(id)?;
    let after = &line[at + id.len()..];
    let (before, comment) = after.split_once('#')?;
    // `#` starts a comment only after white space; `age1a#b` is one scalar. A line holding
    // several recipients (`age: a,b # team`) names none of them.
    if !before.ends_with([' ', '\t'])
        || !before.trim_matches(['\'', '"', ' ', '\t']).is_empty()
        || line[..at].contains(',')
    {
        return None;
    }
    let comment = comment.trim();
    (!comment.is_empty()).then(|| comment.to_owned())
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::Str(s) | Value::Time(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

fn str_of(items: &[MapItem], key: &str) -> Option<String> {
    match yaml::value::get(items, key)? {
        Value::Null => None,
        v => Some(scalar_text(v)),
    }
}

/// A key list as sops accepts it: a comma-separated string or a list of strings.
fn string_list(items: &[MapItem], key: &str) -> Result<Vec<String>, String> {
    let split = |s: &str| -> Vec<String> {
        s.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    match yaml::value::get(items, key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Str(s)) => Ok(split(s)),
        Some(Value::Seq(seq)) => Ok(seq
            .iter()
            .filter_map(|i| match i {
                SeqItem::Value(v) => Some(split(&scalar_text(v))),
                SeqItem::Comment(_) => None,
            })
            .flatten()
            .collect()),
        Some(_) => Err("expected a string or a list of strings".into()),
    }
}

/// The text of our rule, as a list item at `indent` (the column of `-`).
pub fn rule_text(indent: usize, age: &[String], kms: &[String], newline: &str) -> String {
    let pad = " ".repeat(indent);
    let mut s = format!("{pad}- path_regex: {STAGE_PATH_REGEX}{newline}");
    if !age.is_empty() {
        s.push_str(&format!("{pad}  age: {}{newline}", age.join(",")));
    }
    if !kms.is_empty() {
        s.push_str(&format!("{pad}  kms: {}{newline}", kms.join(",")));
    }
    s
}

/// Adds our rule first in `creation_rules` (first match wins), keeping every other byte of
/// the file. Returns the new text.
pub fn insert_rule(
    existing: Option<&str>,
    age: &[String],
    kms: &[String],
) -> Result<String, String> {
    let Some(text) = existing else {
        return Ok(format!("creation_rules:\n{}", rule_text(4, age, kms, "\n")));
    };
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(head) = lines.iter().position(|l| l.starts_with("creation_rules:")) else {
        let mut out = text.to_owned();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push_str(newline);
        }
        out.push_str(&format!(
            "creation_rules:{newline}{}",
            rule_text(4, age, kms, newline)
        ));
        return Ok(out);
    };
    let after = lines[head]["creation_rules:".len()..].trim();
    if !(after.is_empty() || after.starts_with('#')) {
        return Err("`creation_rules` is not a block list; add the rule by hand".into());
    }
    // Insert before the first list item, at its indentation.
    let first_item = lines[head + 1..]
        .iter()
        .position(|l| {
            let t = l.trim_start();
            !(t.is_empty() || t.starts_with('#'))
        })
        .map(|i| head + 1 + i);
    let (at, indent) = match first_item {
        Some(i) if lines[i].trim_start().starts_with("- ") || lines[i].trim_start() == "-" => {
            (i, lines[i].len() - lines[i].trim_start().len())
        }
        Some(i) if lines[i].starts_with(' ') => {
            return Err(format!(
                "line {}: unexpected content under creation_rules; add the rule by hand",
                i + 1
            ));
        }
        _ => (head + 1, 4),
    };
    let mut out: String = lines[..at].concat();
    if !out.ends_with('\n') {
        out.push_str(newline);
    }
    out.push_str(&rule_text(indent, age, kms, newline));
    out.push_str(&lines[at..].concat());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_first_keeping_other_rules() {
        let old =
            "# team config\ncreation_rules:\n  # prod\n  - path_regex: prod/.*\n    kms: arn:x\n";
        let new = insert_rule(Some(old), &["age1abc".into()], &[]).unwrap();
        assert_eq!(
            new,
            "# team config\ncreation_rules:\n  # prod\n  - path_regex: (^|/)secrets/[^/]+\\.ya?ml$\n    age: age1abc\n  - path_regex: prod/.*\n    kms: arn:x\n"
        );
    }

    #[test]
    fn a_recipients_comment_names_who_it_is() {
        let text = "creation_rules:\n  - path_regex: x\n    key_groups:\n      - age:\n          - age1alice # alice@example.com\n          - age1bob\n";
        assert_eq!(
            comment_beside(text, "age1alice").as_deref(),
            Some("alice@example.com")
        );
        assert_eq!(comment_beside(text, "age1bob"), None);
        assert_eq!(comment_beside("age: age1a#b\n", "age1a"), None);
        assert_eq!(comment_beside("age: age1a,age1b # team\n", "age1a"), None);
        assert_eq!(comment_beside("age: age1a,age1b # team\n", "age1b"), None);
        assert_eq!(
            comment_beside("age: 'age1a' # alice\n", "age1a").as_deref(),
            Some("alice")
        );
    }

    #[test]
    fn creates_and_appends() {
        assert!(
            insert_rule(None, &["age1abc".into()], &[])
                .unwrap()
                .starts_with("creation_rules:\n    - path_regex")
        );
        let s = insert_rule(
            Some("stores:\n  yaml:\n    indent: 2"),
            &[],
            &["arn:k".into()],
        )
        .unwrap();
        assert!(
            s.starts_with("stores:\n  yaml:\n    indent: 2\ncreation_rules:\n    - path_regex")
        );
        assert!(insert_rule(Some("creation_rules: []\n"), &[], &[]).is_err());
    }

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJWYyCUyUulBdR59ahTIXNw/o/ygJlF084qkYEyhWu9M";
    const PLUGIN: &str =
        "age1slsnotinstalled1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnzs23v9ccrydpk8qarc0s733nzg";

    fn rule_in(text: &str) -> Result<Option<CreationRule>, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_NAME);
        std::fs::write(&path, text).unwrap();
        Config::load(&path)?.rule_for(&dir.path().join("secrets/dev.yml"))
    }

    /// sops reads the recipients a merge key brings in; a reader that ignored them would
    /// see a rule with fewer keys (and `keys add` would write an `age` overriding them).
    #[test]
    fn a_merge_key_in_a_rule_or_group_is_refused() {
        let rule = "x-team: &team\n  age: age1abc\ncreation_rules:\n  - path_regex: secrets/\n    <<: *team\n";
        let e = rule_in(rule).err().expect("refused").to_string();
        assert!(e.contains("creation_rules[0]: a YAML merge key"), "{e}");
        let group = "x: &g\n  age: age1abc\ncreation_rules:\n  - key_groups:\n      - <<: *g\n";
        let e = rule_in(group).err().expect("refused").to_string();
        assert!(
            e.contains("creation_rules[0].key_groups[0]: a YAML merge key"),
            "{e}"
        );
    }

    #[test]
    fn ssh_and_plugin_recipients_in_comma_and_yaml_lists() {
        let x25519 = age::x25519::Identity::generate().to_public().to_string();
        let ids = |text: &str| -> Vec<String> {
            let rule = rule_in(text).unwrap().unwrap();
            rule.keys.iter().map(|k| k.id().to_owned()).collect()
        };
        let want = vec![
            format!("{ED} alice@laptop"),
            x25519.clone(),
            PLUGIN.to_owned(),
        ];
        assert_eq!(
            ids(&format!(
                "creation_rules:\n  - age: {ED} alice@laptop, {x25519},{PLUGIN}\n"
            )),
            want
        );
        assert_eq!(
            ids(&format!(
                "creation_rules:\n  - age:\n      - {ED} alice@laptop # Alice\n      - {x25519}\n      - {PLUGIN}\n"
            )),
            want
        );
    }

    #[test]
    fn an_invalid_recipient_is_named_with_its_line_and_why() {
        let text = format!(
            "creation_rules:\n  - path_regex: secrets/\n    age:\n      - {ED}\n      - ssh-ed25519 AAAAnotakey bob\n"
        );
        let e = rule_in(&text).err().unwrap().to_string();
        assert!(
            e.contains(".sops.yaml:5: creation_rules[0].age: `ssh-ed25519 AAAAnotakey bob`"),
            "{e}"
        );
        assert!(e.contains("not a valid SSH public key"), "{e}");
    }
}
