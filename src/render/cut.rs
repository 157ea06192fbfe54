//! Where a large `serverless.yml` can be cut in two, so that a second parser reads the part
//! after the cut on another core while the first reads the part before it
//! ([`super::events::try_for_each_cut`]).
//!
//! A cut is a block mapping key at the start of a line (`  getUser:` inside `functions:`). A
//! fresh parser given the rest of the text behind a few made-up lines that open block mappings
//! at the same columns (`a:\n  getUser: ...`) is where the first parser would be at that key,
//! as long as nothing before the cut reaches past it: an alias to an earlier anchor, a `%TAG`
//! directive, or a flow collection, quoted scalar or block scalar still open at the cut. The
//! text only proposes the cut; what the two parsers yield decides (events.rs), and any doubt
//! means one parser reads the whole text.

/// Candidate lines tried after the requested offset before giving up.
const TRIES: usize = 64;
/// Lines walked back to find a candidate's enclosing keys, over all the candidates.
const WALK_BACK_LINES: usize = 200_000;

/// A block mapping key that starts a line, and the block mappings around it.
pub(crate) struct Cut {
    /// Byte offset of the key (after its indentation).
    pub at: usize,
    /// The key columns of the enclosing block mappings, outermost (column 0) first, then the
    /// cut key's own.
    pub cols: Vec<usize>,
}

impl Cut {
    /// One `a:` line for each enclosing block mapping, at its column, then the cut key's
    /// indentation: a parser reading this and then the rest of the text sees the cut key where
    /// it is, at the same column.
    pub fn prefix(&self) -> String {
        let (key_col, around) = self.cols.split_last().unwrap_or((&0, &[]));
        let mut prefix = String::new();
        for &col in around {
            prefix.extend(std::iter::repeat_n(' ', col));
            prefix.push_str("a:\n");
        }
        prefix.extend(std::iter::repeat_n(' ', *key_col));
        prefix
    }

    /// How many made-up `a:` lines [`Cut::prefix`] has.
    pub fn around(&self) -> usize {
        self.cols.len().saturating_sub(1)
    }

    /// The cut key's column.
    pub fn col(&self) -> usize {
        self.cols.last().copied().unwrap_or(0)
    }
}

/// The first cut at or after byte `from` of `text`, if one is found within a few lines.
pub(crate) fn find(text: &str, from: usize) -> Option<Cut> {
    let b = text.as_bytes();
    let mut line = next_line(b, from)?;
    let mut budget = WALK_BACK_LINES;
    for _ in 0..TRIES {
        if let Some(cut) = cut_at(b, line, &mut budget) {
            return Some(cut);
        }
        line = next_line(b, line)?;
    }
    None
}

/// Whether the text after `cut` can be read apart from what comes before it: no alias (it may
/// name an earlier anchor), no document marker, no byte order mark; and no directive anywhere
/// (a `%TAG` changes how later tags read). Anything that only looks like one (inside a quoted
/// string) just means no cut.
pub(crate) fn reads_apart(text: &str, cut: &Cut) -> bool {
    let rest = &text[cut.at..];
    // A lone `\r` ends a line too, and a directive may follow the byte order mark.
    let unmarked = text.strip_prefix('\u{feff}').unwrap_or(text);
    let b = unmarked.as_bytes();
    let line_start = |i: usize| i == 0 || matches!(b[i - 1], b'\n' | b'\r');
    let directive = unmarked.match_indices('%').any(|(i, _)| line_start(i));
    let rb = rest.as_bytes();
    let marker = ["---", "..."].iter().any(|m| {
        rest.match_indices(m).any(|(i, _)| {
            i > 0
                && matches!(rb[i - 1], b'\n' | b'\r')
                && rb.get(i + 3).is_none_or(|c| is_blank(*c))
        })
    });
    !directive && !marker && !unmarked.contains('\u{feff}') && !has_alias(rest)
}

/// `*name` where a node can start: after `: `, `- ` or `? ` at a line's start, a flow
/// indicator or only indentation. A plain scalar's `*` (`cron(0 12 * * ? *)`) is not one. A
/// miss costs time, never a wrong result: the second parser then meets an unknown anchor.
fn has_alias(rest: &str) -> bool {
    let b = rest.as_bytes();
    rest.match_indices('*').any(|(i, _)| {
        let name = b
            .get(i + 1)
            .is_some_and(|c| !is_blank(*c) && !matches!(c, b',' | b'[' | b']' | b'{' | b'}'));
        name && node_starts_at(b, i)
    })
}

/// Whether a node may start at `b[i]`, judging by what precedes it on its line.
fn node_starts_at(b: &[u8], mut i: usize) -> bool {
    loop {
        let Some(j) = b[..i].iter().rposition(|&c| c != b' ' && c != b'\t') else {
            return true;
        };
        let spaced = j + 1 < i;
        match b[j] {
            b'\n' | b'\r' | b'[' | b'{' | b',' => return true,
            b':' => return spaced,
            // An entry indicator, or an explicit key, with only indentation before it (a
            // loop, not a call per indicator: `- - - … *x` must not exhaust the stack).
            b'-' | b'?' if spaced => i = j,
            _ => return false,
        }
    }
}

fn is_blank(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// The start of the line after the one holding byte `i`.
fn next_line(b: &[u8], i: usize) -> Option<usize> {
    let nl = b.get(i..)?.iter().position(|&c| c == b'\n')?;
    let start = i + nl + 1;
    (start < b.len()).then_some(start)
}

/// The start of the line before the one starting at `start`.
fn previous_line(b: &[u8], start: usize) -> Option<usize> {
    let end = start.checked_sub(1)?;
    Some(
        b[..end]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |nl| nl + 1),
    )
}

/// The line at `start` as (indentation in spaces, the rest).
fn split_indent(b: &[u8], start: usize) -> (usize, &[u8]) {
    let line = &b[start..];
    let indent = line.iter().take_while(|&&c| c == b' ').count();
    (indent, &line[indent..])
}

/// `rest` starts with a plain key (letters, digits, `_.-/`) and its `:`; the length of both.
fn plain_key(rest: &[u8]) -> Option<usize> {
    if !rest.first()?.is_ascii_alphanumeric() && rest[0] != b'_' {
        return None;
    }
    let len = rest
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'/'))
        .count();
    (rest.get(len) == Some(&b':') && rest.get(len + 1).is_none_or(|c| is_blank(*c)))
        .then_some(len + 1)
}

/// The line is `key:` and nothing more (a comment at most): its value is on the lines below.
fn opens_block(rest: &[u8]) -> bool {
    let Some(len) = plain_key(rest) else {
        return false;
    };
    let mut after = rest[len..].iter().skip_while(|&&c| c == b' ' || c == b'\t');
    after
        .next()
        .is_none_or(|&c| matches!(c, b'\n' | b'\r' | b'#'))
}

/// A cut at the line starting at `start`, if it is a plain key whose enclosing lines are
/// `key:` lines at smaller indentation all the way to column 0.
fn cut_at(b: &[u8], start: usize, budget: &mut usize) -> Option<Cut> {
    let (col, rest) = split_indent(b, start);
    plain_key(rest)?;
    let mut cols = vec![col];
    let mut need = col;
    let mut line = start;
    // The key's mapping must be open before the cut: the key is not its first.
    let mut after_first = col == 0;
    while need > 0 {
        *budget = budget.checked_sub(1)?;
        line = previous_line(b, line)?;
        let (indent, rest) = split_indent(b, line);
        let blank = rest
            .first()
            .is_none_or(|&c| c == b'\n' || c == b'\r' || c == b'#');
        if blank || indent >= need {
            after_first |= !blank;
            continue;
        }
        if !after_first || !opens_block(rest) {
            return None;
        }
        cols.push(indent);
        need = indent;
    }
    cols.reverse();
    Some(Cut {
        at: start + col,
        cols,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "service: s\nprovider:\n  name: aws\nfunctions:\n  one:\n    handler: a\n\n  # two\n  two:\n    handler: b\n    environment:\n      A: 1\n      B: 2\nresources: {}\n";

    #[test]
    fn a_cut_lies_at_a_key_with_its_enclosing_mappings() {
        let cut = find(FILE, FILE.find("A: 1").unwrap()).unwrap();
        assert_eq!(&FILE[cut.at..cut.at + 4], "B: 2");
        assert_eq!(cut.cols, [0, 2, 4, 6]);
        assert_eq!(cut.prefix(), "a:\n  a:\n    a:\n      ");
        assert_eq!(cut.around(), 3);

        // Not the first key of a mapping (it is not open yet before the cut): the next one.
        let cut = find(FILE, FILE.find("one:").unwrap()).unwrap();
        assert_eq!(&FILE[cut.at..cut.at + 4], "two:");
        assert_eq!(cut.cols, [0, 2]);

        let cut = find(FILE, FILE.find("B: 2").unwrap()).unwrap();
        assert_eq!(&FILE[cut.at..], "resources: {}\n");
        assert_eq!((cut.cols.as_slice(), cut.prefix().as_str()), (&[0][..], ""));
    }

    #[test]
    fn no_cut_inside_what_is_not_a_block_mapping() {
        // Inside a block scalar, a sequence item, a flow collection, after a tab.
        for text in [
            "a:\n  s: |\n    x: 1\n    y: 2\n",
            "a:\n  - x: 1\n    y: 2\n",
            "a: [\n  x: 1,\n  y: 2]\n",
            "a:\n\tx: 1\n\ty: 2\n",
            "a: &n\n  x: 1\n  y: 2\n",
        ] {
            assert!(find(text, 4).is_none(), "{text:?}");
        }
    }

    #[test]
    fn the_rest_must_not_depend_on_what_came_before() {
        let cut = |text: &str| find(text, text.find("b:").unwrap() - 1).unwrap();
        for (text, apart) in [
            ("a: 1\nb: 2\nc: x*y\n", true),
            ("a: &x 1\nb: *x\n", false),
            ("a: &x 1\nb: [1, *x]\n", false),
            ("a: 1\nb: 2\n---\nc: 3\n", false),
            ("a: 1\nb: 2\n...\n", false),
            ("a: 1\nb: '---x'\n", true),
            ("%YAML 1.2\n---\na: 1\nb: 2\n", false),
            ("\u{feff}%TAG ! tag:x:\n---\na: 1\nb: 2\n", false),
            ("# c\r%TAG ! tag:x:\r---\na: 1\nb: 2\n", false),
            ("a: 1\nb: 2\r---\r", false),
            ("\u{feff}a: 1\nb: 2\n", true),
            ("a: 50%\nb: 2\n", true),
            ("a: 1\nb: \u{feff}\n", false),
            ("a: 1\nb: cron(0 * * * ? *)\n", true),
            ("a: &x 1\nb:\n  - *x\n", false),
            ("a: &x 1\nb:\n  ? *x\n  : 1\n", false),
            ("a: &x 1\nb: {k: *x}\n", false),
            ("a: &x 1\nb:\n  - - - *x\n", false),
        ] {
            assert_eq!(reads_apart(text, &cut(text)), apart, "{text:?}");
        }
    }
}
