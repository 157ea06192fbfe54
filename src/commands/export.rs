//! `export --stage S --format json|env`: the stage's secrets, machine-readable, for the
//! Serverless plugin (JSON over a pipe) and shell scripts (`eval "$(sls-secrets export ...)"`).
//! Plaintext goes to stdout only when it is a pipe (a terminal or a regular file only with
//! `--force`, and never a stage file, a file in a secrets folder or a sops file).
//! Names get the checks `render` applies (Lambda's pattern, reserved names), and `seed.yml`'s
//! opt-out is honoured as in `render`, so the plugin and `render` agree. The JSON shape is
//! documented in docs/npm.md.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use sls_secrets::envname;
use sls_secrets::lambda::{self, Placement};
use sls_secrets::stages::Sourced;
use sls_secrets::store::{self, StoreError};
use sls_secrets::yaml::Text;
use zeroize::Zeroizing;

use super::{Context, Failure, print_stdout, seed_set_env};
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
    check_stdout_target(args.force, ctx, stage)?;
    let cwd = ctx.cwd()?;
    let set_env = args.set_env || seed_set_env(&cwd)?;
    let rules = ctx.stage_rules_for(&cwd)?;
    // A local run may go on without the stage's secrets; a deploy never asks for this. The
    // stage rules decide first: a stage a rule gives secrets (or none) is not missing.
    let missing = Some(ctx.stage_file(stage)?).filter(|path| {
        set_env
            && args.allow_missing
            && !path.exists()
            && rules.as_ref().is_none_or(|r| r.rule_for(stage).is_none())
    });
    // With the opt-out there is nothing to export, so no key is needed (as in `render`).
    let mut from = None;
    let mut env: Vec<(String, Text)> = Vec::new();
    if set_env && missing.is_none() {
        let (resolution, secrets) = ctx.stage_secrets_for(&cwd, stage)?;
        from = resolution.describe(rules.as_ref());
        for secret in secrets {
            check_secret(&secret, args.format)?;
            env.push((secret.name, secret.value));
        }
    }
    let placed = match args.place {
        true if args.format != ExportFormat::Json => {
            return Err(Failure::new("--place goes with --format json"));
        }
        true => Some(place_from_stdin(&env)?.1),
        false => None,
    };
    let out = match args.format {
        ExportFormat::Json => json(
            &Export {
                stage,
                set_env,
                missing: missing.as_deref(),
                from: from.as_deref(),
            },
            &env,
            placed.as_ref(),
        ),
        ExportFormat::Env => shell(&env),
    };
    print_stdout(&out)
}

/// `--place`: the resolved service from stdin (docs/npm.md), and where Lambda's rules put each
/// secret in it ([`lambda::place`]: scope, shadowing functions, a variable provider
/// environment, 4 KB). The plugin applies the result as it is; `seal` seals it.
pub(crate) fn place_from_stdin(
    env: &[(String, Text)],
) -> Result<(lambda::Service, Placement), Failure> {
    use std::io::Read;
    let mut text = String::new();
    std::io::stdin()
        .take(sls_secrets::files::MAX_TEXT_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| Failure::new(format!("reading the service from stdin: {e}")))?;
    let (service, scope) = lambda::read_service(&text).map_err(|e| {
        Failure::new(format!("--place: {e}"))
            .hint("the plugin sends the resolved service (docs/npm.md)")
    })?;
    let names: Vec<&str> = env.iter().map(|(n, _)| n.as_str()).collect();
    let value_len: Vec<usize> = env.iter().map(|(_, v)| v.len()).collect();
    let placement = lambda::place(&service, &names, &value_len, &scope)
        .map_err(|e| Failure::new(e.to_string()).hint(e.hint()))?;
    Ok((service, placement))
}

/// `export ... > file` would leave plaintext in a file the shell made 0644, and `>>
/// secrets/prod.yml` would append it to a stage file. So stdout may be a pipe, a socket or a
/// character device (`/dev/null`); a regular file only with `--force` (and it is made 0600),
/// and never a file in a secrets folder or a sops file, whatever the flags.
fn check_stdout_target(force: bool, ctx: &Context, stage: &str) -> Result<(), Failure> {
    use std::os::fd::AsFd;
    let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() else {
        return Ok(()); // no stdout at all: nothing can be written anywhere
    };
    let out = std::fs::File::from(fd);
    let meta = out
        .metadata()
        .map_err(|e| Failure::new(format!("can't tell what stdout is: {e}")))?;
    let kind = meta.file_type();
    if !kind.is_file() {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_block_device() {
            return Err(Failure::new(
                "stdout is a block device; export writes plaintext secrets only to a pipe",
            ));
        }
        return Ok(());
    }
    let path = stdout_path();
    let shown = path
        .as_deref()
        .map_or_else(|| "a regular file".to_owned(), |p| p.display().to_string());
    if let Some(why) = secret_store_target(&meta, path.as_deref(), ctx) {
        return Err(Failure::new(format!(
            "refusing to write plaintext secrets to {shown}: {why}"
        ))
        .hint("the secrets folder holds only encrypted stage files; if the shell truncated one (`>`), restore it with `git checkout -- FILE`"));
    }
    if !force {
        return Err(Failure::new(format!(
            "stdout is {shown}; export writes plaintext secrets only to a pipe"
        ))
        .hint(format!(
            "pipe it (sls-secrets export --stage {stage} --format json | ...), or pass --force to write the file (made 0600)"
        )));
    }
    use std::os::unix::fs::PermissionsExt;
    out.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Failure::new(format!("can't make {shown} private (0600): {e}")))
}

/// Where stdout leads, when the system can tell (Linux: `/proc/self/fd/1`).
fn stdout_path() -> Option<PathBuf> {
    std::fs::read_link("/proc/self/fd/1")
        .ok()
        .filter(|p| p.is_absolute())
}

/// Why a regular file on stdout is part of the secrets store: one of the stage files (by
/// inode, which needs no path), inside a secrets folder, or a sops file.
fn secret_store_target(
    meta: &std::fs::Metadata,
    path: Option<&Path>,
    ctx: &Context,
) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let dir = ctx.secrets_dir().ok();
    if let Some(dir) = &dir
        && let Ok(files) = store::stage_files(dir)
    {
        for (_, file) in files {
            if std::fs::metadata(&file)
                .is_ok_and(|m| (m.dev(), m.ino()) == (meta.dev(), meta.ino()))
            {
                return Some(format!("it is the stage file {}", file.display()));
            }
        }
    }
    let path = path?;
    let dirs: Vec<PathBuf> = dir.into_iter().collect();
    match store::refuse_secret_store(path, &dirs) {
        Ok(()) => None,
        Err(StoreError::InsideSecretsDir { dir, .. }) => {
            Some(format!("it is inside the secrets folder {}", dir.display()))
        }
        Err(StoreError::SopsFileTarget { .. }) => Some("it is a sops-encrypted file".into()),
        // Fail closed: what can't be checked is not written.
        Err(e) => Some(format!(
            "can't tell whether it belongs to the secrets store ({e})"
        )),
    }
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

/// Names and values the plugin and a shell can take: `render`'s name checks, and no NUL byte
/// for a shell.
pub(crate) fn check_secret(secret: &Sourced, format: ExportFormat) -> Result<(), Failure> {
    let (name, path) = (&secret.name, secret.path.display());
    envname::check_secret(name).map_err(|e| {
        let mut f = Failure::from(e);
        f.message = format!("{path}: {}", f.message);
        f
    })?;
    if format == ExportFormat::Env && secret.value.contains('\0') {
        return Err(Failure::new(format!(
            "{path}: secret `{name}` contains a NUL byte, which a shell variable can't hold"
        ))
        .hint("use --format json, or set it again without the NUL"));
    }
    Ok(())
}

/// What the JSON says about the export besides the values. `missing`: the stage file that
/// does not exist (with `--allow-missing`), shown to the user; `from`: where the secrets came
/// from when a stage rule gave them (for the plugin's log).
struct Export<'a> {
    stage: &'a str,
    set_env: bool,
    missing: Option<&'a Path>,
    from: Option<&'a str>,
}

fn json(
    export: &Export<'_>,
    env: &[(String, Text)],
    placed: Option<&Placement>,
) -> Zeroizing<String> {
    // Each value is written once, and again for every environment it is placed in.
    let copies = 1 + placed.map_or(0, |p| 1 + p.functions.len());
    let mut o = Zeroizing::new(String::with_capacity(copies * capacity(env)));
    o.push_str(&format!("{{\"version\":{JSON_VERSION},\"stage\":"));
    json::push_string(&mut o, export.stage);
    if let Some(path) = export.missing {
        o.push_str(",\"missing\":");
        json::push_string(&mut o, &path.display().to_string());
    }
    if let Some(from) = export.from {
        o.push_str(",\"from\":");
        json::push_string(&mut o, from);
    }
    o.push_str(&format!(",\"setEnv\":{},\"secrets\":", export.set_env));
    push_object(&mut o, env, 0..env.len());
    if let Some(placed) = placed {
        o.push_str(&format!(
            ",\"place\":{{\"variableEnv\":{},\"provider\":",
            placed.variable_env
        ));
        push_object(&mut o, env, placed.provider.iter().copied());
        o.push_str(",\"functions\":{");
        for (i, f) in placed.functions.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            json::push_string(&mut o, &f.name);
            o.push(':');
            push_object(&mut o, env, f.all());
        }
        o.push_str("},\"notes\":");
        let names: Vec<&str> = env.iter().map(|(n, _)| n.as_str()).collect();
        o.push_str(&json::string_array(
            placed.notes(&names).iter().map(String::as_str),
        ));
        o.push('}');
    }
    o.push_str("}\n");
    o
}

/// `{"NAME":"value",...}` for the secrets at `indices`.
fn push_object(o: &mut String, env: &[(String, Text)], indices: impl Iterator<Item = usize>) {
    o.push('{');
    for (n, i) in indices.enumerate() {
        if n > 0 {
            o.push(',');
        }
        let (name, value) = &env[i];
        json::push_string(o, name);
        o.push(':');
        json::push_string(o, value.as_str());
    }
    o.push('}');
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
