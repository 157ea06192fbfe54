//! `set --stage S NAME`: adds or replaces one secret. The value comes from stdin (a hidden
//! prompt on a terminal) or `--from-file`, never from argv, where `ps` and shell history
//! would show it. Unchanged values keep their ciphertext. A value `exec` or `render` could
//! never use (a NUL byte, `$${`) is refused here.

use std::io::{IsTerminal, Read};
use std::path::Path;

use sls_secrets::envname;
use sls_secrets::render::serverless_escape;
use sls_secrets::sops::rules::Rule;
use sls_secrets::store;
use sls_secrets::yaml::{MapItem, Text, Value};
use zeroize::Zeroizing;

use super::{Context, EXIT_OK, Failure};
use crate::cli::SetArgs;

pub(crate) fn run(args: &SetArgs, ctx: &Context) -> Result<u8, Failure> {
    let (stage, key) = (&args.stage.stage, &args.key);
    envname::check_secret(key)?;
    store::check_stage(stage)?;
    let value = read_value(key, args.from_file.as_deref())?;
    check_usable(key, &value)?;
    let path = ctx.stage_file(stage)?;
    let ids = ctx.identities()?;
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

/// The secret value from `--from-file` (exact bytes) or stdin (hidden prompt on a terminal;
/// one trailing newline removed when piped).
fn read_value(key: &str, from_file: Option<&Path>) -> Result<Text, Failure> {
    let bytes = match from_file {
        Some(p) => Zeroizing::new(
            std::fs::read(p).map_err(|e| Failure::new(format!("{}: {e}", p.display())))?,
        ),
        None if std::io::stdin().is_terminal() => {
            let prompt = format!("Value for {key} (input hidden): ");
            let mut v = sls_secrets::keys::terminal::read_hidden(&prompt)
                .map_err(|e| Failure::new(format!("reading the value: {e}")))?
                .ok_or_else(|| Failure::new("reading the value: nothing typed (Ctrl-D)"))?;
            Zeroizing::new(std::mem::take(&mut *v).into_bytes())
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

/// Refuses a value that `exec` (NUL byte) or `render` (`$${`) could never use, so the
/// mistake shows at `set`, not at the next build or deploy. The value is never printed.
fn check_usable(key: &str, value: &str) -> Result<(), Failure> {
    if value.contains('\0') {
        return Err(Failure::new(format!(
            "the value for `{key}` contains a NUL byte, which an environment variable can't hold (exec and Lambda would refuse it)"
        ))
        .hint("remove the NUL byte; binary values can be stored base64-encoded"));
    }
    if serverless_escape(value).is_err() {
        return Err(Failure::new(format!(
            "the value for `{key}` contains `$${{`, which Serverless v3 always reads as a variable: render could never write it"
        ))
        .hint("change the value, or store it base64-encoded"));
    }
    Ok(())
}

/// Stage secrets are always encrypted: refuse a name the file's rule would leave in clear.
fn refuse_unencrypted(path: &Path, rule: &Rule, name: &str) -> Result<(), Failure> {
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
