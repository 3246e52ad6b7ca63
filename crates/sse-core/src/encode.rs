//! The wire encoder: events and comments into bytes.
//!
//! Every field is written as `name: value\n` (the space keeps a value that starts
//! with a space intact: clients strip exactly one), data is split into one `data:`
//! line per line, and every frame ends with a blank line. Encoding writes into any
//! [`BufMut`] the caller owns, and [`Event::encoded_len`] tells the exact size first,
//! so a reused buffer never reallocates.

use bytes::{BufMut, Bytes, BytesMut};
use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::event::{Comment, Event, EventError, check_id};
use crate::scan::for_each_line;

const EVENT: &[u8] = b"event: ";
const ID: &[u8] = b"id: ";
const RETRY: &[u8] = b"retry: ";
const DATA: &[u8] = b"data: ";
const COMMENT: &[u8] = b": ";

impl Event<'_> {
    /// The exact number of bytes [`encode`](Self::encode) writes.
    ///
    /// ```
    /// # use sse_core::Event;
    /// let event = Event::new("a\r\nb");
    /// assert_eq!(event.encoded_len(), event.to_frame().len());
    /// ```
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        let mut len = 1; // The blank line that ends the event.
        if let Some(event) = &self.event {
            len += field_len(EVENT, event.len());
        }
        if let Some(id) = &self.id {
            len += field_len(ID, id.len());
        }
        if let Some(retry) = self.retry {
            len += field_len(RETRY, Digits::new(retry_millis(retry)).as_bytes().len());
        }
        len + data_fields_len(&self.data, self.multiline)
    }

    /// Writes this event to `buf`: exactly [`encoded_len`](Self::encoded_len) bytes,
    /// ending with the blank line that makes clients dispatch it.
    ///
    /// ```
    /// # use sse_core::Event;
    /// let mut buf = Vec::new();
    /// Event::new(" leading space\rand a CR").encode(&mut buf);
    /// assert_eq!(buf, b"data:  leading space\ndata: and a CR\n\n");
    /// ```
    pub fn encode<B: BufMut + ?Sized>(&self, buf: &mut B) {
        self.encode_fields(buf);
        buf.put_u8(b'\n');
    }

    /// Writes every field, but not the blank line that ends the event.
    #[inline]
    pub(crate) fn encode_fields<B: BufMut + ?Sized>(&self, buf: &mut B) {
        if let Some(event) = &self.event {
            put_field(buf, EVENT, event.as_bytes());
        }
        if let Some(id) = &self.id {
            put_field(buf, ID, id.as_bytes());
        }
        self.encode_retry_and_data(buf);
    }

    /// Writes the `retry` and `data` fields.
    #[inline]
    pub(crate) fn encode_retry_and_data<B: BufMut + ?Sized>(&self, buf: &mut B) {
        if let Some(retry) = self.retry {
            put_field(buf, RETRY, Digits::new(retry_millis(retry)).as_bytes());
        }
        put_data_fields(buf, &self.data, self.multiline);
    }

    /// Encodes this event into a new [`Frame`] of exactly the right size.
    #[must_use]
    pub fn to_frame(&self) -> Frame {
        let mut buf = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut buf);
        Frame(buf.freeze())
    }
}

impl Comment<'_> {
    /// The exact number of bytes [`encode`](Self::encode) writes.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        let mut len = 1;
        for_each_line(self.text.as_bytes(), |line| {
            len += field_len(COMMENT, line.len());
        });
        len
    }

    /// Writes this comment to `buf`: one `: ` line per line of text, then a blank
    /// line, so the frame stands alone.
    pub fn encode<B: BufMut + ?Sized>(&self, buf: &mut B) {
        for_each_line(self.text.as_bytes(), |line| put_field(buf, COMMENT, line));
        buf.put_u8(b'\n');
    }

    /// Encodes this comment into a new [`Frame`].
    #[must_use]
    pub fn to_frame(&self) -> Frame {
        let mut buf = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut buf);
        Frame(buf.freeze())
    }
}

/// One complete, encoded SSE frame (an event, a comment, a retry hint or an id
/// checkpoint), ready to be written to any number of clients.
///
/// A `Frame` can only be made by the encoder, so it always ends with a blank line
/// and never contains a forged field. Cloning it is cheap (a reference count), which
/// is how one encoding serves every client.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Frame(Bytes);

impl Frame {
    /// Wraps bytes the caller built as a complete frame (the encoder's own output).
    pub(crate) fn from_encoded(bytes: Bytes) -> Frame {
        Frame(bytes)
    }

    /// A frame holding only a `retry:` field, which sets the client's reconnection
    /// delay without dispatching an event (see [`Event::with_retry`] for rounding).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use sse_core::Frame;
    /// assert_eq!(Frame::retry(Duration::from_micros(1)).as_bytes(), "retry: 1\n\n");
    /// ```
    #[must_use]
    pub fn retry(retry: Duration) -> Frame {
        let mut buf = BytesMut::with_capacity(retry_frame_len(retry));
        put_retry_frame(&mut buf, retry);
        Frame(buf.freeze())
    }

    /// An id-only frame, a checkpoint: `id: <id>` and the blank line. The client's
    /// last event id becomes `id` (it sends it back as `Last-Event-ID` when it
    /// reconnects), and nothing is dispatched: no `data`, so no event.
    ///
    /// # Errors
    ///
    /// As [`Event::with_id`]: a line break or NUL in `id`.
    ///
    /// ```
    /// # use sse_core::Frame;
    /// assert_eq!(Frame::checkpoint("job-7/step-3")?.as_bytes(), "id: job-7/step-3\n\n");
    /// assert!(Frame::checkpoint("7\ndata: forged").is_err());
    /// # Ok::<(), sse_core::EventError>(())
    /// ```
    ///
    /// It takes the id as [`Message::checkpoint`](crate::Message::checkpoint) and
    /// [`Event::with_id`] do: borrowed or owned.
    pub fn checkpoint<'a>(id: impl Into<Cow<'a, str>>) -> Result<Frame, EventError> {
        let id = id.into();
        check_id(&id)?;
        let mut buf = BytesMut::with_capacity(checkpoint_len(&id));
        put_checkpoint(&mut buf, &id);
        Ok(Frame(buf.freeze()))
    }

    /// The encoded bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// The encoded bytes, by value.
    #[must_use]
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The encoded length in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the frame is empty (never true: every frame ends with a blank line).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Frame> for Bytes {
    fn from(frame: Frame) -> Bytes {
        frame.0
    }
}

impl AsRef<[u8]> for Frame {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Frame").field(&self.0).finish()
    }
}

impl From<&Event<'_>> for Frame {
    fn from(event: &Event<'_>) -> Frame {
        event.to_frame()
    }
}

impl From<Event<'_>> for Frame {
    fn from(event: Event<'_>) -> Frame {
        event.to_frame()
    }
}

impl From<&Comment<'_>> for Frame {
    fn from(comment: &Comment<'_>) -> Frame {
        comment.to_frame()
    }
}

impl From<Comment<'_>> for Frame {
    fn from(comment: Comment<'_>) -> Frame {
        comment.to_frame()
    }
}

/// The length of the id-only frame of `id`.
/// The length of `data`'s `data:` lines (one when it has no line break, which
/// `multiline` says), without the blank line that ends an event.
#[inline]
pub(crate) fn data_fields_len(data: &str, multiline: bool) -> usize {
    if !multiline {
        return field_len(DATA, data.len());
    }
    let mut len = 0;
    for_each_line(data.as_bytes(), |line| len += field_len(DATA, line.len()));
    len
}

/// Writes `data`'s `data:` lines (see [`data_fields_len`]).
#[inline]
pub(crate) fn put_data_fields<B: BufMut + ?Sized>(buf: &mut B, data: &str, multiline: bool) {
    if multiline {
        for_each_line(data.as_bytes(), |line| put_field(buf, DATA, line));
    } else {
        put_field(buf, DATA, data.as_bytes());
    }
}

pub(crate) fn checkpoint_len(id: &str) -> usize {
    field_len(ID, id.len()) + 1
}

/// Writes the id-only frame of `id` (already checked).
pub(crate) fn put_checkpoint<B: BufMut + ?Sized>(buf: &mut B, id: &str) {
    put_field(buf, ID, id.as_bytes());
    buf.put_u8(b'\n');
}

/// The length of the retry-only frame of `retry`.
pub(crate) fn retry_frame_len(retry: Duration) -> usize {
    field_len(RETRY, Digits::new(retry_millis(retry)).as_bytes().len()) + 1
}

/// Writes the retry-only frame of `retry`.
pub(crate) fn put_retry_frame<B: BufMut + ?Sized>(buf: &mut B, retry: Duration) {
    put_field(buf, RETRY, Digits::new(retry_millis(retry)).as_bytes());
    buf.put_u8(b'\n');
}

/// Writes an `event` field.
pub(crate) fn put_event_field<B: BufMut + ?Sized>(buf: &mut B, event: &str) {
    put_field(buf, EVENT, event.as_bytes());
}

/// Writes an `id` field.
pub(crate) fn put_id_field<B: BufMut + ?Sized>(buf: &mut B, id: &str) {
    put_field(buf, ID, id.as_bytes());
}

/// The length of an `id` field with a value of `id_len` bytes.
pub(crate) fn id_field_len(id_len: usize) -> usize {
    field_len(ID, id_len)
}

/// The length of the [`SequenceIdLine`] of `sequence`.
pub(crate) fn sequence_id_and_end_len(sequence: u64) -> usize {
    ID.len() + digit_count(sequence) + SEQUENCE_LINE_END.len()
}

/// What ends the hub's events: the `id` line's end and the blank line.
const SEQUENCE_LINE_END: &[u8] = b"\n\n";

/// The longest [`SequenceIdLine`].
const SEQUENCE_LINE_MAX_LEN: usize = ID.len() + MAX_DIGITS + SEQUENCE_LINE_END.len();

/// `id: <sequence>` and the blank line, which end an event encoded with
/// `encode_fields` (the hub's ids, for events that have none of their own).
///
/// The hub numbers events one after the other, so the line is kept and counted up
/// in decimal: the next number usually differs in its last digit alone, where
/// formatting it anew costs a chain of divisions per event.
#[derive(Clone, Debug)]
pub(crate) struct SequenceIdLine {
    line: [u8; SEQUENCE_LINE_MAX_LEN],
    /// Where `id: ` starts.
    start: usize,
}

impl SequenceIdLine {
    const DIGITS_END: usize = ID.len() + MAX_DIGITS;

    /// The line for `sequence`.
    pub(crate) fn new(sequence: u64) -> Self {
        let mut line = [0; SEQUENCE_LINE_MAX_LEN];
        line[Self::DIGITS_END..].copy_from_slice(SEQUENCE_LINE_END);
        let digits_start = write_digits(&mut line[..Self::DIGITS_END], sequence);
        let start = digits_start - ID.len();
        line[start..digits_start].copy_from_slice(ID);
        SequenceIdLine { line, start }
    }

    /// Turns the line for `n` into the line for `n + 1` (`n` below `u64::MAX`).
    pub(crate) fn increment(&mut self) {
        let digits_start = self.start + ID.len();
        for digit in self.line[digits_start..Self::DIGITS_END].iter_mut().rev() {
            if *digit < b'9' {
                *digit += 1;
                return;
            }
            *digit = b'0';
        }
        // Every digit was a 9: one more digit, a 1, where `id: ` ended.
        self.line[digits_start - 1] = b'1';
        self.start -= 1;
        self.line[self.start..self.start + ID.len()].copy_from_slice(ID);
    }

    /// The line's bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.line[self.start..]
    }
}

#[inline]
fn field_len(name: &[u8], value_len: usize) -> usize {
    name.len() + value_len + 1
}

#[inline]
fn put_field<B: BufMut + ?Sized>(buf: &mut B, name: &[u8], value: &[u8]) {
    buf.put_slice(name);
    buf.put_slice(value);
    buf.put_u8(b'\n');
}

/// Whole milliseconds, rounded up, saturating at `u64::MAX`.
fn retry_millis(retry: Duration) -> u64 {
    let millis = retry.as_nanos().div_ceil(1_000_000);
    u64::try_from(millis).unwrap_or(u64::MAX)
}

/// The most decimal digits a `u64` has.
const MAX_DIGITS: usize = 20;

/// Every two-digit number, `00` to `99`, for writing digits two at a time.
const DIGIT_PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// The number of decimal digits of `value`.
fn digit_count(value: u64) -> usize {
    value.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// Writes the decimal digits of `value` at the end of `buf` (at least
/// [`digit_count`] bytes long); returns where they start.
fn write_digits(buf: &mut [u8], mut value: u64) -> usize {
    let mut start = buf.len();
    while value >= 100 {
        let pair = (value % 100) as usize * 2;
        value /= 100;
        start -= 2;
        buf[start..start + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if value >= 10 {
        let pair = value as usize * 2;
        start -= 2;
        buf[start..start + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        start -= 1;
        buf[start] = b'0' + value as u8;
    }
    start
}

/// The decimal digits of a `u64`, formatted on the stack.
struct Digits {
    buf: [u8; MAX_DIGITS],
    start: usize,
}

impl Digits {
    fn new(value: u64) -> Digits {
        let mut buf = [0; MAX_DIGITS];
        let start = write_digits(&mut buf, value);
        Digits { buf, start }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(event: &Event<'_>) -> String {
        let mut buf = Vec::new();
        event.encode(&mut buf);
        assert_eq!(buf.len(), event.encoded_len(), "encoded_len is exact");
        String::from_utf8(buf).expect("utf-8 in, utf-8 out")
    }

    #[test]
    fn writes_fields_in_a_fixed_order() {
        let event = Event::new("d")
            .with_retry(Duration::from_millis(10))
            .with_id("i")
            .and_then(|e| e.with_event("t"))
            .expect("valid");
        assert_eq!(encoded(&event), "event: t\nid: i\nretry: 10\ndata: d\n\n");
    }

    #[test]
    fn empty_id_is_written_to_reset_the_last_event_id() {
        let event = Event::new("d").with_id("").expect("valid");
        assert_eq!(encoded(&event), "id: \ndata: d\n\n");
    }

    #[test]
    fn retry_rounds_up_to_whole_milliseconds() {
        let cases = [
            (Duration::ZERO, "0"),
            (Duration::from_nanos(1), "1"),
            (Duration::from_micros(999), "1"),
            (Duration::from_millis(1), "1"),
            (Duration::from_micros(1_001), "2"),
            (Duration::from_secs(15), "15000"),
            (Duration::MAX, "18446744073709551615"),
        ];
        for (retry, digits) in cases {
            assert_eq!(
                encoded(&Event::new("").with_retry(retry)),
                format!("retry: {digits}\ndata: \n\n")
            );
            assert_eq!(
                Frame::retry(retry).as_bytes(),
                format!("retry: {digits}\n\n").as_bytes()
            );
        }
    }

    #[test]
    fn trailing_line_break_in_data_is_an_empty_last_line() {
        assert_eq!(encoded(&Event::new("a\n")), "data: a\ndata: \n\n");
        assert_eq!(encoded(&Event::new("\r\n")), "data: \ndata: \n\n");
    }

    #[test]
    fn comments_are_split_into_comment_lines() {
        assert_eq!(Comment::new("").to_frame().as_bytes(), ":\u{20}\n\n");
        let comment = Comment::new("a\rb\r\nc\nd");
        assert_eq!(comment.to_frame().as_bytes(), ": a\n: b\n: c\n: d\n\n");
        assert_eq!(comment.encoded_len(), comment.to_frame().len());
    }

    #[test]
    fn digits_and_sequence_ids_match_the_standard_formatting() {
        let mut values = vec![0, 1, 9, 10, 99, 100, 101, 999, 1_000, u64::MAX];
        values.extend((1..20).flat_map(|power| {
            let at = 10u64.pow(power);
            [at - 1, at, at + 1]
        }));
        for value in values {
            assert_eq!(Digits::new(value).as_bytes(), value.to_string().as_bytes());
            let line = SequenceIdLine::new(value);
            assert_eq!(line.as_bytes(), format!("id: {value}\n\n").as_bytes());
            assert_eq!(line.as_bytes().len(), sequence_id_and_end_len(value));
        }
    }

    #[test]
    fn sequence_id_lines_count_up_through_every_carry() {
        for start in [0, 95, 9_990, 999_999_990, u64::MAX - 20, 10u64.pow(19) - 5] {
            let mut line = SequenceIdLine::new(start);
            for value in start..start + 15 {
                assert_eq!(line.as_bytes(), format!("id: {value}\n\n").as_bytes());
                line.increment();
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn digits_of_any_value_match_the_standard_formatting(value: u64) {
            let digits = Digits::new(value);
            let expected = value.to_string();
            proptest::prop_assert_eq!(digits.as_bytes(), expected.as_bytes());
        }
    }

    #[test]
    fn encodes_into_a_reused_buffer_without_growing_it() {
        let event = Event::new("x".repeat(1024));
        let mut buf = BytesMut::with_capacity(event.encoded_len());
        let capacity = buf.capacity();
        for _ in 0..3 {
            buf.clear();
            event.encode(&mut buf);
            assert_eq!(buf.capacity(), capacity);
        }
    }
}
