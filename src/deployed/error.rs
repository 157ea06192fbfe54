//! Errors reading what is deployed: where (endpoint, stack, function) and what AWS said,
//! never a value.

use crate::keys::kms::{ATTEMPT_TIMEOUT, CALL_DEADLINE, MAX_ATTEMPTS};

#[derive(Debug, Clone, thiserror::Error)]
pub enum DeployedError {
    #[error("{var} is set but empty")]
    EmptyEndpoint { var: &'static str },
    #[error("no AWS credentials{via}: {chain}")]
    NoCredentials { via: String, chain: String },
    #[error("{op} timed out: no answer from {endpoint} within {secs}s")]
    Timeout {
        op: &'static str,
        endpoint: String,
        secs: u64,
    },
    #[error("can't reach {endpoint}: {why}")]
    Unreachable { endpoint: String, why: String },
    #[error("stack `{stack}` does not exist in {region}")]
    NoStack { stack: String, region: String },
    #[error("function `{name}` does not exist (the stack lists it)")]
    NoFunction { name: String },
    #[error("AWS denied {op} to {identity}: {why}")]
    AccessDenied {
        op: &'static str,
        identity: String,
        why: String,
    },
    #[error("{op} failed: {why}")]
    Service { op: &'static str, why: String },
    #[error("{op}: HTTP {status} from {endpoint}: {why}")]
    BadResponse {
        op: &'static str,
        status: u16,
        endpoint: String,
        why: String,
    },
    #[error("can't start the AWS client: {0}")]
    Runtime(String),
}

impl DeployedError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            DeployedError::EmptyEndpoint { var } => {
                format!("unset {var} or set it to an endpoint URL")
            }
            DeployedError::NoCredentials { .. } => {
                "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (the credentials you deploy with)".into()
            }
            DeployedError::Timeout { .. } | DeployedError::Unreachable { .. } => format!(
                "check the network, or AWS_ENDPOINT_URL_CLOUDFORMATION / AWS_ENDPOINT_URL_LAMBDA / AWS_ENDPOINT_URL ({}s per attempt, {MAX_ATTEMPTS} attempts, {}s per call)",
                ATTEMPT_TIMEOUT.as_secs(),
                CALL_DEADLINE.as_secs()
            ),
            DeployedError::NoStack { .. } => {
                "deploy the stage first, or pass --region / set provider.region or provider.stackName as deployed".into()
            }
            DeployedError::AccessDenied { .. } => {
                "status needs cloudformation:ListStackResources and lambda:GetFunctionConfiguration (README: status)".into()
            }
            DeployedError::BadResponse { .. } => {
                "check AWS_ENDPOINT_URL_CLOUDFORMATION / AWS_ENDPOINT_URL_LAMBDA / AWS_ENDPOINT_URL (a proxy or a wrong URL?)".into()
            }
            _ => return None,
        })
    }
}
