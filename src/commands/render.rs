//! `render`: the CLI side of rendering. [`run`] reads top-down: find the config
//! ([`config_path`]), the stage ([`choose_stage`]), whether to inject at all ([`wants_env`]:
//! flags, then `seed.yml`), the stage's secrets ([`stage_secrets`]); render with the library;
//! then one output: a masked diff ([`print_diff`]), a file ([`write_output`]), the config
//! itself ([`write_in_place`], guarded by `git::tracks`) or stdout.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use sls_secrets::framework::{self, Framework};
use sls_secrets::render::{self, RenderOptions, Rendered, Secret};
use sls_secrets::yaml::Text;
use sls_secrets::{store, text};
use zeroize::Zeroizing;

use super::{Context, EXIT_CHANGES, EXIT_OK, Failure, print_stdout};
use crate::cli::{FrameworkArg, RenderArgs};

pub(crate) fn config_path(arg: Option<&Path>) -> Result<PathBuf, Failure> {
    // `exists`, not `is_file`: a device or a FIFO is found, then refused by the read with
    // what it is.
    if let Some(p) = arg {
        return if p.exists() {
            Ok(p.to_owned())
        } else {
            Err(Failure::new(format!("{}: no such file", p.display())))
        };
    }
    for name in ["serverless.yml", "serverless.yaml"] {
        let p = PathBuf::from(name);
        if p.exists() {
            return Ok(p);
        }
    }
    Err(
        Failure::new("no serverless.yml or serverless.yaml in the current folder")
            .hint("run in the service folder, or pass -c FILE"),
    )
}

/// `CI` set to a non-empty value (an empty `CI=` is not set).
fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Refuses to write plaintext secrets over a file git tracks (they would be committed by
/// accident), or when git can't tell, unless `--force` or `CI`.
fn refuse_tracked(path: &Path, force: bool) -> Result<(), Failure> {
    if force || in_ci() {
        return Ok(());
    }
    let why = match sls_secrets::git::tracks(path) {
        Ok(false) => return Ok(()),
        Ok(true) => "is tracked by git".to_string(),
        Err(e) => format!("may be tracked by git (can't tell: {e})"),
    };
    Err(Failure::new(format!(
        "{} {why}; writing plaintext secrets into it risks committing them",
        path.display()
    ))
    .hint("use -o serverless.rendered.yml (git-ignored) with `serverless deploy -c`, or pass --force (CI sets CI and is allowed)"))
}

fn render_failure(config: &Path, e: render::Error) -> Failure {
    // The library's Display already says where (line:col) and what to do.
    Failure::new(format!("{}:{e}", config.display()))
}

pub(crate) fn run(args: &RenderArgs, ctx: &Context) -> Result<u8, Failure> {
    let config = config_path(args.config.as_deref())?;
    let source = sls_secrets::files::read_text(&config)
        .map_err(|e| Failure::new(format!("{}: {e}", config.display())))?;
    let service_dir = std::path::absolute(&config)
        .ok()
        .and_then(|p| p.parent().map(Path::to_owned))
        .unwrap_or_else(|| PathBuf::from("."));
    let stage = choose_stage(args, &config, &source)?;
    let framework = choose_framework(args, &service_dir, &source);
    let set_env = wants_env(args, &service_dir)?;
    // With the opt-out there is nothing to inject, so no key is needed.
    let env = if set_env {
        stage_secrets(ctx, &service_dir, stage)?
    } else {
        Vec::new()
    };
    let secrets = Secret::all(&env);
    let opts = RenderOptions {
        set_env,
        framework,
        ..RenderOptions::default()
    };
    let mut rendered =
        render::render(&source, &secrets, &opts).map_err(|e| render_failure(&config, e))?;
    let output = Zeroizing::new(std::mem::take(&mut rendered.output));
    print_notes(&rendered.notes);

    if args.diff {
        print_diff(args, &config, &source, &output, &rendered)
    } else if let Some(out) = args.output.as_deref().filter(|o| *o != Path::new("-")) {
        write_output(args, ctx, &service_dir, out, &output)
    } else if args.output.is_some() {
        print_stdout(&output)
    } else if args.in_place {
        write_in_place(args, ctx, &service_dir, &config, &output, rendered.changed)
    } else {
        print_stdout(&output)
    }
}

/// One write for all notes: stderr is unbuffered, and a service with thousands of functions
/// that shadow a secret has a note for each (three writes apiece through `eprintln!`).
fn print_notes(notes: &[String]) {
    use std::io::Write;
    let mut text = String::with_capacity(notes.iter().map(|n| n.len() + 14).sum());
    for note in notes {
        text.push_str("sls-secrets: ");
        text.push_str(note);
        text.push('\n');
    }
    // Notes are advice: a closed stderr must not fail the render.
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// `--stage`, else what the file says (`provider.stage`, `${opt:stage, 'X'}`), else `dev`;
/// stderr says which and why.
fn choose_stage(args: &RenderArgs, config: &Path, source: &str) -> Result<String, Failure> {
    let (stage, why) = match &args.stage {
        Some(s) => (s.clone(), "from --stage".to_owned()),
        None => match render::detect_stage(source) {
            Some((s, why)) => (s, format!("from {why} in {}", config.display())),
            None => (
                "dev".to_owned(),
                "the default; pass --stage to choose".to_owned(),
            ),
        },
    };
    store::check_stage(&stage)?;
    // The stage passed check_stage; `why` may carry the config path.
    eprintln!(
        "sls-secrets: stage `{stage}` ({})",
        text::escape_control(&why)
    );
    Ok(stage)
}

/// `--framework`, else what the repository says (`framework::detect`); stderr says which.
fn choose_framework(args: &RenderArgs, service_dir: &Path, source: &str) -> Framework {
    let (framework, why) = match args.framework {
        Some(f) => (
            match f {
                FrameworkArg::V3 => Framework::V3,
                FrameworkArg::V4 => Framework::V4,
                FrameworkArg::Osls => Framework::Osls,
            },
            "from --framework".to_owned(),
        ),
        None => framework::detect(service_dir, &store::repo_root(service_dir), source),
    };
    eprintln!(
        "sls-secrets: framework {} ({})",
        framework.name(),
        text::escape_control(&why)
    );
    framework
}

/// Whether to set the secrets as Lambda environment variables: `--set-env` /
/// `--no-set-env`, else `seed.yml`'s `sls_set_secret_envs` (as on Seed), else yes.
fn wants_env(args: &RenderArgs, service_dir: &Path) -> Result<bool, Failure> {
    if args.set_env {
        return Ok(true);
    }
    if args.no_set_env {
        eprintln!(
            "sls-secrets: --no-set-env: environment injection is turned off, leaving the environment alone"
        );
        return Ok(false);
    }
    super::seed_set_env(service_dir)
}

/// The stage's secrets, from the secrets folder nearest the service folder, as the stage
/// rules resolve the stage.
fn stage_secrets(
    ctx: &Context,
    service_dir: &Path,
    stage: String,
) -> Result<Vec<(String, Text)>, Failure> {
    let (_, secrets) = ctx.stage_secrets_for(service_dir, &stage)?;
    Ok(secrets.into_iter().map(|s| (s.name, s.value)).collect())
}

/// `--diff`: the unified diff of the config against the rendered file, secrets masked unless
/// `--show-values`; writes nothing.
fn print_diff(
    args: &RenderArgs,
    config: &Path,
    source: &str,
    output: &str,
    rendered: &Rendered<'_>,
) -> Result<u8, Failure> {
    let color = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let label = config.display().to_string();
    let diff = Zeroizing::new(if args.show_values {
        render::unified_diff(source, output, &label, color)
    } else {
        render::unified_diff(
            &rendered.masked_original(),
            &rendered.masked_output(),
            &label,
            color,
        )
    });
    print_stdout(&diff)?;
    Ok(if args.exit_code && rendered.changed {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}

/// The service's secrets folder and the current folder's (they differ with -c, and with
/// `--secrets-dir`); every other `secrets/` folder is refused by name.
fn secrets_dirs(ctx: &Context, service_dir: &Path) -> Vec<PathBuf> {
    [
        ctx.secrets_dir_for(service_dir).ok(),
        ctx.secrets_dir().ok(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// `-o PATH`: the rendered file, atomically, mode 0600; only a new path or a regular file,
/// outside the secrets folder, and not a git-tracked file (unless `--force` or `CI`).
fn write_output(
    args: &RenderArgs,
    ctx: &Context,
    service_dir: &Path,
    out: &Path,
    output: &str,
) -> Result<u8, Failure> {
    store::check_plaintext_target(out, &secrets_dirs(ctx, service_dir))?;
    refuse_tracked(out, args.force)?;
    store::write_private(out, output.as_bytes())?;
    eprintln!(
        "sls-secrets: wrote {} (mode 0600; it holds plaintext secrets, do not commit it)",
        out.display()
    );
    Ok(EXIT_OK)
}

/// `--in-place`: replaces the config (mode 0600, owner kept), refused for a git-tracked file
/// unless `--force` or `CI` (plaintext secrets must not be committed by accident).
fn write_in_place(
    args: &RenderArgs,
    ctx: &Context,
    service_dir: &Path,
    config: &Path,
    output: &str,
    changed: bool,
) -> Result<u8, Failure> {
    if changed {
        // A stage file is a YAML mapping too: render would happily add an environment to it.
        store::refuse_secret_store(config, &secrets_dirs(ctx, service_dir))?;
        refuse_tracked(config, args.force)?;
        // A symlinked config is written through: its target must not be tracked either.
        if let Ok(real) = std::fs::canonicalize(config)
            && real != std::path::absolute(config).unwrap_or_default()
        {
            refuse_tracked(&real, args.force)?;
        }
        store::replace_private(config, output.as_bytes())?;
    }
    eprintln!(
        "sls-secrets: {} {}",
        if changed { "rendered" } else { "unchanged:" },
        config.display()
    );
    Ok(EXIT_OK)
}
