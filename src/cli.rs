//! Command-line interface definition (clap derive only): one `Args` struct per subcommand,
//! handed to its runner in `commands/`.

use std::path::{Path, PathBuf};

use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand};

/// Per-stage secrets for Serverless Framework services, stored in the repo as SOPS files
/// (age or AWS KMS) and injected into serverless.yml at deploy time.
///
/// Exit codes: 0 success; 1 `render --diff --exit-code` or `diff --exit-code` found changes,
/// `check` found problems, `git-merge` found a conflict; 2 error (`exec` returns the command's own code).
#[derive(Parser, Debug)]
#[command(name = "sls-secrets", version, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// Folder holding the stage files (default: the nearest `secrets/` from the current folder up to the repository root)
    // An empty value (`SLS_SECRETS_DIR=`) parses, and `Command::secrets_dir` reads it as unset.
    #[arg(
        long,
        env = "SLS_SECRETS_DIR",
        value_name = "DIR",
        global = true,
        value_parser = clap::builder::OsStringValueParser::new().map(PathBuf::from)
    )]
    pub secrets_dir: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct StageArg {
    /// Stage name: selects secrets/<STAGE>.yml
    #[arg(long, short = 's')]
    pub stage: String,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Set up .sops.yaml with a rule for secrets/*.yml (creating an age key when you have none)
    Init(InitArgs),
    /// Set a secret; the value is read from stdin (hidden on a terminal) or --from-file, never from the command line
    Set(SetArgs),
    /// Print one secret's value
    Get(GetArgs),
    /// List the secret names of a stage (no key needed: names are stored in clear)
    List(ListArgs),
    /// Remove a secret
    Rm(RmArgs),
    /// Copy secrets from one stage to another, encrypted for the target's .sops.yaml rule (values byte-exact)
    Copy(CopyArgs),
    /// Decrypt any SOPS YAML file to plaintext YAML on stdout, like `sops decrypt`
    Decrypt(DecryptArgs),
    /// Rewrite serverless.yml with the stage's secrets in its environment (stdout, -o, --in-place or --diff)
    Render(RenderArgs),
    /// Run a command with the stage's secrets in its environment (no shell, nothing on disk)
    Exec(ExecArgs),
    /// Edit a stage's secrets in $VISUAL/$EDITOR (plaintext only in a private temporary folder)
    Edit(EditArgs),
    /// New data key for a stage file, wrapped for the keys .sops.yaml asks for now
    Rotate(RotateArgs),
    /// Show who can open each stage file; `keys add` / `keys remove` a person's key
    #[command(args_conflicts_with_subcommands = true)]
    Keys(KeysArgs),
    /// Show the secrets added, removed and changed between two revisions (values masked)
    Diff(DiffArgs),
    /// Check the stage files for CI and pre-commit: encrypted, valid names, recipients (no key needed)
    Check(CheckArgs),
    /// git's external diff driver (set up by `init --git`): a masked key-level diff
    #[command(name = "git-diff", hide = true)]
    GitDiff(GitDiffArgs),
    /// git's merge driver (set up by `init --git`): a three-way merge per key
    #[command(name = "git-merge", hide = true)]
    GitMerge(GitMergeArgs),
    /// git's textconv (set up by `init --git`): one version of a stage file, values masked
    #[command(name = "git-textconv", hide = true)]
    GitTextconv(GitTextconvArgs),
    /// Print the stage's secrets as JSON or shell assignments, for the Serverless plugin and scripts (to a pipe only)
    Export(ExportArgs),
    /// Lambda exec wrapper (sealed delivery): open the function's sealed secrets, then exec the runtime with them
    Wrap(WrapArgs),
    /// Seal each function's secrets for one KMS key, for the Serverless plugin (docs/sealed.md)
    #[command(hide = true)]
    Seal(SealArgs),
    /// Which deployed functions are behind git: names current, stale, missing or extra (never a value); exit 1 when a stage needs a redeploy
    Status(StatusArgs),
}

impl Command {
    /// The `--secrets-dir` override of the commands that read stage files; empty is unset.
    pub fn secrets_dir(&self) -> Option<&Path> {
        let store = match self {
            Command::Init(_)
            | Command::Decrypt(_)
            | Command::GitDiff(_)
            | Command::GitMerge(_)
            | Command::GitTextconv(_)
            | Command::Wrap(_) => {
                return None;
            }
            Command::Set(a) => &a.store,
            Command::Get(a) => &a.store,
            Command::List(a) => &a.store,
            Command::Rm(a) => &a.store,
            Command::Copy(a) => &a.store,
            Command::Render(a) => &a.store,
            Command::Exec(a) => &a.store,
            Command::Edit(a) => &a.store,
            Command::Rotate(a) => &a.store,
            Command::Keys(a) => &a.store,
            Command::Diff(a) => &a.store,
            Command::Check(a) => &a.store,
            Command::Export(a) => &a.store,
            Command::Seal(a) => &a.store,
            Command::Status(a) => &a.store,
        };
        store
            .secrets_dir
            .as_deref()
            .filter(|d| !d.as_os_str().is_empty())
    }
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// age recipient that can open the stage files: age1..., an age plugin's age1<name>1...,
    /// or an SSH public key ("ssh-ed25519 AAAA... you@host"); repeatable
    #[arg(long = "age", value_name = "RECIPIENT", allow_hyphen_values = true)]
    pub age: Vec<String>,
    /// AWS KMS key ARN that can open the stage files; repeatable
    #[arg(long = "kms", value_name = "ARN")]
    pub kms: Vec<String>,
    /// Also set up git: `.gitattributes` and the local git config for the diff and merge drivers
    #[arg(long)]
    pub git: bool,
}

#[derive(Args, Debug)]
pub struct SetArgs {
    #[command(flatten)]
    pub stage: StageArg,
    /// Environment variable name
    pub key: String,
    /// Read the value from this file (exact bytes) instead of stdin
    #[arg(long, value_name = "PATH")]
    pub from_file: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct GetArgs {
    #[command(flatten)]
    pub stage: StageArg,
    pub key: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub stage: StageArg,
    /// Print a JSON array
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    #[command(flatten)]
    pub stage: StageArg,
    pub key: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct CopyArgs {
    /// The stage to copy from (what it resolves to, its stage rule included)
    #[arg(long, value_name = "STAGE")]
    pub from: String,
    /// The stage to copy into (its own file, created by its .sops.yaml rule if needed)
    #[arg(long, value_name = "STAGE")]
    pub to: String,
    /// Only these names (default: every secret of --from)
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// Replace names the target already has (refused otherwise)
    #[arg(long)]
    pub overwrite: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct DecryptArgs {
    pub file: PathBuf,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    #[command(flatten)]
    pub stage: StageArg,
    /// Give the command only the secrets plus PATH and HOME
    #[arg(long)]
    pub pristine: bool,
    /// Replace secret values (4+ characters) in the command's output with ***
    #[arg(long)]
    pub mask_output: bool,
    /// Pass this variable from the stage file even though it can change what the build runs
    /// or loads (PATH, GIT_*, NODE_OPTIONS...); repeatable
    #[arg(long = "allow", value_name = "NAME")]
    pub allow: Vec<String>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// The command and its arguments, after `--`
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Args, Debug)]
pub struct EditArgs {
    #[command(flatten)]
    pub stage: StageArg,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct RotateArgs {
    /// Stage to rotate
    #[arg(
        long,
        short = 's',
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub stage: Option<String>,
    /// Rotate every stage file
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub action: Option<KeysAction>,
    /// Only this stage
    #[arg(long, short = 's')]
    pub stage: Option<String>,
    /// Also wrap the stage's current data key for this AWS KMS key (ARN, or ARN+ROLE_ARN);
    /// values are unchanged. Needs --stage and a key that opens the file now
    #[arg(long, value_name = "ARN", requires = "stage")]
    pub add_kms: Option<String>,
    /// Encryption context for --add-kms, KEY=VALUE; repeatable
    #[arg(long, value_name = "KEY=VALUE", requires = "add_kms")]
    pub context: Vec<String>,
    /// AWS shared-config profile recorded for --add-kms (sops' aws_profile)
    #[arg(long, value_name = "PROFILE", requires = "add_kms")]
    pub aws_profile: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Subcommand, Debug)]
pub enum KeysAction {
    /// Give a key (a new teammate, a CI machine) access: added to .sops.yaml's rules, and each
    /// stage file's data key wrapped for it (values unchanged)
    Add(KeysAddArgs),
    /// Take a key's access away: out of .sops.yaml's rules, each stage file re-encrypted with a
    /// new data key; then a report of what it could read (offboarding)
    Remove(KeysRemoveArgs),
}

/// Which stage files `keys add` / `keys remove` change: exactly one of the two.
#[derive(Args, Debug)]
pub struct KeyScopeArgs {
    /// Only this stage's file (a .sops.yaml rule it shares with other stages is split, so they
    /// are unaffected)
    #[arg(long, short = 's')]
    pub stage: Option<String>,
    /// Every stage file, and every .sops.yaml rule that matches one
    #[arg(long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct KeysAddArgs {
    /// An age recipient: age1... (or age1<plugin>1... for an age plugin)
    // Hyphen values reach our check, which never echoes a private key (clap's error would).
    #[arg(long, value_name = "RECIPIENT", allow_hyphen_values = true)]
    pub age: Option<String>,
    /// An SSH public key, quoted: "ssh-ed25519 AAAA... alice@laptop" (or ssh-rsa, 2048 bits or more)
    #[arg(long, value_name = "KEY", allow_hyphen_values = true)]
    pub ssh: Option<String>,
    /// An SSH public key file (id_ed25519.pub; GitHub serves a user's at github.com/USER.keys)
    #[arg(long, value_name = "PATH")]
    pub ssh_file: Option<PathBuf>,
    #[command(flatten)]
    pub scope: KeyScopeArgs,
}

#[derive(Args, Debug)]
pub struct KeysRemoveArgs {
    /// The key as .sops.yaml or the stage files list it (age1..., an SSH key with or without
    /// its comment), or an SSH key's SHA256 fingerprint as `keys` shows it
    #[arg(value_name = "RECIPIENT", allow_hyphen_values = true)]
    pub recipient: Option<String>,
    /// Or the SSH public key file of the key to remove
    #[arg(long, value_name = "PATH")]
    pub ssh_file: Option<PathBuf>,
    #[command(flatten)]
    pub scope: KeyScopeArgs,
    /// Print the offboarding report as JSON (shape in the README)
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("write").args(["output", "in_place"]))]
pub struct RenderArgs {
    /// Stage (default: a literal provider.stage, else the default of ${opt:stage, 'X'}, else dev)
    #[arg(long, short = 's')]
    pub stage: Option<String>,
    /// The Serverless config (default: serverless.yml, then serverless.yaml, in the current folder)
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Write the rendered file here (atomically, mode 0600; `-` is stdout): a new path or a
    /// regular file outside the secrets folder, refused when tracked by git unless --force or CI
    #[arg(long, short = 'o', value_name = "PATH", conflicts_with_all = ["in_place", "diff"])]
    pub output: Option<PathBuf>,
    /// Replace the config file itself (refused for a file tracked by git unless --force or CI is set)
    #[arg(long, conflicts_with = "diff")]
    pub in_place: bool,
    /// With -o or --in-place: write even though the file is tracked by git
    #[arg(long, requires = "write")]
    pub force: bool,
    /// Print a unified diff of the config against the rendered file (secrets masked) and write nothing
    #[arg(long)]
    pub diff: bool,
    /// With --diff: show the secret values instead of ****
    #[arg(long, requires = "diff")]
    pub show_values: bool,
    /// With --diff: exit 1 when the rendered file differs
    #[arg(long, requires = "diff")]
    pub exit_code: bool,
    /// Set the secrets as Lambda environment variables even if seed.yml says sls_set_secret_envs: false
    #[arg(long, conflicts_with = "no_set_env")]
    pub set_env: bool,
    /// Leave the environment alone (as seed.yml's sls_set_secret_envs: false)
    #[arg(long)]
    pub no_set_env: bool,
    /// The framework that reads the file (default: from package.json, else frameworkVersion, else v3); v4 has no escape for `${`
    #[arg(long, value_enum, value_name = "NAME")]
    pub framework: Option<FrameworkArg>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameworkArg {
    // Plain comments: documented variants would switch clap to the long help layout.
    // Serverless Framework v3.
    V3,
    // Serverless Framework v4.
    V4,
    // osls, the open fork (3.x and 4.x).
    Osls,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// Old revision (default: HEAD)
    #[arg(value_name = "REV_A")]
    pub rev_a: Option<String>,
    /// New revision (default: the working tree)
    #[arg(value_name = "REV_B")]
    pub rev_b: Option<String>,
    /// Only this stage
    #[arg(long, short = 's', conflicts_with = "all")]
    pub stage: Option<String>,
    /// Every stage file (the default)
    #[arg(long)]
    pub all: bool,
    /// Show the secret values instead of **** (needs a key)
    #[arg(long)]
    pub show_values: bool,
    /// Exit 1 when anything changed
    #[arg(long)]
    pub exit_code: bool,
    /// Print JSON (shape in docs/git.md)
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub stage: StageArg,
    /// json: {"version":1,"stage":..,"setEnv":..,"secrets":{NAME:value}}; env: `export NAME='value'` lines for a POSIX shell
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Print even when stdout is a terminal or a regular file (made 0600); never a stage file, a file in secrets/ or a sops file
    #[arg(long)]
    pub force: bool,
    /// Export even if seed.yml says sls_set_secret_envs: false
    #[arg(long)]
    pub set_env: bool,
    /// A stage with no secrets file exports nothing (JSON: "missing": PATH) instead of failing: for local runs, never for a deploy
    #[arg(long)]
    pub allow_missing: bool,
    /// Read the resolved service (JSON on stdin, from the Serverless plugin) and add where each secret goes by Lambda's rules ("place")
    #[arg(long)]
    pub place: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct SealArgs {
    #[command(flatten)]
    pub stage: StageArg,
    /// The KMS key ARN the payloads are sealed for (custom.slsSecrets.kmsKeyArn)
    #[arg(long, value_name = "ARN")]
    pub kms_key: String,
    /// The Serverless service's name: with the stage, the KMS encryption context the payloads are bound to
    #[arg(long, value_name = "NAME")]
    pub service: String,
    /// Folder the payloads are written to, one `<function>.yml` each (created)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The stage whose stack is compared
    #[arg(long, short = 's', conflicts_with = "all")]
    pub stage: Option<String>,
    /// Every stage with a stage file (a stage with no stack is listed as not deployed)
    #[arg(long)]
    pub all: bool,
    /// Print JSON (names only; shape in the README)
    #[arg(long)]
    pub json: bool,
    /// The Serverless config (default: serverless.yml, then serverless.yaml, in the current folder)
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// AWS region of the stack (default: a literal provider.region, else us-east-1, as Serverless)
    #[arg(long)]
    pub region: Option<String>,
    /// AWS shared-config profile (default: the credential chain, AWS_PROFILE included)
    #[arg(long, value_name = "PROFILE")]
    pub aws_profile: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct WrapArgs {
    /// The runtime and its arguments, after `--` (what Lambda passes AWS_LAMBDA_EXEC_WRAPPER)
    #[arg(last = true, required = true, value_name = "RUNTIME")]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Args, Debug)]
pub struct GitDiffArgs {
    /// What git passes: PATH OLD-FILE OLD-HEX OLD-MODE NEW-FILE NEW-HEX NEW-MODE (or PATH alone
    /// for an unmerged path)
    #[arg(required = true, num_args = 1..=7, value_name = "ARG")]
    pub args: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct GitTextconvArgs {
    /// The file git asks to convert
    pub file: PathBuf,
}

#[derive(Args, Debug)]
pub struct GitMergeArgs {
    /// %O: the common ancestor's version
    pub base: PathBuf,
    /// %A: the current branch's version; receives the result
    pub ours: PathBuf,
    /// %B: the other branch's version
    pub theirs: PathBuf,
    /// %P: the path in the repository
    pub path: PathBuf,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Only this stage
    #[arg(long, short = 's')]
    pub stage: Option<String>,
    /// Also fail when a name is missing from some stage files
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Json,
    Env,
}
