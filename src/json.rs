//! The little JSON the command line prints (`list --json`, `diff --json`): strings escaped
//! by hand, so the binary needs no serializer.

/// `s` as a JSON string literal.
pub fn string(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    push_string(&mut o, s);
    o
}

/// Appends `s` as a JSON string literal to `o` (`export` writes secret values into a buffer it
/// zeroizes, so no intermediate copy is made).
pub fn push_string(o: &mut String, s: &str) {
    use std::fmt::Write as _;
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            // C0 as JSON requires, and DEL and C1 too, so a terminal never sees them raw.
            c if c.is_control() => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
}

/// A JSON array of strings.
pub fn string_array<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let parts: Vec<String> = items.into_iter().map(string).collect();
    format!("[{}]", parts.join(","))
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes() {
        assert_eq!(super::string("a\"b\\c\nd\u{1}"), r#""a\"b\\c\nd\u0001""#);
        assert_eq!(super::string("\u{7f}\u{9b}"), r#""\u007f\u009b""#);
        assert_eq!(super::string_array(["x", "y"]), r#"["x","y"]"#);
    }
}
