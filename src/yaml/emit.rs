//! [`Document`]s → text, byte-identical to what sops writes with go-yaml v3.
//!
//! Two stages mirror sops: the tree becomes go-yaml events the way sops' YAML store builds
//! `yaml.Node`s (`appendTreeBranch`, `appendSequence`, `Node.Encode` per scalar), and a port of
//! the block-style subset of go-yaml's emitter (`emitterc.go`) writes them. Porting the state
//! machine rather than writing a pretty-printer keeps go-yaml's quirks: the `- - x` and
//! `- k: v` indentation, where head and foot comments land, and the blank line go-yaml leaves
//! after a foot comment when the next line has the same indentation.

use super::scalar;
use super::value::{Document, MapItem, SeqItem, Value};

#[derive(Clone, Copy, PartialEq, Debug)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

enum Kind<'v> {
    DocStart,
    DocEnd,
    MapStart,
    MapEnd,
    SeqStart,
    SeqEnd,
    Scalar {
        value: std::borrow::Cow<'v, str>,
        style: Style,
        /// `!!merge` for the string `<<` (what go-yaml's re-parse of `Node.Encode` tags it).
        merge_tag: bool,
    },
}

struct Ev<'v> {
    kind: Kind<'v>,
    head: String,
    foot: String,
}

impl<'v> Ev<'v> {
    fn new(kind: Kind<'v>) -> Self {
        Ev {
            kind,
            head: String::new(),
            foot: String::new(),
        }
    }
}

pub(crate) fn emit(docs: &[Document], indent: usize) -> String {
    let mut events = Vec::new();
    for doc in docs {
        events.push(Ev::new(Kind::DocStart));
        gen_map(&doc.items, &mut events);
        events.push(Ev::new(Kind::DocEnd));
    }
    let mut e = Emitter::new(&events, indent);
    e.run();
    e.out
}

/// sops' comment join: each line gets its `#` back.
fn join_comments(comments: &[&str]) -> String {
    let mut s = String::new();
    for (i, c) in comments.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        s.push('#');
        s.push_str(c);
    }
    s
}

/// Appends `comments` in front of an existing head comment (`addCommentsHead`).
fn prepend_head(ev: &mut Ev<'_>, comments: &[&str]) {
    if comments.is_empty() {
        return;
    }
    let c = join_comments(comments);
    ev.head = if ev.head.is_empty() {
        c
    } else {
        format!("{c}\n{}", ev.head)
    };
}

fn append_foot(ev: &mut Ev<'_>, comments: &[&str]) {
    if comments.is_empty() {
        return;
    }
    let c = join_comments(comments);
    if ev.foot.is_empty() {
        ev.foot = c;
    } else {
        ev.foot.push('\n');
        ev.foot.push_str(&c);
    }
}

/// Emits a value; returns (index of its first event, index of the event carrying its foot).
fn gen_value<'v>(v: &'v Value, out: &mut Vec<Ev<'v>>) -> (usize, usize) {
    let start = out.len();
    match v {
        Value::Map(items) => gen_map(items, out),
        Value::Seq(items) => gen_seq(items, out),
        scalar => out.push(scalar_event(scalar)),
    }
    (start, out.len() - 1)
}

/// `appendTreeBranch`: comments before the first entry are the mapping's head comment, others
/// the next key's head comment, trailing ones the last value's foot comment.
fn gen_map<'v>(items: &'v [MapItem], out: &mut Vec<Ev<'v>>) {
    let start = out.len();
    out.push(Ev::new(Kind::MapStart));
    let mut comments: Vec<&str> = Vec::new();
    let mut beginning = true;
    let mut last_foot = None;
    for item in items {
        match item {
            MapItem::Comment(c) => comments.push(c),
            MapItem::Entry(k, v) => {
                if beginning {
                    prepend_head(&mut out[start], &comments);
                    comments.clear();
                    beginning = false;
                }
                let mut key = string_event(k);
                prepend_head(&mut key, &comments);
                comments.clear();
                out.push(key);
                last_foot = Some(gen_value(v, out).1);
            }
        }
    }
    match last_foot {
        None => prepend_head(&mut out[start], &comments),
        Some(i) => append_foot(&mut out[i], &comments),
    }
    out.push(Ev::new(Kind::MapEnd));
}

/// `appendSequence`, the same rules for list items.
fn gen_seq<'v>(items: &'v [SeqItem], out: &mut Vec<Ev<'v>>) {
    let start = out.len();
    out.push(Ev::new(Kind::SeqStart));
    let mut comments: Vec<&str> = Vec::new();
    let mut beginning = true;
    let mut last_foot = None;
    for item in items {
        match item {
            SeqItem::Comment(c) => comments.push(c),
            SeqItem::Value(v) => {
                if beginning {
                    prepend_head(&mut out[start], &comments);
                    comments.clear();
                    beginning = false;
                }
                let (first, foot) = gen_value(v, out);
                prepend_head(&mut out[first], &comments);
                comments.clear();
                last_foot = Some(foot);
            }
        }
    }
    match last_foot {
        None => prepend_head(&mut out[start], &comments),
        Some(i) => append_foot(&mut out[i], &comments),
    }
    out.push(Ev::new(Kind::SeqEnd));
}

fn scalar_event(v: &Value) -> Ev<'_> {
    let plain = |s: String| {
        Ev::new(Kind::Scalar {
            value: s.into(),
            style: Style::Plain,
            merge_tag: false,
        })
    };
    match v {
        Value::Null => plain("null".into()),
        Value::Bool(b) => plain(b.to_string()),
        Value::Int(i) => plain(i.to_string()),
        Value::Float(f) => plain(scalar::float_to_yaml(*f)),
        Value::Time(t) => Ev::new(Kind::Scalar {
            value: t.as_str().into(),
            style: Style::Plain,
            merge_tag: false,
        }),
        Value::Str(s) => string_event(s),
        // Collections never reach here (gen_value dispatches them).
        Value::Map(_) | Value::Seq(_) => plain("null".into()),
    }
}

fn string_event(s: &str) -> Ev<'_> {
    Ev::new(Kind::Scalar {
        value: s.into(),
        style: string_style(s),
        merge_tag: s == "<<",
    })
}

/// The style `Node.Encode(string)` settles on: go-yaml's `stringv` request, then the emitter's
/// `select_scalar_style` outside any key or flow context (the re-parsed node keeps it).
fn string_style(s: &str) -> Style {
    let a = analyze(s);
    let requested = if s.contains('\n') {
        Style::Literal
    } else if scalar::can_use_plain(s) {
        Style::Plain
    } else {
        Style::Double
    };
    // Deviation from go-yaml, for round-trip safety: it writes U+2028/U+2029 raw inside
    // single quotes (a line break for YAML 1.1 readers, not for YAML 1.2 ones), so such
    // strings would not read back identically. Double quotes escape them (`\L`, `\P`).
    if s.contains(['\u{2028}', '\u{2029}']) {
        return Style::Double;
    }
    select_style(requested, &a, false, false)
}

fn select_style(mut style: Style, a: &Analysis, flow: bool, simple_key: bool) -> Style {
    if simple_key && a.multiline {
        style = Style::Double;
    }
    if style == Style::Plain {
        if (flow && !a.flow_plain_allowed) || (!flow && !a.block_plain_allowed) {
            style = Style::Single;
        }
        if a.empty && (flow || simple_key) {
            style = Style::Single;
        }
    }
    if style == Style::Single && !a.single_quoted_allowed {
        style = Style::Double;
    }
    if style == Style::Literal && (!a.block_allowed || flow || simple_key) {
        style = Style::Double;
    }
    style
}

/// `yaml_emitter_analyze_scalar`.
#[derive(Default)]
struct Analysis {
    empty: bool,
    multiline: bool,
    flow_plain_allowed: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// libyaml `is_printable` (note: it excludes every character outside the BMP).
fn is_printable(c: char) -> bool {
    matches!(c,
        '\n' | '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
        && c != '\u{feff}'
}

fn analyze(value: &str) -> Analysis {
    if value.is_empty() {
        return Analysis {
            empty: true,
            multiline: false,
            flow_plain_allowed: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    allowed_styles(&scan_facts(value))
}

/// What libyaml's `yaml_emitter_analyze_scalar` learns about a non-empty scalar.
#[derive(Default)]
struct Facts {
    block_indicators: bool,
    flow_indicators: bool,
    line_breaks: bool,
    special: bool,
    tabs: bool,
    leading_space: bool,
    leading_break: bool,
    trailing_space: bool,
    trailing_break: bool,
    break_space: bool,
    space_break: bool,
}

fn scan_facts(value: &str) -> Facts {
    let mut f = Facts::default();
    if value.starts_with("---") || value.starts_with("...") {
        f.block_indicators = true;
        f.flow_indicators = true;
    }
    let chars: Vec<char> = value.chars().collect();
    let (mut prev_space, mut prev_break) = (false, false);
    let mut preceded_by_ws = true;
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_ws = chars.get(i + 1).is_none_or(|&n| is_blank(n));
        let (flow, block) = indicator(c, i == 0, preceded_by_ws, followed_by_ws);
        f.flow_indicators |= flow;
        f.block_indicators |= block;
        if c == '\t' {
            f.tabs = true;
        } else if !is_printable(c) {
            f.special = true;
        }
        let last = i + 1 == chars.len();
        if c == ' ' {
            f.leading_space |= i == 0;
            f.trailing_space |= last;
            f.break_space |= prev_break;
            (prev_space, prev_break) = (true, false);
        } else if is_break(c) {
            f.line_breaks = true;
            f.leading_break |= i == 0;
            f.trailing_break |= last;
            f.space_break |= prev_space;
            (prev_space, prev_break) = (false, true);
        } else {
            (prev_space, prev_break) = (false, false);
        }
        preceded_by_ws = is_blank(c) || is_break(c);
    }
    f
}

/// Whether `c` is a flow and/or a block indicator where it stands.
fn indicator(c: char, first: bool, preceded_by_ws: bool, followed_by_ws: bool) -> (bool, bool) {
    if first {
        return match c {
            '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%'
            | '@' | '`' => (true, true),
            '?' | ':' => (true, followed_by_ws),
            '-' if followed_by_ws => (true, true),
            _ => (false, false),
        };
    }
    match c {
        ',' | '?' | '[' | ']' | '{' | '}' => (true, false),
        ':' => (true, followed_by_ws),
        '#' if preceded_by_ws => (true, true),
        _ => (false, false),
    }
}

fn allowed_styles(f: &Facts) -> Analysis {
    let mut a = Analysis {
        empty: false,
        multiline: f.line_breaks,
        flow_plain_allowed: true,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if f.leading_space || f.leading_break || f.trailing_space || f.trailing_break {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
    }
    if f.trailing_space {
        a.block_allowed = false;
    }
    if f.break_space {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if f.space_break || f.tabs || f.special {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if f.space_break || f.special {
        a.block_allowed = false;
    }
    if f.line_breaks {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
    }
    if f.flow_indicators {
        a.flow_plain_allowed = false;
    }
    if f.block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum State {
    FirstDocStart,
    DocStart,
    DocContent,
    DocEnd,
    FlowSeqFirst,
    FlowMapFirst,
    BlockSeqFirst,
    BlockSeqItem,
    BlockMapFirstKey,
    BlockMapKey,
    BlockMapSimpleValue,
    BlockMapValue,
}

/// The subset of `yaml_emitter_t` this port needs (block styles, empty flow collections,
/// head and foot comments, no anchors, `!!merge` as the only tag).
struct Emitter<'e, 'v> {
    events: &'e [Ev<'v>],
    head: usize,
    out: String,
    best_indent: i64,
    state: State,
    states: Vec<State>,
    indent: i64,
    indents: Vec<i64>,
    flow_level: usize,
    simple_key_context: bool,
    column: i64,
    whitespace: bool,
    indention: bool,
    foot_indent: i64,
    head_comment: String,
    foot_comment: String,
}

impl<'e, 'v> Emitter<'e, 'v> {
    fn new(events: &'e [Ev<'v>], indent: usize) -> Self {
        // go-yaml clamps the indent to 2..=9 (`yaml_emitter_emit_stream_start`).
        let best_indent = if (2..=9).contains(&indent) {
            indent as i64
        } else {
            2
        };
        Emitter {
            events,
            head: 0,
            out: String::new(),
            best_indent,
            state: State::FirstDocStart,
            states: Vec::new(),
            indent: -1,
            indents: Vec::new(),
            flow_level: 0,
            simple_key_context: false,
            column: 0,
            whitespace: true,
            indention: true,
            foot_indent: -1,
            head_comment: String::new(),
            foot_comment: String::new(),
        }
    }

    fn run(&mut self) {
        while self.head < self.events.len() {
            let ev = &self.events[self.head];
            // yaml_emitter_analyze_event: comments replace pending ones only when non-empty.
            if !ev.head.is_empty() {
                self.head_comment.clone_from(&ev.head);
            }
            if !ev.foot.is_empty() {
                self.foot_comment.clone_from(&ev.foot);
            }
            self.step(ev);
            self.head += 1;
        }
    }

    fn pop_state(&mut self) {
        if let Some(s) = self.states.pop() {
            self.state = s;
        }
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(-1);
    }

    fn step(&mut self, ev: &Ev<'v>) {
        match self.state {
            State::FirstDocStart | State::DocStart => {
                if matches!(ev.kind, Kind::DocStart) {
                    if self.state == State::DocStart {
                        // Only the first document may be implicit.
                        self.write_indent();
                        self.write_indicator("---", true, false, false);
                        self.write_indent();
                    }
                    self.state = State::DocContent;
                }
            }
            State::DocContent => {
                self.states.push(State::DocEnd);
                self.process_head_comment();
                self.emit_node(ev, false);
                self.process_foot_comment();
            }
            State::DocEnd => {
                // [Go] Force document foot separation.
                self.foot_indent = 0;
                self.process_foot_comment();
                self.foot_indent = -1;
                self.write_indent();
                self.state = State::DocStart;
            }
            State::FlowSeqFirst | State::FlowMapFirst => {
                // Only empty collections are written in flow style; the event is their end.
                let map = self.state == State::FlowMapFirst;
                self.write_indicator(if map { "{" } else { "[" }, true, true, false);
                self.increase_indent(true, false);
                self.flow_level += 1;
                if map {
                    self.process_head_comment();
                }
                self.flow_level -= 1;
                self.pop_indent();
                if !map && self.column == 0 {
                    self.write_indent();
                }
                self.write_indicator(if map { "}" } else { "]" }, false, false, false);
                self.process_foot_comment();
                self.pop_state();
            }
            State::BlockSeqFirst | State::BlockSeqItem => {
                if self.state == State::BlockSeqFirst {
                    self.increase_indent(false, false);
                }
                if matches!(ev.kind, Kind::SeqEnd) {
                    self.pop_indent();
                    self.pop_state();
                    return;
                }
                self.process_head_comment();
                self.write_indent();
                self.write_indicator("-", true, false, true);
                self.states.push(State::BlockSeqItem);
                self.emit_node(ev, false);
                self.process_foot_comment();
            }
            State::BlockMapFirstKey | State::BlockMapKey => {
                if self.state == State::BlockMapFirstKey {
                    self.increase_indent(false, false);
                }
                self.process_head_comment();
                if matches!(ev.kind, Kind::MapEnd) {
                    self.pop_indent();
                    self.pop_state();
                    return;
                }
                self.write_indent();
                if self.check_simple_key() {
                    self.states.push(State::BlockMapSimpleValue);
                    self.emit_node(ev, true);
                } else {
                    self.write_indicator("?", true, false, true);
                    self.states.push(State::BlockMapValue);
                    self.emit_node(ev, false);
                }
            }
            State::BlockMapSimpleValue | State::BlockMapValue => {
                if self.state == State::BlockMapSimpleValue {
                    self.write_indicator(":", false, false, false);
                } else {
                    self.write_indent();
                    self.write_indicator(":", true, false, true);
                }
                self.states.push(State::BlockMapKey);
                self.emit_node(ev, false);
                self.process_foot_comment();
            }
        }
    }

    fn next_is(&self, f: impl Fn(&Kind<'_>) -> bool) -> bool {
        self.events.get(self.head + 1).is_some_and(|e| f(&e.kind))
    }

    fn check_simple_key(&self) -> bool {
        match &self.events[self.head].kind {
            Kind::Scalar {
                value, merge_tag, ..
            } => {
                let a = analyze(value);
                let tag_len = if *merge_tag { "!!merge".len() } else { 0 };
                !a.multiline && value.len() + tag_len <= 128
            }
            Kind::MapStart => self.next_is(|k| matches!(k, Kind::MapEnd)),
            Kind::SeqStart => self.next_is(|k| matches!(k, Kind::SeqEnd)),
            _ => false,
        }
    }

    fn emit_node(&mut self, ev: &Ev<'v>, simple_key: bool) {
        self.simple_key_context = simple_key;
        match &ev.kind {
            Kind::Scalar {
                value,
                style,
                merge_tag,
            } => {
                let a = analyze(value);
                let style = select_style(*style, &a, self.flow_level > 0, simple_key);
                if *merge_tag {
                    // yaml_emitter_write_tag_handle + tag content.
                    if !self.whitespace {
                        self.put(' ');
                    }
                    self.out.push_str("!!merge");
                    self.column += 7;
                    self.whitespace = false;
                    self.indention = false;
                }
                self.increase_indent(true, false);
                match style {
                    Style::Plain => self.write_plain(value),
                    Style::Single => self.write_single(value),
                    Style::Double => self.write_double(value),
                    Style::Literal => self.write_literal(value),
                }
                self.pop_indent();
                self.pop_state();
            }
            Kind::SeqStart => {
                self.state = if self.flow_level > 0 || self.next_is(|k| matches!(k, Kind::SeqEnd)) {
                    State::FlowSeqFirst
                } else {
                    State::BlockSeqFirst
                };
            }
            Kind::MapStart => {
                self.state = if self.flow_level > 0 || self.next_is(|k| matches!(k, Kind::MapEnd)) {
                    State::FlowMapFirst
                } else {
                    State::BlockMapFirstKey
                };
            }
            // The generator never emits other events in node position.
            _ => self.pop_state(),
        }
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { self.best_indent } else { 0 };
        } else if !indentless {
            if self.states.last() == Some(&State::BlockSeqItem) {
                // The first indent inside a sequence just skips the "- " indicator.
                self.indent += 2;
            } else {
                self.indent =
                    self.best_indent * ((self.indent + self.best_indent) / self.best_indent);
            }
        }
    }

    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
        self.indention = true;
    }

    fn write_indent(&mut self) {
        let indent = self.indent.max(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        if self.foot_indent == indent {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.foot_indent = -1;
    }

    fn write_indicator(&mut self, ind: &str, need_ws: bool, is_ws: bool, is_indention: bool) {
        if need_ws && !self.whitespace {
            self.put(' ');
        }
        for c in ind.chars() {
            self.put(c);
        }
        self.whitespace = is_ws;
        self.indention = self.indention && is_indention;
    }

    fn write_comment(&mut self, comment: &str) {
        let mut breaks = false;
        let mut pound = false;
        for c in comment.chars() {
            if is_break(c) {
                self.write_break(c);
                breaks = true;
                pound = false;
            } else {
                if breaks {
                    self.write_indent();
                }
                if !pound {
                    if c != '#' {
                        self.put('#');
                        self.put(' ');
                    }
                    pound = true;
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
        if !breaks {
            self.put_break();
        }
        self.whitespace = true;
    }

    fn process_head_comment(&mut self) {
        if self.head_comment.is_empty() {
            return;
        }
        self.write_indent();
        let c = std::mem::take(&mut self.head_comment);
        self.write_comment(&c);
    }

    fn process_foot_comment(&mut self) {
        if self.foot_comment.is_empty() {
            return;
        }
        self.write_indent();
        let c = std::mem::take(&mut self.foot_comment);
        self.write_comment(&c);
        self.foot_indent = self.indent.max(0);
    }

    /// `write_break`: `\n` is a line break; other break characters are copied and reset the
    /// column like one.
    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
            self.indention = true;
        }
    }

    fn write_plain(&mut self, value: &str) {
        if !value.is_empty() && !self.whitespace {
            self.put(' ');
        }
        // Plain style is never chosen for text with line breaks, and go-yaml v3 sets no line
        // width, so the characters go out as they are.
        for c in value.chars() {
            self.put(c);
        }
        if !value.is_empty() {
            self.whitespace = false;
        }
        self.indention = false;
    }

    fn write_single(&mut self, value: &str) {
        self.write_indicator("'", true, false, false);
        let mut breaks = false;
        for c in value.chars() {
            if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double(&mut self, value: &str) {
        self.write_indicator("\"", true, false, false);
        for c in value.chars() {
            if !is_printable(c) || c == '\u{feff}' || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                let esc = match c {
                    '\0' => Some('0'),
                    '\u{7}' => Some('a'),
                    '\u{8}' => Some('b'),
                    '\t' => Some('t'),
                    '\n' => Some('n'),
                    '\u{b}' => Some('v'),
                    '\u{c}' => Some('f'),
                    '\r' => Some('r'),
                    '\u{1b}' => Some('e'),
                    '"' => Some('"'),
                    '\\' => Some('\\'),
                    '\u{85}' => Some('N'),
                    '\u{a0}' => Some('_'),
                    '\u{2028}' => Some('L'),
                    '\u{2029}' => Some('P'),
                    _ => None,
                };
                match esc {
                    Some(e) => self.put(e),
                    None => {
                        let v = u32::from(c);
                        let hex = if v <= 0xff {
                            format!("x{v:02X}")
                        } else if v <= 0xffff {
                            format!("u{v:04X}")
                        } else {
                            format!("U{v:08X}")
                        };
                        for h in hex.chars() {
                            self.put(h);
                        }
                    }
                }
            } else {
                self.put(c);
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_literal(&mut self, value: &str) {
        self.write_indicator("|", true, false, false);
        // Block scalar hints: indentation indicator when the text starts with a space or a
        // break; chomping `-` without a final break, `+` with more than one.
        if value.starts_with(' ') || value.starts_with(is_break) {
            // Deviation from go-yaml, which always writes `best_indent` here. The indicator is
            // relative to the parent node's indentation, so inside a sequence (content 2 past
            // the dash) go-yaml's `|4` is unreadable. The actual offset equals go-yaml's digit
            // in every case where go-yaml's output is valid.
            let parent = self.indents.last().copied().unwrap_or(0).max(0);
            let rel = (self.indent - parent).clamp(1, 9) as u32;
            let hint = char::from_digit(rel, 10).unwrap_or('2');
            self.write_indicator(&hint.to_string(), false, false, false);
        }
        let mut rev = value.chars().rev();
        let chomp = match (rev.next(), rev.next()) {
            (None, _) => Some('-'),
            (Some(last), _) if !is_break(last) => Some('-'),
            (Some(_), None) => Some('+'),
            (Some(_), Some(prev)) if is_break(prev) => Some('+'),
            _ => None,
        };
        if let Some(c) = chomp {
            self.write_indicator(&c.to_string(), false, false, false);
        }
        self.put_break();
        self.whitespace = true;
        let mut breaks = true;
        for c in value.chars() {
            if is_break(c) {
                self.write_break(c);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::value::Text;

    fn doc(items: Vec<MapItem>) -> Vec<Document> {
        vec![Document { items }]
    }
    fn s(v: &str) -> Value {
        Value::Str(Text::new(v.to_owned()))
    }

    #[test]
    fn quoting() {
        let cases = [
            ("yes", "\"yes\""),
            ("42", "\"42\""),
            ("a: b", "'a: b'"),
            (" lead", "' lead'"),
            ("#x", "'#x'"),
            ("x #y", "'x #y'"),
            ("x#y", "x#y"),
            ("*a", "'*a'"),
            ("&a", "'&a'"),
            ("!a", "'!a'"),
            ("%a", "'%a'"),
            ("@a", "'@a'"),
            ("`a", "'`a'"),
            ("-", "'-'"),
            ("- a", "'- a'"),
            ("-a", "-a"),
            ("? a", "'? a'"),
            (":", "':'"),
            ("null", "\"null\""),
            ("~", "\"~\""),
            ("", "\"\""),
            ("héllo ✓", "héllo ✓"),
            ("\t", "\"\\t\""),
            ("a\u{1}b", "\"a\\x01b\""),
            ("a\u{2028}b", "\"a\\Lb\""),
            ("😀", "\"\\U0001F600\""),
            ("it's", "it's"),
            ("'q'", "'''q'''"),
            ("trail ", "'trail '"),
            ("---x", "'---x'"),
            ("<<", "!!merge <<"),
            ("1:30", "\"1:30\""),
        ];
        for (input, want) in cases {
            let out = emit(&doc(vec![MapItem::Entry("k".into(), s(input))]), 4);
            assert_eq!(out, format!("k: {want}\n"), "{input:?}");
        }
    }

    #[test]
    fn literal_blocks() {
        let out = emit(&doc(vec![MapItem::Entry("k".into(), s("a\nb\n"))]), 4);
        assert_eq!(out, "k: |\n    a\n    b\n");
        let out = emit(&doc(vec![MapItem::Entry("k".into(), s("a\nb"))]), 4);
        assert_eq!(out, "k: |-\n    a\n    b\n");
        let out = emit(&doc(vec![MapItem::Entry("k".into(), s("a\n\n"))]), 4);
        assert_eq!(out, "k: |+\n    a\n\n");
        let out = emit(&doc(vec![MapItem::Entry("k".into(), s(" a\nb\n"))]), 4);
        assert_eq!(out, "k: |4\n     a\n    b\n");
        // Trailing space on a line forbids block style.
        let out = emit(&doc(vec![MapItem::Entry("k".into(), s("a \nb"))]), 4);
        assert_eq!(out, "k: \"a \\nb\"\n");
    }

    #[test]
    fn structure() {
        let seq = Value::Seq(vec![
            SeqItem::Value(s("a")),
            SeqItem::Value(Value::Seq(vec![
                SeqItem::Value(s("x")),
                SeqItem::Value(s("y")),
            ])),
            SeqItem::Value(Value::Map(vec![
                MapItem::Entry("k".into(), s("v")),
                MapItem::Entry("e".into(), Value::Map(vec![])),
                MapItem::Entry("l".into(), Value::Seq(vec![])),
            ])),
        ]);
        let out = emit(
            &[
                Document {
                    items: vec![MapItem::Entry("L".into(), seq)],
                },
                Document::default(),
            ],
            4,
        );
        assert_eq!(
            out,
            "L:\n    - a\n    - - x\n      - \"y\"\n    - k: v\n      e: {}\n      l: []\n---\n{}\n"
        );
    }
}
