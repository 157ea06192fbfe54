//! Which Serverless framework will read the rendered file, because they read `${` differently:
//! Serverless v3 and osls (3 and 4) read `\${` as a literal `${`, while Serverless v4 has no
//! escape and re-resolves placeholders inside resolved values (its own tests: "backslash does
//! NOT escape the variable"), so a secret containing `${` can't be written safely for v4.
//!
//! Detection, first match wins: the nearest `package.json` from the service folder up to the
//! repository root that depends on `osls` (osls rules) or on `serverless` (that major); else
//! `frameworkVersion` in `serverless.yml`; else v3.

use std::path::{Path, PathBuf};

/// The framework's rules for `${` in values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    /// Serverless Framework v3 (and earlier): `\${` is a literal.
    V3,
    /// Serverless Framework v4: no escape for `${`.
    V4,
    /// osls, the open fork (3.x and its own 4.x): reads `\${` like v3.
    Osls,
}

impl Framework {
    pub fn name(self) -> &'static str {
        match self {
            Framework::V3 => "Serverless v3",
            Framework::V4 => "Serverless v4",
            Framework::Osls => "osls",
        }
    }

    /// Whether a value containing `${` can be written so the framework reads it literally.
    pub fn escapes_placeholders(self) -> bool {
        self != Framework::V4
    }
}

/// The detected framework and why (for stderr).
pub fn detect(service_dir: &Path, repo_root: &Path, serverless_yml: &str) -> (Framework, String) {
    for dir in service_dir.ancestors() {
        let manifest = dir.join("package.json");
        if let Ok(text) = crate::files::read_text(&manifest)
            && let Some((framework, dep)) = from_package_json(&text)
        {
            return (framework, format!("{} depends on {dep}", shown(&manifest)));
        }
        if dir == repo_root {
            break;
        }
    }
    if let Some((framework, raw)) = from_framework_version(serverless_yml) {
        return (framework, format!("frameworkVersion: {raw}"));
    }
    (
        Framework::V3,
        "the default; no package.json names osls or serverless".into(),
    )
}

fn shown(p: &Path) -> String {
    let p: PathBuf = p.components().collect();
    p.display().to_string()
}

/// `osls` or `serverless` among the dependencies of a package.json (any dependency field).
/// A small scan for `"NAME": "RANGE"`, which is how npm writes a dependency; the package's own
/// `"name"` is never a `"serverless": "..."` pair.
fn from_package_json(text: &str) -> Option<(Framework, String)> {
    if let Some(range) = dependency(text, "osls") {
        return Some((Framework::Osls, format!("osls {range}")));
    }
    let range = dependency(text, "serverless")?;
    match major(&range)? {
        4.. => Some((Framework::V4, format!("serverless {range}"))),
        _ => Some((Framework::V3, format!("serverless {range}"))),
    }
}

fn dependency(text: &str, name: &str) -> Option<String> {
    let key = format!("\"{name}\"");
    let mut rest = text;
    while let Some(i) = rest.find(&key) {
        let after = rest[i + key.len()..].trim_start();
        if let Some(v) = after.strip_prefix(':').map(str::trim_start)
            && let Some(v) = v.strip_prefix('"')
            && let Some(end) = v.find('"')
        {
            return Some(v[..end].to_owned());
        }
        rest = &rest[i + key.len()..];
    }
    None
}

/// The major version a range asks for: `^4.2.0`, `~3.38`, `>=4`, `4.x`, `v3` → 4, 3, 4, 4, 3.
fn major(range: &str) -> Option<u32> {
    let digits: String = range
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// A top-level `frameworkVersion: '4'` (any quoting or range).
fn from_framework_version(serverless_yml: &str) -> Option<(Framework, String)> {
    let line = serverless_yml
        .lines()
        .find_map(|l| l.strip_prefix("frameworkVersion:"))?;
    let raw = line.split(" #").next().unwrap_or("").trim();
    let framework = match major(raw)? {
        4.. => Framework::V4,
        _ => Framework::V3,
    };
    Some((framework, raw.chars().take(40).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_json_decides() {
        let pj = |deps: &str| format!("{{\"name\": \"svc\", \"devDependencies\": {{{deps}}}}}");
        assert_eq!(
            from_package_json(&pj(r#""serverless": "^4.2.0""#)).map(|f| f.0),
            Some(Framework::V4)
        );
        assert_eq!(
            from_package_json(&pj(r#""serverless": "3.38.0""#)).map(|f| f.0),
            Some(Framework::V3)
        );
        assert_eq!(
            from_package_json(&pj(r#""osls": "^4.1.0", "serverless": "^4""#)).map(|f| f.0),
            Some(Framework::Osls)
        );
        assert_eq!(
            from_package_json(&pj(r#""serverless-offline": "^13""#)),
            None
        );
        assert_eq!(from_package_json(r#"{"name": "serverless"}"#), None);
        assert_eq!(from_package_json(&pj(r#""serverless": "latest""#)), None);
    }

    #[test]
    fn framework_version_is_the_fallback() {
        assert_eq!(
            from_framework_version("service: a\nframeworkVersion: '4'\n").map(|f| f.0),
            Some(Framework::V4)
        );
        assert_eq!(
            from_framework_version("frameworkVersion: \">=3.38.0 <4\" # pin\n").map(|f| f.0),
            Some(Framework::V3)
        );
        assert_eq!(from_framework_version("service: a\n"), None);
        assert!(!Framework::V4.escapes_placeholders());
        assert!(Framework::Osls.escapes_placeholders() && Framework::V3.escapes_placeholders());
    }

    #[test]
    fn the_nearest_package_json_up_to_the_repository_root() {
        let root = tempfile::tempdir().unwrap();
        let svc = root.path().join("services/api");
        std::fs::create_dir_all(&svc).unwrap();
        std::fs::write(
            root.path().join("package.json"),
            r#"{"devDependencies": {"serverless": "^4.4.0"}}"#,
        )
        .unwrap();
        let (f, why) = detect(&svc, root.path(), "frameworkVersion: '3'\n");
        assert_eq!(f, Framework::V4, "{why}");
        assert!(why.contains("serverless ^4.4.0"), "{why}");
        // Above the repository root nothing counts.
        let (f, _) = detect(&svc, &svc, "service: a\n");
        assert_eq!(f, Framework::V3);
    }
}
