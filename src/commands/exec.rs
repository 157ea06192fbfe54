//! `exec --stage S -- COMMAND`: runs a build with the stage's secrets in its environment (no
//! shell, nothing on disk). The stage file is checked first: every name valid, no NUL byte,
//! nothing that would change which program runs or what it loads. The process handling
//! (signals, exit codes, output masking) is the library's `exec` module.

use sls_secrets::envname;
use sls_secrets::exec::{self, ExecOptions, MIN_MASK_LEN};
use sls_secrets::store;

use super::{Context, Failure};
use crate::cli::ExecArgs;

pub(crate) fn run(args: &ExecArgs, ctx: &Context) -> Result<u8, Failure> {
    let stage = &args.stage.stage;
    let path = ctx.existing_stage_file(stage)?;
    let file = store::open(&path, &ctx.identities()?)?;
    let env = store::stage_env(&path, &file)?;
    drop(file);
    for (name, value) in &env {
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
        if exec::hijacks_process(name) {
            return Err(Failure::new(format!(
                "{}: `{name}` would change which program runs or what it loads; exec refuses to set it",
                path.display()
            ))
            .hint("rename the secret; set such variables in the build itself"));
        }
    }
    let overridden = exec::overridden(&env);
    if !overridden.is_empty() && !args.pristine {
        eprintln!(
            "sls-secrets: secrets override inherited {}",
            overridden.join(", ")
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
                short.join(", "),
            );
        }
    }
    let opts = ExecOptions {
        pristine: args.pristine,
        mask_output: args.mask_output,
    };
    exec::run(&args.command, &env, &opts).map_err(|e| Failure::new(e.to_string()))
}
