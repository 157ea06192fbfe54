//! Environment variable names a Lambda function accepts.

/// Names Lambda reserves and refuses at deploy (AWS "Defined runtime environment variables",
/// plus `AWS_DEFAULT_REGION`, rejected in practice; ../shared/reference/serverless-facts.md §3).
pub const RESERVED: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// Why a name can't be a Lambda environment variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "`{0}` is not a valid environment variable name: use a letter, then letters, digits or `_` (at least 2 characters, as Lambda requires)"
    )]
    Invalid(String),
    #[error("`{0}` is reserved by AWS Lambda and can't be set on a function")]
    Reserved(String),
    #[error("`sops` is the name of the metadata block of a sops file; pick another name")]
    SopsBlock,
}

impl NameError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            NameError::Invalid(_) => Some("example: DB_PASSWORD"),
            NameError::Reserved(_) => Some("Lambda sets this variable itself; pick another name"),
            NameError::SopsBlock => None,
        }
    }
}

/// Checks a secret's name in a stage file: a Lambda name ([`check`]) that is not `sops`.
pub fn check_secret(name: &str) -> Result<(), NameError> {
    if name == "sops" {
        return Err(NameError::SopsBlock);
    }
    check(name)
}

/// Checks a name against Lambda's reserved names and its pattern `[a-zA-Z][a-zA-Z0-9_]+`.
pub fn check(name: &str) -> Result<(), NameError> {
    // Reserved first: `_HANDLER` also fails the pattern, but "reserved" says more.
    if RESERVED.contains(&name) {
        return Err(NameError::Reserved(name.to_owned()));
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !first_ok || !rest_ok || name.len() < 2 {
        return Err(NameError::Invalid(name.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check("DB_PASSWORD").is_ok());
        assert!(check("a1").is_ok());
        assert_eq!(check("A"), Err(NameError::Invalid("A".into())));
        assert!(matches!(check("1ABC"), Err(NameError::Invalid(_))));
        assert!(matches!(check("MY-KEY"), Err(NameError::Invalid(_))));
        assert!(matches!(check("_X"), Err(NameError::Invalid(_))));
        assert!(matches!(check("AWS_REGION"), Err(NameError::Reserved(_))));
        assert_eq!(
            check("_HANDLER"),
            Err(NameError::Reserved("_HANDLER".into()))
        );
        assert_eq!(
            check("_X_AMZN_TRACE_ID"),
            Err(NameError::Reserved("_X_AMZN_TRACE_ID".into()))
        );
    }
}
