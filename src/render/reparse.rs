//! The re-parse check, streamed: the output's saphyr-parser events are walked once, next to
//! the original tree with the planned changes applied ([`Overlay`]), and must be exactly those
//! events: every original node with the same kind, scalar value and style, tag, anchor, alias
//! target and flow/block form, at its original byte position shifted by the edits before it;
//! every planned entry where the plan puts it, holding exactly its secret (double-quoted), its
//! text inside the bytes an edit wrote; nothing else, and one document.
//!
//! No second span tree is built: the parse and a comparison per event are the whole cost. It
//! is stricter than comparing two trees with aliases and merges resolved (kept as
//! [`super::reference`] in debug builds), which accepts any output meaning the same; the
//! plan's own coverage (every environment that must hold a secret does) is checked on the
//! original tree by `check::check_coverage`.

use saphyr_parser::{Event, Parser, ScalarStyle, Tag};

use super::check::Expect;
use super::error::Error;
use super::overlay::{Change, Overlay};
use super::relax;
use super::splice::{Edit, Piece};
use super::tree::{ByteIndex, Kind, NodeId, Tree, flow_open, key_repr};

/// One event the output must produce next.
#[derive(Clone, Copy)]
enum Want<'o> {
    /// An original node (a collection start for a mapping or sequence).
    Orig(NodeId),
    /// A collection end.
    End { map: bool },
    /// A mapping start the plan creates; it keeps the anchor of the value it replaces (an
    /// anchored empty document, `&a` alone, becomes an anchored mapping).
    NewMap { replaces: Option<NodeId> },
    /// A key the plan writes.
    Key(&'o str),
    /// Secret `k`'s value; `at` is the original value it replaces (already written that way
    /// when the splice left it alone).
    Secret { k: usize, at: Option<NodeId> },
    /// A copy of an original scalar (`name: aws` of the provider shorthand).
    Copy(NodeId),
}

enum Work<'o> {
    Emit(Want<'o>),
    Node(NodeId),
    /// Child `next` onwards of a collection, in event order (a mapping's keys and values).
    Children {
        id: NodeId,
        next: usize,
    },
    Entries {
        path: &'static [&'static str],
        keys: &'o [usize],
    },
}

/// The original's events with the overlay applied, produced lazily (the stack holds one
/// frame per open collection, not the whole document).
struct Expected<'o, 't> {
    tree: &'o Tree<'t>,
    ov: &'o Overlay<'o>,
    names: &'o [&'o str],
    stack: Vec<Work<'o>>,
    /// Next unvisited entry of `ov.changes` / `ov.appends`: nodes are met in id order.
    change: usize,
    append: usize,
}

impl<'o> Expected<'o, '_> {
    fn next(&mut self) -> Result<Option<Want<'o>>, String> {
        while let Some(w) = self.stack.pop() {
            match w {
                Work::Emit(e) => return Ok(Some(e)),
                Work::Children { id, next } => {
                    let (child, count) = match &self.tree.node(id).kind {
                        Kind::Map { entries, .. } => {
                            let entries = self.tree.pairs(*entries);
                            let (k, v) = entries[next / 2];
                            (if next % 2 == 0 { k } else { v }, entries.len() * 2)
                        }
                        Kind::Seq { items, .. } => {
                            let items = self.tree.list(*items);
                            (items[next], items.len())
                        }
                        _ => continue,
                    };
                    if next + 1 < count {
                        self.stack.push(Work::Children { id, next: next + 1 });
                    }
                    self.stack.push(Work::Node(child));
                }
                Work::Entries { path, keys } => match path.split_first() {
                    None => {
                        for &k in keys.iter().rev() {
                            self.stack.push(Work::Emit(Want::Secret { k, at: None }));
                            self.stack.push(Work::Emit(Want::Key(self.names[k])));
                        }
                    }
                    Some((first, rest)) => {
                        self.stack.push(Work::Emit(Want::End { map: true }));
                        self.stack.push(Work::Entries { path: rest, keys });
                        self.stack.push(Work::Emit(Want::NewMap { replaces: None }));
                        self.stack.push(Work::Emit(Want::Key(first)));
                    }
                },
                Work::Node(id) => return self.node(id).map(Some),
            }
        }
        Ok(None)
    }

    fn node(&mut self, id: NodeId) -> Result<Want<'o>, String> {
        let changes = &self.ov.changes;
        if changes.get(self.change).is_some_and(|c| c.0 < id) {
            return Err("a planned change lies inside a replaced value".into());
        }
        if let Some(&(at, change)) = changes.get(self.change)
            && at == id
        {
            self.change += 1;
            return Ok(match change {
                // Nothing inside the old value is expected any more.
                Change::Secret(k) => Want::Secret { k, at: Some(id) },
                Change::Fill { path, keys } => {
                    self.stack.push(Work::Emit(Want::End { map: true }));
                    self.stack.push(Work::Entries { path, keys });
                    Want::NewMap { replaces: Some(id) }
                }
                Change::Shorthand { path, keys } => {
                    self.stack.push(Work::Emit(Want::End { map: true }));
                    self.stack.push(Work::Entries { path, keys });
                    self.stack.push(Work::Emit(Want::Copy(id)));
                    self.stack.push(Work::Emit(Want::Key("name")));
                    Want::NewMap { replaces: None }
                }
            });
        }
        let (map, count) = match &self.tree.node(id).kind {
            Kind::Map { entries, .. } => (true, entries.len() * 2),
            Kind::Seq { items, .. } => (false, items.len()),
            _ => return Ok(Want::Orig(id)),
        };
        self.stack.push(Work::Emit(Want::End { map }));
        let appends = &self.ov.appends;
        if appends.get(self.append).is_some_and(|a| a.map < id) {
            return Err("a planned entry belongs to a replaced value".into());
        }
        let first = self.append;
        while appends.get(self.append).is_some_and(|a| a.map == id) {
            self.append += 1;
        }
        for a in appends[first..self.append].iter().rev() {
            self.stack.push(Work::Entries {
                path: a.path,
                keys: &a.keys,
            });
        }
        if count > 0 {
            self.stack.push(Work::Children { id, next: 0 });
        }
        Ok(Want::Orig(id))
    }
}

/// Original byte offsets → output offsets, and which output bytes an edit wrote. Positions
/// arrive nearly in order, so both lookups walk a cursor.
struct Shift {
    /// Per edit, sorted: original end, output range of the new text.
    ends: Vec<usize>,
    out: Vec<(usize, usize)>,
    /// `delta[i]`: bytes added by edits `..i`.
    delta: Vec<isize>,
    cursor: usize,
}

impl Shift {
    fn new(edits: &[Edit], value_len: impl Fn(usize) -> usize) -> Self {
        let mut s = Shift {
            ends: Vec::with_capacity(edits.len()),
            out: Vec::with_capacity(edits.len()),
            delta: Vec::with_capacity(edits.len() + 1),
            cursor: 0,
        };
        let mut delta = 0isize;
        s.delta.push(0);
        for e in edits {
            let len: usize = e
                .new
                .iter()
                .map(|p| match p {
                    Piece::Lit(t) => t.len(),
                    Piece::Value(i) => value_len(*i),
                })
                .sum();
            let out_start = e.start.wrapping_add_signed(delta);
            s.out.push((out_start, out_start + len));
            s.ends.push(e.end);
            delta += len as isize - (e.end - e.start) as isize;
            s.delta.push(delta);
        }
        s
    }

    /// Where an original byte that no edit removed sits in the output: every edit ending at
    /// or before it (an insert at it included) shifts it.
    fn map(&mut self, p: usize) -> usize {
        let mut k = self.cursor;
        while k < self.ends.len() && self.ends[k] <= p {
            k += 1;
        }
        while k > 0 && self.ends[k - 1] > p {
            k -= 1;
        }
        self.cursor = k;
        p.wrapping_add_signed(self.delta[k])
    }

    /// Whether output byte `q` is part of the text an edit wrote.
    fn written(&self, q: usize) -> bool {
        let i = self.out.partition_point(|&(s, _)| s <= q);
        i > 0 && q < self.out[i - 1].1
    }
}

fn tag_eq(stored: Option<&str>, tag: Option<&Tag>) -> bool {
    match (stored, tag) {
        (None, None) => true,
        // The tree stores `!!suffix` for the core schema and handle + suffix otherwise.
        (Some(s), Some(t)) if t.handle == "tag:yaml.org,2002:" => {
            s.strip_prefix("!!") == Some(t.suffix.as_str())
        }
        (Some(s), Some(t)) => s.strip_prefix(t.handle.as_str()) == Some(t.suffix.as_str()),
        _ => false,
    }
}

/// Walk `output`'s events against `tree` + `ov` (module docs). `edits` made `output` from
/// the original; `value_len(i)` is the written length of secret `i`.
pub(crate) fn check(
    tree: &Tree<'_>,
    ov: &Overlay<'_>,
    exp: &Expect<'_>,
    output: &str,
    edits: &[Edit],
    value_len: impl Fn(usize) -> usize,
) -> Result<(), Error> {
    let mut walk = Walk {
        tree,
        out: output.as_bytes(),
        yaml_values: exp.yaml_values,
        shift: Shift::new(edits, value_len),
        anchors: Vec::new(),
        last: None,
    };
    let mut expected = Expected {
        tree,
        ov,
        names: exp.names,
        stack: Vec::with_capacity(64),
        change: 0,
        append: 0,
    };
    match tree.root {
        Some(r) => expected.stack.push(Work::Node(r)),
        None => {
            if let Some((path, keys)) = ov.document {
                expected.stack.push(Work::Emit(Want::End { map: true }));
                expected.stack.push(Work::Entries { path, keys });
                expected
                    .stack
                    .push(Work::Emit(Want::NewMap { replaces: None }));
            }
        }
    }
    let byte_index = ByteIndex::new(output);
    let (mut start_cursor, mut end_cursor) = (0, 0);
    let mut documents = 0;
    // An input that only js-yaml's leniency reads keeps its shapes in the output: read it
    // through the same relaxed copy, positions mapped back (one parse, as for any file).
    let relaxed = if tree.relaxed {
        relax::relax(output)
    } else {
        None
    };
    let (text, map) = match &relaxed {
        Some(r) => (r.text.as_str(), Some(&r.map)),
        None => (output, None),
    };
    let index = |char_index: usize| map.map_or(char_index, |map| map.char_index(char_index));
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|error| Error::Internal {
            message: format!(
                "the edited file does not parse at {}:{} ({})",
                error.marker().line(),
                error.marker().col() + 1,
                error.info()
            ),
        })?;
        match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {
                continue;
            }
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(Error::Internal {
                        message: "the edited file has more than one document".into(),
                    });
                }
                continue;
            }
            _ => {}
        }
        let start = byte_index.byte(&mut start_cursor, index(span.start.index()));
        let mut end = || {
            byte_index
                .byte(&mut end_cursor, index(span.end.index()))
                .max(start)
        };
        let want = expected.next().map_err(|message| walk.fail(&message))?;
        let Some(want) = want else {
            return Err(walk.fail("unexpected content after the document"));
        };
        walk.event(want, &event, start, &mut end)?;
    }
    match expected.next().map_err(|m| walk.fail(&m))? {
        Some(_) => Err(walk.fail("the edited file ends before the intended content")),
        None if expected.change < ov.changes.len() || expected.append < ov.appends.len() => {
            Err(walk.fail("a planned change was never reached"))
        }
        None => Ok(()),
    }
}

struct Walk<'a, 't> {
    tree: &'a Tree<'t>,
    out: &'a [u8],
    yaml_values: &'a [&'a str],
    shift: Shift,
    /// Output anchor id → original node defining it (+1; 0: none), so aliases are compared
    /// by target even when a replaced value dropped an anchor before them.
    anchors: Vec<usize>,
    /// Last original node matched, for the error message.
    last: Option<NodeId>,
}

impl Walk<'_, '_> {
    fn fail(&self, what: &str) -> Error {
        let at = match self.last {
            Some(id) => format!(" after `{}`", path_to(self.tree, id)),
            None => String::new(),
        };
        Error::Internal {
            message: format!(
                "the edited file does not re-parse to the intended change: {what}{at}"
            ),
        }
    }

    fn at_original(&mut self, s: usize, id: NodeId) -> bool {
        s == self.shift.map(self.tree.node(id).start())
    }

    fn event(
        &mut self,
        want: Want<'_>,
        ev: &Event<'_>,
        s: usize,
        end: &mut dyn FnMut() -> usize,
    ) -> Result<(), Error> {
        let ok = match (want, ev) {
            (Want::Orig(id), _) => {
                let ok = self.original(id, ev, s, end);
                self.last = Some(id);
                return if ok {
                    Ok(())
                } else {
                    Err(self.fail("a node differs from the original"))
                };
            }
            (Want::End { map: true }, Event::MappingEnd) => true,
            (Want::End { map: false }, Event::SequenceEnd) => true,
            (Want::NewMap { replaces }, Event::MappingStart(anchor, None)) => {
                let kept = replaces.map_or(0, |id| self.tree.node(id).anchor());
                if (*anchor != 0) != (kept != 0) {
                    false
                } else {
                    if let Some(id) = replaces.filter(|_| *anchor != 0) {
                        self.record_anchor(*anchor, id);
                    }
                    // A flow mapping's `{` must be written by an edit; a block mapping's
                    // start is its first key, checked next.
                    let e = end();
                    flow_open(self.out, s, e, b'{').is_none_or(|at| self.shift.written(at))
                }
            }
            (Want::Key(key), Event::Scalar(v, _, 0, None)) => {
                v.as_ref() == key && self.shift.written(s)
            }
            (Want::Secret { k, at }, Event::Scalar(v, ScalarStyle::DoubleQuoted, 0, None)) => {
                v.as_ref() == self.yaml_values[k]
                    && (self.shift.written(s) || at.is_some_and(|id| self.at_original(s, id)))
            }
            (Want::Copy(id), Event::Scalar(v, style, 0, None)) => {
                let n = self.tree.node(id);
                matches!(&n.kind, Kind::Scalar { value } if value == v)
                    && n.style == *style
                    && !n.has_tag()
                    && self.shift.written(s)
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(self.fail(match want {
                Want::Secret { .. } => "a secret entry does not hold the secret",
                Want::Key(_) | Want::NewMap { .. } => "an intended entry is missing or misplaced",
                _ => "the structure differs from the original",
            }))
        }
    }

    /// `ev` is original node `id`, unchanged, at its shifted position.
    fn original(
        &mut self,
        id: NodeId,
        ev: &Event<'_>,
        s: usize,
        end: &mut dyn FnMut() -> usize,
    ) -> bool {
        let n = self.tree.node(id);
        let (anchor, tag) = match (&n.kind, ev) {
            (Kind::Scalar { value }, Event::Scalar(v, style, anchor, tag)) => {
                if value != v || n.style != *style {
                    return false;
                }
                let placed = match style {
                    // The node starts at the `|`/`>` header; the event at the first content.
                    ScalarStyle::Literal | ScalarStyle::Folded => {
                        let h = self.shift.map(n.start());
                        h < s && matches!(self.out.get(h), Some(b'|' | b'>'))
                    }
                    // An empty plain scalar has no text of its own; the parser's position
                    // for it can be the next token's.
                    ScalarStyle::Plain if value.is_empty() => true,
                    _ => self.at_original(s, id),
                };
                if !placed {
                    return false;
                }
                (*anchor, tag.as_deref())
            }
            (Kind::Alias { target }, Event::Alias(a)) => {
                return self.anchors.get(*a) == Some(&(target + 1)) && self.at_original(s, id);
            }
            (Kind::Map { .. }, Event::MappingStart(anchor, tag))
            | (Kind::Seq { .. }, Event::SequenceStart(anchor, tag)) => {
                let open = if matches!(n.kind, Kind::Map { .. }) {
                    b'{'
                } else {
                    b'['
                };
                let at = flow_open(self.out, s, end(), open);
                if at.is_some() != n.flow {
                    return false;
                }
                let start = self.shift.map(n.start());
                let placed = match at {
                    Some(at) => at == start,
                    // A block collection's node starts at its properties, or else at its
                    // first child (checked next).
                    None if *anchor != 0 || tag.is_some() => s == start,
                    None => true,
                };
                if !placed {
                    return false;
                }
                (*anchor, tag.as_deref())
            }
            _ => return false,
        };
        if !tag_eq(self.tree.tag(id), tag) || (anchor != 0) != (n.anchor() != 0) {
            return false;
        }
        if anchor != 0 {
            self.record_anchor(anchor, id);
        }
        true
    }

    fn record_anchor(&mut self, anchor: usize, id: NodeId) {
        if self.anchors.len() <= anchor {
            self.anchors.resize(anchor + 1, 0);
        }
        self.anchors[anchor] = id + 1;
    }
}

/// `a.b.[2].c` for node `id` of the original (found from the root: only on failure).
fn path_to(tree: &Tree<'_>, id: NodeId) -> String {
    fn find(tree: &Tree<'_>, at: NodeId, id: NodeId, path: &mut Vec<String>) -> bool {
        if at == id {
            return true;
        }
        match &tree.node(at).kind {
            Kind::Map { entries, .. } => tree.pairs(*entries).iter().any(|&(k, v)| {
                path.push(key_repr(tree, k).chars().take(60).collect());
                let found = k == id || find(tree, v, id, path);
                if !found {
                    path.pop();
                }
                found
            }),
            Kind::Seq { items, .. } => tree.list(*items).iter().enumerate().any(|(i, &v)| {
                path.push(format!("[{i}]"));
                let found = find(tree, v, id, path);
                if !found {
                    path.pop();
                }
                found
            }),
            _ => false,
        }
    }
    let mut path = Vec::new();
    if let Some(r) = tree.root {
        find(tree, r, id, &mut path);
    }
    path.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::overlay::Overlay;
    use crate::render::{plan, quote, splice};

    const NAMES: &[&str] = &["DB_PASSWORD"];
    const VALUES: &[&str] = &["s3cret"];
    const WRITTEN: &[&str] = &["\"s3cret\""];

    fn expect() -> Expect<'static> {
        Expect {
            names: NAMES,
            yaml_values: VALUES,
            variable_env: false,
            service_wide: &[true; NAMES.len()],
            scoped: &[],
        }
    }

    /// Plan and splice `src` as `render` does, let `mutate` spoil the edits, then run the
    /// streamed check on the result.
    fn check_spliced(src: &str, mutate: impl Fn(&mut Vec<Edit>)) -> Result<String, Error> {
        assert_eq!(quote::double_quoted(VALUES[0]).as_str(), WRITTEN[0]);
        let tree = Tree::parse(src).ok().expect("parses");
        let plan = plan::plan(&tree, NAMES, WRITTEN)?;
        let (mut edits, _) = splice::edits(&tree, &plan, NAMES, WRITTEN)?;
        mutate(&mut edits);
        let output = splice::apply(src, &edits, |i| WRITTEN[i]);
        let ov = Overlay::new(&tree, &plan, NAMES)?;
        check(&tree, &ov, &expect(), &output, &edits, |i| WRITTEN[i].len())?;
        Ok(output)
    }

    /// Any output `b` of `a`, described as one edit (the bytes between the common prefix and
    /// suffix), checked against the real plan for `a`.
    fn check_output(a: &str, b: &str) -> Result<(), Error> {
        let tree = Tree::parse(a).ok().expect("parses");
        let plan = plan::plan(&tree, NAMES, WRITTEN)?;
        let ov = Overlay::new(&tree, &plan, NAMES)?;
        let prefix = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
        let suffix = a[prefix..]
            .bytes()
            .rev()
            .zip(b[prefix..].bytes().rev())
            .take_while(|(x, y)| x == y)
            .count();
        let edit = Edit {
            start: prefix,
            end: a.len() - suffix,
            depth: 0,
            new: vec![Piece::Lit(b[prefix..b.len() - suffix].to_string())],
            old_value: None,
        };
        check(&tree, &ov, &expect(), b, &[edit], |_| 0)
    }

    #[track_caller]
    fn assert_refused(r: Result<impl Sized, Error>, what: &str) {
        assert!(matches!(r, Err(Error::Internal { .. })), "accepted: {what}");
    }

    #[test]
    fn refuses_anything_but_the_intended_change() {
        // The cases `reference::verify` is tested with, and more, through the streamed check.
        let (a, good, mut bad) = crate::render::reference::tests::wrong_outputs();
        assert!(check_output(a, good).is_ok());
        assert_eq!(check_spliced(a, |_| {}).ok().as_deref(), Some(good));
        bad.extend([
            good.replace("DB_PASSWORD", "DB_PASSWORD2"),
            good.replace("\"s3cret\"\n", "\"s3cret\"\n---\n"),
            good.replace("LOG: info", "LOG: !!str info"),
            good.replace("LOG: info", "LOG: &a info"),
        ]);
        for b in bad {
            assert_refused(check_output(a, &b), &b);
        }
    }

    #[test]
    fn refuses_a_wrong_splice() {
        let a = "service: s # c\nprovider:\n  name: aws\n  environment:\n    LOG: info\n    DB_PASSWORD: old\nfunctions:\n  f:\n    handler: h\n";
        assert!(check_spliced(a, |_| {}).is_ok());
        type Spoil<'f> = &'f dyn Fn(&mut Vec<Edit>);
        let wrong: [(&str, Spoil<'_>); 6] = [
            ("no edit", &|e| e.clear()),
            ("value one byte early", &|e| {
                e[0].start -= 1;
                e[0].end -= 1;
            }),
            ("value written plain", &|e| {
                e[0].new = vec![Piece::Lit("s3cret".into())]
            }),
            ("old value left behind", &|e| e[0].end = e[0].start),
            ("into the comment", &|e| {
                e[0] = Edit {
                    start: 13,
                    end: 13,
                    depth: 0,
                    new: vec![Piece::Lit("\n  DB_PASSWORD: ".into()), Piece::Value(0)],
                    old_value: None,
                }
            }),
            ("an extra line", &|e| {
                e[0].new.push(Piece::Lit("\n    X: y".into()))
            }),
        ];
        for (what, mutate) in wrong {
            assert_refused(check_spliced(a, mutate), what);
        }
    }

    #[test]
    fn refuses_an_entry_in_the_wrong_mapping_or_shape() {
        // The entry is appended: written into the function instead, or shifted a line.
        let a = "provider:\n  environment:\n    LOG: info\nfunctions:\n  f:\n    handler: h\n";
        let good = check_spliced(a, |_| {}).expect("renders");
        assert_eq!(
            good,
            "provider:\n  environment:\n    LOG: info\n    DB_PASSWORD: \"s3cret\"\nfunctions:\n  f:\n    handler: h\n"
        );
        let at_eof = a.len();
        assert_refused(
            check_spliced(a, |e| {
                e[0].start = at_eof;
                e[0].end = at_eof;
            }),
            "appended at the end of the file",
        );
        assert_refused(
            check_spliced(a, |e| e[0].new.insert(0, Piece::Lit("  ".into()))),
            "indented under LOG",
        );
        // The same output, but the edit claims one byte less than it wrote: everything after
        // it is then one byte off its original position.
        let tree = Tree::parse(a).ok().expect("parses");
        let plan = plan::plan(&tree, NAMES, WRITTEN).expect("plans");
        let ov = Overlay::new(&tree, &plan, NAMES).expect("overlay");
        let claim = |text: &str| Edit {
            start: 39,
            end: 39,
            depth: 0,
            new: vec![Piece::Lit(text.into())],
            old_value: None,
        };
        let line = "    DB_PASSWORD: \"s3cret\"\n";
        assert!(check(&tree, &ov, &expect(), &good, &[claim(line)], |_| 0).is_ok());
        assert_refused(
            check(&tree, &ov, &expect(), &good, &[claim(&line[1..])], |_| 0),
            "a byte shifted",
        );
    }

    #[test]
    fn aliases_compare_by_target_and_the_shorthand_by_name() {
        let a = "x: &a 1\ny: &b 2\nz: *a\nprovider: aws\n";
        let good = "x: &a 1\ny: &b 2\nz: *a\nprovider:\n  name: aws\n  environment:\n    DB_PASSWORD: \"s3cret\"\n";
        assert!(check_output(a, good).is_ok());
        for bad in [
            good.replace("z: *a", "z: *b"),
            good.replace("name: aws", "name: gcp"),
            good.replace("  name: aws\n", ""),
        ] {
            assert_refused(check_output(a, &bad), &bad);
        }
    }
}
