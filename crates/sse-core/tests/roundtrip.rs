//! Property tests: what the encoder writes, the decoder reads back, whatever the
//! text and however the bytes are split.

use std::time::Duration;

use proptest::prelude::*;
use sse_core::{Comment, Decoded, Decoder, Event, EventError, MessageEvent};

/// Text that stresses the wire format: every kind of line break, spaces, colons,
/// NUL, non-ASCII, and field names.
fn tricky_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("\r".to_owned()),
            Just("\n".to_owned()),
            Just("\r\n".to_owned()),
            Just(" ".to_owned()),
            Just(":".to_owned()),
            Just("\0".to_owned()),
            Just("é".to_owned()),
            Just("🐢".to_owned()),
            Just("\u{FEFF}".to_owned()),
            Just("data: ".to_owned()),
            Just("id".to_owned()),
            "[a-z]{1,6}".prop_map(String::from),
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

fn normalise_line_breaks(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// Splits `bytes` at the given points (taken modulo its length).
fn split_at<'a>(bytes: &'a [u8], points: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = points.iter().map(|p| p % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for cut in cuts {
        chunks.push(&bytes[start..cut]);
        start = cut;
    }
    chunks.push(&bytes[start..]);
    chunks
}

fn decode_chunks(chunks: &[&[u8]]) -> Vec<Decoded> {
    let mut decoder = Decoder::new();
    let mut items = Vec::new();
    for chunk in chunks {
        decoder.push(chunk).expect("within default limits");
        items.extend(&mut decoder);
    }
    decoder.finish();
    items.extend(decoder);
    items
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_of_encode_is_the_event(
        data in tricky_text(),
        event_type in prop::option::of(tricky_text()),
        id in prop::option::of(tricky_text()),
        retry_millis in prop::option::of(any::<u64>()),
        split_points in prop::collection::vec(any::<usize>(), 0..4),
    ) {
        let mut event = Event::new(data.as_str());
        if let Some(retry) = retry_millis {
            event = event.with_retry(Duration::from_millis(retry));
        }
        let mut expected_type = "message";
        if let Some(event_type) = &event_type {
            match event.clone().with_event(event_type.as_str()) {
                Ok(with_type) => {
                    event = with_type;
                    if !event_type.is_empty() {
                        expected_type = event_type;
                    }
                }
                Err(error) => {
                    prop_assert_eq!(error, EventError::LineBreakInEvent);
                    prop_assert!(event_type.contains(['\r', '\n']));
                }
            }
        }
        let mut expected_id = "";
        if let Some(id) = &id {
            match event.clone().with_id(id.as_str()) {
                Ok(with_id) => {
                    event = with_id;
                    expected_id = id;
                }
                Err(EventError::LineBreakInId) => prop_assert!(id.contains(['\r', '\n'])),
                Err(error) => {
                    prop_assert_eq!(error, EventError::NulInId);
                    prop_assert!(id.contains('\0') && !id.contains(['\r', '\n']));
                }
            }
        }

        let mut encoded = Vec::new();
        event.encode(&mut encoded);
        prop_assert_eq!(encoded.len(), event.encoded_len());

        let mut expected = Vec::new();
        if let Some(retry) = retry_millis {
            expected.push(Decoded::Retry(Duration::from_millis(retry)));
        }
        expected.push(Decoded::Event(MessageEvent {
            event_type: expected_type.to_owned().into(),
            data: normalise_line_breaks(&data),
            last_event_id: expected_id.into(),
        }));
        prop_assert_eq!(decode_chunks(&split_at(&encoded, &split_points)), expected);
    }

    #[test]
    fn comments_decode_to_their_lines(
        text in tricky_text(),
        split_points in prop::collection::vec(any::<usize>(), 0..4),
    ) {
        let comment = Comment::new(&text);
        let frame = comment.to_frame();
        prop_assert_eq!(frame.len(), comment.encoded_len());
        let expected: Vec<Decoded> = normalise_line_breaks(&text)
            .split('\n')
            .map(|line| Decoded::Comment(line.into()))
            .collect();
        prop_assert_eq!(decode_chunks(&split_at(frame.as_bytes(), &split_points)), expected);
    }

    #[test]
    fn a_stream_of_events_decodes_in_order(
        datas in prop::collection::vec(tricky_text(), 0..8),
        split_points in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut stream = Vec::new();
        for data in &datas {
            Event::new(data.as_str()).encode(&mut stream);
        }
        let decoded: Vec<String> = decode_chunks(&split_at(&stream, &split_points))
            .into_iter()
            .map(|item| match item {
                Decoded::Event(event) => event.data,
                other => panic!("only events were sent, got {other:?}"),
            })
            .collect();
        let expected: Vec<String> = datas.iter().map(|d| normalise_line_breaks(d)).collect();
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn decoding_does_not_depend_on_chunking(
        input in prop::collection::vec(
            prop_oneof![
                tricky_text().prop_map(String::into_bytes),
                Just(b"\xEF\xBB\xBF".to_vec()),
                Just(b"\xEF".to_vec()),
                Just(b"\xFF".to_vec()),
                Just(b"\n\n".to_vec()),
                Just(b"retry: 12".to_vec()),
                Just(b"event".to_vec()),
                Just(b"data".to_vec()),
            ],
            0..20,
        ).prop_map(|parts| parts.concat()),
        split_points in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let whole = decode_chunks(&[&input]);
        prop_assert_eq!(decode_chunks(&split_at(&input, &split_points)), whole);
    }
}
