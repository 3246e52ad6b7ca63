//! What a per-request stream carries, before it is encoded.

use std::borrow::Cow;
use std::time::Duration;

use bytes::BufMut;

use crate::Frame;
use crate::encode::{
    checkpoint_len, data_fields_len, put_checkpoint, put_data_fields, put_retry_frame,
    retry_frame_len,
};
use crate::event::{Comment, Event, EventError, check_id, has_line_break};

/// One item of a per-request stream: an event, a comment, a retry hint, an id
/// checkpoint, or a frame already encoded.
///
/// A stream given to [`ResponseStream`](super::ResponseStream) yields anything that
/// converts into a `Message`: an [`Event`], a [`Comment`], a [`Frame`], or plain
/// text (a `String` or a `&'static str`, sent as an event's data). Messages are
/// encoded straight into the response's buffer, several at a time, so sending one
/// costs no allocation of its own.
///
/// A message outlives the code that made it (it waits in a channel, or in the
/// response), so it owns its text: a `String` (alone, or in an event) is moved in,
/// never copied, and plain `&'static str` text is kept as it is; an event or a
/// comment that borrows its text (`Event::new(&text)`, or `Event::new("literal")`)
/// is copied once, when it becomes a message ([`Event::into_owned`]). Send owned
/// text on a hot path.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sse_core::{Comment, Event, Message};
///
/// let messages: Vec<Message> = vec![
///     Message::retry(Duration::from_secs(2)),
///     Comment::new("thinking").into(),
///     "a token".into(),
///     Event::new("{\"done\":true}").with_event("end")?.into(),
///     Message::checkpoint("job-7/3")?,
/// ];
/// let wire: Vec<u8> = messages.iter().flat_map(|m| m.to_frame().into_bytes()).collect();
/// assert_eq!(
///     String::from_utf8(wire).unwrap(),
///     "retry: 2000\n\n: thinking\n\ndata: a token\n\nevent: end\ndata: {\"done\":true}\n\nid: job-7/3\n\n",
/// );
/// # Ok::<(), sse_core::EventError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message(Kind);

/// What a message is (resumable streams encode each kind their own way).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Event(Event<'static>),
    /// Plain text, an event's data alone (the common token): smaller than an
    /// event, and encoded without looking at fields it cannot have.
    Data {
        text: Cow<'static, str>,
        /// Whether `text` holds a line break (one `data:` line per line then).
        multiline: bool,
    },
    Comment(Comment<'static>),
    Retry(Duration),
    /// A checked id.
    Checkpoint(String),
    Frame(Frame),
}

impl Message {
    /// A retry hint: the client's reconnection delay becomes `retry`, and nothing is
    /// dispatched (see [`Event::with_retry`] for how it is rounded).
    #[must_use]
    pub fn retry(retry: Duration) -> Self {
        Message(Kind::Retry(retry))
    }

    /// An id-only frame (see [`Frame::checkpoint`]): the client's last event id
    /// moves to `id`, and nothing is dispatched. A stream that can be resumed sends
    /// one after each step it could resume from.
    ///
    /// # Errors
    ///
    /// As [`Event::with_id`]: a line break or NUL in `id`.
    pub fn checkpoint<'a>(id: impl Into<Cow<'a, str>>) -> Result<Self, EventError> {
        let id = id.into();
        check_id(&id)?;
        Ok(Message(Kind::Checkpoint(id.into_owned())))
    }

    /// What the message is.
    pub(crate) fn kind(&self) -> &Kind {
        &self.0
    }

    /// The exact number of bytes [`encode`](Self::encode) writes.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        match &self.0 {
            Kind::Event(event) => event.encoded_len(),
            Kind::Data { text, multiline } => data_fields_len(text, *multiline) + 1,
            Kind::Comment(comment) => comment.encoded_len(),
            Kind::Retry(retry) => retry_frame_len(*retry),
            Kind::Checkpoint(id) => checkpoint_len(id),
            Kind::Frame(frame) => frame.len(),
        }
    }

    /// Writes the message's frame to `buf`: exactly
    /// [`encoded_len`](Self::encoded_len) bytes, what [`to_frame`](Self::to_frame)
    /// holds.
    pub fn encode<B: BufMut + ?Sized>(&self, buf: &mut B) {
        match &self.0 {
            Kind::Event(event) => event.encode(buf),
            Kind::Data { text, multiline } => {
                put_data_fields(buf, text, *multiline);
                buf.put_u8(b'\n');
            }
            Kind::Comment(comment) => comment.encode(buf),
            Kind::Retry(retry) => put_retry_frame(buf, *retry),
            Kind::Checkpoint(id) => put_checkpoint(buf, id),
            Kind::Frame(frame) => buf.put_slice(frame.as_bytes()),
        }
    }

    /// The message as a frame of its own.
    #[must_use]
    pub fn to_frame(&self) -> Frame {
        match &self.0 {
            Kind::Frame(frame) => frame.clone(),
            _ => {
                let mut buf = bytes::BytesMut::with_capacity(self.encoded_len());
                self.encode(&mut buf);
                Frame::from_encoded(buf.freeze())
            }
        }
    }
}

impl<'a> From<Event<'a>> for Message {
    /// The event, owned: what it borrows is copied ([`Event::into_owned`]), what it
    /// owns is moved.
    #[inline]
    fn from(event: Event<'a>) -> Self {
        Message(Kind::Event(event.into_owned()))
    }
}

impl<'a> From<Comment<'a>> for Message {
    /// The comment, owned: borrowed text is copied, owned text moved.
    #[inline]
    fn from(comment: Comment<'a>) -> Self {
        Message(Kind::Comment(comment.into_owned()))
    }
}

impl From<Frame> for Message {
    /// A frame encoded earlier (shared with other responses, say): copied into the
    /// response as it is.
    fn from(frame: Frame) -> Self {
        Message(Kind::Frame(frame))
    }
}

impl Message {
    fn data(text: Cow<'static, str>) -> Self {
        let multiline = has_line_break(&text);
        Message(Kind::Data { text, multiline })
    }
}

impl From<String> for Message {
    /// An event with this data and nothing else.
    #[inline]
    fn from(data: String) -> Self {
        Message::data(Cow::Owned(data))
    }
}

impl From<&'static str> for Message {
    /// An event with this data and nothing else (not copied).
    #[inline]
    fn from(data: &'static str) -> Self {
        Message::data(Cow::Borrowed(data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(message: impl Into<Message>) -> bytes::Bytes {
        let message = message.into();
        let mut buf = Vec::new();
        message.encode(&mut buf);
        assert_eq!(buf.len(), message.encoded_len(), "encoded_len is exact");
        assert_eq!(message.to_frame().as_bytes(), &buf[..], "to_frame agrees");
        buf.into()
    }

    #[test]
    fn plain_text_encodes_as_an_event_with_that_data() {
        for text in ["a token", "", "a\r\nb\rc\nd", "trailing\n", "\r"] {
            let event = Event::new(text).to_frame();
            assert_eq!(wire(text), event.as_bytes(), "{text:?}");
            assert_eq!(wire(text.to_owned()), event.as_bytes(), "{text:?}");
        }
    }

    #[test]
    fn each_kind_encodes_as_the_encoder_does() {
        let event = Event::new("a\r\nb").with_id("7").expect("valid");
        assert_eq!(wire(event.clone()), event.to_frame().as_bytes());
        let comment = Comment::new("x\ny");
        assert_eq!(wire(comment.clone()), comment.to_frame().as_bytes());
        let retry = Duration::from_micros(1_500);
        assert_eq!(wire(Message::retry(retry)), Frame::retry(retry).as_bytes());
        let checkpoint = Message::checkpoint("c-1").expect("valid");
        assert_eq!(wire(checkpoint), "id: c-1\n\n");
        let frame = Event::new("shared").to_frame();
        assert_eq!(wire(frame.clone()), frame.as_bytes());
        assert_eq!(wire("plain"), "data: plain\n\n");
        assert_eq!(wire(String::from("")), "data: \n\n");
    }

    #[test]
    fn borrowed_text_is_copied_into_the_message() {
        let text = String::from("borrowed");
        let event: Message = Event::new(text.as_str())
            .with_id(&text)
            .expect("valid")
            .into();
        let comment: Message = Comment::new(text.as_str()).into();
        let checkpoint = Message::checkpoint(text.as_str()).expect("valid");
        drop(text);
        assert_eq!(wire(event), "id: borrowed\ndata: borrowed\n\n");
        assert_eq!(wire(comment), ": borrowed\n\n");
        assert_eq!(wire(checkpoint), "id: borrowed\n\n");
    }

    #[test]
    fn checkpoints_refuse_ids_that_would_forge_fields() {
        assert_eq!(
            Message::checkpoint("1\ndata: x"),
            Err(EventError::LineBreakInId)
        );
        assert_eq!(Message::checkpoint("1\r"), Err(EventError::LineBreakInId));
        assert_eq!(Message::checkpoint("1\0"), Err(EventError::NulInId));
        assert_eq!(wire(Message::checkpoint("").expect("valid")), "id: \n\n");
    }
}
