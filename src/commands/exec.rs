//! `exec --stage S -- COMMAND`: runs a build with the stage's secrets in its environment (no
//! shell, nothing on disk). The stage file is checked first: every name valid, no NUL byte,
//! nothing that would change which program runs or what it loads (the
//! `envpolicy` table), unless `--allow NAME` says so. The process handling
//! (signals, exit codes, output masking) is the library's `exec` module.

use std::path::Path;

use sls_secrets::envname;
use sls_secrets::envpolicy;
use sls_secrets::exec::{self, ExecOptions, MIN_MASK_LEN};
use sls_secrets::store;
use sls_secrets::text::escape_control;
use sls_secrets::yaml::Text;

use super::{Context, Failure};
use crate::cli::ExecArgs;

pub(crate) fn run(args: &ExecArgs, ctx: &Context) -> Result<u8, Failure> {
    let stage = &args.stage.stage;
    let path = ctx.existing_stage_file(stage)?;
    let file = store::open(&path, &ctx.identities()?)?;
    let env = store::stage_env(&path, &file)?;
    drop(file);
    check_env(&path, stage, &env, &args.allow)?;
    let overridden = exec::overridden(&env);
    if !overridden.is_empty() && !args.pristine {
        eprintln!(
            "sls-secrets: secrets override inherited {}",
            escape_control(&overridden.join(", "))
        );
    }
    if args.mask_output {
        let short: Vec<&str> = env
            .iter()
            .filter(|(_, v)| !v.is_empty() && v.chars().count() < MIN_MASK_LEN)
            .map(|(k, _)| k.as_str())
            .collect();
        if !short.is_empty() {
            eprintln!(
                "sls-secrets: warning: not masking {} (values shorter than {MIN_MASK_LEN} characters)",
                escape_control(&short.join(", ")),
            );
        }
    }
    let opts = ExecOptions {
        pristine: args.pristine,
        mask_output: args.mask_output,
    };
    exec::run(&args.command, &env, &opts).map_err(|e| Failure::new(e.to_string()))
}

/// Every name valid, no NUL byte, and no variable of the `envpolicy` table that `--allow`
/// doesn't name (all such names in one error, so one retry fixes them).
fn check_env(
    path: &Path,
    stage: &str,
    env: &[(String, Text)],
    allow: &[String],
) -> Result<(), Failure> {
    let mut refused = Vec::new();
    for (name, value) in env {
        envname::check_secret(name)
            .map_err(|e| Failure::new(format!("{}: {e}", path.display())))?;
        if value.contains('\0') {
            return Err(Failure::new(format!(
                "{}: secret `{name}` contains a NUL byte, which an environment variable can't hold",
                path.display()
            ))
            .hint(format!(
                "set it again without the NUL: sls-secrets set --stage {stage} {name}"
            )));
        }
        if let Some(family) = envpolicy::refused(name)
            && !allow.contains(name)
        {
            refused.push((name.as_str(), family));
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> = refused
        .iter()
        .map(|(name, f)| format!("`{name}` ({}: {})", f.name, f.effect))
        .collect();
    let allows: Vec<String> = refused
        .iter()
        .map(|(n, _)| format!("--allow {n}"))
        .collect();
    let it = if refused.len() == 1 { "it" } else { "them" };
    Err(Failure::new(format!(
        "{}: {} can change what the build runs or loads; exec refuses to set {it} from a stage file",
        path.display(),
        listed.join(", ")
    ))
    .hint(format!(
        "rename the secret, or if the build really needs {it}: sls-secrets exec --stage {stage} {} -- COMMAND",
        allows.join(" ")
    )))
}
