//! `get --stage S NAME`: one secret's value on stdout (a newline only on a terminal, so
//! `$(sls-secrets get ...)` and pipes get the exact value).

use std::io::{IsTerminal, Write};

use super::{Context, EXIT_OK, Failure};
use crate::cli::GetArgs;

pub(crate) fn run(args: &GetArgs, ctx: &Context) -> Result<u8, Failure> {
    let (stage, key) = (&args.stage.stage, &args.key);
    let (resolution, secrets) = ctx.stage_secrets(stage)?;
    let Some(secret) = secrets.iter().find(|s| &s.name == key) else {
        let files: Vec<String> = resolution
            .layers
            .iter()
            .map(|l| l.path.display().to_string())
            .collect();
        let place = match files.as_slice() {
            [] => format!("stage {stage}, which has no secrets"),
            [one] => one.clone(),
            many => format!("stage {stage} ({})", many.join(", ")),
        };
        return Err(
            Failure::new(format!("no secret `{key}` in {place}")).hint(format!(
                "see the names with `sls-secrets list --stage {stage}`"
            )),
        );
    };
    let value = &secret.value;
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
