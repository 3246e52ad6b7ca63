//! What a server sends: events and comments, validated when they are built.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// One Server-Sent Event: data, and optionally a type, an id and a reconnection delay.
///
/// The data may hold any text, line breaks included (`\r\n`, `\r` or `\n`, each one
/// line end); the encoder writes one `data:` line per line, and clients join them
/// back with `\n`. The type and the id are single-line values, checked when they are
/// set: a line break there would let a client read the rest as another field, so it
/// is refused with an [`EventError`] instead.
///
/// Fields borrow where they can ([`Cow`]), so building an event from `&str` values
/// copies nothing until it is encoded.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sse_core::Event;
///
/// let event = Event::new("first line\nsecond line")
///     .with_event("chat")?
///     .with_id("42")?
///     .with_retry(Duration::from_secs(3));
/// assert_eq!(
///     event.to_frame().as_bytes(),
///     "event: chat\nid: 42\nretry: 3000\ndata: first line\ndata: second line\n\n",
/// );
/// # Ok::<(), sse_core::EventError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Event<'a> {
    pub(crate) event: Option<Cow<'a, str>>,
    pub(crate) data: Cow<'a, str>,
    /// Whether `data` holds a line break: found once, when the event is made, so
    /// one-line data (the usual case) is encoded without scanning it again.
    pub(crate) multiline: bool,
    pub(crate) id: Option<Cow<'a, str>>,
    pub(crate) retry: Option<Duration>,
}

impl<'a> Event<'a> {
    /// An event carrying `data`, with no type (clients see a `message` event), no id
    /// and no retry.
    ///
    /// Empty data is still sent as one empty `data:` line, so the event is dispatched.
    #[must_use]
    pub fn new(data: impl Into<Cow<'a, str>>) -> Self {
        let data = data.into();
        Event {
            multiline: has_line_break(&data),
            data,
            ..Event::default()
        }
    }

    /// Sets the event type (the `event:` field), which browsers dispatch to
    /// `addEventListener(type, ..)` listeners.
    ///
    /// # Errors
    ///
    /// [`EventError::LineBreakInEvent`] if `event` contains `\r` or `\n`.
    ///
    /// ```
    /// # use sse_core::{Event, EventError};
    /// assert_eq!(
    ///     Event::new("x").with_event("a\nid: forged"),
    ///     Err(EventError::LineBreakInEvent),
    /// );
    /// ```
    pub fn with_event(mut self, event: impl Into<Cow<'a, str>>) -> Result<Self, EventError> {
        let event = event.into();
        if has_line_break(&event) {
            return Err(EventError::LineBreakInEvent);
        }
        self.event = Some(event);
        Ok(self)
    }

    /// Sets the event id (the `id:` field): the browser keeps it and sends it back as
    /// `Last-Event-ID` when it reconnects. An empty id resets the browser's last id.
    ///
    /// # Errors
    ///
    /// [`EventError::LineBreakInId`] if `id` contains `\r` or `\n`, and
    /// [`EventError::NulInId`] if it contains NUL (clients ignore such an id).
    pub fn with_id(mut self, id: impl Into<Cow<'a, str>>) -> Result<Self, EventError> {
        let id = id.into();
        check_id(&id)?;
        self.id = Some(id);
        Ok(self)
    }

    /// Sets the reconnection delay the client should wait after losing the connection
    /// (the `retry:` field).
    ///
    /// It is written in whole milliseconds, rounded up: a delay under one millisecond
    /// but above zero becomes `retry: 1`, never `retry: 0` (which would mean "reconnect
    /// at once"); `Duration::ZERO` is written as `retry: 0`. Delays beyond `u64::MAX`
    /// milliseconds are written as `u64::MAX`.
    #[must_use]
    pub fn with_retry(mut self, retry: Duration) -> Self {
        self.retry = Some(retry);
        self
    }

    /// The event type, if one was set.
    #[must_use]
    pub fn event(&self) -> Option<&str> {
        self.event.as_deref()
    }

    /// The data, as given (line breaks not yet normalised).
    #[must_use]
    pub fn data(&self) -> &str {
        &self.data
    }

    /// The event id, if one was set.
    #[must_use]
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The reconnection delay, if one was set.
    #[must_use]
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    /// Copies whatever this event borrows, so it can outlive its inputs; what it
    /// owns is moved.
    #[must_use]
    #[inline]
    pub fn into_owned(self) -> Event<'static> {
        Event {
            event: self.event.map(owned),
            data: owned(self.data),
            multiline: self.multiline,
            id: self.id.map(owned),
            retry: self.retry,
        }
    }
}

#[cfg(feature = "json")]
impl Event<'static> {
    /// An event whose data is `value` serialised as JSON (feature `json`).
    ///
    /// Compact JSON never contains a raw line break (strings escape them), so the
    /// data is one `data:` line, copied into the frame as it is, without a scan.
    ///
    /// # Errors
    ///
    /// Whatever [`serde_json::to_string`] reports for `value`.
    ///
    /// ```
    /// # use sse_core::Event;
    /// let event = Event::json(&serde_json::json!({"text": "a\nb"}))?;
    /// assert_eq!(event.to_frame().as_bytes(), "data: {\"text\":\"a\\nb\"}\n\n");
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        let data = serde_json::to_string(value)?;
        debug_assert!(!has_line_break(&data), "compact JSON is one line");
        Ok(Event {
            data: Cow::Owned(data),
            ..Event::default()
        })
    }
}

/// A comment: lines starting with `:` that clients ignore. Used for keep-alive
/// and for anything meant for humans reading the raw stream.
///
/// A comment containing line breaks is written as several comment lines, so it can
/// never turn into a field. Like [`Event`], it borrows its text where it can;
/// [`into_owned`](Self::into_owned) makes it `'static`, as a per-request stream's
/// items must be.
///
/// # Examples
///
/// ```
/// use sse_core::Comment;
///
/// let comment = Comment::new("line one\r\nline two");
/// assert_eq!(comment.to_frame().as_bytes(), ": line one\n: line two\n\n");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Comment<'a> {
    pub(crate) text: Cow<'a, str>,
}

impl<'a> Comment<'a> {
    /// A comment with `text`, which may contain line breaks.
    #[must_use]
    pub fn new(text: impl Into<Cow<'a, str>>) -> Self {
        Comment { text: text.into() }
    }

    /// The comment's text, as given.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Copies whatever this comment borrows, so it can outlive its input.
    ///
    /// ```
    /// # use sse_core::Comment;
    /// let text = String::from("progress: 50%");
    /// let comment: Comment<'static> = Comment::new(text.as_str()).into_owned();
    /// drop(text);
    /// assert_eq!(comment.text(), "progress: 50%");
    /// ```
    #[must_use]
    #[inline]
    pub fn into_owned(self) -> Comment<'static> {
        Comment {
            text: owned(self.text),
        }
    }
}

/// `text`, owned: moved if it is, copied if borrowed.
#[inline]
fn owned(text: Cow<'_, str>) -> Cow<'static, str> {
    match text {
        Cow::Borrowed(text) => Cow::Owned(text.to_owned()),
        Cow::Owned(text) => Cow::Owned(text),
    }
}

/// Why an [`Event`] field was refused.
///
/// Each variant is a value that, written as is, would corrupt the stream: a line
/// break ends the field early and lets whatever follows be read as another field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventError {
    /// The event type contains `\r` or `\n`.
    LineBreakInEvent,
    /// The id contains `\r` or `\n`.
    LineBreakInId,
    /// The id contains NUL, which makes clients ignore the id.
    NulInId,
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventError::LineBreakInEvent => "event type contains a line break",
            EventError::LineBreakInId => "event id contains a line break",
            EventError::NulInId => "event id contains a NUL character",
        })
    }
}

impl std::error::Error for EventError {}

/// Checks that `id` can be written as an `id:` field.
pub(crate) fn check_id(id: &str) -> Result<(), EventError> {
    if has_line_break(id) {
        Err(EventError::LineBreakInId)
    } else if id.as_bytes().contains(&0) {
        Err(EventError::NulInId)
    } else {
        Ok(())
    }
}

/// Whether `value` holds a `\r` or a `\n`.
pub(crate) fn has_line_break(value: &str) -> bool {
    crate::scan::find_line_break(value.as_bytes()).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_line_breaks_in_event_type() {
        for bad in ["a\nb", "a\rb", "a\r\nb", "\n", "trailing\r"] {
            assert_eq!(
                Event::new("").with_event(bad),
                Err(EventError::LineBreakInEvent)
            );
        }
    }

    #[test]
    fn refuses_line_breaks_and_nul_in_id() {
        for bad in ["1\n2", "1\r", "\r\n"] {
            assert_eq!(Event::new("").with_id(bad), Err(EventError::LineBreakInId));
        }
        assert_eq!(Event::new("").with_id("1\0x"), Err(EventError::NulInId));
    }

    #[test]
    fn accepts_any_other_text() {
        let event = Event::new("d")
            .with_event("ünïcødé type\t with: colon")
            .and_then(|e| e.with_id(" spaced id "))
            .expect("valid fields");
        assert_eq!(event.event(), Some("ünïcødé type\t with: colon"));
        assert_eq!(event.id(), Some(" spaced id "));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(
            EventError::NulInId.to_string(),
            "event id contains a NUL character"
        );
    }

    #[test]
    fn into_owned_keeps_every_field() {
        let text = String::from("data");
        let event = Event::new(text.as_str())
            .with_id("7")
            .expect("valid id")
            .with_retry(Duration::from_millis(5));
        let owned: Event<'static> = event.clone().into_owned();
        drop(text);
        assert_eq!(owned.data(), "data");
        assert_eq!(owned.id(), Some("7"));
        assert_eq!(owned.retry(), Some(Duration::from_millis(5)));
    }
}
