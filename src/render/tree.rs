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

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, ScanError, Span, Tag};

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
/// large file makes two arrays instead of an allocation (with its growth and free) per
/// collection.
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

/// 56 bytes: a large file has a node per ~10 bytes and its arena is most of a large render's
/// memory, so positions are `u32` (files over 4 GiB are refused) and the rare tag is kept
/// aside ([`Tree::tag`]).
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
fn pos(offset: usize) -> u32 {
    u32::try_from(offset).unwrap_or(u32::MAX)
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

/// An open collection while the tree is built.
struct Frame {
    node: NodeId,
    pending_key: Option<NodeId>,
    /// Where this collection's children start on the open-children stack of its kind.
    mark: usize,
}

/// Char index → byte offset. saphyr-parser reports character indices; a file is mostly
/// ASCII even when it is not all ASCII, so this keeps one entry per *multi-byte* character:
/// its char index and the extra bytes (beyond one per char) up to and including it. A lookup
/// is a binary search, and building the table skips ASCII eight bytes at a time (a table per
/// character would cost more memory than the file).
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
        let mut at = 0usize;
        while at < bytes.len() {
            if let Some(word) = bytes.get(at..at + 8) {
                let word = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
                if word & 0x8080_8080_8080_8080 == 0 {
                    at += 8;
                    continue;
                }
            }
            let lead = bytes[at];
            let width = match lead {
                0x00..=0x7f => 1,
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                _ => 4,
            };
            if width > 1 {
                // `src` is a `str`, so `lead` is a leading byte and `width` bytes follow.
                let char_index = at - extra;
                extra += width - 1;
                multi.push((char_index, extra));
            }
            at += width;
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
        let multi = &self.multi;
        // Gap `gap` lies after `gap` multi-byte characters: `char_index` is in it when the
        // last of them comes before it and the next one does not.
        let in_gap = |gap: usize| {
            (gap == 0 || multi[gap - 1].0 < char_index)
                && multi.get(gap).is_none_or(|&(index, _)| index >= char_index)
        };
        let gap = [*cursor, *cursor + 1]
            .into_iter()
            .find(|&gap| gap <= multi.len() && in_gap(gap))
            .unwrap_or_else(|| multi.partition_point(|&(index, _)| index < char_index));
        *cursor = gap;
        let extra = gap.checked_sub(1).map_or(0, |before| multi[before].1);
        (char_index + extra).min(self.len)
    }
}

fn tag_string(tag: Option<&Tag>) -> Option<Box<str>> {
    tag.map(|tag| {
        let handle = match tag.handle.as_str() {
            "tag:yaml.org,2002:" => "!!",
            handle => handle,
        };
        // Every function of a large file can carry a tag: no `format!` machinery.
        let mut text = String::with_capacity(handle.len() + tag.suffix.len());
        text.push_str(handle);
        text.push_str(&tag.suffix);
        text.into_boxed_str()
    })
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
        let first = match Self::build(src, src, None) {
            Ok(tree) => return Ok(tree),
            Err(error) => error,
        };
        let Some(relaxed) = relax::relax(src) else {
            return Err(first);
        };
        match Self::build(src, &relaxed.text, Some(&relaxed.map)) {
            Ok(tree) if tree.pads_are_inert(&relaxed.map) => Ok(tree),
            Ok(_) => Err(first),
            // The copy got further: the first error was one js-yaml reads past. An earlier
            // error would come from a misjudged padding, so the original one stands.
            Err(error) if (error.line, error.col) > (first.line, first.col) => Err(error),
            Err(_) => Err(first),
        }
    }

    /// Every padded line lies inside a flow collection or a quoted scalar, where leading
    /// white space means nothing: the copy and the original are the same document.
    fn pads_are_inert(&self, map: &relax::PosMap) -> bool {
        let mut spans: Vec<(usize, usize)> = self
            .nodes
            .iter()
            .filter(|node| match &node.kind {
                Kind::Map { .. } | Kind::Seq { .. } => node.flow,
                Kind::Scalar { .. } => {
                    matches!(
                        node.style,
                        ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted
                    )
                }
                Kind::Alias { .. } => false,
            })
            .map(|node| (node.start(), node.end()))
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
        let mut next = 0;
        map.padded_lines().all(|at| {
            while next < union.len() && union[next].1 <= at {
                next += 1;
            }
            union.get(next).is_some_and(|&(start, _)| start < at)
        })
    }

    /// One pass over the events of `text` (the source, or [`relax`]'s copy of it with `map`
    /// back to the source's positions) into a tree over `src`.
    fn build(
        src: &'a str,
        text: &str,
        map: Option<&relax::PosMap>,
    ) -> Result<Tree<'a>, ParseError> {
        let mut builder = TreeBuilder::new(src, map);
        // The builder stops at the parser's first error (the parser would repeat it).
        for item in Parser::new_from_str(text) {
            builder.event(item)?;
        }
        Ok(builder.finish())
    }

    pub fn node(&self, id: NodeId) -> &Node<'a> {
        &self.nodes[id]
    }

    /// The tag of node `id` as written after resolution (`!Ref`, `!!str`, ...).
    pub fn tag(&self, id: NodeId) -> Option<&str> {
        let tag = self.nodes[id].tag as usize;
        tag.checked_sub(1)
            .and_then(|index| self.tags.get(index))
            .map(|text| &**text)
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
            Kind::Map { entries, .. } => {
                self.pairs(*entries).iter().copied().find(|&(key_node, _)| {
                    self.nodes[key_node].scalar() == Some(key) && !self.is_merge_key(key_node)
                })
            }
            _ => None,
        }
    }

    pub fn is_merge_key(&self, key: NodeId) -> bool {
        let node = &self.nodes[key];
        matches!(&node.kind, Kind::Scalar { value } if value == "<<")
            && node.style == ScalarStyle::Plain
            && !node.has_tag()
    }

    /// Maps merged into `map` through `<<`, in precedence order (already dereferenced).
    pub fn merge_sources(&self, map: NodeId) -> Vec<NodeId> {
        let mut out = Vec::new();
        if let Kind::Map { entries, .. } = &self.nodes[map].kind {
            for &(key, value) in self.pairs(*entries) {
                if !self.is_merge_key(key) {
                    continue;
                }
                let value = self.deref(value);
                match &self.nodes[value].kind {
                    Kind::Map { .. } => out.push(value),
                    Kind::Seq { items, .. } => {
                        for &item in self.list(*items) {
                            let item = self.deref(item);
                            if matches!(self.nodes[item].kind, Kind::Map { .. }) {
                                out.push(item);
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
        if let Some((key_node, value)) = self.explicit(map, key) {
            return Some((map, key_node, value));
        }
        let mut visited = rustc_hash::FxHashSet::default();
        visited.insert(map);
        self.lookup_merged(map, key, depth, &mut visited)
    }

    /// Depth-first through merge sources, each map once: `<<: [*a, *a]` chains would
    /// otherwise double the work at every level. A map seen before was either searched in
    /// full without a match or is an ancestor being searched.
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
        for source in self.merge_sources(map) {
            if !visited.insert(source) {
                continue;
            }
            if let Some((key_node, value)) = self.explicit(source, key) {
                return Some((source, key_node, value));
            }
            if let Some(found) = self.lookup_merged(source, key, depth + 1, visited) {
                return Some(found);
            }
        }
        None
    }

    /// Column (characters) of a map's first key: the indentation for new entries.
    pub fn key_col(&self, map: NodeId) -> Option<usize> {
        match &self.nodes[map].kind {
            Kind::Map { entries, .. } => {
                (self.pairs(*entries).first()).map(|&(key, _)| self.nodes[key].col())
            }
            _ => None,
        }
    }

    /// The byte range of the `:` after a key, and the first byte of the value text after it
    /// (skipping blanks, line breaks and comments). `None` when there is no `:` (e.g. `{A}`).
    pub fn colon_after(&self, key: NodeId) -> Option<(usize, usize)> {
        let bytes = self.src.as_bytes();
        let colon = skip_trivia(bytes, self.nodes[key].end());
        if bytes.get(colon) != Some(&b':') {
            return None;
        }
        Some((colon, skip_trivia(bytes, colon + 1)))
    }
}

/// Where an event lies in the source: its bytes, and the line and column of its start.
#[derive(Clone, Copy)]
struct Place {
    start: usize,
    end: usize,
    line: usize,
    col: usize,
}

impl Place {
    fn line_col(self) -> (usize, usize) {
        (self.line, self.col)
    }
}

/// [`Tree::build`]'s state between events: one method per kind of event.
struct TreeBuilder<'a, 'm> {
    src: &'a str,
    /// From the parser's positions in [`relax`]'s copy back to the source's.
    map: Option<&'m relax::PosMap>,
    byte_index: ByteIndex,
    /// [`ByteIndex::byte`]'s cursors for span starts and span ends.
    start_cursor: usize,
    end_cursor: usize,
    nodes: Vec<Node<'a>>,
    /// The open collections, innermost last.
    stack: Vec<Frame>,
    /// Children of the open collections (innermost last), and the finished arenas.
    open_pairs: Vec<(NodeId, NodeId)>,
    open_items: Vec<NodeId>,
    pairs: Vec<(NodeId, NodeId)>,
    items: Vec<NodeId>,
    root: Option<NodeId>,
    documents: usize,
    has_alias: bool,
    second_document: Option<(usize, usize)>,
    /// Anchor id → node; ids are unique per definition, so redefinitions are handled.
    anchors: Vec<Option<NodeId>>,
    tags: Vec<Box<str>>,
    /// End of the previous event, where a block scalar's header search starts.
    last_end: usize,
}

impl<'a, 'm> TreeBuilder<'a, 'm> {
    fn new(src: &'a str, map: Option<&'m relax::PosMap>) -> Self {
        // About one node per 10 bytes in real files: reserving up front avoids copying the
        // arena on every doubling (untouched capacity costs address space, not memory).
        // `try_reserve`: under a memory limit a huge file must not abort here; the arena
        // then grows as needed.
        let mut nodes = Vec::new();
        let _ = nodes.try_reserve(src.len() / 8 + 16);
        TreeBuilder {
            src,
            map,
            byte_index: ByteIndex::new(src),
            start_cursor: 0,
            end_cursor: 0,
            nodes,
            stack: Vec::new(),
            open_pairs: Vec::new(),
            open_items: Vec::new(),
            pairs: Vec::new(),
            items: Vec::new(),
            root: None,
            documents: 0,
            has_alias: false,
            second_document: None,
            anchors: Vec::new(),
            tags: Vec::new(),
            last_end: 0,
        }
    }

    /// A parser position's line and column in the source.
    fn line_col(&self, marker: &Marker) -> (usize, usize) {
        let col = match self.map {
            Some(map) => map.col(marker.line(), marker.col()),
            None => marker.col(),
        };
        (marker.line(), col)
    }

    /// A parser span in the source's bytes (an end never before its start).
    fn place(&mut self, span: &Span) -> Place {
        let (start_index, end_index) = match self.map {
            Some(map) => (
                map.char_index(span.start.index()),
                map.char_index(span.end.index()),
            ),
            None => (span.start.index(), span.end.index()),
        };
        let start = self.byte_index.byte(&mut self.start_cursor, start_index);
        let end = self
            .byte_index
            .byte(&mut self.end_cursor, end_index)
            .max(start);
        let (line, col) = self.line_col(&span.start);
        Place {
            start,
            end,
            line,
            col,
        }
    }

    /// A node's `tag`: 1 + the index of its tag in `tags`, 0 for none.
    fn tag_id(&mut self, tag: Option<&Tag>) -> u32 {
        tag_string(tag).map_or(0, |text| {
            self.tags.push(text);
            pos(self.tags.len())
        })
    }

    /// Takes one item of the parser's stream.
    fn event(&mut self, item: Result<(Event<'_>, Span), ScanError>) -> Result<(), ParseError> {
        let (event, span) =
            item.map_err(|error| err(self.line_col(error.marker()), error.info()))?;
        let place = self.place(&span);
        let node = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => {
                return Ok(());
            }
            Event::DocumentStart(explicit) => return self.document_start(explicit, place),
            Event::MappingEnd => return self.collection_end(b'}', place),
            Event::SequenceEnd => return self.collection_end(b']', place),
            Event::Alias(id) => self.alias(id, place)?,
            Event::Scalar(value, style, anchor, tag) => {
                self.scalar(value, style, anchor, tag.as_deref(), place)?
            }
            Event::MappingStart(anchor, tag) => {
                let entries = Children::default();
                self.collection_start(Kind::Map { entries }, anchor, tag.as_deref(), place)
            }
            Event::SequenceStart(anchor, tag) => {
                let items = Children::default();
                self.collection_start(Kind::Seq { items }, anchor, tag.as_deref(), place)
            }
        };
        self.add(node, place)
    }

    fn document_start(&mut self, explicit: bool, place: Place) -> Result<(), ParseError> {
        // Directives come before a `---`: when the parser has miscounted one (U+2028,
        // multi-byte characters), the marker is not where it says, and every offset after it
        // is suspect, even with no scalar to show it (`%{ӄc:i \n---` alone).
        if explicit && self.src.get(place.start..place.start + 3) != Some("---") {
            return Err(err(
                place.line_col(),
                "the parser's position does not match the text (a line separator U+2028/U+2029 or a multi-byte character in a directive?)",
            ));
        }
        self.documents += 1;
        if self.documents == 2 {
            self.second_document = Some(place.line_col());
        }
        Ok(())
    }

    fn alias(&mut self, id: usize, place: Place) -> Result<Node<'a>, ParseError> {
        self.has_alias = true;
        let target = self
            .anchors
            .get(id)
            .copied()
            .flatten()
            .ok_or_else(|| err(place.line_col(), "alias to an unknown anchor"))?;
        // `&a {x: *a}`: a node that contains itself. Resolving merges through it never ends,
        // and Serverless cannot load it either.
        if self.stack.iter().any(|frame| frame.node == target) {
            return Err(err(
                place.line_col(),
                "an alias refers to a node that contains it (a recursive structure)",
            ));
        }
        Ok(Node {
            kind: Kind::Alias { target },
            tag: 0,
            anchor: 0,
            start: pos(place.start),
            end: pos(trim_end(self.src.as_bytes(), place.start, place.end)),
            line: pos(place.line),
            col: pos(place.col),
            depth: pos(self.stack.len()),
            style: ScalarStyle::Plain,
            flow: false,
        })
    }

    fn scalar(
        &mut self,
        value: Cow<'_, str>,
        style: ScalarStyle,
        anchor: usize,
        tag: Option<&Tag>,
        place: Place,
    ) -> Result<Node<'a>, ParseError> {
        let (src, bytes) = (self.src, self.src.as_bytes());
        let Place { start, end, .. } = place;
        // A one-line plain scalar without properties is its own source text. When the
        // parser's position disagrees, every offset after it is suspect: refuse rather than
        // splice at the wrong bytes (saphyr-parser miscounts U+2028 inside a `%` directive
        // line).
        let text_at = match style {
            _ if tag.is_some() || anchor != 0 => None,
            ScalarStyle::Plain => Some(start),
            ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => Some(start + 1),
            _ => None,
        };
        let verbatim = text_at.and_then(|at| src.get(at..at + value.len()));
        // The parser allocates every scalar; a borrow of the source instead lets that memory
        // go at once, so a large file's values do not stay allocated twice.
        let (value, is_verbatim): (Cow<'a, str>, bool) = match verbatim {
            Some(text) if text == value.as_ref() => (Cow::Borrowed(text), true),
            _ => (Cow::Owned(value.into_owned()), false),
        };
        if !is_verbatim
            && style == ScalarStyle::Plain
            && text_at.is_some()
            // Folding turns a multi-line plain scalar's line breaks into spaces, or into `\n`
            // where a blank line separates its lines.
            && !value.contains([' ', '\n'])
        {
            return Err(err(
                place.line_col(),
                "the parser's position does not match the text (a line separator U+2028/U+2029 in a directive?)",
            ));
        }
        let (start, end) = match style {
            ScalarStyle::Literal | ScalarStyle::Folded => {
                block_scalar_range(bytes, self.last_end, start, end)
            }
            ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => {
                (start, quoted_end(bytes, start, end))
            }
            // An empty plain scalar (`KEY:` with nothing after it) has no text, but saphyr's
            // span for it can run over the rest of the line: a flow mapping's `}` and a
            // trailing comment included (an entry was once inserted inside the comment).
            ScalarStyle::Plain if value.is_empty() && tag.is_none() && anchor == 0 => {
                (start, start)
            }
            _ => (start, trim_end(bytes, start, end)),
        };
        Ok(Node {
            kind: Kind::Scalar { value },
            tag: self.tag_id(tag),
            anchor: pos(anchor),
            start: pos(start),
            end: pos(end),
            line: pos(place.line),
            col: pos(place.col),
            depth: pos(self.stack.len()),
            style,
            flow: false,
        })
    }

    /// A mapping or sequence (`kind`, its children still empty) as it opens.
    fn collection_start(
        &mut self,
        kind: Kind<'a>,
        anchor: usize,
        tag: Option<&Tag>,
        place: Place,
    ) -> Node<'a> {
        let open = match kind {
            Kind::Map { .. } => b'{',
            _ => b'[',
        };
        let flow_at = flow_open(self.src.as_bytes(), place.start, place.end, open);
        Node {
            kind,
            tag: self.tag_id(tag),
            anchor: pos(anchor),
            // Block collections: `start` is the first child's start, set when it closes.
            start: pos(flow_at.unwrap_or(place.start)),
            end: pos(place.end),
            line: pos(place.line),
            col: pos(place.col),
            depth: pos(self.stack.len()),
            style: ScalarStyle::Plain,
            flow: flow_at.is_some(),
        }
    }

    /// Closes the innermost collection (`close` is its flow closing bracket): its range and
    /// its children.
    fn collection_end(&mut self, close: u8, place: Place) -> Result<(), ParseError> {
        let frame = self
            .stack
            .pop()
            .ok_or_else(|| err(place.line_col(), "unbalanced collection end"))?;
        if let Some(key) = frame.pending_key {
            // A key without a value cannot happen in a complete mapping.
            return Err(err(place.line_col(), format!("dangling key at node {key}")));
        }
        let id = frame.node;
        let is_map = matches!(self.nodes[id].kind, Kind::Map { .. });
        let (first_child, last_child) = if is_map {
            let open = &self.open_pairs[frame.mark..];
            (
                open.first().map(|&(key, _)| key),
                open.last().map(|&(_, value)| value),
            )
        } else {
            let open = &self.open_items[frame.mark..];
            (open.first().copied(), open.last().copied())
        };
        let nodes = &mut self.nodes;
        if nodes[id].flow {
            let from = last_child.map_or(nodes[id].start() + 1, |child| nodes[child].end());
            let from = from.min(place.start).max(nodes[id].start());
            nodes[id].end = pos(flow_close(self.src.as_bytes(), from, close).unwrap_or(place.end));
        } else {
            if nodes[id].anchor == 0
                && !nodes[id].has_tag()
                && let Some(first) = first_child
            {
                nodes[id].start = nodes[first].start;
            }
            nodes[id].end = last_child.map_or(nodes[id].start, |child| nodes[child].end);
        }
        if is_map {
            check_duplicates(nodes, &self.open_pairs[frame.mark..])?;
            let closed = close_children(&mut self.open_pairs, &mut self.pairs, frame.mark);
            if let Kind::Map { entries } = &mut self.nodes[id].kind {
                *entries = closed;
            }
        } else {
            let closed = close_children(&mut self.open_items, &mut self.items, frame.mark);
            if let Kind::Seq { items } = &mut self.nodes[id].kind {
                *items = closed;
            }
        }
        self.last_end = place.end;
        Ok(())
    }

    /// Adds `node` to the open collection (or makes it the root), and opens it when it is a
    /// collection.
    fn add(&mut self, node: Node<'a>, place: Place) -> Result<(), ParseError> {
        let anchor = node.anchor();
        let is_collection = matches!(node.kind, Kind::Map { .. } | Kind::Seq { .. });
        self.last_end = if is_collection { place.end } else { node.end() };
        let id = self.nodes.len();
        self.nodes.push(node);
        if anchor > 0 {
            if self.anchors.len() <= anchor {
                self.anchors.resize(anchor + 1, None);
            }
            self.anchors[anchor] = Some(id);
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(id);
                }
            }
            Some(frame) => match &self.nodes[frame.node].kind {
                Kind::Map { .. } => match frame.pending_key.take() {
                    None => frame.pending_key = Some(id),
                    Some(key) => self.open_pairs.push((key, id)),
                },
                Kind::Seq { .. } => self.open_items.push(id),
                _ => {}
            },
        }
        if !is_collection {
            return Ok(());
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(err(
                place.line_col(),
                format!("nesting deeper than {MAX_DEPTH} levels is not supported"),
            ));
        }
        let mark = match self.nodes[id].kind {
            Kind::Map { .. } => self.open_pairs.len(),
            _ => self.open_items.len(),
        };
        self.stack.push(Frame {
            node: id,
            pending_key: None,
            mark,
        });
        Ok(())
    }

    fn finish(self) -> Tree<'a> {
        let bytes = self.src.as_bytes();
        let eol = match self.src.find('\n') {
            Some(at) if at > 0 && bytes[at - 1] == b'\r' => "\r\n",
            _ => "\n",
        };
        Tree {
            src: self.src,
            nodes: self.nodes,
            tags: self.tags,
            pairs: self.pairs,
            items: self.items,
            root: self.root,
            has_alias: self.has_alias,
            second_document: self.second_document,
            eol,
            relaxed: self.map.is_some(),
        }
    }
}

/// Skip spaces, tabs, line breaks and `#` comments.
pub(crate) fn skip_trivia(bytes: &[u8], mut at: usize) -> usize {
    while at < bytes.len() {
        match bytes[at] {
            b' ' | b'\t' | b'\r' | b'\n' => at += 1,
            b'#' if at == 0 || matches!(bytes[at - 1], b' ' | b'\t' | b'\r' | b'\n') => {
                while at < bytes.len() && bytes[at] != b'\n' {
                    at += 1;
                }
            }
            _ => break,
        }
    }
    at
}

fn trim_end(bytes: &[u8], start: usize, mut end: usize) -> usize {
    while end > start && matches!(bytes[end - 1], b' ' | b'\t' | b'\r' | b'\n') {
        end -= 1;
    }
    end
}

/// End of a quoted scalar: just past its closing quote. The parser's end can run on over
/// blanks and a trailing comment, so scan the quotes ourselves.
fn quoted_end(bytes: &[u8], start: usize, end: usize) -> usize {
    let Some(open) = bytes[start..]
        .iter()
        .position(|&byte| byte == b'"' || byte == b'\'')
        .map(|offset| start + offset)
    else {
        return trim_end(bytes, start, end);
    };
    let quote = bytes[open];
    let mut at = open + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' if quote == b'"' => at += 2,
            b'\'' if quote == b'\'' && bytes.get(at + 1) == Some(&b'\'') => at += 2,
            byte if byte == quote => return at + 1,
            _ => at += 1,
        }
    }
    trim_end(bytes, start, end)
}

/// Position of a flow collection's `{`/`[` in a collection-start span: after the node's
/// properties (tag, anchor) and any blanks or comments between them, never inside a comment
/// (`&a # {` before a block mapping is not a flow mapping).
pub(crate) fn flow_open(bytes: &[u8], start: usize, end: usize, open: u8) -> Option<usize> {
    let mut at = start;
    loop {
        at = skip_trivia(bytes, at);
        match bytes.get(at) {
            Some(_) if at >= end => return None,
            Some(&byte) if byte == open => return Some(at),
            Some(b'!' | b'&') => {
                while at < end && !matches!(bytes[at], b' ' | b'\t' | b'\r' | b'\n') {
                    at += 1;
                }
            }
            _ => return None,
        }
    }
}

/// Find the closing bracket of a flow collection scanning from `from` over blanks, commas and
/// comments (the parser's end span can be a `,` or include a trailing comment).
fn flow_close(bytes: &[u8], from: usize, close: u8) -> Option<usize> {
    let mut at = from;
    loop {
        at = skip_trivia(bytes, at);
        match bytes.get(at) {
            Some(&byte) if byte == close => return Some(at + 1),
            Some(b',') => at += 1,
            _ => return None,
        }
    }
}

/// A block scalar's header position and content end. The parser's span starts at the first
/// content character and ends at the next token, so the header is found by scanning forward
/// from the previous event, and the end is the last non-blank content line (or, with `+`
/// chomping, the last line break inside the span, so trailing blank lines stay with the value).
fn block_scalar_range(bytes: &[u8], last_end: usize, start: usize, end: usize) -> (usize, usize) {
    let Some(header) = block_scalar_header(bytes, last_end, start) else {
        return (start, trim_end(bytes, start, end));
    };
    let mut at = header + 1;
    let mut keep = false;
    while at < bytes.len() && (bytes[at].is_ascii_digit() || bytes[at] == b'+' || bytes[at] == b'-')
    {
        keep |= bytes[at] == b'+';
        at += 1;
    }
    let header_end = at;
    // Content lines live in [start, end); the last line there may be the next token's
    // indentation.
    let mut content_end = header_end;
    let mut line_start = start;
    // `start` is the first content char; back up to its line start so indentation counts.
    while line_start > header_end && !matches!(bytes[line_start - 1], b'\n' | b'\r') {
        line_start -= 1;
    }
    let mut line = line_start;
    while line < end {
        // The line's break: `\n`, `\r\n` or a lone `\r`.
        let line_break = bytes[line..end]
            .iter()
            .position(|&byte| byte == b'\n' || byte == b'\r')
            .map(|offset| line + offset);
        let text_end = line_break.unwrap_or(end);
        let blank = bytes[line..text_end]
            .iter()
            .all(|&byte| byte == b' ' || byte == b'\t');
        if !blank {
            content_end = text_end;
        } else if keep && let Some(at) = line_break {
            content_end = line_break_end(bytes, at) - 1;
        }
        match line_break {
            Some(at) => line = line_break_end(bytes, at),
            None => break,
        }
    }
    if keep
        && end == bytes.len()
        && content_end < end
        && !bytes[content_end..end]
            .iter()
            .any(|&byte| byte == b'\n' || byte == b'\r')
    {
        // keep-chomped scalar at EOF without a final line break: everything is content.
        content_end = trim_end(bytes, content_end, end).max(content_end);
    }
    (header, content_end.max(header_end))
}

/// The block scalar's `|`/`>` between the previous event and the content, not in a comment
/// or a tag/anchor token.
fn block_scalar_header(bytes: &[u8], last_end: usize, start: usize) -> Option<usize> {
    let mut at = last_end.min(start);
    while at < start {
        match bytes[at] {
            b'|' | b'>' => return Some(at),
            // A comment runs to the line break: `\n`, `\r\n` or a lone `\r`.
            b'#' if at == 0 || matches!(bytes[at - 1], b' ' | b'\t' | b'\n' | b'\r') => {
                while at < start && !matches!(bytes[at], b'\n' | b'\r') {
                    at += 1;
                }
            }
            b'!' | b'&' => {
                while at < start && !matches!(bytes[at], b' ' | b'\t' | b'\n' | b'\r') {
                    at += 1;
                }
            }
            _ => at += 1,
        }
    }
    None
}

/// Just past the line break that starts at `at` (`\r\n` is one break).
fn line_break_end(bytes: &[u8], at: usize) -> usize {
    if bytes[at] == b'\r' && bytes.get(at + 1) == Some(&b'\n') {
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
    let keys = entries.iter().filter_map(|&(key, _)| {
        let node = &nodes[key];
        match node.scalar() {
            Some("<<") if !node.has_tag() => None,
            Some(text) => Some((text, key)),
            None => None,
        }
    });
    if entries.len() <= 16 {
        // Pairwise, without allocating: most mappings have a handful of keys.
        for (index, (text, key)) in keys.clone().enumerate() {
            if keys.clone().take(index).any(|(earlier, _)| earlier == text) {
                return Err(duplicate(&nodes[key], text));
            }
        }
    } else {
        let mut seen = rustc_hash::FxHashSet::default();
        for (text, key) in keys {
            if !seen.insert(text) {
                return Err(duplicate(&nodes[key], text));
            }
        }
    }
    Ok(())
}

fn duplicate(node: &Node<'_>, key: &str) -> ParseError {
    // The whole key: the render masks any secret in the message before shortening it, so a
    // cut here could leave part of one unmasked.
    ParseError {
        line: node.line(),
        col: node.col(),
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
        && !entries.iter().any(|&(key, _)| tree.is_merge_key(key))
    {
        // Common case: no merge keys, and duplicates were already rejected by the parser.
        out.extend(
            entries
                .iter()
                .map(|&(key, value)| (key_repr(tree, key), key, value)),
        );
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
        for &(key_node, value) in tree.pairs(*entries) {
            if tree.is_merge_key(key_node) {
                continue;
            }
            let key = key_repr(tree, key_node);
            if seen.insert(key.clone()) {
                out.push((key, key_node, value));
            }
        }
        for source in tree.merge_sources(map) {
            collect_entries(tree, source, out, seen, visited, depth + 1);
        }
    }
}

/// Scalar keys compare by value; anything else by its source text (rare, never edited).
pub(crate) fn key_repr<'t>(tree: &'t Tree<'_>, key: NodeId) -> Cow<'t, str> {
    let node = tree.node(key);
    match node.scalar() {
        Some(value) => Cow::Borrowed(value),
        None => Cow::Owned(format!("\u{0}{}", &tree.src[node.start()..node.end()])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text<'a>(tree: &'a Tree<'_>, id: NodeId) -> &'a str {
        &tree.src[tree.nodes[id].start()..tree.nodes[id].end()]
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
            let index = ByteIndex::new(src);
            let mut cursor = 0;
            let mut expected: Vec<usize> = src.char_indices().map(|(byte, _)| byte).collect();
            expected.push(src.len());
            for (char_index, &byte) in expected.iter().enumerate() {
                assert_eq!(
                    index.byte(&mut cursor, char_index),
                    byte,
                    "{src:?} char {char_index}"
                );
            }
            // Backwards and jumping around, as hostile input can make the parser report.
            for (char_index, &byte) in expected.iter().enumerate().rev().step_by(3) {
                assert_eq!(
                    index.byte(&mut cursor, char_index),
                    byte,
                    "{src:?} char {char_index} backwards"
                );
                assert_eq!(index.byte(&mut cursor, 0), 0);
            }
            assert_eq!(
                index.byte(&mut cursor, expected.len() + 5),
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
        let tree = Tree::parse(src).ok().expect("parses");
        let root = tree.root.expect("root");
        let (_, anchored) = tree.explicit(root, "a").expect("a");
        let (_, flow_map) = tree.explicit(anchored, "e").expect("e");
        assert_eq!(text(&tree, flow_map), "{ A: 1, B: \"two\" ,}");
        let (_, tagged) = tree.explicit(anchored, "x").expect("x");
        assert_eq!(text(&tree, tagged), "!Ref Foo");
        let (_, block) = tree.explicit(anchored, "m").expect("m");
        assert_eq!(text(&tree, block), "|+\n    hi\n");
        let (_, nested) = tree.explicit(anchored, "n").expect("n");
        assert_eq!(text(&tree, nested), "[1, [2]]");
        let (_, quoted) = tree.explicit(root, "ü").expect("ü");
        assert_eq!(text(&tree, quoted), "\"é\"");
        assert_eq!(
            &src[tree.nodes[anchored].start()..tree.nodes[anchored].end()],
            &src[3..src.len() - 10]
        );
    }

    #[test]
    fn block_scalar_end_excludes_trailing_comment() {
        let src = "a:\n  - b\n  - c: |\n      x\n    # c\nd: 1\n";
        let tree = Tree::parse(src).ok().expect("parses");
        let block = tree
            .nodes
            .iter()
            .position(|node| node.scalar() == Some("x\n"))
            .expect("block");
        assert_eq!(text(&tree, block), "|\n      x");
    }

    /// js-yaml (Serverless v3) only warns about these; saphyr-parser alone rejects them.
    #[test]
    fn under_indented_flow_and_quoted_continuations_parse_with_exact_spans() {
        let src = "custom:\n  join:\n    Fn::Join: [\"\", [\n      \"a\"\n    ]]\n  policy: '{\n    \"a\": 1\n  }'\n  dq: \"x\n y\"\n  m: {a: 1,\n  b: é\n  }\nz: [\n\"c\"\n]\n";
        let tree = Tree::parse(src).ok().expect("parses as js-yaml does");
        let root = tree.root.expect("root");
        let (_, custom) = tree.explicit(root, "custom").expect("custom");
        let (_, join) = tree.explicit(custom, "join").expect("join");
        let (_, fn_join) = tree.explicit(join, "Fn::Join").expect("Fn::Join");
        assert_eq!(text(&tree, fn_join), "[\"\", [\n      \"a\"\n    ]]");
        let (_, policy) = tree.explicit(custom, "policy").expect("policy");
        assert_eq!(text(&tree, policy), "'{\n    \"a\": 1\n  }'");
        assert_eq!(tree.node(policy).scalar(), Some("{ \"a\": 1 }"));
        let (_, double_quoted) = tree.explicit(custom, "dq").expect("dq");
        assert_eq!(tree.node(double_quoted).scalar(), Some("x y"));
        let (_, flow_map) = tree.explicit(custom, "m").expect("m");
        assert_eq!(text(&tree, flow_map), "{a: 1,\n  b: é\n  }");
        let (key_b, value_b) = tree.explicit(flow_map, "b").expect("b");
        assert_eq!(text(&tree, value_b), "é");
        // Positions are the original file's: line and column of `b` on its (unpadded) line.
        assert_eq!((tree.node(key_b).line(), tree.node(key_b).col()), (12, 2));
        let (_, list) = tree.explicit(root, "z").expect("z");
        assert_eq!(text(&tree, list), "[\n\"c\"\n]");
        if let Kind::Seq { items, .. } = &tree.node(list).kind {
            let items = tree.list(*items);
            assert_eq!(text(&tree, items[0]), "\"c\"");
            assert_eq!(
                (tree.node(items[0]).line(), tree.node(items[0]).col()),
                (15, 0)
            );
        } else {
            panic!("z is a sequence");
        }
    }

    #[test]
    fn what_js_yaml_rejects_stays_an_error_at_its_own_position() {
        // A document marker inside a flow collection ends the document for js-yaml too.
        let error = Tree::parse("a: [\n---\n]\n").err().expect("error");
        assert_eq!(error.line, 2);
        // Quotes and brackets inside a block scalar are text, not the start of a construct.
        let tree = Tree::parse("a: |\n  it's [\nb: [\nc]\n")
            .ok()
            .expect("parses");
        let (_, block) = tree.explicit(tree.root.expect("root"), "a").expect("a");
        assert_eq!(tree.node(block).scalar(), Some("it's [\n"));
        // An unclosed quote stays an error, reported where the parse really fails.
        assert!(Tree::parse("a:\n  b: 'x\n y\n").is_err());
    }

    #[test]
    fn duplicate_keys_are_errors() {
        assert!(Tree::parse("a: 1\nb: 2\na: 3\n").is_err());
        assert!(Tree::parse("<<: {a: 1}\n<<: {b: 1}\n").is_ok());
    }
}
