//! `check`: what CI and a pre-commit hook verify about stage files. Without any key: each file
//! is a SOPS file (not plaintext, not half-encrypted), its structure and names are valid, and
//! its recipients are the ones `.sops.yaml` asks for. With a key: the MAC verifies, and the
//! render of each stage into `serverless.yml` would succeed. Across stages: names present in
//! some files and missing in others (a warning). Findings never hold a value.

use std::path::Path;

use crate::config::CreationRule;
use crate::conformance::{self, Mismatch};
use crate::framework::Framework;
use crate::keys::{self, AgeIdentities};
use crate::render::{self, RenderOptions, Secret};
use crate::sops::{self, Metadata, cipher, rules::Rule};
use crate::store::{self, StoreError};
use crate::text::{escape_control, escape_control_lines};
use crate::yaml::{self, MapItem, Text, Value};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Severity {
    Error,
    /// Fails only with `--strict`.
    Warning,
}

/// One problem: where (file, 1-based line), what, and what to do about it.
#[derive(Debug)]
pub struct Finding {
    pub file: String,
    pub line: usize,
    pub severity: Severity,
    pub message: String,
    pub fix: String,
}

/// A stage file to check: its stage, path on disk, and the name to show.
pub struct StageFile<'a> {
    pub stage: &'a str,
    pub path: &'a Path,
    pub shown: &'a str,
}

/// The result of one file: findings, names (when the structure allowed reading them), and
/// the decrypted environment (when a key opened the file and the MAC verified).
pub struct FileReport {
    pub findings: Vec<Finding>,
    pub names: Option<Vec<String>>,
    pub env: Option<Vec<(String, Text)>>,
    /// Whether a key opened the file (so its MAC was checked).
    pub mac_checked: bool,
}

/// The 1-based line of top-level key `name` (plain or quoted), else 1.
fn line_of_key(text: &str, name: &str) -> usize {
    let forms = [
        format!("{name}:"),
        format!("\"{name}\":"),
        format!("'{name}':"),
    ];
    text.lines()
        .position(|l| forms.iter().any(|f| l.starts_with(f.as_str())))
        .map_or(1, |i| i + 1)
}

/// The 1-based line of the first line containing `needle`, else of `fallback`'s key.
fn line_containing(text: &str, needle: &str, fallback: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map_or_else(|| line_of_key(text, fallback), |i| i + 1)
}

struct Ctx<'a> {
    file: &'a StageFile<'a>,
    text: &'a str,
    findings: Vec<Finding>,
}

impl Ctx<'_> {
    fn add(&mut self, line: usize, severity: Severity, message: String, fix: String) {
        self.findings.push(Finding {
            file: self.file.shown.to_owned(),
            line,
            severity,
            message,
            fix,
        });
    }

    fn error(&mut self, line: usize, message: String, fix: String) {
        self.add(line, Severity::Error, message, fix);
    }
}

/// Checks one stage file. `ids`: the local identities, or `None` to use no key at all.
pub fn check_file(
    file: &StageFile<'_>,
    ids: Option<&AgeIdentities>,
) -> Result<FileReport, StoreError> {
    let text = crate::files::read_text(file.path).map_err(|source| StoreError::Io {
        path: file.path.to_owned(),
        source,
    })?;
    let mut cx = Ctx {
        file,
        text: &text,
        findings: Vec::new(),
    };
    let stage = file.stage;
    let docs = match yaml::parse(&text) {
        Ok(d) => d,
        Err(e) => {
            cx.error(
                e.line,
                format!("not valid YAML: {}:{}", e.col, e.kind),
                "restore the file from git (`git checkout -- FILE`); edit secrets only with sls-secrets or sops".into(),
            );
            return Ok(report(cx, None, None, false));
        }
    };
    let first = docs.first().map_or(&[][..], |d| &d.items[..]);
    let Some(block) = yaml::value::get(first, "sops") else {
        cx.error(
            1,
            "not a SOPS file: no `sops` metadata, so its values are in plain text".into(),
            format!(
                "don't commit it; add each value with `sls-secrets set --stage {stage} NAME` (or `sops encrypt -i FILE`), and change any value that was committed in clear"
            ),
        );
        return Ok(report(cx, None, None, false));
    };
    let meta = match Metadata::from_value(block) {
        Ok(m) => m,
        Err(e) => {
            let line = line_of_key(&text, "sops");
            cx.error(
                line,
                format!("the `sops` metadata is not valid: {e}"),
                "restore the file from git (`git checkout -- FILE`)".into(),
            );
            return Ok(report(cx, None, None, false));
        }
    };
    if docs.len() > 1 {
        cx.error(
            1,
            format!("{} YAML documents; a stage file is one mapping", docs.len()),
            "keep one document (remove the `---` sections)".into(),
        );
    }
    let rule = creation_rule(&mut cx);
    let names = check_entries(&mut cx, first, &meta.rule, rule.as_ref());
    check_comments(&mut cx, first, &meta.rule, rule.as_ref());
    if meta.mac.is_empty() {
        cx.error(
            line_of_key(&text, "sops"),
            "no MAC (`sops.mac` is empty), so tampering can't be detected".into(),
            format!("rewrite it with `sls-secrets rotate --stage {stage}`"),
        );
    }
    if let Some(rule) = &rule {
        check_conformance(&mut cx, &meta, rule);
    }
    let structural = cx.findings.iter().any(|f| f.severity == Severity::Error);
    let (env, mac_checked) = match ids {
        Some(ids) if !structural => open(&mut cx, &meta, ids),
        _ => (None, false),
    };
    Ok(report(cx, Some(names), env, mac_checked))
}

fn report(
    cx: Ctx<'_>,
    names: Option<Vec<String>>,
    env: Option<Vec<(String, Text)>>,
    mac_checked: bool,
) -> FileReport {
    FileReport {
        findings: cx.findings,
        names,
        env,
        mac_checked,
    }
}

/// Whether a value or comment at `path` must be encrypted: by the file's own rule, or by the
/// creation rule in `.sops.yaml` (a file whose `sops:` block was edited to leave values in
/// clear is still held to the repository's rule).
fn must_encrypt(path: &[String], own: &Rule, rule: Option<&CreationRule>) -> Option<String> {
    if own.encrypts(path) {
        return Some(format!(
            "the file's rule (`{}`)",
            conformance::describe_rule(own)
        ));
    }
    let repo_rule = rule?.rule.clone().unwrap_or_default();
    repo_rule.encrypts(path).then(|| {
        format!(
            ".sops.yaml's rule (`{}`)",
            conformance::describe_rule(&repo_rule)
        )
    })
}

/// Names, nesting and values left in clear where a rule encrypts.
fn check_entries(
    cx: &mut Ctx<'_>,
    items: &[MapItem],
    own: &Rule,
    rule: Option<&CreationRule>,
) -> Vec<String> {
    let stage = cx.file.stage;
    let mut names = Vec::new();
    for item in items {
        let MapItem::Entry(name, value) = item else {
            continue;
        };
        if name == "sops" {
            continue;
        }
        names.push(name.clone());
        let line = line_of_key(cx.text, name);
        if let Err(e) = crate::envname::check_secret(name) {
            let fix = e.hint().unwrap_or("rename it");
            cx.error(
                line,
                e.to_string(),
                format!("{fix}: `sls-secrets set --stage {stage} NEW_NAME`, then `sls-secrets rm --stage {stage} {name}`"),
            );
        }
        if matches!(value, Value::Map(_) | Value::Seq(_)) {
            cx.error(
                line,
                format!("`{name}` is a nested mapping or list; a stage file maps names to values"),
                format!("make it one value (e.g. JSON text) with `sls-secrets set --stage {stage} {name}`"),
            );
        }
        let mut path = vec![name.clone()];
        if let Some((leaf, which)) = first_clear_leaf(value, own, rule, &mut path) {
            let then = if own.encrypts(&path) {
                format!("remove the line and `sls-secrets set --stage {stage} {name}`")
            } else {
                format!(
                    "`sls-secrets rotate --stage {stage}` encrypts the file by .sops.yaml's rule"
                )
            };
            cx.error(
                line,
                format!("`{leaf}` is in plain text, but {which} encrypts it"),
                format!("the value is exposed: change it where it was issued, {then}"),
            );
        }
    }
    names
}

/// The dotted path of the first value a rule encrypts that is not `ENC[...]`, and which rule.
fn first_clear_leaf(
    value: &Value,
    own: &Rule,
    rule: Option<&CreationRule>,
    path: &mut Vec<String>,
) -> Option<(String, String)> {
    match value {
        Value::Map(items) => items.iter().find_map(|i| match i {
            MapItem::Entry(k, v) => {
                path.push(k.clone());
                let found = first_clear_leaf(v, own, rule, path);
                path.pop();
                found
            }
            MapItem::Comment(_) => None,
        }),
        Value::Seq(items) => items.iter().find_map(|i| match i {
            yaml::SeqItem::Value(v) => first_clear_leaf(v, own, rule, path),
            yaml::SeqItem::Comment(_) => None,
        }),
        Value::Null => None,
        Value::Str(s) if s.is_empty() || cipher::is_encrypted(s) => None,
        _ => must_encrypt(path, own, rule).map(|which| (path.join("."), which)),
    }
}

/// Comments in clear where sops encrypts them (it encrypts a comment wherever it would
/// encrypt a value of the comment's mapping or list): a note written into the file by hand
/// (`# old value: ...`) sits in git in plain text.
fn check_comments(cx: &mut Ctx<'_>, items: &[MapItem], own: &Rule, rule: Option<&CreationRule>) {
    let mut found = Vec::new();
    clear_comments_in_map(items, own, rule, &mut Vec::new(), &mut found);
    let stage = cx.file.stage;
    for comment in found {
        let line = cx
            .text
            .lines()
            .position(|l| l.trim_start().starts_with('#') && l.contains(comment.trim()))
            .map_or(1, |i| i + 1);
        cx.error(
            line,
            "a comment is in plain text in an encrypted file (sops encrypts comments)".into(),
            format!("if it holds a secret, change that secret; remove the comment, or write it with `sls-secrets edit --stage {stage}` so it is encrypted"),
        );
    }
}

fn clear_comments_in_map(
    items: &[MapItem],
    own: &Rule,
    rule: Option<&CreationRule>,
    path: &mut Vec<String>,
    found: &mut Vec<String>,
) {
    for item in items {
        match item {
            MapItem::Comment(c) => note_clear_comment(c, own, rule, path, found),
            MapItem::Entry(k, _) if path.is_empty() && k == "sops" => {}
            MapItem::Entry(k, v) => {
                path.push(k.clone());
                clear_comments_in_value(v, own, rule, path, found);
                path.pop();
            }
        }
    }
}

fn clear_comments_in_value(
    value: &Value,
    own: &Rule,
    rule: Option<&CreationRule>,
    path: &mut Vec<String>,
    found: &mut Vec<String>,
) {
    match value {
        Value::Map(items) => clear_comments_in_map(items, own, rule, path, found),
        Value::Seq(items) => {
            for item in items {
                match item {
                    yaml::SeqItem::Comment(c) => note_clear_comment(c, own, rule, path, found),
                    yaml::SeqItem::Value(v) => clear_comments_in_value(v, own, rule, path, found),
                }
            }
        }
        _ => {}
    }
}

fn note_clear_comment(
    comment: &Text,
    own: &Rule,
    rule: Option<&CreationRule>,
    path: &[String],
    found: &mut Vec<String>,
) {
    let text = comment.trim();
    if !text.is_empty() && !cipher::is_encrypted(text) && must_encrypt(path, own, rule).is_some() {
        found.push(comment.to_string());
    }
}

/// The creation rule `.sops.yaml` has for the file; a finding when there is none.
fn creation_rule(cx: &mut Ctx<'_>) -> Option<CreationRule> {
    let abs = std::path::absolute(cx.file.path).unwrap_or_else(|_| cx.file.path.to_owned());
    match store::creation_rule(&abs) {
        Ok(r) => Some(r),
        Err(e) => {
            cx.error(
                line_of_key(cx.text, "sops"),
                format!("can't tell who should open it: {e}"),
                "run `sls-secrets init` to add a rule for secrets/*.yml to .sops.yaml".into(),
            );
            None
        }
    }
}

/// The file's recipients and encryption settings against what `.sops.yaml` asks for now.
fn check_conformance(cx: &mut Ctx<'_>, meta: &Metadata, rule: &CreationRule) {
    let stage = cx.file.stage;
    let rotate = format!(
        "`sls-secrets rotate --stage {stage}` (a new data key for the keys .sops.yaml lists)"
    );
    for mismatch in conformance::mismatches(meta, rule) {
        let line = match &mismatch {
            Mismatch::Extra(r) if !r.id.is_empty() => line_containing(cx.text, &r.id, "sops"),
            Mismatch::Extra(r) => line_of_key_indented(cx.text, &r.kind),
            Mismatch::Missing(_) => line_of_key(cx.text, "sops"),
            Mismatch::Encryption { file, .. } => {
                let key = file.split(':').next().unwrap_or_default();
                line_of_key_indented(cx.text, key)
            }
            Mismatch::MacOnlyEncrypted { .. } => {
                line_of_key_indented(cx.text, "mac_only_encrypted")
            }
        };
        let fix = match &mismatch {
            Mismatch::Encryption { .. } | Mismatch::MacOnlyEncrypted { .. } => format!(
                "`sls-secrets rotate --stage {stage}` encrypts it by .sops.yaml's rule; any value that was committed in clear is exposed: change it where it was issued"
            ),
            _ => rotate.clone(),
        };
        cx.error(line, mismatch.to_string(), fix);
    }
}

/// The 1-based line of `key:` at any indentation (a key of the `sops:` block), else of `sops`.
fn line_of_key_indented(text: &str, key: &str) -> usize {
    let form = format!("{key}:");
    text.lines()
        .position(|l| l.trim_start().starts_with(&form))
        .map_or_else(|| line_of_key(text, "sops"), |i| i + 1)
}

/// Opens the file with a key when one is at hand: the MAC check, and the environment for the
/// render check. No key is no finding.
fn open(
    cx: &mut Ctx<'_>,
    meta: &Metadata,
    ids: &AgeIdentities,
) -> (Option<Vec<(String, Text)>>, bool) {
    let Ok(key) = keys::unwrap_data_key(meta, ids) else {
        return (None, false);
    };
    let opened = sops::parse(cx.text).and_then(|f| f.decrypt(key));
    match opened {
        Ok(plain) => (store::stage_env(cx.file.path, &plain).ok(), true),
        Err(e) => {
            cx.error(
                line_of_key(cx.text, "sops"),
                format!("does not decrypt: {e}"),
                "restore the file from git (`git checkout -- FILE`); edit secrets only with sls-secrets or sops".into(),
            );
            (None, true)
        }
    }
}

/// The stage rules file (`.sls-secrets.yml`): every `from` must resolve to secrets (no cycle,
/// no dead end, not too deep), and a stage file a `none: true` rule hides is never read.
pub fn stage_rules(
    rules: &crate::stages::StageRules,
    shown: &str,
    secrets_dir: &Path,
) -> Vec<Finding> {
    use crate::stages::{self, Action};
    let mut out = Vec::new();
    let files = store::stage_files(secrets_dir).unwrap_or_default();
    for rule in &rules.rules {
        let finding = |severity, message: String, fix: &str| Finding {
            file: shown.to_owned(),
            line: rule.line,
            severity,
            message,
            fix: fix.to_owned(),
        };
        match &rule.action {
            Action::From(parent) => {
                let why = match stages::resolve(parent, secrets_dir, Some(rules)) {
                    Ok(_) => continue,
                    Err(stages::ResolveError::Rule { what, .. }) => what,
                    Err(e) => e.to_string(),
                };
                out.push(Finding {
                    line: rule.action_line,
                    ..finding(
                        Severity::Error,
                        format!("rule \"{}\": `from: {parent}` gives no secrets: {why}", rule.pattern),
                        "point `from` at a stage with a secrets file, or create it with `sls-secrets set --stage STAGE NAME`",
                    )
                });
            }
            Action::None => {
                for (stage, _) in files
                    .iter()
                    .filter(|(s, _)| rules.rule_for(s).is_some_and(|r| r.line == rule.line))
                {
                    out.push(finding(
                        Severity::Warning,
                        format!("rule \"{}\" says `none: true`, so the stage file of {stage} is never read", rule.pattern),
                        "remove the file, or narrow the rule",
                    ));
                }
            }
        }
    }
    out
}

/// Names present in some stage files and missing in others: one warning per missing file.
pub fn cross_stage(files: &[(&str, &str, &[String])]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (stage, shown, names) in files {
        let mut missing: Vec<(&str, Vec<&str>)> = Vec::new();
        for (other, _, other_names) in files {
            for n in other_names.iter().filter(|n| !names.contains(n)) {
                match missing.iter_mut().find(|(m, _)| m == n) {
                    Some((_, stages)) => stages.push(other),
                    None => missing.push((n, vec![other])),
                }
            }
        }
        for (name, stages) in missing {
            out.push(Finding {
                file: (*shown).to_owned(),
                line: 1,
                severity: Severity::Warning,
                message: format!(
                    "`{name}` is set for {} but not for {stage}",
                    stages.join(", ")
                ),
                fix: format!("`sls-secrets set --stage {stage} {name}` if {stage} needs it"),
            });
        }
    }
    out
}

/// Whether rendering `env` into the Serverless config `source`, read by `framework`, would
/// succeed (in memory): the same rules as `render`, v4's `${` among them.
pub fn render_finding(
    config_shown: &str,
    stage: &str,
    source: &str,
    env: &[(String, Text)],
    framework: Framework,
) -> Option<Finding> {
    let secrets = Secret::all(env);
    let opts = RenderOptions {
        framework,
        ..RenderOptions::default()
    };
    let e = render::render(source, &secrets, &opts).err()?;
    let text = e.to_string();
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let (line, what) = match first.split_once(':') {
        Some((n, rest)) if n.parse::<usize>().is_ok() => {
            (n.parse().unwrap_or(1), rest.trim_start())
        }
        _ => (1, first),
    };
    let what = what
        .split_once(": ")
        .filter(|(c, _)| c.parse::<usize>().is_ok())
        .map_or(what, |(_, w)| w);
    let hints: Vec<&str> = lines.filter_map(|l| l.strip_prefix("hint: ")).collect();
    Some(Finding {
        file: config_shown.to_owned(),
        line,
        severity: Severity::Error,
        message: format!("rendering stage {stage} would fail: {what}"),
        fix: if hints.is_empty() {
            format!("see `sls-secrets render --stage {stage} --diff`")
        } else {
            hints.join("; ")
        },
    })
}

/// The report as text: one finding per entry, `FILE:LINE: error|warning: what` then `fix:`.
pub fn to_text(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let level = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        // Messages and fixes quote key names, stages and recipients from files anyone can
        // push: escape their control characters (our own line breaks stay).
        out.push_str(&format!(
            "{}:{}: {level}: {}\n  fix: {}\n",
            escape_control(&f.file),
            f.line,
            escape_control_lines(&f.message),
            escape_control_lines(&f.fix)
        ));
    }
    out
}
