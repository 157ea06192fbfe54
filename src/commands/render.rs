//! `render`: the CLI side of rendering. [`run`] reads top-down: find the config
//! ([`config_path`]), the stage ([`choose_stage`]), whether to inject at all ([`wants_env`]:
//! flags, then `seed.yml`), the stage's secrets ([`stage_secrets`]); render with the library;
//! then one output: a masked diff ([`print_diff`]), a file ([`write_output`]), the config
//! itself ([`write_in_place`], guarded by [`tracked_by_git`]) or stdout.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use sls_secrets::render::{self, RenderOptions, Rendered, Secret};
use sls_secrets::yaml::Text;
use sls_secrets::{seed, store};
use zeroize::Zeroizing;

use super::{Context, EXIT_CHANGES, EXIT_OK, Failure, print_stdout};
use crate::cli::RenderArgs;

fn config_path(arg: Option<&Path>) -> Result<PathBuf, Failure> {
    if let Some(p) = arg {
        return if p.is_file() {
            Ok(p.to_owned())
        } else {
            Err(Failure::new(format!("{}: no such file", p.display())))
        };
    }
    for name in ["serverless.yml", "serverless.yaml"] {
        let p = PathBuf::from(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(
        Failure::new("no serverless.yml or serverless.yaml in the current folder")
            .hint("run in the service folder, or pass -c FILE"),
    )
}

/// Whether git tracks `path`: `Ok(false)` outside a repository, `Err(why)` when git can't
/// tell (not installed, or failing), so `--in-place` fails closed.
fn tracked_by_git(path: &Path) -> Result<bool, String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let git = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map_err(|e| format!("running git: {e}"))
    };
    let inside = git(&["rev-parse".as_ref(), "--is-inside-work-tree".as_ref()])?;
    if !inside.success() {
        // Exit 128: not a repository, so nothing can be committed by accident.
        return match inside.code() {
            Some(128) => Ok(false),
            _ => Err(format!("git rev-parse exited with {inside}")),
        };
    }
    let name = path.file_name().unwrap_or_default();
    let listed = git(&[
        "ls-files".as_ref(),
        "--error-unmatch".as_ref(),
        "--".as_ref(),
        name,
    ])?;
    Ok(listed.success())
}

fn render_failure(config: &Path, e: render::Error) -> Failure {
    // The library's Display already says where (line:col) and what to do.
    Failure::new(format!("{}:{e}", config.display()))
}

pub(crate) fn run(args: &RenderArgs, ctx: &Context) -> Result<u8, Failure> {
    let config = config_path(args.config.as_deref())?;
    let source = std::fs::read_to_string(&config)
        .map_err(|e| Failure::new(format!("{}: {e}", config.display())))?;
    let service_dir = std::path::absolute(&config)
        .ok()
        .and_then(|p| p.parent().map(Path::to_owned))
        .unwrap_or_else(|| PathBuf::from("."));
    let stage = choose_stage(args, &config, &source)?;
    let set_env = wants_env(args, &service_dir)?;
    // With the opt-out there is nothing to inject, so no key is needed.
    let env = if set_env {
        stage_secrets(ctx, &service_dir, stage)?
    } else {
        Vec::new()
    };
    let secrets: Vec<Secret<'_>> = env
        .iter()
        .map(|(k, v)| Secret {
            name: k,
            value: v.as_str(),
        })
        .collect();
    let opts = RenderOptions {
        set_env,
        ..RenderOptions::default()
    };
    let mut rendered =
        render::render(&source, &secrets, &opts).map_err(|e| render_failure(&config, e))?;
    let output = Zeroizing::new(std::mem::take(&mut rendered.output));
    for note in &rendered.notes {
        eprintln!("sls-secrets: {note}");
    }

    if args.diff {
        print_diff(args, &config, &source, &output, &rendered)
    } else if let Some(out) = &args.output {
        write_output(out, &output)
    } else if args.in_place {
        write_in_place(args, &config, &output, rendered.changed)
    } else {
        print_stdout(&output)
    }
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
    eprintln!("sls-secrets: stage `{stage}` ({why})");
    Ok(stage)
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
    seed_set_env(service_dir)
}

/// `seed.yml`'s `sls_set_secret_envs` (service folder, else repository root), else yes; stderr
/// says when it turns injection off. Shared with `export`, which the plugin reads.
pub(crate) fn seed_set_env(service_dir: &Path) -> Result<bool, Failure> {
    let root = store::repo_root(service_dir);
    Ok(
        match seed::set_secret_envs(service_dir, &root).map_err(Failure::new)? {
            Some(s) => {
                if !s.set_env {
                    eprintln!(
                        "sls-secrets: {} sets sls_set_secret_envs: false; leaving the environment alone (--set-env overrides)",
                        s.file.display()
                    );
                }
                s.set_env
            }
            None => true,
        },
    )
}

/// The stage's secrets, from the secrets folder nearest the service folder.
fn stage_secrets(
    ctx: &Context,
    service_dir: &Path,
    stage: String,
) -> Result<Vec<(String, Text)>, Failure> {
    let dir = ctx.secrets_dir_for(service_dir)?;
    let path = store::stage_path(&dir, &stage)?;
    if !path.exists() {
        return Err(store::StoreError::NoStage { stage, path }.into());
    }
    let file = store::open(&path, &ctx.identities()?)?;
    Ok(store::stage_env(&path, &file)?)
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

/// `-o PATH`: the rendered file, atomically, mode 0600.
fn write_output(out: &Path, output: &str) -> Result<u8, Failure> {
    store::write_private(out, output.as_bytes())?;
    eprintln!(
        "sls-secrets: wrote {} (mode 0600; it holds plaintext secrets, do not commit it)",
        out.display()
    );
    Ok(EXIT_OK)
}

/// `--in-place`: replaces the config, refused for a git-tracked file unless `--force` or
/// `CI` (plaintext secrets must not be committed by accident).
fn write_in_place(
    args: &RenderArgs,
    config: &Path,
    output: &str,
    changed: bool,
) -> Result<u8, Failure> {
    if changed && !args.force && std::env::var_os("CI").is_none() {
        let why = match tracked_by_git(config) {
            Ok(false) => None,
            Ok(true) => Some("is tracked by git".to_string()),
            Err(e) => Some(format!("may be tracked by git (can't tell: {e})")),
        };
        if let Some(why) = why {
            return Err(Failure::new(format!(
                "{} {why}; writing plaintext secrets into it risks committing them",
                config.display()
            ))
            .hint("use -o serverless.rendered.yml with `serverless deploy -c`, or pass --force (CI sets CI and is allowed)"));
        }
    }
    if changed {
        store::write_private(config, output.as_bytes())?;
    }
    eprintln!(
        "sls-secrets: {} {}",
        if changed { "rendered" } else { "unchanged:" },
        config.display()
    );
    Ok(EXIT_OK)
}
