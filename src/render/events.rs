//! saphyr-parser's events for a whole text, parsed on a second thread for large texts.
//!
//! A render reads two whole files with saphyr-parser (the input into the span tree, the
//! output for the re-parse check), and each time does its own work per event (building a node;
//! comparing with the tree). Parsing on one core while that work runs on the other takes the
//! work off the critical path: on the 2,000-function benchmark file this is about a fifth of
//! each pass. The consumer sees exactly the events, in order, that it would get from the
//! parser itself: the parser is the same, only the thread differs. Small texts (a typical
//! `serverless.yml`) are parsed inline, where a thread would cost more than it saves.

use std::sync::mpsc;

use saphyr_parser::{Event, Parser, ScanError, Span};

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
/// For a large text the parser runs on this thread and `each` on a second one. The events are
/// handed over by reference in batches and come back to be dropped here, so every string the
/// parser allocates is freed by the thread that allocated it (freeing across threads made the
/// two contend for the allocator's lock).
pub(crate) fn try_for_each<'t, E: Send>(
    text: &'t str,
    mut each: impl FnMut(&ParseResult<'t>) -> Result<(), E> + Send,
) -> Result<(), E> {
    let mut parser = Parser::new_from_str(text);
    if !parallel(text) {
        return inline(parser, each);
    }
    let threaded = std::thread::scope(|scope| {
        let (full_tx, full_rx) = mpsc::sync_channel::<Vec<ParseResult<'t>>>(IN_FLIGHT);
        let (empty_tx, empty_rx) = mpsc::channel::<Vec<ParseResult<'t>>>();
        let each = &mut each;
        let consumer = std::thread::Builder::new().spawn_scoped(scope, move || {
            for batch in full_rx {
                batch.iter().try_for_each(&mut *each)?;
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
                Err(_) => Vec::with_capacity(BATCH),
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

/// [`try_for_each`] without a second thread.
fn inline<'t, E>(
    mut parser: Parser<'t, saphyr_parser::StrInput<'t>>,
    mut each: impl FnMut(&ParseResult<'t>) -> Result<(), E>,
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

    fn large(tail: &str) -> String {
        let mut text = String::from("functions:\n");
        let mut i = 0;
        while text.len() < 4 * THREAD_MIN_BYTES {
            text.push_str(&format!(
                "  fn{i}:\n    handler: h.é{i}\n    events: [{{http: GET /{i}}}]\n    environment: {{A: \"x\\ty\"}}\n"
            ));
            i += 1;
        }
        text.push_str(tail);
        text
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
