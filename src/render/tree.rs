//! Span tree: one pass over saphyr-parser events builds a flat arena of nodes, each with its
//! byte range in the original text, so edits can be spliced without re-serialising anything.
//!
//! saphyr-parser's markers are *character* indices and some end markers are unreliable
//! (block scalars, block collections, flow collection ends, empty plain scalars), so this
//! module converts indices to bytes itself ([`ByteIndex`]), derives content ends itself (see
//! yaml-editing.md §6), and refuses a file whose reported positions do not match its text.
//! A file saphyr-parser refuses is parsed once more from [`relax`]'s copy (under-indented
//! lines inside flow collections and quoted scalars re-indented, as js-yaml reads them), with
//! every position mapped back to the original.

use std::borrow::Cow;

use rustc_hash::FxHashSet as HashSet;

use saphyr_parser::{Event, ScalarStyle};

use super::events;
use super::relax;

/// Index of a node in [`Tree::nodes`].
pub(crate) type NodeId = usize;

/// Deepest nesting we accept; the later walks are recursive and must not overflow the stack.
pub(crate) const MAX_DEPTH: usize = 256;

/// 24 bytes: a scalar's style and a collection's flow flag live in the [`Node`].
pub(crate) enum Kind<'a> {
    Scalar {
        value: Cow<'a, str>,
    },
    /// Entries in [`Tree::pairs`].
    Map {
        entries: Children,
    },
    /// Items in [`Tree::list`].
    Seq {
        items: Children,
    },
    Alias {
        target: NodeId,
    },
}

/// A collection's children: a range of one of the tree's two child arenas. Children are
/// gathered on a stack while their collection is open and copied out when it closes, so a
/// large file makes two arrays instead of an allocation per collection (36k in the 42k-line
/// benchmark file, with their growth and frees).
#[derive(Clone, Copy, Default)]
pub(crate) struct Children {
    start: u32,
    len: u32,
}

impl Children {
    pub(crate) fn len(self) -> usize {
        self.len as usize
    }

    pub(crate) fn is_empty(self) -> bool {
        self.len == 0
    }

    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.start as usize + self.len as usize
    }
}

/// 56 bytes: a large file has a node per ~10 bytes (its arena is most of a large render's
/// memory, written by one core and read by the other), so positions are `u32` (files over
/// 4 GiB are refused) and the rare tag is kept aside ([`Tree::tag`]).
pub(crate) struct Node<'a> {
    pub kind: Kind<'a>,
    /// 1 + the tag's index in [`Tree::tags`]; 0 without a tag.
    tag: u32,
    /// Parser anchor id, 0 when the node has no anchor.
    anchor: u32,
    /// Byte offset of the node's first byte (its tag/anchor when it has one; `{`/`[` for flow
    /// collections; the `|`/`>` header for block scalars).
    start: u32,
    /// Byte offset just past the node's content (never includes trailing blanks or comments).
    end: u32,
    /// 1-based line and 0-based character column of `start` as reported by the parser.
    line: u32,
    col: u32,
    /// Nesting depth (number of enclosing collections); orders same-offset inserts.
    depth: u32,
    /// How a scalar is written (`Plain` for any other node).
    pub style: ScalarStyle,
    /// A collection written `{...}` or `[...]`.
    pub flow: bool,
}

/// Positions are checked against the file size (≤ `u32::MAX`) before any node is made.
fn pos(x: usize) -> u32 {
    u32::try_from(x).unwrap_or(u32::MAX)
}

impl Node<'_> {
    pub fn start(&self) -> usize {
        self.start as usize
    }

    pub fn end(&self) -> usize {
        self.end as usize
    }

    pub fn line(&self) -> usize {
        self.line as usize
    }

    pub fn col(&self) -> usize {
        self.col as usize
    }

    pub fn depth(&self) -> usize {
        self.depth as usize
    }

    pub fn anchor(&self) -> usize {
        self.anchor as usize
    }

    /// Whether the node has a tag (`!Ref`, `!!str`; [`Tree::tag`] gives it).
    pub fn has_tag(&self) -> bool {
        self.tag != 0
    }

    pub fn is_null(&self) -> bool {
        match &self.kind {
            Kind::Scalar { value } => {
                self.style == ScalarStyle::Plain
                    && !self.has_tag()
                    && matches!(value.as_ref(), "" | "~" | "null" | "Null" | "NULL")
            }
            _ => false,
        }
    }

    /// A zero-width empty scalar (`KEY:` with nothing after it).
    pub fn is_empty_plain(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { value } if value.is_empty())
            && self.style == ScalarStyle::Plain
            && !self.has_tag()
            && self.anchor == 0
            && self.start == self.end
    }

    pub fn scalar(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }
}

/// A parse error in parser coordinates (1-based line, 0-based column).
pub(crate) struct ParseError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

pub(crate) struct Tree<'a> {
    pub src: &'a str,
    pub nodes: Vec<Node<'a>>,
    /// Tags as written after resolution (`!Ref`, `!!str`), by [`Node`]'s `tag`.
    tags: Vec<Box<str>>,
    /// Every mapping's (key, value) pairs, a mapping's contiguous ([`Children`]).
    pairs: Vec<(NodeId, NodeId)>,
    /// Every sequence's items, a sequence's contiguous.
    items: Vec<NodeId>,
    /// Root node of the (single) document; `None` for an empty stream.
    pub root: Option<NodeId>,
    /// Whether any alias occurs (enables the alias-aware checks, which cost a resolved walk).
    pub has_alias: bool,
    /// Position of a second document's start, if any (multi-document files are refused).
    pub second_document: Option<(usize, usize)>,
    /// Line ending to use for inserted lines.
    pub eol: &'static str,
    /// Whether it was read through [`relax`]'s copy (what js-yaml reads): the rendered
    /// output is then re-read the same way.
    pub relaxed: bool,
}

struct Frame {
    node: NodeId,
    pending_key: Option<NodeId>,
    /// Where this collection's children start on the open-children stack of its kind.
    mark: usize,
}

/// Char index → byte offset. saphyr-parser reports character indices; a file is mostly
/// ASCII even when it is not all ASCII, so this keeps one entry per *multi-byte* character:
/// its char index and the extra bytes (beyond one per char) up to and including it. A lookup
/// is a binary search, and building the table skips ASCII eight bytes at a time. (It replaced
/// a per-character table, 8 MB for a 1 MB file, then cursors walking the text.)
pub(crate) struct ByteIndex {
    len: usize,
    /// (char index, cumulative extra bytes through this char), by char index.
    multi: Vec<(usize, usize)>,
}

impl ByteIndex {
    pub(crate) fn new(src: &str) -> Self {
        let bytes = src.as_bytes();
        let mut multi = Vec::new();
        let mut extra = 0usize;
        let mut i = 0usize;
        while i < bytes.len() {
            if let Some(word) = bytes.get(i..i + 8) {
                let w = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
                if w & 0x8080_8080_8080_8080 == 0 {
                    i += 8;
                    continue;
                }
            }
            let b = bytes[i];
            let width = match b {
                0x00..=0x7f => 1,
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                _ => 4,
            };
            if width > 1 {
                // `src` is a `str`, so `b` is a leading byte and `width` bytes follow.
                let char_index = i - extra;
                extra += width - 1;
                multi.push((char_index, extra));
            }
            i += width;
        }
        ByteIndex {
            len: bytes.len(),
            multi,
        }
    }

    /// `cursor` remembers where the previous lookup of the same kind (span starts, span
    /// ends) landed: positions arrive nearly in order, so the answer is usually the same gap
    /// between multi-byte characters or the next one, and a binary search otherwise.
    pub(crate) fn byte(&self, cursor: &mut usize, char_index: usize) -> usize {
        let m = &self.multi;
        // `k` multi-byte chars come before `char_index` when it falls in gap `k`.
        let in_gap = |k: usize| {
            (k == 0 || m[k - 1].0 < char_index) && m.get(k).is_none_or(|&(c, _)| c >= char_index)
        };
        let k = [*cursor, *cursor + 1]
            .into_iter()
            .find(|&k| k <= m.len() && in_gap(k))
            .unwrap_or_else(|| m.partition_point(|&(c, _)| c < char_index));
        *cursor = k;
        let extra = k.checked_sub(1).map_or(0, |j| m[j].1);
        (char_index + extra).min(self.len)
    }
}

fn tag_string(tag: &Option<Cow<'_, saphyr_parser::Tag>>) -> Option<Box<str>> {
    tag.as_deref().map(|t| {
        let handle = match t.handle.as_str() {
            "tag:yaml.org,2002:" => "!!",
            h => h,
        };
        // Every function of a large file can carry a tag: no `format!` machinery.
        let mut s = String::with_capacity(handle.len() + t.suffix.len());
        s.push_str(handle);
        s.push_str(&t.suffix);
        s.into_boxed_str()
    })
}

/// What [`Tree::build`] does with each event.
type Builder<'b> =
    dyn for<'e> FnMut(&events::ParseResult<'e>) -> Result<(), ParseError> + Send + 'b;

/// [`Tree::build`]'s walk with one parser over the whole text.
fn whole(text: &str, each: &mut Builder<'_>) -> Result<(), ParseError> {
    events::try_for_each(text, each)
}

fn err((line, col): (usize, usize), message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        col,
        message: message.into(),
    }
}

impl<'a> Tree<'a> {
    /// Parse `src`. When saphyr-parser rejects it, retry once on [`relax`]'s copy (what js-yaml
    /// reads), so the common case costs one parse.
    pub fn parse(src: &'a str) -> Result<Tree<'a>, ParseError> {
        if u32::try_from(src.len()).is_err() {
            return Err(ParseError {
                line: 1,
                col: 0,
                message: "the file is larger than 4 GiB".into(),
            });
        }
        // A large file is read in two parts on two cores where it can be cut (render/cut.rs);
        // when it cannot, or on any error, one parser reads it whole.
        if events::parallel(src) {
            let cut = Self::build(src, src, None, |text, each| {
                events::try_for_each_cut(text, each)
            });
            if let Ok(tree) = cut {
                return Ok(tree);
            }
        }
        let first = match Self::build(src, src, None, whole) {
            Ok(tree) => return Ok(tree),
            Err(e) => e,
        };
        let Some(relaxed) = relax::relax(src) else {
            return Err(first);
        };
        match Self::build(src, &relaxed.text, Some(&relaxed.map), whole) {
            Ok(tree) if tree.pads_are_inert(&relaxed.map) => Ok(tree),
            Ok(_) => Err(first),
            // The copy got further: the first error was one js-yaml reads past. An earlier
            // error would come from a misjudged padding, so the original one stands.
            Err(e) if (e.line, e.col) > (first.line, first.col) => Err(e),
            Err(_) => Err(first),
        }
    }

    /// Every padded line lies inside a flow collection or a quoted scalar, where leading
    /// white space means nothing: the copy and the original are the same document.
    fn pads_are_inert(&self, map: &relax::PosMap) -> bool {
        let mut spans: Vec<(usize, usize)> = self
            .nodes
            .iter()
            .filter(|n| match &n.kind {
                Kind::Map { .. } | Kind::Seq { .. } => n.flow,
                Kind::Scalar { .. } => {
                    matches!(
                        n.style,
                        ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted
                    )
                }
                Kind::Alias { .. } => false,
            })
            .map(|n| (n.start(), n.end()))
            .collect();
        spans.sort_unstable();
        // Merge overlapping spans: strictly inside the union is strictly inside one of them.
        let mut union: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
        for (start, end) in spans {
            match union.last_mut() {
                Some(last) if start < last.1 => last.1 = last.1.max(end),
                _ => union.push((start, end)),
            }
        }
        let mut k = 0;
        map.padded_lines().all(|at| {
            while k < union.len() && union[k].1 <= at {
                k += 1;
            }
            union.get(k).is_some_and(|&(start, _)| start < at)
        })
    }

    /// One pass over the events of `text` (the source, or [`relax`]'s copy of it with `map`
    /// back to the source's positions) into a tree over `src`; `walk` calls the builder with
    /// each event.
    fn build<W>(
        src: &'a str,
        text: &str,
        map: Option<&relax::PosMap>,
        walk: impl FnOnce(&str, &mut Builder<'_>) -> Result<(), W>,
    ) -> Result<Tree<'a>, W> {
        // Parser positions → the source's (character index; line and column).
        let index = |i: usize| map.map_or(i, |m| m.char_index(i));
        let at = |m: &saphyr_parser::Marker| {
            (m.line(), map.map_or(m.col(), |p| p.col(m.line(), m.col())))
        };
        let bi = ByteIndex::new(src);
        let (mut start_cursor, mut end_cursor) = (0, 0);
        let bytes = src.as_bytes();
        // About one node per 10 bytes in real files: reserving up front avoids copying the
        // arena on every doubling (untouched capacity costs address space, not memory).
        // `try_reserve`: under a memory limit a huge file must not abort here; the arena
        // then grows as needed.
        let mut nodes: Vec<Node<'a>> = Vec::new();
        let _ = nodes.try_reserve(src.len() / 8 + 16);
        let mut stack: Vec<Frame> = Vec::new();
        // Children of the open collections (innermost last), and the finished arenas.
        let mut open_pairs: Vec<(NodeId, NodeId)> = Vec::new();
        let mut open_items: Vec<NodeId> = Vec::new();
        let mut pairs: Vec<(NodeId, NodeId)> = Vec::new();
        let mut items: Vec<NodeId> = Vec::new();
        let mut root = None;
        let mut documents = 0;
        let mut has_alias = false;
        let mut second_document = None;
        // anchor id → node; ids are unique per definition, so redefinitions are handled.
        let mut anchors: Vec<Option<NodeId>> = Vec::new();
        let mut tags: Vec<Box<str>> = Vec::new();
        // A node's `tag`: 1 + the index of its tag in `tags`, 0 for none.
        let mut tag_id = |tag: &Option<Cow<'_, saphyr_parser::Tag>>| {
            tag_string(tag).map_or(0, |t| {
                tags.push(t);
                pos(tags.len())
            })
        };
        // End of the previous event, used to find block scalar headers.
        let mut last_end = 0usize;
        walk(text, &mut |item| {
            let (ev, span) = item.as_ref().map_err(|e| err(at(e.marker()), e.info()))?;
            let s = bi.byte(&mut start_cursor, index(span.start.index()));
            let e = bi.byte(&mut end_cursor, index(span.end.index())).max(s);
            let (line, col) = at(&span.start);
            let is_map_start = matches!(ev, Event::MappingStart(..));
            let new_node = match *ev {
                Event::StreamStart | Event::StreamEnd | Event::Nothing => None,
                Event::DocumentStart(explicit) => {
                    // Directives come before a `---`: when the parser has miscounted one
                    // (U+2028, multi-byte characters), the marker is not where it says, and
                    // every offset after it is suspect, even with no scalar to show it
                    // (found by fuzzing, run 24: `%{ӄc:i \n---` alone rendered, and the
                    // output's scalars were then refused).
                    if explicit && src.get(s..s + 3) != Some("---") {
                        return Err(err(
                            (line, col),
                            "the parser's position does not match the text (a line separator U+2028/U+2029 or a multi-byte character in a directive?)",
                        ));
                    }
                    documents += 1;
                    if documents == 2 {
                        second_document = Some((line, col));
                    }
                    None
                }
                Event::DocumentEnd => None,
                Event::Alias(id) => {
                    has_alias = true;
                    let target = anchors
                        .get(id)
                        .copied()
                        .flatten()
                        .ok_or_else(|| err((line, col), "alias to an unknown anchor"))?;
                    // `&a {x: *a}`: a node that contains itself. Resolving merges through it
                    // never ends, and Serverless cannot load it either.
                    if stack.iter().any(|f| f.node == target) {
                        return Err(err(
                            (line, col),
                            "an alias refers to a node that contains it (a recursive structure)",
                        ));
                    }
                    Some(Node {
                        kind: Kind::Alias { target },
                        tag: 0,
                        anchor: 0,
                        start: pos(s),
                        end: pos(trim_end(bytes, s, e)),
                        line: pos(line),
                        col: pos(col),
                        depth: pos(stack.len()),
                        style: ScalarStyle::Plain,
                        flow: false,
                    })
                }
                Event::Scalar(ref value, style, anchor, ref tag) => {
                    // A one-line plain scalar without properties is its own source text. When
                    // the parser's position disagrees, every offset after it is suspect: refuse
                    // rather than splice at the wrong bytes (found by fuzzing: saphyr-parser
                    // miscounts U+2028 inside a `%` directive line).
                    let text_at = match style {
                        _ if tag.is_some() || anchor != 0 => None,
                        ScalarStyle::Plain => Some(s),
                        ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => Some(s + 1),
                        _ => None,
                    };
                    let verbatim = text_at.and_then(|at| src.get(at..at + value.len()));
                    // The parser allocates every scalar; keeping a borrow of the source instead
                    // frees that memory at once (a third of a large render's page faults came
                    // from keeping them).
                    let (value, is_verbatim): (Cow<'a, str>, bool) = match verbatim {
                        Some(v) if v == value.as_ref() => (Cow::Borrowed(v), true),
                        _ => (Cow::Owned(value.to_string()), false),
                    };
                    if !is_verbatim
                        && style == ScalarStyle::Plain
                        && text_at.is_some()
                        // Folding turns a multi-line plain scalar's line breaks into spaces,
                        // or into `\n` where a blank line separates its lines.
                        && !value.contains([' ', '\n'])
                    {
                        return Err(err(
                            (line, col),
                            "the parser's position does not match the text (a line separator U+2028/U+2029 in a directive?)",
                        ));
                    }
                    let (start, end) = match style {
                        ScalarStyle::Literal | ScalarStyle::Folded => {
                            block_scalar_range(bytes, last_end, s, e)
                        }
                        ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => {
                            (s, quoted_end(bytes, s, e))
                        }
                        // An empty plain scalar (`KEY:` with nothing after it) has no text,
                        // but saphyr's span for it can run over the rest of the line: a flow
                        // mapping's `}` and a trailing comment included (found by fuzzing:
                        // an entry was inserted inside the comment).
                        ScalarStyle::Plain if value.is_empty() && tag.is_none() && anchor == 0 => {
                            (s, s)
                        }
                        _ => (s, trim_end(bytes, s, e)),
                    };
                    Some(Node {
                        kind: Kind::Scalar { value },
                        tag: tag_id(tag),
                        anchor: pos(anchor),
                        start: pos(start),
                        end: pos(end),
                        line: pos(line),
                        col: pos(col),
                        depth: pos(stack.len()),
                        style,
                        flow: false,
                    })
                }
                Event::MappingStart(anchor, ref tag) | Event::SequenceStart(anchor, ref tag) => {
                    let is_map = is_map_start;
                    let open = if is_map { b'{' } else { b'[' };
                    let flow_at = flow_open(bytes, s, e, open);
                    let flow = flow_at.is_some();
                    let kind = if is_map {
                        Kind::Map {
                            entries: Children::default(),
                        }
                    } else {
                        Kind::Seq {
                            items: Children::default(),
                        }
                    };
                    Some(Node {
                        kind,
                        tag: tag_id(tag),
                        anchor: pos(anchor),
                        // Block collections: `start` is the first child's start, fixed below.
                        start: pos(flow_at.unwrap_or(s)),
                        end: pos(e),
                        line: pos(line),
                        col: pos(col),
                        depth: pos(stack.len()),
                        style: ScalarStyle::Plain,
                        flow,
                    })
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    let frame = stack
                        .pop()
                        .ok_or_else(|| err((line, col), "unbalanced collection end"))?;
                    let id = frame.node;
                    let flow = nodes[id].flow;
                    let (last_child, first_child) = match &nodes[id].kind {
                        Kind::Map { .. } => {
                            let open = &open_pairs[frame.mark..];
                            (open.last().map(|&(_, v)| v), open.first().map(|&(k, _)| k))
                        }
                        Kind::Seq { .. } => {
                            let open = &open_items[frame.mark..];
                            (open.last().copied(), open.first().copied())
                        }
                        _ => (None, None),
                    };
                    if let Some(k) = frame.pending_key {
                        // A key without a value cannot happen in a complete mapping.
                        return Err(err((line, col), format!("dangling key at node {k}")));
                    }
                    if flow {
                        let close = if matches!(ev, Event::MappingEnd) {
                            b'}'
                        } else {
                            b']'
                        };
                        let from = last_child.map_or(nodes[id].start() + 1, |c| nodes[c].end());
                        nodes[id].end =
                            pos(flow_close(bytes, from.min(s).max(nodes[id].start()), close)
                                .unwrap_or(e));
                    } else {
                        if nodes[id].anchor == 0
                            && !nodes[id].has_tag()
                            && let Some(f) = first_child
                        {
                            nodes[id].start = nodes[f].start;
                        }
                        nodes[id].end = last_child.map_or(nodes[id].start, |c| nodes[c].end);
                    }
                    if matches!(nodes[id].kind, Kind::Map { .. }) {
                        check_duplicates(&nodes, &open_pairs[frame.mark..])?;
                        let closed = close_children(&mut open_pairs, &mut pairs, frame.mark);
                        if let Kind::Map { entries, .. } = &mut nodes[id].kind {
                            *entries = closed;
                        }
                    } else {
                        let closed = close_children(&mut open_items, &mut items, frame.mark);
                        if let Kind::Seq { items, .. } = &mut nodes[id].kind {
                            *items = closed;
                        }
                    }
                    last_end = e;
                    None
                }
            };
            if let Some(node) = new_node {
                let anchor = node.anchor();
                let is_collection = matches!(node.kind, Kind::Map { .. } | Kind::Seq { .. });
                last_end = if is_collection { e } else { node.end() };
                let id = nodes.len();
                nodes.push(node);
                if anchor > 0 {
                    if anchors.len() <= anchor {
                        anchors.resize(anchor + 1, None);
                    }
                    anchors[anchor] = Some(id);
                }
                match stack.last_mut() {
                    None => {
                        if root.is_none() {
                            root = Some(id);
                        }
                    }
                    Some(frame) => match &nodes[frame.node].kind {
                        Kind::Map { .. } => match frame.pending_key.take() {
                            None => frame.pending_key = Some(id),
                            Some(k) => open_pairs.push((k, id)),
                        },
                        Kind::Seq { .. } => open_items.push(id),
                        _ => {}
                    },
                }
                if is_collection {
                    if stack.len() >= MAX_DEPTH {
                        return Err(err(
                            (line, col),
                            format!("nesting deeper than {MAX_DEPTH} levels is not supported"),
                        ));
                    }
                    let mark = match nodes[id].kind {
                        Kind::Map { .. } => open_pairs.len(),
                        _ => open_items.len(),
                    };
                    stack.push(Frame {
                        node: id,
                        pending_key: None,
                        mark,
                    });
                }
            }
            Ok(())
        })?;
        let eol = match src.find('\n') {
            Some(i) if i > 0 && bytes[i - 1] == b'\r' => "\r\n",
            _ => "\n",
        };
        Ok(Tree {
            src,
            nodes,
            tags,
            pairs,
            items,
            root,
            has_alias,
            second_document,
            eol,
            relaxed: map.is_some(),
        })
    }

    pub fn node(&self, id: NodeId) -> &Node<'a> {
        &self.nodes[id]
    }

    /// The tag of node `id` as written after resolution (`!Ref`, `!!str`, ...).
    pub fn tag(&self, id: NodeId) -> Option<&str> {
        let t = self.nodes[id].tag as usize;
        t.checked_sub(1)
            .and_then(|i| self.tags.get(i))
            .map(|t| &**t)
    }

    /// A mapping's (key, value) pairs (`entries` of [`Kind::Map`]).
    pub fn pairs(&self, entries: Children) -> &[(NodeId, NodeId)] {
        &self.pairs[entries.range()]
    }

    /// A sequence's items (`items` of [`Kind::Seq`]).
    pub fn list(&self, items: Children) -> &[NodeId] {
        &self.items[items.range()]
    }

    /// The pairs of mapping `id`; none for any other node.
    pub fn entries(&self, id: NodeId) -> &[(NodeId, NodeId)] {
        match self.nodes[id].kind {
            Kind::Map { entries, .. } => self.pairs(entries),
            _ => &[],
        }
    }

    /// Follow aliases (bounded: an alias always points at an earlier node, so chains end).
    pub fn deref(&self, mut id: NodeId) -> NodeId {
        for _ in 0..self.nodes.len() + 1 {
            match self.nodes[id].kind {
                Kind::Alias { target } => id = target,
                _ => return id,
            }
        }
        id
    }

    /// Explicit entry with a scalar key equal to `key` (not following merges).
    pub fn explicit(&self, map: NodeId, key: &str) -> Option<(NodeId, NodeId)> {
        match &self.nodes[map].kind {
            Kind::Map { entries, .. } => self
                .pairs(*entries)
                .iter()
                .copied()
                .find(|&(k, _)| self.nodes[k].scalar() == Some(key) && !self.is_merge_key(k)),
            _ => None,
        }
    }

    pub fn is_merge_key(&self, k: NodeId) -> bool {
        let n = &self.nodes[k];
        matches!(&n.kind, Kind::Scalar { value } if value == "<<")
            && n.style == ScalarStyle::Plain
            && !n.has_tag()
    }

    /// Maps merged into `map` through `<<`, in precedence order (already dereferenced).
    pub fn merge_sources(&self, map: NodeId) -> Vec<NodeId> {
        let mut out = Vec::new();
        if let Kind::Map { entries, .. } = &self.nodes[map].kind {
            for &(k, v) in self.pairs(*entries) {
                if !self.is_merge_key(k) {
                    continue;
                }
                let v = self.deref(v);
                match &self.nodes[v].kind {
                    Kind::Map { .. } => out.push(v),
                    Kind::Seq { items, .. } => {
                        for &i in self.list(*items) {
                            let i = self.deref(i);
                            if matches!(self.nodes[i].kind, Kind::Map { .. }) {
                                out.push(i);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        out
    }

    /// Look `key` up in `map` the way a YAML loader resolves it: explicit entries first, then
    /// merge sources in order. Returns the map that actually holds the entry and its key/value.
    pub fn lookup(&self, map: NodeId, key: &str, depth: usize) -> Option<(NodeId, NodeId, NodeId)> {
        if let Some((k, v)) = self.explicit(map, key) {
            return Some((map, k, v));
        }
        let mut visited = rustc_hash::FxHashSet::default();
        visited.insert(map);
        self.lookup_merged(map, key, depth, &mut visited)
    }

    /// Depth-first through merge sources, each map once: `<<: [*a, *a]` chains would
    /// otherwise double the work at every level (a 40-line file took forever). A map seen
    /// before was either searched in full without a match or is an ancestor being searched.
    fn lookup_merged(
        &self,
        map: NodeId,
        key: &str,
        depth: usize,
        visited: &mut rustc_hash::FxHashSet<NodeId>,
    ) -> Option<(NodeId, NodeId, NodeId)> {
        if depth >= MAX_DEPTH {
            return None;
        }
        for m in self.merge_sources(map) {
            if !visited.insert(m) {
                continue;
            }
            if let Some((k, v)) = self.explicit(m, key) {
                return Some((m, k, v));
            }
            if let Some(found) = self.lookup_merged(m, key, depth + 1, visited) {
                return Some(found);
            }
        }
        None
    }

    /// Column (characters) of a map's first key: the indentation for new entries.
    pub fn key_col(&self, map: NodeId) -> Option<usize> {
        match &self.nodes[map].kind {
            Kind::Map { entries, .. } => {
                (self.pairs(*entries).first()).map(|&(k, _)| self.nodes[k].col())
            }
            _ => None,
        }
    }

    /// The byte range of the `:` after a key, and the first byte of the value text after it
    /// (skipping blanks, line breaks and comments). `None` when there is no `:` (e.g. `{A}`).
    pub fn colon_after(&self, key: NodeId) -> Option<(usize, usize)> {
        let b = self.src.as_bytes();
        let mut i = self.nodes[key].end();
        i = skip_trivia(b, i);
        if b.get(i) != Some(&b':') {
            return None;
        }
        let colon = i;
        Some((colon, skip_trivia(b, colon + 1)))
    }
}

/// Skip spaces, tabs, line breaks and `#` comments.
pub(crate) fn skip_trivia(b: &[u8], mut i: usize) -> usize {
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'#' if i == 0 || matches!(b[i - 1], b' ' | b'\t' | b'\r' | b'\n') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            _ => break,
        }
    }
    i
}

fn trim_end(b: &[u8], start: usize, mut end: usize) -> usize {
    while end > start && matches!(b[end - 1], b' ' | b'\t' | b'\r' | b'\n') {
        end -= 1;
    }
    end
}

/// End of a quoted scalar: just past its closing quote. The parser's end can run on over
/// blanks and a trailing comment, so scan the quotes ourselves.
fn quoted_end(b: &[u8], s: usize, e: usize) -> usize {
    let Some(open) = b[s..]
        .iter()
        .position(|&c| c == b'"' || c == b'\'')
        .map(|p| s + p)
    else {
        return trim_end(b, s, e);
    };
    let q = b[open];
    let mut i = open + 1;
    while i < b.len() {
        match b[i] {
            b'\\' if q == b'"' => i += 2,
            b'\'' if q == b'\'' && b.get(i + 1) == Some(&b'\'') => i += 2,
            c if c == q => return i + 1,
            _ => i += 1,
        }
    }
    trim_end(b, s, e)
}

/// Position of a flow collection's `{`/`[` in a collection-start span: after the node's
/// properties (tag, anchor) and any blanks or comments between them, never inside a comment
/// (found by fuzzing: `&a # {` before a block mapping was taken for a flow mapping).
pub(crate) fn flow_open(b: &[u8], s: usize, e: usize, open: u8) -> Option<usize> {
    let mut i = s;
    loop {
        i = skip_trivia(b, i);
        match b.get(i) {
            Some(_) if i >= e => return None,
            Some(&c) if c == open => return Some(i),
            Some(b'!' | b'&') => {
                while i < e && !matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
                    i += 1;
                }
            }
            _ => return None,
        }
    }
}

/// Find the closing bracket of a flow collection scanning from `from` over blanks, commas and
/// comments (the parser's end span can be a `,` or include a trailing comment).
fn flow_close(b: &[u8], from: usize, close: u8) -> Option<usize> {
    let mut i = from;
    loop {
        i = skip_trivia(b, i);
        match b.get(i) {
            Some(&c) if c == close => return Some(i + 1),
            Some(b',') => i += 1,
            _ => return None,
        }
    }
}

/// A block scalar's header position and content end. The parser's span starts at the first
/// content character and ends at the next token, so the header is found by scanning forward
/// from the previous event, and the end is the last non-blank content line (or, with `+`
/// chomping, the last line break inside the span, so trailing blank lines stay with the value).
fn block_scalar_range(b: &[u8], last_end: usize, s: usize, e: usize) -> (usize, usize) {
    // Header: first `|`/`>` between the previous event and the content that is not in a
    // comment or a tag/anchor token.
    let mut header = None;
    let mut i = last_end.min(s);
    while i < s {
        match b[i] {
            b'|' | b'>' => {
                header = Some(i);
                break;
            }
            // A comment runs to the line break: `\n`, `\r\n` or a lone `\r` (found by fuzzing).
            b'#' if i == 0 || matches!(b[i - 1], b' ' | b'\t' | b'\n' | b'\r') => {
                while i < s && !matches!(b[i], b'\n' | b'\r') {
                    i += 1;
                }
            }
            b'!' | b'&' => {
                while i < s && !matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    let Some(h) = header else {
        return (s, trim_end(b, s, e));
    };
    let mut j = h + 1;
    let mut keep = false;
    while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'+' || b[j] == b'-') {
        keep |= b[j] == b'+';
        j += 1;
    }
    let header_end = j;
    // Content lines live in [s, e); the last line there may be the next token's indentation.
    let mut end = header_end;
    let mut line_start = s;
    // `s` is the first content char; back up to its line start so indentation counts.
    while line_start > header_end && !matches!(b[line_start - 1], b'\n' | b'\r') {
        line_start -= 1;
    }
    let mut pos = line_start;
    while pos < e {
        // The line's break: `\n`, `\r\n` or a lone `\r`.
        let nl = b[pos..e]
            .iter()
            .position(|&c| c == b'\n' || c == b'\r')
            .map(|p| pos + p);
        let content_end = nl.unwrap_or(e);
        let blank = b[pos..content_end].iter().all(|&c| c == b' ' || c == b'\t');
        if !blank {
            end = content_end;
        } else if keep && let Some(n) = nl {
            end = line_break_end(b, n) - 1;
        }
        match nl {
            Some(n) => pos = line_break_end(b, n),
            None => break,
        }
    }
    if keep && e == b.len() && end < e && !b[end..e].iter().any(|&c| c == b'\n' || c == b'\r') {
        // keep-chomped scalar at EOF without a final line break: everything is content.
        end = trim_end(b, end, e).max(end);
    }
    (h, end.max(header_end))
}

/// Just past the line break that starts at `at` (`\r\n` is one break).
fn line_break_end(b: &[u8], at: usize) -> usize {
    if b[at] == b'\r' && b.get(at + 1) == Some(&b'\n') {
        at + 2
    } else {
        at + 1
    }
}

/// Moves a closing collection's children (`open[mark..]`) to the end of `done`.
fn close_children<T: Copy>(open: &mut Vec<T>, done: &mut Vec<T>, mark: usize) -> Children {
    let start = done.len();
    done.extend_from_slice(&open[mark..]);
    open.truncate(mark);
    Children {
        start: pos(start),
        len: pos(done.len() - start),
    }
}

fn check_duplicates(nodes: &[Node<'_>], entries: &[(NodeId, NodeId)]) -> Result<(), ParseError> {
    // js-yaml (Serverless's loader) rejects duplicate keys; so do we, with the position.
    let keys = entries.iter().filter_map(|&(k, _)| {
        let n = &nodes[k];
        match n.scalar() {
            Some("<<") if !n.has_tag() => None,
            Some(v) => Some((v, k)),
            None => None,
        }
    });
    if entries.len() <= 16 {
        // Pairwise, without allocating: most mappings have a handful of keys.
        for (i, (v, k)) in keys.clone().enumerate() {
            if keys.clone().take(i).any(|(w, _)| w == v) {
                return Err(dup(&nodes[k], v));
            }
        }
    } else {
        let mut seen = rustc_hash::FxHashSet::default();
        for (v, k) in keys {
            if !seen.insert(v) {
                return Err(dup(&nodes[k], v));
            }
        }
    }
    Ok(())
}

fn dup(n: &Node<'_>, key: &str) -> ParseError {
    // The whole key: the render masks any secret in the message before shortening it, so a
    // cut here could leave part of one unmasked.
    ParseError {
        line: n.line(),
        col: n.col(),
        message: format!("duplicate mapping key `{key}`"),
    }
}

/// One effective entry: key text (borrowed from the tree for scalar keys), key node, value.
pub(crate) type Entry<'t> = (Cow<'t, str>, NodeId, NodeId);

/// Effective entries of a mapping: explicit keys, then merged keys not already present.
pub(crate) fn effective_entries<'t>(tree: &'t Tree<'_>, map: NodeId) -> Vec<Entry<'t>> {
    let mut out: Vec<Entry<'t>> = Vec::new();
    let entries = tree.entries(map);
    if matches!(tree.node(map).kind, Kind::Map { .. })
        && !entries.iter().any(|&(k, _)| tree.is_merge_key(k))
    {
        // Common case: no merge keys, and duplicates were already rejected by the parser.
        out.extend(entries.iter().map(|&(k, v)| (key_repr(tree, k), k, v)));
        return out;
    }
    let mut seen = HashSet::default();
    let mut visited = HashSet::default();
    collect_entries(tree, map, &mut out, &mut seen, &mut visited, 0);
    out
}

fn collect_entries<'t>(
    tree: &'t Tree<'_>,
    map: NodeId,
    out: &mut Vec<Entry<'t>>,
    seen: &mut HashSet<Cow<'t, str>>,
    visited: &mut HashSet<NodeId>,
    depth: usize,
) {
    // A map merged twice adds nothing the first time did not (and re-walking it doubles the
    // work at every level of a `<<: [*a, *a]` chain).
    if depth > MAX_DEPTH || !visited.insert(map) {
        return;
    }
    if let Kind::Map { entries, .. } = &tree.node(map).kind {
        for &(k, v) in tree.pairs(*entries) {
            if tree.is_merge_key(k) {
                continue;
            }
            let key = key_repr(tree, k);
            if seen.insert(key.clone()) {
                out.push((key, k, v));
            }
        }
        for m in tree.merge_sources(map) {
            collect_entries(tree, m, out, seen, visited, depth + 1);
        }
    }
}

/// Scalar keys compare by value; anything else by its source text (rare, never edited).
pub(crate) fn key_repr<'t>(tree: &'t Tree<'_>, k: NodeId) -> Cow<'t, str> {
    let n = tree.node(k);
    match n.scalar() {
        Some(v) => Cow::Borrowed(v),
        None => Cow::Owned(format!("\u{0}{}", &tree.src[n.start()..n.end()])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text<'a>(t: &'a Tree<'_>, id: NodeId) -> &'a str {
        &t.src[t.nodes[id].start()..t.nodes[id].end()]
    }

    #[test]
    fn byte_index_matches_char_indices() {
        for src in [
            "",
            "plain ascii, longer than one eight-byte word: abcdefghijklmnop",
            "é",
            "aé",
            "12345678é12345678ü",
            "日本語のコメント # and ascii after it",
            "emoji 🎉 in 😀😀 a row\u{2028}x",
        ] {
            let bi = ByteIndex::new(src);
            let mut cursor = 0;
            let mut expected: Vec<usize> = src.char_indices().map(|(b, _)| b).collect();
            expected.push(src.len());
            for (ci, &b) in expected.iter().enumerate() {
                assert_eq!(bi.byte(&mut cursor, ci), b, "{src:?} char {ci}");
            }
            // Backwards and jumping around, as hostile input can make the parser report.
            for (ci, &b) in expected.iter().enumerate().rev().step_by(3) {
                assert_eq!(bi.byte(&mut cursor, ci), b, "{src:?} char {ci} backwards");
                assert_eq!(bi.byte(&mut cursor, 0), 0);
            }
            assert_eq!(
                bi.byte(&mut cursor, expected.len() + 5),
                src.len(),
                "past the end clamps"
            );
        }
    }

    #[test]
    fn nodes_stay_small() {
        // About one node per 10 bytes of input: node size is most of a large render's memory.
        assert!(
            std::mem::size_of::<Node<'_>>() <= 56,
            "{}",
            std::mem::size_of::<Node<'_>>()
        );
    }

    #[test]
    fn spans_of_common_shapes() {
        let src = "a: &p\n  e: { A: 1, B: \"two\" ,}   # c\n  x: !Ref Foo\n  m: |+\n    hi\n\n# c\n  n: [1, [2]]\nü: \"é\"\n";
        let t = Tree::parse(src).ok().expect("parses");
        let root = t.root.expect("root");
        let (_, p) = t.explicit(root, "a").expect("a");
        let (_, e) = t.explicit(p, "e").expect("e");
        assert_eq!(text(&t, e), "{ A: 1, B: \"two\" ,}");
        let (_, x) = t.explicit(p, "x").expect("x");
        assert_eq!(text(&t, x), "!Ref Foo");
        let (_, m) = t.explicit(p, "m").expect("m");
        assert_eq!(text(&t, m), "|+\n    hi\n");
        let (_, n) = t.explicit(p, "n").expect("n");
        assert_eq!(text(&t, n), "[1, [2]]");
        let (_, u) = t.explicit(root, "ü").expect("ü");
        assert_eq!(text(&t, u), "\"é\"");
        assert_eq!(
            &src[t.nodes[p].start()..t.nodes[p].end()],
            &src[3..src.len() - 10]
        );
    }

    #[test]
    fn block_scalar_end_excludes_trailing_comment() {
        let src = "a:\n  - b\n  - c: |\n      x\n    # c\nd: 1\n";
        let t = Tree::parse(src).ok().expect("parses");
        let s = t
            .nodes
            .iter()
            .position(|n| n.scalar() == Some("x\n"))
            .expect("block");
        assert_eq!(text(&t, s), "|\n      x");
    }

    /// js-yaml (Serverless v3) only warns about these; saphyr-parser alone rejects them.
    #[test]
    fn under_indented_flow_and_quoted_continuations_parse_with_exact_spans() {
        let src = "custom:\n  join:\n    Fn::Join: [\"\", [\n      \"a\"\n    ]]\n  policy: '{\n    \"a\": 1\n  }'\n  dq: \"x\n y\"\n  m: {a: 1,\n  b: é\n  }\nz: [\n\"c\"\n]\n";
        let t = Tree::parse(src).ok().expect("parses as js-yaml does");
        let root = t.root.expect("root");
        let (_, custom) = t.explicit(root, "custom").expect("custom");
        let (_, join) = t.explicit(custom, "join").expect("join");
        let (_, f) = t.explicit(join, "Fn::Join").expect("Fn::Join");
        assert_eq!(text(&t, f), "[\"\", [\n      \"a\"\n    ]]");
        let (_, p) = t.explicit(custom, "policy").expect("policy");
        assert_eq!(text(&t, p), "'{\n    \"a\": 1\n  }'");
        assert_eq!(t.node(p).scalar(), Some("{ \"a\": 1 }"));
        let (_, dq) = t.explicit(custom, "dq").expect("dq");
        assert_eq!(t.node(dq).scalar(), Some("x y"));
        let (_, m) = t.explicit(custom, "m").expect("m");
        assert_eq!(text(&t, m), "{a: 1,\n  b: é\n  }");
        let (bk, bv) = t.explicit(m, "b").expect("b");
        assert_eq!(text(&t, bv), "é");
        // Positions are the original file's: line and column of `b` on its (unpadded) line.
        assert_eq!((t.node(bk).line(), t.node(bk).col()), (12, 2));
        let (_, z) = t.explicit(root, "z").expect("z");
        assert_eq!(text(&t, z), "[\n\"c\"\n]");
        if let Kind::Seq { items, .. } = &t.node(z).kind {
            let items = t.list(*items);
            assert_eq!(text(&t, items[0]), "\"c\"");
            assert_eq!((t.node(items[0]).line(), t.node(items[0]).col()), (15, 0));
        } else {
            panic!("z is a sequence");
        }
    }

    #[test]
    fn what_js_yaml_rejects_stays_an_error_at_its_own_position() {
        // A document marker inside a flow collection ends the document for js-yaml too.
        let e = Tree::parse("a: [\n---\n]\n").err().expect("error");
        assert_eq!(e.line, 2);
        // Quotes and brackets inside a block scalar are text, not the start of a construct.
        let t = Tree::parse("a: |\n  it's [\nb: [\nc]\n")
            .ok()
            .expect("parses");
        let (_, a) = t.explicit(t.root.expect("root"), "a").expect("a");
        assert_eq!(t.node(a).scalar(), Some("it's [\n"));
        // An unclosed quote stays an error, reported where the parse really fails.
        assert!(Tree::parse("a:\n  b: 'x\n y\n").is_err());
    }

    #[test]
    fn duplicate_keys_are_errors() {
        assert!(Tree::parse("a: 1\nb: 2\na: 3\n").is_err());
        assert!(Tree::parse("<<: {a: 1}\n<<: {b: 1}\n").is_ok());
    }
}
