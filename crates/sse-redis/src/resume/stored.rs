//! Messages as a stream's entries hold them, as `sse-core`'s resumable streams
//! number them: an event (or a checkpoint) is stored without an id of its own and
//! sent with its entry's id; a comment or a retry hint is stored as it is and sent
//! without an id.

use std::time::Duration;

use bytes::Bytes;
use sse_core::{Comment, EncodedEvent, Message};

use super::errors::InvalidMessage;

/// The field of an entry holding an event's fields (the backplane's name).
pub(crate) use crate::entry::EVENT_FIELD;
/// The field of an entry holding a comment or a retry hint, whole.
pub(crate) const PLAIN_FIELD: &str = "c";

/// A message ready to be stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Stored {
    /// An event's fields but any id (a checkpoint has none): numbered when read.
    Event(EncodedEvent),
    /// A frame that carries no id (a comment, a retry hint): sent as it is.
    Plain(Bytes),
}

impl Stored {
    /// `message` as an entry holds it, within `max_bytes`.
    pub(crate) fn new(message: &Message, max_bytes: usize) -> Result<Stored, InvalidMessage> {
        let frame = message.to_frame().into_bytes();
        let body = frame.strip_suffix(b"\n").unwrap_or(&frame);
        let name = |line: &[u8]| line.split(|&b| b == b':').next().unwrap_or(line).to_vec();
        let lines = || body.split(|&b| b == b'\n').filter(|line| !line.is_empty());
        let numbered = lines().any(|line| matches!(&name(line)[..], b"data" | b"id"));
        let stored = if numbered {
            let mut fields = Vec::with_capacity(body.len());
            for line in lines().filter(|line| name(line) != b"id") {
                fields.extend_from_slice(line);
                fields.push(b'\n');
            }
            Stored::Event(EncodedEvent::from_bytes(fields).map_err(InvalidMessage::Encoding)?)
        } else {
            Stored::Plain(frame.clone())
        };
        if stored.bytes().len() > max_bytes {
            return Err(InvalidMessage::TooLarge);
        }
        Ok(stored)
    }

    /// The entry's field name and value.
    pub(crate) fn field(&self) -> (&'static str, &Bytes) {
        match self {
            Stored::Event(event) => (EVENT_FIELD, event.as_bytes()),
            Stored::Plain(frame) => (PLAIN_FIELD, frame),
        }
    }

    pub(crate) fn bytes(&self) -> &Bytes {
        self.field().1
    }
}

/// The message of a plain entry (`c`): a comment or a retry hint, as the
/// encoder wrote it; `None` for anything else (not written by this crate).
pub(crate) fn plain_message(frame: &[u8]) -> Option<Message> {
    let text = std::str::from_utf8(frame).ok()?.strip_suffix("\n\n")?;
    if let Some(millis) = text.strip_prefix("retry: ") {
        let millis = millis.parse().ok()?;
        return Some(Message::retry(Duration::from_millis(millis)));
    }
    let mut comment = Vec::new();
    for line in text.split('\n') {
        comment.push(line.strip_prefix(": ")?);
    }
    Some(Comment::new(comment.join("\n")).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sse_core::Event;

    fn stored(message: impl Into<Message>) -> Stored {
        Stored::new(&message.into(), 1 << 20).expect("storable")
    }

    #[test]
    fn events_lose_their_own_ids_and_checkpoints_keep_only_their_place() {
        let event = Event::new("a\nb")
            .with_event("token")
            .unwrap()
            .with_id("mine")
            .unwrap();
        let Stored::Event(fields) = stored(event) else {
            panic!("an event");
        };
        assert_eq!(fields.as_bytes(), "event: token\ndata: a\ndata: b\n");
        let Stored::Event(fields) = stored(Message::checkpoint("x").unwrap()) else {
            panic!("numbered");
        };
        assert!(fields.as_bytes().is_empty());
    }

    #[test]
    fn comments_and_retry_hints_are_kept_whole_and_read_back() {
        let comment: Message = Comment::new("two\nlines").into();
        let retry = Message::retry(Duration::from_millis(2500));
        for message in [comment, retry, Comment::new("").into()] {
            let Stored::Plain(frame) = stored(message.clone()) else {
                panic!("plain: {message:?}");
            };
            assert_eq!(frame, message.to_frame().into_bytes());
            assert_eq!(plain_message(&frame), Some(message));
        }
        for foreign in ["data: x\n\n", "retry: x\n\n", ": a", "no colon\n\n"] {
            assert_eq!(plain_message(foreign.as_bytes()), None, "{foreign:?}");
        }
    }

    #[test]
    fn messages_over_the_bound_are_refused() {
        // Stored as "data: " and the 100 bytes and a line feed: 107 bytes.
        let message: Message = "x".repeat(100).into();
        assert_eq!(Stored::new(&message, 106), Err(InvalidMessage::TooLarge));
        assert!(Stored::new(&message, 107).is_ok());
    }
}
