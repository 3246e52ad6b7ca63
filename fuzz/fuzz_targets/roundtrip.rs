//! Encode an event, decode the frame in any chunks, and get the same event back.
//!
//! Fields the encoder refuses (a line break in the type or id, NUL in the id) must
//! really be invalid; the event is then built without them.
#![no_main]

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use sse_core::{Decoded, Decoder, Event, EventError, MessageEvent};
use sse_fuzz::Plan;

/// The fields of an event, and how to cut its frame into chunks.
///
/// Byte layout, simple on purpose so seeds can be written by hand: a flags byte
/// (bit 0: a type follows, bit 1: an id, bit 2: a retry), then the type and the id
/// each as a length byte and that many bytes, the retry as 8 bytes little-endian
/// milliseconds, then the chunking plan (`sse_fuzz::Plan`), then the data: the rest.
/// Text is read as UTF-8, invalid sequences replaced by U+FFFD.
#[derive(Debug)]
struct Input {
    event_type: Option<String>,
    id: Option<String>,
    retry_ms: Option<u64>,
    plan: Plan,
    data: String,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn short_text(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    let len = usize::from(u.arbitrary::<u8>()?);
    Ok(text(u.bytes(len.min(u.len()))?))
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let flags = u.arbitrary::<u8>()?;
        let event_type = if flags & 1 != 0 {
            Some(short_text(u)?)
        } else {
            None
        };
        let id = if flags & 2 != 0 {
            Some(short_text(u)?)
        } else {
            None
        };
        let retry_ms = if flags & 4 != 0 {
            let mut le = [0; 8];
            let bytes = u.bytes(8.min(u.len()))?;
            le[..bytes.len()].copy_from_slice(bytes);
            Some(u64::from_le_bytes(le))
        } else {
            None
        };
        let plan = Plan::arbitrary(u)?;
        let data = text(u.bytes(u.len())?);
        Ok(Input {
            event_type,
            id,
            retry_ms,
            plan,
            data,
        })
    }

    fn arbitrary_take_rest(mut u: Unstructured<'a>) -> arbitrary::Result<Self> {
        Self::arbitrary(&mut u)
    }
}

fn has_line_break(s: &str) -> bool {
    s.contains(['\r', '\n'])
}

/// The data as a client sees it: every `\r\n`, `\r` and `\n` becomes `\n`.
fn normalised(data: &str) -> String {
    data.replace("\r\n", "\n").replace('\r', "\n")
}

fuzz_target!(|input: Input| {
    let mut event = Event::new(input.data.as_str());
    let mut event_type = None;
    if let Some(t) = &input.event_type {
        match event.clone().with_event(t.as_str()) {
            Ok(e) => {
                event = e;
                event_type = Some(t.as_str());
            }
            Err(EventError::LineBreakInEvent) => assert!(has_line_break(t), "refused {t:?}"),
            Err(other) => panic!("{other:?} for event type {t:?}"),
        }
    }
    let mut id = None;
    if let Some(i) = &input.id {
        match event.clone().with_id(i.as_str()) {
            Ok(e) => {
                event = e;
                id = Some(i.as_str());
            }
            Err(EventError::LineBreakInId) => assert!(has_line_break(i), "refused {i:?}"),
            Err(EventError::NulInId) => {
                assert!(!has_line_break(i) && i.contains('\0'), "refused {i:?}");
            }
            Err(other) => panic!("{other:?} for id {i:?}"),
        }
    }
    if let Some(ms) = input.retry_ms {
        event = event.with_retry(Duration::from_millis(ms));
    }

    let frame = event.to_frame();
    assert_eq!(frame.len(), event.encoded_len());

    let mut decoder = Decoder::new();
    let mut items = Vec::new();
    for chunk in input.plan.chunks(frame.as_bytes()) {
        decoder
            .push(chunk)
            .expect("an encoded frame within the default limits");
        items.extend(&mut decoder);
    }
    decoder.finish();
    items.extend(&mut decoder);

    let mut expected = Vec::new();
    if let Some(ms) = input.retry_ms {
        expected.push(Decoded::Retry(Duration::from_millis(ms)));
    }
    expected.push(Decoded::Event(MessageEvent {
        event_type: match event_type {
            None | Some("") => "message".into(),
            Some(t) => t.to_owned().into(),
        },
        data: normalised(&input.data),
        last_event_id: id.unwrap_or_default().to_owned(),
    }));
    assert_eq!(items, expected, "frame {:?}", frame.as_bytes());
    assert_eq!(decoder.last_event_id(), id.unwrap_or_default());
});
