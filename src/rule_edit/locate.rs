//! Where things are in `.sops.yaml`, found by indentation as YAML's block style lays them
//! out: the creation rules, a rule's keys, its one key group, its `age` value.

use super::error::EditError;
use super::scalar::{Inline, InlineKind, inline_value};

/// The file as lines, each with its own line ending, edited in place.
pub(super) struct Doc {
    pub lines: Vec<String>,
    /// What new lines end with: the file's own (`\r\n` in a CRLF file).
    pub newline: &'static str,
}

impl Doc {
    pub(super) fn new(text: &str) -> Doc {
        Doc {
            lines: text.split_inclusive('\n').map(str::to_owned).collect(),
            newline: if text.contains("\r\n") { "\r\n" } else { "\n" },
        }
    }

    pub(super) fn text(&self) -> String {
        self.lines.concat()
    }

    pub(super) fn len(&self) -> usize {
        self.lines.len()
    }

    /// Line `i` without its line ending.
    pub(super) fn body(&self, i: usize) -> &str {
        self.lines[i].trim_end_matches(['\n', '\r'])
    }

    /// Inserts lines (given without endings) before line `at`.
    pub(super) fn insert(&mut self, at: usize, bodies: Vec<String>) {
        // A last line without a line ending gets one before anything goes after it.
        if at > 0 && !self.lines[at - 1].ends_with('\n') {
            self.lines[at - 1].push_str(self.newline);
        }
        let new = bodies.into_iter().map(|b| b + self.newline);
        self.lines.splice(at..at, new);
    }

    /// Replaces line `i`'s text, keeping its line ending.
    pub(super) fn replace(&mut self, i: usize, body: String) {
        let ending = self.lines[i][self.body(i).len()..].to_owned();
        self.lines[i] = body + &ending;
    }
}

pub(super) fn indent(body: &str) -> usize {
    body.len() - body.trim_start_matches(' ').len()
}

/// A blank line or a comment line: no content of its own.
pub(super) fn filler(body: &str) -> bool {
    let t = body.trim();
    t.is_empty() || t.starts_with('#')
}

fn is_dash(t: &str) -> bool {
    t == "-" || t.starts_with("- ") || t.starts_with("-\t")
}

/// One item of a block list: its `-` line and the line after its last content line.
#[derive(Clone, Copy, Debug)]
pub(super) struct Item {
    pub dash: usize,
    pub end: usize,
}

/// A block list: the column of its `-`, and its items.
#[derive(Debug)]
pub(super) struct Seq {
    pub indent: usize,
    pub items: Vec<Item>,
}

/// The block list starting at the first content line of `[from, to)`, when that line is a
/// `-` at column `min` or more.
pub(super) fn block_seq(doc: &Doc, from: usize, to: usize, min: usize) -> Option<Seq> {
    let first = (from..to).find(|&i| !filler(doc.body(i)))?;
    let col = indent(doc.body(first));
    if col < min || !is_dash(&doc.body(first)[col..]) {
        return None;
    }
    let mut items: Vec<Item> = Vec::new();
    for i in first..to {
        let body = doc.body(i);
        if filler(body) {
            continue;
        }
        let at = indent(body);
        if at == col && is_dash(&body[at..]) {
            items.push(Item {
                dash: i,
                end: i + 1,
            });
        } else if at > col {
            if let Some(last) = items.last_mut() {
                last.end = i + 1;
            }
        } else {
            break;
        }
    }
    Some(Seq { indent: col, items })
}

/// A block mapping: lines `[start, end)`, keys at column `indent`; the first key may sit on
/// line `start` after a list's `-`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Region {
    pub start: usize,
    pub end: usize,
    pub indent: usize,
}

/// The mapping a list item holds.
pub(super) fn item_region(doc: &Doc, item: Item, what: &str) -> Result<Region, EditError> {
    let body = doc.body(item.dash);
    let after_dash = indent(body) + 1;
    let rest = &body[after_dash..];
    let key_col = after_dash + (rest.len() - rest.trim_start().len());
    let first_key = rest.trim_start();
    let indent = if !first_key.is_empty() && !first_key.starts_with('#') {
        if first_key.starts_with(['{', '[', '\'', '"', '&', '*', '!']) {
            return Err(unsupported(item.dash, &format!("{what} in flow style")));
        }
        key_col
    } else {
        let next = (item.dash + 1..item.end).find(|&i| !filler(doc.body(i)));
        let Some(next) = next else {
            return Err(unsupported(item.dash, &format!("an empty {what}")));
        };
        indent(doc.body(next))
    };
    Ok(Region {
        start: item.dash,
        end: item.end,
        indent,
    })
}

pub(super) fn unsupported(line: usize, what: &str) -> EditError {
    EditError::Unsupported {
        line: line + 1,
        what: what.to_owned(),
    }
}

/// The line holding `key:` among the keys of a mapping.
pub(super) fn find_key(doc: &Doc, region: Region, key: &str) -> Option<usize> {
    (region.start..region.end).find(|&i| {
        let body = doc.body(i);
        let Some((lead, rest)) = body.split_at_checked(region.indent) else {
            return false;
        };
        let lead_ok = lead.trim().is_empty() || (i == region.start && lead.trim() == "-");
        let after = rest.strip_prefix(key).and_then(|r| r.strip_prefix(':'));
        lead_ok && after.is_some_and(|a| a.is_empty() || a.starts_with([' ', '\t']))
    })
}

/// The line after the last line of the value of the key on line `key_line`: the next
/// content line back at the mapping's column (a `-` there still belongs to the value: a
/// list may sit at its key's column).
pub(super) fn value_end(doc: &Doc, key_line: usize, region: Region) -> usize {
    (key_line + 1..region.end)
        .find(|&i| {
            let body = doc.body(i);
            let at = indent(body);
            !filler(body) && (at < region.indent || (at == region.indent && !is_dash(&body[at..])))
        })
        .unwrap_or(region.end)
}

/// The creation rules: the items of the top-level `creation_rules:` block list.
pub(super) fn rules(doc: &Doc) -> Result<Vec<Item>, EditError> {
    let head = (0..doc.len())
        .find(|&i| doc.body(i).starts_with("creation_rules:"))
        .ok_or(EditError::NoRules)?;
    let after = doc.body(head)["creation_rules:".len()..].trim();
    if !(after.is_empty() || after.starts_with('#')) {
        return Err(unsupported(head, "`creation_rules` in flow style"));
    }
    let seq = block_seq(doc, head + 1, doc.len(), 0).ok_or(EditError::NoRules)?;
    Ok(seq.items)
}

/// The mapping that holds a rule's recipients: the rule, or its one key group.
pub(super) fn holder(doc: &Doc, rule: usize) -> Result<(Region, bool), EditError> {
    let item = *rules(doc)?.get(rule).ok_or(EditError::NoRule(rule))?;
    let region = item_region(doc, item, "creation rule")?;
    let Some(line) = find_key(doc, region, "key_groups") else {
        return Ok((region, false));
    };
    let col = doc.body(line).find("key_groups:").unwrap_or(0) + "key_groups:".len();
    if inline_value(doc.body(line), col)
        .map_err(|what| unsupported(line, &what))?
        .is_some()
    {
        return Err(unsupported(line, "`key_groups` in flow style"));
    }
    let end = value_end(doc, line, region);
    let seq = block_seq(doc, line + 1, end, region.indent)
        .ok_or_else(|| unsupported(line, "`key_groups` that is not a list"))?;
    match seq.items[..] {
        [group] => Ok((item_region(doc, group, "key group")?, true)),
        _ => Err(unsupported(line, "several key groups")),
    }
}

/// A rule's (or group's) `age` value.
#[derive(Debug)]
pub(super) enum AgeValue {
    Absent,
    /// `age:` with nothing after it.
    Empty {
        header: usize,
    },
    /// `age: a,b`, quoted, or `age: [a, b]`.
    Inline {
        line: usize,
        value: Inline,
    },
    /// `age:` then `- a` lines: each item's line and inline value.
    Block {
        header: usize,
        indent: usize,
        items: Vec<(usize, Inline)>,
    },
}

/// Finds and reads the `age` value of a mapping.
pub(super) fn age_value(doc: &Doc, region: Region) -> Result<AgeValue, EditError> {
    let Some(header) = find_key(doc, region, "age") else {
        return Ok(AgeValue::Absent);
    };
    let col = region.indent + "age:".len();
    let end = value_end(doc, header, region);
    let inline = inline_value(doc.body(header), col).map_err(|what| unsupported(header, &what))?;
    if let Some(value) = inline {
        if let Some(extra) = (header + 1..end).find(|&i| !filler(doc.body(i))) {
            return Err(unsupported(extra, "a value continued on the next line"));
        }
        return Ok(AgeValue::Inline {
            line: header,
            value,
        });
    }
    let Some(seq) = block_seq(doc, header + 1, end, region.indent) else {
        if let Some(extra) = (header + 1..end).find(|&i| !filler(doc.body(i))) {
            return Err(unsupported(extra, "an `age` value that is not a list"));
        }
        return Ok(AgeValue::Empty { header });
    };
    let mut items = Vec::new();
    for item in seq.items {
        if item.end != item.dash + 1 {
            return Err(unsupported(item.dash, "a list item on several lines"));
        }
        let body = doc.body(item.dash);
        let value = inline_value(body, seq.indent + 1)
            .map_err(|what| unsupported(item.dash, &what))?
            .filter(|v| v.kind != InlineKind::Flow)
            .ok_or_else(|| unsupported(item.dash, "an `age` item that is not a string"))?;
        items.push((item.dash, value));
    }
    Ok(AgeValue::Block {
        header,
        indent: seq.indent,
        items,
    })
}
