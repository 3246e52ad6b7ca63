//! One test per encoder lesson from the Go package this library redesigns
//! (`docs/lessons.md`, 7 to 11). Each encodes with the encoder
//! and reads the bytes back as a browser would, with the decoder.

use std::time::Duration;

use sse_core::{Decoded, Decoder, Event, EventError, MessageEvent};

/// What a browser would see for `bytes`.
fn client_sees(bytes: &[u8]) -> Vec<Decoded> {
    let mut decoder = Decoder::new();
    decoder.push(bytes).expect("within limits");
    decoder.collect()
}

fn only_event(bytes: &[u8]) -> MessageEvent {
    match client_sees(bytes).as_slice() {
        [Decoded::Event(event)] => event.clone(),
        other => panic!("expected exactly one event, got {other:?}"),
    }
}

#[test]
fn lesson_07_a_line_break_in_event_or_id_cannot_inject_fields() {
    // The original wrote these raw: "chat\ndata: forged" became a second data line.
    for forged in ["chat\ndata: forged", "chat\rid: 1", "chat\r\nretry: 0"] {
        assert_eq!(
            Event::new("real").with_event(forged),
            Err(EventError::LineBreakInEvent)
        );
    }
    for forged in ["1\ndata: forged", "1\revent: x", "1\r\n"] {
        assert_eq!(
            Event::new("real").with_id(forged),
            Err(EventError::LineBreakInId)
        );
    }
    assert_eq!(Event::new("real").with_id("1\0"), Err(EventError::NulInId));
    // Line breaks in data are not an error: they become data lines, never fields.
    let frame = Event::new("x\nid: forged\revent: forged\r\n\r\ndata: forged").to_frame();
    let event = only_event(frame.as_bytes());
    assert_eq!(event.data, "x\nid: forged\nevent: forged\n\ndata: forged");
    assert_eq!(
        (&*event.event_type, event.last_event_id.as_str()),
        ("message", "")
    );
}

#[test]
fn lesson_08_multi_line_data_is_split_on_every_kind_of_line_break() {
    let frame = Event::new("one\ntwo\r\nthree\rfour").to_frame();
    assert_eq!(
        frame.as_bytes(),
        "data: one\ndata: two\ndata: three\ndata: four\n\n"
    );
    // A CRLF is one line break, not two (a peer's bug: an empty line in between).
    assert_eq!(only_event(frame.as_bytes()).data, "one\ntwo\nthree\nfour");
}

#[test]
fn lesson_09_empty_data_is_still_dispatched() {
    let frame = Event::new("").with_event("ping").unwrap().to_frame();
    assert_eq!(frame.as_bytes(), "event: ping\ndata: \n\n");
    let event = only_event(frame.as_bytes());
    assert_eq!((&*event.event_type, event.data.as_str()), ("ping", ""));
}

#[test]
fn lesson_10_a_value_starting_with_a_space_keeps_it() {
    let frame = Event::new("  two spaces\n one")
        .with_event(" spaced")
        .and_then(|e| e.with_id(" 7"))
        .unwrap()
        .to_frame();
    let event = only_event(frame.as_bytes());
    assert_eq!(event.data, "  two spaces\n one");
    assert_eq!(event.event_type, " spaced");
    assert_eq!(event.last_event_id, " 7");
}

#[test]
fn lesson_11_retry_under_a_millisecond_is_never_zero_or_negative() {
    // The original wrote 500 µs as "retry:0" (reconnect at once) and negative values
    // as "retry:-N" (ignored by clients). A `Duration` cannot be negative, and any
    // non-zero delay is rounded up to a whole millisecond.
    for (retry, millis) in [
        (Duration::from_nanos(1), 1),
        (Duration::from_micros(500), 1),
        (Duration::from_micros(1_500), 2),
        (Duration::from_millis(3_000), 3_000),
    ] {
        let frame = Event::new("x").with_retry(retry).to_frame();
        assert_eq!(
            client_sees(frame.as_bytes())[0],
            Decoded::Retry(Duration::from_millis(millis)),
            "{retry:?}"
        );
    }
}
