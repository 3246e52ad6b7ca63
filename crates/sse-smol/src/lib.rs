//! Server-Sent Events on [smol] 2 and `async-io`, over an [`sse_core::Hub`], where
//! there is no web framework: this crate owns the writer, so it owns buffering and
//! flushing.
//!
//! | item | use |
//! |---|---|
//! | [`write_events`] | streams a client to any `futures-io` [`AsyncWrite`](futures_lite::AsyncWrite) (a TCP or TLS stream): every ready frame in one vectored write, then one flush; one executor turn of coalescing |
//! | [`write_head`], [`write_response`] | the response head (flushed at once) and whole responses |
//! | [`read_request`], [`parse_head`], [`Limits`] | bounded HTTP/1.1 request reading (`httparse`): size, head and body timeouts |
//! | [`WriteTimeout`] | a writer that fails when its client stops reading (a full socket, or on Linux a peer window that shows bytes left unread) |
//! | [`write_stream`] | streams your own events (a per-request stream: tokens, progress) to any `AsyncWrite` |
//! | [`Server`] | a small accept loop: one path streams the hub, the rest goes to your handler ([`Body`]: whole, or your own stream with [`stream_response`]); connection limits per peer address and in all ([`ConnectionLimits`]); graceful shutdown with the hub |
//!
//! Everything else (encoding, policy, the response head's fields, 405/503) is
//! `sse-core`'s.
//!
//! [smol]: https://docs.rs/smol/2
#![forbid(unsafe_code)]

mod request;
mod server;
mod stall;
mod writer;

pub use request::{Limits, RequestError, parse_head, read_request};
pub use server::{Body, Server, stream_response};
pub use sse_core::Hub;
pub use sse_net::{ConnectionLimits, connections_within_file_limit};
pub use stall::WriteTimeout;
pub use writer::{write_events, write_head, write_response, write_stream};

/// A JSON error response: `{"error": message}`.
fn json_error(status: http::StatusCode, message: &str) -> http::Response<bytes::Bytes> {
    sse_core::Rejection::new(status, message).into_response()
}
