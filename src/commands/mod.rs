//! The command layer: one file per subcommand, each with one entry point
//! `run(&Args, &Context) -> Result<u8, Failure>`. This file holds only what every command
//! shares: the exit codes, [`Failure`] (one `error:` line plus `hint:` lines, printed once by
//! `main`), and [`Context`] (where the repository, the secrets folder, the stage files and the
//! age identities are). The library (`sls_secrets`) never imports from here.

use std::io::Write;
use std::path::{Path, PathBuf};

use sls_secrets::envname::NameError;
use sls_secrets::keys::{AgeEnv, AgeIdentities};
use sls_secrets::people::{AccessError, Target};
use sls_secrets::seed;
use sls_secrets::stages::{self, Resolution, Sourced, StageRules};
use sls_secrets::store::{self, StoreError};
use sls_secrets::text::{escape_control, escape_control_lines};

pub(crate) mod check;
pub(crate) mod copy;
pub(crate) mod decrypt;
pub(crate) mod diff;
pub(crate) mod edit;
pub(crate) mod exec;
pub(crate) mod export;
pub(crate) mod get;
pub(crate) mod git_diff;
pub(crate) mod git_merge;
pub(crate) mod git_textconv;
pub(crate) mod init;
pub(crate) mod keys;
pub(crate) mod keys_add;
pub(crate) mod keys_remove;
pub(crate) mod list;
pub(crate) mod render;
pub(crate) mod rm;
pub(crate) mod rotate;
pub(crate) mod seal;
pub(crate) mod set;
pub(crate) mod status;
pub(crate) mod wrap;

/// Exit codes (documented in the README).
pub(crate) const EXIT_OK: u8 = 0;
pub(crate) const EXIT_CHANGES: u8 = 1;
pub(crate) const EXIT_ERROR: u8 = 2;

/// A failure as shown to the user: what went wrong, and what to do about it.
pub(crate) struct Failure {
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub(crate) fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            hint: None,
        }
    }

    /// A failure with the library error's own hint, when it has one.
    pub(crate) fn with_hint(message: impl Into<String>, hint: Option<String>) -> Failure {
        Failure {
            message: message.into(),
            hint,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Failure {
        self.hint = Some(hint.into());
        self
    }

    /// Prefixes the message with the stage it concerns, so errors name file, stage and key
    /// (not when it names the stage already: "stage `dev`: stage `dev` has no secrets file").
    pub(crate) fn in_stage(self, stage: &str) -> Failure {
        let named = format!("stage `{stage}`");
        if self.message.starts_with(&named) {
            return self;
        }
        Failure {
            message: format!("{named}: {}", self.message),
            hint: self.hint,
        }
    }

    /// Prints the failure to stderr (the one place errors are printed) and gives the exit code.
    pub(crate) fn report(self) -> u8 {
        // Messages quote key and stage names from files anyone can push: no raw control
        // characters reach the terminal.
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "error: {}", escape_control_lines(&self.message));
        if let Some(h) = self.hint {
            for line in h.lines() {
                let _ = writeln!(err, "hint: {}", escape_control(line));
            }
        }
        EXIT_ERROR
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure {
            hint: e.hint(),
            message: e.to_string(),
        }
    }
}

impl From<NameError> for Failure {
    fn from(e: NameError) -> Failure {
        Failure {
            hint: e.hint().map(str::to_owned),
            message: e.to_string(),
        }
    }
}

impl From<AccessError> for Failure {
    fn from(e: AccessError) -> Failure {
        Failure {
            hint: e.hint(),
            message: e.to_string(),
        }
    }
}

/// `seed.yml`'s `sls_set_secret_envs` (service folder, else repository root), else yes; stderr
/// says when it turns injection off. Shared by `render` and `export`
/// (which the plugin reads), so both honour it the same way.
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

/// Writes command output to stdout; a closed pipe (`| head`) is not an error.
pub(crate) fn print_stdout(s: &str) -> Result<u8, Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(EXIT_OK),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(EXIT_OK),
        Err(e) => Err(Failure::new(format!("writing to stdout: {e}"))),
    }
}

/// Where a command finds things. Built once in `main`; every lookup is lazy, so a command
/// that needs no stage file (or no current folder) never fails on one.
pub(crate) struct Context {
    /// `--secrets-dir` / `SLS_SECRETS_DIR`.
    secrets_dir: Option<PathBuf>,
}

impl Context {
    pub(crate) fn new(secrets_dir: Option<&Path>) -> Context {
        Context {
            secrets_dir: secrets_dir.map(Path::to_owned),
        }
    }

    pub(crate) fn cwd(&self) -> Result<PathBuf, Failure> {
        std::env::current_dir()
            .map_err(|e| Failure::new(format!("can't read the current folder: {e}")))
    }

    /// The secrets folder for the current folder.
    pub(crate) fn secrets_dir(&self) -> Result<PathBuf, Failure> {
        self.secrets_dir_for(&self.cwd()?)
    }

    /// The secrets folder for a service folder: the override, else the nearest `secrets/`.
    pub(crate) fn secrets_dir_for(&self, service_dir: &Path) -> Result<PathBuf, Failure> {
        match &self.secrets_dir {
            Some(d) if d.is_dir() => Ok(d.clone()),
            Some(d) => Err(Failure::new(format!(
                "--secrets-dir {}: no such folder",
                d.display()
            ))),
            None => Ok(store::find_secrets_dir(service_dir)?),
        }
    }

    /// `secrets/<stage>.yml`, which may not exist yet.
    pub(crate) fn stage_file(&self, stage: &str) -> Result<PathBuf, Failure> {
        Ok(store::stage_path(&self.secrets_dir()?, stage)?)
    }

    /// `secrets/<stage>.yml`, which must exist: the stage's own file (what `rm` and `keys`
    /// change), whatever its rule reads.
    pub(crate) fn existing_stage_file(&self, stage: &str) -> Result<PathBuf, Failure> {
        let path = self.stage_file(stage)?;
        if path.exists() {
            return Ok(path);
        }
        let failure = Failure::from(StoreError::NoStage {
            stage: stage.to_owned(),
            path,
        });
        let rules = self.stage_rules_for(&self.cwd()?)?;
        let Some((rules, rule)) = rules
            .as_ref()
            .and_then(|r| r.rule_for(stage).map(|rule| (r, rule)))
        else {
            return Err(failure);
        };
        Err(match &rule.action {
            stages::Action::From(parent) => Failure::new(format!(
                "{}; its secrets come from {parent} ({})",
                failure.message,
                stages::describe_rule(rules, rule)
            ))
            .hint(format!(
                "change them there (`--stage {parent}`), or give {stage} its own value with `sls-secrets set --stage {stage} NAME`"
            )),
            stages::Action::None => Failure::new(format!(
                "{}; it has no secrets on purpose ({})",
                failure.message,
                stages::describe_rule(rules, rule)
            )),
        })
    }

    /// One stage's file, or every stage file of the secrets folder (by stage name).
    pub(crate) fn stage_files(
        &self,
        stage: Option<&str>,
    ) -> Result<Vec<(String, PathBuf)>, Failure> {
        if let Some(s) = stage {
            return Ok(vec![(s.to_owned(), self.existing_stage_file(s)?)]);
        }
        let dir = self.secrets_dir()?;
        let files = store::stage_files(&dir)?;
        if files.is_empty() {
            return Err(Failure::new(format!("no stage files in {}", dir.display())));
        }
        Ok(files)
    }

    /// The stage files `keys add` / `keys remove` change: `--stage S` (its own file) or
    /// `--all`, exactly one of them.
    pub(crate) fn key_scope(&self, stage: Option<&str>, all: bool) -> Result<Vec<Target>, Failure> {
        let files = match (stage, all) {
            (Some(_), true) => {
                return Err(Failure::new("--stage and --all both given; give one")
                    .hint("--stage STAGE changes one stage's file; --all every stage file"));
            }
            (None, false) => {
                return Err(Failure::new("which stage files? give --stage STAGE or --all")
                    .hint("--stage STAGE changes one stage's file (and gives it its own .sops.yaml rule when it shares one); --all every stage file and every rule that matches one"));
            }
            (stage, _) => self.stage_files(stage)?,
        };
        Ok(files
            .into_iter()
            .map(|(stage, path)| Target { stage, path })
            .collect())
    }

    /// The stage rules (`.sls-secrets.yml`) for a service folder: with `--secrets-dir DIR`, the
    /// file next to DIR (in the folder that holds it); else the nearest from the service folder
    /// up to the repository root, as `secrets/` is found.
    pub(crate) fn stage_rules_for(
        &self,
        service_dir: &Path,
    ) -> Result<Option<StageRules>, Failure> {
        self.stage_rules_file_for(service_dir)
            .map(|p| StageRules::load(&p))
            .transpose()
            .map_err(|e| Failure::with_hint(e.to_string(), e.hint()))
    }

    /// Where [`Context::stage_rules_for`] reads the rules from, if there is such a file.
    pub(crate) fn stage_rules_file_for(&self, service_dir: &Path) -> Option<PathBuf> {
        match &self.secrets_dir {
            Some(dir) => std::path::absolute(dir)
                .ok()
                .and_then(|d| d.parent().map(|p| p.join(stages::RULES_FILE)))
                .filter(|p| p.exists()),
            None => stages::find(service_dir),
        }
    }

    /// Where a stage's secrets come from, for a service folder: its own file, or what its rule
    /// says. A stage that gets them by a rule is named on stderr with the rule.
    pub(crate) fn resolve_stage(
        &self,
        service_dir: &Path,
        stage: &str,
    ) -> Result<Resolution, Failure> {
        let dir = self.secrets_dir_for(service_dir)?;
        let rules = self.stage_rules_for(service_dir)?;
        let resolution = stages::resolve(stage, &dir, rules.as_ref())
            .map_err(|e| Failure::with_hint(e.to_string(), e.hint()))?;
        if let Some(note) = resolution.describe(rules.as_ref()) {
            eprintln!("sls-secrets: {}", escape_control(&note));
        }
        Ok(resolution)
    }

    /// The stage's secrets, decrypted, as its rules resolve them (for the current folder).
    pub(crate) fn stage_secrets(&self, stage: &str) -> Result<(Resolution, Vec<Sourced>), Failure> {
        self.stage_secrets_for(&self.cwd()?, stage)
    }

    /// [`Context::stage_secrets`] for a service folder.
    pub(crate) fn stage_secrets_for(
        &self,
        service_dir: &Path,
        stage: &str,
    ) -> Result<(Resolution, Vec<Sourced>), Failure> {
        let resolution = self.resolve_stage(service_dir, stage)?;
        let secrets = resolution.open(&self.identities()?)?;
        Ok((resolution, secrets))
    }

    /// The age identities sops would use (SOPS_AGE_KEY*, keys.txt). A source that can't be
    /// read is not an error here: it is reported only when no key opens the file, as in sops.
    pub(crate) fn identities(&self) -> Result<AgeIdentities, Failure> {
        Ok(AgeIdentities::load(&AgeEnv::from_process()))
    }

    /// The identities, never asking for a passphrase: for git's diff driver, which runs while
    /// git's pager may be reading the same terminal.
    pub(crate) fn identities_without_prompt(&self) -> Result<AgeIdentities, Failure> {
        let env = AgeEnv {
            terminal: false,
            ..AgeEnv::from_process()
        };
        Ok(AgeIdentities::load(&env))
    }
}
