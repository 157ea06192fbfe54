//! AWS KMS key source: wraps the data key with KMS `Encrypt` and unwraps it with `Decrypt`,
//! exactly as sops does (kms/keysource.go; `../shared/reference/sops-format.md` §7.2).
//!
//! - **Wrap:** `Encrypt{KeyId: arn, Plaintext: data key, EncryptionContext: context}`;
//!   `enc = base64(CiphertextBlob)`, `created_at` = now (UTC, seconds).
//! - **Unwrap:** `Decrypt{KeyId: arn, CiphertextBlob: b64decode(enc), EncryptionContext:
//!   context}`; the result must be 32 bytes.
//! - **Region** from the key ARN (sops' regex), else `AWS_REGION` / `AWS_DEFAULT_REGION` / the
//!   profile's `region`. Never looked up in EC2 instance metadata (that costs seconds).
//! - **Credentials:** the SDK's default chain, with the entry's `aws_profile` selecting a shared
//!   config profile; when `role` is set, STS `AssumeRole` first with sops' session name.
//!   Credentials are resolved once per (region, profile, role) and checked before the first KMS
//!   call, so "no credentials" is one short message and not a retried request.
//! - **Bounded:** connect 2 s, per attempt 5 s, operation 12 s, at most 2 attempts, and a hard
//!   15 s deadline around each whole call (credentials included). A KMS endpoint that accepts
//!   and never answers fails in about 10 s.
//! - **Lazy:** no runtime, config load or network until a KMS call is actually needed. Age-only
//!   files never reach this module.
//! - **One Decrypt per wrapped key per run:** unwrapped keys are kept for the life of the
//!   process, keyed by (arn, context, enc), and a client-level failure (no credentials, endpoint
//!   silent) is remembered so the next entry using the same client fails at once.
//!
//! Errors name the key ARN, the region, the profile/role and the credential source, never key
//! material; SDK error text is reduced to its code and message.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::config::{Credentials, ProvideCredentials, Region};
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use super::error::KeyError;
pub use super::error::KmsError;
use super::identities::AgeIdentities;
use super::source::KeySource;
use crate::sops::metadata::KeyEntry;
use crate::sops::{DataKey, KmsEntry};

/// TCP connect timeout for KMS (and STS) requests.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// One HTTP attempt, connect to last byte.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// All attempts of one operation, backoff included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(12);
/// Hard bound on one wrap or unwrap: config, credentials (STS included) and the KMS call.
pub const CALL_DEADLINE: Duration = Duration::from_secs(15);
/// Attempts per operation (1 retry).
pub const MAX_ATTEMPTS: u32 = 2;

/// A KMS key from sops' command-line form, `arn` or `arn+role_arn` (split at `+arn:`): an
/// entry not wrapped yet.
pub fn parse_key(s: &str) -> Result<KmsEntry, KmsError> {
    let s = s.trim();
    let (arn, role) = match s.find("+arn:") {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    if !arn.starts_with("arn:") || !arn.contains(":kms:") {
        return Err(KmsError::BadArn(arn.to_owned()));
    }
    Ok(KmsEntry {
        arn: arn.to_owned(),
        role: role.to_owned(),
        ..KmsEntry::default()
    })
}

impl KeySource for KmsEntry {
    fn describe(&self) -> String {
        let mut extra = Vec::new();
        if !self.aws_profile.is_empty() {
            extra.push(format!("profile {}", self.aws_profile));
        }
        if !self.role.is_empty() {
            extra.push(format!("role {}", self.role));
        }
        if extra.is_empty() {
            self.arn.clone()
        } else {
            format!("{} ({})", self.arn, extra.join(", "))
        }
    }

    fn noun(&self) -> &'static str {
        "AWS KMS keys"
    }

    fn is_local(&self) -> bool {
        false
    }

    fn wrap(&self, key: &DataKey) -> Result<KeyEntry, KeyError> {
        Ok(KeyEntry::Kms(wrap(key, self)?))
    }

    fn unwrap(&self, _local: &AgeIdentities) -> Option<Result<DataKey, KeyError>> {
        Some(unwrap(self).map_err(KeyError::from))
    }
}

impl KmsError {
    /// Failures that are about the client (credentials, network), not this key: the same
    /// client would fail the same way for the next key.
    fn is_client_level(&self) -> bool {
        matches!(
            self,
            KmsError::NoCredentials { .. }
                | KmsError::AssumeRole { .. }
                | KmsError::Timeout { .. }
                | KmsError::Unreachable { .. }
                | KmsError::Runtime(_)
        )
    }
}

/// Region from a KMS key ARN, as sops parses it: `^arn:aws[\w-]*:kms:(.+):[0-9]+:(key|alias)/.+$`.
pub fn region_from_arn(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:aws")?;
    let (partition_suffix, rest) = rest.split_once(':')?;
    if !partition_suffix
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return None;
    }
    let rest = rest.strip_prefix("kms:")?;
    // (.+) is greedy: the region is everything up to the last `:digits:(key|alias)/`.
    let (head, resource) = rest.rsplit_once(':')?;
    if !(resource.starts_with("key/") || resource.starts_with("alias/"))
        || resource.split_once('/').is_none_or(|(_, id)| id.is_empty())
    {
        return None;
    }
    let (region, account) = head.rsplit_once(':')?;
    if region.is_empty() || account.is_empty() || !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(region)
}

/// The KMS endpoint requests go to, for messages: the override variables, else AWS's.
fn endpoint_for(region: &str) -> String {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    var("AWS_ENDPOINT_URL_KMS")
        .or_else(|| var("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|| format!("https://kms.{region}.amazonaws.com"))
}

/// sops' AssumeRole session name: `sops@<hostname>` without disallowed characters, ≤ 64.
fn session_name() -> String {
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let mut name = String::from("sops@");
    name.extend(
        host.chars()
            .filter(|c| c.is_ascii_alphanumeric() || "=,.@-_".contains(*c)),
    );
    name.truncate(64);
    name
}

/// Which AWS client a key needs: one per (region, profile, role).
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct ClientKey {
    region: String,
    profile: String,
    role: String,
}

struct Client {
    kms: aws_sdk_kms::Client,
    /// Who we are, for AccessDenied messages (no secret: the access key ID is masked).
    identity: String,
}

/// What identifies one wrapped key: (arn, sorted context, enc).
type UnwrapKey = (String, Vec<(String, String)>, String);

/// A KMS session for this process: the runtime, one client per (region, profile, role), the
/// keys already unwrapped, and client-level failures already seen.
pub struct Kms {
    rt: tokio::runtime::Runtime,
    clients: Mutex<HashMap<ClientKey, Result<std::sync::Arc<Client>, KmsError>>>,
    unwrapped: Mutex<HashMap<UnwrapKey, DataKey>>,
}

/// The process-wide session, created on the first KMS call.
pub fn session() -> Result<&'static Kms, KmsError> {
    static SESSION: OnceLock<Result<Kms, KmsError>> = OnceLock::new();
    SESSION.get_or_init(Kms::new).as_ref().map_err(Clone::clone)
}

/// Wraps `key` for one KMS key (one `Encrypt`); `spec`'s own `enc` and `created_at` are not
/// used.
pub fn wrap(key: &DataKey, spec: &KmsEntry) -> Result<KmsEntry, KmsError> {
    session()?.wrap(key, spec)
}

/// Unwraps the data key from one `sops.kms` entry (at most one `Decrypt` per entry per run).
pub fn unwrap(entry: &KmsEntry) -> Result<DataKey, KmsError> {
    session()?.unwrap(entry)
}

impl Kms {
    /// A new session: a current-thread runtime, nothing else until the first call.
    pub fn new() -> Result<Kms, KmsError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| KmsError::Runtime(e.to_string()))?;
        Ok(Kms {
            rt,
            clients: Mutex::new(HashMap::new()),
            unwrapped: Mutex::new(HashMap::new()),
        })
    }

    pub fn wrap(&self, key: &DataKey, spec: &KmsEntry) -> Result<KmsEntry, KmsError> {
        let region = self.region(&spec.arn, &spec.aws_profile)?;
        let endpoint = endpoint_for(&region);
        let client = self.client(&spec.arn, &region, &spec.aws_profile, &spec.role)?;
        let arn = spec.arn.clone();
        let call = client
            .kms
            .encrypt()
            .key_id(&spec.arn)
            .plaintext(Blob::new(key.expose().to_vec()))
            .set_encryption_context(context_map(&spec.context))
            .send();
        let out = self
            .rt
            .block_on(async { tokio::time::timeout(CALL_DEADLINE, call).await })
            .map_err(|_| timeout(&arn, &endpoint))?
            .map_err(|e| classify("Encrypt", &arn, &region, &endpoint, &client.identity, e))?;
        let blob = out.ciphertext_blob.ok_or_else(|| KmsError::Service {
            op: "Encrypt",
            arn: arn.clone(),
            why: "the response has no CiphertextBlob".into(),
        })?;
        Ok(KmsEntry {
            arn,
            role: spec.role.clone(),
            context: spec.context.clone(),
            created_at: crate::timefmt::now_utc(),
            enc: B64.encode(blob.as_ref()),
            aws_profile: spec.aws_profile.clone(),
        })
    }

    pub fn unwrap(&self, entry: &KmsEntry) -> Result<DataKey, KmsError> {
        let mut context = entry.context.clone();
        context.sort();
        let cache_key = (entry.arn.clone(), context, entry.enc.trim().to_owned());
        if let Some(k) = lock(&self.unwrapped).get(&cache_key) {
            return DataKey::from_bytes(k.expose()).ok_or(KmsError::BadKeyLength {
                arn: entry.arn.clone(),
                len: 0,
            });
        }
        let blob = Zeroizing::new(B64.decode(entry.enc.trim()).map_err(|_| KmsError::BadEnc {
            arn: entry.arn.clone(),
        })?);
        let region = self.region(&entry.arn, &entry.aws_profile)?;
        let endpoint = endpoint_for(&region);
        let client = self.client(&entry.arn, &region, &entry.aws_profile, &entry.role)?;
        let arn = entry.arn.clone();
        let call = client
            .kms
            .decrypt()
            .key_id(&entry.arn)
            .ciphertext_blob(Blob::new(blob.to_vec()))
            .set_encryption_context(context_map(&entry.context))
            .send();
        let out = self
            .rt
            .block_on(async { tokio::time::timeout(CALL_DEADLINE, call).await })
            .map_err(|_| timeout(&arn, &endpoint))
            .and_then(|r| {
                r.map_err(|e| classify("Decrypt", &arn, &region, &endpoint, &client.identity, e))
            });
        let out = match out {
            Ok(o) => o,
            Err(e) => {
                if e.is_client_level() {
                    self.remember_failure(&region, entry, &e);
                }
                return Err(e);
            }
        };
        let plain = out.plaintext.map(|b| Zeroizing::new(b.into_inner()));
        let plain = plain.ok_or_else(|| KmsError::Service {
            op: "Decrypt",
            arn: arn.clone(),
            why: "the response has no Plaintext".into(),
        })?;
        let key = DataKey::from_bytes(&plain).ok_or(KmsError::BadKeyLength {
            arn: arn.clone(),
            len: plain.len(),
        })?;
        if let Some(copy) = DataKey::from_bytes(key.expose()) {
            lock(&self.unwrapped).insert(cache_key, copy);
        }
        Ok(key)
    }

    /// A later entry on the same client fails at once with the same reason.
    fn remember_failure(&self, region: &str, entry: &KmsEntry, e: &KmsError) {
        let ck = ClientKey {
            region: region.to_owned(),
            profile: entry.aws_profile.clone(),
            role: entry.role.clone(),
        };
        lock(&self.clients).insert(ck, Err(e.clone()));
    }

    /// The key's region: from its ARN, else the environment or the profile (never IMDS).
    fn region(&self, arn: &str, profile: &str) -> Result<String, KmsError> {
        if let Some(r) = region_from_arn(arn) {
            return Ok(r.to_owned());
        }
        let mut file = aws_config::profile::ProfileFileRegionProvider::builder();
        if !profile.is_empty() {
            file = file.profile_name(profile);
        }
        let chain = RegionProviderChain::first_try(
            aws_config::environment::EnvironmentVariableRegionProvider::new(),
        )
        .or_else(file.build());
        self.rt
            .block_on(async {
                tokio::time::timeout(CALL_DEADLINE, chain.region())
                    .await
                    .ok()
                    .flatten()
            })
            .map(|r| r.to_string())
            .ok_or_else(|| KmsError::NoRegion {
                arn: arn.to_owned(),
            })
    }

    fn client(
        &self,
        arn: &str,
        region: &str,
        profile: &str,
        role: &str,
    ) -> Result<std::sync::Arc<Client>, KmsError> {
        let ck = ClientKey {
            region: region.to_owned(),
            profile: profile.to_owned(),
            role: role.to_owned(),
        };
        if let Some(c) = lock(&self.clients).get(&ck) {
            return c.clone().map_err(|e| KmsError::Skipped {
                arn: arn.to_owned(),
                reason: e.to_string(),
            });
        }
        let made = self
            .rt
            .block_on(async { tokio::time::timeout(CALL_DEADLINE, make_client(arn, &ck)).await })
            .unwrap_or_else(|_| Err(timeout(arn, &endpoint_for(region))))
            .map(std::sync::Arc::new);
        lock(&self.clients).insert(ck, made.clone());
        made
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep using it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn context_map(ctx: &[(String, String)]) -> Option<HashMap<String, String>> {
    if ctx.is_empty() {
        None
    } else {
        Some(ctx.iter().cloned().collect())
    }
}

fn timeout(arn: &str, endpoint: &str) -> KmsError {
    KmsError::Timeout {
        arn: arn.to_owned(),
        endpoint: endpoint.to_owned(),
        secs: CALL_DEADLINE.as_secs(),
    }
}

/// Loads the SDK config for one (region, profile, role), resolves credentials once (assuming
/// the role when asked), and builds a KMS client that uses them.
async fn make_client(arn: &str, ck: &ClientKey) -> Result<Client, KmsError> {
    if let Some(var) = empty_endpoint(&["AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL"]) {
        return Err(KmsError::EmptyEndpoint { var });
    }
    let conf = sdk_config(&ck.region, &ck.profile).await;
    let via = profile_via(&ck.profile);
    let base = conf
        .credentials_provider()
        .ok_or_else(|| KmsError::NoCredentials {
            arn: arn.to_owned(),
            via: via.clone(),
            chain: "no credentials provider is configured".into(),
        })?;
    let creds = base
        .provide_credentials()
        .await
        .map_err(|e| KmsError::NoCredentials {
            arn: arn.to_owned(),
            via: via.clone(),
            chain: compact_credentials_error(&error_chain(&e)),
        })?;
    let mut source = if ck.profile.is_empty() {
        "credentials".to_owned()
    } else {
        format!("profile {}", ck.profile)
    };
    let creds = if ck.role.is_empty() {
        creds
    } else {
        // Assume the role with the credentials just resolved, as sops does.
        let base_conf = conf
            .clone()
            .into_builder()
            .credentials_provider(aws_sdk_kms::config::SharedCredentialsProvider::new(creds))
            .build();
        let provider = aws_config::sts::AssumeRoleProvider::builder(&ck.role)
            .session_name(session_name())
            .configure(&base_conf)
            .build()
            .await;
        source = format!("role {} (assumed from {source})", ck.role);
        provider
            .provide_credentials()
            .await
            .map_err(|e| KmsError::AssumeRole {
                arn: arn.to_owned(),
                role: ck.role.clone(),
                why: error_chain(&e),
            })?
    };
    let identity = format!(
        "{source}, access key {}",
        mask_key_id(creds.access_key_id())
    );
    let kms_conf = aws_sdk_kms::config::Builder::from(&conf)
        .credentials_provider(static_credentials(creds))
        .build();
    Ok(Client {
        kms: aws_sdk_kms::Client::from_conf(kms_conf),
        identity,
    })
}

/// The SDK's config for one region and profile: the default credential chain, the bounded
/// timeouts and retries above (`status` reads CloudFormation and Lambda with the same).
pub(crate) async fn sdk_config(region: &str, profile: &str) -> aws_config::SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(ATTEMPT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .timeout_config(timeouts)
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
    if !profile.is_empty() {
        loader = loader.profile_name(profile);
    }
    loader.load().await
}

/// Which profile the credentials came from, for messages: ` (AWS_PROFILE=p)`, ` (aws_profile
/// p)` or nothing.
/// The first of `vars` set but empty: the SDK panics on an empty endpoint override, so callers
/// refuse it before building a client.
pub(crate) fn empty_endpoint(vars: &[&'static str]) -> Option<&'static str> {
    vars.iter()
        .copied()
        .find(|var| std::env::var_os(var).is_some_and(|v| v.is_empty()))
}

pub(crate) fn profile_via(profile: &str) -> String {
    match (profile, std::env::var("AWS_PROFILE")) {
        ("", Ok(p)) if !p.is_empty() => format!(" (AWS_PROFILE={p})"),
        ("", _) => String::new(),
        (p, _) => format!(" (aws_profile {p})"),
    }
}

fn static_credentials(c: Credentials) -> aws_sdk_kms::config::SharedCredentialsProvider {
    aws_sdk_kms::config::SharedCredentialsProvider::new(c)
}

/// `AKIA…WXYZ`: enough to tell keys apart, not the whole ID.
pub(crate) fn mask_key_id(id: &str) -> String {
    if id.len() <= 8 || !id.is_ascii() {
        return "****".into();
    }
    format!("{}…{}", &id[..4], &id[id.len() - 4..])
}

/// The credential chain's "not enabled" noise removed, and its multi-line "Attempted:" list
/// folded into one line: `tried Environment (environment variable not set); Profile (...)`.
pub(crate) fn compact_credentials_error(s: &str) -> String {
    const NOT_ENABLED: &str = "the credential provider was not enabled";
    let strip = |t: &str| -> String {
        let t = t.trim();
        match t.strip_prefix(NOT_ENABLED) {
            Some("") => "not configured".to_owned(),
            Some(rest) => rest.trim_start_matches(':').trim().to_owned(),
            None => t.to_owned(),
        }
    };
    let Some((head, list)) = s.split_once("Attempted:") else {
        return strip(s).replace('\n', " ");
    };
    let tried: Vec<String> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once(": ") {
            Some((name, why)) => format!("{name} ({})", strip(why)),
            None => strip(l),
        })
        .collect();
    let head = strip(head);
    let head = head.trim_end_matches('.').trim();
    format!("{head}; tried {}", tried.join("; "))
}

/// The error and its `source()` chain on one line, without the SDK's Debug dump, capped.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !s.is_empty() && !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    let mut out = parts.join(": ");
    if out.chars().count() > 600 {
        out = out.chars().take(600).collect::<String>() + "…";
    }
    out
}

/// Turns an SDK error into a typed one by its error code and transport kind.
fn classify<E>(
    op: &'static str,
    arn: &str,
    region: &str,
    endpoint: &str,
    identity: &str,
    err: SdkError<E, HttpResponse>,
) -> KmsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let arn = arn.to_owned();
    match &err {
        SdkError::TimeoutError(_) => KmsError::Timeout {
            arn,
            endpoint: endpoint.to_owned(),
            secs: OPERATION_TIMEOUT.as_secs(),
        },
        SdkError::DispatchFailure(d) if d.is_timeout() => KmsError::Timeout {
            arn,
            endpoint: endpoint.to_owned(),
            secs: ATTEMPT_TIMEOUT.as_secs(),
        },
        SdkError::DispatchFailure(d) => KmsError::Unreachable {
            arn,
            endpoint: endpoint.to_owned(),
            why: d
                .as_connector_error()
                .map(|c| error_chain(c))
                .unwrap_or_else(|| error_chain(&err)),
        },
        SdkError::ServiceError(s) => {
            let e = s.err();
            let code = e.code().unwrap_or("");
            let msg = e.message().unwrap_or("").trim();
            let why = if msg.is_empty() {
                String::new()
            } else {
                format!(": {}", short(msg))
            };
            match code {
                "AccessDeniedException" => KmsError::AccessDenied {
                    op,
                    arn,
                    identity: identity.to_owned(),
                    why: if msg.is_empty() {
                        code.to_owned()
                    } else {
                        short(msg)
                    },
                },
                "InvalidCiphertextException" | "IncorrectKeyException" => {
                    KmsError::InvalidCiphertext { arn }
                }
                "NotFoundException" => KmsError::NotFound {
                    arn,
                    region: region.to_owned(),
                    why,
                },
                "DisabledException" | "KMSInvalidStateException" => KmsError::Disabled { arn, why },
                "UnrecognizedClientException"
                | "InvalidClientTokenId"
                | "ExpiredTokenException"
                | "InvalidSignatureException" => KmsError::NoCredentials {
                    arn,
                    via: String::new(),
                    chain: format!("{code}{why} ({identity})"),
                },
                "" => bad_response(op, arn, s.raw().status().as_u16(), endpoint, why),
                _ => KmsError::Service {
                    op,
                    arn,
                    why: format!("{code}{why}"),
                },
            }
        }
        SdkError::ResponseError(r) => {
            let why = format!(": {}", error_chain(&err));
            bad_response(op, arn, r.raw().status().as_u16(), endpoint, why)
        }
        _ => KmsError::Service {
            op,
            arn,
            why: error_chain(&err),
        },
    }
}

fn bad_response(
    op: &'static str,
    arn: String,
    status: u16,
    endpoint: &str,
    why: String,
) -> KmsError {
    KmsError::BadResponse {
        op,
        arn,
        status,
        endpoint: endpoint.to_owned(),
        why,
    }
}

pub(crate) fn short(s: &str) -> String {
    let s = s.replace(['\n', '\r'], " ");
    if s.chars().count() > 300 {
        s.chars().take(300).collect::<String>() + "…"
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_like_sops() {
        assert_eq!(
            region_from_arn("arn:aws:kms:us-east-1:123456789012:key/abc"),
            Some("us-east-1")
        );
        assert_eq!(
            region_from_arn("arn:aws-us-gov:kms:us-gov-west-1:123456789012:alias/prod"),
            Some("us-gov-west-1")
        );
        assert_eq!(
            region_from_arn("arn:aws-cn:kms:cn-north-1:123456789012:key/k"),
            Some("cn-north-1")
        );
        assert_eq!(region_from_arn("arn:aws:kms:us-east-1:acct:key/abc"), None);
        assert_eq!(region_from_arn("arn:aws:kms::123456789012:key/abc"), None);
        assert_eq!(region_from_arn("arn:aws:kms:us-east-1:123:key/"), None);
        assert_eq!(region_from_arn("alias/prod"), None);
        assert_eq!(region_from_arn("arn:aws:s3:us-east-1:123:key/x"), None);
    }

    #[test]
    fn key_parses_role_form() {
        let s = parse_key(
            "arn:aws:kms:eu-west-1:111122223333:key/k+arn:aws:iam::111122223333:role/deploy",
        )
        .unwrap();
        assert_eq!(s.arn, "arn:aws:kms:eu-west-1:111122223333:key/k");
        assert_eq!(s.role, "arn:aws:iam::111122223333:role/deploy");
        assert!(parse_key("alias/x").is_err());
    }

    #[test]
    fn session_name_is_sops_like() {
        let n = session_name();
        assert!(n.starts_with("sops@"));
        assert!(n.len() <= 64);
        assert!(
            n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "=,.@-_".contains(c))
        );
    }

    #[test]
    fn credentials_error_is_one_line() {
        let sdk = "the credential provider was not enabled: no credentials found in chain. Attempted:\n  Environment: the credential provider was not enabled: environment variable not set\n  Profile: the credential provider was not enabled\n";
        assert_eq!(
            compact_credentials_error(sdk),
            "no credentials found in chain; tried Environment (environment variable not set); Profile (not configured)"
        );
        assert_eq!(compact_credentials_error("boom\nline"), "boom line");
    }

    fn service_error(code: &str, msg: &str) -> KmsError {
        use aws_sdk_kms::error::ErrorMetadata;
        use aws_sdk_kms::operation::decrypt::DecryptError;
        let e = DecryptError::generic(ErrorMetadata::builder().code(code).message(msg).build());
        classify(
            "Decrypt",
            "arn:aws:kms:us-east-1:111122223333:key/k",
            "us-east-1",
            "https://kms.us-east-1.amazonaws.com",
            "role arn:aws:iam::111122223333:role/ci (assumed from credentials), access key ASIA…WXYZ",
            SdkError::service_error(e, response(400)),
        )
    }

    fn response(status: u16) -> HttpResponse {
        HttpResponse::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(status).unwrap(),
            aws_smithy_types::body::SdkBody::empty(),
        )
    }

    #[test]
    fn unclassified_errors_name_status_and_endpoint() {
        use aws_sdk_kms::error::ErrorMetadata;
        use aws_sdk_kms::operation::decrypt::DecryptError;
        let e = DecryptError::generic(ErrorMetadata::builder().build());
        let e = classify(
            "Decrypt",
            "arn:aws:kms:us-east-1:111122223333:key/k",
            "us-east-1",
            "https://proxy.example:8443",
            "credentials",
            SdkError::service_error(e, response(503)),
        );
        assert_eq!(
            e.to_string(),
            "KMS Decrypt with key arn:aws:kms:us-east-1:111122223333:key/k failed: HTTP 503 from https://proxy.example:8443, which is not a KMS answer"
        );
        assert!(e.hint().is_some_and(|h| h.contains("AWS_ENDPOINT_URL_KMS")));
    }

    #[test]
    fn access_denied_names_key_and_identity() {
        let e = service_error(
            "AccessDeniedException",
            "User: arn:aws:sts::111122223333:assumed-role/ci/sops@host is not authorized to perform: kms:Decrypt",
        );
        assert!(matches!(e, KmsError::AccessDenied { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.starts_with("KMS denied Decrypt with key arn:aws:kms:us-east-1:111122223333:key/k to role arn:aws:iam::111122223333:role/ci"), "{msg}");
        assert!(msg.contains("assumed-role/ci/sops@host"), "{msg}");
        assert!(e.hint().is_some_and(|h| h.contains("kms:Decrypt")));
    }

    #[test]
    fn service_errors_are_typed() {
        assert!(matches!(
            service_error("IncorrectKeyException", ""),
            KmsError::InvalidCiphertext { .. }
        ));
        assert!(matches!(
            service_error("DisabledException", "key is disabled"),
            KmsError::Disabled { .. }
        ));
        assert!(matches!(
            service_error("UnrecognizedClientException", "bad token"),
            KmsError::NoCredentials { .. }
        ));
        let e = service_error("ThrottlingException", "slow down\nplease");
        assert_eq!(
            e.to_string(),
            "KMS Decrypt with key arn:aws:kms:us-east-1:111122223333:key/k failed: ThrottlingException: slow down please"
        );
    }

    #[test]
    fn masks_key_ids() {
        assert_eq!(mask_key_id("AKIAIOSFODNN7EXAMPLE"), "AKIA…MPLE");
        assert_eq!(mask_key_id("test"), "****");
    }
}
