//! Unified diff for `render --diff`. It is only ever fed masked text (the original with replaced
//! values masked, and the output with every secret written as `****`), so secret bytes never
//! reach the diff engine. Output is deterministic; ANSI colour only when asked. The file's own
//! control characters (a comment holding `ESC[2J`) are escaped, so only our colours reach the
//! terminal.

use similar::{ChangeTag, TextDiff};

use crate::text::{escape_control, escape_control_except_tab};

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const CYAN: &str = "\x1b[36m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Unified diff (3 lines of context) of `original` → `new_text`, labelled `a/<label>` and
/// `b/<label>`. Empty when the texts are equal. Lines keep their own endings (CRLF stays CRLF);
/// a missing final newline is shown as `\ No newline at end of file`, like `diff -u`.
pub fn unified_diff(original: &str, new_text: &str, label: &str, color: bool) -> String {
    if original == new_text {
        return String::new();
    }
    let diff = TextDiff::from_lines(original, new_text);
    let mut out = String::new();
    let label = escape_control(label);
    let (bold, cyan, red, green, reset) = if color {
        (BOLD, CYAN, RED, GREEN, RESET)
    } else {
        ("", "", "", "", "")
    };
    out.push_str(&format!(
        "{bold}--- a/{label}{reset}\n{bold}+++ b/{label}{reset}\n"
    ));
    let mut udiff = diff.unified_diff();
    udiff.context_radius(3);
    for hunk in udiff.iter_hunks() {
        out.push_str(&format!("{cyan}{}{reset}\n", hunk.header()));
        for change in hunk.iter_changes() {
            let (sign, col) = match change.tag() {
                ChangeTag::Delete => ('-', red),
                ChangeTag::Insert => ('+', green),
                ChangeTag::Equal => (' ', ""),
            };
            let text = change.value();
            let (body, ending) = split_ending(text);
            let body = escape_control_except_tab(body);
            let reset_here = if col.is_empty() { "" } else { reset };
            out.push_str(&format!("{col}{sign}{body}{reset_here}"));
            if ending.is_empty() {
                out.push_str("\n\\ No newline at end of file\n");
            } else {
                out.push_str(ending);
            }
        }
    }
    out
}

fn split_ending(line: &str) -> (&str, &str) {
    if let Some(b) = line.strip_suffix("\r\n") {
        (b, "\r\n")
    } else if let Some(b) = line.strip_suffix('\n') {
        (b, "\n")
    } else {
        (line, "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_colour() {
        let d = unified_diff("a\nb\n", "a\nc", "serverless.yml", false);
        assert_eq!(
            d,
            "--- a/serverless.yml\n+++ b/serverless.yml\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n\\ No newline at end of file\n"
        );
        let c = unified_diff("a\n", "b\n", "x", true);
        assert!(c.contains("\x1b[31m-a\x1b[0m\n") && c.contains("\x1b[32m+b\x1b[0m\n"));
        assert_eq!(unified_diff("x", "x", "l", true), "");
    }
}
