//! Text shown to a person: names from a stage file or `serverless.yml` may hold terminal
//! escape sequences, so every human-readable output goes through [`escape_control`].

use std::borrow::Cow;
use std::fmt::Write;

/// `s` with every control character (C0, DEL, C1) written as a Rust escape, `\u{1b}`, so a
/// name can't move the cursor, recolour or clear the terminal. Line breaks are escaped too:
/// use [`escape_control_lines`] for text whose line breaks are our own.
pub fn escape_control(s: &str) -> Cow<'_, str> {
    escape_where(s, char::is_control)
}

/// [`escape_control`] that leaves tabs alone: for lines of a file shown as they are (a diff),
/// where a tab is layout, not an escape.
pub fn escape_control_except_tab(s: &str) -> Cow<'_, str> {
    escape_where(s, |c| c != '\t' && c.is_control())
}

fn escape_where(s: &str, escape: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(&escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if escape(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`escape_control`] for each line of a multi-line message, keeping its `\n` line breaks.
pub fn escape_control_lines(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c != '\n' && c.is_control()) {
        return Cow::Borrowed(s);
    }
    let lines: Vec<Cow<'_, str>> = s.split('\n').map(escape_control).collect();
    Cow::Owned(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_c0_del_and_c1_only() {
        assert_eq!(escape_control("DB_PASSWORD"), "DB_PASSWORD");
        assert_eq!(escape_control("é ü ✓"), "é ü ✓");
        assert_eq!(
            escape_control("A\u{1b}[2J\u{7f}\u{9b}\t\r\nB"),
            "A\\u{1b}[2J\\u{7f}\\u{9b}\\u{9}\\u{d}\\u{a}B"
        );
        assert_eq!(
            escape_control_except_tab("a\tb\u{1b}[2J\r"),
            "a\tb\\u{1b}[2J\\u{d}"
        );
        assert_eq!(
            escape_control_lines("error: `A\u{1b}`\nhint: x\r"),
            "error: `A\\u{1b}`\nhint: x\\u{d}"
        );
    }
}
