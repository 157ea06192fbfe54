//! Why a key source failed: one typed error per source, and [`KeyError`] for the
//! [`KeySource`](super::KeySource) interface. Kept apart from the sources so that each source
//! file can name them without importing another. Errors carry names, ARNs and line numbers,
//! never key material.

/// Any source's error, as the key-source interface returns it.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Age(#[from] AgeError),
    #[error(transparent)]
    Kms(#[from] KmsError),
}

impl KeyError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            KeyError::Age(_) => None,
            KeyError::Kms(e) => e.hint(),
        }
    }
}

/// Why an age recipient, an identity source or an age wrap failed.
#[derive(Debug, thiserror::Error)]
pub enum AgeError {
    /// Holds the text already redacted: a pasted private key must not reach `Debug` either.
    #[error("`{text}` is not an age recipient: {why}")]
    BadRecipient { text: String, why: String },
    #[error("{source_name}: line {line} is not an age identity (expected AGE-SECRET-KEY-1...)")]
    BadIdentity { source_name: String, line: usize },
    #[error("{source_name}: {why}")]
    Source { source_name: String, why: String },
    #[error("age encryption failed: {0}")]
    Wrap(String),
    #[error("can't encrypt for {recipient}: the program {program} was not found on PATH")]
    MissingPlugin { program: String, recipient: String },
}

/// Why a KMS wrap or unwrap failed. Carries ARNs, names and SDK messages, never key bytes.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KmsError {
    #[error("`{0}` is not a KMS key ARN")]
    BadArn(String),
    #[error("`sops.kms[].enc` of {arn} is not valid base64")]
    BadEnc { arn: String },
    #[error("can't start the runtime for AWS calls: {0}")]
    Runtime(String),
    /// The SDK panics on an empty endpoint override: refused before it is reached.
    #[error("{var} is set but empty")]
    EmptyEndpoint { var: &'static str },
    #[error("no AWS region for KMS key {arn}")]
    NoRegion { arn: String },
    #[error("no AWS credentials for KMS key {arn}{via}: {chain}")]
    NoCredentials {
        arn: String,
        via: String,
        chain: String,
    },
    #[error("assuming role {role} for KMS key {arn} failed: {why}")]
    AssumeRole {
        arn: String,
        role: String,
        why: String,
    },
    #[error("KMS denied {op} with key {arn} to {identity}: {why}")]
    AccessDenied {
        op: &'static str,
        arn: String,
        identity: String,
        why: String,
    },
    #[error(
        "KMS key {arn} can't decrypt this data key: wrong key, or the encryption context in the file does not match the one it was wrapped with"
    )]
    InvalidCiphertext { arn: String },
    #[error("KMS key {arn} was not found in region {region}{why}")]
    NotFound {
        arn: String,
        region: String,
        why: String,
    },
    #[error("KMS key {arn} is disabled or pending deletion{why}")]
    Disabled { arn: String, why: String },
    #[error("no answer from KMS at {endpoint} for key {arn} within {secs} s")]
    Timeout {
        arn: String,
        endpoint: String,
        secs: u64,
    },
    #[error("can't reach KMS at {endpoint} for key {arn}: {why}")]
    Unreachable {
        arn: String,
        endpoint: String,
        why: String,
    },
    #[error("KMS {op} with key {arn} failed: {why}")]
    Service {
        op: &'static str,
        arn: String,
        why: String,
    },
    /// An answer that is not a KMS response (a proxy's page, a wrong endpoint): the SDK can
    /// only call it "unhandled", so say what came back and from where.
    #[error(
        "KMS {op} with key {arn} failed: HTTP {status} from {endpoint}, which is not a KMS answer{why}"
    )]
    BadResponse {
        op: &'static str,
        arn: String,
        status: u16,
        endpoint: String,
        why: String,
    },
    #[error("KMS returned a {len}-byte data key for {arn}; sops data keys are 32 bytes")]
    BadKeyLength { arn: String, len: usize },
    #[error("{reason} (skipped {arn}, which uses the same AWS client)")]
    Skipped { arn: String, reason: String },
}

impl KmsError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            KmsError::EmptyEndpoint { .. } => {
                "unset it, or set it to the KMS endpoint's URL".into()
            }
            KmsError::BadArn(_) => {
                "a KMS key ARN looks like arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab (append +arn:aws:iam::…:role/NAME to assume a role)".into()
            }
            KmsError::NoRegion { .. } => {
                "use the full key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), or set AWS_REGION".into()
            }
            KmsError::NoCredentials { via, .. } => {
                let mut h = String::from(
                    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE for a profile in ~/.aws/config (SSO profiles: run `aws sso login` first)",
                );
                if via.contains("profile") {
                    h.push_str("; check that the profile named in the file exists in ~/.aws/config or ~/.aws/credentials");
                }
                h
            }
            KmsError::AssumeRole { .. } => {
                "the current AWS identity must be allowed sts:AssumeRole on that role (check the role's trust policy)".into()
            }
            KmsError::AccessDenied { .. } => {
                "the identity needs kms:Decrypt (to read) or kms:Encrypt (to write) on the key: check the key policy and IAM policy, or use the deploy role".into()
            }
            KmsError::InvalidCiphertext { .. } => {
                "the `context` under sops.kms must be exactly the one used when the key was wrapped; restore the file from git".into()
            }
            KmsError::NotFound { .. } => {
                "check the key ARN and that the credentials are for the key's account".into()
            }
            KmsError::Timeout { .. } | KmsError::Unreachable { .. } => {
                "check the network; AWS_ENDPOINT_URL_KMS / AWS_ENDPOINT_URL override the endpoint".into()
            }
            KmsError::BadResponse { .. } => {
                "check AWS_ENDPOINT_URL_KMS / AWS_ENDPOINT_URL and any proxy (HTTPS_PROXY) between you and KMS".into()
            }
            _ => return None,
        })
    }
}
