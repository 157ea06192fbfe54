//! How keys and secret values are written into `serverless.yml`.
//!
//! Values are always YAML double-quoted, single-line scalars (never implicitly typed: `0755`,
//! `yes`, `~` and dates stay strings), after Serverless v3's `${` escape has been applied so a
//! secret containing `${...}` stays literal (yaml-editing.md §7–8, serverless-facts.md §4).

use zeroize::Zeroizing;

/// Why a value cannot be written so that Serverless v3 reads it back unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unwritable {
    /// `$${`: v3 swallows the extra `$` into the variable and has no escape for it.
    DollarDollarBrace,
}

/// Apply v3's escape: for every `${`, the run of m backslashes just before it becomes 2m+1.
/// v3 then turns an odd run of k backslashes before `${` into (k-1)/2 and a literal `${`.
pub fn serverless_escape(value: &str) -> Result<Zeroizing<String>, Unwritable> {
    if value.contains("$${") {
        return Err(Unwritable::DollarDollarBrace);
    }
    let mut out = Zeroizing::new(String::with_capacity(value.len() + 8));
    let mut rest = value;
    while let Some(p) = rest.find("${") {
        let before = &rest[..p];
        let m = before.len() - before.trim_end_matches('\\').len();
        out.push_str(&before[..before.len() - m]);
        for _ in 0..(2 * m + 1) {
            out.push('\\');
        }
        out.push_str("${");
        rest = &rest[p + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Model of v3's un-escaping (lib/configuration/variables/parse.js) for strings produced by
/// [`serverless_escape`]: `None` when v3 would treat some `${` as a variable.
pub fn serverless_unescape(value: &str) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(p) = rest.find("${") {
        let before = &rest[..p];
        let k = before.len() - before.trim_end_matches('\\').len();
        if k.is_multiple_of(2) {
            return None;
        }
        out.push_str(&before[..before.len() - k]);
        for _ in 0..k / 2 {
            out.push('\\');
        }
        out.push_str("${");
        rest = &rest[p + 2..];
    }
    out.push_str(rest);
    Some(out)
}

/// YAML double-quoted scalar for any string (escaping everything outside YAML's printable set).
pub fn double_quoted(value: &str) -> Zeroizing<String> {
    use std::fmt::Write;
    let mut out = Zeroizing::new(String::with_capacity(value.len() + 2));
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            '\u{feff}' | '\u{fffe}' | '\u{ffff}' => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c if (c as u32) < 0x20 || (0x7f..=0x9f).contains(&(c as u32)) => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The full text written for a secret value.
pub fn encode_value(value: &str) -> Result<Zeroizing<String>, Unwritable> {
    Ok(double_quoted(&serverless_escape(value)?))
}

/// Keys are validated names (`[A-Za-z][A-Za-z0-9_]*`); only YAML 1.1 booleans/nulls need quotes.
pub fn encode_key(key: &str) -> String {
    const WORDS: [&str; 9] = ["y", "n", "yes", "no", "on", "off", "true", "false", "null"];
    let plain_ok = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !WORDS.iter().any(|w| w.eq_ignore_ascii_case(key));
    if plain_ok {
        key.to_string()
    } else {
        double_quoted(key).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_rule_examples() {
        assert_eq!(
            encode_value("p${opt:x}").unwrap().as_str(),
            r#""p\\${opt:x}""#
        );
        assert_eq!(
            encode_value(r"a\${b:c}").unwrap().as_str(),
            r#""a\\\\\\${b:c}""#
        );
        assert_eq!(
            encode_value("a$${b:c}").err(),
            Some(Unwritable::DollarDollarBrace)
        );
        for v in ["", "x${a}${b}", r"\\${", "${", "$", "\\", "a\\"] {
            let e = serverless_escape(v).unwrap();
            assert_eq!(serverless_unescape(&e).as_deref(), Some(v));
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(
            double_quoted("a\"b\n\u{2028}\u{7f}\u{85}é").as_str(),
            "\"a\\\"b\\n\\L\\x7F\\Né\""
        );
        assert_eq!(encode_key("yes"), "\"yes\"");
        assert_eq!(encode_key("DB_URL"), "DB_URL");
    }
}
