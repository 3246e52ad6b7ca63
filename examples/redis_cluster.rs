//! Several server processes behind a load balancer, on one Redis (`sse-redis`):
//! an event published on any of them reaches the clients of all of them, in one
//! order, and a client that reconnects to another process with its
//! `Last-Event-ID` gets exactly what it missed.
//!
//! | request | answer |
//! |---|---|
//! | `GET /events` | the stream (`topic=` to subscribe to topics; `Last-Event-ID` to resume, on any process) |
//! | `POST /publish` with the text as the body (`?topic=` for a topic) | appends it to the Redis stream: 202 `{"id": "..."}`, the event's id on every process; 503 while Redis is down |
//!
//! Run two processes on one Redis (`REDIS_URL`, default
//! `redis://127.0.0.1:6379/`), and publish on one while following the other:
//!
//! ```sh
//! PORT=3000 cargo run --example redis_cluster
//! PORT=3001 cargo run --example redis_cluster                 # in another terminal
//! curl -N http://127.0.0.1:3001/events
//! curl -d 'hello from 3000' http://127.0.0.1:3000/publish     # in a third
//! ```
//!
//! Stop the `curl -N` and resume on the other process after the last id it
//! showed: `curl -N http://127.0.0.1:3000/events -H 'Last-Event-ID: 1700000000000-0'`.

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use sse_core::{Event, Hub};
use sse_redis::{Backplane, RedisOptions};

/// Connects this process to the Redis stream, and relays it to the hub.
async fn connect(redis_url: &str) -> Result<Backplane, sse_redis::Error> {
    let backplane = Backplane::open(RedisOptions::new(redis_url), Hub::builder()).await?;
    tokio::spawn({
        let backplane = backplane.clone();
        // Reads the stream into the hub, reconnecting with backoff, until the
        // hub shuts down.
        async move { backplane.run(tokio::time::sleep).await }
    });
    sse_axum::spawn_keep_alive(backplane.hub());
    Ok(backplane)
}

fn app(backplane: &Backplane) -> Router {
    // The hub streams to this process's clients; the backplane publishes.
    let hub = backplane.hub().clone();
    Router::new()
        .route("/events", get(sse_axum::events).with_state(hub))
        .route("/publish", post(publish).with_state(backplane.clone()))
}

#[derive(Deserialize)]
struct Publish {
    topic: Option<String>,
}

/// `POST /publish`: through Redis, to every process. Publish through the
/// backplane, never the hub: the hub only relays what Redis ordered.
async fn publish(
    State(backplane): State<Backplane>,
    Query(to): Query<Publish>,
    text: String,
) -> Response {
    let event = Event::new(text);
    let published = match &to.topic {
        Some(topic) => backplane.publish(topic, &event).await,
        None => backplane.broadcast(&event).await,
    };
    match published {
        Ok(id) => (StatusCode::ACCEPTED, Json(json!({"id": id.to_string()}))).into_response(),
        Err(error) => {
            let error = Json(json!({"error": error.to_string()}));
            (StatusCode::SERVICE_UNAVAILABLE, error).into_response()
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::var("PORT").map_or(Ok(3000), |port| port.parse())?;
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let backplane = connect(&redis_url).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("on http://{}, with {redis_url}", listener.local_addr()?);
    let hub = backplane.hub().clone();
    let shutdown = async move {
        let _ = tokio::signal::ctrl_c().await;
        hub.shutdown(None); // Every stream ends; the clients reconnect elsewhere.
    };
    let timeouts = sse_axum::Timeouts::default();
    sse_axum::serve(listener, app(&backplane), timeouts, shutdown).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use sse_client::{EventSource, MessageEvent};
    use sse_testkit::TIMEOUT;
    use sse_testkit::redis::RedisServer;

    use super::*;

    /// One process's worth: the app on a free loopback port, on `redis`; its
    /// base URL.
    async fn start(redis: &RedisServer) -> String {
        let backplane = connect(&redis.url()).await.expect("Redis is up");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = app(&backplane);
        let timeouts = sse_axum::Timeouts::default();
        tokio::spawn(sse_axum::serve(
            listener,
            app,
            timeouts,
            std::future::pending(),
        ));
        base
    }

    async fn next(source: &mut EventSource) -> sse_client::Event {
        match tokio::time::timeout(TIMEOUT, source.next()).await {
            Ok(Some(Ok(event))) => event,
            Ok(other) => panic!("expected an event, got {other:?}"),
            Err(_) => panic!("nothing within {TIMEOUT:?}"),
        }
    }

    /// A stream of `{base}/events`, resuming after `last_event_id`, once open.
    async fn follow(base: &str, last_event_id: Option<&str>) -> EventSource {
        let mut builder = EventSource::builder(format!("{base}/events"));
        if let Some(id) = last_event_id {
            builder = builder.last_event_id(id);
        }
        let mut source = builder.build().unwrap();
        assert!(matches!(
            next(&mut source).await,
            sse_client::Event::Open(_)
        ));
        source
    }

    async fn message(source: &mut EventSource) -> MessageEvent {
        match next(source).await {
            sse_client::Event::Message(message) => message,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// Publishes `text` through the process at `base`; its id.
    async fn publish(base: &str, text: &str) -> String {
        let response = reqwest::Client::new()
            .post(format!("{base}/publish"))
            .body(text.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    /// `(id, data)`.
    fn seen(message: &MessageEvent) -> (&str, &str) {
        (&message.last_event_id, &message.data)
    }

    #[tokio::test]
    async fn two_processes_share_their_events_and_their_history() {
        // Skipped (and says so) without redis-server, but under CI, which has it.
        let Some(redis) = RedisServer::start_for_test() else {
            return;
        };
        let (a, b) = (start(&redis).await, start(&redis).await);
        let mut on_a = follow(&a, None).await;
        let mut on_b = follow(&b, None).await;

        // Published on A: the clients of both get it, with the same id.
        let one = publish(&a, "one").await;
        assert_eq!(seen(&message(&mut on_a).await), (&*one, "one"));
        assert_eq!(seen(&message(&mut on_b).await), (&*one, "one"));

        // A's client loses its connection; meanwhile two more are published.
        drop(on_a);
        let two = publish(&b, "two").await;
        let three = publish(&a, "three").await;
        assert_eq!(seen(&message(&mut on_b).await), (&*two, "two"));
        assert_eq!(seen(&message(&mut on_b).await), (&*three, "three"));

        // It reconnects to B (the load balancer chose it) with its last id, and
        // gets exactly what it missed, then live events.
        let mut moved = follow(&b, Some(&one)).await;
        assert_eq!(seen(&message(&mut moved).await), (&*two, "two"));
        assert_eq!(seen(&message(&mut moved).await), (&*three, "three"));
        let four = publish(&a, "four").await;
        assert_eq!(seen(&message(&mut moved).await), (&*four, "four"));
        assert_eq!(seen(&message(&mut on_b).await), (&*four, "four"));
    }
}
