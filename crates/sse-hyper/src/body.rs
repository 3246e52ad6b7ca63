//! Response bodies: a hub client's stream, or a per-request stream.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use futures_core::Stream;
use http_body::{Body, Frame, SizeHint};
use sse_core::{Batch, ClientStream, IntoResponseStream, ResponseStream};

/// The body of an SSE response for hyper: each data frame is a [`Batch`] of every
/// SSE frame that was ready, and the body returns `Pending` (so hyper flushes) when
/// none is.
///
/// It streams a hub client ([`new`](Self::new)): dropping it (the connection
/// closed) removes the client from the hub. Or it streams your own events
/// ([`from_stream`](Self::from_stream)): dropping it drops your stream, and a
/// channel's sender fails. It can also hold a whole, fixed body (a refusal's JSON),
/// so one response type serves all three.
#[derive(Debug)]
pub struct SseBody {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Stream(ClientStream),
    Response(ResponseStream),
    Full(Option<Bytes>),
}

impl SseBody {
    /// A body that streams `stream`.
    #[must_use]
    pub fn new(stream: ClientStream) -> Self {
        SseBody {
            inner: Inner::Stream(stream),
        }
    }

    /// A body that streams your own events: a [`ResponseStream`] you configured, a
    /// [`channel`](sse_core::channel)'s receiver, or any stream of messages
    /// ([`IntoResponseStream`]). Keep-alive comments run on tokio's timer (every 15
    /// s of silence unless the stream says otherwise), so it must be polled inside
    /// a tokio runtime, as hyper's server on tokio does.
    ///
    /// ```
    /// use futures_lite::stream;
    /// use sse_core::Event;
    ///
    /// let tokens = stream::iter(["Hel", "lo"].map(Event::new));
    /// let body = sse_hyper::SseBody::from_stream(tokens);
    /// # let _ = body;
    /// ```
    #[must_use]
    pub fn from_stream(stream: impl IntoResponseStream) -> Self {
        let stream = stream.into_response_stream().timer(tokio::time::sleep);
        SseBody {
            inner: Inner::Response(stream),
        }
    }

    /// An empty body (the answer to `HEAD`).
    #[must_use]
    pub fn empty() -> Self {
        SseBody::from(Bytes::new())
    }

    /// This body with [`Bytes`] data rather than batches, for frameworks whose body
    /// type wants `Bytes` (axum, warp); see [`FrameBody`].
    #[must_use]
    pub fn into_frames(self) -> FrameBody {
        FrameBody { body: self }
    }
}

impl From<Bytes> for SseBody {
    fn from(bytes: Bytes) -> Self {
        SseBody {
            inner: Inner::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }
}

impl Body for SseBody {
    type Data = Batch;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Batch>, Infallible>>> {
        let batch = match &mut self.get_mut().inner {
            Inner::Stream(stream) => std::task::ready!(Pin::new(stream).poll_next(cx)),
            Inner::Response(stream) => {
                std::task::ready!(Pin::new(stream).poll_next(cx)).map(|bytes| {
                    let mut batch = Batch::new();
                    batch.push(bytes);
                    batch
                })
            }
            Inner::Full(bytes) => bytes.take().map(|bytes| {
                let mut batch = Batch::new();
                batch.push(bytes);
                batch
            }),
        };
        Poll::Ready(batch.map(|batch| Ok(Frame::data(batch))))
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.inner, Inner::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Stream(_) | Inner::Response(_) => SizeHint::default(),
            Inner::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}

/// [`SseBody`] as [`Bytes`], for frameworks whose body must yield `Bytes` (axum,
/// warp): each batch of ready frames becomes one `Bytes` (a single frame as it is;
/// several are copied into one buffer, one allocation per batch), so the writer
/// still sends a whole batch with one write rather than one buffer per frame
/// (hyper queues at most 16 buffers before it must flush).
#[derive(Debug)]
pub struct FrameBody {
    body: SseBody,
}

impl Body for FrameBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let frame = std::task::ready!(Pin::new(&mut self.get_mut().body).poll_frame(cx));
        Poll::Ready(frame.map(|frame| {
            frame.map(|frame| {
                frame.map_data(|mut batch| {
                    let len = batch.remaining();
                    batch.copy_to_bytes(len)
                })
            })
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
