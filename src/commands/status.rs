//! `status [--stage S | --all] [--json]`: what each stage's stack has deployed against what
//! git holds, by name only (`sls_secrets::deployed`). Reads serverless.yml as `render` does,
//! the stage's secrets as every command does, then CloudFormation `ListStackResources` and
//! Lambda `GetFunctionConfiguration` (read-only); for a sealed service, one KMS `Decrypt` per
//! sealed function to compare its payload's MAC (docs/sealed.md, "status"). Exit 0: every stage
//! current; 1: a name is stale or missing somewhere (redeploy); 2: an error.

use std::path::Path;

use sls_secrets::deployed::{self, DeployedError, StageStatus, State, StatusError, aws::Aws};
use sls_secrets::render::{self, ServiceFile};
use sls_secrets::sealed::{self, SealedMac};
use sls_secrets::text::escape_control;
use sls_secrets::yaml::Text;
use sls_secrets::{json, store};

use super::{Context, EXIT_CHANGES, EXIT_OK, Failure, print_stdout, seed_set_env};
use crate::cli::StatusArgs;

/// Version of the JSON shape.
const JSON_VERSION: u32 = 1;
/// Serverless's default region when `provider.region` is not set.
const DEFAULT_REGION: &str = "us-east-1";

/// One stage's result: `None` when its stack does not exist (with `--all` only).
struct Report {
    stage: String,
    stack: String,
    status: Option<StageStatus>,
}

pub(crate) fn run(args: &StatusArgs, ctx: &Context) -> Result<u8, Failure> {
    let stages = match (&args.stage, args.all) {
        (Some(s), _) => {
            store::check_stage(s)?;
            vec![s.clone()]
        }
        (None, true) => ctx.stage_files(None)?.into_iter().map(|(s, _)| s).collect(),
        (None, false) => {
            return Err(Failure::new("which stage? give --stage STAGE or --all"));
        }
    };
    let config = super::render::config_path(args.config.as_deref())?;
    let source = sls_secrets::files::read_text(&config)
        .map_err(|e| Failure::new(format!("{}: {e}", config.display())))?;
    let file = render::read_service_file(&source)
        .map_err(|e| Failure::new(format!("{}:{e}", config.display())))?;
    if file.sealed && file.service.as_deref().is_none_or(|s| s.contains("${")) {
        return Err(Failure::new(format!(
            "{}: a sealed service's `service` name must be written literally (its payloads' KMS encryption context)",
            config.display()
        ))
        .hint("write `service` literally (docs/sealed.md: status)"));
    }
    let region = region(args, &file, &config)?;
    let service_dir = std::path::absolute(&config)
        .ok()
        .and_then(|p| p.parent().map(Path::to_owned))
        .unwrap_or_else(|| ".".into());
    let mut run = Run {
        args,
        ctx,
        file: &file,
        config: &config,
        service_dir: &service_dir,
        region: &region,
        aws: None,
    };
    let mut reports = Vec::new();
    for stage in &stages {
        reports.push(run.stage(stage).map_err(|f| f.in_stage(stage))?);
    }
    let out = if args.json {
        to_json(&reports, &region)
    } else {
        to_text(&reports, &region)
    };
    print_stdout(&out)?;
    let behind = reports
        .iter()
        .any(|r| r.status.as_ref().is_some_and(StageStatus::behind));
    Ok(if behind { EXIT_CHANGES } else { EXIT_OK })
}

/// What every stage's comparison shares; the AWS client is made for the first stage.
struct Run<'a> {
    args: &'a StatusArgs,
    ctx: &'a Context,
    file: &'a ServiceFile,
    config: &'a Path,
    service_dir: &'a Path,
    region: &'a str,
    aws: Option<Aws>,
}

impl Run<'_> {
    fn stage(&mut self, stage: &str) -> Result<Report, Failure> {
        let (file, config) = (self.file, self.config);
        let stack = deployed::stack_name(file, stage).ok_or_else(|| {
            Failure::new(format!("{}: no `service` name", config.display()))
                .hint("status finds the stack as <service>-<stage> or provider.stackName")
        })?;
        if stack.contains("${") {
            return Err(Failure::new(format!(
                "{}: the stack name `{}` holds a variable, which status does not resolve",
                config.display(),
                escape_control(&stack)
            ))
            .hint("write `service` (or provider.stackName) literally"));
        }
        // With seed.yml's opt-out nothing is delivered, so nothing is expected.
        let mut secrets: Vec<(String, Text)> = Vec::new();
        if seed_set_env(self.service_dir)? {
            let (_, sourced) = self.ctx.stage_secrets_for(self.service_dir, stage)?;
            secrets.extend(sourced.into_iter().map(|s| (s.name, s.value)));
        }
        let client = match self.aws.take() {
            Some(c) => c,
            None => {
                let profile = self.args.aws_profile.as_deref().unwrap_or("");
                Aws::new(self.region, profile)
                    .map_err(|e| Failure::with_hint(e.to_string(), e.hint()))?
            }
        };
        let profile = self.args.aws_profile.as_deref().unwrap_or("");
        let service = file.service.as_deref().unwrap_or("");
        let check = |mac: &SealedMac, want: &[(&str, &Text)]| {
            mac.matches(sealed::context(service, stage)?, profile, want)
        };
        let sealed_check: Option<deployed::SealedCheck> = file.sealed.then_some(&check);
        let result = deployed::stage_status(file, &stack, &secrets, &client, sealed_check);
        self.aws = Some(client);
        let status = match result {
            Ok(status) => Some(status),
            Err(StatusError::Deployed(DeployedError::NoStack { .. })) if self.args.all => None,
            Err(e) => return Err(Failure::with_hint(e.to_string(), e.hint())),
        };
        Ok(Report {
            stage: stage.to_owned(),
            stack,
            status,
        })
    }
}

/// `--region`, else a literal `provider.region`, else Serverless's default.
fn region(args: &StatusArgs, file: &ServiceFile, config: &Path) -> Result<String, Failure> {
    if let Some(r) = &args.region {
        return Ok(r.clone());
    }
    match &file.region {
        Some(r) if r.contains("${") => Err(Failure::new(format!(
            "{}: provider.region holds a variable, which status does not resolve",
            config.display()
        ))
        .hint("pass --region REGION")),
        Some(r) => Ok(r.clone()),
        None => Ok(DEFAULT_REGION.to_owned()),
    }
}

fn to_text(reports: &[Report], region: &str) -> String {
    let mut o = String::new();
    for r in reports {
        let (stage, stack) = (escape_control(&r.stage), escape_control(&r.stack));
        let Some(status) = &r.status else {
            o.push_str(&format!(
                "{stage}: stack {stack} ({region}): not deployed\n"
            ));
            continue;
        };
        let verdict = if status.behind() {
            "redeploy"
        } else {
            "current"
        };
        o.push_str(&format!("{stage}: stack {stack} ({region}): {verdict}\n"));
        for f in &status.functions {
            let name = escape_control(&f.function);
            match &f.deployed_as {
                Some(d) => o.push_str(&format!("  {name} ({})\n", escape_control(d))),
                None => o.push_str(&format!("  {name} (not in the stack)\n")),
            }
            for state in State::ALL {
                let names: Vec<String> = f
                    .with(state)
                    .map(|n| escape_control(n).into_owned())
                    .collect();
                if !names.is_empty() {
                    o.push_str(&format!("    {:<8} {}\n", state.name(), names.join(", ")));
                }
            }
            if f.extra_unknown {
                o.push_str("    (its environment in serverless.yml is a variable: extra names not checked)\n");
            }
            if let Some(note) = f.note {
                o.push_str(&format!("    ({note})\n"));
            }
        }
    }
    o
}

fn to_json(reports: &[Report], region: &str) -> String {
    let mut o = format!("{{\"version\":{JSON_VERSION},\"region\":");
    json::push_string(&mut o, region);
    o.push_str(",\"stages\":[");
    for (i, r) in reports.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        o.push_str("{\"stage\":");
        json::push_string(&mut o, &r.stage);
        o.push_str(",\"stack\":");
        json::push_string(&mut o, &r.stack);
        let Some(status) = &r.status else {
            o.push_str(",\"deployed\":false,\"behind\":false,\"functions\":[]}");
            continue;
        };
        o.push_str(&format!(
            ",\"deployed\":true,\"behind\":{},\"functions\":[",
            status.behind()
        ));
        for (j, f) in status.functions.iter().enumerate() {
            if j > 0 {
                o.push(',');
            }
            o.push_str("{\"function\":");
            json::push_string(&mut o, &f.function);
            o.push_str(",\"deployedAs\":");
            match &f.deployed_as {
                Some(d) => json::push_string(&mut o, d),
                None => o.push_str("null"),
            }
            for state in State::ALL {
                o.push_str(&format!(",\"{}\":", state.name()));
                o.push_str(&json::string_array(f.with(state)));
            }
            o.push_str(&format!(",\"extraChecked\":{}", !f.extra_unknown));
            o.push_str(",\"note\":");
            match f.note {
                Some(n) => json::push_string(&mut o, n),
                None => o.push_str("null"),
            }
            o.push('}');
        }
        o.push_str("]}");
    }
    o.push_str("]}\n");
    o
}
