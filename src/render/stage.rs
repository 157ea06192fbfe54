//! Stage detection from `provider.stage`: a literal stage, or the default of
//! `${opt:stage, 'dev'}` (also the v1-era `${{opt:stage, 'dev'}}`). Anything else is unknown.

use super::tree::{Kind, Tree};

/// The stage the file would deploy to without `--stage`, and why.
pub fn detect_stage(source: &str) -> Option<(String, &'static str)> {
    let tree = Tree::parse(source).ok()?;
    let root = tree.deref(tree.root?);
    let (_, _, provider) = tree.lookup(root, "provider", 0)?;
    let provider = tree.deref(provider);
    if !matches!(tree.node(provider).kind, Kind::Map { .. }) {
        return None;
    }
    let (_, _, stage) = tree.lookup(provider, "stage", 0)?;
    let node = tree.node(tree.deref(stage));
    if node.has_tag() {
        return None;
    }
    let value = node.scalar()?.trim();
    if value.is_empty() || node.is_null() {
        return None;
    }
    if !value.contains("${") {
        return Some((value.to_string(), "provider.stage"));
    }
    default_of_opt_stage(value).map(|s| (s, "default of ${opt:stage, ...}"))
}

fn default_of_opt_stage(v: &str) -> Option<String> {
    let inner = v
        .strip_prefix("${{")
        .and_then(|r| r.strip_suffix("}}"))
        .or_else(|| v.strip_prefix("${").and_then(|r| r.strip_suffix('}')))?;
    let mut parts = inner.split(',').map(str::trim);
    if parts.next()? != "opt:stage" {
        return None;
    }
    // The first literal fallback wins only if no other source comes before it; `env:X` etc.
    // could resolve first, so only accept a literal directly after `opt:stage`.
    let d = parts.next()?;
    let lit = d
        .strip_prefix('\'')
        .and_then(|r| r.strip_suffix('\''))
        .or_else(|| d.strip_prefix('"').and_then(|r| r.strip_suffix('"')))?;
    let ok = !lit.is_empty()
        && lit
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    ok.then(|| lit.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects() {
        assert_eq!(
            detect_stage("provider:\n  stage: prod\n"),
            Some(("prod".into(), "provider.stage"))
        );
        assert_eq!(
            detect_stage("provider:\n  stage: ${opt:stage, 'dev'}\n"),
            Some(("dev".into(), "default of ${opt:stage, ...}"))
        );
        assert_eq!(
            detect_stage("provider:\n  stage: ${{opt:stage, \"v1\"}}\n").map(|s| s.0),
            Some("v1".into())
        );
        assert_eq!(detect_stage("provider:\n  stage: ${opt:stage}\n"), None);
        assert_eq!(
            detect_stage("provider:\n  stage: ${opt:stage, env:S, 'dev'}\n"),
            None
        );
        assert_eq!(detect_stage("provider: aws\n"), None);
        assert_eq!(detect_stage("a: [\n"), None);
    }
}
