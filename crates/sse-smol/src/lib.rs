//! Server-Sent Events on [smol] 2 and `async-io`, a hub's clients or your own
//! stream per request, where there is no web framework: this crate owns the writer,
//! so it owns buffering and flushing.
//!
//! | item | use |
//! |---|---|
//! | [`respond`] | a hub client's stream as the response, reading what the request asks for |
//! | [`connect`] | the same with the [`ConnectOptions`] you chose (after your own authentication) |
//! | [`from_stream`] | your own events as the response (tokens, progress), from a stream, a [`channel`](sse_core::channel) or a list ([`ResponseStream`](sse_core::ResponseStream)) |
//! | [`Body`] | the body of all three, and of whole responses (`Body::from(bytes)`): one response type, `http::Response<Body>` |
//! | [`last_event_id`] | the `Last-Event-ID` a reconnecting client sent, for a stream of your own that can resume |
//! | [`Server`] | a small HTTP/1.1 accept loop: your handler for every request, the hub's stream at a path if you give it one ([`Server::events`]); request limits ([`Limits`]), write stalls, connection limits per peer address and in all ([`ConnectionLimits`]); graceful shutdown with the hub |
//! | [`spawn`] | a task on the thread of the connection being served (a request's producer beside its response), on smol's global executor elsewhere |
//! | [`write_response`], [`write_head`] | writes a response (whatever its body) to any `futures-io` [`AsyncWrite`](futures_lite::AsyncWrite), for a server loop of your own: every ready frame in one vectored write, then one flush |
//! | [`read_request`], [`parse_head`] | bounded HTTP/1.1 request reading (`httparse`): size, head and body timeouts |
//! | [`WriteTimeout`] | a writer that fails when its client stops reading (a full socket, or on Linux a peer window that shows bytes left unread) |
//!
//! The names are the same on every adapter (see `sse_core`'s "Names"): `respond`,
//! `connect`, `from_stream`, `events`, `last_event_id`. Everything else (encoding,
//! policy, the response head's fields, 405/503) is `sse-core`'s.
//!
//! # Examples
//!
//! A per-request stream, no hub:
//!
//! ```no_run
//! use sse_core::{Event, channel};
//! use sse_smol::Server;
//!
//! smol::block_on(async {
//!     let listener = async_net::TcpListener::bind("127.0.0.1:8080").await?;
//!     let server = Server::new().handler(|_request| async {
//!         let (sender, receiver) = channel(16);
//!         // On this connection's thread, when the server has threads of its own.
//!         sse_smol::spawn(async move {
//!             for step in 1..=3 {
//!                 if sender.send(Event::new(format!("step {step}"))).await.is_err() {
//!                     return; // The client went away.
//!                 }
//!             }
//!         })
//!         .detach();
//!         sse_smol::from_stream(receiver)
//!     });
//!     server.run(listener).await
//! })
//! # .unwrap();
//! ```
//!
//! [smol]: https://docs.rs/smol/2
#![forbid(unsafe_code)]

mod body;
mod request;
mod server;
mod stall;
mod workers;
mod writer;

pub use body::Body;
pub use request::{Limits, RequestError, parse_head, read_request};
pub use server::Server;
pub use sse_core::{Hub, last_event_id};
pub use sse_net::{ConnectionLimits, connections_within_file_limit};
pub use stall::WriteTimeout;
pub use workers::spawn;
pub use writer::{write_head, write_response};

use sse_core::{ConnectOptions, IntoResponseStream};

/// Answers an SSE request as [`ConnectOptions::from_parts`] reads it: topics
/// (`topic=`) and `Last-Event-ID`; the hub issues the client's id (told in the
/// response's `sse-clientid` header) unless
/// [`HubConfig::trust_client_id`](sse_core::HubConfig::trust_client_id) is set. A
/// refusal (405, 503, the admission hook's status) is answered with a JSON error.
pub fn respond<B>(hub: &Hub, request: http::Request<B>) -> http::Response<Body> {
    let (parts, _body) = request.into_parts();
    let options = ConnectOptions::from_parts(&parts, hub.config());
    connect(hub, &parts, options)
}

/// Answers an SSE request with the connect options you chose (say, the id and
/// topics your authentication allows).
pub fn connect(
    hub: &Hub,
    request: &http::request::Parts,
    options: ConnectOptions,
) -> http::Response<Body> {
    hub.answer(request, options)
}

/// Answers a request with your own stream of events (a
/// [`channel`](sse_core::channel)'s receiver, any stream of messages, or a
/// [`ResponseStream`](sse_core::ResponseStream) you configured or collected from a
/// list): the SSE response head and [`Body::from_stream`].
///
/// ```
/// use sse_core::{Event, ResponseStream};
///
/// let steps: ResponseStream = [Event::new("one"), Event::new("two")].into_iter().collect();
/// let response = sse_smol::from_stream(steps);
/// assert_eq!(response.headers()["content-type"], "text/event-stream");
/// ```
pub fn from_stream(stream: impl IntoResponseStream) -> http::Response<Body> {
    sse_core::response_head(http::Version::HTTP_11).map(|()| Body::from_stream(stream))
}

/// A JSON error response: `{"error": message}`.
fn json_error(status: http::StatusCode, message: &str) -> http::Response<Body> {
    sse_core::Rejection::new(status, message)
        .into_response()
        .map(Body::from)
}
