//! Source text → [`Document`]s, with go-yaml v3 typing and sops' comment placement.
//!
//! saphyr-parser gives events with spans but drops comments, so comments are recovered from the
//! source text outside scalar spans and attached by position:
//! - a comment on the same line after a node (an "inline" comment) goes *before* that entry,
//!   as sops ≤ 3.12 re-emits line comments as head comments;
//! - own-line comments before an entry go before it (head comments);
//! - own-line comments after the last entry of a block collection stay in that collection
//!   (foot comments) when they are indented at least as deep as its entries and deeper than
//!   whatever follows; otherwise they belong to the next entry of an outer collection.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

use super::error::{Error, ErrorKind};
use super::scalar::{self, Resolved};
use super::value::{Document, MapItem, SeqItem, Text, Value};

/// Nesting deeper than this is refused: it only occurs in hostile input, and the recursive
/// builder, emitter and `Drop` would otherwise risk the stack.
const MAX_DEPTH: usize = 256;
/// Upper bound on nodes after alias expansion ("billion laughs" guard).
const MAX_NODES: usize = 1_000_000;

pub(crate) fn parse(src: &str) -> Result<Vec<Document>, Error> {
    let mut events = Vec::new();
    for item in Parser::new_from_str(src) {
        match item {
            Ok(ev) => events.push(ev),
            Err(e) => {
                let m = e.marker();
                return Err(Error::new(
                    m.line(),
                    m.col() + 1,
                    ErrorKind::Syntax(e.info().to_owned()),
                ));
            }
        }
    }
    let mut b = Builder::new(src, events);
    b.documents()
}

/// A comment recovered from the source.
struct Comment {
    /// Character index of the `#`.
    start: usize,
    line: usize,
    col: usize,
    /// Only whitespace precedes it on its line.
    own_line: bool,
    text: Text,
}

/// What a collection being built needs to know to place inline comments.
struct Slot {
    /// Index in the item list just before the last entry's head comments end, i.e. where an
    /// inline comment of that entry goes.
    insert_at: usize,
    /// Line on which the last entry ended.
    end_line: usize,
}

struct Builder<'a> {
    src: &'a str,
    /// Byte offset of every character (plus one past the end): saphyr markers count characters.
    /// `None` for ASCII text (sops files nearly always are), where they are the same.
    char_to_byte: Option<Vec<usize>>,
    events: Vec<(Event<'a>, Span)>,
    pos: usize,
    comments: Vec<Comment>,
    next_comment: usize,
    pending: Vec<Comment>,
    anchors: HashMap<usize, (Value, usize)>,
    nodes: usize,
    depth: usize,
}

impl<'a> Builder<'a> {
    fn new(src: &'a str, events: Vec<(Event<'a>, Span)>) -> Self {
        let char_to_byte = (!src.is_ascii()).then(|| {
            let mut t: Vec<usize> = src.char_indices().map(|(b, _)| b).collect();
            t.push(src.len());
            t
        });
        let mut b = Builder {
            src,
            char_to_byte,
            events,
            pos: 0,
            comments: Vec::new(),
            next_comment: 0,
            pending: Vec::new(),
            anchors: HashMap::new(),
            nodes: 0,
            depth: 0,
        };
        b.comments = b.scan_comments();
        b
    }

    fn byte(&self, char_idx: usize) -> usize {
        match &self.char_to_byte {
            None => char_idx.min(self.src.len()),
            Some(t) => t.get(char_idx).copied().unwrap_or(self.src.len()),
        }
    }

    /// Finds every `#` comment outside scalar (and alias) spans.
    fn scan_comments(&self) -> Vec<Comment> {
        let covered: Vec<(usize, usize)> = self
            .events
            .iter()
            .filter(|(e, _)| matches!(e, Event::Scalar(..) | Event::Alias(_)))
            .map(|(_, s)| (s.start.index(), s.end.index()))
            .filter(|(a, b)| b > a)
            .collect();
        let mut out = Vec::new();
        let mut cov = 0;
        let (mut line, mut col) = (1, 0);
        let mut prev_ws = true; // at line start
        let mut own_line = true;
        let mut chars = self.src.chars().enumerate().peekable();
        while let Some((idx, c)) = chars.next() {
            while cov < covered.len() && covered[cov].1 <= idx {
                cov += 1;
            }
            let inside = cov < covered.len() && covered[cov].0 <= idx;
            if c == '\n' {
                line += 1;
                col = 0;
                prev_ws = true;
                own_line = true;
                continue;
            }
            if !inside && c == '#' && prev_ws {
                let start_byte = self.byte(idx);
                let rest = &self.src[start_byte..];
                let end = rest.find(['\n', '\r']).unwrap_or(rest.len());
                let body = &rest[1..end];
                out.push(Comment {
                    start: idx,
                    line,
                    col,
                    own_line,
                    text: Text::new(body.to_owned()),
                });
                // Skip to the end of the line.
                let n = body.chars().count();
                for _ in 0..n {
                    chars.next();
                }
                col += n + 1;
                prev_ws = false;
                own_line = false;
                continue;
            }
            prev_ws = c == ' ' || c == '\t' || c == '\r' || c == '\u{feff}';
            if !prev_ws {
                own_line = false;
            }
            col += 1;
        }
        out
    }

    /// Moves every comment that starts before `char_idx` into `pending`.
    fn advance_to(&mut self, char_idx: usize) {
        while let Some(c) = self.comments.get(self.next_comment) {
            if c.start >= char_idx {
                break;
            }
            self.next_comment += 1;
            let c = std::mem::replace(
                &mut self.comments[self.next_comment - 1],
                Comment {
                    start: 0,
                    line: 0,
                    col: 0,
                    own_line: true,
                    text: Text::default(),
                },
            );
            self.pending.push(c);
        }
    }

    fn peek(&self) -> Option<&(Event<'a>, Span)> {
        self.events.get(self.pos)
    }

    fn peek_start(&self) -> usize {
        self.peek().map_or(usize::MAX, |(_, s)| s.start.index())
    }

    fn next(&mut self) -> Result<(Event<'a>, Span), Error> {
        let ev = self
            .events
            .get_mut(self.pos)
            .map(|(e, s)| (std::mem::replace(e, Event::Nothing), *s));
        self.pos += 1;
        ev.ok_or_else(|| Error::new(0, 0, ErrorKind::Syntax("unexpected end of input".into())))
    }

    fn documents(&mut self) -> Result<Vec<Document>, Error> {
        let mut docs: Vec<Document> = Vec::new();
        while let Some((ev, _)) = self.peek() {
            match ev {
                Event::StreamStart | Event::Nothing => {
                    self.pos += 1;
                }
                Event::StreamEnd => {
                    self.pos += 1;
                    self.advance_to(usize::MAX);
                    if let Some(last) = docs.last_mut() {
                        let mut slot = Slot {
                            insert_at: last.items.len(),
                            end_line: 0,
                        };
                        self.take_all_into_map(&mut last.items, &mut slot);
                    }
                    break;
                }
                Event::DocumentStart(_) => {
                    self.pos += 1;
                    self.anchors.clear();
                    let items = self.document_root()?;
                    docs.push(Document { items });
                }
                _ => {
                    let (_, span) = self.next()?;
                    return Err(self.err_at(span, ErrorKind::Syntax("unexpected event".into())));
                }
            }
        }
        Ok(docs)
    }

    /// After `DocumentStart`: the root node up to and including `DocumentEnd`.
    fn document_root(&mut self) -> Result<Vec<MapItem>, Error> {
        let (ev, span) = self.next()?;
        let mut items = match ev {
            Event::MappingStart(anchor, _) => {
                let v = self.mapping(span, true)?;
                self.register_anchor(anchor, &v);
                match v {
                    Value::Map(items) => items,
                    _ => Vec::new(),
                }
            }
            Event::Scalar(text, style, _, tag) => {
                // An empty document (`---` alone) or an explicit null is an empty mapping.
                let v = self.scalar_value(&text, style, tag.as_deref(), span)?;
                if v != Value::Null {
                    return Err(self.err_at(span, ErrorKind::RootNotMapping));
                }
                Vec::new()
            }
            _ => return Err(self.err_at(span, ErrorKind::RootNotMapping)),
        };
        let end = self.peek_start();
        self.advance_to(end);
        let mut slot = Slot {
            insert_at: items.len(),
            end_line: 0,
        };
        self.take_all_into_map(&mut items, &mut slot);
        match self.next()? {
            (Event::DocumentEnd, _) => Ok(items),
            (_, span) => Err(self.err_at(span, ErrorKind::Syntax("expected document end".into()))),
        }
    }

    fn err_at(&self, span: Span, kind: ErrorKind) -> Error {
        Error::new(span.start.line(), span.start.col() + 1, kind)
    }

    fn is_flow(&self, span: Span) -> bool {
        matches!(
            self.src.as_bytes().get(self.byte(span.start.index())),
            Some(b'[' | b'{')
        )
    }

    /// Column of a block sequence's `-`: saphyr puts an indentless sequence's start marker on
    /// its first item, after the dash.
    fn seq_indent(&self, span: Span) -> usize {
        let bytes = self.src.as_bytes();
        let mut b = self.byte(span.start.index());
        if bytes.get(b) == Some(&b'-') {
            return span.start.col();
        }
        while b > 0 && matches!(bytes[b - 1], b' ' | b'\t' | b'\n' | b'\r') {
            b -= 1;
        }
        if b > 0 && bytes[b - 1] == b'-' {
            let dash = b - 1;
            let line_start = self.src[..dash].rfind('\n').map_or(0, |i| i + 1);
            return self.src[line_start..dash].chars().count();
        }
        span.start.col()
    }

    fn enter(&mut self, span: Span) -> Result<(), Error> {
        self.depth += 1;
        self.nodes += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err_at(span, ErrorKind::TooDeep));
        }
        if self.nodes > MAX_NODES {
            return Err(self.err_at(span, ErrorKind::TooLarge));
        }
        Ok(())
    }

    fn register_anchor(&mut self, anchor: usize, v: &Value) {
        if anchor > 0 {
            self.anchors.insert(anchor, (v.clone(), count_nodes(v)));
        }
    }

    /// Places the pending inline comments (same line as the last entry) before that entry.
    fn place_inline_map(&mut self, items: &mut Vec<MapItem>, slot: &mut Slot) {
        while self
            .pending
            .first()
            .is_some_and(|c| !c.own_line && c.line == slot.end_line)
        {
            let c = self.pending.remove(0);
            items.insert(slot.insert_at, MapItem::Comment(c.text));
            slot.insert_at += 1;
        }
    }

    fn place_inline_seq(&mut self, items: &mut Vec<SeqItem>, slot: &mut Slot) {
        while self
            .pending
            .first()
            .is_some_and(|c| !c.own_line && c.line == slot.end_line)
        {
            let c = self.pending.remove(0);
            items.insert(slot.insert_at, SeqItem::Comment(c.text));
            slot.insert_at += 1;
        }
    }

    fn take_all_into_map(&mut self, items: &mut Vec<MapItem>, slot: &mut Slot) {
        self.place_inline_map(items, slot);
        items.extend(self.pending.drain(..).map(|c| MapItem::Comment(c.text)));
    }

    /// How many leading pending comments are foot comments of a block collection whose
    /// entries sit at column `indent`, when the next token is at column `next_col`.
    fn foot_len(&self, indent: usize, next_col: Option<usize>) -> usize {
        self.pending
            .iter()
            .take_while(|c| c.col >= indent && next_col.is_none_or(|n| c.col > n))
            .count()
    }

    /// The column of the token that ends a block collection, `None` at the end of a document.
    fn end_col(&self) -> Option<usize> {
        match self.events.get(self.pos + 1) {
            Some((Event::DocumentEnd | Event::StreamEnd, _)) | None => None,
            _ => self.peek().map(|(_, s)| s.start.col()),
        }
    }

    fn mapping(&mut self, span: Span, root: bool) -> Result<Value, Error> {
        self.enter(span)?;
        let flow = self.is_flow(span);
        let indent = span.start.col();
        let mut items: Vec<MapItem> = Vec::new();
        let mut slot = Slot {
            insert_at: 0,
            end_line: span.start.line(),
        };
        let mut seen: HashMap<String, usize> = HashMap::new();
        loop {
            let next = self.peek_start();
            self.advance_to(next);
            self.place_inline_map(&mut items, &mut slot);
            if matches!(self.peek(), Some((Event::MappingEnd, _))) {
                let n = if flow || root {
                    self.pending.len()
                } else {
                    self.foot_len(indent, self.end_col())
                };
                items.extend(self.pending.drain(..n).map(|c| MapItem::Comment(c.text)));
                let (_, end) = self.next()?;
                if flow {
                    // saphyr's flow end span may run past the `}`; the indicator is one char.
                    self.advance_to(end.start.index() + 1);
                    slot.end_line = end.start.line();
                    self.place_inline_map(&mut items, &mut slot);
                }
                break;
            }
            // Head comments of this entry.
            items.extend(self.pending.drain(..).map(|c| MapItem::Comment(c.text)));
            let (kev, kspan) = self.next()?;
            let key = self.key(kev, kspan)?;
            if let Some(&first) = seen.get(&key) {
                return Err(self.err_at(
                    kspan,
                    ErrorKind::DuplicateKey {
                        key,
                        first_line: first,
                    },
                ));
            }
            seen.insert(key.clone(), kspan.start.line());
            // Comments between the key and its value: those on the key's line go before the
            // entry; for a scalar value, all of them do (go-yaml makes them the value's head).
            let value_start = self.peek_start();
            self.advance_to(value_start);
            let value_is_scalar =
                matches!(self.peek(), Some((Event::Scalar(..) | Event::Alias(_), _)));
            let key_line = kspan.end.line();
            let n = if value_is_scalar {
                self.pending.len()
            } else {
                self.pending
                    .iter()
                    .take_while(|c| !c.own_line && c.line == key_line)
                    .count()
            };
            items.extend(self.pending.drain(..n).map(|c| MapItem::Comment(c.text)));
            let insert_at = items.len();
            let (value, end_line) = self.node()?;
            items.push(MapItem::Entry(key, value));
            slot = Slot {
                insert_at,
                end_line,
            };
        }
        self.depth -= 1;
        Ok(Value::Map(items))
    }

    fn sequence(&mut self, span: Span) -> Result<Value, Error> {
        self.enter(span)?;
        let flow = self.is_flow(span);
        let indent = if flow { 0 } else { self.seq_indent(span) };
        let mut items: Vec<SeqItem> = Vec::new();
        let mut slot = Slot {
            insert_at: 0,
            end_line: span.start.line(),
        };
        loop {
            let next = self.peek_start();
            self.advance_to(next);
            self.place_inline_seq(&mut items, &mut slot);
            if matches!(self.peek(), Some((Event::SequenceEnd, _))) {
                let n = if flow {
                    self.pending.len()
                } else {
                    self.foot_len(indent, self.end_col())
                };
                items.extend(self.pending.drain(..n).map(|c| SeqItem::Comment(c.text)));
                let (_, end) = self.next()?;
                if flow {
                    self.advance_to(end.start.index() + 1);
                    slot.end_line = end.start.line();
                    self.place_inline_seq(&mut items, &mut slot);
                }
                break;
            }
            items.extend(self.pending.drain(..).map(|c| SeqItem::Comment(c.text)));
            let insert_at = items.len();
            let (value, end_line) = self.node()?;
            items.push(SeqItem::Value(value));
            slot = Slot {
                insert_at,
                end_line,
            };
        }
        self.depth -= 1;
        Ok(Value::Seq(items))
    }

    /// Any node; returns it with the line on which it ended (for inline comments).
    fn node(&mut self) -> Result<(Value, usize), Error> {
        let (ev, span) = self.next()?;
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                self.enter(span)?;
                self.depth -= 1;
                let v = self.scalar_value(&text, style, tag.as_deref(), span)?;
                self.register_anchor(anchor, &v);
                Ok((v, self.last_line_of(span)))
            }
            Event::Alias(id) => {
                let Some((v, n)) = self.anchors.get(&id) else {
                    return Err(self.err_at(span, ErrorKind::UnknownAlias));
                };
                let (v, n) = (v.clone(), *n);
                self.nodes += n;
                if self.nodes > MAX_NODES {
                    return Err(self.err_at(span, ErrorKind::TooLarge));
                }
                Ok((v, span.end.line()))
            }
            Event::MappingStart(anchor, _) => {
                let v = self.mapping(span, false)?;
                self.register_anchor(anchor, &v);
                Ok((v, self.prev_end_line()))
            }
            Event::SequenceStart(anchor, _) => {
                let v = self.sequence(span)?;
                self.register_anchor(anchor, &v);
                Ok((v, self.prev_end_line()))
            }
            _ => Err(self.err_at(span, ErrorKind::Syntax("unexpected event".into()))),
        }
    }

    /// The line of the last character of a scalar span (its end marker may sit on the next
    /// line for block scalars, which cannot carry an inline comment anyway).
    fn last_line_of(&self, span: Span) -> usize {
        if span.end.index() > span.start.index() && span.end.col() == 0 {
            span.end.line().saturating_sub(1).max(span.start.line())
        } else {
            span.end.line()
        }
    }

    /// Line of the end event just consumed (a flow collection's closing bracket).
    fn prev_end_line(&self) -> usize {
        self.events
            .get(self.pos.wrapping_sub(1))
            .map_or(0, |(_, s)| s.start.line())
    }

    fn key(&mut self, ev: Event<'a>, span: Span) -> Result<String, Error> {
        let v = match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let v = self.scalar_value(&text, style, tag.as_deref(), span)?;
                self.register_anchor(anchor, &v);
                v
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some((v, _)) => v.clone(),
                None => return Err(self.err_at(span, ErrorKind::UnknownAlias)),
            },
            _ => return Err(self.err_at(span, ErrorKind::NonStringKey)),
        };
        match v {
            Value::Str(s) => Ok(s.to_string()),
            _ => Err(self.err_at(span, ErrorKind::NonStringKey)),
        }
    }

    /// go-yaml v3 `decoder.scalar` into `interface{}`, as sops' store calls it.
    fn scalar_value(
        &self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&Tag>,
        span: Span,
    ) -> Result<Value, Error> {
        let tag = tag.map(|t| scalar::short_tag(&format!("{}{}", t.handle, t.suffix)));
        let plain = matches!(style, ScalarStyle::Plain);
        let s = text;
        let str_value = || Value::Str(Text::new(s.to_owned()));
        match tag.as_deref() {
            // No tag, or the non-specific `!`: quoted scalars are strings, plain ones resolve.
            None | Some("!") => {
                if plain {
                    self.resolved(scalar::resolve("", s), s, span)
                } else {
                    Ok(str_value())
                }
            }
            Some(scalar::STR) => Ok(str_value()),
            Some(scalar::BINARY) => {
                let bytes = scalar::decode_binary(s)
                    .ok_or_else(|| self.err_at(span, ErrorKind::InvalidBinary))?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| self.err_at(span, ErrorKind::InvalidBinary))?;
                Ok(Value::Str(Text::new(text)))
            }
            Some(
                t @ (scalar::INT | scalar::FLOAT | scalar::BOOL | scalar::NULL | scalar::TIMESTAMP),
            ) => self.resolved(scalar::resolve(t, s), s, span),
            // Unknown and custom tags (`!Ref`, `!!merge`): go-yaml leaves the text as a string.
            Some(_) => Ok(str_value()),
        }
    }

    fn resolved(
        &self,
        r: Result<Resolved, scalar::TagMismatch>,
        s: &str,
        span: Span,
    ) -> Result<Value, Error> {
        let r = r.map_err(|_| self.err_at(span, ErrorKind::TagMismatch))?;
        r.into_value(s)
            .ok_or_else(|| self.err_at(span, ErrorKind::UnsupportedInteger))
    }
}

fn count_nodes(v: &Value) -> usize {
    match v {
        Value::Map(items) => {
            1 + items
                .iter()
                .map(|i| match i {
                    MapItem::Entry(_, v) => count_nodes(v),
                    MapItem::Comment(_) => 1,
                })
                .sum::<usize>()
        }
        Value::Seq(items) => {
            1 + items
                .iter()
                .map(|i| match i {
                    SeqItem::Value(v) => count_nodes(v),
                    SeqItem::Comment(_) => 1,
                })
                .sum::<usize>()
        }
        _ => 1,
    }
}
