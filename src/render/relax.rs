//! Reading what Serverless reads: under-indented lines inside flow collections and quoted
//! scalars.
//!
//! YAML wants every continuation line of a multi-line flow collection (`[`…`]`, `{`…`}`) or
//! quoted scalar to be indented more than the block around it, and saphyr-parser enforces that
//! ("invalid indentation"). js-yaml, which Serverless v3 loads `serverless.yml` with, only
//! warns and reads the file, so real files close a `Fn::Join: ["", [` with `]]` at the key's
//! column, or continue a `'{ ... }'` policy string at the block's indentation.
//!
//! Only when a parse fails, [`relax`] scans the text once (linear, a small lexer that knows
//! comments, quotes, flow brackets, plain scalars and block scalars) and makes a copy *for the
//! parser only*: each line that starts inside such a construct and is indented less than the
//! construct's opening bracket or quote gets spaces inserted at its start. Leading white space
//! there is separation (flow) or folded away (quoted), so the copy means the same document.
//! [`PosMap`] maps every parser position in the copy back to the original text, so the tree's
//! offsets, lines and columns are the original's and splices land on the original bytes.
//!
//! The lexer is a heuristic; the span tree checks its work: every inserted run must fall inside
//! a flow collection or quoted scalar of the resulting tree, or the original error stands.
//! A `---`/`...` line inside a construct is never padded (js-yaml ends the document there too).

use std::borrow::Cow;

/// `src` as a YAML parser should read it to see what Serverless sees: `src` itself when
/// saphyr-parser reads it, else the copy `relax` makes (when it makes one). For checking
/// render's output with a parser of one's own (the fuzz target does).
pub fn parser_text(src: &str) -> Cow<'_, str> {
    let mut parser = saphyr_parser::Parser::new_from_str(src);
    while let Some(ev) = parser.next_event() {
        if ev.is_err() {
            return relax(src).map_or(Cow::Borrowed(src), |r| Cow::Owned(r.text));
        }
    }
    Cow::Borrowed(src)
}

/// Spaces inserted at the start of one line of the parser's copy.
struct Pad {
    /// 1-based line number (the same in both texts: only spaces are inserted).
    line: usize,
    /// Byte offset of the line start in the original.
    orig_byte: usize,
    /// Character index of the line start in the original, and in the copy.
    orig_char: usize,
    copy_char: usize,
    /// Number of spaces inserted.
    n: usize,
}

/// Copy positions → original positions.
pub(crate) struct PosMap {
    /// By line (and so by position in either text).
    pads: Vec<Pad>,
}

impl PosMap {
    /// A character index in the copy → the character index in the original. A position inside
    /// inserted spaces maps to the start of their line.
    pub fn char_index(&self, copy: usize) -> usize {
        let k = self.pads.partition_point(|p| p.copy_char <= copy);
        let Some(p) = k.checked_sub(1).map(|j| &self.pads[j]) else {
            return copy;
        };
        if copy < p.copy_char + p.n {
            p.orig_char
        } else {
            copy - (p.copy_char + p.n - p.orig_char)
        }
    }

    /// A 0-based character column on 1-based `line` of the copy → the original's column.
    pub fn col(&self, line: usize, col: usize) -> usize {
        match self.pads.binary_search_by_key(&line, |p| p.line) {
            Ok(k) => col.saturating_sub(self.pads[k].n),
            Err(_) => col,
        }
    }

    /// Byte offsets (in the original) of the line starts that were padded, in order.
    pub fn padded_lines(&self) -> impl Iterator<Item = usize> + '_ {
        self.pads.iter().map(|p| p.orig_byte)
    }
}

/// The parser's copy of a text and the map back.
pub(crate) struct Relaxed {
    pub text: String,
    pub map: PosMap,
}

/// Counts characters between byte offsets that only move forward (linear over a scan).
struct Chars {
    at: usize,
    count: usize,
}

impl Chars {
    fn upto(&mut self, b: &[u8], i: usize) -> usize {
        if i > self.at {
            self.count += b[self.at..i].iter().filter(|&&c| c & 0xc0 != 0x80).count();
            self.at = i;
        }
        self.count
    }
}

/// What the lexer is inside of at a given point.
struct Lexer {
    flow_depth: usize,
    /// The open quote (`'` or `"`) of a quoted scalar.
    quote: Option<u8>,
    /// Column of the outermost open construct's `[`, `{` or quote.
    open_col: usize,
    /// Inside a block scalar whose header line is indented this much.
    block_scalar: Option<usize>,
}

/// The padded copy of `src`, or `None` when no line needs padding (or the text has a lone
/// `\r` line break, whose line numbering this lexer does not follow).
pub(crate) fn relax(src: &str) -> Option<Relaxed> {
    let b = src.as_bytes();
    if b.iter()
        .enumerate()
        .any(|(i, &c)| c == b'\r' && b.get(i + 1) != Some(&b'\n'))
    {
        return None;
    }
    let mut lx = Lexer {
        flow_depth: 0,
        quote: None,
        open_col: 0,
        block_scalar: None,
    };
    let mut chars = Chars { at: 0, count: 0 };
    let mut pads: Vec<Pad> = Vec::new();
    let mut inserted = 0usize;
    let mut i = if src.starts_with('\u{feff}') { 3 } else { 0 };
    let mut line = 1usize;
    while i < b.len() {
        let line_start = i;
        let indent = b[i..].iter().take_while(|&&c| c == b' ').count();
        let ws = b[i..]
            .iter()
            .take_while(|&&c| c == b' ' || c == b'\t')
            .count();
        let blank = matches!(b.get(i + ws), None | Some(b'\n' | b'\r'));
        if lx.flow_depth > 0 || lx.quote.is_some() {
            if !blank && ws < lx.open_col && !is_document_marker(&b[i..]) {
                let orig_char = chars.upto(b, line_start);
                let n = lx.open_col - ws;
                pads.push(Pad {
                    line,
                    orig_byte: line_start,
                    orig_char,
                    copy_char: orig_char + inserted,
                    n,
                });
                inserted += n;
            }
        } else if let Some(header_indent) = lx.block_scalar {
            if blank || indent > header_indent {
                i = next_line(b, i);
                line += 1;
                continue;
            }
            lx.block_scalar = None;
        }
        i = lx.scan_line(b, line_start, &mut chars);
        line += 1;
    }
    if pads.is_empty() {
        return None;
    }
    let mut text = String::with_capacity(src.len() + inserted);
    let mut from = 0;
    for p in &pads {
        text.push_str(&src[from..p.orig_byte]);
        text.extend(std::iter::repeat_n(' ', p.n));
        from = p.orig_byte;
    }
    text.push_str(&src[from..]);
    Some(Relaxed {
        text,
        map: PosMap { pads },
    })
}

fn next_line(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |p| i + p + 1)
}

/// `---` or `...` at column 0 followed by a blank or the line end.
fn is_document_marker(line: &[u8]) -> bool {
    (line.starts_with(b"---") || line.starts_with(b"..."))
        && matches!(line.get(3), None | Some(b' ' | b'\t' | b'\r' | b'\n'))
}

fn is_blank(c: Option<&u8>) -> bool {
    matches!(c, None | Some(b' ' | b'\t' | b'\r' | b'\n'))
}

impl Lexer {
    /// Scan one line from `line_start`; returns the start of the next line.
    fn scan_line(&mut self, b: &[u8], line_start: usize, chars: &mut Chars) -> usize {
        let line_base = chars.upto(b, line_start);
        let col = |chars: &mut Chars, i: usize| chars.upto(b, i) - line_base;
        let mut i = line_start;
        // Whether `i` is where a token may start (after blanks or a flow indicator).
        let mut token_start = true;
        while i < b.len() && b[i] != b'\n' {
            let c = b[i];
            if let Some(q) = self.quote {
                match c {
                    b'\'' if q == b'\'' && b.get(i + 1) == Some(&b'\'') => i += 2,
                    // An escaped line break continues the scalar; let the line loop see it.
                    b'\\' if q == b'"' && !matches!(b.get(i + 1), Some(b'\n' | b'\r')) => {
                        i = (i + 2).min(b.len());
                    }
                    _ if c == q => {
                        self.quote = None;
                        token_start = false;
                        i += 1;
                    }
                    _ => i += 1,
                }
                continue;
            }
            let flow = self.flow_depth > 0;
            match c {
                b' ' | b'\t' | b'\r' => {
                    token_start = true;
                    i += 1;
                }
                b'#' if token_start => return next_line(b, i),
                b'\'' | b'"' if token_start => {
                    if !flow {
                        self.open_col = col(chars, i);
                    }
                    self.quote = Some(c);
                    i += 1;
                }
                b'[' | b'{' if token_start || flow => {
                    if !flow {
                        self.open_col = col(chars, i);
                    }
                    self.flow_depth += 1;
                    token_start = true;
                    i += 1;
                }
                b']' | b'}' if flow => {
                    self.flow_depth -= 1;
                    token_start = false;
                    i += 1;
                }
                b',' if flow => {
                    token_start = true;
                    i += 1;
                }
                b'|' | b'>' if token_start && !flow => {
                    self.block_scalar =
                        Some(b[line_start..].iter().take_while(|&&c| c == b' ').count());
                    return next_line(b, i);
                }
                b'-' | b'?' | b':' if is_blank(b.get(i + 1)) => {
                    token_start = true;
                    i += 1;
                }
                // `{"a":"b"}`: in flow, `:` right after a key is an indicator.
                b':' if flow => {
                    token_start = true;
                    i += 1;
                }
                b'!' | b'&' | b'*' if token_start => {
                    while i < b.len() && !is_blank(b.get(i)) && !(flow && is_flow_indicator(b[i])) {
                        i += 1;
                    }
                }
                _ => {
                    i = plain_end(b, i, flow);
                    token_start = false;
                }
            }
        }
        next_line(b, i)
    }
}

fn is_flow_indicator(c: u8) -> bool {
    matches!(c, b',' | b'[' | b']' | b'{' | b'}')
}

/// End of a plain scalar's text on this line: before `: `, ` #`, the line end and, in flow
/// context, a flow indicator or a `:` before one. Brackets and quotes inside are text.
fn plain_end(b: &[u8], mut i: usize, flow: bool) -> usize {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\n' | b'\r' => break,
            b':' if is_blank(b.get(i + 1)) => break,
            b':' if flow && b.get(i + 1).is_some_and(|&c| is_flow_indicator(c)) => break,
            b'#' if matches!(b[i - 1], b' ' | b'\t') => break,
            c if flow && is_flow_indicator(c) => break,
            _ => i += 1,
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(src: &str) -> Option<String> {
        relax(src).map(|r| r.text)
    }

    #[test]
    fn pads_only_under_indented_lines_inside_constructs() {
        assert_eq!(
            copy("a:\n  b: [\n  1,\n 2\n  ]\n").as_deref(),
            Some("a:\n  b: [\n     1,\n     2\n     ]\n")
        );
        assert_eq!(
            copy("k: 'x\ny'\n").as_deref(),
            Some("k: 'x\n   y'\n"),
            "quoted scalar"
        );
        assert_eq!(copy("a: [1,\n     2]\n"), None, "already indented enough");
        assert_eq!(copy("a: |\n  it's [\nb: 1\n"), None, "block scalar text");
        assert_eq!(copy("a: don't [x\nb: 1\n"), None, "plain scalar text");
        assert_eq!(copy("a: x # it's [\nb: 1\n"), None, "comment");
        assert_eq!(
            copy("a: [\n---\n]\n").as_deref(),
            Some("a: [\n---\n   ]\n"),
            "a document marker is left where it is"
        );
        assert_eq!(copy("a: [\r1]\n"), None, "lone CR");
        assert_eq!(copy("a: [\"\\"), None, "escape at the end of the text");
    }

    #[test]
    fn parser_text_is_the_source_unless_saphyr_refuses_it() {
        assert!(matches!(parser_text("a: [1,\n  2]\n"), Cow::Borrowed(_)));
        assert_eq!(parser_text("a:\n  b: [\n  1]\n"), "a:\n  b: [\n     1]\n");
        assert!(
            matches!(parser_text("a: [\n"), Cow::Borrowed(_)),
            "no fix: left as is"
        );
    }

    #[test]
    fn positions_map_back() {
        let src = "a: [\né,\n  x]\n";
        let r = relax(src).expect("padded");
        assert_eq!(r.text, "a: [\n   é,\n   x]\n");
        let map = &r.map;
        for (copy_char, orig_char) in [(0, 0), (5, 5), (7, 5), (8, 5), (9, 6), (11, 8), (14, 10)] {
            assert_eq!(map.char_index(copy_char), orig_char, "{copy_char}");
        }
        assert_eq!(map.col(2, 3), 0);
        assert_eq!(map.col(3, 3), 2);
        assert_eq!(map.col(1, 3), 3);
        assert_eq!(map.padded_lines().collect::<Vec<_>>(), vec![5, 9]);
    }
}
