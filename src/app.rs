//! Runs a parsed command line: resolves paths and keys, calls the library, prints results,
//! and turns every failure into one `error:` line plus an optional `hint:` (exit code 2).

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use zeroize::Zeroizing;

use crate::cli::{Cli, Command, StoreArgs};
use crate::config;
use crate::envname;
use crate::keys::{AgeEnv, AgeIdentities};
use crate::store::{self, StoreError};
use crate::yaml::{MapItem, Text, Value};

/// Exit codes (documented in the README).
pub const EXIT_OK: u8 = 0;
pub const EXIT_CHANGES: u8 = 1;
pub const EXIT_ERROR: u8 = 2;

/// A failure as shown to the user: what went wrong, and what to do about it.
pub struct Failure {
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Failure {
        self.hint = Some(hint.into());
        self
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

pub fn run(cli: Cli) -> ExitCode {
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "error: {}", f.message);
            if let Some(h) = f.hint {
                for line in h.lines() {
                    let _ = writeln!(err, "hint: {line}");
                }
            }
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Prefixes a failure with the stage it concerns, so errors name file, stage and key.
fn in_stage(stage: &str) -> impl FnOnce(Failure) -> Failure + '_ {
    move |f| Failure {
        message: format!("stage `{stage}`: {}", f.message),
        hint: f.hint,
    }
}

fn dispatch(cli: Cli) -> Result<u8, Failure> {
    match cli.command {
        Command::Init { age, kms } => init(age, kms),
        Command::Set {
            stage,
            key,
            from_file,
            store,
        } => set(&store, &stage.stage, &key, from_file.as_deref()).map_err(in_stage(&stage.stage)),
        Command::Get { stage, key, store } => {
            get(&store, &stage.stage, &key).map_err(in_stage(&stage.stage))
        }
        Command::List { stage, json, store } => {
            list(&store, &stage.stage, json).map_err(in_stage(&stage.stage))
        }
        Command::Rm { stage, key, store } => {
            rm(&store, &stage.stage, &key).map_err(in_stage(&stage.stage))
        }
        Command::Decrypt { file } => decrypt(&file),
        Command::Render(args) => crate::render_command::run(&args),
        Command::Exec {
            stage,
            pristine,
            mask_output,
            store,
            command,
        } => exec(&store, &stage.stage, pristine, mask_output, &command)
            .map_err(in_stage(&stage.stage)),
        Command::Edit { stage, store } => {
            crate::edit::edit(&store, &stage.stage).map_err(in_stage(&stage.stage))
        }
        Command::Rotate { stage, all, store } => rotate(&store, stage.as_deref(), all),
        Command::Keys {
            stage,
            add_kms: Some(arn),
            context,
            aws_profile,
            store,
        } => add_kms(
            &store,
            stage.as_deref().unwrap_or_default(),
            &arn,
            &context,
            aws_profile,
        ),
        Command::Keys { stage, store, .. } => keys(&store, stage.as_deref()),
    }
}

fn exec(
    args: &StoreArgs,
    stage: &str,
    pristine: bool,
    mask_output: bool,
    command: &[std::ffi::OsString],
) -> Result<u8, Failure> {
    let path = existing_stage_file(args, stage)?;
    let file = store::open(&path, &identities()?)?;
    let env = stage_env(&path, &file)?;
    drop(file);
    for (name, value) in &env {
        check_name(name).map_err(|f| Failure::new(format!("{}: {}", path.display(), f.message)))?;
        if value.contains('\0') {
            return Err(Failure::new(format!(
                "{}: secret `{name}` contains a NUL byte, which an environment variable can't hold",
                path.display()
            ))
            .hint(format!(
                "set it again without the NUL: sls-secrets set --stage {stage} {name}"
            )));
        }
        if crate::exec::hijacks_process(name) {
            return Err(Failure::new(format!(
                "{}: `{name}` would change which program runs or what it loads; exec refuses to set it",
                path.display()
            ))
            .hint("rename the secret; set such variables in the build itself"));
        }
    }
    let overridden = crate::exec::overridden(&env);
    if !overridden.is_empty() && !pristine {
        eprintln!(
            "sls-secrets: secrets override inherited {}",
            overridden.join(", ")
        );
    }
    if mask_output {
        let short: Vec<&str> = env
            .iter()
            .filter(|(_, v)| !v.is_empty() && v.chars().count() < crate::exec::MIN_MASK_LEN)
            .map(|(k, _)| k.as_str())
            .collect();
        if !short.is_empty() {
            eprintln!(
                "sls-secrets: warning: not masking {} (values shorter than {} characters)",
                short.join(", "),
                crate::exec::MIN_MASK_LEN
            );
        }
    }
    let opts = crate::exec::ExecOptions {
        pristine,
        mask_output,
    };
    crate::exec::run(command, &env, &opts).map_err(|e| Failure::new(e.to_string()))
}

/// Stage files of the secrets folder, by stage name.
fn all_stage_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, Failure> {
    let mut out = Vec::new();
    let entries =
        std::fs::read_dir(dir).map_err(|e| Failure::new(format!("{}: {e}", dir.display())))?;
    for e in entries.flatten() {
        let p = e.path();
        let (Some(stem), Some(ext)) = (p.file_stem(), p.extension()) else {
            continue;
        };
        if (ext == "yml" || ext == "yaml") && !stem.to_string_lossy().starts_with('.') {
            out.push((stem.to_string_lossy().into_owned(), p));
        }
    }
    out.sort();
    Ok(out)
}

fn selected_stages(
    args: &StoreArgs,
    stage: Option<&str>,
) -> Result<Vec<(String, PathBuf)>, Failure> {
    match stage {
        Some(s) => Ok(vec![(s.to_owned(), existing_stage_file(args, s)?)]),
        None => {
            let dir = secrets_dir(args)?;
            let files = all_stage_files(&dir)?;
            if files.is_empty() {
                return Err(Failure::new(format!("no stage files in {}", dir.display())));
            }
            Ok(files)
        }
    }
}

fn rotate(args: &StoreArgs, stage: Option<&str>, _all: bool) -> Result<u8, Failure> {
    let ids = identities()?;
    let stages = selected_stages(args, stage)?;
    let _lock = store::lock_dir(stages[0].1.parent().unwrap_or(Path::new(".")))?;
    // Open and plan every file before writing any: a file that can't be decrypted stops the
    // whole rotation with nothing written (sops once wrote an empty file here).
    let mut planned = Vec::new();
    for (stage, path) in &stages {
        let file = store::open(path, &ids).map_err(|e| in_stage(stage)(e.into()))?;
        let rule = store::creation_rule(path)?;
        let key = crate::sops::DataKey::generate()
            .map_err(|e| Failure::new(format!("random number generator: {e}")))?;
        let (age, kms) = store::wrap_for_rule(path, &key, &rule)?;
        // `save` checks the values against the new key in memory; check the new age wrap too
        // where one of our identities is among the recipients (a KMS check would cost a call).
        if let Some(opened) = ids.unwrap(&age)
            && opened.expose() != key.expose()
        {
            return Err(Failure::new(format!(
                "stage `{stage}`: internal error: the new data key's age wrap does not open to it; nothing was written"
            )));
        }
        let mut file = file;
        file.set_key(key);
        file.meta.set_age(age);
        file.meta.set_kms(kms);
        planned.push((stage, path, file, rule));
    }
    for (stage, path, mut file, rule) in planned {
        store::save(path, &mut file)?;
        let names: Vec<&str> = rule
            .age
            .iter()
            .map(String::as_str)
            .chain(rule.kms.iter().map(|k| k.arn.as_str()))
            .collect();
        eprintln!(
            "rotated {} (stage {stage}): new data key for {}",
            path.display(),
            names.join(", ")
        );
    }
    Ok(EXIT_OK)
}

/// `keys --add-kms ARN`: wraps the stage's current data key for one more KMS key. Values and
/// their ciphertexts are unchanged; only the `sops:` block gains an entry.
fn add_kms(
    args: &StoreArgs,
    stage: &str,
    arn: &str,
    context: &[String],
    aws_profile: Option<String>,
) -> Result<u8, Failure> {
    let mut spec = crate::keys::KmsKeySpec::parse(arn).map_err(|e| {
        let hint = e.hint();
        let f = Failure::new(e.to_string());
        match hint {
            Some(h) => f.hint(h),
            None => f,
        }
    })?;
    for kv in context {
        let Some((k, v)) = kv.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(Failure::new(format!("--context `{kv}` is not KEY=VALUE"))
                .hint("example: --context stage=prod"));
        };
        spec.context.retain(|(old, _)| old != k);
        spec.context.push((k.to_owned(), v.to_owned()));
    }
    spec.aws_profile = aws_profile.unwrap_or_default();
    let path = existing_stage_file(args, stage)?;
    let ids = identities()?;
    let _lock = store::lock_dir(path.parent().unwrap_or(Path::new(".")))?;
    let mut file = store::open(&path, &ids)?;
    store::add_kms_key(&path, &mut file, &spec)?;
    store::save(&path, &mut file)?;
    eprintln!(
        "{} (stage {stage}) can now also be opened with KMS key {}; values unchanged",
        path.display(),
        spec.arn
    );
    Ok(EXIT_OK)
}

fn keys(args: &StoreArgs, stage: Option<&str>) -> Result<u8, Failure> {
    let mut out = String::new();
    for (stage, path) in selected_stages(args, stage)? {
        let file = read_encrypted(&path)?;
        let meta = &file.meta;
        out.push_str(&format!("{} (stage {stage})\n", path.display()));
        for a in &meta.age {
            out.push_str(&format!("  age  {}\n", a.recipient));
        }
        for k in &meta.kms {
            let mut extra = Vec::new();
            if !k.aws_profile.is_empty() {
                extra.push(format!("profile {}", k.aws_profile));
            }
            if !k.role.is_empty() {
                extra.push(format!("role {}", k.role));
            }
            let extra = if extra.is_empty() {
                String::new()
            } else {
                format!(" ({})", extra.join(", "))
            };
            out.push_str(&format!("  kms  {}{extra}\n", k.arn));
        }
        for f in &meta.foreign_keys {
            out.push_str(&format!("  {f}  (not usable by sls-secrets)\n"));
        }
        out.push_str(&format!("  last modified: {}\n", meta.lastmodified));
        out.push_str(&format!(
            "  data key last wrapped: {}\n",
            last_wrapped(&path, meta)
        ));
        match store::creation_rule(&path) {
            Ok(rule) => {
                let have_age: Vec<&String> = meta.age.iter().map(|a| &a.recipient).collect();
                let have_kms: Vec<&String> = meta.kms.iter().map(|k| &k.arn).collect();
                let mut diff = Vec::new();
                diff.extend(
                    rule.age
                        .iter()
                        .filter(|r| !have_age.contains(r))
                        .map(|r| format!("+ age {r}")),
                );
                diff.extend(
                    have_age
                        .iter()
                        .filter(|r| !rule.age.contains(r))
                        .map(|r| format!("- age {r}")),
                );
                diff.extend(
                    rule.kms
                        .iter()
                        .filter(|k| !have_kms.contains(&&k.arn))
                        .map(|k| format!("+ kms {}", k.arn)),
                );
                diff.extend(
                    have_kms
                        .iter()
                        .filter(|a| !rule.kms.iter().any(|k| &k.arn == **a))
                        .map(|a| format!("- kms {a}")),
                );
                if diff.is_empty() {
                    out.push_str("  .sops.yaml: up to date\n");
                } else {
                    out.push_str(&format!(
                        "  .sops.yaml (creation_rules[{}]) asks for different keys; run `sls-secrets rotate --stage {stage}`:\n",
                        rule.index
                    ));
                    for d in diff {
                        out.push_str(&format!("    {d}\n"));
                    }
                    if let Some(k) = rule.kms.iter().find(|k| !have_kms.contains(&&k.arn)) {
                        out.push_str(&format!(
                            "  or keep the data key and add a KMS key: `sls-secrets keys --stage {stage} --add-kms {}`\n",
                            k.arn
                        ));
                    }
                }
            }
            Err(e) => out.push_str(&format!("  .sops.yaml: {e}\n")),
        }
    }
    print_stdout(&out)
}

/// When the data key was last wrapped: the KMS `created_at`, else the date of the commit that
/// introduced the current age stanza (sops records no time for age).
fn last_wrapped(path: &Path, meta: &crate::sops::Metadata) -> String {
    if let Some(k) = meta.kms.iter().map(|k| &k.created_at).max() {
        return k.clone();
    }
    let Some(stanza) = meta.age.first() else {
        return "unknown".into();
    };
    // A line of the armored body is unique to this wrapping.
    let Some(needle) = stanza.enc.lines().nth(2) else {
        return "unknown".into();
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["log", "-1", "--format=%cI", "-S", needle, "--"])
        .arg(path.file_name().unwrap_or_default())
        .stderr(std::process::Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() && !o.stdout.is_empty() => {
            format!(
                "{} (git commit date)",
                String::from_utf8_lossy(&o.stdout).trim()
            )
        }
        _ => "not recorded (not committed to git yet)".into(),
    }
}

fn cwd() -> Result<PathBuf, Failure> {
    std::env::current_dir().map_err(|e| Failure::new(format!("can't read the current folder: {e}")))
}

pub(crate) fn secrets_dir(args: &StoreArgs) -> Result<PathBuf, Failure> {
    secrets_dir_from(args, &cwd()?)
}

/// The secrets folder for a service folder: the override, else the nearest `secrets/`.
pub(crate) fn secrets_dir_from(args: &StoreArgs, service_dir: &Path) -> Result<PathBuf, Failure> {
    match &args.secrets_dir {
        Some(d) if d.is_dir() => Ok(d.clone()),
        Some(d) => Err(Failure::new(format!(
            "--secrets-dir {}: no such folder",
            d.display()
        ))),
        None => Ok(store::find_secrets_dir(service_dir)?),
    }
}

pub(crate) fn identities() -> Result<AgeIdentities, Failure> {
    AgeIdentities::load(&AgeEnv::from_process()).map_err(|e| Failure::new(e.to_string()))
}

fn stage_file(args: &StoreArgs, stage: &str) -> Result<PathBuf, Failure> {
    Ok(store::stage_path(&secrets_dir(args)?, stage)?)
}

pub(crate) fn existing_stage_file(args: &StoreArgs, stage: &str) -> Result<PathBuf, Failure> {
    let path = stage_file(args, stage)?;
    if !path.exists() {
        return Err(StoreError::NoStage {
            stage: stage.to_owned(),
            path,
        }
        .into());
    }
    Ok(path)
}

/// The stage's secrets as environment strings, in file order.
pub fn stage_env(
    path: &Path,
    file: &crate::sops::PlainFile,
) -> Result<Vec<(String, Text)>, Failure> {
    let mut out = Vec::new();
    for item in file.top() {
        let MapItem::Entry(name, value) = item else {
            continue;
        };
        let text = match value {
            Value::Str(s) | Value::Time(s) => s.clone(),
            Value::Int(i) => Text::new(i.to_string()),
            Value::Float(f) => Text::new(crate::sops::tree::format_go_float(*f)),
            Value::Bool(b) => Text::new(b.to_string()),
            Value::Null => Text::new(String::new()),
            Value::Map(_) | Value::Seq(_) => {
                return Err(Failure::new(format!(
                    "{}: `{name}` is a nested mapping or list; a stage file maps variable names to values",
                    path.display()
                )));
            }
        };
        out.push((name.clone(), text));
    }
    Ok(out)
}

/// Stage secrets are always encrypted: refuse a name the file's rule would leave in clear.
pub(crate) fn refuse_unencrypted(
    path: &Path,
    rule: &crate::sops::rules::Rule,
    name: &str,
) -> Result<(), Failure> {
    if rule.encrypts(&[name.to_owned()]) {
        return Ok(());
    }
    Err(Failure::new(format!(
        "{}: `{name}` would be stored unencrypted (the file's rule is `{}: {}`)",
        path.display(),
        rule.key(),
        rule.text()
    ))
    .hint("pick a name the rule encrypts; to keep a non-secret value in clear, use `sops set`"))
}

pub(crate) fn check_name(name: &str) -> Result<(), Failure> {
    if name == "sops" {
        return Err(Failure::new(
            "`sops` is the name of the metadata block of a sops file; pick another name",
        ));
    }
    envname::check(name).map_err(|e| {
        let f = Failure::new(e.to_string());
        match e {
            envname::NameError::Reserved(_) => {
                f.hint("Lambda sets this variable itself; pick another name")
            }
            envname::NameError::Invalid(_) => f.hint("example: DB_PASSWORD"),
        }
    })
}

/// The secret value from `--from-file` (exact bytes) or stdin (hidden prompt on a terminal;
/// one trailing newline removed when piped).
fn read_value(key: &str, from_file: Option<&Path>) -> Result<Text, Failure> {
    let bytes = match from_file {
        Some(p) => Zeroizing::new(
            std::fs::read(p).map_err(|e| Failure::new(format!("{}: {e}", p.display())))?,
        ),
        None if std::io::stdin().is_terminal() => {
            let v = rpassword::prompt_password(format!("Value for {key} (input hidden): "))
                .map_err(|e| Failure::new(format!("reading the value: {e}")))?;
            Zeroizing::new(v.into_bytes())
        }
        None => {
            let mut buf = Zeroizing::new(Vec::new());
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| Failure::new(format!("reading the value from stdin: {e}")))?;
            if buf.ends_with(b"\n") {
                buf.pop();
                if buf.ends_with(b"\r") {
                    buf.pop();
                }
            }
            buf
        }
    };
    match std::str::from_utf8(&bytes) {
        Ok(s) => Ok(Text::new(s.to_owned())),
        Err(_) => Err(
            Failure::new(format!("the value for `{key}` is not UTF-8 text"))
                .hint("binary values can be stored base64-encoded"),
        ),
    }
}

fn set(args: &StoreArgs, stage: &str, key: &str, from_file: Option<&Path>) -> Result<u8, Failure> {
    check_name(key)?;
    store::check_stage(stage)?;
    let value = read_value(key, from_file)?;
    let path = stage_file(args, stage)?;
    let ids = identities()?;
    let _lock = store::lock_dir(path.parent().unwrap_or(Path::new(".")))?;
    let (mut file, created) = store::open_or_create(&path, &ids)?;
    refuse_unencrypted(&path, &file.meta.rule, key)?;
    let items = file.top_mut();
    let existing = items.iter_mut().find_map(|i| match i {
        MapItem::Entry(k, v) if k == key => Some(v),
        _ => None,
    });
    let verb = match existing {
        Some(v) => {
            *v = Value::Str(value);
            "updated"
        }
        None => {
            items.push(MapItem::Entry(key.to_owned(), Value::Str(value)));
            "added"
        }
    };
    store::save(&path, &mut file)?;
    eprintln!(
        "{verb} `{key}` in {}{}",
        path.display(),
        if created { " (new stage file)" } else { "" }
    );
    Ok(EXIT_OK)
}

fn get(args: &StoreArgs, stage: &str, key: &str) -> Result<u8, Failure> {
    let path = existing_stage_file(args, stage)?;
    let file = store::open(&path, &identities()?)?;
    let env = stage_env(&path, &file)?;
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

/// A stage file parsed but not decrypted: names and metadata need no key.
fn read_encrypted(path: &Path) -> Result<crate::sops::EncryptedFile, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::new(format!("{}: {e}", path.display())))?;
    crate::sops::parse(&text).map_err(|source| {
        Failure::from(StoreError::Sops {
            path: path.to_owned(),
            source,
        })
    })
}

fn list(args: &StoreArgs, stage: &str, json: bool) -> Result<u8, Failure> {
    let path = existing_stage_file(args, stage)?;
    let file = read_encrypted(&path)?;
    let names: Vec<&str> = file
        .docs
        .first()
        .map(|d| {
            d.items
                .iter()
                .filter_map(|i| match i {
                    MapItem::Entry(k, _) => Some(k.as_str()),
                    MapItem::Comment(_) => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = String::new();
    if json {
        out.push('[');
        for (i, n) in names.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&json_string(n));
        }
        out.push_str("]\n");
    } else {
        for n in names {
            out.push_str(n);
            out.push('\n');
        }
    }
    print_stdout(&out)
}

fn json_string(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

pub(crate) fn print_stdout(s: &str) -> Result<u8, Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(EXIT_OK),
        // A closed pipe (`| head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(EXIT_OK),
        Err(e) => Err(Failure::new(format!("writing to stdout: {e}"))),
    }
}

fn rm(args: &StoreArgs, stage: &str, key: &str) -> Result<u8, Failure> {
    let path = existing_stage_file(args, stage)?;
    let ids = identities()?;
    let _lock = store::lock_dir(path.parent().unwrap_or(Path::new(".")))?;
    let mut file = store::open(&path, &ids)?;
    let items = file.top_mut();
    let before = items.len();
    items.retain(|i| !matches!(i, MapItem::Entry(k, _) if k == key));
    if items.len() == before {
        return Err(Failure::new(format!(
            "no secret `{key}` in {}",
            path.display()
        )));
    }
    store::save(&path, &mut file)?;
    eprintln!("removed `{key}` from {}", path.display());
    Ok(EXIT_OK)
}

fn decrypt(path: &Path) -> Result<u8, Failure> {
    let file = store::open(path, &identities()?)?;
    let text = Zeroizing::new(file.to_plain_yaml());
    print_stdout(&text)
}

/// The repository root (nearest folder with `.git`), else `start`.
pub(crate) fn repo_root(start: &Path) -> PathBuf {
    start
        .ancestors()
        .find(|d| d.join(".git").exists())
        .unwrap_or(start)
        .to_owned()
}

fn init(mut age: Vec<String>, kms: Vec<String>) -> Result<u8, Failure> {
    for r in &age {
        crate::keys::age::parse_recipient(r).map_err(|e| Failure::new(e.to_string()))?;
    }
    for arn in &kms {
        if !arn.starts_with("arn:") || !arn.contains(":kms:") {
            return Err(Failure::new(format!("`{arn}` is not a KMS key ARN"))
                .hint("example: arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"));
        }
    }
    let cwd = cwd()?;
    let root = repo_root(&cwd);
    if age.is_empty() && kms.is_empty() {
        let env = AgeEnv::from_process();
        let ids = AgeIdentities::load(&env).map_err(|e| Failure::new(e.to_string()))?;
        if ids.is_empty() {
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
            age.push(recipient);
        } else {
            age = ids.recipients();
            age.sort();
            age.dedup();
        }
    }
    let cfg_path = config::find(&cwd).unwrap_or_else(|| root.join(config::CONFIG_NAME));
    let existing = match std::fs::read_to_string(&cfg_path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Failure::new(format!("{}: {e}", cfg_path.display()))),
    };
    let secrets = root.join(store::SECRETS_DIR);
    if existing.is_some() {
        let cfg = config::Config::load(&cfg_path).map_err(|e| Failure::new(e.to_string()))?;
        let probe = std::path::absolute(secrets.join("dev.yml")).unwrap_or(secrets.join("dev.yml"));
        if let Some(rule) = cfg
            .rule_for(&probe)
            .map_err(|e| Failure::new(e.to_string()))?
        {
            let missing: Vec<&String> = age.iter().filter(|r| !rule.age.contains(r)).collect();
            let missing_kms: Vec<&String> = kms
                .iter()
                .filter(|a| !rule.kms.iter().any(|k| &k.arn == *a))
                .collect();
            if missing.is_empty() && missing_kms.is_empty() {
                std::fs::create_dir_all(&secrets)
                    .map_err(|e| Failure::new(format!("{}: {e}", secrets.display())))?;
                eprintln!(
                    "{} already has a rule for secrets/*.yml (creation_rules[{}]); nothing to change",
                    cfg_path.display(),
                    rule.index
                );
                return Ok(EXIT_OK);
            }
            let keys: Vec<&String> = missing.into_iter().chain(missing_kms).collect();
            return Err(Failure::new(format!(
                "{} already has a rule for secrets/*.yml (creation_rules[{}]) without {}",
                cfg_path.display(),
                rule.index,
                keys.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ))
            .hint("add the key to that rule, then run `sls-secrets rotate --all` so existing files use it"));
        }
    }
    let text = config::insert_rule(existing.as_deref(), &age, &kms)
        .map_err(|e| Failure::new(format!("{}: {e}", cfg_path.display())))?;
    store::write_atomic(&cfg_path, text.as_bytes(), 0o644)?;
    std::fs::create_dir_all(&secrets)
        .map_err(|e| Failure::new(format!("{}: {e}", secrets.display())))?;
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
    Ok(EXIT_OK)
}

/// Writes a new identity to `path` (0600, folder 0700), sops' default location.
fn create_identity(path: &Path) -> Result<String, Failure> {
    let (secret, recipient) = crate::keys::age::generate();
    if let Some(dir) = path.parent() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir)
            .map_err(|e| Failure::new(format!("{}: {e}", dir.display())))?;
    }
    let created = crate::timefmt::now_utc();
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
