//! Response bodies: a hub client's stream, or a per-request stream.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use futures_core::Stream;
use http_body::{Frame, SizeHint};
use sse_core::{ClientStream, IntoResponseStream, ResponseStream};

/// The body of an SSE response, for hyper and every framework on it (axum and warp
/// take it too): each data frame is one [`Bytes`] holding every SSE frame that was
/// ready, and the body returns `Pending` (so hyper flushes) when none is.
///
/// A hub client's batch of ready frames ([`Batch`](sse_core::Batch)) goes out as
/// one `Bytes`: a single frame as it is, several copied into one buffer (one
/// allocation per batch, not per frame). Chosen by measurement over handing hyper
/// the batch itself (a `Buf` of several slices): hyper then gathers fewer frames
/// per write, and with 10 000 clients at full speed the demo delivered 0.67× the
/// frames per second, 34 per write against 61 (`sse-load`, 2026-11-28).
///
/// It streams a hub client (`Body::from(client_stream)`): dropping it (the
/// connection closed) removes the client from the hub. Or it streams your own
/// events ([`from_stream`](Self::from_stream)): dropping it drops your stream, and
/// a channel's sender fails. It can also hold a whole, fixed body (a refusal's
/// JSON, a page: `Body::from(bytes)`), so one response type serves all three.
#[derive(Debug)]
pub struct Body {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Stream(ClientStream),
    Response(ResponseStream),
    Full(Option<Bytes>),
}

impl Body {
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
    /// let body = sse_hyper::Body::from_stream(tokens);
    /// # let _ = body;
    /// ```
    #[must_use]
    pub fn from_stream(stream: impl IntoResponseStream) -> Self {
        let stream = stream.into_response_stream().timer(tokio::time::sleep);
        Body {
            inner: Inner::Response(stream),
        }
    }

    /// An empty body (the answer to `HEAD`).
    #[must_use]
    pub fn empty() -> Self {
        Body::from(Bytes::new())
    }
}

impl From<ClientStream> for Body {
    /// A body that streams a hub client.
    fn from(stream: ClientStream) -> Self {
        Body {
            inner: Inner::Stream(stream),
        }
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Body {
            inner: Inner::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let bytes = match &mut self.get_mut().inner {
            Inner::Stream(stream) => {
                std::task::ready!(Pin::new(stream).poll_next(cx)).map(|mut batch| {
                    let len = batch.remaining();
                    batch.copy_to_bytes(len)
                })
            }
            Inner::Response(stream) => std::task::ready!(Pin::new(stream).poll_next(cx)),
            Inner::Full(bytes) => bytes.take(),
        };
        Poll::Ready(bytes.map(|bytes| Ok(Frame::data(bytes))))
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

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::stream;
    use http_body::Body as _;
    use http_body_util::BodyExt;
    use sse_core::{ConnectOptions, Event, Hub};

    /// The data frames `body` yields until it ends.
    async fn chunks(mut body: Body) -> Vec<Bytes> {
        let mut chunks = Vec::new();
        while let Some(frame) = body.frame().await {
            chunks.push(frame.expect("infallible").into_data().expect("data"));
        }
        chunks
    }

    #[tokio::test]
    async fn every_frame_ready_goes_out_as_one_chunk() {
        let hub = Hub::default();
        let stream = hub.connect(ConnectOptions::default()).expect("admitted");
        for data in ["one", "two", "three"] {
            hub.broadcast(&Event::new(data));
        }
        hub.shutdown(None);
        let sent = chunks(Body::from(stream)).await;
        assert_eq!(sent.len(), 1, "{sent:?}");
        let text = String::from_utf8(sent[0].to_vec()).expect("UTF-8");
        let frames: Vec<&str> = text.split_terminator("\n\n").collect();
        assert_eq!(frames.len(), 4, "{text:?}");
        let (checkpoint, frames) = frames.split_first().expect("frames");
        assert!(
            checkpoint.starts_with("id: "),
            "the opening checkpoint: {text:?}"
        );
        for (frame, data) in frames.iter().zip(["one", "two", "three"]) {
            assert!(frame.starts_with(&format!("data: {data}\n")), "{frame:?}");
        }
    }

    #[tokio::test]
    async fn a_stream_of_messages_and_a_whole_body() {
        let tokens = stream::iter(["Hel", "lo"].map(Event::new));
        let body = Body::from_stream(tokens);
        let sent = chunks(body).await;
        assert_eq!(sent.concat(), b"data: Hel\n\ndata: lo\n\n");

        let full = Body::from(Bytes::from_static(b"{}"));
        assert_eq!(full.size_hint().exact(), Some(2));
        assert_eq!(chunks(full).await, [Bytes::from_static(b"{}")]);
        assert!(Body::empty().is_end_stream());
    }
}
