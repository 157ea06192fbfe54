//! Sealed delivery (docs/sealed.md): instead of a function's environment, its package carries
//! the secrets it would get there, as a sops file whose data key is wrapped for one AWS KMS key
//! only ([`seal`], run by `sls-secrets seal` for the Serverless plugin); at cold start the
//! Lambda exec wrapper opens it with the function role's credentials ([`open`], run by
//! `sls-secrets wrap`) and execs the runtime with the secrets in its environment.
//!
//! One payload per function, holding exactly what [`crate::lambda::place`] gives it in
//! environment delivery (the provider's secrets and its own), so scoping reads the same either
//! way. One data key and one KMS `Encrypt` per packaging; one `Decrypt` per cold start.

use std::path::{Path, PathBuf};

use crate::envname::{self, NameError};
use crate::keys::kms::{self, KmsError};
use crate::lambda::Placement;
use crate::sops::metadata::KeyEntry;
use crate::sops::{self, DataKey, KmsEntry, Metadata, PlainFile, SopsError};
use crate::yaml::{MapItem, Text, Value};

/// The function's variable naming its payload, relative to `LAMBDA_TASK_ROOT`.
pub const PAYLOAD_VAR: &str = "SLS_SECRETS_SEALED";
/// The plugin's other variables on a sealed function (npm/sls-secrets/lib/sealed.js): Lambda's
/// exec wrapper, and the folder of the payloads in the package.
pub const WRAPPER_VAR: &str = "AWS_LAMBDA_EXEC_WRAPPER";
pub const WRAPPER_PATH: &str = "/opt/sls-secrets-wrapper";
pub const PAYLOAD_DIR: &str = ".serverless/sls-secrets/sealed";
/// Where Lambda unpacks the function's package.
pub const TASK_ROOT_VAR: &str = "LAMBDA_TASK_ROOT";
/// The KMS encryption context keys a payload is bound to. The plugin's IAM statement requires
/// them (`kms:EncryptionContext:…`), so the role can decrypt this service's and stage's
/// payloads only: not another stage's sealed with the same key, nor a stage file's data key.
pub const CONTEXT_SERVICE: &str = "sls-secrets:service";
pub const CONTEXT_STAGE: &str = "sls-secrets:stage";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(
        "custom.slsSecrets.kmsKeyArn `{0}` is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)"
    )]
    BadKeyArn(String),
    #[error("function `{0}`: its name can't name a payload file (letters, digits, `-` and `_`)")]
    BadFunction(String),
    #[error("the service name `{0}` can't be a KMS encryption context value")]
    BadService(String),
    #[error("{0}")]
    Kms(#[from] KmsError),
    #[error("sealing: {0}")]
    Sops(#[from] SopsError),
    #[error("the random number generator failed")]
    Random,
    #[error("{0} is not set (the function's package location, set by Lambda)")]
    NoVar(&'static str),
    #[error("{PAYLOAD_VAR}=`{0}` is not a relative path inside the function's package")]
    BadPayloadPath(String),
    #[error(
        "the sealed payload {path} leads out of the function's package ({TASK_ROOT_VAR}) through a symbolic link"
    )]
    OutsidePackage { path: PathBuf },
    #[error("can't read the sealed payload {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the sealed payload {path} is not sealed for exactly one KMS key (no role, no profile)"
    )]
    NotSealed { path: PathBuf },
    #[error("the sealed payload {path} was altered or is not a sops file: {source}")]
    Tampered {
        path: PathBuf,
        #[source]
        source: SopsError,
    },
    #[error("the sealed payload {path}: {why}")]
    BadEntry { path: PathBuf, why: String },
    #[error("{MAC_VAR}: {0}")]
    MacVar(SopsError),
}

impl SealError {
    /// What to do about it (one sentence: the wrapper prints one line).
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            SealError::BadKeyArn(_) => {
                "use the key's ARN (an alias can't be granted kms:Decrypt by IAM)".into()
            }
            SealError::Kms(e) => return e.hint(),
            SealError::NoVar(_)
            | SealError::BadPayloadPath(_)
            | SealError::OutsidePackage { .. }
            | SealError::Read { .. } => {
                "package and deploy the service again with the sls-secrets plugin (delivery: sealed)"
                    .into()
            }
            SealError::NotSealed { .. } | SealError::Tampered { .. } | SealError::MacVar(_) => {
                "deploy the service again from its repository".into()
            }
            _ => return None,
        })
    }
}

/// The KMS key a service seals for: a key ARN (its region in it), not an alias (IAM grants
/// `kms:Decrypt` on keys) and no role (the function's own role decrypts).
pub fn key_spec(arn: &str) -> Result<KmsEntry, SealError> {
    let bad = || SealError::BadKeyArn(arn.to_owned());
    let spec = kms::parse_key(arn).map_err(|_| bad())?;
    let resource = spec.arn.rsplit(':').next().unwrap_or("");
    if !spec.role.is_empty()
        || !resource.starts_with("key/")
        || kms::region_from_arn(&spec.arn).is_none()
    {
        return Err(bad());
    }
    Ok(spec)
}

/// The encryption context of a service's and stage's payloads (sorted, as sops keeps it).
pub fn context(service: &str, stage: &str) -> Result<Vec<(String, String)>, SealError> {
    if service.is_empty() || service.chars().any(char::is_control) {
        return Err(SealError::BadService(service.escape_debug().to_string()));
    }
    Ok(vec![
        (CONTEXT_SERVICE.to_owned(), service.to_owned()),
        (CONTEXT_STAGE.to_owned(), stage.to_owned()),
    ])
}

/// One function's payload: the names it holds (for the log), the sops text and its
/// [`MAC_VAR`] value (ciphertext and public data only).
pub struct Payload {
    pub function: String,
    pub names: Vec<String>,
    pub text: String,
    pub mac_var: String,
}

/// The function's variable that lets `status` compare a sealed function without its package:
/// the payload's KMS-wrapped data key, its encrypted MAC and `lastmodified` (the MAC's AAD),
/// and a digest of its names (the sops MAC covers values only).
pub const MAC_VAR: &str = "SLS_SECRETS_SEALED_MAC";
/// [`MAC_VAR`]'s format version, its first field.
const MAC_VAR_VERSION: &str = "1";

/// Which stage secrets (indices into the stage's secrets, in stage-file order) function
/// `function` gets under `placement`: the provider's and its own. `seal` seals exactly these
/// and `status` compares exactly these.
pub fn share(placement: &Placement, function: &str) -> Vec<usize> {
    let mut indices = placement.provider.clone();
    for f in placement.functions.iter().filter(|f| f.name == function) {
        indices.extend(f.all());
    }
    indices.sort_unstable();
    indices.dedup();
    indices
}

/// The payload's plaintext file: `entries` in order, as `seal` writes them (the MAC is over
/// the values in this order).
fn payload_file(key: DataKey, meta: Metadata, entries: &[(&str, &Text)]) -> PlainFile {
    let mut file = PlainFile::new(key, meta);
    for (name, value) in entries {
        file.top_mut().push(MapItem::Entry(
            (*name).to_owned(),
            Value::Str((*value).clone()),
        ));
    }
    file
}

/// The payload of every function of `functions` that gets secrets under `placement` (the
/// provider's secrets reach every function). Nothing is sealed (and KMS is not called) when no
/// function gets any.
pub fn seal(
    env: &[(String, Text)],
    placement: &Placement,
    functions: &[&str],
    spec: &KmsEntry,
) -> Result<Vec<Payload>, SealError> {
    let mut wanted: Vec<(&str, Vec<usize>)> = Vec::new();
    for &function in functions {
        let indices = share(placement, function);
        if indices.is_empty() {
            continue;
        }
        if function.is_empty()
            || !function
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(SealError::BadFunction(function.to_owned()));
        }
        wanted.push((function, indices));
    }
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let key = DataKey::generate().map_err(|_| SealError::Random)?;
    let wrapped = kms::wrap(&key, spec)?;
    let meta = Metadata::with_keys(vec![KeyEntry::Kms(wrapped.clone())]);
    let now = crate::timefmt::now_utc();
    wanted
        .into_iter()
        .map(|(function, indices)| {
            let copy = DataKey::from_bytes(key.expose()).ok_or(SealError::Random)?;
            let entries: Vec<(&str, &Text)> = indices
                .iter()
                .map(|&i| (env[i].0.as_str(), &env[i].1))
                .collect();
            let mut file = payload_file(copy, meta.clone(), &entries);
            let text = file.encrypt(&now)?;
            let names: Vec<&str> = entries.iter().map(|(n, _)| *n).collect();
            let mac_var = SealedMac {
                arn: wrapped.arn.clone(),
                enc: wrapped.enc.clone(),
                lastmodified: file.meta.lastmodified.clone(),
                mac: file.meta.mac.clone(),
                names: names_digest(&names),
            }
            .to_var();
            Ok(Payload {
                function: function.to_owned(),
                names: names.iter().map(|n| (*n).to_owned()).collect(),
                text,
                mac_var,
            })
        })
        .collect()
}

impl Payload {
    /// The variables the plugin sets on this payload's function, by name and value bytes (for
    /// the 4 KB check: they take the secrets' place in its environment).
    pub fn variables(&self) -> Vec<(String, usize)> {
        vec![
            (WRAPPER_VAR.to_owned(), WRAPPER_PATH.len()),
            (
                PAYLOAD_VAR.to_owned(),
                format!("{PAYLOAD_DIR}/{}.yml", self.function).len(),
            ),
            (MAC_VAR.to_owned(), self.mac_var.len()),
        ]
    }
}

/// [`MAC_VAR`]'s fields: `1 ARN WRAPPED-KEY LASTMODIFIED MAC NAMES` (space-separated: none of
/// the fields holds a space). All ciphertext or public: the payload in the zip holds them too.
#[derive(Debug, Clone, PartialEq)]
pub struct SealedMac {
    pub arn: String,
    pub enc: String,
    pub lastmodified: String,
    pub mac: String,
    pub names: String,
}

/// Why a [`MAC_VAR`] value can't be read (no value in it is secret, but none is echoed either).
#[derive(Debug, thiserror::Error)]
pub enum MacVarError {
    #[error(
        "{MAC_VAR} is not in the format sls-secrets writes (version {MAC_VAR_VERSION}, six fields)"
    )]
    Format,
    #[error("{MAC_VAR}'s key is not a KMS key ARN")]
    Key,
    #[error("the sealed payload's MAC in {MAC_VAR} can't be decrypted (the variable was altered)")]
    Mac,
}

impl SealedMac {
    pub fn to_var(&self) -> String {
        [
            MAC_VAR_VERSION,
            &self.arn,
            &self.enc,
            &self.lastmodified,
            &self.mac,
            &self.names,
        ]
        .join(" ")
    }

    pub fn parse(var: &str) -> Result<SealedMac, MacVarError> {
        let fields: Vec<&str> = var.split(' ').collect();
        let [version, arn, enc, lastmodified, mac, names] = fields[..] else {
            return Err(MacVarError::Format);
        };
        let plain = |f: &str| !f.is_empty() && f.bytes().all(|b| b.is_ascii_graphic());
        if version != MAC_VAR_VERSION || !fields.iter().all(|f| plain(f)) {
            return Err(MacVarError::Format);
        }
        if !crate::sops::cipher::is_encrypted(mac) {
            return Err(MacVarError::Format);
        }
        key_spec(arn).map_err(|_| MacVarError::Key)?;
        Ok(SealedMac {
            arn: arn.to_owned(),
            enc: enc.to_owned(),
            lastmodified: lastmodified.to_owned(),
            mac: mac.to_owned(),
            names: names.to_owned(),
        })
    }

    /// Whether the payload it was made from holds exactly `entries` (names and values, in
    /// order): one KMS `Decrypt` of its data key under the service's and stage's `context`,
    /// then its MAC against the MAC of the payload `seal` would write now.
    pub fn matches(
        &self,
        context: Vec<(String, String)>,
        profile: &str,
        entries: &[(&str, &Text)],
    ) -> Result<bool, SealError> {
        let names: Vec<&str> = entries.iter().map(|(n, _)| *n).collect();
        let mut spec = key_spec(&self.arn)?;
        spec.context = context;
        spec.aws_profile = profile.to_owned();
        spec.enc = self.enc.clone();
        let key = kms::unwrap(&spec)?;
        let copy = DataKey::from_bytes(key.expose()).ok_or(SealError::Random)?;
        let file = payload_file(
            copy,
            Metadata::with_keys(vec![KeyEntry::Kms(spec)]),
            entries,
        );
        let same_values = file
            .mac_matches(&self.mac, &self.lastmodified)
            .map_err(|e| match e {
                SopsError::MacMismatch => None,
                e => Some(e),
            });
        match same_values {
            Ok(()) => Ok(self.names == names_digest(&names)),
            Err(None) => Ok(false),
            Err(Some(e)) => Err(SealError::MacVar(e)),
        }
    }
}

/// The names' digest for [`MAC_VAR`] (names are not secret; the MAC does not cover them):
/// base64 of SHA-256 over each name and a NUL.
fn names_digest(names: &[&str]) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for n in names {
        h.update(n.as_bytes());
        h.update([0]);
    }
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(h.finalize())
}

/// The payload's path from the function's environment: `LAMBDA_TASK_ROOT` joined with the
/// relative path in [`PAYLOAD_VAR`] (no absolute path, no `..`: it stays in the package).
pub fn payload_path(
    task_root: Option<&std::ffi::OsStr>,
    payload: Option<&std::ffi::OsStr>,
) -> Result<PathBuf, SealError> {
    let root = task_root
        .filter(|r| !r.is_empty())
        .ok_or(SealError::NoVar(TASK_ROOT_VAR))?;
    let rel = payload
        .filter(|p| !p.is_empty())
        .ok_or(SealError::NoVar(PAYLOAD_VAR))?;
    let rel = Path::new(rel);
    let inside = rel
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !inside {
        return Err(SealError::BadPayloadPath(rel.display().to_string()));
    }
    Ok(Path::new(root).join(rel))
}

/// [`payload_path`], resolved: a symbolic link in the package (the payload, or a folder on its
/// way) must not lead out of it, e.g. to `/proc/self/environ` or another package's payload.
pub fn locate(
    task_root: Option<&std::ffi::OsStr>,
    payload: Option<&std::ffi::OsStr>,
) -> Result<PathBuf, SealError> {
    let path = payload_path(task_root, payload)?;
    let read = |source| SealError::Read {
        path: path.clone(),
        source,
    };
    let root = std::fs::canonicalize(task_root.unwrap_or_default()).map_err(read)?;
    let real = std::fs::canonicalize(&path).map_err(read)?;
    if !real.starts_with(&root) {
        return Err(SealError::OutsidePackage { path });
    }
    Ok(real)
}

/// Opens a payload: exactly one KMS key (one `Decrypt` with the credential chain's
/// credentials), the MAC checked, every entry a valid variable name with a value an
/// environment can hold. Errors never hold a value.
pub fn open(path: &Path) -> Result<Vec<(String, Text)>, SealError> {
    let text = crate::files::read_text(path).map_err(|source| SealError::Read {
        path: path.to_owned(),
        source,
    })?;
    let tampered = |source| SealError::Tampered {
        path: path.to_owned(),
        source,
    };
    let file = sops::parse(&text).map_err(tampered)?;
    // `seal` writes no role or profile: one in the payload (not covered by its MAC) would make
    // the wrapper assume a role or read a profile instead of using the function's own role.
    let entry = match file.meta.keys() {
        [KeyEntry::Kms(entry)] if entry.role.is_empty() && entry.aws_profile.is_empty() => {
            entry.clone()
        }
        _ => {
            return Err(SealError::NotSealed {
                path: path.to_owned(),
            });
        }
    };
    let key = kms::unwrap(&entry)?;
    let plain = file.decrypt(key).map_err(tampered)?;
    let bad = |why: String| SealError::BadEntry {
        path: path.to_owned(),
        why,
    };
    let mut out = Vec::new();
    for item in plain.top() {
        let MapItem::Entry(name, value) = item else {
            continue;
        };
        envname::check_secret(name).map_err(|e: NameError| bad(e.to_string()))?;
        let value = crate::store::value_text(value)
            .ok_or_else(|| bad(format!("`{name}` is a nested value")))?;
        if value.contains('\0') {
            return Err(bad(format!("`{name}` holds a NUL byte")));
        }
        out.push((name.clone(), value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn the_key_must_be_a_key_arn() {
        assert!(key_spec("arn:aws:kms:eu-west-1:111122223333:key/abc").is_ok());
        for bad in [
            "arn:aws:kms:eu-west-1:111122223333:alias/prod",
            "alias/prod",
            "arn:aws:kms:eu-west-1:111122223333:key/abc+arn:aws:iam::111122223333:role/r",
            "arn:aws:kms::111122223333:key/abc",
        ] {
            assert!(
                matches!(key_spec(bad), Err(SealError::BadKeyArn(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_payload_stays_in_the_package() {
        let root = Some(OsStr::new("/var/task"));
        assert_eq!(
            payload_path(root, Some(OsStr::new(".serverless/s/api.yml"))).unwrap(),
            Path::new("/var/task/.serverless/s/api.yml")
        );
        for bad in ["/etc/passwd", "../x.yml", "a/../../x.yml", "./a.yml"] {
            assert!(
                matches!(
                    payload_path(root, Some(OsStr::new(bad))),
                    Err(SealError::BadPayloadPath(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            payload_path(None, Some(OsStr::new("a.yml"))),
            Err(SealError::NoVar(TASK_ROOT_VAR))
        ));
        assert!(matches!(
            payload_path(root, Some(OsStr::new(""))),
            Err(SealError::NoVar(PAYLOAD_VAR))
        ));
    }

    #[test]
    fn the_context_names_the_service_and_the_stage() {
        assert_eq!(
            context("app", "prod").unwrap(),
            [
                (CONTEXT_SERVICE.to_owned(), "app".to_owned()),
                (CONTEXT_STAGE.to_owned(), "prod".to_owned())
            ]
        );
        for bad in ["", "a\nb"] {
            assert!(matches!(
                context(bad, "prod"),
                Err(SealError::BadService(_))
            ));
        }
    }

    #[test]
    fn nothing_to_seal_makes_no_call() {
        let spec = key_spec("arn:aws:kms:eu-west-1:111122223333:key/abc").unwrap();
        let sealed = seal(&[], &Placement::default(), &["api"], &spec).unwrap();
        assert!(sealed.is_empty());
    }

    #[test]
    fn a_function_name_that_is_not_a_file_name_is_refused() {
        let spec = key_spec("arn:aws:kms:eu-west-1:111122223333:key/abc").unwrap();
        let env = vec![("A1".to_owned(), Text::new("v".to_owned()))];
        let placement = Placement {
            provider: vec![0],
            ..Placement::default()
        };
        assert!(matches!(
            seal(&env, &placement, &["../x"], &spec),
            Err(SealError::BadFunction(_))
        ));
    }

    const MAC: &str = "ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]";

    fn sample() -> SealedMac {
        SealedMac {
            arn: "arn:aws:kms:eu-west-1:111122223333:key/abc".into(),
            enc: "AQID".into(),
            lastmodified: "2026-12-07T02:00:00Z".into(),
            mac: MAC.into(),
            names: names_digest(&["A", "B"]),
        }
    }

    #[test]
    fn the_mac_variable_round_trips() {
        let mac = sample();
        let var = mac.to_var();
        assert!(var.starts_with(
            "1 arn:aws:kms:eu-west-1:111122223333:key/abc AQID 2026-12-07T02:00:00Z ENC["
        ));
        assert_eq!(SealedMac::parse(&var).unwrap(), mac);
    }

    #[test]
    fn a_bad_mac_variable_is_refused() {
        let var = sample().to_var();
        let fields: Vec<&str> = var.split(' ').collect();
        let with = |i: usize, v: &str| {
            let mut f = fields.clone();
            f[i] = v;
            f.join(" ")
        };
        for bad in [
            String::new(),
            "x".into(),
            with(0, "2"),
            with(3, ""),
            with(4, "not-encrypted"),
            format!("{var} extra"),
            var.replace(' ', "  "),
            with(2, "A\u{7}B"),
        ] {
            assert!(
                matches!(SealedMac::parse(&bad), Err(MacVarError::Format)),
                "{bad}"
            );
        }
        assert!(matches!(
            SealedMac::parse(&with(1, "arn:aws:kms:eu-west-1:111122223333:alias/x")),
            Err(MacVarError::Key)
        ));
    }

    #[test]
    fn the_names_digest_tells_order_and_boundaries() {
        assert_ne!(names_digest(&["A", "B"]), names_digest(&["B", "A"]));
        assert_ne!(names_digest(&["AB"]), names_digest(&["A", "B"]));
        assert_eq!(names_digest(&["A", "B"]).len(), 43);
    }

    #[test]
    fn the_mac_of_the_same_values_matches_and_of_others_not() {
        let key = DataKey::generate().unwrap();
        let meta = Metadata::with_keys(Vec::new());
        let (a, b) = (Text::new("one".into()), Text::new("two".into()));
        let copy = || DataKey::from_bytes(key.expose()).unwrap();
        let mut file = payload_file(copy(), meta.clone(), &[("A", &a), ("B", &b)]);
        file.encrypt("2026-12-07T02:00:00Z").unwrap();
        let (mac, when) = (file.meta.mac.clone(), file.meta.lastmodified.clone());
        let same = payload_file(copy(), meta.clone(), &[("A", &a), ("B", &b)]);
        assert!(same.mac_matches(&mac, &when).is_ok());
        let other = payload_file(copy(), meta.clone(), &[("A", &b), ("B", &a)]);
        assert!(matches!(
            other.mac_matches(&mac, &when),
            Err(SopsError::MacMismatch)
        ));
        assert!(matches!(
            same.mac_matches(&mac, "2026-12-07T02:00:01Z"),
            Err(SopsError::MacUnreadable)
        ));
    }
}
