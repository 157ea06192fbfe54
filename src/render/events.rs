//! saphyr-parser's events for a whole text, parsed on a second thread for large texts.
//!
//! A render reads two whole files with saphyr-parser (the input into the span tree, the
//! output for the re-parse check), and each time does its own work per event (building a node;
//! comparing with the tree). Parsing on one core while that work runs on the other takes the
//! work off the critical path: on the 2,000-function benchmark file this is about a fifth of
//! each pass. The consumer sees exactly the events, in order, that it would get from the
//! parser itself: the parser is the same, only the thread differs. Small texts (a typical
//! `serverless.yml`) are parsed inline, where a thread would cost more than it saves.
//!
//! The input's first reading can also be cut in two ([`try_for_each_cut`], [`super::cut`]):
//! one parser reads the part before a block mapping key on this thread while a second one
//! reads the rest on the other core, and the two streams are joined into exactly the events
//! of one parser, or the text is read again whole. The re-parse check never takes this path:
//! it reads the whole output with one parser, so it also checks the tree the cut reading
//! built.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use super::cut::Cut;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, ScanError, Span};

/// What `Parser::next_event` yields.
pub(crate) type ParseResult<'t> = Result<(Event<'t>, Span), ScanError>;

/// Below this many bytes the events are produced inline.
const THREAD_MIN_BYTES: usize = 64 * 1024;
/// Events per hand-over: large enough that the channel costs nothing per event.
const BATCH: usize = 512;
/// Batches in flight: the parser may run this far ahead of the consumer.
const IN_FLIGHT: usize = 4;

/// Whether work on `text` is worth a second thread. The fuzzer's inputs are small, so under
/// `cargo fuzz` texts of odd length take the threaded path: both paths are fuzzed.
pub(crate) fn parallel(text: &str) -> bool {
    if cfg!(fuzzing) {
        text.len() % 2 == 1
    } else {
        text.len() >= THREAD_MIN_BYTES
    }
}

/// `(a(), b())`, with `b` on a second thread when `parallel`. When no thread can be made (a
/// process or container limit), `b` runs here after `a`: never a panic for want of a thread.
pub(crate) fn join<A, B: Send>(
    parallel: bool,
    a: impl FnOnce() -> A,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    let mut b = Some(b);
    let mut beside = None;
    let first = if parallel {
        std::thread::scope(|scope| {
            let thread = std::thread::Builder::new().spawn_scoped(scope, || b.take().map(|b| b()));
            let first = a();
            if let Ok(thread) = thread {
                beside = thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            }
            first
        })
    } else {
        a()
    };
    // Not run beside `a` (not parallel, or no thread): run it now.
    let second = match (beside, b) {
        (Some(second), _) => second,
        (None, Some(b)) => b(),
        // The thread took `b` and returned, so it returned its value.
        (None, None) => unreachable!("the second thread ran without a result"),
    };
    (first, second)
}

/// Calls `each` with `text`'s events as `Parser::next_event` yields them, in order, up to and
/// including the first error, until `each` returns an error (which is returned).
///
/// For a large text the parser runs on this thread and `each` on a second one; the events
/// cross packed, in batches ([`Batch`]), and `each` gets each one rebuilt as the parser made it.
pub(crate) fn try_for_each<'t, E: Send>(
    text: &'t str,
    mut each: impl for<'e> FnMut(&ParseResult<'e>) -> Result<(), E> + Send,
) -> Result<(), E> {
    let mut parser = Parser::new_from_str(text);
    if !parallel(text) {
        return inline(parser, each);
    }
    let threaded = std::thread::scope(|scope| {
        let (full_tx, full_rx) = mpsc::sync_channel::<Batch<'t>>(IN_FLIGHT);
        let (empty_tx, empty_rx) = mpsc::channel::<Batch<'t>>();
        let each = &mut each;
        let consumer = std::thread::Builder::new().spawn_scoped(scope, move || {
            for batch in full_rx {
                batch.try_for_each(&Shift::NONE, &mut *each)?;
                // Back to the parser's thread, which drops the events (the last batches when
                // its receiver goes, after this thread has finished).
                let _ = empty_tx.send(batch);
            }
            Ok(())
        });
        // No thread to be had (a process or container limit): parse here instead.
        let Ok(consumer) = consumer else {
            return None;
        };
        loop {
            let mut batch = match empty_rx.try_recv() {
                Ok(mut done) => {
                    done.clear();
                    done
                }
                Err(_) => Batch {
                    events: Vec::with_capacity(BATCH),
                    ..Batch::default()
                },
            };
            let mut last = false;
            while batch.len() < BATCH && !last {
                match parser.next_event() {
                    Some(item) => {
                        last = item.is_err();
                        batch.push(item);
                    }
                    None => last = true,
                }
            }
            // A send fails when the consumer stopped early (its error is returned below).
            if full_tx.send(batch).is_err() || last {
                break;
            }
        }
        drop(full_tx);
        Some(
            consumer
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
        )
    });
    match threaded {
        Some(done) => done,
        None => inline(parser, each),
    }
}

/// Events on their way to the consumer. A [`Packed`] record is 32 bytes where the parser's
/// event is 136, so a quarter of the memory crosses between the cores. A scalar's value is
/// copied into `values` and the parser's string freed at once: the parser gets that memory
/// back for its next scalar, as when nothing keeps its events (with two thousand values held
/// in flight, every allocation took the allocator's slow path). The rare event that does not
/// pack (a tag, an anchored scalar, an error) travels whole and is dropped with its batch back
/// on the parser's thread, which allocated it (freeing across threads made the two contend
/// for the allocator's lock).
#[derive(Default)]
struct Batch<'t> {
    events: Vec<Packed>,
    /// The scalars' values, one after the other.
    values: String,
    whole: Vec<ParseResult<'t>>,
}

/// One event with its span, for the common events: untagged, and every number fits in `u32`
/// (so always, below 4 GiB of text). Any other event travels whole.
#[derive(Clone, Copy)]
struct Packed {
    start: [u32; 3],
    end: [u32; 3],
    /// The anchor (the alias's target for [`What::Alias`]); for a scalar, the end of its
    /// value in `values` (so an anchored scalar travels whole); for [`What::Whole`], the
    /// index in `whole`.
    arg: u32,
    what: What,
    /// A scalar's style.
    style: ScalarStyle,
    /// A document start's `explicit`.
    explicit: bool,
}

/// Which event a [`Packed`] record is.
#[derive(Clone, Copy)]
enum What {
    Whole,
    Nothing,
    StreamStart,
    StreamEnd,
    DocumentStart,
    DocumentEnd,
    Alias,
    Scalar,
    SequenceStart,
    SequenceEnd,
    MappingStart,
    MappingEnd,
}

fn small(n: usize) -> Option<u32> {
    u32::try_from(n).ok()
}

fn pack_marker(m: &Marker) -> Option<[u32; 3]> {
    Some([small(m.index())?, small(m.line())?, small(m.col())?])
}

fn unpack_marker([index, line, col]: [u32; 3]) -> Marker {
    Marker::new(index as usize, line as usize, col as usize)
}

impl<'t> Batch<'t> {
    fn len(&self) -> usize {
        self.events.len()
    }

    fn push(&mut self, item: ParseResult<'t>) {
        match self.pack(&item) {
            Some(packed) => self.events.push(packed),
            None => self.push_whole(item),
        }
        // A packed `item` is dropped here: the parser's next scalar gets its memory back.
    }

    /// `item` as a [`Packed`] record (its value, if any, copied into `values`), or `None`
    /// when it must travel whole.
    fn pack(&mut self, item: &ParseResult<'t>) -> Option<Packed> {
        let (event, span) = item.as_ref().ok()?;
        let mut packed = Packed {
            start: pack_marker(&span.start)?,
            end: pack_marker(&span.end)?,
            arg: 0,
            what: What::Nothing,
            style: ScalarStyle::Plain,
            explicit: false,
        };
        (packed.what, packed.arg) = match event {
            Event::Nothing => (What::Nothing, 0),
            Event::StreamStart => (What::StreamStart, 0),
            Event::StreamEnd => (What::StreamEnd, 0),
            Event::DocumentStart(explicit) => {
                packed.explicit = *explicit;
                (What::DocumentStart, 0)
            }
            Event::DocumentEnd => (What::DocumentEnd, 0),
            Event::Alias(id) => (What::Alias, small(*id)?),
            Event::Scalar(value, style, 0, None) => {
                let end = small(self.values.len() + value.len())?;
                self.values.push_str(value);
                packed.style = *style;
                (What::Scalar, end)
            }
            Event::SequenceStart(anchor, None) => (What::SequenceStart, small(*anchor)?),
            Event::SequenceEnd => (What::SequenceEnd, 0),
            Event::MappingStart(anchor, None) => (What::MappingStart, small(*anchor)?),
            Event::MappingEnd => (What::MappingEnd, 0),
            // Tags and anchored scalars are rare.
            _ => return None,
        };
        Some(packed)
    }

    fn push_whole(&mut self, item: ParseResult<'t>) {
        self.events.push(Packed {
            start: [0; 3],
            end: [0; 3],
            // At most a batch of events.
            arg: self.whole.len() as u32,
            what: What::Whole,
            style: ScalarStyle::Plain,
            explicit: false,
        });
        self.whole.push(item);
    }

    fn clear(&mut self) {
        self.events.clear();
        self.values.clear();
        self.whole.clear();
    }

    /// Calls `each` with every event as the parser yielded it, moved by `shift`.
    fn try_for_each<E>(
        &self,
        shift: &Shift,
        each: &mut impl for<'e> FnMut(&ParseResult<'e>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut value_start = 0usize;
        let anchor = |id: u32| shift.anchor(id as usize);
        for p in &self.events {
            let event = match p.what {
                What::Whole => {
                    let item = &self.whole[p.arg as usize];
                    if shift.moves() {
                        each(&shift.item(item))?;
                    } else {
                        each(item)?;
                    }
                    continue;
                }
                What::Nothing => Event::Nothing,
                What::StreamStart => Event::StreamStart,
                What::StreamEnd => Event::StreamEnd,
                What::DocumentStart => Event::DocumentStart(p.explicit),
                What::DocumentEnd => Event::DocumentEnd,
                What::Alias => Event::Alias(anchor(p.arg)),
                What::Scalar => {
                    let value = &self.values[value_start..p.arg as usize];
                    value_start = p.arg as usize;
                    Event::Scalar(Cow::Borrowed(value), p.style, 0, None)
                }
                What::SequenceStart => Event::SequenceStart(anchor(p.arg), None),
                What::SequenceEnd => Event::SequenceEnd,
                What::MappingStart => Event::MappingStart(anchor(p.arg), None),
                What::MappingEnd => Event::MappingEnd,
            };
            let span = Span::new(
                shift.marker(unpack_marker(p.start)),
                shift.marker(unpack_marker(p.end)),
            );
            each(&Ok((event, span)))?;
        }
        Ok(())
    }
}

/// Moves the events of a parser that read the text after a cut (behind made-up lines, see
/// [`super::cut`]) to where one parser of the whole text has them: positions by the
/// difference in characters and lines, anchor ids past the ones defined before the cut.
/// Columns stay: the made-up lines end in the cut key's own indentation.
struct Shift {
    index: usize,
    line: usize,
    anchors: usize,
}

impl Shift {
    const NONE: Shift = Shift {
        index: 0,
        line: 0,
        anchors: 0,
    };

    /// From `from` in the second parser's text to `to` in the whole text. Wrapping arithmetic:
    /// `to` may be smaller than `from` (a short text before the cut), the sum never is.
    fn new(from: Marker, to: Marker, anchors: usize) -> Shift {
        Shift {
            index: to.index().wrapping_sub(from.index()),
            line: to.line().wrapping_sub(from.line()),
            anchors,
        }
    }

    fn moves(&self) -> bool {
        self.index != 0 || self.line != 0 || self.anchors != 0
    }

    fn marker(&self, m: Marker) -> Marker {
        Marker::new(
            m.index().wrapping_add(self.index),
            m.line().wrapping_add(self.line),
            m.col(),
        )
    }

    fn anchor(&self, id: usize) -> usize {
        if id == 0 { 0 } else { id + self.anchors }
    }

    fn item<'t>(&self, item: &ParseResult<'t>) -> ParseResult<'t> {
        match item {
            Ok((event, span)) => {
                let mut event = event.clone();
                if let Event::Alias(id)
                | Event::Scalar(_, _, id, _)
                | Event::SequenceStart(id, _)
                | Event::MappingStart(id, _) = &mut event
                {
                    *id = self.anchor(*id);
                }
                let span = Span::new(self.marker(span.start), self.marker(span.end));
                Ok((event, span))
            }
            Err(e) => Err(ScanError::new(
                self.marker(*e.marker()),
                e.info().to_string(),
            )),
        }
    }
}

/// Where the text is cut, as a share of its length in percent. The thread that reads the part
/// before the cut also passes every event of both parts to `each` (on the large benchmark
/// file, building the span tree), so it reads the smaller part: 30 % was the fastest of
/// 15–50 % there (BENCHMARKS.md, issue 11, sixth round).
const CUT_PERCENT: usize = 30;

/// [`try_for_each_cut`] could not read the text in two parts: read it with [`try_for_each`].
pub(crate) struct Restart;

/// [`try_for_each`] with `text` cut in two ([`super::cut`]) and each part read by its own
/// parser on its own core: the part before the cut on this thread, calling `each` as it goes;
/// the part after on a second thread, its events handed over (as in [`try_for_each`]) and
/// passed to `each` when the first part is done. `each` gets exactly the events of one parser
/// of the whole text, or the call ends in [`Restart`]: when no cut is found, when the two
/// parsers' events do not join as one parser's would, and on any error (of the parsers or of
/// `each`: one parser of the whole text then reports it where it is). Debug builds compare the
/// joined events with one parser's.
pub(crate) fn try_for_each_cut<'t, E>(
    text: &'t str,
    each: impl for<'e> FnMut(&ParseResult<'e>) -> Result<(), E>,
) -> Result<(), Restart> {
    cut_from(text, text.len() / 100 * CUT_PERCENT, each)
}

/// [`try_for_each_cut`] with the cut at the first place found after byte `from`.
fn cut_from<'t, E>(
    text: &'t str,
    from: usize,
    mut each: impl for<'e> FnMut(&ParseResult<'e>) -> Result<(), E>,
) -> Result<(), Restart> {
    let cut = super::cut::find(text, from).ok_or(Restart)?;
    #[cfg(debug_assertions)]
    let mut reference = (Parser::new_from_str(text), true);
    let mut each = |item: &ParseResult<'_>| {
        #[cfg(debug_assertions)]
        {
            let same = matches!((reference.0.next_event(), item), (Some(Ok(a)), Ok(b)) if a == *b);
            reference.1 &= same;
        }
        each(item).map_err(|_| Restart)
    };
    let prefix = cut.prefix();
    // Where the second parser sees the cut key: after the made-up lines, at its column.
    let key_in_rest = Marker::new(prefix.len(), 1 + cut.around(), cut.col());
    let joined = std::sync::OnceLock::new();
    let abandon = AtomicBool::new(false);
    let done = std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<Batch<'_>>();
        let rest = std::thread::Builder::new()
            .spawn_scoped(scope, || {
                read_rest(text, &cut, &prefix, key_in_rest, &joined, tx, &abandon)
            })
            .map_err(|_| Restart)?;
        let read = (|| {
            let (end, anchors) = read_before(&text[..cut.at], &cut, &mut each, &abandon)?;
            let shift = Shift::new(key_in_rest, end, anchors);
            for batch in &rx {
                if abandon.load(Ordering::Relaxed) {
                    return Err(Restart);
                }
                batch.try_for_each(&shift, &mut each)?;
            }
            Ok(())
        })();
        if read.is_err() {
            abandon.store(true, Ordering::Relaxed);
        }
        drop(rx);
        // Joined on every path, not left to the scope: the scope waits for the closure only,
        // and a thread still running its thread-local destructors after `render` returned
        // was reported as a leak by the fuzzer's leak check (run 22).
        let whole = rest
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        if whole { read } else { Err(Restart) }
    });
    #[cfg(debug_assertions)]
    assert!(
        done.is_err() || (reference.1 && reference.0.next_event().is_none()),
        "the events of a text read in two parts differ from one parser's"
    );
    done
}

/// An open collection while the text before a cut is read.
struct Open {
    map: bool,
    col: usize,
    /// A mapping's keys and values so far.
    children: usize,
    /// It is a mapping's key.
    key: bool,
}

/// The text before the cut, its events passed to `each` except those that close what is still
/// open at its end (one parser of the whole text closes those later, or never). Returns the
/// cut key's position and the last anchor id, when what is open there is the block mappings
/// that the cut expects: at its columns, each the value of the one around it.
fn read_before(
    before: &str,
    cut: &Cut,
    each: &mut impl for<'e> FnMut(&ParseResult<'e>) -> Result<(), Restart>,
    abandon: &AtomicBool,
) -> Result<(Marker, usize), Restart> {
    // At the end of a text the parser moves to the start of a new line, and places what it
    // yields from there (an empty value, the closing events) at that line's column 0. One
    // parser of the whole text places it at the cut key, the end of this text: the same
    // character, on the line before, at the key's column. (A block scalar ending at the end of
    // the text ends there before the move, at the key's column already.)
    let end = before.chars().count();
    let to_key = |m: &mut Marker| {
        if m.index() == end && m.col() != cut.col() {
            *m = Marker::new(end, m.line().saturating_sub(1), cut.col());
        }
    };
    let mut parser = Parser::new_from_str(before);
    let mut open: Vec<Open> = Vec::new();
    // Closing events not yet passed on: at the end, these close what is open there.
    let mut held: Vec<ParseResult<'_>> = Vec::new();
    let mut anchors = 0;
    let mut count = 0usize;
    while let Some(mut item) = parser.next_event() {
        let Ok((event, span)) = &mut item else {
            return Err(Restart);
        };
        to_key(&mut span.start);
        to_key(&mut span.end);
        count += 1;
        if count.is_multiple_of(4096) && abandon.load(Ordering::Relaxed) {
            return Err(Restart);
        }
        if let Event::MappingEnd | Event::SequenceEnd | Event::DocumentEnd | Event::StreamEnd =
            event
        {
            held.push(item);
            continue;
        }
        if let Event::Scalar(_, _, id, _)
        | Event::SequenceStart(id, _)
        | Event::MappingStart(id, _) = event
        {
            anchors = anchors.max(*id);
        }
        // A block scalar with no content line before the end of the text takes the parser's
        // shortcut for a stream that ends there, with another span (and, kept, another value)
        // than when the cut key follows it.
        if let Event::Scalar(value, ScalarStyle::Literal | ScalarStyle::Folded, ..) = event
            && span.end.index() == end
            && value.bytes().all(|c| c == b'\n')
        {
            return Err(Restart);
        }
        for closing in held.drain(..) {
            track(&mut open, &closing);
            each(&closing)?;
        }
        track(&mut open, &item);
        each(&item)?;
    }
    // `held` ends the stream: a closing event for each open collection, then the document's
    // and the stream's. The innermost ones (deeper than the cut key's mapping) close at the cut
    // for one parser too; the cut's mapping and those around it stay open.
    let keep = open.len().checked_sub(cut.cols.len()).ok_or(Restart)?;
    let [.., Ok((Event::DocumentEnd, _)), Ok((Event::StreamEnd, at))] = held.as_slice() else {
        return Err(Restart);
    };
    let key = at.start;
    // One parser yields these at the cut key. An explicit `...` before the cut ends the
    // document there instead: its events sit at the `...` (found in review).
    let at_key =
        |item: &ParseResult<'_>| matches!(item, Ok((_, span)) if *span == Span::empty(key));
    if held.len() != open.len() + 2
        || key.index() != end
        || key.col() != cut.col()
        || !held.iter().all(at_key)
    {
        return Err(Restart);
    }
    for closing in held.drain(..keep) {
        track(&mut open, &closing);
        each(&closing)?;
    }
    let expected = open.len() == cut.cols.len()
        && open
            .iter()
            .zip(&cut.cols)
            .all(|(o, &col)| o.map && o.col == col && !o.key)
        && open.last().is_some_and(|o| o.children % 2 == 0);
    if expected {
        Ok((key, anchors))
    } else {
        Err(Restart)
    }
}

/// Keeps `open` up to date with one event.
fn track(open: &mut Vec<Open>, item: &ParseResult<'_>) {
    let Ok((event, span)) = item else {
        return;
    };
    let starts = match event {
        Event::MappingStart(..) => Some(true),
        Event::SequenceStart(..) => Some(false),
        Event::MappingEnd | Event::SequenceEnd => {
            open.pop();
            None
        }
        Event::Scalar(..) | Event::Alias(..) => None,
        _ => return,
    };
    let parent = open.last_mut();
    let key = parent
        .as_ref()
        .is_some_and(|p| p.map && p.children % 2 == 0);
    if let Some(parent) = parent {
        // A start counts when its collection ends; a scalar, an alias or an end counts now.
        if starts.is_none() {
            parent.children += 1;
        }
    }
    if let Some(map) = starts {
        // A start's span begins at its properties. On a line of their own (`&a` above the
        // first key), the column is the first key's, where the span ends: the properties' is
        // not the mapping's indentation (found by fuzzing, run 20: `&a\n   APP: 1\nprovider:`
        // joined a col-0 cut onto a mapping at column 3, where one parser fails).
        let col = if span.start.line() == span.end.line() {
            span.start.col()
        } else {
            span.end.col()
        };
        open.push(Open {
            map,
            col,
            children: 0,
            key,
        });
    }
}

/// The text after the cut, behind the made-up lines, read on a second thread: the made-up
/// lines' events are checked and dropped, the rest sent in batches. `false` (and `abandon`
/// set) when it cannot stand for the end of one parser's reading.
fn read_rest<'j>(
    text: &str,
    cut: &Cut,
    prefix: &str,
    key_in_rest: Marker,
    joined: &'j std::sync::OnceLock<String>,
    tx: mpsc::Sender<Batch<'j>>,
    abandon: &AtomicBool,
) -> bool {
    let whole = super::cut::reads_apart(text, cut)
        && send_rest(text, cut, prefix, key_in_rest, joined, &tx);
    if !whole {
        abandon.store(true, Ordering::Relaxed);
    }
    whole
}

fn send_rest<'j>(
    text: &str,
    cut: &Cut,
    prefix: &str,
    key_in_rest: Marker,
    joined: &'j std::sync::OnceLock<String>,
    tx: &mpsc::Sender<Batch<'j>>,
) -> bool {
    let joined = joined.get_or_init(|| format!("{prefix}{}", &text[cut.at..]));
    let mut parser = Parser::new_from_str(joined);
    // The stream, its document, and per made-up line a block mapping and its key `a`; then
    // the cut key's mapping.
    for i in 0..3 + 2 * cut.around() {
        let expected = match parser.next_event() {
            Some(Ok((event, _))) => match (i, event) {
                (0, Event::StreamStart) | (1, Event::DocumentStart(false)) => true,
                (2.., Event::MappingStart(0, None)) => i % 2 == 0,
                (2.., Event::Scalar(key, ScalarStyle::Plain, 0, None)) => i % 2 == 1 && key == "a",
                _ => false,
            },
            _ => false,
        };
        if !expected {
            return false;
        }
    }
    let fresh = || Batch {
        events: Vec::with_capacity(BATCH),
        ..Batch::default()
    };
    // The cut key itself, where the made-up lines end. One parser must read it as a key (a
    // `required` simple key, a made-up line's value here is not): the same here, since
    // cut.rs takes only keys with their `:` on their own line.
    let first = parser.next_event();
    let at_key = matches!(&first,
        Some(Ok((Event::Scalar(_, ScalarStyle::Plain, 0, None), span)))
            if span.start == key_in_rest);
    let Some(first) = first.filter(|_| at_key) else {
        return false;
    };
    let mut batch = fresh();
    batch.push(first);
    while let Some(item) = parser.next_event() {
        if item.is_err() {
            return false;
        }
        batch.push(item);
        if batch.len() >= BATCH && tx.send(std::mem::replace(&mut batch, fresh())).is_err() {
            return false;
        }
    }
    tx.send(batch).is_ok()
}

/// [`try_for_each`] without a second thread.
fn inline<'t, E>(
    mut parser: Parser<'t, saphyr_parser::StrInput<'t>>,
    mut each: impl for<'e> FnMut(&ParseResult<'e>) -> Result<(), E>,
) -> Result<(), E> {
    while let Some(item) = parser.next_event() {
        each(&item)?;
        // The parser repeats its error; stop at the first one.
        if item.is_err() {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parser's own events, up to and including its first error (it repeats errors).
    fn direct(text: &str) -> Vec<String> {
        let mut parser = Parser::new_from_str(text);
        let mut failed = false;
        std::iter::from_fn(|| parser.next_event())
            .take_while(|r| !std::mem::replace(&mut failed, r.is_err()))
            .map(|r| format!("{r:?}"))
            .collect()
    }

    fn threaded(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let done: Result<(), ()> = try_for_each(text, |r| {
            out.push(format!("{r:?}"));
            Ok(())
        });
        assert!(done.is_ok());
        out
    }

    /// A large text with every kind of node: each scalar style, tags, anchors and aliases on
    /// scalars and collections, escapes that grow a value (`\L` is 2 bytes, U+2028 is 3).
    fn large(tail: &str) -> String {
        let mut text = String::from("%YAML 1.2\n---\nfunctions:\n");
        let mut i = 0;
        while text.len() < 4 * THREAD_MIN_BYTES {
            text.push_str(&format!(
                "  fn{i}:\n    handler: h.é{i}\n    events: [{{http: GET /{i}}}]\n    environment: {{A: \"x\\ty\\L\", B: 'it''s', C: &c{i} v{i}, D: *c{i}, E: !Ref Bucket{i}, F: !!str 5, '': ~}}\n    block: |\n      line {i}\n\n    folded: >-\n      f {i}\n      g\n    tagged: !Sub &t{i} [a, *c{i}]\n    anchored: &m{i} {{k: {i}}}\n    merged: {{<<: *m{i}, x: !!map {{}}}}\n"
            ));
            i += 1;
        }
        text.push_str(tail);
        text
    }

    #[test]
    fn every_kind_of_event_crosses_intact() {
        // More documents: one without `---` (after `...`), one with a scalar on its `---` line.
        let text = large("...\nsecond: document\n--- third\n");
        let events = threaded(&text);
        for kind in [
            "DocumentStart(true)",
            "DocumentStart(false)",
            "DocumentEnd",
            "Alias(",
            "SingleQuoted",
            "DoubleQuoted",
            "Literal",
            "Folded",
            "Some(Tag",
            "SequenceStart(",
            "MappingStart(",
            "\\u{2028}",
        ] {
            assert!(
                events.iter().any(|e| e.contains(kind)),
                "no {kind} among the events"
            );
        }
        assert_eq!(events, direct(&text));
    }

    #[test]
    fn packed_events_stay_small() {
        assert!(std::mem::size_of::<Packed>() <= 32);
        assert!(std::mem::size_of::<ParseResult<'_>>() >= 4 * 32);
    }

    #[test]
    fn the_thread_yields_the_parsers_events_in_order() {
        let text = large("");
        let events = threaded(&text);
        assert!(
            events.len() > 10 * BATCH,
            "several batches: {}",
            events.len()
        );
        assert_eq!(events, direct(&text));
    }

    #[test]
    fn a_parse_error_ends_the_events_as_it_does_inline() {
        let text = large("  bad: [\n");
        let events = threaded(&text);
        assert!(
            events.last().is_some_and(|e| e.starts_with("Err(")),
            "{:?}",
            events.last()
        );
        assert_eq!(events, direct(&text));
    }

    #[test]
    fn the_consumer_may_stop_early_with_its_error() {
        let text = large("");
        let mut seen = Vec::new();
        let done = try_for_each(&text, |r| {
            seen.push(format!("{r:?}"));
            if seen.len() == 3 * BATCH + 2 {
                Err(seen.len())
            } else {
                Ok(())
            }
        });
        assert_eq!(done, Err(3 * BATCH + 2));
        assert_eq!(seen, direct(&text)[..3 * BATCH + 2]);
    }

    /// The events of `text` cut after byte `from`, or `None` when the cut did not hold.
    fn cut_events(text: &str, from: usize) -> Option<Vec<String>> {
        let mut out = Vec::new();
        let done = cut_from(text, from, |r| {
            out.push(format!("{r:?}"));
            Ok::<(), ()>(())
        });
        done.ok().map(|()| out)
    }

    /// A service with what a cut must carry across: block scalars (kept, stripped, with blank
    /// and less indented lines), flow collections over several lines, quoted scalars over
    /// several lines, tags, anchors (renumbered after the cut), comments at every indentation,
    /// empty values just before a key, sequences at their key's indentation, explicit keys,
    /// multi-byte characters.
    fn service(functions: usize) -> String {
        let mut text = String::from(
            "---\n# größe\nservice: s\nprovider:\n  name: aws\n  environment:\n    A: &a 1\nfunctions:\n",
        );
        for i in 0..functions {
            text.push_str(&format!(
                "  fn{i}:\n    handler: h.ü{i}\n    script: |+\n      line {i}\n\n    folded: >-\n      f\n\n      g\n# at column 0\n    flow: {{a: [1,\n      2], b: \"x\n      y\"}}\n    quoted: 'it''s\n      two'\n    tagged: !Sub &t{i} x${{a}}\n    anchored: &m{i}\n      k: {i}\n    list:\n    - a\n    - b: 1\n      c:\n    ? explicit\n    : value\n    empty:\n      # indented comment\n  other{i}: {{}}\n  last{i}:\n"
            ));
        }
        text.push_str("resources:\n  R: !GetAtt [A, B]\n");
        text
    }

    #[test]
    fn a_text_cut_in_two_yields_one_parsers_events() {
        let text = service(3);
        let whole = direct(&text);
        let mut held = 0;
        let starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i));
        for from in starts {
            if let Some(events) = cut_events(&text, from) {
                assert_eq!(events, whole, "cut after byte {from}");
                held += 1;
            }
        }
        // Every line that starts a key of a block mapping nested in block mappings: most of
        // them (a cut is refused only where the rest holds `...`, i.e. never here).
        assert!(held > 40, "only {held} cuts held");
    }

    /// Every cut tried after a line of `text` that holds yields one parser's events; returns
    /// how many held.
    fn sweep(text: &str, lines: usize) -> usize {
        let whole = direct(text);
        let starts: Vec<usize> = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i))
            .collect();
        let step = starts.len().div_ceil(lines).max(1);
        let mut held = 0;
        for &from in starts.iter().step_by(step) {
            if let Some(events) = cut_events(text, from) {
                assert_eq!(events, whole, "cut after byte {from} of {text:?}");
                held += 1;
            }
        }
        held
    }

    /// Found in review: each of these was joined into events one parser does not yield.
    #[test]
    fn cuts_after_an_empty_block_scalar_a_hidden_directive_or_a_document_end() {
        for text in [
            "a: |\nb: 1\n",
            "a: |-\n\nb: 1\n",
            "a:\n  b: |+\n  c: 1\n",
            "a:\n  b: >\n\n  c: 1\n",
            "a:\n  b:\n  - |+\n  c: 1\n",
            "a:\n  x:\n    b: |2\n  c: 1\n",
            "\u{feff}%TAG !! tag:x,2000:\n---\na:\n  b: 1\n  c: !!str 2\n",
            "# c\r%TAG ! tag:x:\r---\na:\n  b: 1\n  c: !foo 2\n",
            "a: 1\n...\nb: 2\n",
            "a:\n  b: 1\r...\n  c: 2\n",
        ] {
            sweep(text, usize::MAX);
        }
    }

    /// Found by fuzzing (run 20): a mapping's properties on a line of their own put its
    /// start's span at their column, not at its keys'.
    #[test]
    fn a_mapping_is_where_its_keys_are_not_where_its_properties_are() {
        let crash = "&6666666\t\t#\t) \n   APP: 1\nprovider:\n  n666OW";
        assert_eq!(cut_events(crash, 0), None, "one parser fails at `provider`");
        for text in [
            crash,
            "&a\n  b: 1\nc: 2\n",
            "!!map\n   b: 1\nc: 2\n",
            "&a !!map\n  b: 1\n  c: 2\n",
            "x:\n  &a\n    b: 1\n  c: 2\n",
            "x:\n  y: &a\n      b: 1\n  c: 2\n",
            "x: !t\n    b: 1\n  c: 2\n",
        ] {
            sweep(text, usize::MAX);
        }
        // Where the properties' column is the keys' column the cut still holds.
        let text = "&a\nb: 1\nc: 2\nd: 3\n";
        assert_eq!(sweep(text, usize::MAX), 2, "cuts at `c` and `d`: {text:?}");
    }

    #[test]
    fn cuts_hold_with_crlf_line_ends() {
        let text = service(2).replace('\n', "\r\n");
        assert!(sweep(&text, usize::MAX) > 30);
    }

    /// The real files of ../shared/corpus, each cut after (up to) 24 of its lines.
    #[test]
    fn cuts_in_real_files_yield_one_parsers_events() {
        let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus"));
        let Ok(manifest) = std::fs::read_to_string(dir.join("MANIFEST.tsv")) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "corpus missing at {} (required on CI)",
                dir.display()
            );
            eprintln!("skipping: corpus not found at {}", dir.display());
            return;
        };
        let (mut files, mut held) = (0, 0);
        for row in manifest.lines().skip(1) {
            let file = row.split('\t').next().unwrap_or_default();
            let Ok(text) = std::fs::read_to_string(dir.join(file)) else {
                continue;
            };
            if Parser::new_from_str(&text).any(|r| r.is_err()) {
                continue;
            }
            files += 1;
            held += sweep(&text, 24);
        }
        assert!(
            files > 500 && held > 10 * files,
            "{held} cuts held in {files} files"
        );
    }

    /// What the text finder in render/cut.rs cannot get wrong today is still checked against
    /// the first parser: hand-made cuts that do not match what is open there.
    #[test]
    fn the_part_before_a_cut_must_leave_open_what_the_cut_expects() {
        let holds = |text: &str, key: &str, cols: &[usize]| {
            let cut = Cut {
                at: text.find(key).unwrap(),
                cols: cols.to_vec(),
            };
            let abandon = AtomicBool::new(false);
            read_before(&text[..cut.at], &cut, &mut |_| Ok(()), &abandon).is_ok()
        };
        let text = "a:\n  b: 1\n  c: 2\n";
        assert!(holds(text, "c:", &[0, 2]));
        // Another column for the mapping around, one mapping more, one less.
        assert!(!holds(text, "c:", &[1, 2]));
        assert!(!holds(text, "c:", &[0, 1, 2]));
        assert!(!holds(text, "c:", &[2]));
        // The open mapping is a key (`? `), not a value.
        assert!(!holds("?\n  x: 1\n  y: 2\n: v\n", "y:", &[0, 2]));
    }

    #[test]
    fn a_cut_that_cannot_hold_leaves_the_text_to_one_parser() {
        let at = |text: &str, key: &str| text.find(key).unwrap() - 1;
        for (text, key) in [
            // An alias to an anchor before the cut.
            ("a: &x 1\nb: 2\nc: *x\n", "b:"),
            // Inside a double-quoted scalar over several lines (js-yaml reads it).
            ("a:\n  b: \"x\n  c: y\"\n  d: 1\n", "  c:"),
            // Inside a flow mapping over several lines.
            ("a:\n  b: {x: 1,\n  c: 2}\n  d: 1\n", "  c:"),
            // Not a mapping's key after all: a sequence item's.
            ("a:\n  - b: 1\n    c: 2\n", "    c:"),
            // A later document.
            ("a: 1\nb: 2\n---\nc: 3\n", "b:"),
        ] {
            assert!(cut_events(text, at(text, key)).is_none(), "{text:?}");
        }
        // An error after the cut, and an error of the consumer: both left to one parser.
        let text = service(2) + "bad: [\n";
        assert!(cut_events(&text, text.len() / 3).is_none());
        let text = service(2);
        let failed = cut_from(&text, text.len() / 3, |_| Err(()));
        assert!(failed.is_err());
    }

    #[test]
    fn small_texts_are_parsed_inline_with_the_same_events() {
        let text = "a: [1, {b: c}]\n";
        assert_eq!(threaded(text), direct(text));
    }
}
