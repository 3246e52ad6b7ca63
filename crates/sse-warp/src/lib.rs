//! Server-Sent Events for [warp] 0.4: a hub's clients, or your own stream per
//! request.
//!
//! | item | use |
//! |---|---|
//! | [`events`] | a ready filter: `warp::path!("events").and(sse_warp::events(hub))` |
//! | [`request_parts`] | a filter extracting the request's method, URI and headers as [`Parts`] |
//! | [`Sse`] | the one response type ([`Reply`]) here, hub or not |
//! | [`Sse::respond`], [`Sse::connect`] | a hub client's stream: reading what the request asks for, or after your own auth with the id and topics you choose |
//! | [`Sse::from_stream`] | your own events as the response (tokens, progress), from a stream, a [`channel`](sse_core::channel) or a list ([`ResponseStream`](sse_core::ResponseStream)) |
//! | [`last_event_id`] | a filter extracting the `Last-Event-ID` a reconnecting client sent |
//! | [`spawn_keep_alive`] | keep-alive comments on tokio's timer |
//!
//! The names are the same on every adapter (see `sse_core`'s "Names"): `respond`,
//! `connect`, `from_stream`, `events`, `last_event_id` (here a filter).
//!
//! Encoding, policy, the response head and refusals (405, 503 with `Retry-After`,
//! the admission hook's status) are `sse-core`'s. The stream is `sse-hyper`'s
//! [`Body`], every ready frame in one chunk, handed to warp
//! through [`warp::reply::stream`] (warp 0.4's one public streaming body): it is
//! `Pending` whenever no frame is ready, which is when hyper flushes, so a frame
//! never waits for the next one. Dropping the reply or its body (the client went
//! away) removes the client from the hub.
//!
//! SSE frames are small writes: serve them with `TCP_NODELAY`, or Nagle's algorithm
//! holds each one back while the last is unacknowledged (under load, hundreds of
//! milliseconds at the 99th percentile in `sse-load`). `warp::serve` has no hook to
//! set it per connection. Either bind a `tokio::net::TcpSocket` with
//! `set_nodelay(true)` and hand the listener to `warp::serve(..).incoming(..)` (on
//! Linux, accepted connections inherit it), or serve [`warp::service`] with
//! hyper-util and set it on each accepted stream, as the demo server does. The
//! latter also lets you box warp's future for a request: hyper keeps room for the
//! service's future for the connection's whole life, and warp's holds the whole
//! request; boxed, it costs a pointer there (about 1.2 KiB less per connection in
//! `sse-load`).
//!
//! warp does not show a request's HTTP version to filters, so [`request_parts`]
//! reports HTTP/1.1; hyper writes each connection's own version on the wire
//! whatever the response says, and the head never carries a `Connection` header.
//!
//! # Examples
//!
//! ```no_run
//! use sse_core::{Event, Hub};
//! use warp::Filter;
//!
//! # async fn run() {
//! let hub = Hub::default();
//! sse_warp::spawn_keep_alive(&hub);
//! let events = warp::path!("events").and(sse_warp::events(hub.clone()));
//! hub.broadcast(&Event::new("hello")); // From anywhere, any time.
//! warp::serve(events).run(([127, 0, 0, 1], 8080)).await;
//! # }
//! ```
//!
//! Connecting a client your own way, after authentication:
//!
//! ```
//! use http::request::Parts;
//! use sse_core::{ConnectOptions, Hub};
//! use sse_warp::Sse;
//! use warp::{Filter, Reply};
//!
//! let hub = Hub::default();
//! let me = warp::path!("me").and(sse_warp::request_parts()).map({
//!     let hub = hub.clone();
//!     move |parts: Parts| {
//!         let user = "alice"; // From your session, say.
//!         let options = ConnectOptions::from_request(&parts, hub.config())
//!             .client_id(user)
//!             .topic(format!("user/{user}"));
//!         Sse::connect(&hub, &parts, options)
//!     }
//! });
//! # let _ = me;
//!
//! // The reply on its own, without a server:
//! let (parts, ()) = http::Request::get("/me").body(()).unwrap().into_parts();
//! let response = Sse::connect(&hub, &parts, ConnectOptions::new()).into_response();
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["content-type"], "text/event-stream");
//! assert_eq!(hub.metrics().active, 1);
//! drop(response); // The client went away.
//! assert_eq!(hub.metrics().active, 0);
//! ```
//!
//! Streaming your own events for a `POST`:
//!
//! ```
//! use sse_core::{Event, channel};
//! use sse_warp::Sse;
//! use warp::Filter;
//!
//! let generate = warp::path!("generate").and(warp::post()).map(|| {
//!     let (sender, receiver) = channel(64);
//!     tokio::spawn(async move {
//!         for token in ["Hel", "lo"] {
//!             if sender.send(Event::new(token)).await.is_err() {
//!                 return; // The client went away.
//!             }
//!         }
//!     });
//!     Sse::from_stream(receiver)
//! });
//! # let _ = generate;
//! ```
//!
//! [warp]: https://docs.rs/warp/0.4
#![forbid(unsafe_code)]

use std::convert::Infallible;

use bytes::Bytes;
use http::Uri;
use http::request::Parts;
use http_body_util::BodyDataStream;
use sse_core::{ConnectOptions, IntoResponseStream};
use sse_hyper::Body;
use warp::path::FullPath;
use warp::{Filter, Reply};

pub use sse_core::Hub;
pub use sse_hyper::spawn_keep_alive;

/// A ready SSE filter: answers any request it sees with an [`Sse`], reading
/// topics (`topic=`) and `Last-Event-ID`, as [`ConnectOptions::from_parts`] reads
/// them; the hub issues the client's id (told in the response's `sse-clientid`
/// header) unless [`HubConfig::trust_client_id`](sse_core::HubConfig::trust_client_id)
/// is set. It matches every method (the hub answers
/// 405 to all but `GET` and `HEAD`), so put your path filter in front of it.
///
/// ```
/// use warp::Filter;
/// let hub = sse_core::Hub::default();
/// let route = warp::path!("events").and(sse_warp::events(hub));
/// # let _ = route;
/// ```
pub fn events(hub: Hub) -> impl Filter<Extract = (Sse,), Error = Infallible> + Clone {
    request_parts().map(move |parts: Parts| Sse::respond(&hub, &parts))
}

/// Extracts what the hub reads from a request: its method, URI (path and query)
/// and headers, as [`Parts`] (the version is HTTP/1.1: warp does not show it).
/// For handlers that choose the client's [`ConnectOptions`] themselves and answer
/// with [`Sse::connect`].
pub fn request_parts() -> impl Filter<Extract = (Parts,), Error = Infallible> + Copy {
    // `query::raw` refuses a request without a query; that is an empty one here.
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::method()
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .map(|method, path: FullPath, query: String, headers| {
            let uri = if query.is_empty() {
                path.as_str().parse::<Uri>()
            } else {
                format!("{}?{query}", path.as_str()).parse::<Uri>()
            };
            let (mut parts, ()) = http::Request::new(()).into_parts();
            parts.method = method;
            // Both halves came from a valid URI; fall back to `/` rather than panic.
            parts.uri = uri.unwrap_or_default();
            parts.headers = headers;
            parts
        })
}

/// Extracts the `Last-Event-ID` a reconnecting client sent (the header, or the
/// `lastEventId=` query parameter; see [`sse_core::last_event_id`]), for a
/// per-request stream that can resume.
pub fn last_event_id() -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Copy {
    request_parts().map(|parts: Parts| sse_core::last_event_id(&parts))
}

/// An SSE response ([`Reply`]): the stream, or a refusal as a JSON error.
#[derive(Debug)]
#[must_use = "a reply does nothing until it is returned"]
pub struct Sse(warp::reply::Response);

impl Sse {
    /// Answers `request`, reading what the client asks for from its headers and
    /// query, as [`events`] does.
    pub fn respond(hub: &Hub, request: &Parts) -> Self {
        let options = ConnectOptions::from_parts(request, hub.config());
        Sse::connect(hub, request, options)
    }

    /// Answers a request with the options you chose (the id and topics your
    /// authentication allows, say).
    pub fn connect(hub: &Hub, request: &Parts, options: ConnectOptions) -> Self {
        // A fixed body goes to warp as `Bytes`, which keeps its `Content-Length`;
        // only a live stream goes through `warp::reply::stream`.
        let response = match hub.accept(request, options) {
            Ok(accepted) => match accepted.stream {
                Some(stream) => streaming(accepted.head, Body::from(stream)),
                None => accepted.head.map(|()| Bytes::new()).into_response(),
            },
            Err(rejection) => rejection.into_response().into_response(),
        };
        Sse(response)
    }

    /// Answers with your own events: a [`channel`](sse_core::channel)'s receiver,
    /// any stream of messages (events, comments, text), or a
    /// [`ResponseStream`](sse_core::ResponseStream) you configured. Every message
    /// ready is sent at once; dropping the reply or its body (the client went away)
    /// drops your stream, so its producer stops. Keep-alive comments run on tokio's
    /// timer.
    pub fn from_stream(stream: impl IntoResponseStream) -> Self {
        let head = sse_core::response_head(http::Version::HTTP_11);
        Sse(streaming(head, Body::from_stream(stream)))
    }
}

/// `head` with a streaming body, through [`warp::reply::stream`] (warp 0.4's one
/// public streaming body).
fn streaming(head: http::Response<()>, body: Body) -> warp::reply::Response {
    let frames = BodyDataStream::new(body);
    let body = warp::reply::stream(frames).into_response().into_body();
    head.map(|()| body)
}

impl Reply for Sse {
    fn into_response(self) -> warp::reply::Response {
        self.0
    }
}
