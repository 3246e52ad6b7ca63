//! The wire format of a resumable stream: each message's id is its position, and
//! the two events the stream sends of its own, `end` and `resync`.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::encode::{SequenceIdLine, put_event_field, sequence_id_and_end_len};
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

/// A message encoded for a resumable stream, before its position is known.
pub(crate) enum Encoding {
    /// An event or a checkpoint: its fields but its own id; the `id` line of its
    /// position and the blank line follow.
    Numbered(BytesMut),
    /// A comment or a retry hint, which carry no id: the whole frame.
    Plain(Bytes),
}

impl Encoding {
    /// Encodes `message`; `position` is the position it will most likely get, to
    /// size the buffer so the id fits without growing it.
    pub(crate) fn new(message: &Message, position: u64) -> Self {
        let id_len = sequence_id_and_end_len(position);
        match message.kind() {
            Kind::Event(event) => {
                let own_id = event.id().map_or(0, |id| b"id: \n".len() + id.len());
                let mut fields = BytesMut::with_capacity(event.encoded_len() - 1 - own_id + id_len);
                if let Some(kind) = event.event() {
                    put_event_field(&mut fields, kind);
                }
                event.encode_retry_and_data(&mut fields);
                Encoding::Numbered(fields)
            }
            Kind::Checkpoint(_) => Encoding::Numbered(BytesMut::with_capacity(id_len)),
            Kind::Comment(_) | Kind::Retry(_) => {
                let mut frame = BytesMut::with_capacity(message.encoded_len());
                message.encode(&mut frame);
                Encoding::Plain(frame.freeze())
            }
            Kind::Frame(frame) => Self::of_frame(frame.as_bytes(), id_len),
        }
    }

    /// A frame encoded earlier: one that dispatches an event (it has a `data`
    /// field) or moves the last event id (an `id` field) loses its `id` fields and
    /// is numbered; any other (a comment, a retry hint) is kept as it is.
    fn of_frame(frame: &Bytes, id_len: usize) -> Self {
        // The encoder's frames: lines ending with `\n`, then a blank line.
        let body = frame.strip_suffix(b"\n").unwrap_or(frame);
        let field =
            |line: &[u8]| -> usize { line.iter().position(|&b| b == b':').unwrap_or(line.len()) };
        let lines = || body.split(|&b| b == b'\n').filter(|line| !line.is_empty());
        let numbered = lines().any(|line| {
            let name = &line[..field(line)];
            name == b"data" || name == b"id"
        });
        if !numbered {
            return Encoding::Plain(frame.clone());
        }
        let mut fields = BytesMut::with_capacity(body.len() + id_len);
        for line in lines().filter(|line| &line[..field(line)] != b"id") {
            fields.put_slice(line);
            fields.put_u8(b'\n');
        }
        Encoding::Numbered(fields)
    }

    /// The frame, given the id line of its position (`id: <position>` and the
    /// blank line).
    pub(crate) fn into_frame(self, id_line: &SequenceIdLine) -> Bytes {
        match self {
            Encoding::Numbered(mut fields) => {
                fields.put_slice(id_line.as_bytes());
                fields.freeze()
            }
            Encoding::Plain(frame) => frame,
        }
    }
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
        Encoding::new(&message.into(), position).into_frame(&SequenceIdLine::new(position))
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
    fn exact_sizes_need_no_growth() {
        let message = Message::from(Event::new("token").with_id("long own id").unwrap());
        let Encoding::Numbered(fields) = Encoding::new(&message, 12) else {
            panic!("numbered")
        };
        let capacity = fields.capacity();
        let frame = Encoding::Numbered(fields).into_frame(&SequenceIdLine::new(12));
        assert_eq!(frame.len(), capacity);
    }

    #[test]
    fn end_frames_name_their_reason_and_position() {
        assert_eq!(
            end_frame(EndReason::Done, 12),
            "event: end\ndata: done\nid: 12\n\n"
        );
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
