//! Per-user notifications behind authentication, on axum: every user has a topic
//! of the hub (`user/{name}`), each of their tabs and devices streams it, and no
//! one can read another's.
//!
//! | request | answer |
//! |---|---|
//! | `GET /events` with `Authorization: Bearer <token>` | the stream of that token's user: `event: notification` events; a reconnect with `Last-Event-ID` gets what it missed; 401 without a known token |
//! | `POST /notify/{user}` with the text as the body | sends it to that user's streams: 202 `{"id": "..."}`; 404 for an unknown user |
//!
//! The server chooses the topic from the authenticated user (the request's own
//! `topic=` is ignored), and the hub's admission hook (`Hooks::admit`) checks it
//! again before anything is registered: no known token is a 401, and a stream
//! asking for any topic but its user's is a 403, whatever a handler does.
//!
//! The tokens are a fixed table here (`alice-token` for alice, `bob-token` for
//! bob); use your sessions or a JWT library instead. `POST /notify` stands for
//! your backend: it is not authenticated in this example.
//!
//! ```sh
//! cargo run --example notifications        # PORT=3000 by default
//! curl -N http://127.0.0.1:3000/events -H 'Authorization: Bearer alice-token'
//! curl -d 'Your build passed' http://127.0.0.1:3000/notify/alice    # in another terminal
//! curl -i http://127.0.0.1:3000/events                               # 401
//! ```

use axum::extract::{Path, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use sse_axum::Sse;
use sse_core::{ConnectOptions, ConnectRequest, Event, Hooks, Hub, HubConfig, Rejection};

/// Who each bearer token is.
const USERS: [(&str, &str); 2] = [("alice-token", "alice"), ("bob-token", "bob")];

/// The user a request's `Authorization: Bearer` token names, if any.
fn user(request: &Parts) -> Option<&'static str> {
    let header = request.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let token = header.strip_prefix("Bearer ")?;
    USERS
        .iter()
        .find(|(known, _)| *known == token)
        .map(|(_, user)| *user)
}

fn topic(user: &str) -> String {
    format!("user/{user}")
}

/// The hub's admission hook: a stream must carry a known token, and subscribe to
/// its user's topic and nothing else.
struct Authenticate;

impl Hooks for Authenticate {
    fn admit(&self, request: &ConnectRequest<'_>) -> Result<(), Rejection> {
        let Some(user) = request.http.and_then(user) else {
            return Err(Rejection::unauthorized("a known bearer token is required"));
        };
        if *request.topics != [topic(user)] {
            return Err(Rejection::forbidden("only your own notifications"));
        }
        Ok(())
    }
}

fn app() -> Router {
    let hub = Hub::with_hooks(HubConfig::default(), Authenticate);
    sse_axum::spawn_keep_alive(&hub);
    Router::new()
        .route("/events", get(events))
        .route("/notify/{user}", post(notify))
        .with_state(hub)
}

/// `GET /events`: the authenticated user's stream.
async fn events(State(hub): State<Hub>, request: Parts) -> Sse {
    let mut options = ConnectOptions::new();
    if let Some(user) = user(&request) {
        options = options.topic(topic(user));
    } // Else the admission hook answers 401.
    options.last_event_id = sse_core::last_event_id(&request);
    Sse::connect(&hub, &request, options)
}

/// `POST /notify/{user}`: the body, to every stream of that user.
async fn notify(State(hub): State<Hub>, Path(user): Path<String>, text: String) -> Response {
    if !USERS.iter().any(|(_, known)| *known == user) {
        let error = Json(json!({"error": format!("no user {user:?}")}));
        return (StatusCode::NOT_FOUND, error).into_response();
    }
    let event = Event::new(text).with_event("notification");
    let event = event.expect("a valid event name");
    let id = hub.publish(&topic(&user), &event);
    (StatusCode::ACCEPTED, Json(json!({"id": id.to_string()}))).into_response()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::var("PORT").map_or(Ok(3000), |port| port.parse())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("notifications on http://{}", listener.local_addr()?);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    sse_axum::serve(listener, app(), sse_axum::Timeouts::default(), shutdown).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use sse_client::{Error, EventSource, MessageEvent};
    use sse_testkit::TIMEOUT;

    use super::*;

    /// The app on a free loopback port; its base URL.
    async fn start() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let timeouts = sse_axum::Timeouts::default();
        tokio::spawn(sse_axum::serve(
            listener,
            app(),
            timeouts,
            std::future::pending(),
        ));
        base
    }

    /// A stream of `path` with `token`, before it is opened.
    fn stream(base: &str, path: &str, token: Option<&str>) -> EventSource {
        let mut builder = EventSource::builder(format!("{base}{path}"));
        if let Some(token) = token {
            builder = builder.bearer_auth(token);
        }
        builder.build().unwrap()
    }

    async fn next(source: &mut EventSource) -> Result<sse_client::Event, Error> {
        match tokio::time::timeout(TIMEOUT, source.next()).await {
            Ok(Some(item)) => item,
            Ok(None) => panic!("the stream ended"),
            Err(_) => panic!("nothing within {TIMEOUT:?}"),
        }
    }

    /// A stream of `/events` with `token`, once open (its subscription is made).
    async fn connect(base: &str, path: &str, token: &str) -> EventSource {
        let mut source = stream(base, path, Some(token));
        let opened = next(&mut source).await;
        assert!(
            matches!(opened, Ok(sse_client::Event::Open(_))),
            "{opened:?}"
        );
        source
    }

    async fn notification(source: &mut EventSource) -> MessageEvent {
        match next(source).await {
            Ok(sse_client::Event::Message(message)) => {
                assert_eq!(message.event_type, "notification");
                message
            }
            other => panic!("expected a notification, got {other:?}"),
        }
    }

    async fn notify(base: &str, user: &str, text: &str) {
        let response = reqwest::Client::new()
            .post(format!("{base}/notify/{user}"))
            .body(text.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }

    #[tokio::test]
    async fn a_notification_reaches_its_user_only() {
        let base = start().await;
        let mut alice = connect(&base, "/events", "alice-token").await;
        let mut bob = connect(&base, "/events", "bob-token").await;

        notify(&base, "alice", "for alice").await;
        notify(&base, "bob", "for bob").await;
        // Each stream's first notification is its own: bob's did not get alice's,
        // which was sent first.
        assert_eq!(notification(&mut alice).await.data, "for alice");
        assert_eq!(notification(&mut bob).await.data, "for bob");
    }

    #[tokio::test]
    async fn a_missing_or_unknown_token_is_a_401() {
        let base = start().await;
        for token in [None, Some("mallory-token")] {
            let mut source = stream(&base, "/events", token);
            match next(&mut source).await {
                Err(Error::Status(response)) => {
                    assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{token:?}");
                    assert_eq!(response.headers["www-authenticate"], "Bearer", "{token:?}");
                    assert!(response.text().contains("bearer token"), "{response}");
                }
                other => panic!("expected a 401 for {token:?}, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn asking_for_another_users_topic_still_gets_your_own() {
        let base = start().await;
        let mut snooper = connect(&base, "/events?topic=user/bob", "alice-token").await;
        notify(&base, "bob", "bob's secret").await;
        notify(&base, "alice", "for alice").await;
        assert_eq!(notification(&mut snooper).await.data, "for alice");
    }
}
