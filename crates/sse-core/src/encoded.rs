//! Events encoded once and named later: what a backplane stores and relays.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::Frame;
use crate::encode::{id_field_len, put_event_field, put_id_field};
use crate::event::{Event, EventError, check_id};

/// An event encoded once without its id, for a backplane: the bytes stored in an
/// external log (Redis Streams, say), and given the id that log assigns when relayed
/// to a hub ([`Hub::relay`](crate::Hub::relay)) or replayed
/// ([`to_frame`](Self::to_frame)).
///
/// It holds the event's `event`, `retry` and `data` fields, each `name: value\n`,
/// without the blank line that ends a frame. Bytes read back from outside are
/// checked by [`from_bytes`](Self::from_bytes), so they can never forge an id or
/// split into two events.
///
/// ```
/// use sse_core::{EncodedEvent, Event};
///
/// let stored = EncodedEvent::new(&Event::new("hello").with_event("greeting")?);
/// assert_eq!(stored.as_bytes(), "event: greeting\ndata: hello\n");
///
/// let read_back = EncodedEvent::from_bytes(stored.as_bytes().clone())?;
/// let frame = read_back.to_frame("1700000000000-0")?;
/// assert_eq!(frame.as_bytes(), "event: greeting\ndata: hello\nid: 1700000000000-0\n\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EncodedEvent(Bytes);

impl EncodedEvent {
    /// Encodes every field of `event` but its id (the external log names it).
    #[must_use]
    pub fn new(event: &Event<'_>) -> Self {
        let id_len = event.id().map_or(0, |id| id_field_len(id.len()));
        let mut buf = BytesMut::with_capacity(event.encoded_len() - 1 - id_len);
        if let Some(kind) = event.event() {
            put_event_field(&mut buf, kind);
        }
        event.encode_retry_and_data(&mut buf);
        EncodedEvent(buf.freeze())
    }

    /// Checks bytes read back from an external log: UTF-8 lines, each ending with
    /// `\n`, none blank, none with `\r`, and no `id` field.
    ///
    /// # Errors
    ///
    /// [`EncodedEventError`] naming the first rule broken.
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Result<Self, EncodedEventError> {
        let bytes = bytes.into();
        let text = std::str::from_utf8(&bytes).map_err(|_| EncodedEventError::NotUtf8)?;
        if text.contains('\r') {
            return Err(EncodedEventError::CarriageReturn);
        }
        let Some(body) = text.strip_suffix('\n') else {
            return if text.is_empty() {
                Ok(EncodedEvent(bytes))
            } else {
                Err(EncodedEventError::UnterminatedLine)
            };
        };
        for line in body.split('\n') {
            if line.is_empty() {
                return Err(EncodedEventError::BlankLine);
            }
            if line == "id" || line.starts_with("id:") {
                return Err(EncodedEventError::IdField);
            }
        }
        Ok(EncodedEvent(bytes))
    }

    /// The encoded fields.
    #[must_use]
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// The complete frame, with `id` as its id.
    ///
    /// # Errors
    ///
    /// When `id` contains a line break or NUL.
    pub fn to_frame(&self, id: &str) -> Result<Frame, EventError> {
        let mut buf = BytesMut::with_capacity(self.frame_len(id));
        self.put_with_id(&mut buf, id)?;
        buf.put_u8(b'\n');
        Ok(Frame::from_encoded(buf.freeze()))
    }

    /// The length of the frame [`to_frame`](Self::to_frame) makes.
    pub(crate) fn frame_len(&self, id: &str) -> usize {
        self.0.len() + id_field_len(id.len()) + 1
    }

    /// Writes the fields and the `id` field, but not the blank line that ends the
    /// frame.
    pub(crate) fn put_with_id(&self, buf: &mut BytesMut, id: &str) -> Result<(), EventError> {
        check_id(id)?;
        buf.put_slice(&self.0);
        put_id_field(buf, id);
        Ok(())
    }
}

impl fmt::Debug for EncodedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EncodedEvent")
            .field(&String::from_utf8_lossy(&self.0))
            .finish()
    }
}

/// Why bytes are not an [`EncodedEvent`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EncodedEventError {
    /// The bytes are not UTF-8.
    NotUtf8,
    /// A `\r`, which clients read as a line break.
    CarriageReturn,
    /// The last line does not end with `\n`.
    UnterminatedLine,
    /// A blank line, which would end the event early.
    BlankLine,
    /// An `id` field: the external log gives the id.
    IdField,
}

impl fmt::Display for EncodedEventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EncodedEventError::NotUtf8 => "encoded event is not UTF-8",
            EncodedEventError::CarriageReturn => "encoded event contains a carriage return",
            EncodedEventError::UnterminatedLine => "encoded event does not end with a line feed",
            EncodedEventError::BlankLine => "encoded event contains a blank line",
            EncodedEventError::IdField => "encoded event contains an id field",
        })
    }
}

impl std::error::Error for EncodedEventError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn encodes_every_field_but_the_id() {
        let event = Event::new("a\nb")
            .with_event("kind")
            .and_then(|e| e.with_id("own"))
            .expect("valid")
            .with_retry(Duration::from_millis(1500));
        let encoded = EncodedEvent::new(&event);
        assert_eq!(
            encoded.as_bytes(),
            "event: kind\nretry: 1500\ndata: a\ndata: b\n"
        );
    }

    #[test]
    fn reads_back_what_it_wrote() {
        for data in ["", "x", "a\r\nb\rc\n", " lead"] {
            let encoded = EncodedEvent::new(&Event::new(data));
            assert_eq!(EncodedEvent::from_bytes(encoded.0.clone()), Ok(encoded));
        }
        assert!(EncodedEvent::from_bytes(Bytes::new()).is_ok());
    }

    #[test]
    fn refuses_bytes_that_would_corrupt_the_stream() {
        let cases: [(&[u8], EncodedEventError); 7] = [
            (b"data: \xff\n", EncodedEventError::NotUtf8),
            (b"data: a\rdata: b\n", EncodedEventError::CarriageReturn),
            (b"data: a", EncodedEventError::UnterminatedLine),
            (b"data: a\n\ndata: b\n", EncodedEventError::BlankLine),
            (b"\n", EncodedEventError::BlankLine),
            (b"data: a\nid: 7\n", EncodedEventError::IdField),
            (b"id\n", EncodedEventError::IdField),
        ];
        for (bytes, error) in cases {
            assert_eq!(
                EncodedEvent::from_bytes(bytes.to_vec()),
                Err(error),
                "{bytes:?}"
            );
        }
        assert!(EncodedEvent::from_bytes(b"identity: x\ndata: a\n".to_vec()).is_ok());
    }

    #[test]
    fn frames_carry_the_given_id_and_refuse_a_broken_one() {
        let encoded = EncodedEvent::new(&Event::new("x"));
        let frame = encoded.to_frame("5-1").expect("a valid id");
        assert_eq!(frame.as_bytes(), "data: x\nid: 5-1\n\n");
        assert_eq!(frame.len(), encoded.frame_len("5-1"));
        assert_eq!(encoded.to_frame("a\nb"), Err(EventError::LineBreakInId));
        assert_eq!(encoded.to_frame("a\0"), Err(EventError::NulInId));
    }
}
