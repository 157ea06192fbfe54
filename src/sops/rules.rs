//! Which values sops encrypts: the `*_suffix` / `*_regex` rules, tested against every
//! component of a value's key path (sops.go `shouldBeEncrypted`).

use regex::Regex;

/// The one encryption rule in effect for a file. Absent any, sops assumes
/// `unencrypted_suffix: _unencrypted`.
#[derive(Clone)]
pub enum Rule {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    UnencryptedRegex(Regex),
    EncryptedRegex(Regex),
}

impl Default for Rule {
    fn default() -> Self {
        Rule::UnencryptedSuffix("_unencrypted".to_owned())
    }
}

impl Rule {
    /// The metadata key this rule is stored under.
    pub fn key(&self) -> &'static str {
        match self {
            Rule::UnencryptedSuffix(_) => "unencrypted_suffix",
            Rule::EncryptedSuffix(_) => "encrypted_suffix",
            Rule::UnencryptedRegex(_) => "unencrypted_regex",
            Rule::EncryptedRegex(_) => "encrypted_regex",
        }
    }

    /// The rule's text as stored.
    pub fn text(&self) -> &str {
        match self {
            Rule::UnencryptedSuffix(s) | Rule::EncryptedSuffix(s) => s,
            Rule::UnencryptedRegex(r) | Rule::EncryptedRegex(r) => r.as_str(),
        }
    }

    /// Builds a rule from its metadata key and text; `Err` carries the regex error text.
    pub fn from_key(key: &str, text: &str) -> Option<Result<Rule, String>> {
        let regex = || Regex::new(text).map_err(|e| e.to_string());
        Some(match key {
            "unencrypted_suffix" => Ok(Rule::UnencryptedSuffix(text.to_owned())),
            "encrypted_suffix" => Ok(Rule::EncryptedSuffix(text.to_owned())),
            "unencrypted_regex" => regex().map(Rule::UnencryptedRegex),
            "encrypted_regex" => regex().map(Rule::EncryptedRegex),
            _ => return None,
        })
    }

    /// Whether a value at `path` is encrypted. Regexes are unanchored, as Go's `regexp.Match`.
    pub fn encrypts(&self, path: &[String]) -> bool {
        match self {
            Rule::UnencryptedSuffix(s) => !path.iter().any(|c| c.ends_with(s.as_str())),
            Rule::EncryptedSuffix(s) => path.iter().any(|c| c.ends_with(s.as_str())),
            Rule::UnencryptedRegex(r) => !path.iter().any(|c| r.is_match(c)),
            Rule::EncryptedRegex(r) => path.iter().any(|c| r.is_match(c)),
        }
    }
}

/// Every rule key sops knows, including the comment rules we refuse.
pub const RULE_KEYS: [&str; 6] = [
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn p(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn default_suffix_applies_to_ancestors() {
        let r = Rule::default();
        assert!(r.encrypts(&p(&["DB_PASSWORD"])));
        assert!(!r.encrypts(&p(&["PUBLIC_unencrypted"])));
        assert!(!r.encrypts(&p(&["x_unencrypted", "inner"])));
    }

    #[test]
    fn regex_is_unanchored_and_tests_every_component() {
        let r = Rule::from_key("encrypted_regex", "^(DB_PASSWORD|API_KEY)$")
            .unwrap()
            .unwrap();
        assert!(r.encrypts(&p(&["nested", "DB_PASSWORD"])));
        assert!(!r.encrypts(&p(&["nested", "other"])));
        let r = Rule::from_key("encrypted_regex", "PASS").unwrap().unwrap();
        assert!(r.encrypts(&p(&["MY_PASSWORD"])));
    }
}
