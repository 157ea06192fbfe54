//! `exec --stage S -- COMMAND`: runs a build with the stage's secrets in its environment (no
//! shell, nothing on disk). The stage file is checked first: every name valid, no NUL byte,
//! nothing that would change which program runs or what it loads (the
//! `envpolicy` table), unless `--allow NAME` says so. The process handling
//! (signals, exit codes, output masking) is the library's `exec` module.

use sls_secrets::envname;
use sls_secrets::envpolicy;
use sls_secrets::exec::{self, ExecOptions, MIN_MASK_LEN};
use sls_secrets::stages::Sourced;
use sls_secrets::text::escape_control;
use sls_secrets::yaml::Text;

use super::{Context, Failure};
use crate::cli::ExecArgs;

pub(crate) fn run(args: &ExecArgs, ctx: &Context) -> Result<u8, Failure> {
    let stage = &args.stage.stage;
    let (_, secrets) = ctx.stage_secrets(stage)?;
    check_env(stage, &secrets, &args.allow)?;
    let env: Vec<(String, Text)> = secrets.into_iter().map(|s| (s.name, s.value)).collect();
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
fn check_env(stage: &str, secrets: &[Sourced], allow: &[String]) -> Result<(), Failure> {
    let mut refused = Vec::new();
    for Sourced {
        name, value, path, ..
    } in secrets
    {
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
            refused.push((name.as_str(), family, path));
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> = refused
        .iter()
        .map(|(name, f, _)| format!("`{name}` ({}: {})", f.name, f.effect))
        .collect();
    let allows: Vec<String> = refused
        .iter()
        .map(|(n, _, _)| format!("--allow {n}"))
        .collect();
    let mut files: Vec<String> = refused
        .iter()
        .map(|(_, _, p)| p.display().to_string())
        .collect();
    files.dedup();
    let it = if refused.len() == 1 { "it" } else { "them" };
    Err(Failure::new(format!(
        "{}: {} can change what the build runs or loads; exec refuses to set {it} from a stage file",
        files.join(", "),
        listed.join(", ")
    ))
    .hint(format!(
        "rename the secret, or if the build really needs {it}: sls-secrets exec --stage {stage} {} -- COMMAND",
        allows.join(" ")
    )))
}
