//! Text edits of `.sops.yaml` creation rules: add an age recipient to a rule, take one out,
//! or put a copy of a rule for one file above it. Every byte outside the changed lines stays
//! (comments, order, quoting, the other rules): the rules are found by indentation and only
//! the lines that change are written, never a parse-and-emit round trip.
//!
//! Recipients are written the way the rule holds them: a comma list (`age: a,b`), a quoted
//! one, a flow list (`[a, b]`) or a block list (`- a # alice`), in a rule or its one key
//! group; a rule without `age` gets one. What this editor can't change safely (flow-style
//! rules, block scalars, several key groups) is an error naming the line. The caller checks
//! the result by parsing it (`people`).

mod error;
mod locate;
mod scalar;
#[cfg(test)]
mod tests;

/// `s` as a block-context scalar of a new rule: plain when it reads back the same, else
/// single-quoted.
pub fn quote(s: &str) -> String {
    scalar::scalar(s)
}

use locate::{AgeValue, Doc, Region, age_value, find_key, holder, indent, item_region, rules};
use scalar::{InlineKind, decode, encode, flow_items, flow_scalar, list_add, list_remove};

pub use error::EditError;
pub use scalar::scalar;

/// `text` with `recipient` added to the age recipients of `creation_rules[rule]` (or of its
/// key group).
pub fn add_recipient(text: &str, rule: usize, recipient: &str) -> Result<String, EditError> {
    let mut doc = Doc::new(text);
    let (region, group) = holder(&doc, rule)?;
    let pad = |n: usize| " ".repeat(n);
    match age_value(&doc, region)? {
        AgeValue::Absent if group => doc.insert(
            region.end,
            vec![
                format!("{}age:", pad(region.indent)),
                format!("{}- {}", pad(region.indent + 2), scalar(recipient)),
            ],
        ),
        AgeValue::Absent => doc.insert(
            region.end,
            vec![format!("{}age: {}", pad(region.indent), scalar(recipient))],
        ),
        AgeValue::Empty { header } => {
            let body = doc.body(header);
            let at = body.find("age:").unwrap_or(0) + "age:".len();
            let rest = body[at..].trim_start();
            let comment = if rest.is_empty() {
                String::new()
            } else {
                format!(" {rest}")
            };
            let new = format!("{} {}{comment}", &body[..at], scalar(recipient));
            doc.replace(header, new);
        }
        AgeValue::Inline { line, value }
            if matches!(value.kind, InlineKind::Scalar(_))
                && !doc.body(line)[value.after..].trim().is_empty() =>
        {
            to_block_list(&mut doc, line, value, recipient)?;
        }
        AgeValue::Inline { line, value } => {
            let body = doc.body(line);
            let content = &body[value.start..value.end];
            let encoded = match value.kind {
                InlineKind::Flow => {
                    format!("[{}]", list_add(content, &flow_scalar(recipient), ", "))
                }
                InlineKind::Scalar(style) => {
                    let list = decode(content, style)
                        .ok_or_else(|| locate::unsupported(line, "a string with escapes"))?;
                    encode(&list_add(&list, recipient, ","), style)
                }
            };
            let new = value.replace(body, &encoded);
            doc.replace(line, new);
        }
        AgeValue::Block { indent, items, .. } => {
            let last = items.last().map_or(region.end, |(line, _)| line + 1);
            doc.insert(
                last,
                vec![format!("{}- {}", pad(indent), scalar(recipient))],
            );
        }
    }
    Ok(doc.text())
}

/// `age: a,b # comment` with `recipient` added, as a block list: the comment names who a
/// one-recipient line is (`keys` shows it beside that recipient), so the newcomer goes on a
/// line of its own rather than under someone else's name.
fn to_block_list(
    doc: &mut Doc,
    line: usize,
    value: scalar::Inline,
    recipient: &str,
) -> Result<(), EditError> {
    let InlineKind::Scalar(style) = value.kind else {
        return Err(locate::unsupported(line, "a flow list with a comment"));
    };
    let body = doc.body(line);
    let list = decode(&body[value.start..value.end], style)
        .ok_or_else(|| locate::unsupported(line, "a string with escapes"))?;
    let comment = body[value.after..].trim().to_owned();
    let key = body[..value.lead()].trim_end().to_owned();
    let pad = " ".repeat(body.find("age:").unwrap_or(0) + 2);
    let items: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .collect();
    let mut lines: Vec<String> = items
        .iter()
        .map(|item| format!("{pad}- {}", encode(item, style)))
        .collect();
    let header = match &mut lines[..] {
        [only] => {
            only.push_str(&format!(" {comment}"));
            key
        }
        _ => format!("{key} {comment}"),
    };
    lines.push(format!("{pad}- {}", scalar(recipient)));
    doc.replace(line, header);
    doc.insert(line + 1, lines);
    Ok(())
}

/// `text` without the age recipients of `creation_rules[rule]` (or its key group) that
/// `matches` accepts; `None` when the rule has none.
pub fn remove_recipient(
    text: &str,
    rule: usize,
    matches: &dyn Fn(&str) -> bool,
) -> Result<Option<String>, EditError> {
    let mut doc = Doc::new(text);
    let (region, _) = holder(&doc, rule)?;
    match age_value(&doc, region)? {
        AgeValue::Absent | AgeValue::Empty { .. } => return Ok(None),
        AgeValue::Inline { line, value } => {
            let body = doc.body(line);
            let content = &body[value.start..value.end];
            let escapes = || locate::unsupported(line, "a string with escapes");
            let encoded = match value.kind {
                InlineKind::Flow => {
                    let items = flow_items(content).ok_or_else(escapes)?;
                    let kept: Vec<&str> = items
                        .iter()
                        .filter(|(_, decoded)| !matches(decoded))
                        .map(|(raw, _)| *raw)
                        .collect();
                    if kept.len() == items.len() {
                        return Ok(None);
                    }
                    (!kept.is_empty()).then(|| format!("[{}]", kept.join(", ")))
                }
                InlineKind::Scalar(style) => {
                    let list = decode(content, style).ok_or_else(escapes)?;
                    let Some(left) = list_remove(&list, matches) else {
                        return Ok(None);
                    };
                    (!left.is_empty()).then(|| encode(&left, style))
                }
            };
            match encoded {
                Some(encoded) => {
                    let new = value.replace(body, &encoded);
                    doc.replace(line, new);
                }
                None => drop_key(&mut doc, line, region),
            }
        }
        AgeValue::Block { header, items, .. } => {
            if !remove_items(&mut doc, &items, matches)? {
                return Ok(None);
            }
            if items.iter().all(|(line, _)| doc.lines[*line].is_empty()) {
                drop_key(&mut doc, header, region);
            }
        }
    }
    // Removed lines were emptied, not deleted, so line numbers held still until here.
    doc.lines.retain(|l| !l.is_empty());
    Ok(Some(doc.text()))
}

/// Takes the matching recipients out of each block-list item (an item is a comma list
/// too); an item left empty is emptied (deleted by the caller). Whether any matched.
fn remove_items(
    doc: &mut Doc,
    items: &[(usize, scalar::Inline)],
    matches: &dyn Fn(&str) -> bool,
) -> Result<bool, EditError> {
    let mut any = false;
    for (line, value) in items {
        let body = doc.body(*line);
        let InlineKind::Scalar(style) = value.kind else {
            continue;
        };
        let list = decode(&body[value.start..value.end], style)
            .ok_or_else(|| locate::unsupported(*line, "a string with escapes"))?;
        let Some(left) = list_remove(&list, matches) else {
            continue;
        };
        any = true;
        if left.is_empty() {
            doc.lines[*line].clear();
        } else {
            let new = value.replace(body, &encode(&left, style));
            doc.replace(*line, new);
        }
    }
    Ok(any)
}

/// Removes an `age` key left with no recipient. On a list item's `-` line it can't go
/// without taking the item's other keys' anchor with it: it becomes `age: []`.
fn drop_key(doc: &mut Doc, line: usize, region: Region) {
    if line == region.start {
        let body = doc.body(line);
        let at = body.find("age:").unwrap_or(0) + "age:".len();
        let new = format!("{} []", &body[..at]);
        doc.replace(line, new);
    } else {
        doc.lines[line].clear();
    }
}

/// `text` with a copy of `creation_rules[rule]` put above it, its `path_regex` replaced by
/// `path_regex` and a comment line `# note` first: the copy, now `creation_rules[rule]`,
/// takes the files it matches away from the original (first match wins), with the same keys
/// and settings. Comments just above the original stay with it.
pub fn split_rule(
    text: &str,
    rule: usize,
    path_regex: &str,
    note: &str,
) -> Result<String, EditError> {
    let mut doc = Doc::new(text);
    let items = rules(&doc)?;
    let item = *items.get(rule).ok_or(EditError::NoRule(rule))?;
    let region = item_region(&doc, item, "creation rule")?;
    let dash_indent = indent(doc.body(item.dash));
    let floor = if rule == 0 { 0 } else { items[rule - 1].end };
    let mut lead = item.dash;
    while lead > floor && doc.body(lead - 1).trim_start().starts_with('#') {
        lead -= 1;
    }
    let mut copy: Vec<String> = (item.dash..item.end)
        .map(|i| doc.body(i).to_owned())
        .collect();
    let regex_line = format!("path_regex: {}", scalar(path_regex));
    let key_col = region.indent;
    if let Some(line) = find_key(&doc, region, "path_regex") {
        copy[line - item.dash] = format!("{}{regex_line}", &doc.body(line)[..key_col]);
    } else if doc.body(item.dash).len() > key_col && line_has_key(doc.body(item.dash), key_col) {
        let first = doc.body(item.dash);
        copy[0] = format!("{}{regex_line}", &first[..key_col]);
        copy.insert(1, format!("{}{}", " ".repeat(key_col), &first[key_col..]));
    } else {
        copy.insert(1, format!("{}{regex_line}", " ".repeat(key_col)));
    }
    copy.insert(0, format!("{}# {note}", " ".repeat(dash_indent)));
    doc.insert(lead, copy);
    Ok(doc.text())
}

/// Whether a list item's `-` line holds its first key (`- age: x`, not `-` alone).
fn line_has_key(body: &str, key_col: usize) -> bool {
    let rest = body[key_col..].trim();
    !rest.is_empty() && !rest.starts_with('#')
}
