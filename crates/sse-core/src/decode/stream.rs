//! A [`Stream`] adapter: a stream of byte chunks in, decoded items out.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::{DecodeError, Decoded, Decoder};

/// Decodes a [`Stream`] of byte chunks (an HTTP response body, say) into
/// [`Decoded`] items.
///
/// The inner stream must be [`Unpin`]; pin it with [`Box::pin`] if it is not. When it
/// ends, an unfinished event is discarded and the stream ends.
///
/// # Examples
///
/// ```
/// use futures_lite::{StreamExt, future, stream};
/// use sse_core::{Decoded, EventStream};
///
/// let chunks = stream::iter([Ok::<_, std::io::Error>(&b"data: a\n"[..]), Ok(b"\ndata: b")]);
/// let items: Vec<_> = future::block_on(EventStream::new(chunks).collect());
/// assert_eq!(items.len(), 1); // "b" never got its blank line.
/// assert!(matches!(&items[0], Ok(Decoded::Event(e)) if e.data == "a"));
/// ```
#[derive(Debug)]
pub struct EventStream<S> {
    /// `None` once the chunks ended or failed.
    chunks: Option<S>,
    decoder: Decoder,
    failure: Option<DecodeError>,
}

impl<S> EventStream<S> {
    /// Decodes `chunks` with a default [`Decoder`].
    pub fn new(chunks: S) -> Self {
        EventStream::with_decoder(chunks, Decoder::new())
    }

    /// Decodes `chunks` with `decoder` (to set limits, or to carry the last event id
    /// over from a previous connection).
    pub fn with_decoder(chunks: S, decoder: Decoder) -> Self {
        EventStream {
            chunks: Some(chunks),
            decoder,
            failure: None,
        }
    }

    /// The decoder, for [`Decoder::last_event_id`] when reconnecting.
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// Takes the decoder back, dropping the chunk stream.
    pub fn into_decoder(self) -> Decoder {
        self.decoder
    }
}

impl<S, B, E> Stream for EventStream<S>
where
    S: Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
{
    type Item = Result<Decoded, EventStreamError<E>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(item) = this.decoder.next() {
                return Poll::Ready(Some(Ok(item)));
            }
            let Some(chunks) = this.chunks.as_mut() else {
                // A decode error comes after the items decoded before it, once.
                return Poll::Ready(
                    this.failure
                        .take()
                        .map(|e| Err(EventStreamError::Decode(e))),
                );
            };
            match std::task::ready!(Pin::new(chunks).poll_next(cx)) {
                Some(Ok(chunk)) => {
                    if let Err(error) = this.decoder.push(chunk.as_ref()) {
                        this.failure = Some(error);
                        this.chunks = None;
                    }
                }
                Some(Err(error)) => {
                    this.chunks = None;
                    return Poll::Ready(Some(Err(EventStreamError::Transport(error))));
                }
                None => {
                    this.chunks = None;
                    this.decoder.finish();
                }
            }
        }
    }
}

/// Why an [`EventStream`] stopped.
#[derive(Debug)]
#[non_exhaustive]
pub enum EventStreamError<E> {
    /// The bytes broke a decoder limit.
    Decode(DecodeError),
    /// The chunk stream failed.
    Transport(E),
}

impl<E: fmt::Display> fmt::Display for EventStreamError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventStreamError::Decode(error) => error.fmt(f),
            EventStreamError::Transport(error) => write!(f, "event stream transport: {error}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for EventStreamError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EventStreamError::Decode(error) => Some(error),
            EventStreamError::Transport(error) => Some(error),
        }
    }
}
