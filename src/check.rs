//! `check`: what CI and a pre-commit hook verify about stage files. Without any key: each file
//! is a SOPS file (not plaintext, not half-encrypted), its structure and names are valid, and
//! its recipients are the ones `.sops.yaml` asks for. With a key: the MAC verifies, and the
//! render of each stage into `serverless.yml` would succeed. Across stages: names present in
//! some files and missing in others (a warning). Findings never hold a value.

use std::path::Path;

use crate::config::CreationRule;
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
    let text = std::fs::read_to_string(file.path).map_err(|source| StoreError::Io {
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
    let names = check_entries(&mut cx, first, &meta.rule);
    if meta.mac.is_empty() {
        cx.error(
            line_of_key(&text, "sops"),
            "no MAC (`sops.mac` is empty), so tampering can't be detected".into(),
            format!("rewrite it with `sls-secrets rotate --stage {stage}`"),
        );
    }
    check_recipients(&mut cx, &meta);
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

/// Names, nesting and values left in clear where the rule encrypts.
fn check_entries(cx: &mut Ctx<'_>, items: &[MapItem], rule: &Rule) -> Vec<String> {
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
        if let Some(leaf) = first_clear_leaf(value, rule, &mut path) {
            cx.error(
                line,
                format!("`{leaf}` is in plain text, but the file's rule (`{}: {}`) encrypts it", rule.key(), rule.text()),
                format!("the value is exposed: change it where it was issued, remove the line and `sls-secrets set --stage {stage} {name}`"),
            );
        }
    }
    names
}

/// The dotted path of the first value the rule encrypts that is not `ENC[...]`.
fn first_clear_leaf(value: &Value, rule: &Rule, path: &mut Vec<String>) -> Option<String> {
    match value {
        Value::Map(items) => items.iter().find_map(|i| match i {
            MapItem::Entry(k, v) => {
                path.push(k.clone());
                let found = first_clear_leaf(v, rule, path);
                path.pop();
                found
            }
            MapItem::Comment(_) => None,
        }),
        Value::Seq(items) => items.iter().find_map(|i| match i {
            yaml::SeqItem::Value(v) => first_clear_leaf(v, rule, path),
            yaml::SeqItem::Comment(_) => None,
        }),
        Value::Null => None,
        Value::Str(s) if s.is_empty() || cipher::is_encrypted(s) => None,
        _ if !rule.encrypts(path) => None,
        _ => Some(path.join(".")),
    }
}

/// The file's recipients against what `.sops.yaml` asks for now.
fn check_recipients(cx: &mut Ctx<'_>, meta: &Metadata) {
    let stage = cx.file.stage;
    let abs = std::path::absolute(cx.file.path).unwrap_or_else(|_| cx.file.path.to_owned());
    let rule: CreationRule = match store::creation_rule(&abs) {
        Ok(r) => r,
        Err(e) => {
            cx.error(
                line_of_key(cx.text, "sops"),
                format!("can't tell who should open it: {e}"),
                "run `sls-secrets init` to add a rule for secrets/*.yml to .sops.yaml".into(),
            );
            return;
        }
    };
    let rotate = format!(
        "`sls-secrets rotate --stage {stage}` (a new data key for the keys .sops.yaml lists)"
    );
    let have_kms: Vec<&str> = meta.kms.iter().map(|k| k.arn.as_str()).collect();
    let want_kms: Vec<&str> = rule.kms.iter().map(|k| k.arn.as_str()).collect();
    let have_age: Vec<&str> = meta.age.iter().map(|a| a.recipient.as_str()).collect();
    let want_age: Vec<&str> = rule.age.iter().map(String::as_str).collect();
    for (kind, have, want) in [("age", &have_age, &want_age), ("kms", &have_kms, &want_kms)] {
        for stale in have.iter().filter(|r| !want.contains(r)) {
            cx.error(
                line_containing(cx.text, stale, "sops"),
                format!("stale recipient: {kind} `{stale}` can open this file but .sops.yaml no longer lists it"),
                rotate.clone(),
            );
        }
        for missing in want.iter().filter(|r| !have.contains(r)) {
            cx.error(
                line_of_key(cx.text, "sops"),
                format!("missing recipient: .sops.yaml lists {kind} `{missing}` but the file is not encrypted for it"),
                rotate.clone(),
            );
        }
    }
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

/// Whether rendering `env` into the Serverless config `source` would succeed (in memory).
pub fn render_finding(
    config_shown: &str,
    stage: &str,
    source: &str,
    env: &[(String, Text)],
) -> Option<Finding> {
    let secrets = Secret::all(env);
    let e = render::render(source, &secrets, &RenderOptions::default()).err()?;
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
