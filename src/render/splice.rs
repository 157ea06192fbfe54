//! Splicing: turn a [`Plan`] into byte-range edits against the original text ([`edits`]), one
//! function per kind of slot ([`map_edits`], [`null_edit`], [`shorthand_edit`],
//! [`absent_edit`]), and apply them ([`apply`]). The same edits give the masked texts for
//! `--diff` ([`mask_original`], [`mask_output`]).
//!
//! Edits never touch bytes outside the value they replace or the lines they add. Inserted
//! text is kept as pieces so the same plan renders the real file and a masked copy.

use super::error::{Error, unsupported};
use super::plan::{Plan, Slot, SlotPlan};
use super::quote::encode_key;
use super::tree::{Kind, NodeId, Tree};

const NONE: &[&str] = &[];

/// A piece of inserted text: literal text, or the value of secret `i`.
#[derive(Clone)]
pub(crate) enum Piece {
    Lit(String),
    Value(usize),
}

pub(crate) struct Edit {
    pub start: usize,
    pub end: usize,
    /// Nesting depth of the edited mapping: at one offset, inner edits go first (§6.4).
    pub depth: usize,
    pub new: Vec<Piece>,
    /// The old value's byte range when an existing value is replaced (masked in the diff).
    pub old_value: Option<(usize, usize)>,
}

/// Position of the line break (CR of a CRLF) ending the line that holds `pos`, or EOF.
fn line_end(b: &[u8], pos: usize) -> usize {
    let i = b[pos.min(b.len())..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |p| pos + p);
    if i > pos && b[i - 1] == b'\r' {
        i - 1
    } else {
        i
    }
}

/// Position just after the line break of the line holding `pos`; `None` at EOF without one.
fn line_after(b: &[u8], pos: usize) -> Option<usize> {
    b[pos.min(b.len())..]
        .iter()
        .position(|&c| c == b'\n')
        .map(|p| pos + p + 1)
}

fn spaces(n: usize) -> String {
    " ".repeat(n)
}

/// Block lines for `path` keys followed by the entries, starting at indentation `base`.
fn block_lines(
    base: usize,
    step: usize,
    path: &[&str],
    keys: &[usize],
    names: &[&str],
) -> Vec<Vec<Piece>> {
    let mut lines = Vec::new();
    let mut ind = base;
    for seg in path {
        lines.push(vec![Piece::Lit(format!("{}{seg}:", spaces(ind)))]);
        ind += step;
    }
    for &k in keys {
        lines.push(vec![
            Piece::Lit(format!("{}{}: ", spaces(ind), encode_key(names[k]))),
            Piece::Value(k),
        ]);
    }
    lines
}

/// `K: v, K2: v2` wrapped in `path: {...}` layers.
fn flow_text(path: &[&str], keys: &[usize], names: &[&str]) -> Vec<Piece> {
    let mut out = Vec::new();
    for seg in path {
        out.push(Piece::Lit(format!("{seg}: {{")));
    }
    for (i, &k) in keys.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        out.push(Piece::Lit(format!("{sep}{}: ", encode_key(names[k]))));
        out.push(Piece::Value(k));
    }
    for _ in path {
        out.push(Piece::Lit("}".into()));
    }
    out
}

/// Join lines for insertion at `pos` (after a line break) or at EOF without a final newline.
fn join_lines(lines: Vec<Vec<Piece>>, eol: &str, at_eof_without_newline: bool) -> Vec<Piece> {
    let mut out = Vec::new();
    for (i, line) in lines.into_iter().enumerate() {
        if at_eof_without_newline || i > 0 {
            out.push(Piece::Lit(eol.to_string()));
        }
        out.extend(line);
    }
    if !at_eof_without_newline {
        out.push(Piece::Lit(eol.to_string()));
    }
    out
}

/// Indentation step of the file (2 or 4 in practice): first nested block mapping's offset.
pub(crate) fn indent_step(tree: &Tree<'_>) -> usize {
    let Some(root) = tree.root.map(|r| tree.deref(r)) else {
        return 2;
    };
    let Some(base) = tree.key_col(root) else {
        return 2;
    };
    if let Kind::Map { entries, .. } = &tree.node(root).kind {
        for &(_, v) in tree.pairs(*entries) {
            let v = tree.deref(v);
            if matches!(tree.node(v).kind, Kind::Map { .. })
                && !tree.node(v).flow
                && let Some(c) = tree.key_col(v)
                && c > base
                && c - base <= 8
            {
                return c - base;
            }
        }
    }
    2
}

/// Turn a plan into edits. Returns the edits and, per slot, the keys whose text changed.
pub(crate) fn edits(
    tree: &Tree<'_>,
    plan: &Plan,
    names: &[&str],
    encoded: &[&str],
) -> Result<(Vec<Edit>, Vec<Vec<usize>>), Error> {
    let step = indent_step(tree);
    let mut out = Vec::new();
    let mut changed = Vec::new();
    for sp in &plan.slots {
        let slot_changed = match sp.slot {
            Slot::Map(m) => map_edits(tree, m, sp, names, encoded, step, &mut out)?,
            Slot::Null { key, value, parent } => {
                out.push(null_edit(tree, sp, key, value, parent, names, step)?);
                sp.keys.clone()
            }
            Slot::Shorthand { key, value, parent } => {
                out.push(shorthand_edit(tree, sp, key, value, parent, names, step)?);
                sp.keys.clone()
            }
            Slot::Absent { parent } => {
                out.push(absent_edit(tree, sp, parent, names, step));
                sp.keys.clone()
            }
        };
        changed.push(slot_changed);
    }
    Ok((sorted(out)?, changed))
}

/// Sort by position; at one offset the innermost edit first, then planning order. Overlaps
/// are a bug.
fn sorted(out: Vec<Edit>) -> Result<Vec<Edit>, Error> {
    let mut order: Vec<usize> = (0..out.len()).collect();
    order.sort_by(|&x, &y| {
        let (a, c) = (&out[x], &out[y]);
        (a.start, a.end, std::cmp::Reverse(a.depth), x).cmp(&(
            c.start,
            c.end,
            std::cmp::Reverse(c.depth),
            y,
        ))
    });
    let mut sorted: Vec<Option<Edit>> = out.into_iter().map(Some).collect();
    let edits: Vec<Edit> = order.into_iter().filter_map(|i| sorted[i].take()).collect();
    for w in edits.windows(2) {
        if w[1].start < w[0].end {
            return Err(Error::Internal {
                message: format!(
                    "overlapping edits at bytes {}..{} and {}..{}",
                    w[0].start, w[0].end, w[1].start, w[1].end
                ),
            });
        }
    }
    Ok(edits)
}

/// An existing mapping `m`: replace the values of keys it has, append the others. Returns
/// the keys whose text changed.
fn map_edits(
    tree: &Tree<'_>,
    m: NodeId,
    sp: &SlotPlan,
    names: &[&str],
    encoded: &[&str],
    step: usize,
    out: &mut Vec<Edit>,
) -> Result<Vec<usize>, Error> {
    let node = tree.node(m);
    let mut changed = Vec::new();
    let mut missing = Vec::new();
    for &k in &sp.keys {
        match tree.explicit(m, names[k]) {
            Some((kn, vn)) => {
                if let Some(e) = replace_value(tree, kn, vn, k, encoded[k])? {
                    out.push(e);
                    changed.push(k);
                }
            }
            None => missing.push(k),
        }
    }
    if !missing.is_empty() {
        changed.extend(&missing);
        let depth = node.depth() + 1;
        if matches!(node.kind, Kind::Map { .. }) && node.flow {
            out.push(flow_append(tree, m, NONE, &missing, names, depth));
        } else {
            let base = tree.key_col(m).unwrap_or(0);
            let lines = block_lines(base, step, NONE, &missing, names);
            out.push(block_append(
                tree.src.as_bytes(),
                node.end(),
                lines,
                tree.eol,
                depth,
            ));
        }
    }
    Ok(changed)
}

/// `key:` with a null value: the value becomes a mapping with the slot's path and entries.
fn null_edit(
    tree: &Tree<'_>,
    sp: &SlotPlan,
    key: NodeId,
    value: NodeId,
    parent: NodeId,
    names: &[&str],
    step: usize,
) -> Result<Edit, Error> {
    let pnode = tree.node(parent);
    let vnode = tree.node(value);
    let depth = pnode.depth() + 1;
    if matches!(pnode.kind, Kind::Map { .. }) && pnode.flow {
        let mut new = vec![Piece::Lit("{".into())];
        new.extend(flow_text(sp.path, &sp.keys, names));
        new.push(Piece::Lit("}".into()));
        let (start, end) = if vnode.start() == vnode.end() {
            new.insert(0, Piece::Lit(" ".into()));
            let (colon, _) = tree.colon_after(key).ok_or_else(|| {
                unsupported(tree, key, "a key without `:`".into(), "write `KEY: value`")
            })?;
            (colon + 1, colon + 1)
        } else {
            (vnode.start(), vnode.end())
        };
        return Ok(Edit {
            start,
            end,
            depth,
            new,
            old_value: None,
        });
    }
    let base = tree.node(key).col() + step;
    let lines = block_lines(base, step, sp.path, &sp.keys, names);
    // Drop the null token; keep a trailing comment, but no dangling blanks.
    let start = match tree.colon_after(key) {
        Some((colon, _)) if colon < vnode.start() && !has_comment_after(tree, value) => colon + 1,
        _ => vnode.start(),
    };
    Ok(block_after_value(tree, start, value, lines, depth))
}

/// `provider: aws` becomes `provider:` with `name: aws` (the same text) and the entries.
fn shorthand_edit(
    tree: &Tree<'_>,
    sp: &SlotPlan,
    key: NodeId,
    value: NodeId,
    parent: NodeId,
    names: &[&str],
    step: usize,
) -> Result<Edit, Error> {
    let vnode = tree.node(value);
    let base = tree.node(key).col() + step;
    let name = &tree.src[vnode.start()..vnode.end()];
    let mut lines = vec![vec![Piece::Lit(format!("{}name: {name}", spaces(base)))]];
    lines.extend(block_lines(base, step, sp.path, &sp.keys, names));
    let (colon, _) = tree
        .colon_after(key)
        .ok_or_else(|| unsupported(tree, key, "a key without `:`".into(), "write `KEY: value`"))?;
    let depth = tree.node(parent).depth() + 1;
    Ok(block_after_value(tree, colon + 1, value, lines, depth))
}

/// A missing key: appended to `parent` (or to the empty document) with the path and entries.
fn absent_edit(
    tree: &Tree<'_>,
    sp: &SlotPlan,
    parent: Option<NodeId>,
    names: &[&str],
    step: usize,
) -> Edit {
    let b = tree.src.as_bytes();
    let Some(p) = parent else {
        let lines = block_lines(0, step, sp.path, &sp.keys, names);
        let no_nl = !b.is_empty() && b[b.len() - 1] != b'\n';
        return Edit {
            start: b.len(),
            end: b.len(),
            depth: 0,
            new: join_lines(lines, tree.eol, no_nl),
            old_value: None,
        };
    };
    let node = tree.node(p);
    let depth = node.depth() + 1;
    if matches!(node.kind, Kind::Map { .. }) && node.flow {
        flow_append(tree, p, sp.path, &sp.keys, names, depth)
    } else {
        let base = tree.key_col(p).unwrap_or(0);
        let lines = block_lines(base, step, sp.path, &sp.keys, names);
        block_append(b, node.end(), lines, tree.eol, depth)
    }
}

fn block_append(
    b: &[u8],
    content_end: usize,
    lines: Vec<Vec<Piece>>,
    eol: &str,
    depth: usize,
) -> Edit {
    let (pos, no_nl) = match line_after(b, content_end) {
        Some(p) => (p, false),
        None => (b.len(), true),
    };
    Edit {
        start: pos,
        end: pos,
        depth,
        new: join_lines(lines, eol, no_nl),
        old_value: None,
    }
}

fn flow_append(
    tree: &Tree<'_>,
    m: NodeId,
    path: &[&str],
    keys: &[usize],
    names: &[&str],
    depth: usize,
) -> Edit {
    let node = tree.node(m);
    let mut new = flow_text(path, keys, names);
    let pos = match &node.kind {
        Kind::Map { entries, .. } if !entries.is_empty() => {
            new.insert(0, Piece::Lit(", ".into()));
            let (_, v) = tree.pairs(*entries)[entries.len() - 1];
            tree.node(v).end()
        }
        _ => node.start() + 1,
    };
    Edit {
        start: pos,
        end: pos,
        depth,
        new,
        old_value: None,
    }
}

/// Replace an existing value: only the value text (tag/anchor/header included); the key,
/// spacing and trailing comment stay. `None` when the value is already written that way.
fn replace_value(
    tree: &Tree<'_>,
    key: NodeId,
    value: NodeId,
    k: usize,
    encoded: &str,
) -> Result<Option<Edit>, Error> {
    let b = tree.src.as_bytes();
    let (colon, vstart) = tree.colon_after(key).ok_or_else(|| {
        unsupported(
            tree,
            key,
            "an environment key without `:`".into(),
            "write the entry as `KEY: value`",
        )
    })?;
    let vn = tree.node(value);
    let depth = vn.depth();
    if vn.is_empty_plain() {
        return Ok(Some(Edit {
            start: colon + 1,
            end: colon + 1,
            depth,
            new: vec![Piece::Lit(" ".into()), Piece::Value(k)],
            old_value: None,
        }));
    }
    if vstart > vn.start() || vn.end() < vstart {
        return Err(Error::Internal {
            message: format!(
                "value span of the entry at line {} is inconsistent",
                vn.line()
            ),
        });
    }
    let same_line = !b[colon..vstart].contains(&b'\n');
    if same_line {
        if &tree.src[vstart..vn.end()] == encoded {
            return Ok(None);
        }
        return Ok(Some(Edit {
            start: vstart,
            end: vn.end(),
            depth,
            new: vec![Piece::Value(k)],
            old_value: Some((vstart, vn.end())),
        }));
    }
    // Value on a later line (block mapping, `KEY:\n  value`): join it onto the key's line,
    // keeping a comment that followed the `:`.
    let le = line_end(b, colon + 1);
    let tail = &tree.src[colon + 1..le];
    let keep = if tail.trim().is_empty() { "" } else { tail };
    Ok(Some(Edit {
        start: colon + 1,
        end: vn.end(),
        depth,
        new: vec![
            Piece::Lit(" ".into()),
            Piece::Value(k),
            Piece::Lit(keep.to_string()),
        ],
        old_value: Some((vstart, vn.end())),
    }))
}

/// Whether anything but blanks follows `value` on its line (a comment).
fn has_comment_after(tree: &Tree<'_>, value: NodeId) -> bool {
    let end = tree.node(value).end();
    !tree.src[end..line_end(tree.src.as_bytes(), end)]
        .trim()
        .is_empty()
}

/// Replaces `start..` the end of `value`'s line with block `lines` below it, keeping a comment
/// that followed the value.
fn block_after_value(
    tree: &Tree<'_>,
    start: usize,
    value: NodeId,
    lines: Vec<Vec<Piece>>,
    depth: usize,
) -> Edit {
    let end = tree.node(value).end();
    let le = line_end(tree.src.as_bytes(), end);
    let keep = if has_comment_after(tree, value) {
        &tree.src[end..le]
    } else {
        ""
    };
    let mut new = vec![Piece::Lit(keep.to_string())];
    new.extend(join_lines(lines, tree.eol, true));
    Edit {
        start,
        end: le,
        depth,
        new,
        old_value: None,
    }
}

/// Apply sorted, non-overlapping edits; `value(i)` gives the text for secret `i`.
pub(crate) fn apply<'v>(src: &str, edits: &[Edit], value: impl Fn(usize) -> &'v str) -> String {
    splice(src, edits.iter(), value)
}

fn splice<'e, 'v>(
    src: &str,
    edits: impl Iterator<Item = &'e Edit> + Clone,
    value: impl Fn(usize) -> &'v str,
) -> String {
    let extra: usize = edits
        .clone()
        .map(|e| {
            e.new
                .iter()
                .map(|p| match p {
                    Piece::Lit(s) => s.len(),
                    Piece::Value(i) => value(*i).len(),
                })
                .sum::<usize>()
        })
        .sum();
    let mut out = String::with_capacity(src.len() + extra);
    let mut pos = 0;
    for e in edits {
        out.push_str(&src[pos..e.start]);
        for p in &e.new {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Value(i) => out.push_str(value(*i)),
            }
        }
        pos = e.end;
    }
    out.push_str(&src[pos..]);
    out
}

/// The original with every replaced old value, and every span in `masks`, written as `mask`
/// (old values may be secrets from an earlier render).
pub(crate) fn mask_original(
    src: &str,
    edits: &[Edit],
    masks: &[(usize, usize)],
    mask: &str,
) -> String {
    let mut spans: Vec<(usize, usize)> = edits
        .iter()
        .filter_map(|e| e.old_value)
        .chain(masks.iter().copied())
        .collect();
    spans.sort_unstable();
    let mut out = String::with_capacity(src.len());
    let mut pos = 0;
    for (s, t) in spans {
        if s < pos {
            // Inside a span already masked (a replaced value is also a secret span).
            continue;
        }
        out.push_str(&src[pos..s]);
        out.push_str(mask);
        pos = t;
    }
    out.push_str(&src[pos..]);
    out
}

/// The output with every secret written as `masked_value` and every span in `masks` that no
/// edit replaces written as `mask`, so lines the render leaves alone read the same as in
/// [`mask_original`].
pub(crate) fn mask_output(
    src: &str,
    edits: &[Edit],
    masks: &[(usize, usize)],
    masked_value: &str,
    mask: &str,
) -> String {
    // Edits are sorted and disjoint: only the last one starting before `t` can reach past `s`.
    let overlaps = |&(s, t): &(usize, usize)| {
        let before = edits.partition_point(|e| e.start < t);
        before > 0 && edits[before - 1].end > s
    };
    let extra: Vec<Edit> = masks
        .iter()
        .filter(|m| !overlaps(m))
        .map(|&(s, t)| Edit {
            start: s,
            end: t,
            depth: 0,
            new: vec![Piece::Lit(mask.to_string())],
            old_value: None,
        })
        .collect();
    if extra.is_empty() {
        return apply(src, edits, |_| masked_value);
    }
    let mut all: Vec<&Edit> = edits.iter().chain(extra.iter()).collect();
    // Stable: at one offset a zero-width insert (from `edits`) stays before a mask starting there.
    all.sort_by_key(|e| e.start);
    splice(src, all.into_iter(), |_| masked_value)
}
