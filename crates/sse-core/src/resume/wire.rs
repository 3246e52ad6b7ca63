//! The wire format of a resumable stream: each message's id is its position, and
//! the two events the stream sends of its own, `end` and `resync`.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::encode::{
    SequenceIdLine, data_fields_len, id_field_len, put_data_fields, put_event_field,
};
use crate::event::Event;
use crate::response::{Kind, Message};

/// The type of the event that ends a resumable stream: its data is an
/// [`EndReason`], and the response ends after it.
pub const END_EVENT: &str = "end";

/// The type of the event a viewer gets before a gap it cannot be given: its
/// `Last-Event-ID` names messages no longer held (or is not one of the stream's
/// ids). Its data is empty and it has no id; what follows is everything the stream
/// still holds.
pub const RESYNC_EVENT: &str = "resync";

/// Why a resumable stream ended: the data of its [`END_EVENT`].
///
/// ```
/// use sse_core::EndReason;
///
/// assert_eq!(EndReason::Cancelled.as_str(), "cancelled");
/// assert_eq!("done".parse(), Ok(EndReason::Done));
/// assert!("other".parse::<EndReason>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EndReason {
    /// The producer finished (or every clone of it was dropped): the reply is
    /// whole. Data `done`.
    Done,
    /// The application cancelled it ([`Resumable::cancel`](super::Resumable::cancel),
    /// the Stop button), or the registry was dropped. Data `cancelled`.
    Cancelled,
    /// No one watched it for [`ResumeConfig::abandon_after`](super::ResumeConfig::abandon_after).
    /// Data `abandoned`.
    Abandoned,
}

impl EndReason {
    /// The event's data: `done`, `cancelled` or `abandoned`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            EndReason::Done => "done",
            EndReason::Cancelled => "cancelled",
            EndReason::Abandoned => "abandoned",
        }
    }
}

impl EndReason {
    /// The end event, without its id: `event: end` and this reason as data (a
    /// backplane numbers it with its own position, as the registry here does).
    ///
    /// ```
    /// use sse_core::{EncodedEvent, EndReason};
    ///
    /// let stored = EncodedEvent::new(&EndReason::Done.event());
    /// let frame = stored.to_frame("3")?;
    /// assert_eq!(frame.as_bytes(), "event: end\ndata: done\nid: 3\n\n");
    /// # Ok::<(), sse_core::EventError>(())
    /// ```
    #[must_use]
    pub fn event(self) -> Event<'static> {
        Event {
            event: Some(END_EVENT.into()),
            ..Event::new(self.as_str())
        }
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not an [`EndReason`]'s data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UnknownEndReason;

impl fmt::Display for UnknownEndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not an end reason (done, cancelled, abandoned)")
    }
}

impl std::error::Error for UnknownEndReason {}

impl std::str::FromStr for EndReason {
    type Err = UnknownEndReason;

    fn from_str(data: &str) -> Result<Self, Self::Err> {
        match data {
            "done" => Ok(EndReason::Done),
            "cancelled" => Ok(EndReason::Cancelled),
            "abandoned" => Ok(EndReason::Abandoned),
            _ => Err(UnknownEndReason),
        }
    }
}

/// The end event's frame: `event: end`, the reason, and the end's own position as
/// its id (so a viewer that saw it, and reconnects, is told there is nothing more).
pub(crate) fn end_frame(reason: EndReason, position: u64) -> Bytes {
    let data = b"data: ";
    let id = SequenceIdLine::new(position);
    let len = b"event: \n".len()
        + END_EVENT.len()
        + data.len()
        + reason.as_str().len()
        + 1
        + id.as_bytes().len();
    let mut buf = BytesMut::with_capacity(len);
    put_event_field(&mut buf, END_EVENT);
    buf.put_slice(data);
    buf.put_slice(reason.as_str().as_bytes());
    buf.put_u8(b'\n');
    buf.put_slice(id.as_bytes());
    buf.freeze()
}

/// The resync event's frame: `event: resync` and empty data, no id.
pub(crate) fn resync_frame() -> Bytes {
    Bytes::from_static(b"event: resync\ndata: \n\n")
}

/// How a message is encoded into a resumable stream, once its position is known.
pub(crate) enum Encoding<'a> {
    /// An event: its fields but its own id, then the position's `id` line.
    Event(&'a Event<'static>),
    /// Plain text: its `data` lines, then the position's `id` line.
    Data(&'a str, bool),
    /// A checkpoint: the position's `id` line alone.
    Checkpoint,
    /// A comment or a retry hint, which carry no id: as it is.
    Plain(&'a Message),
    /// A frame encoded earlier that neither dispatches an event nor moves the last
    /// event id (a comment, a retry hint): shared as it is.
    Shared(&'a Bytes),
    /// A frame encoded earlier that does (it has a `data` or an `id` field): its
    /// lines but its `id` fields, then the position's `id` line.
    Fields(&'a Bytes),
}

impl<'a> Encoding<'a> {
    pub(crate) fn new(message: &'a Message) -> Self {
        match message.kind() {
            Kind::Event(event) => Encoding::Event(event),
            Kind::Data { text, multiline } => Encoding::Data(text, *multiline),
            Kind::Checkpoint(_) => Encoding::Checkpoint,
            Kind::Comment(_) | Kind::Retry(_) => Encoding::Plain(message),
            Kind::Frame(frame) => {
                let frame = frame.as_bytes();
                if lines(frame).any(|line| matches!(field(line), b"data" | b"id")) {
                    Encoding::Fields(frame)
                } else {
                    Encoding::Shared(frame)
                }
            }
        }
    }

    /// The frame as it is, when it is shared rather than encoded.
    pub(crate) fn shared(&self) -> Option<&'a Bytes> {
        match self {
            Encoding::Shared(frame) => Some(frame),
            _ => None,
        }
    }

    /// The exact length [`encode`](Self::encode) writes, with `id_line`.
    pub(crate) fn len(&self, id_line: &SequenceIdLine) -> usize {
        let id_len = id_line.as_bytes().len();
        match self {
            Encoding::Event(event) => {
                let own_id = event.id().map_or(0, |id| id_field_len(id.len()));
                event.encoded_len() - 1 - own_id + id_len
            }
            Encoding::Data(text, multiline) => data_fields_len(text, *multiline) + id_len,
            Encoding::Checkpoint => id_len,
            Encoding::Plain(message) => message.encoded_len(),
            Encoding::Shared(frame) => frame.len(),
            Encoding::Fields(frame) => {
                let kept: usize = lines(frame)
                    .filter(|line| field(line) != b"id")
                    .map(|line| line.len() + 1)
                    .sum();
                kept + id_len
            }
        }
    }

    /// Writes the frame, numbered with `id_line` (`id: <position>` and the blank
    /// line) when it gets an id.
    pub(crate) fn encode(&self, buf: &mut BytesMut, id_line: &SequenceIdLine) {
        match self {
            Encoding::Event(event) => {
                if let Some(kind) = event.event() {
                    put_event_field(buf, kind);
                }
                event.encode_retry_and_data(buf);
                buf.put_slice(id_line.as_bytes());
            }
            Encoding::Data(text, multiline) => {
                put_data_fields(buf, text, *multiline);
                buf.put_slice(id_line.as_bytes());
            }
            Encoding::Checkpoint => buf.put_slice(id_line.as_bytes()),
            Encoding::Plain(message) => message.encode(buf),
            Encoding::Shared(frame) => buf.put_slice(frame),
            Encoding::Fields(frame) => {
                for line in lines(frame).filter(|line| field(line) != b"id") {
                    buf.put_slice(line);
                    buf.put_u8(b'\n');
                }
                buf.put_slice(id_line.as_bytes());
            }
        }
    }
}

/// The lines of an encoded frame (the encoder's: each ends with `\n`, then a
/// blank line), blank ones left out.
fn lines(frame: &[u8]) -> impl Iterator<Item = &[u8]> {
    frame.split(|&b| b == b'\n').filter(|line| !line.is_empty())
}

/// A line's field name: what comes before its first colon.
fn field(line: &[u8]) -> &[u8] {
    let end = line.iter().position(|&b| b == b':').unwrap_or(line.len());
    &line[..end]
}

/// The position a `Last-Event-ID` names: canonical decimal digits (no sign, no
/// leading zero), at least 1. Anything else is not one of a stream's ids.
pub(crate) fn parse_position(id: &str) -> Option<u64> {
    let bytes = id.as_bytes();
    if bytes.is_empty() || bytes[0] == b'0' || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    id.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Comment, Event, Frame};
    use std::time::Duration;

    fn framed(message: impl Into<Message>, position: u64) -> Bytes {
        let message = message.into();
        let encoding = Encoding::new(&message);
        let id_line = SequenceIdLine::new(position);
        let mut buf = BytesMut::new();
        encoding.encode(&mut buf, &id_line);
        assert_eq!(buf.len(), encoding.len(&id_line), "the length is exact");
        buf.freeze()
    }

    #[test]
    fn events_and_checkpoints_take_their_position_as_id() {
        let event = Event::new("a\nb")
            .with_event("token")
            .unwrap()
            .with_id("own")
            .unwrap();
        assert_eq!(
            framed(event, 7),
            "event: token\ndata: a\ndata: b\nid: 7\n\n"
        );
        let retried = Event::new("x").with_retry(Duration::from_secs(1));
        assert_eq!(framed(retried, 10), "retry: 1000\ndata: x\nid: 10\n\n");
        assert_eq!(framed(Message::checkpoint("c").unwrap(), 3), "id: 3\n\n");
        assert_eq!(framed("plain", 99), "data: plain\nid: 99\n\n");
        assert_eq!(
            framed(String::from("two\r\nlines"), 100),
            "data: two\ndata: lines\nid: 100\n\n"
        );
    }

    #[test]
    fn comments_and_retry_hints_pass_through_without_ids() {
        assert_eq!(framed(Comment::new("x\ny"), 2), ": x\n: y\n\n");
        assert_eq!(
            framed(Message::retry(Duration::from_millis(5)), 2),
            "retry: 5\n\n"
        );
        assert_eq!(framed(Comment::new("x").to_frame(), 2), ": x\n\n");
    }

    #[test]
    fn frames_encoded_earlier_lose_their_own_ids() {
        let event = Event::new("d")
            .with_event("e")
            .unwrap()
            .with_id("9")
            .unwrap();
        assert_eq!(framed(event.to_frame(), 4), "event: e\ndata: d\nid: 4\n\n");
        assert_eq!(framed(Frame::checkpoint("x").unwrap(), 5), "id: 5\n\n");
        assert_eq!(framed(Event::new("").to_frame(), 6), "data: \nid: 6\n\n");
    }

    #[test]
    fn frames_that_dispatch_nothing_are_shared_not_copied() {
        let comment = Message::from(Comment::new("shared").to_frame());
        assert!(Encoding::new(&comment).shared().is_some());
        let event = Message::from(Event::new("x").to_frame());
        assert!(Encoding::new(&event).shared().is_none());
    }

    #[test]
    fn end_frames_name_their_reason_and_position() {
        assert_eq!(
            end_frame(EndReason::Done, 12),
            "event: end\ndata: done\nid: 12\n\n"
        );
        for reason in [EndReason::Done, EndReason::Cancelled, EndReason::Abandoned] {
            let stored = crate::EncodedEvent::new(&reason.event());
            let frame = stored.to_frame("7").expect("a valid id");
            assert_eq!(end_frame(reason, 7), frame.as_bytes(), "the same bytes");
        }
        let abandoned = end_frame(EndReason::Abandoned, 1);
        assert_eq!(abandoned, "event: end\ndata: abandoned\nid: 1\n\n");
        assert_eq!(resync_frame(), "event: resync\ndata: \n\n");
    }

    #[test]
    fn positions_are_canonical_decimals_from_one() {
        assert_eq!(parse_position("1"), Some(1));
        assert_eq!(parse_position("10000"), Some(10_000));
        for id in [
            "",
            "0",
            "01",
            "+1",
            "-1",
            "1 ",
            "x",
            "99999999999999999999999",
        ] {
            assert_eq!(parse_position(id), None, "{id:?}");
        }
    }
}
