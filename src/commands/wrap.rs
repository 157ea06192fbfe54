//! `wrap -- RUNTIME ARGS...`: the Lambda exec wrapper of sealed delivery (docs/sealed.md).
//! Lambda runs `AWS_LAMBDA_EXEC_WRAPPER` (the layer's script, which runs this) with the
//! runtime's command line. It opens the function's payload (`$LAMBDA_TASK_ROOT/
//! $SLS_SECRETS_SEALED`) with one KMS `Decrypt` under the function role's credentials (the
//! credential chain: Lambda's environment variables; `AWS_ENDPOINT_URL[_KMS]` honoured), and
//! replaces itself with the runtime (Unix exec: no child, signals and exit codes are the
//! runtime's), the secrets added to its environment.
//!
//! On any failure it prints one line on stderr (Lambda logs each line as a record), never a
//! value, and exits 2 without starting the runtime: a function must not run without its
//! secrets.

use std::os::unix::process::CommandExt;

use sls_secrets::sealed::{self, PAYLOAD_VAR, SealError, TASK_ROOT_VAR};

use super::{Context, Failure};
use crate::cli::WrapArgs;

pub(crate) fn run(args: &WrapArgs, _ctx: &Context) -> Result<u8, Failure> {
    let Some((runtime, rest)) = args.command.split_first() else {
        return Err(one_line("no runtime to start".into(), None));
    };
    let path = sealed::locate(
        std::env::var_os(TASK_ROOT_VAR).as_deref(),
        std::env::var_os(PAYLOAD_VAR).as_deref(),
    )
    .map_err(failure)?;
    let secrets = sealed::open(&path).map_err(failure)?;
    let err = std::process::Command::new(runtime)
        .args(rest)
        .envs(secrets.iter().map(|(k, v)| (k, v.as_str())))
        .exec();
    Err(one_line(
        format!(
            "can't start the runtime {}: {err}",
            std::path::Path::new(runtime).display()
        ),
        None,
    ))
}

fn failure(e: SealError) -> Failure {
    one_line(e.to_string(), e.hint())
}

/// One line for Lambda's log: the message, the hint after it, never a line break.
fn one_line(message: String, hint: Option<String>) -> Failure {
    let mut line = format!("sls-secrets wrap: {message}");
    if let Some(h) = hint {
        line.push_str(&format!(" (hint: {h})"));
    }
    line.push_str("; the runtime was not started");
    Failure::new(line.replace(['\r', '\n'], " "))
}
