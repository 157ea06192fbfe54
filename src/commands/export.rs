//! `export --stage S --format json|env`: the stage's secrets, machine-readable, for the
//! Serverless plugin (JSON over a pipe) and shell scripts (`eval "$(sls-secrets export ...)"`).
//! Plaintext goes to stdout only when it is not a terminal (unless `--force`), never to a file.
//! Names get the checks `render` applies (Lambda's pattern, reserved names), and `seed.yml`'s
//! opt-out is honoured as in `render`, so the plugin and `render` agree. The JSON shape is
//! documented in docs/npm.md.

use std::io::IsTerminal;

use sls_secrets::envname;
use sls_secrets::store;
use sls_secrets::yaml::Text;
use zeroize::Zeroizing;

use super::render::seed_set_env;
use super::{Context, Failure, print_stdout};
use crate::cli::{ExportArgs, ExportFormat};
use sls_secrets::json;

/// Version of the JSON shape; bumped on an incompatible change so the plugin can refuse.
const JSON_VERSION: u32 = 1;

pub(crate) fn run(args: &ExportArgs, ctx: &Context) -> Result<u8, Failure> {
    let stage = &args.stage.stage;
    store::check_stage(stage)?;
    if std::io::stdout().is_terminal() && !args.force {
        return Err(Failure::new(
            "stdout is a terminal; export prints plaintext secrets and only writes to a pipe",
        )
        .hint(format!(
            "pipe it (sls-secrets export --stage {stage} --format json | ...), or pass --force to show them"
        )));
    }
    let set_env = args.set_env || seed_set_env(&ctx.cwd()?)?;
    // With the opt-out there is nothing to export, so no key is needed (as in `render`).
    let env = if set_env {
        let path = ctx.existing_stage_file(stage)?;
        let file = store::open(&path, &ctx.identities()?)?;
        let env = store::stage_env(&path, &file)?;
        for (name, value) in &env {
            envname::check_secret(name).map_err(|e| {
                let mut f = Failure::from(e);
                f.message = format!("{}: {}", path.display(), f.message);
                f
            })?;
            if args.format == ExportFormat::Env && value.contains('\0') {
                return Err(Failure::new(format!(
                    "{}: secret `{name}` contains a NUL byte, which a shell variable can't hold",
                    path.display()
                ))
                .hint("use --format json, or set it again without the NUL"));
            }
        }
        env
    } else {
        Vec::new()
    };
    let out = match args.format {
        ExportFormat::Json => json(stage, set_env, &env),
        ExportFormat::Env => shell(&env),
    };
    print_stdout(&out)
}

/// Room for the whole output up front, so the buffer holding values never reallocates (a
/// reallocation would leave a copy that the final zeroize can't reach).
fn capacity(env: &[(String, Text)]) -> usize {
    // Worst case per byte: `\u00XX` (6) in JSON, `'\''` (4) in shell.
    256 + env
        .iter()
        .map(|(k, v)| 16 + 6 * (k.len() + v.as_str().len()))
        .sum::<usize>()
}

fn json(stage: &str, set_env: bool, env: &[(String, Text)]) -> Zeroizing<String> {
    let mut o = Zeroizing::new(String::with_capacity(capacity(env)));
    o.push_str(&format!("{{\"version\":{JSON_VERSION},\"stage\":"));
    json::push_string(&mut o, stage);
    o.push_str(&format!(",\"setEnv\":{set_env},\"secrets\":{{"));
    for (i, (name, value)) in env.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        json::push_string(&mut o, name);
        o.push(':');
        json::push_string(&mut o, value.as_str());
    }
    o.push_str("}}\n");
    o
}

/// `export NAME='value'` lines: single quotes keep every byte literal in a POSIX shell (`$`, `\`,
/// newlines); a `'` is written as `'\''`.
fn shell(env: &[(String, Text)]) -> Zeroizing<String> {
    let mut o = Zeroizing::new(String::with_capacity(capacity(env)));
    for (name, value) in env {
        o.push_str("export ");
        o.push_str(name);
        o.push_str("='");
        for c in value.as_str().chars() {
            if c == '\'' {
                o.push_str("'\\''");
            } else {
                o.push(c);
            }
        }
        o.push_str("'\n");
    }
    o
}
