//! `seal --stage S --kms-key ARN --out DIR`: sealed delivery's packaging step, for the
//! Serverless plugin (docs/sealed.md). Reads the resolved service's shape on stdin (as
//! `export --place`), places the stage's secrets by Lambda's rules (`lambda::place`: scope,
//! shadowing, 4 KB, as environment delivery would), and writes each function's share to
//! `DIR/<function>.yml` as a sops file wrapped for that one KMS key. Prints which function got
//! which names as JSON (never a value), with each function's `SLS_SECRETS_SEALED_MAC` (ciphertext
//! and public data, for `status`); no plaintext reaches stdout or the disk.

use std::path::Path;

use sls_secrets::json;
use sls_secrets::sealed::{self, Payload, SealError};
use sls_secrets::store;
use sls_secrets::yaml::Text;

use super::export::{check_secret, place_from_stdin};
use super::{Context, Failure, print_stdout, seed_set_env};
use crate::cli::{ExportFormat, SealArgs};

/// Version of the JSON shape, as `export`'s.
const JSON_VERSION: u32 = 1;

pub(crate) fn run(args: &SealArgs, ctx: &Context) -> Result<u8, Failure> {
    let stage = &args.stage.stage;
    store::check_stage(stage)?;
    let mut spec = sealed::key_spec(&args.kms_key).map_err(failure)?;
    spec.context = sealed::context(&args.service, stage).map_err(failure)?;
    let cwd = ctx.cwd()?;
    let mut o = format!("{{\"version\":{JSON_VERSION},\"stage\":");
    json::push_string(&mut o, stage);
    if !seed_set_env(&cwd)? {
        o.push_str(",\"setEnv\":false,\"functions\":{},\"notes\":[]}\n");
        return print_stdout(&o);
    }
    let rules = ctx.stage_rules_for(&cwd)?;
    let (resolution, secrets) = ctx.stage_secrets_for(&cwd, stage)?;
    let mut env: Vec<(String, Text)> = Vec::new();
    for secret in secrets {
        check_secret(&secret, ExportFormat::Json)?;
        env.push((secret.name, secret.value));
    }
    let (service, placement) = place_from_stdin(&env)?;
    let functions: Vec<&str> = service
        .functions
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    let payloads = sealed::seal(&env, &placement, &functions, &spec).map_err(failure)?;
    let added: Vec<(String, Vec<(String, usize)>)> = payloads
        .iter()
        .map(|p| (p.function.clone(), p.variables()))
        .collect();
    sls_secrets::lambda::check_sealed_sizes(&service, &added).map_err(|e| {
        let e = sls_secrets::lambda::PlaceError::from(e);
        Failure::with_hint(format!("sealed delivery: {e}"), Some(e.hint().to_owned()))
    })?;
    write_payloads(&args.out, &payloads)?;
    if let Some(from) = resolution.describe(rules.as_ref()) {
        o.push_str(",\"from\":");
        json::push_string(&mut o, &from);
    }
    o.push_str(",\"setEnv\":true,\"functions\":{");
    for (i, p) in payloads.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        json::push_string(&mut o, &p.function);
        o.push_str(":{\"file\":");
        json::push_string(&mut o, &format!("{}.yml", p.function));
        o.push_str(",\"names\":");
        o.push_str(&json::string_array(p.names.iter().map(String::as_str)));
        o.push_str(",\"mac\":");
        json::push_string(&mut o, &p.mac_var);
        o.push('}');
    }
    let names: Vec<&str> = env.iter().map(|(n, _)| n.as_str()).collect();
    o.push_str("},\"notes\":");
    o.push_str(&json::string_array(
        placement.notes(&names).iter().map(String::as_str),
    ));
    o.push_str("}\n");
    print_stdout(&o)
}

fn failure(e: SealError) -> Failure {
    Failure::with_hint(e.to_string(), e.hint())
}

/// Each payload to `DIR/<function>.yml` (encrypted text only), atomically.
fn write_payloads(dir: &Path, payloads: &[Payload]) -> Result<(), Failure> {
    if payloads.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::new(format!("can't create {}: {e}", dir.display())))?;
    for p in payloads {
        let path = dir.join(format!("{}.yml", p.function));
        store::write_atomic(&path, p.text.as_bytes(), 0o644)?;
    }
    Ok(())
}
