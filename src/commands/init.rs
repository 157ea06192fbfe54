//! `init [--age R]... [--kms ARN]...`: writes (or extends, keeping every existing rule)
//! `.sops.yaml` with a creation rule for `secrets/*.yml` and creates `secrets/` at the
//! repository root. With no key named, it uses your age identities, or creates one where
//! sops looks for it. `--git` also sets up the git diff and merge drivers (alone, in a
//! repository whose `.sops.yaml` already has a rule, it does only that).

use std::path::{Path, PathBuf};

use sls_secrets::config::{self, Config};
use sls_secrets::keys::recipient::AgeRecipient;
use sls_secrets::keys::{AgeEnv, AgeIdentities};
use sls_secrets::text::escape_control;
use sls_secrets::{git, git_drivers, gitignore, rule_edit, store, timefmt};
use zeroize::Zeroizing;

use super::{Context, EXIT_OK, Failure};
use crate::cli::InitArgs;

pub(crate) fn run(args: &InitArgs, ctx: &Context) -> Result<u8, Failure> {
    let only_git = args.git && args.age.is_empty() && args.kms.is_empty();
    if !(only_git && has_stage_rule(ctx)?) {
        sops_config(args, ctx)?;
    }
    if args.git {
        git_drivers(ctx)?;
    }
    ignore_artifacts(ctx)?;
    Ok(EXIT_OK)
}

/// `.serverless/` into `.gitignore`: `sls package` writes the secrets there in clear.
fn ignore_artifacts(ctx: &Context) -> Result<(), Failure> {
    let cwd = ctx.cwd()?;
    let root = git::toplevel(&cwd).unwrap_or_else(|_| store::repo_root(&cwd));
    match gitignore::ensure_ignored(&root, &cwd)? {
        gitignore::Ensured::Added => eprintln!(
            "added `{}` to {}: `sls package` writes environment values, secrets included, there in clear",
            gitignore::PATTERN,
            root.join(".gitignore").display()
        ),
        gitignore::Ensured::AlreadyIgnored => {}
        gitignore::Ensured::Refused(why) => eprintln!("warning: {}", escape_control(&why)),
    }
    Ok(())
}

/// `.sops.yaml` and the repository root's `secrets/`.
fn locations(ctx: &Context) -> Result<(PathBuf, PathBuf), Failure> {
    let cwd = ctx.cwd()?;
    let root = store::repo_root(&cwd);
    let cfg_path = config::find(&cwd).unwrap_or_else(|| root.join(config::CONFIG_NAME));
    Ok((cfg_path, root.join(store::SECRETS_DIR)))
}

/// `init --git` in a repository already set up: an existing rule for the stage files is kept
/// as it is, whoever's keys it names.
fn has_stage_rule(ctx: &Context) -> Result<bool, Failure> {
    let (cfg_path, secrets) = locations(ctx)?;
    Ok(cfg_path.is_file() && covered_by_existing_rule(&cfg_path, &secrets, &[], &[])?)
}

/// The diff and merge drivers: `.gitattributes` and the local git config, for the secrets
/// folder of the current folder (a service's own `secrets/` in a monorepo), else the root's.
fn git_drivers(ctx: &Context) -> Result<(), Failure> {
    let git_failure =
        |e: git::GitError| Failure::with_hint(e.to_string(), e.hint().map(str::to_owned));
    let root = git::toplevel(&ctx.cwd()?).map_err(git_failure)?;
    let secrets = ctx
        .secrets_dir()
        .unwrap_or_else(|_| root.join(store::SECRETS_DIR));
    let rel = git::relative(&root, &secrets).ok_or_else(|| {
        Failure::new(format!(
            "the secrets folder {} is outside the git repository {}",
            secrets.display(),
            root.display()
        ))
        .hint("run inside the repository that holds the secrets folder, or pass --secrets-dir")
    })?;
    let probe = store::stage_files(&secrets)
        .ok()
        .and_then(|files| files.into_iter().next())
        .map_or_else(|| "prod".to_owned(), |(stage, _)| stage);
    let exe = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map_err(|e| Failure::new(format!("can't find the sls-secrets binary's path: {e}")))?;
    let installed = git_drivers::install(&root, &rel, &exe, &probe).map_err(|e| match e {
        git_drivers::SetupError::Git(g) => git_failure(g),
        git_drivers::SetupError::Unsafe { .. } => Failure::new(e.to_string()).hint(
            "make .gitattributes a regular file in the repository (or a link to one inside it)",
        ),
        other => Failure::new(other.to_string()),
    })?;
    if installed.done.is_empty() {
        eprintln!("git diff and merge drivers for {rel}/*.yml already set up; nothing to change");
    }
    for line in installed.done {
        eprintln!("wrote {line}");
    }
    for w in installed.warnings {
        eprintln!("warning: {}", escape_control(&w));
    }
    Ok(())
}

fn sops_config(args: &InitArgs, ctx: &Context) -> Result<(), Failure> {
    for r in &args.age {
        // Any recipient sops takes: X25519, an age plugin's, an SSH public key.
        AgeRecipient::parse(r).map_err(|e| Failure::new(e.to_string()))?;
        // sops splits an `age` value at commas, so an SSH comment must not hold one.
        if r.contains(',') {
            return Err(Failure::new(format!(
                "`{}` holds a comma, which sops reads as two recipients",
                escape_control(r)
            ))
            .hint(
                "give each recipient its own --age, and an SSH key without a comma in its comment",
            ));
        }
    }
    for arn in &args.kms {
        if !arn.starts_with("arn:") || !arn.contains(":kms:") {
            return Err(Failure::new(format!("`{arn}` is not a KMS key ARN"))
                .hint("example: arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"));
        }
    }
    let age = if args.age.is_empty() && args.kms.is_empty() {
        own_recipients()?
    } else {
        args.age.clone()
    };
    let kms = &args.kms;
    let (cfg_path, secrets) = locations(ctx)?;
    let existing = match sls_secrets::files::read_text(&cfg_path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Failure::new(format!("{}: {e}", cfg_path.display()))),
    };
    if existing.is_some() && covered_by_existing_rule(&cfg_path, &secrets, &age, kms)? {
        return Ok(());
    }
    // One scalar, quoted when an SSH key's comment needs it (`: ` or ` #`).
    let quoted = [rule_edit::quote(&age.join(","))];
    let listed: &[String] = if age.is_empty() { &[] } else { &quoted };
    let text = config::insert_rule(existing.as_deref(), listed, kms)
        .map_err(|e| Failure::new(format!("{}: {e}", cfg_path.display())))?;
    store::write_atomic(&cfg_path, text.as_bytes(), 0o644)?;
    create_dir(&secrets)?;
    eprintln!(
        "{} {}: stage files in {} are encrypted for {}",
        if existing.is_some() {
            "updated"
        } else {
            "created"
        },
        cfg_path.display(),
        secrets.display(),
        age.iter()
            .chain(kms.iter())
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// The recipients of your age identities, or of a new one created where sops looks.
fn own_recipients() -> Result<Vec<String>, Failure> {
    // The age sources only: an SSH key found in ~/.ssh is not a choice to encrypt for.
    let env = AgeEnv::from_process().age_only();
    let ids = AgeIdentities::load(&env);
    let problems = ids.problems();
    if ids.is_empty() && !problems.is_empty() {
        // The user's identity is only misconfigured (a typo in SOPS_AGE_KEY_FILE): a new one
        // would encrypt the stage files for a key they don't mean to use.
        return Err(
            Failure::new(format!("no usable age identity: {}", problems.join("; ")))
                .hint("fix the variable, or pass --age RECIPIENT"),
        );
    }
    if !ids.is_empty() {
        let mut age = ids.recipients();
        if age.is_empty() {
            // Plugin identities and passphrase-protected identity files don't tell their
            // recipient without the plugin or the passphrase.
            return Err(Failure::new(
                "your age identities don't show their recipients (plugin or passphrase-protected identities)",
            )
            .hint("pass --age RECIPIENT (the recipient of your identity)"));
        }
        age.sort();
        age.dedup();
        return Ok(age);
    }
    let path = env.default_keys_file().ok_or_else(|| {
        Failure::new("no age identity found and no HOME to create one in")
            .hint("pass --age RECIPIENT")
    })?;
    let recipient = create_identity(&path)?;
    eprintln!("created an age identity in {} (mode 0600)", path.display());
    eprintln!("public recipient: {recipient}");
    eprintln!(
        "give CI the private key as a secret variable: SOPS_AGE_KEY=\"$(cat {})\"",
        path.display()
    );
    eprintln!("back it up: without it nobody can open these secrets");
    Ok(vec![recipient])
}

/// `Ok(true)` when `.sops.yaml` already has a rule for `secrets/*.yml` with every key asked
/// for (nothing to do); an error when its rule lacks one of them (we never edit a user's
/// rule in place).
fn covered_by_existing_rule(
    cfg_path: &Path,
    secrets: &Path,
    age: &[String],
    kms: &[String],
) -> Result<bool, Failure> {
    let cfg = Config::load(cfg_path).map_err(|e| Failure::new(e.to_string()))?;
    let probe = std::path::absolute(secrets.join("dev.yml")).unwrap_or(secrets.join("dev.yml"));
    let Some(rule) = cfg
        .rule_for(&probe)
        .map_err(|e| Failure::new(e.to_string()))?
    else {
        return Ok(false);
    };
    let lacks = |kind: &str, id: &str| {
        !rule
            .keys
            .iter()
            .any(|key| key.kind() == kind && sls_secrets::keys::same_id(kind, key.id(), id))
    };
    let missing: Vec<&String> = age
        .iter()
        .filter(|recipient| lacks("age", recipient))
        .collect();
    let missing_kms: Vec<&String> = kms.iter().filter(|arn| lacks("kms", arn)).collect();
    if missing.is_empty() && missing_kms.is_empty() {
        create_dir(secrets)?;
        eprintln!(
            "{} already has a rule for secrets/*.yml (creation_rules[{}]); nothing to change",
            cfg_path.display(),
            rule.index
        );
        return Ok(true);
    }
    let keys: Vec<&String> = missing.into_iter().chain(missing_kms).collect();
    Err(Failure::new(format!(
        "{} already has a rule for secrets/*.yml (creation_rules[{}]) without {}",
        cfg_path.display(),
        rule.index,
        keys.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .hint("add the key to that rule, then run `sls-secrets rotate --all` so existing files use it"))
}

fn create_dir(dir: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(dir).map_err(|e| Failure::new(format!("{}: {e}", dir.display())))
}

/// Writes a new identity to `path` (0600, folder 0700), sops' default location.
fn create_identity(path: &Path) -> Result<String, Failure> {
    let (secret, recipient) = sls_secrets::keys::age::generate();
    if let Some(dir) = path.parent() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir)
            .map_err(|e| Failure::new(format!("{}: {e}", dir.display())))?;
    }
    let created = timefmt::now_utc();
    let text = Zeroizing::new(format!(
        "# created: {created}\n# public key: {recipient}\n{}\n",
        secret.as_str()
    ));
    if path.exists() {
        return Err(Failure::new(format!(
            "{} exists but holds no age identity",
            path.display()
        ))
        .hint("add your identity to it, or pass --age RECIPIENT"));
    }
    store::create_private(path, text.as_bytes())?;
    Ok(recipient)
}
