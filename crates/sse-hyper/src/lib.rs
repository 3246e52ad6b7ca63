//! Server-Sent Events for [hyper] 1.x: a hub's clients, or your own stream per
//! request.
//!
//! | item | use |
//! |---|---|
//! | [`respond`] | a hub client's stream as the response, reading what the request asks for |
//! | [`connect`] | the same with the [`ConnectOptions`] you chose (after your own authentication) |
//! | [`from_stream`] | your own events as the response (tokens, progress), from a stream, a [`channel`](sse_core::channel) or a list ([`ResponseStream`](sse_core::ResponseStream)) |
//! | [`Body`] | the body of all three, and of whole responses (`Body::from(bytes)`): one response type, `http::Response<Body>` |
//! | [`last_event_id`] | the `Last-Event-ID` a reconnecting client sent, for a stream of your own that can resume |
//! | [`spawn_keep_alive`] | the hub's keep-alive comments on tokio's timer |
//! | [`serve`], [`Timeouts`] | an accept loop on hyper-util with every timeout an open port needs: request head and body, idle connections (HTTP/2 PINGs do not keep one), write stalls and stuck readers; graceful shutdown; a worker thread per core |
//! | [`Server`], [`ConnectionLimits`], [`connections_within_file_limit`] | the same, with at most so many connections per peer address and in all, or another number of worker threads |
//! | [`TimeoutIo`] | the idle, write-stall and stuck-reader timeouts, for a server loop of your own |
//!
//! The names are the same on every adapter (see `sse_core`'s "Names"): `respond`,
//! `connect`, `from_stream`, `last_event_id`.
//!
//! [`respond`] turns a request into a streaming response whose body, [`Body`],
//! hands every batch of ready frames to hyper at once, as one `Bytes` (so hyper
//! writes them with one system call), and returns `Pending` when nothing is ready,
//! which is when hyper flushes: a frame never waits for the next one. Works over
//! HTTP/1.1 and HTTP/2. axum and warp take the same body (`sse-axum`, `sse-warp`).
//!
//! Everything else (encoding, policy, the response head, 405/503) is `sse-core`'s;
//! this crate adds hyper's body and tokio's timer ([`spawn_keep_alive`]).
//!
//! # Examples
//!
//! ```no_run
//! use std::convert::Infallible;
//!
//! use hyper::service::service_fn;
//! use hyper_util::rt::{TokioExecutor, TokioIo};
//! use hyper_util::server::conn::auto;
//! use sse_core::{Event, Hub};
//!
//! # async fn run() -> std::io::Result<()> {
//! let hub = Hub::default();
//! sse_hyper::spawn_keep_alive(&hub);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! loop {
//!     let (tcp, _) = listener.accept().await?;
//!     let hub = hub.clone();
//!     tokio::spawn(async move {
//!         let service = service_fn(move |request| {
//!             let response = sse_hyper::respond(&hub, request);
//!             async move { Ok::<_, Infallible>(response) }
//!         });
//!         let _ = auto::Builder::new(TokioExecutor::new())
//!             .serve_connection(TokioIo::new(tcp), service)
//!             .await;
//!     });
//! }
//! # }
//! // Elsewhere: hub.broadcast(&Event::new("hello"));
//! ```
//!
//! Streaming your own events, one response per request (read the request's
//! `Last-Event-ID` with [`last_event_id`] if the stream can resume):
//!
//! ```no_run
//! use std::convert::Infallible;
//!
//! use sse_core::{Event, channel};
//!
//! async fn generate(
//!     request: http::Request<hyper::body::Incoming>,
//! ) -> Result<http::Response<sse_hyper::Body>, Infallible> {
//!     let (sender, receiver) = channel(64);
//!     tokio::spawn(async move {
//!         for token in ["Hel", "lo", "!"] {
//!             // Fails once the client is gone: stop generating.
//!             if sender.send(Event::new(token)).await.is_err() {
//!                 return;
//!             }
//!         }
//!     });
//!     Ok(sse_hyper::from_stream(receiver))
//! }
//! ```
//!
//! [hyper]: https://docs.rs/hyper/1
#![forbid(unsafe_code)]

mod body;
mod io;
mod open;
mod serve;
mod workers;

pub use body::Body;
pub use io::TimeoutIo;
pub use serve::{RequestBody, Server, serve};
pub use sse_core::{Hub, last_event_id};
pub use sse_net::{BodyTimeout, ConnectionLimits, Timeouts, connections_within_file_limit};

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
/// list): the SSE response head and [`Body::from_stream`]. Keep-alive comments run
/// on tokio's timer.
///
/// ```
/// use sse_core::{Event, ResponseStream};
///
/// let steps: ResponseStream = [Event::new("one"), Event::new("two")].into_iter().collect();
/// let response = sse_hyper::from_stream(steps);
/// assert_eq!(response.headers()["content-type"], "text/event-stream");
/// ```
pub fn from_stream(stream: impl IntoResponseStream) -> http::Response<Body> {
    sse_core::response_head(http::Version::HTTP_11).map(|()| Body::from_stream(stream))
}

/// Spawns [`Hub::run_keep_alive`] on tokio, with tokio's timer: idle clients get a
/// keep-alive comment every [`HubConfig::keep_alive`](sse_core::HubConfig::keep_alive).
/// The task ends when the hub shuts down.
///
/// # Panics
///
/// Outside a tokio runtime.
pub fn spawn_keep_alive(hub: &Hub) -> tokio::task::JoinHandle<()> {
    let hub = hub.clone();
    tokio::spawn(async move { hub.run_keep_alive(tokio::time::sleep).await })
}
