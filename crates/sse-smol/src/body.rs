//! The body of a response: whole bytes, a hub client's stream, or your own stream.

use async_io::Timer;
use bytes::Bytes;
use sse_core::{ClientStream, IntoResponseStream, ResponseStream};

/// The body of every response this crate writes, as `http::Response<Body>`: whole
/// bytes (a page, a JSON error: `Body::from(bytes)`), a hub client's stream
/// (`Body::from(client_stream)`, as [`respond`](crate::respond) answers), or your
/// own events ([`from_stream`](Self::from_stream)). One response type serves all
/// three, in a [`Server`](crate::Server)'s handler or your own loop
/// ([`write_response`](crate::write_response)).
#[derive(Debug)]
pub struct Body {
    inner: Inner,
}

/// What a body holds.
#[derive(Debug)]
pub(crate) enum Inner {
    /// Sent with its `Content-Length`.
    Full(Bytes),
    /// A hub client's stream.
    Events(ClientStream),
    /// A per-request stream.
    Stream(ResponseStream),
}

impl Body {
    /// A body that streams your own events: a [`channel`](sse_core::channel)'s
    /// receiver, any stream of messages, or a [`ResponseStream`] you configured or
    /// collected from a list. Keep-alive comments run on `async-io`'s timer.
    #[must_use]
    pub fn from_stream(stream: impl IntoResponseStream) -> Self {
        let stream = stream.into_response_stream().timer(Timer::after);
        Body {
            inner: Inner::Stream(stream),
        }
    }

    /// An empty body.
    #[must_use]
    pub fn empty() -> Self {
        Body::from(Bytes::new())
    }

    pub(crate) fn into_inner(self) -> Inner {
        self.inner
    }
}

impl From<Bytes> for Body {
    /// A whole body.
    fn from(bytes: Bytes) -> Self {
        Body {
            inner: Inner::Full(bytes),
        }
    }
}

impl From<ClientStream> for Body {
    /// A body that streams a hub client.
    fn from(stream: ClientStream) -> Self {
        Body {
            inner: Inner::Events(stream),
        }
    }
}
