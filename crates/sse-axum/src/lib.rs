//! Server-Sent Events for [axum] 0.8, over an [`sse_core::Hub`].
//!
//! | item | use |
//! |---|---|
//! | [`handler`] | a ready `/events` handler: `get(sse_axum::handler)` with the hub as state |
//! | [`Sse`] | the response ([`IntoResponse`]): from a request, or after your own auth with the id and topics you choose |
//! | [`ClientId`], [`LastEventId`] | extractors for your own handlers |
//! | [`spawn_keep_alive`] | keep-alive comments on tokio's timer |
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
//!     .route("/events", get(sse_axum::handler))
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
//! [axum]: https://docs.rs/axum/0.8
#![forbid(unsafe_code)]

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use sse_core::{ConnectOptions, LAST_EVENT_ID};
use sse_hyper::SseBody;

pub use sse_core::Hub;
pub use sse_hyper::spawn_keep_alive;

/// A ready `/events` handler: the client id and `Last-Event-ID` from the headers,
/// topics (`topic=`) and, for browsers, `client=` from the query.
///
/// Use it with the hub as state, or as part of any state `Hub` can be taken from
/// ([`FromRef`]).
pub async fn handler(State(hub): State<Hub>, request: Request) -> Sse {
    Sse::respond(&hub, request)
}

/// An SSE response: the stream, or a refusal as a JSON error.
#[derive(Debug)]
#[must_use = "a response does nothing until it is returned"]
pub struct Sse(http::Response<SseBody>);

impl Sse {
    /// Answers `request`, reading what the client asks for from its headers and
    /// query, as [`handler`] does.
    pub fn respond(hub: &Hub, request: Request) -> Self {
        Sse(sse_hyper::respond(hub, request))
    }

    /// Answers a request with the options you chose (the id and topics your
    /// authentication allows, say).
    pub fn connect(hub: &Hub, request: &Parts, options: ConnectOptions) -> Self {
        Sse(sse_hyper::respond_with(hub, request, options))
    }
}

impl IntoResponse for Sse {
    fn into_response(self) -> Response {
        self.0.map(|body| Body::new(body.into_frames()))
    }
}

/// The client id a request asks for: the hub's client-id header
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
/// query parameter some polyfills use).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastEventId(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for LastEventId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        let header = parts
            .headers
            .get(LAST_EVENT_ID)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .filter(|value| !value.is_empty());
        let query = || {
            ConnectOptions::new()
                .with_query(parts.uri.query().unwrap_or_default())
                .last_event_id
        };
        Ok(LastEventId(header.or_else(query)))
    }
}
