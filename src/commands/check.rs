//! `check [--stage S] [--strict]`: the stage files' health for CI and pre-commit. Needs no
//! key; with one it also verifies the MAC and, next to a `serverless.yml`, that each stage
//! would render. Exit 0 clean (warnings allowed unless `--strict`), 1 findings, 2 error.

use std::path::Path;

use sls_secrets::check::{self, Finding, Severity, StageFile};
use sls_secrets::stages::{RulesError, StageRules};
use sls_secrets::yaml::Text;
use sls_secrets::{framework, gitignore, seed, store};

use super::{Context, EXIT_CHANGES, EXIT_OK, Failure, print_stdout};
use crate::cli::CheckArgs;

/// One checked stage file: what the cross-stage and render checks need.
struct Checked<'a> {
    stage: &'a str,
    shown: String,
    names: Option<Vec<String>>,
    env: Option<Vec<(String, Text)>>,
}

/// `path` relative to the current folder when it is below it.
fn shown(cwd: &Path, path: &Path) -> String {
    path.strip_prefix(cwd).unwrap_or(path).display().to_string()
}

pub(crate) fn run(args: &CheckArgs, ctx: &Context) -> Result<u8, Failure> {
    let cwd = ctx.cwd()?;
    if args.stage.is_none() && store::stage_files(&ctx.secrets_dir()?)?.is_empty() {
        // A repository set up with no secret yet (a hook runs on .sops.yaml changes too).
        return print_stdout("sls-secrets check: no stage files yet\n");
    }
    // One stage: every file its secrets come from (its own, or its stage rule's).
    let files = match &args.stage {
        Some(stage) => ctx
            .resolve_stage(&cwd, stage)?
            .layers
            .into_iter()
            .map(|l| (l.stage, l.path))
            .collect(),
        None => ctx.stage_files(None)?,
    };
    // No identity is no error here: a pre-commit hook runs without any key.
    let ids = ctx.identities().ok();
    let mut findings: Vec<Finding> = Vec::new();
    let mut checked = Vec::new();
    let mut mac_checked = 0;
    for (stage, path) in &files {
        let name = shown(&cwd, path);
        let file = StageFile {
            stage,
            path,
            shown: &name,
        };
        let report = check::check_file(&file, ids.as_ref())?;
        findings.extend(report.findings);
        mac_checked += usize::from(report.mac_checked);
        checked.push(Checked {
            stage,
            shown: name,
            names: report.names,
            env: report.env,
        });
    }
    if args.stage.is_none() {
        let named: Vec<(&str, &str, &[String])> = checked
            .iter()
            .filter_map(|c| Some((c.stage, c.shown.as_str(), c.names.as_deref()?)))
            .collect();
        findings.extend(check::cross_stage(&named));
    }
    findings.extend(rules_checks(ctx, &cwd)?);
    findings.extend(render_checks(&cwd, &checked)?);
    findings.extend(artifacts_check(&cwd));
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = findings.len() - errors;
    let mut out = check::to_text(&findings);
    out.push_str(&format!(
        "sls-secrets check: {} stage file{}, {errors} error{}, {warnings} warning{}; MAC verified for {mac_checked} of {}\n",
        files.len(),
        plural(files.len()),
        plural(errors),
        plural(warnings),
        files.len(),
    ));
    print_stdout(&out)?;
    Ok(if errors > 0 || (args.strict && warnings > 0) {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}

/// The stage rules file, when there is one: invalid is an error finding at its line.
fn rules_checks(ctx: &Context, cwd: &Path) -> Result<Vec<Finding>, Failure> {
    let Some(path) = ctx.stage_rules_file_for(cwd) else {
        return Ok(Vec::new());
    };
    let name = shown(cwd, &path);
    match StageRules::load(&path) {
        Ok(rules) => Ok(check::stage_rules(&rules, &name, &ctx.secrets_dir()?)),
        Err(RulesError::Invalid { line, what, .. }) => Ok(vec![Finding {
            file: name,
            line,
            severity: Severity::Error,
            message: what,
            fix: "each rule is `- match: GLOB` with `from: STAGE` or `none: true`".into(),
        }]),
        Err(e) => Err(Failure::new(e.to_string())),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Next to a `serverless.yml`: `sls package` writes every environment value in clear into
/// `.serverless/`, so git must ignore it.
fn artifacts_check(cwd: &Path) -> Option<Finding> {
    service_config(cwd)?;
    if gitignore::serverless_ignored(cwd)? {
        return None;
    }
    let root = sls_secrets::git::toplevel(cwd).ok()?;
    let path = root.join(".gitignore");
    let lines = sls_secrets::files::read_text(&path).map_or(0, |t| t.lines().count());
    Some(Finding {
        file: shown(cwd, &path),
        line: lines + 1,
        severity: Severity::Warning,
        message: format!(
            "git does not ignore `{}`: `sls package` writes every environment value there in clear (the CloudFormation template), secrets included",
            gitignore::PATTERN
        ),
        fix: format!(
            "add `{}` to .gitignore (`sls-secrets init` does)",
            gitignore::PATTERN
        ),
    })
}

fn service_config(cwd: &Path) -> Option<std::path::PathBuf> {
    ["serverless.yml", "serverless.yaml"]
        .iter()
        .map(|n| cwd.join(n))
        .find(|p| p.exists())
}

/// With a key and a `serverless.yml` in the current folder: would each stage render?
fn render_checks(cwd: &Path, checked: &[Checked<'_>]) -> Result<Vec<Finding>, Failure> {
    let Some(config) = service_config(cwd) else {
        return Ok(Vec::new());
    };
    let root = store::repo_root(cwd);
    if let Ok(Some(s)) = seed::set_secret_envs(cwd, &root)
        && !s.set_env
    {
        return Ok(Vec::new());
    }
    let source = sls_secrets::files::read_text(&config)
        .map_err(|e| Failure::new(format!("{}: {e}", config.display())))?;
    let name = shown(cwd, &config);
    // The framework `render` would detect here: v4 can't take a `${` in a value.
    let (framework, _) = framework::detect(cwd, &root, &source);
    Ok(checked
        .iter()
        .filter_map(|c| check::render_finding(&name, c.stage, &source, c.env.as_ref()?, framework))
        .collect())
}
