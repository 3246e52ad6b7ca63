//! Server-Sent Events for [axum] 0.8: a hub's clients, or your own stream per
//! request.
//!
//! | item | use |
//! |---|---|
//! | [`events`] | a ready `/events` handler: `get(sse_axum::events)` with the hub as state |
//! | [`Sse`] | the one response type ([`IntoResponse`]) of every handler here, hub or not |
//! | [`Sse::respond`], [`Sse::connect`] | a hub client's stream: reading what the request asks for, or after your own auth with the id and topics you choose |
//! | [`Sse::from_stream`] | your own events as the response, from `GET` or `POST` handlers: an LLM's tokens, a job's progress, from a stream, a [`channel`](sse_core::channel) or a list ([`ResponseStream`]) |
//! | [`LastEventId`], [`ClientId`] | extractors for your own handlers |
//! | [`spawn_keep_alive`] | keep-alive comments on tokio's timer |
//! | [`serve`], [`Timeouts`] | serves a `Router` with every timeout an open port needs (request head and body, idle connections whatever HTTP/2 PINGs arrive, write stalls and stuck readers) |
//! | [`serve_with_limits`], [`ConnectionLimits`] | the same, with at most so many connections per peer address and in all |
//! | [`TimeoutListener`] | idle and write-stall timeouts for `axum::serve` |
//!
//! # Serving facing the internet
//!
//! `axum::serve` sets no timeout of its own: a client that sends nothing, half a
//! request, or stops reading holds its connection (and a file descriptor)
//! forever. [`serve`] is `axum::serve` with them all ([`Timeouts`]: head 10 s,
//! body 30 s, idle 60 s, write stall 30 s, each settable), `TCP_NODELAY` and
//! graceful shutdown; [`serve_with_limits`] adds connection limits per peer
//! address and in all. To keep `axum::serve`, wrap its listener in a
//! [`TimeoutListener`]: that closes idle connections (a silent one, half a head or
//! body, an idle keep-alive) and stalled ones, though not a request that drips
//! slowly, a reader that left a few KiB unread, or an HTTP/2 connection kept open
//! by PINGs alone.
//!
//! The names are the same on every adapter (see `sse_core`'s "Names"): `respond`,
//! `connect`, `from_stream`, `events`, `last_event_id` (here the [`LastEventId`]
//! extractor).
//!
//! Encoding, policy, the response head and refusals (405, 503 with `Retry-After`,
//! the admission hook's status) are `sse-core`'s; the body is `sse-hyper`'s, which
//! returns `Pending` (so hyper flushes) whenever no frame is ready. HTTP/1.1 and
//! HTTP/2.
//!
//! # Examples
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use sse_core::{Event, Hub};
//!
//! # async fn run() -> std::io::Result<()> {
//! let hub = Hub::default();
//! sse_axum::spawn_keep_alive(&hub);
//! let app = Router::new()
//!     .route("/events", get(sse_axum::events))
//!     .with_state(hub.clone());
//! hub.broadcast(&Event::new("hello")); // From anywhere, any time.
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! Connecting a client your own way, after authentication:
//!
//! ```
//! use axum::extract::State;
//! use http::request::Parts;
//! use sse_axum::{LastEventId, Sse};
//! use sse_core::{ConnectOptions, Hub};
//!
//! async fn my_events(State(hub): State<Hub>, LastEventId(last): LastEventId, parts: Parts) -> Sse {
//!     let user = "alice"; // From your session, say.
//!     let mut options = ConnectOptions::new().client_id(user).topic(format!("user/{user}"));
//!     options.last_event_id = last;
//!     Sse::connect(&hub, &parts, options)
//! }
//! # let _: axum::Router<Hub> = axum::Router::new().route("/me", axum::routing::get(my_events));
//! ```
//!
//! Streaming your own events: an LLM-style `POST` handler whose generation stops
//! when the client goes away. Keep-alive, a `retry:` hint and the like are set on
//! the [`ResponseStream`], the same on every adapter.
//!
//! ```
//! use std::time::Duration;
//!
//! use sse_axum::Sse;
//! use sse_core::{Event, ResponseStream, channel};
//!
//! async fn generate(prompt: String) -> Sse {
//!     let (sender, receiver) = channel(64);
//!     tokio::spawn(async move {
//!         for word in prompt.split_whitespace() {
//!             // Waits while the client is behind; fails once it is gone.
//!             if sender.send(Event::new(word.to_owned())).await.is_err() {
//!                 return; // Stop generating.
//!             }
//!         }
//!     });
//!     Sse::from_stream(ResponseStream::from(receiver).keep_alive(Duration::from_secs(10)))
//! }
//! # let _: axum::Router = axum::Router::new().route("/generate", axum::routing::post(generate));
//! ```
//!
//! One handler, two sources: both become an [`Sse`] (or, before that, a
//! [`ResponseStream`], which any source converts into), so no boxing is needed.
//!
//! ```
//! use axum::extract::Path;
//! use sse_axum::Sse;
//! use sse_core::{Event, channel};
//!
//! async fn job(Path(id): Path<u32>) -> Sse {
//!     if id == 0 {
//!         // Known at once: a list.
//!         let done = [Event::new("done").with_event("end").unwrap()];
//!         return Sse::from_stream(done.into_iter().collect::<sse_core::ResponseStream>());
//!     }
//!     let (sender, receiver) = channel(16);
//!     tokio::spawn(async move {
//!         let _ = sender.send(Event::new(format!("job {id} started"))).await;
//!     });
//!     Sse::from_stream(receiver)
//! }
//! # let _: axum::Router = axum::Router::new().route("/jobs/{id}", axum::routing::get(job));
//! ```
//!
//! [axum]: https://docs.rs/axum/0.8
#![forbid(unsafe_code)]

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
#[cfg(doc)]
use sse_core::ResponseStream;
use sse_core::{ConnectOptions, IntoResponseStream};

pub use sse_core::Hub;
pub use sse_hyper::{ConnectionLimits, Timeouts, spawn_keep_alive};

/// A ready `/events` handler, reading the request as
/// [`ConnectOptions::from_parts`] does: topics (`topic=`) and `Last-Event-ID`; the
/// hub issues the client's id (told in the response's `sse-clientid` header) unless
/// [`HubConfig::trust_client_id`](sse_core::HubConfig::trust_client_id) is set.
///
/// Use it with the hub as state, or as part of any state `Hub` can be taken from
/// ([`FromRef`]).
pub async fn events(State(hub): State<Hub>, request: Request) -> Sse {
    Sse::respond(&hub, request)
}

/// An SSE response ([`IntoResponse`]): a hub client's stream, your own stream, or
/// a refusal as a JSON error. Every handler here returns it, whichever it answers
/// with.
#[derive(Debug)]
#[must_use = "a response does nothing until it is returned"]
pub struct Sse(http::Response<sse_hyper::Body>);

impl Sse {
    /// Answers `request`, reading what the client asks for from its headers and
    /// query, as [`events`] does.
    pub fn respond(hub: &Hub, request: Request) -> Self {
        Sse(sse_hyper::respond(hub, request))
    }

    /// Answers a request with the options you chose (the id and topics your
    /// authentication allows, say).
    pub fn connect(hub: &Hub, request: &Parts, options: ConnectOptions) -> Self {
        Sse(sse_hyper::connect(hub, request, options))
    }

    /// Answers with your own events: a [`channel`](sse_core::channel)'s receiver,
    /// any stream of messages (events, comments, text), or a [`ResponseStream`]
    /// you configured (keep-alive, a `retry:` hint, an opening comment, error
    /// handling) or collected from a list. Every message ready is sent at once, one
    /// write for all of them; dropping the response (the client went away) drops
    /// your stream, so its producer stops. Keep-alive comments run on tokio's
    /// timer.
    pub fn from_stream(stream: impl IntoResponseStream) -> Self {
        Sse(sse_hyper::from_stream(stream))
    }
}

impl IntoResponse for Sse {
    fn into_response(self) -> Response {
        self.0.map(Body::new)
    }
}

/// The client id a request asks for (whether or not the hub takes it, see
/// [`HubConfig::trust_client_id`](sse_core::HubConfig::trust_client_id)): the hub's
/// client-id header
/// ([`HubConfig::client_id_header`](sse_core::HubConfig::client_id_header),
/// `sse-clientid` by default), else the `client=` query parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientId(pub Option<String>);

impl<S> FromRequestParts<S> for ClientId
where
    Hub: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        let hub = Hub::from_ref(state);
        let options = ConnectOptions::from_request(parts, hub.config())
            .with_query(parts.uri.query().unwrap_or_default());
        Ok(ClientId(options.client_id))
    }
}

/// The `Last-Event-ID` a reconnecting client sends (header, or the `lastEventId=`
/// query parameter some polyfills use): see [`sse_core::last_event_id`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastEventId(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for LastEventId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(LastEventId(sse_core::last_event_id(parts)))
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, with every timeout
/// in `timeouts` (see [`Timeouts`]), `TCP_NODELAY`, and up to
/// [`Timeouts::shutdown`] for connections to end after (shut your hub down in
/// `shutdown`, so that its streams end): [`sse_hyper::serve`] with axum's router.
///
/// ```no_run
/// use axum::{Router, routing::get};
/// use sse_core::Hub;
///
/// # async fn run() -> std::io::Result<()> {
/// let hub = Hub::default();
/// sse_axum::spawn_keep_alive(&hub);
/// let app = Router::new().route("/events", get(sse_axum::events)).with_state(hub.clone());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// let shutdown = async move {
///     let _ = tokio::signal::ctrl_c().await;
///     hub.shutdown(None);
/// };
/// sse_axum::serve(listener, app, sse_axum::Timeouts::default(), shutdown).await;
/// # Ok(())
/// # }
/// ```
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()>,
) {
    let limits = ConnectionLimits::default();
    serve_with_limits(listener, router, timeouts, limits, shutdown).await;
}

/// [`serve`], with at most so many connections open per peer address and in all
/// (see [`sse_hyper::Server::connection_limits`]): one past a limit is closed as soon as it
/// is accepted. For other worker threads, serve the router with
/// [`sse_hyper::Server`] as this function does.
///
/// ```no_run
/// # async fn run(app: axum::Router, listener: tokio::net::TcpListener) {
/// let limits = sse_axum::ConnectionLimits::default().per_peer(64);
/// let timeouts = sse_axum::Timeouts::default();
/// sse_axum::serve_with_limits(listener, app, timeouts, limits, std::future::pending()).await;
/// # }
/// ```
pub async fn serve_with_limits(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    timeouts: Timeouts,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    sse_hyper::Server::new()
        .timeouts(timeouts)
        .connection_limits(limits)
        .run(listener, shutdown, move |request| {
            let mut router = router.clone();
            Box::pin(async move { tower_service::Service::call(&mut router, request).await })
        })
        .await;
}

/// An `axum::serve` listener whose connections close when idle or stalled (see
/// [`sse_hyper::TimeoutIo`]): [`Timeouts::idle`] without a byte moving, or
/// [`Timeouts::write_stall`] without the client taking a byte of its stream.
///
/// ```no_run
/// # async fn run(app: axum::Router) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// let listener = sse_axum::TimeoutListener::new(listener, sse_axum::Timeouts::default());
/// axum::serve(listener, app).await
/// # }
/// ```
#[derive(Debug)]
pub struct TimeoutListener<L> {
    listener: L,
    timeouts: Timeouts,
}

impl<L> TimeoutListener<L> {
    /// Wraps `listener`.
    pub fn new(listener: L, timeouts: Timeouts) -> Self {
        TimeoutListener { listener, timeouts }
    }
}

impl<L: axum::serve::Listener> axum::serve::Listener for TimeoutListener<L> {
    type Io = sse_hyper::TimeoutIo<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = self.listener.accept().await;
        let t = self.timeouts;
        (sse_hyper::TimeoutIo::new(io, t.idle, t.write_stall), addr)
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}
