//! The render error type. `Display` says where (line:col) and what to do; no variant ever
//! holds a secret value.

use super::tree::{NodeId, Tree};

/// Errors never contain a secret value; `Display` says where and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file is not valid YAML.
    #[error(
        "{line}:{col}: invalid YAML: {message}\n  {line} | {snippet}\nhint: fix the YAML syntax at that position (Serverless would reject the file too)"
    )]
    Parse {
        line: usize,
        col: usize,
        message: String,
        snippet: String,
    },
    /// Valid YAML whose shape cannot be edited safely.
    #[error("{line}:{col}: cannot add the secrets: {what}\nhint: {hint}")]
    Unsupported {
        line: usize,
        col: usize,
        what: String,
        hint: String,
    },
    /// A merged function environment over the Lambda limit.
    #[error("{0}\nhint: move large values to SSM Parameter Store or Secrets Manager")]
    TooLarge(#[from] crate::lambda::TooLarge),
    /// An environment key that Lambda rejects.
    #[error(
        "{location}: invalid environment variable name `{name}` (Lambda requires [A-Za-z][A-Za-z0-9_]+: a letter, then at least one letter, digit or `_`)\nhint: rename the key"
    )]
    InvalidName { name: String, location: String },
    /// A name reserved by the Lambda runtime.
    #[error(
        "{location}: `{name}` is reserved by AWS Lambda and cannot be set\nhint: rename the key"
    )]
    Reserved { name: String, location: String },
    /// A secret value that cannot be written so Serverless reads it back unchanged.
    #[error("secret `{name}`: {reason}\nhint: change the value (the tool never prints it)")]
    Unwritable { name: String, reason: String },
    /// A value containing `${` for a framework that has no escape for it (Serverless v4
    /// re-resolves placeholders inside values).
    #[error(
        "secret `{name}`: the value contains `${{`, and {framework} has no escape for it: it would resolve it as a variable\nhint: use the sls-secrets Serverless plugin (`plugins: [sls-secrets]`), which sets values after variables are resolved, or `sls-secrets exec`; if another framework reads this file, pass --framework v3|osls"
    )]
    Unescapable {
        name: String,
        framework: &'static str,
    },
    /// A bug: the edit did not produce the intended document. Nothing was written.
    #[error(
        "internal error, nothing was written: {message}\nhint: please report this with the file's structure (not its secrets)"
    )]
    Internal { message: String },
}

/// A shape we refuse to edit, located at `node`.
pub(crate) fn unsupported(tree: &Tree<'_>, node: NodeId, what: String, hint: &str) -> Error {
    let n = tree.node(node);
    Error::Unsupported {
        line: n.line(),
        col: n.col() + 1,
        what,
        hint: hint.to_string(),
    }
}
