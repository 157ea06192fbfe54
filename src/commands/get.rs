//! `get --stage S NAME`: one secret's value on stdout (a newline only on a terminal, so
//! `$(sls-secrets get ...)` and pipes get the exact value).

use std::io::{IsTerminal, Write};

use sls_secrets::store;

use super::{Context, EXIT_OK, Failure};
use crate::cli::GetArgs;

pub(crate) fn run(args: &GetArgs, ctx: &Context) -> Result<u8, Failure> {
    let (stage, key) = (&args.stage.stage, &args.key);
    let path = ctx.existing_stage_file(stage)?;
    let file = store::open(&path, &ctx.identities()?)?;
    let env = store::stage_env(&path, &file)?;
    let Some((_, value)) = env.iter().find(|(k, _)| k == key) else {
        return Err(
            Failure::new(format!("no secret `{key}` in {}", path.display())).hint(format!(
                "see the names with `sls-secrets list --stage {stage}`"
            )),
        );
    };
    let mut out = std::io::stdout().lock();
    let newline = if std::io::stdout().is_terminal() {
        "\n"
    } else {
        ""
    };
    write!(out, "{}{newline}", value.as_str())
        .and_then(|()| out.flush())
        .map_err(|e| Failure::new(format!("writing to stdout: {e}")))?;
    Ok(EXIT_OK)
}
