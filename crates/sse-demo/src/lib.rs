//! The demo contract every adapter's `examples/demo.rs` serves, without a framework:
//! the command-line flags, the page, and the JSON endpoints. Each demo only routes
//! requests here and streams `/events` through its adapter.
//!
//! | route | answer |
//! |---|---|
//! | `GET /` | [`PAGE`]: an `EventSource` on `/events` and a publish form |
//! | `GET /events` | the stream (the adapter's job); `topic=` (repeatable), `client=`, `sse-clientid`, `Last-Event-ID` |
//! | `POST /publish` | [`publish`]: JSON `{"data", "event"?, "id"?, "retry"?, "topic"?, "client"?}`, 202 `{"id"}` |
//! | `POST /generate`, `GET /generate` | [`Demo::generate`]: a generated reply, word by word at a rate, as a per-request stream (the adapter's); from `POST`, resumable |
//! | `GET /generate/{key}`, `POST /generate/{key}/cancel` | [`Demo::generate`]: resumes a reply after `Last-Event-ID` (204 when it is gone), stops it ([`replies`]) |
//! | `POST /disconnect` | [`disconnect`]: JSON `{"client"}`, ends that client's stream |
//! | `GET /stats` | [`stats`]: the hub's metrics as JSON |
//! | `GET /metrics` | the same, and the backplane's, in the Prometheus text format (through the `metrics` facade) |
//!
//! Invalid input is a 4xx with a JSON `{"error": "..."}`, and nothing is sent.
//!
//! With `--redis URL`, [`Demo`] publishes through an `sse-redis` backplane, so
//! several demo processes serve one stream of events.

mod args;
mod demo;
mod generate;
mod metrics;
mod page;
pub mod replies;

pub use args::{DemoArgs, USAGE};
pub use demo::Demo;
pub use generate::{CHECKPOINT_EVERY, MAX_GENERATIONS, MAX_RATE, MAX_WORDS, MIN_RATE, Task, word};
pub use page::PAGE;
pub use replies::Answer;

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode, header};
use serde::Deserialize;
use serde_json::json;
use sse_core::{Event, EventError, Figure, Hub, SendError};

/// The largest `POST` body the demo reads.
pub const MAX_BODY: usize = 64 * 1024;

/// Where a request goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /`: the page.
    Page,
    /// `/events`: the stream, for the adapter (it answers 405 to other methods).
    Events,
    /// `POST /publish`.
    Publish,
    /// `GET` or `POST /generate`, `GET /generate/{key}`, `POST
    /// /generate/{key}/cancel`: a per-request stream, for the adapter
    /// ([`Demo::generate`]).
    Generate,
    /// `POST /disconnect`.
    Disconnect,
    /// `GET /stats`.
    Stats,
    /// `GET /metrics`: the same figures in the Prometheus text format.
    Metrics,
    /// A known path with the wrong method.
    MethodNotAllowed(&'static str),
    /// Anything else.
    NotFound,
}

/// Routes a request by method and path.
#[must_use]
pub fn route(method: &Method, path: &str) -> Route {
    let allow = |expected: &Method, route: Route, allowed: &'static str| {
        if method == expected || (expected == Method::GET && method == Method::HEAD) {
            route
        } else {
            Route::MethodNotAllowed(allowed)
        }
    };
    match path {
        "/" => allow(&Method::GET, Route::Page, "GET, HEAD"),
        "/events" => Route::Events,
        "/publish" => allow(&Method::POST, Route::Publish, "POST"),
        "/generate" if [Method::GET, Method::HEAD, Method::POST].contains(method) => {
            Route::Generate
        }
        "/generate" => Route::MethodNotAllowed("GET, HEAD, POST"),
        "/disconnect" => allow(&Method::POST, Route::Disconnect, "POST"),
        "/stats" => allow(&Method::GET, Route::Stats, "GET, HEAD"),
        "/metrics" => allow(&Method::GET, Route::Metrics, "GET, HEAD"),
        path => match replies::Action::parse(path) {
            Some(replies::Action::Attach(_)) => allow(&Method::GET, Route::Generate, "GET, HEAD"),
            Some(replies::Action::Cancel(_)) => allow(&Method::POST, Route::Generate, "POST"),
            None => Route::NotFound,
        },
    }
}

/// Answers every route but [`Route::Events`] and [`Route::Generate`] (which
/// answer 404 here: the adapter streams them). `body` is the request body, at most [`MAX_BODY`] bytes (an adapter
/// that read more answers [`too_large`]).
#[must_use]
pub fn respond(hub: &Hub, route: Route, body: &[u8]) -> http::Response<Bytes> {
    match route {
        Route::Page => {
            let mut response = http::Response::new(Bytes::from_static(PAGE.as_bytes()));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
        Route::Publish => publish(hub, body),
        Route::Disconnect => disconnect(hub, body),
        Route::Stats => stats(hub),
        Route::MethodNotAllowed(allow) => {
            let mut response = error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
            let allow = header::HeaderValue::from_static(allow);
            response.headers_mut().insert(header::ALLOW, allow);
            response
        }
        Route::Metrics => crate::metrics::prometheus(hub, None),
        Route::Events | Route::Generate | Route::NotFound => {
            error(StatusCode::NOT_FOUND, "not found")
        }
    }
}

/// A publish request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Publish {
    data: String,
    event: Option<String>,
    pub(crate) id: Option<String>,
    /// Milliseconds.
    retry: Option<u64>,
    topic: Option<String>,
    client: Option<String>,
}

/// Where a publish request sends its event.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target<'a> {
    Everyone,
    Topic(&'a str),
    Client(&'a str),
}

impl Publish {
    /// Reads a publish request, or the 400 to answer.
    pub(crate) fn parse(body: &[u8]) -> Result<Publish, Refusal> {
        serde_json::from_slice(body).map_err(|e| Refusal::bad_request(format!("invalid JSON: {e}")))
    }

    /// The event and its target, or the 400 to answer.
    pub(crate) fn checked(&self) -> Result<(Event<'_>, Target<'_>), Refusal> {
        Ok((self.event()?, self.target()?))
    }

    fn target(&self) -> Result<Target<'_>, Refusal> {
        match (self.topic.as_deref(), self.client.as_deref()) {
            (Some(_), Some(_)) => Err(Refusal::bad_request(
                "give a topic or a client, not both".into(),
            )),
            (Some(topic), None) => Ok(Target::Topic(topic)),
            (None, Some(client)) => Ok(Target::Client(client)),
            (None, None) => Ok(Target::Everyone),
        }
    }

    fn event(&self) -> Result<Event<'_>, Refusal> {
        if self.id.as_deref() == Some("") {
            // An empty `id:` resets every receiving browser's last event id.
            let message = "id: empty would reset the clients' last event id: leave it out";
            return Err(Refusal::bad_request(message.into()));
        }
        if self.retry.is_some_and(|retry| retry > MAX_RETRY_MS) {
            let message = format!("retry: at most {MAX_RETRY_MS} ms (a day)");
            return Err(Refusal::bad_request(message));
        }
        self.fields()
            .map_err(|e| Refusal::bad_request(e.to_string()))
    }

    fn fields(&self) -> Result<Event<'_>, EventError> {
        let mut event = Event::new(self.data.as_str());
        if let Some(kind) = &self.event {
            event = event.with_event(kind.as_str())?;
        }
        if let Some(id) = &self.id {
            event = event.with_id(id.as_str())?;
        }
        if let Some(retry) = self.retry {
            event = event.with_retry(Duration::from_millis(retry));
        }
        Ok(event)
    }
}

/// `POST /publish`: sends an event to everyone, to a topic, or to one client.
/// Answers 202 `{"id": "..."}` (the event's own id, or its sequence number), or a
/// 4xx JSON error when the JSON, a field or the client is invalid (and then sends
/// nothing).
#[must_use]
pub fn publish(hub: &Hub, body: &[u8]) -> http::Response<Bytes> {
    publish_to_hub(hub, body).unwrap_or_else(Refusal::response)
}

fn publish_to_hub(hub: &Hub, body: &[u8]) -> Result<http::Response<Bytes>, Refusal> {
    let request = Publish::parse(body)?;
    let (event, target) = request.checked()?;
    let sequence = match target {
        Target::Topic(topic) => hub.publish(topic, &event),
        Target::Client(client) => send_to(hub, client, &event)?,
        Target::Everyone => hub.broadcast(&event),
    };
    Ok(accepted(
        request.id.as_deref().unwrap_or(&sequence.to_string()),
    ))
}

/// Sends to one client of this process, or the 404 or 503 to answer.
pub(crate) fn send_to(hub: &Hub, client: &str, event: &Event<'_>) -> Result<u64, Refusal> {
    hub.send_to(client, event).map_err(|e| {
        let status = match e {
            SendError::UnknownClient => StatusCode::NOT_FOUND,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        Refusal::new(status, e.to_string())
    })
}

/// A request the demo will not carry out: its status, why, and for a 503 when
/// to try again.
#[derive(Debug)]
pub struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) retry_after: Option<Duration>,
}

impl Refusal {
    pub(crate) fn new(status: StatusCode, message: String) -> Self {
        Refusal {
            status,
            message,
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(message: String) -> Self {
        Refusal::new(StatusCode::BAD_REQUEST, message)
    }

    /// 503, to try again after `retry_after`.
    pub(crate) fn unavailable(message: String, retry_after: Duration) -> Self {
        Refusal {
            retry_after: Some(retry_after),
            ..Refusal::new(StatusCode::SERVICE_UNAVAILABLE, message)
        }
    }

    /// The JSON error response, with `Retry-After` (whole seconds, at least 1) for
    /// a 503.
    #[must_use]
    pub fn response(self) -> http::Response<Bytes> {
        let mut response = error(self.status, &self.message);
        if let Some(retry_after) = self.retry_after {
            let seconds = header::HeaderValue::from(retry_after.as_secs().max(1));
            response.headers_mut().insert(header::RETRY_AFTER, seconds);
        }
        response
    }
}

/// 202 `{"id": id}`.
pub(crate) fn accepted(id: &str) -> http::Response<Bytes> {
    json_response(StatusCode::ACCEPTED, &json!({ "id": id }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Disconnect {
    client: String,
}

/// `POST /disconnect`: ends the stream of `{"client": "..."}` (a browser reconnects
/// by itself, with `Last-Event-ID`). 200, or 404 for an unknown client.
#[must_use]
pub fn disconnect(hub: &Hub, body: &[u8]) -> http::Response<Bytes> {
    match serde_json::from_slice::<Disconnect>(body) {
        Err(e) => error(StatusCode::BAD_REQUEST, &format!("invalid JSON: {e}")),
        Ok(request) if hub.disconnect(&request.client) => {
            json_response(StatusCode::OK, &json!({ "disconnected": request.client }))
        }
        Ok(_) => error(StatusCode::NOT_FOUND, "no client with this id is connected"),
    }
}

/// `GET /stats`: the hub's metrics, the number of topics, and the connected ids.
#[must_use]
pub fn stats(hub: &Hub) -> http::Response<Bytes> {
    json_response(StatusCode::OK, &stats_json(hub))
}

pub(crate) fn stats_json(hub: &Hub) -> serde_json::Value {
    let mut stats = figures_json(hub.metrics().figures());
    stats["topics"] = json!(hub.topic_count());
    stats
}

/// A JSON object of `figures`, by name.
pub(crate) fn figures_json(figures: impl Iterator<Item = Figure>) -> serde_json::Value {
    figures
        .map(|figure| (figure.name.to_owned(), json!(figure.value)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The most a `retry` may ask for: a day, in milliseconds.
pub const MAX_RETRY_MS: u64 = 24 * 60 * 60 * 1000;

/// A `POST` must carry JSON: anything else is refused with 415 (a `GET` passes).
pub(crate) fn require_json(request: &http::request::Parts) -> Result<(), Refusal> {
    if request.method != Method::POST {
        return Ok(());
    }
    let media_type = request
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::trim);
    match media_type {
        Some(media_type) if media_type.eq_ignore_ascii_case("application/json") => Ok(()),
        _ => Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be application/json".into(),
        )),
    }
}

/// 413 for a body over [`MAX_BODY`].
#[must_use]
pub fn too_large() -> http::Response<Bytes> {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("body larger than {MAX_BODY} bytes"),
    )
}

/// The answer to a request whose body could not be read: 408 when it took longer
/// than the body timeout (`sse_net::BodyTimeout`, anywhere in `error`'s
/// sources), else 413 (over [`MAX_BODY`]).
#[must_use]
pub fn unreadable_body(error: &(dyn std::error::Error + 'static)) -> http::Response<Bytes> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<sse_net::BodyTimeout>() {
            return self::error(StatusCode::REQUEST_TIMEOUT, &error.to_string());
        }
        cause = error.source();
    }
    too_large()
}

/// The event broadcast when a demo server shuts down.
#[must_use]
pub fn farewell() -> Event<'static> {
    Event::new("the server is shutting down")
        .with_event("shutdown")
        .expect("a valid event type")
}

/// Waits for SIGTERM or Ctrl-C, then shuts `hub` down with the [`farewell`] event:
/// every stream gets it and ends (feature `tokio`).
///
/// # Panics
///
/// If the SIGTERM handler cannot be installed.
#[cfg(feature = "tokio")]
pub async fn shut_down_on_signal(hub: Hub) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    hub.shutdown(Some(&farewell()));
}

/// A JSON error response: `{"error": message}`.
#[must_use]
pub fn error(status: StatusCode, message: &str) -> http::Response<Bytes> {
    json_response(status, &json!({ "error": message }))
}

pub(crate) fn json_response(
    status: StatusCode,
    value: &serde_json::Value,
) -> http::Response<Bytes> {
    let mut response = http::Response::new(Bytes::from(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests;
