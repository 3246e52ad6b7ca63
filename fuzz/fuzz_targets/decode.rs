//! The decoder on any bytes, in any chunks.
//!
//! Checks that decoding never panics, that the result (the items, and the first
//! error if any) does not depend on how the input was split into chunks, and that
//! what the decoder returns stays within its limits.
//!
//! Input layout (see `sse_fuzz::Chunked`): a byte `n`, `n` chunk lengths, then the
//! stream, so a seed is a stream with a short prefix (`\x00` = one byte per chunk).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sse_core::{DecodeError, DecodeLimits, Decoded, Decoder};
use sse_fuzz::Chunked;

const MAX_LINE_LEN: usize = 4096;
const MAX_EVENT_LEN: usize = 16 * 1024;

fn limits() -> DecodeLimits {
    DecodeLimits::default()
        .max_line_len(MAX_LINE_LEN)
        .max_event_len(MAX_EVENT_LEN)
}

/// What decoding produced: every item drained, up to and including the first error.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    items: Vec<Decoded>,
    error: Option<DecodeError>,
    last_event_id: String,
}

fn decode<'p>(chunks: impl IntoIterator<Item = &'p [u8]>) -> Outcome {
    let mut decoder = Decoder::with_limits(limits());
    let mut items = Vec::new();
    let mut error = None;
    for chunk in chunks {
        let result = decoder.push(chunk);
        items.extend(&mut decoder);
        if let Err(e) = result {
            // Poisoned from now on: the same error again, and nothing more.
            assert_eq!(decoder.push(b"data: more\n\n"), Err(e));
            assert_eq!(decoder.next(), None);
            error = Some(e);
            break;
        }
    }
    if error.is_none() {
        // End of stream: an unfinished event is discarded, nothing new comes out.
        decoder.finish();
        assert_eq!(decoder.next(), None, "finish produced an item");
    }
    Outcome {
        items,
        error,
        last_event_id: decoder.last_event_id().to_owned(),
    }
}

fn check_bounds(outcome: &Outcome) {
    for item in &outcome.items {
        match item {
            Decoded::Event(event) => {
                assert!(
                    event.data.len() <= MAX_EVENT_LEN,
                    "data of {} bytes",
                    event.data.len()
                );
                assert!(event.event_type.len() <= MAX_LINE_LEN);
                assert!(event.last_event_id.len() <= MAX_LINE_LEN);
            }
            Decoded::Comment(text) => assert!(text.len() <= MAX_LINE_LEN),
            Decoded::Retry(_) => {}
            _ => {}
        }
    }
    assert!(outcome.last_event_id.len() <= MAX_LINE_LEN);
}

fuzz_target!(|input: Chunked<'_>| {
    let whole = decode([input.payload]);
    let chunked = decode(input.plan.chunks(input.payload));
    assert_eq!(chunked, whole, "chunking changed the result");
    check_bounds(&whole);
});
