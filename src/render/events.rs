//! saphyr-parser's events for a whole text, parsed on a second thread for large texts.
//!
//! A render reads two whole files with saphyr-parser (the input into the span tree, the
//! output for the re-parse check), and each time does its own work per event (building a node;
//! comparing with the tree). Parsing on one core while that work runs on the other takes the
//! work off the critical path: on the 2,000-function benchmark file this is about a fifth of
//! each pass. The consumer sees exactly the events, in order, that it would get from the
//! parser itself: the parser is the same, only the thread differs. Small texts (a typical
//! `serverless.yml`) are parsed inline, where a thread would cost more than it saves.

use std::borrow::Cow;
use std::sync::mpsc;

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
                batch.try_for_each(&mut *each)?;
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

    /// Calls `each` with every event as the parser yielded it.
    fn try_for_each<E>(
        &self,
        each: &mut impl for<'e> FnMut(&ParseResult<'e>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut value_start = 0usize;
        for p in &self.events {
            let event = match p.what {
                What::Whole => {
                    each(&self.whole[p.arg as usize])?;
                    continue;
                }
                What::Nothing => Event::Nothing,
                What::StreamStart => Event::StreamStart,
                What::StreamEnd => Event::StreamEnd,
                What::DocumentStart => Event::DocumentStart(p.explicit),
                What::DocumentEnd => Event::DocumentEnd,
                What::Alias => Event::Alias(p.arg as usize),
                What::Scalar => {
                    let value = &self.values[value_start..p.arg as usize];
                    value_start = p.arg as usize;
                    Event::Scalar(Cow::Borrowed(value), p.style, 0, None)
                }
                What::SequenceStart => Event::SequenceStart(p.arg as usize, None),
                What::SequenceEnd => Event::SequenceEnd,
                What::MappingStart => Event::MappingStart(p.arg as usize, None),
                What::MappingEnd => Event::MappingEnd,
            };
            let span = Span::new(unpack_marker(p.start), unpack_marker(p.end));
            each(&Ok((event, span)))?;
        }
        Ok(())
    }
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

    #[test]
    fn small_texts_are_parsed_inline_with_the_same_events() {
        let text = "a: [1, {b: c}]\n";
        assert_eq!(threaded(text), direct(text));
    }
}
