//! Conformance with the WHATWG processing model, one rule per test. Every case is
//! decoded whole, split at every byte boundary, and byte by byte: all must agree.

use super::*;

fn event(event_type: &str, data: &str, last_event_id: &str) -> Decoded {
    Decoded::Event(MessageEvent {
        event_type: event_type.to_owned().into(),
        data: data.into(),
        last_event_id: last_event_id.into(),
    })
}

fn message(data: &str) -> Decoded {
    event("message", data, "")
}

fn decode_chunks<'a>(
    chunks: impl IntoIterator<Item = &'a [u8]>,
    limits: DecodeLimits,
) -> (Vec<Decoded>, Option<DecodeError>) {
    let mut decoder = Decoder::with_limits(limits);
    let mut items = Vec::new();
    for chunk in chunks {
        let result = decoder.push(chunk);
        items.extend(&mut decoder);
        if let Err(error) = result {
            return (items, Some(error));
        }
    }
    decoder.finish();
    items.extend(&mut decoder);
    (items, None)
}

/// Decodes `input` whole, in two parts at every split point, and byte by byte, and
/// checks that all agree before returning the result.
fn decode_with(input: &[u8], limits: DecodeLimits) -> (Vec<Decoded>, Option<DecodeError>) {
    let whole = decode_chunks([input], limits);
    for split in 0..=input.len() {
        let (head, tail) = input.split_at(split);
        assert_eq!(
            decode_chunks([head, tail], limits),
            whole,
            "split at {split}"
        );
    }
    assert_eq!(
        decode_chunks(input.chunks(1), limits),
        whole,
        "byte by byte"
    );
    whole
}

fn decode(input: &[u8]) -> Vec<Decoded> {
    let (items, error) = decode_with(input, DecodeLimits::default());
    assert_eq!(error, None);
    items
}

#[test]
fn one_leading_bom_is_stripped() {
    assert_eq!(decode(b"\xEF\xBB\xBFdata: a\n\n"), [message("a")]);
}

#[test]
fn a_second_bom_is_part_of_the_first_field_name() {
    // The field is then "\u{FEFF}data", an unknown field.
    assert_eq!(decode(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\n"), []);
}

#[test]
fn a_bom_later_in_the_stream_is_text() {
    assert_eq!(
        decode(b"data: a\n\n\xEF\xBB\xBFdata: b\n\ndata: \xEF\xBB\xBF\n\n"),
        [message("a"), message("\u{FEFF}")]
    );
}

#[test]
fn a_partial_bom_is_ordinary_text() {
    assert_eq!(
        decode(b"\xEF\xBB:comment\ndata: a\n\n"),
        [message("a")],
        "the first line's field name is \\xEF\\xBB, an unknown field"
    );
    assert_eq!(decode(b"\xEF\n\ndata: a\n\n"), [message("a")]);
}

#[test]
fn cr_lf_and_crlf_each_end_a_line() {
    let expected = [message("a\nb"), message("c")];
    assert_eq!(decode(b"data: a\ndata: b\n\ndata: c\n\n"), expected);
    assert_eq!(decode(b"data: a\rdata: b\r\rdata: c\r\r"), expected);
    assert_eq!(
        decode(b"data: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n"),
        expected
    );
    assert_eq!(decode(b"data: a\rdata: b\n\r\ndata: c\r\n\n"), expected);
}

#[test]
fn a_crlf_split_across_chunks_is_one_line_end() {
    let chunks: [&[u8]; 2] = [b"data: a\r", b"\ndata: b\r\n\r\n"];
    let (items, error) = decode_chunks(chunks, DecodeLimits::default());
    assert_eq!((items, error), (vec![message("a\nb")], None));
    // And so is an LF in a chunk of its own.
    let chunks: [&[u8]; 3] = [b"data: a\r", b"\n", b"data: b\r\n\r\n"];
    let (items, _) = decode_chunks(chunks, DecodeLimits::default());
    assert_eq!(items, [message("a\nb")]);
}

#[test]
fn lf_cr_is_two_line_ends() {
    assert_eq!(
        decode(b"data: a\n\rdata: b\n\n"),
        [message("a"), message("b")]
    );
}

#[test]
fn comments_are_reported_and_change_nothing() {
    assert_eq!(
        decode(b": hello\ndata: a\n:no space\n:\n\n"),
        [
            Decoded::Comment("hello".into()),
            Decoded::Comment("no space".into()),
            Decoded::Comment(String::new()),
            message("a"),
        ]
    );
}

#[test]
fn a_field_without_colon_has_an_empty_value() {
    assert_eq!(decode(b"data\n\n"), [message("")]);
    assert_eq!(decode(b"data\ndata\n\n"), [message("\n")]);
    assert_eq!(decode(b"event: x\nevent\ndata: a\n\n"), [message("a")]);
}

#[test]
fn exactly_one_leading_space_is_stripped() {
    assert_eq!(
        decode(b"data:no space\n\ndata: one\n\ndata:  two\n\ndata:\tx\n\n"),
        [
            message("no space"),
            message("one"),
            message(" two"),
            message("\tx")
        ]
    );
    assert_eq!(decode(b"event:  t\ndata\n\n"), [event(" t", "", "")]);
}

#[test]
fn a_value_may_contain_colons() {
    assert_eq!(decode(b"data: a: b:c\n\n"), [message("a: b:c")]);
}

#[test]
fn unknown_fields_are_ignored() {
    assert_eq!(
        decode(b"foo: bar\nData: x\ndata : y\nDATA\ndata: a\n\n"),
        [message("a")]
    );
}

#[test]
fn the_event_field_sets_the_type_of_the_next_event_only() {
    assert_eq!(
        decode(b"event: first\nevent: chat\ndata: a\n\ndata: b\n\n"),
        [event("chat", "a", ""), message("b")]
    );
}

#[test]
fn an_id_containing_nul_is_ignored() {
    assert_eq!(
        decode(b"id: 1\ndata: a\n\nid: 2\x00\ndata: b\n\n"),
        [event("message", "a", "1"), event("message", "b", "1")]
    );
}

#[test]
fn an_empty_id_resets_the_last_event_id() {
    let items = decode(b"id: 1\ndata: a\n\nid\ndata: b\n\nid: 3\n\nid:\ndata: c\n\n");
    assert_eq!(
        items,
        [
            event("message", "a", "1"),
            event("message", "b", ""),
            event("message", "c", "")
        ]
    );
}

#[test]
fn the_last_event_id_persists_and_is_set_even_without_data() {
    let mut decoder = Decoder::new();
    decoder
        .push(b"id: 5\ndata: a\n\ndata: b\n\nid: 6\n\n")
        .unwrap();
    let items: Vec<_> = decoder.by_ref().collect();
    assert_eq!(
        items,
        [event("message", "a", "5"), event("message", "b", "5")]
    );
    assert_eq!(decoder.last_event_id(), "6");
}

#[test]
fn an_id_after_the_data_still_belongs_to_the_event() {
    assert_eq!(decode(b"data: a\nid: 9\n\n"), [event("message", "a", "9")]);
}

#[test]
fn retry_is_taken_only_when_all_ascii_digits() {
    assert_eq!(
        decode(b"retry: 1500\nretry: 1a\nretry: -1\nretry: 1.5\nretry:  7\nretry\nretry: \n"),
        [Decoded::Retry(Duration::from_millis(1500))]
    );
    assert_eq!(
        decode(b"retry:0\nretry: 99999999999999999999999\n"),
        [Decoded::Retry(Duration::ZERO)],
        "a value too large for a u64 is ignored"
    );
    assert_eq!(
        decode("retry: \u{0663}\n".as_bytes()),
        [],
        "non-ASCII digits are not digits"
    );
}

#[test]
fn an_empty_data_buffer_dispatches_nothing() {
    assert_eq!(decode(b"event: x\nid: 1\n\n\n\n"), []);
    // The type buffer was reset by the blank line.
    assert_eq!(decode(b"event: x\n\ndata: y\n\n"), [message("y")]);
}

#[test]
fn an_unterminated_final_event_is_discarded() {
    assert_eq!(decode(b"data: a\n\ndata: b\n"), [message("a")]);
    assert_eq!(decode(b"data: a\n\ndata: b"), [message("a")]);
    assert_eq!(decode(b"data: a\n\ndata: b\r"), [message("a")]);
}

#[test]
fn finish_keeps_the_last_event_id_for_the_next_connection() {
    let mut decoder = Decoder::new();
    decoder.push(b"id: 4\ndata: a\n\ndata: half").unwrap();
    decoder.finish();
    decoder.push(b"data: b\n\n").unwrap();
    let items: Vec<_> = decoder.collect();
    assert_eq!(
        items,
        [event("message", "a", "4"), event("message", "b", "4")]
    );
}

#[test]
fn invalid_utf8_becomes_replacement_characters() {
    assert_eq!(
        decode(b"event: \xFF\ndata: a\xC3\ndata: \xE2\x82\n\n"),
        [event("\u{FFFD}", "a\u{FFFD}\n\u{FFFD}", "")]
    );
}

#[test]
fn multi_byte_characters_survive_any_split() {
    assert_eq!(
        decode("data: żółw 🐢\nid: ü\n\n".as_bytes()),
        [event("message", "żółw 🐢", "ü")]
    );
}

#[test]
fn a_line_over_the_limit_is_an_error_however_it_arrives() {
    let limits = DecodeLimits::default().max_line_len(10);
    let ok = decode_with(b"data: 1234\n\n", limits);
    assert_eq!(ok, (vec![message("1234")], None));
    let (items, error) = decode_with(b"data: a\n\ndata: 12345\n\ndata: b\n\n", limits);
    assert_eq!(items, [message("a")]);
    assert_eq!(error, Some(DecodeError::LineTooLong { limit: 10 }));
    // Also when the line never ends.
    let (_, error) = decode_with(b"data: 12345", limits);
    assert_eq!(error, Some(DecodeError::LineTooLong { limit: 10 }));
}

#[test]
fn an_event_over_the_limit_is_an_error() {
    let limits = DecodeLimits::default().max_event_len(5);
    assert_eq!(
        decode_with(b"data: ab\ndata: cd\n\n", limits),
        (vec![message("ab\ncd")], None)
    );
    let (items, error) = decode_with(b"data: a\n\ndata: ab\ndata: cde\n\n", limits);
    assert_eq!(items, [message("a")]);
    assert_eq!(error, Some(DecodeError::EventTooLarge { limit: 5 }));
}

#[test]
fn after_an_error_the_decoder_stays_failed() {
    let mut decoder = Decoder::with_limits(DecodeLimits::default().max_line_len(3));
    let error = decoder.push(b"data: x\n").unwrap_err();
    assert_eq!(decoder.push(b"\n"), Err(error));
    assert_eq!(decoder.next(), None);
    assert_eq!(error.to_string(), "event stream line longer than 3 bytes");
}

#[test]
fn long_lines_in_many_chunks_take_linear_time() {
    // 4 MiB in 1-byte chunks would be quadratic (about 8 * 10^12 steps) if the partial
    // line were rescanned or copied for every chunk; linear, it is instant.
    let line = vec![b'x'; 4 << 20];
    let mut decoder = Decoder::with_limits(DecodeLimits::default().max_line_len(8 << 20));
    decoder.push(b"data: ").unwrap();
    for chunk in line.chunks(1) {
        decoder.push(chunk).unwrap();
    }
    decoder.push(b"\n\n").unwrap();
    match decoder.next() {
        Some(Decoded::Event(event)) => assert_eq!(event.data.len(), line.len()),
        other => panic!("expected the long event, got {other:?}"),
    }
}

#[test]
fn limits_hold_for_decoded_text_too() {
    // Each invalid byte becomes a three-byte U+FFFD.
    let limits = DecodeLimits::default().max_line_len(8).max_event_len(8);
    let (_, error) = decode_with(b":\xff\xff\xff\n", limits);
    assert_eq!(error, Some(DecodeError::LineTooLong { limit: 8 }));
    let (_, error) = decode_with(b"data:\xff\ndata:\xff\ndata:\xff\n\n", limits);
    assert_eq!(error, Some(DecodeError::EventTooLarge { limit: 8 }));
    let (items, error) = decode_with(b"data:\xff\ndata:\xff\n\n", limits);
    assert_eq!((items, error), (vec![message("\u{FFFD}\n\u{FFFD}")], None));
}
