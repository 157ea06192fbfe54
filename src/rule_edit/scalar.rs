//! Scalars as `.sops.yaml` holds recipients: plain, single- or double-quoted, each a comma
//! list (sops splits every `age` string on commas, in a list item too), and how to write one
//! back in the style it had.

/// How a scalar was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Style {
    Plain,
    Single,
    Double,
}

/// Whether `s` can be written as a plain scalar and read back as the same string: no
/// indicator first, no `: ` or ` #`, not a number, bool or null; in a flow list no `,[]{}`.
pub(super) fn plain_ok(s: &str, flow: bool) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    !("-?:,[]{}#&*!|>'\"%@`".contains(first))
        && s == s.trim()
        && !s.chars().any(char::is_control)
        && !s.contains(": ")
        && !s.ends_with(':')
        && comment_start(s).is_none()
        && !(flow && s.contains([',', '[', ']', '{', '}']))
        && matches!(crate::yaml::resolve_plain(s), crate::yaml::Value::Str(_))
}

/// `s` as a block-context scalar: plain when it reads back the same, else single-quoted
/// (no escapes to get wrong: a quote is doubled).
pub fn scalar(s: &str) -> String {
    if plain_ok(s, false) {
        s.to_owned()
    } else {
        encode(s, Style::Single)
    }
}

/// `s` as an item of a flow list (`[a, b]`).
pub(super) fn flow_scalar(s: &str) -> String {
    if plain_ok(s, true) {
        s.to_owned()
    } else {
        encode(s, Style::Single)
    }
}

/// `s` written in `style`; a plain scalar that would not read back becomes single-quoted.
pub(super) fn encode(s: &str, style: Style) -> String {
    match style {
        Style::Plain if plain_ok(s, false) => s.to_owned(),
        Style::Plain | Style::Single => format!("'{}'", s.replace('\'', "''")),
        Style::Double => format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
    }
}

/// The string a scalar's content (between its quotes) stands for. A double-quoted scalar
/// with escapes is not decoded (`None`): recipients never need them, and a wrong decoding
/// would write another recipient back.
pub(super) fn decode(content: &str, style: Style) -> Option<String> {
    match style {
        Style::Plain => Some(content.to_owned()),
        Style::Single => Some(content.replace("''", "'")),
        Style::Double => (!content.contains('\\')).then(|| content.to_owned()),
    }
}

/// A comma list with `item` added, in the list's own separator style (`a, b` or `a,b`; a
/// list of one takes `default`).
pub(super) fn list_add(list: &str, item: &str, default: &str) -> String {
    if list.trim().is_empty() {
        return item.to_owned();
    }
    let sep = if list.contains(',') {
        separator(list)
    } else {
        default
    };
    format!("{}{sep}{item}", list.trim_end())
}

/// A comma list without the items `matches` accepts (compared trimmed), in the list's own
/// separator style. `None` when no item matched.
pub(super) fn list_remove(list: &str, matches: &dyn Fn(&str) -> bool) -> Option<String> {
    let items: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let kept: Vec<&str> = items.iter().copied().filter(|p| !matches(p)).collect();
    if kept.len() == items.len() {
        return None;
    }
    Some(kept.join(separator(list)))
}

/// The separator a comma list uses: `a, b` or `a,b`.
fn separator(list: &str) -> &'static str {
    if list.contains(", ") { ", " } else { "," }
}

/// Splits a line's text after a key (`age: x # c`) into the value's style, its content
/// range (between any quotes) and what follows; `Err` for what this editor does not change
/// (block scalars, anchors, tags, a quote not closed on the line).
pub(super) fn inline_value(line: &str, from: usize) -> Result<Option<Inline>, String> {
    let rest = &line[from..];
    let start = from + (rest.len() - rest.trim_start().len());
    let value = &line[start..];
    let Some(first) = value.chars().next() else {
        return Ok(None);
    };
    let (style, open, close) = match first {
        '#' => return Ok(None),
        '\'' => (
            Some(Style::Single),
            1,
            closing_single(&value[1..]).map(|i| i + 1),
        ),
        '"' => (
            Some(Style::Double),
            1,
            closing_double(&value[1..]).map(|i| i + 1),
        ),
        '[' => (None, 1, closing_flow(value)),
        '{' | '|' | '>' | '&' | '*' | '!' => {
            return Err(format!(
                "a `{first}` value (mapping, block scalar, anchor or tag)"
            ));
        }
        _ => {
            let end = comment_start(value).unwrap_or(value.len());
            let content = value[..end].trim_end();
            return Ok(Some(Inline {
                kind: InlineKind::Scalar(Style::Plain),
                start,
                end: start + content.len(),
                after: start + content.len(),
            }));
        }
    };
    let Some(close) = close else {
        return Err("a quoted value or flow list that does not end on its line".into());
    };
    let tail = value[close + 1..].trim_start();
    if !(tail.is_empty() || tail.starts_with('#')) {
        return Err("text after a quoted value".into());
    }
    Ok(Some(Inline {
        kind: style.map_or(InlineKind::Flow, InlineKind::Scalar),
        start: start + open,
        end: start + close,
        after: start + close + 1,
    }))
}

/// Where a comment starts in a plain scalar's line: a `#` after a space or a tab.
fn comment_start(s: &str) -> Option<usize> {
    s.as_bytes()
        .windows(2)
        .position(|w| matches!(w, [b' ' | b'\t', b'#']))
}

/// The index of the `]` that closes a flow list of scalars (quoted ones may hold `]`).
fn closing_flow(value: &str) -> Option<usize> {
    let bytes = value.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b']' => return Some(i),
            // A nested list or mapping is not a list of recipients.
            b'[' | b'{' => return None,
            b'\'' => i += 1 + closing_single(&value[i + 1..])?,
            b'"' => i += 1 + closing_double(&value[i + 1..])?,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The items of a flow list's content, split at the commas outside quotes: each as written
/// and decoded; `None` when an item can't be decoded (a double-quoted one with escapes).
pub(super) fn flow_items(content: &str) -> Option<Vec<(&str, String)>> {
    let mut items = Vec::new();
    let (bytes, mut start, mut i) = (content.as_bytes(), 0, 0);
    while i <= bytes.len() {
        match bytes.get(i) {
            None | Some(b',') => {
                let item = content[start..i].trim();
                if !item.is_empty() {
                    items.push((item, decode_item(item)?));
                }
                start = i + 1;
            }
            Some(b'\'') => i += 1 + closing_single(&content[i + 1..])?,
            Some(b'"') => i += 1 + closing_double(&content[i + 1..])?,
            Some(_) => {}
        }
        i += 1;
    }
    Some(items)
}

fn decode_item(item: &str) -> Option<String> {
    if let Some(inner) = item.strip_prefix('\'').and_then(|i| i.strip_suffix('\'')) {
        decode(inner, Style::Single)
    } else if let Some(inner) = item.strip_prefix('"').and_then(|i| i.strip_suffix('"')) {
        decode(inner, Style::Double)
    } else {
        Some(item.to_owned())
    }
}

/// The index of the closing quote of a single-quoted scalar (`''` is an escaped quote).
fn closing_single(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            if bytes.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(i);
        }
        i += 1;
    }
    None
}

/// The index of the closing quote of a double-quoted scalar.
fn closing_double(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// What an inline value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum InlineKind {
    Scalar(Style),
    /// `[a, b]`: the content is between the brackets.
    Flow,
}

/// An inline value of a line: `line[start..end]` is its content (inside quotes or
/// brackets), `line[after..]` what follows it (spaces, a comment).
#[derive(Clone, Copy, Debug)]
pub(super) struct Inline {
    pub kind: InlineKind,
    pub start: usize,
    pub end: usize,
    pub after: usize,
}

impl Inline {
    /// The line with `encoded` (quotes or brackets included) in place of the value.
    pub(super) fn replace(&self, line: &str, encoded: &str) -> String {
        format!("{}{encoded}{}", &line[..self.lead()], &line[self.after..])
    }

    /// Where the value starts, its opening quote or bracket included.
    pub(super) fn lead(&self) -> usize {
        match self.kind {
            InlineKind::Scalar(Style::Plain) => self.start,
            _ => self.start - 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_or_quoted() {
        assert_eq!(scalar("age1abc"), "age1abc");
        assert_eq!(
            scalar("ssh-ed25519 AAAA alice@laptop"),
            "ssh-ed25519 AAAA alice@laptop"
        );
        assert_eq!(
            scalar("ssh-ed25519 AAAA bob #2"),
            "'ssh-ed25519 AAAA bob #2'"
        );
        assert_eq!(scalar("it's: x"), "'it''s: x'");
        assert_eq!(scalar("true"), "'true'");
        assert_eq!(scalar(r"^secrets/dev\.yml$"), r"^secrets/dev\.yml$");
        assert_eq!(flow_scalar("a,b"), "'a,b'");
    }

    #[test]
    fn comma_lists() {
        assert_eq!(list_add("a,b", "c", ", "), "a,b,c");
        assert_eq!(list_add("a, b", "c", ","), "a, b, c");
        assert_eq!(list_add("a", "c", ", "), "a, c");
        assert_eq!(list_add("", "c", ","), "c");
        let is_b = |s: &str| s == "b";
        assert_eq!(list_remove("a, b, c", &is_b).as_deref(), Some("a, c"));
        assert_eq!(list_remove("b, c", &is_b).as_deref(), Some("c"));
        assert_eq!(list_remove("a,b", &is_b).as_deref(), Some("a"));
        assert_eq!(list_remove("b", &is_b).as_deref(), Some(""));
        assert_eq!(list_remove("a,c", &is_b), None);
    }

    #[test]
    fn inline_values() {
        let line = "    age: 'x''y' # c";
        let v = inline_value(line, 8).unwrap().unwrap();
        assert_eq!(&line[v.start..v.end], "x''y");
        assert_eq!(v.replace(line, "'z'"), "    age: 'z' # c");
        let line = "  age: [a, b]";
        let v = inline_value(line, 6).unwrap().unwrap();
        assert_eq!(v.kind, InlineKind::Flow);
        assert_eq!(&line[v.start..v.end], "a, b");
        let line = "age: ['a]b', \"c\", d] # x";
        let v = inline_value(line, 4).unwrap().unwrap();
        assert_eq!(&line[v.start..v.end], "'a]b', \"c\", d");
        let items = flow_items(&line[v.start..v.end]).unwrap();
        assert_eq!(items[0], ("'a]b'", "a]b".to_owned()));
        assert_eq!(items[1], ("\"c\"", "c".to_owned()));
        assert!(inline_value("age: [[a]]", 4).is_err());
        assert!(inline_value("age: |", 4).is_err());
        assert!(inline_value("age: 'open", 4).is_err());
        assert!(inline_value("age: # none", 4).unwrap().is_none());
        // A tab before `#` starts a comment too.
        let line = "age: a,b\t# team";
        let v = inline_value(line, 4).unwrap().unwrap();
        assert_eq!(&line[v.start..v.end], "a,b");
        assert_eq!(scalar("x\t#y"), "'x\t#y'");
    }
}
