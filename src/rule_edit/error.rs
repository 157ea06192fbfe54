//! What the `.sops.yaml` editor refuses.

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("no block list `creation_rules:` at the start of a line")]
    NoRules,
    #[error("creation_rules[{0}] is not in the file")]
    NoRule(usize),
    #[error("line {line}: {what}, which sls-secrets does not edit")]
    Unsupported { line: usize, what: String },
}
