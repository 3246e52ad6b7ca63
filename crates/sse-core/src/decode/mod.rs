//! The incremental decoder: bytes, in chunks of any size, into events.
//!
//! It follows the WHATWG `EventSource` processing model ("Interpreting an event
//! stream") to the letter:
//!
//! - one leading byte order mark is stripped;
//! - lines end with CR, LF or CRLF, also when the CR and the LF arrive in different
//!   chunks;
//! - a line starting with `:` is a comment;
//! - a line without a colon is a field name with an empty value;
//! - exactly one space after the colon is stripped;
//! - `event` sets the type, `data` appends a line, `id` sets the last event id unless
//!   it contains NUL (an empty `id` resets it), `retry` is taken only if it is all
//!   ASCII digits; other fields are ignored;
//! - a blank line dispatches the event, unless no `data` line was seen;
//! - an event not ended by a blank line when the stream ends is discarded.
//!
//! Text is decoded as UTF-8, with invalid sequences replaced by U+FFFD.
//!
//! Every byte is scanned once and copied at most once: a complete line is read
//! straight from the chunk, and only the unfinished tail of a chunk is kept until the
//! next one arrives. Memory is bounded by [`DecodeLimits`].

mod stream;

pub use stream::{EventStream, EventStreamError};

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use crate::scan::find_line_break;

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// What the decoder produces.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decoded {
    /// An event, dispatched by a blank line.
    Event(MessageEvent),
    /// A valid `retry:` field: the server asks the client to wait this long before
    /// reconnecting. Reported when the field is read, as browsers apply it.
    Retry(Duration),
    /// A comment line, without the `:` and without one leading space. Clients ignore
    /// comments; servers send them as keep-alives.
    Comment(String),
}

/// A dispatched event, as a browser's `MessageEvent` would show it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct MessageEvent {
    /// The event type: the last `event:` field's value, or `"message"` when there was
    /// none or it was empty (borrowed then, so the usual event allocates nothing for
    /// its type). Compare it as text: `event.event_type == "update"`.
    pub event_type: Cow<'static, str>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    /// The last event id in force when the event was dispatched (ids persist across
    /// events until the server changes or resets them). Empty when none.
    pub last_event_id: String,
}

/// Bounds on what the decoder holds in memory.
///
/// ```
/// # use sse_core::{DecodeLimits, Decoder};
/// let decoder = Decoder::with_limits(
///     DecodeLimits::default().max_line_len(4096).max_event_len(64 * 1024),
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeLimits {
    /// The longest line accepted, in bytes, without its line end; also the longest
    /// field value once decoded as UTF-8 (invalid bytes grow threefold into U+FFFD).
    /// Default 1 MiB.
    pub max_line_len: usize,
    /// The largest event accepted: the bytes of its decoded data, with a `\n`
    /// between lines. Default 4 MiB.
    pub max_event_len: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_line_len: 1 << 20,
            max_event_len: 4 << 20,
        }
    }
}

impl DecodeLimits {
    /// Sets [`max_line_len`](Self::max_line_len).
    #[must_use]
    pub fn max_line_len(mut self, bytes: usize) -> Self {
        self.max_line_len = bytes;
        self
    }

    /// Sets [`max_event_len`](Self::max_event_len).
    #[must_use]
    pub fn max_event_len(mut self, bytes: usize) -> Self {
        self.max_event_len = bytes;
        self
    }
}

/// Why decoding stopped. The stream cannot be trusted after it: the decoder keeps
/// returning the same error, and a client should drop the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeError {
    /// A line was longer than [`DecodeLimits::max_line_len`].
    LineTooLong {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// An event's data was larger than [`DecodeLimits::max_event_len`].
    EventTooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::LineTooLong { limit } => {
                write!(f, "event stream line longer than {limit} bytes")
            }
            DecodeError::EventTooLarge { limit } => {
                write!(f, "event stream event larger than {limit} bytes")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// An incremental `text/event-stream` parser: [`push`](Decoder::push) bytes as they
/// arrive, then take what they completed by iterating.
///
/// The result never depends on how the input was split into chunks.
///
/// # Examples
///
/// ```
/// use sse_core::{Decoded, Decoder};
///
/// let mut decoder = Decoder::new();
/// decoder.push(b"id: 7\r\ndata: hel")?;
/// assert_eq!(decoder.next(), None); // Not finished yet.
/// decoder.push(b"lo\r\n\r\n")?;
/// match decoder.next() {
///     Some(Decoded::Event(event)) => {
///         assert_eq!((event.data.as_str(), event.last_event_id.as_str()), ("hello", "7"));
///     }
///     other => panic!("expected an event, got {other:?}"),
/// }
/// # Ok::<(), sse_core::DecodeError>(())
/// ```
#[derive(Debug, Default)]
pub struct Decoder {
    limits: DecodeLimits,
    /// How much of a leading BOM has been matched, while still at the stream start.
    start: Start,
    /// The unfinished line carried over from the previous chunk.
    partial: Vec<u8>,
    /// The previous chunk ended with CR: an LF starting the next one belongs to it.
    after_cr: bool,
    data: String,
    /// The length of the last event's data: the capacity to start the next one with,
    /// so multi-line data is gathered in one allocation.
    data_hint: usize,
    event_type: String,
    id_buffer: String,
    last_event_id: String,
    /// Whether at least one `data` field was seen in the current event (the data
    /// buffer alone cannot tell `data:` from no data at all).
    has_data: bool,
    ready: VecDeque<Decoded>,
    failed: Option<DecodeError>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Start {
    /// Nothing seen yet, or this many bytes of a BOM.
    #[default]
    Bom0,
    Bom1,
    Bom2,
    /// Past the stream start.
    Done,
}

impl Decoder {
    /// A decoder with the default [`DecodeLimits`].
    #[must_use]
    pub fn new() -> Self {
        Decoder::default()
    }

    /// A decoder with the given limits.
    #[must_use]
    pub fn with_limits(limits: DecodeLimits) -> Self {
        Decoder {
            limits,
            ..Decoder::default()
        }
    }

    /// Parses `chunk`; everything it completes is then returned by iteration.
    ///
    /// Items decoded before an error stay available.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] when a line or an event exceeds the limits; from then on
    /// every call returns it again.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), DecodeError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        let chunk = self.strip_bom(chunk)?;
        self.feed(chunk)
            .inspect_err(|&error| self.failed = Some(error))
    }

    /// Ends the stream: an event without its final blank line, and an unfinished
    /// line, are discarded (as the WHATWG model says). The decoder can then start
    /// over on a new stream (after a reconnect), keeping only the last event id.
    pub fn finish(&mut self) {
        let last_event_id = std::mem::take(&mut self.last_event_id);
        let limits = self.limits;
        let ready = std::mem::take(&mut self.ready);
        *self = Decoder {
            limits,
            id_buffer: last_event_id.clone(),
            last_event_id,
            ready,
            ..Decoder::default()
        };
    }

    /// The id a client sends back as `Last-Event-ID` when it reconnects: the last
    /// id set by the server when the latest event was dispatched.
    ///
    /// That is the latest event *decoded*, which may be ahead of the latest one you
    /// took out (several events can arrive in one chunk): to resume exactly after
    /// what you processed, use that event's [`MessageEvent::last_event_id`].
    #[must_use]
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// Holds back a possible BOM split across chunks; returns what is left to feed.
    fn strip_bom<'c>(&mut self, mut chunk: &'c [u8]) -> Result<&'c [u8], DecodeError> {
        while !chunk.is_empty() {
            let matched = match self.start {
                Start::Done => break,
                Start::Bom0 => 0,
                Start::Bom1 => 1,
                Start::Bom2 => 2,
            };
            if chunk[0] != BOM[matched] {
                // Not a BOM after all: the bytes held back are ordinary text.
                self.start = Start::Done;
                self.feed(&BOM[..matched])?;
                break;
            }
            chunk = &chunk[1..];
            self.start = match matched {
                0 => Start::Bom1,
                1 => Start::Bom2,
                _ => Start::Done,
            };
        }
        Ok(chunk)
    }

    fn feed(&mut self, mut chunk: &[u8]) -> Result<(), DecodeError> {
        if self.after_cr && !chunk.is_empty() {
            self.after_cr = false;
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
        }
        while let Some(end) = find_line_break(chunk) {
            let (line, rest) = chunk.split_at(end);
            if self.partial.is_empty() {
                self.check_line_len(line.len())?;
                self.process_line(line)?;
            } else {
                self.check_line_len(self.partial.len() + line.len())?;
                let mut partial = std::mem::take(&mut self.partial);
                partial.extend_from_slice(line);
                let result = self.process_line(&partial);
                partial.clear();
                self.partial = partial; // Keep the allocation for the next one.
                result?;
            }
            // `rest` starts with the CR or LF that ends the line.
            let width = if rest.starts_with(b"\r\n") { 2 } else { 1 };
            self.after_cr = rest == b"\r";
            chunk = &rest[width..];
        }
        if !chunk.is_empty() {
            self.check_line_len(self.partial.len() + chunk.len())?;
            self.partial.extend_from_slice(chunk);
        }
        Ok(())
    }

    fn check_line_len(&self, len: usize) -> Result<(), DecodeError> {
        let limit = self.limits.max_line_len;
        if len > limit {
            Err(DecodeError::LineTooLong { limit })
        } else {
            Ok(())
        }
    }

    fn process_line(&mut self, line: &[u8]) -> Result<(), DecodeError> {
        if line.is_empty() {
            self.dispatch();
            return Ok(());
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(0) => {
                let text = line[1..].strip_prefix(b" ").unwrap_or(&line[1..]);
                let text = self.text(text)?.into_owned();
                self.ready.push_back(Decoded::Comment(text));
                return Ok(());
            }
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match name {
            b"event" => {
                let text = self.text(value)?;
                self.event_type.clear();
                self.event_type.push_str(&text);
            }
            b"data" => {
                let text = self.text(value)?;
                let separator = usize::from(self.has_data);
                let limit = self.limits.max_event_len;
                if self.data.len() + separator + text.len() > limit {
                    return Err(DecodeError::EventTooLarge { limit });
                }
                if self.has_data {
                    self.data.push('\n');
                } else {
                    self.data.reserve(text.len().max(self.data_hint));
                }
                self.data.push_str(&text);
                self.has_data = true;
            }
            b"id" if !value.contains(&0) => {
                let text = self.text(value)?;
                self.id_buffer.clear();
                self.id_buffer.push_str(&text);
            }
            b"retry" => {
                if let Some(millis) = parse_digits(value) {
                    let retry = Duration::from_millis(millis);
                    self.ready.push_back(Decoded::Retry(retry));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A field value as text: UTF-8, invalid sequences replaced by U+FFFD. Each
    /// replacement takes three bytes for one, so the line limit is checked again on
    /// the text.
    fn text<'v>(&self, value: &'v [u8]) -> Result<Cow<'v, str>, DecodeError> {
        // Valid UTF-8 (the usual case) is checked by the fast validator;
        // `from_utf8_lossy` walks byte by byte.
        let text = match std::str::from_utf8(value) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(value),
        };
        if text.len() > self.limits.max_line_len {
            let limit = self.limits.max_line_len;
            return Err(DecodeError::LineTooLong { limit });
        }
        Ok(text)
    }

    fn dispatch(&mut self) {
        if self.last_event_id != self.id_buffer {
            self.last_event_id.clone_from(&self.id_buffer);
        }
        let event_type = std::mem::take(&mut self.event_type);
        if !std::mem::take(&mut self.has_data) {
            return;
        }
        let event_type = if event_type.is_empty() {
            Cow::Borrowed("message")
        } else {
            Cow::Owned(event_type)
        };
        self.data_hint = self.data.len();
        self.ready.push_back(Decoded::Event(MessageEvent {
            event_type,
            data: std::mem::take(&mut self.data),
            last_event_id: self.last_event_id.clone(),
        }));
    }
}

impl Iterator for Decoder {
    type Item = Decoded;

    /// The next decoded item, if the input pushed so far completed one.
    fn next(&mut self) -> Option<Decoded> {
        self.ready.pop_front()
    }
}

/// ASCII digits only (and at least one), as a number of milliseconds; `None` for
/// anything else, including values too large for a `u64`.
fn parse_digits(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests;
