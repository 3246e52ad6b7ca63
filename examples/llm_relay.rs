//! An LLM relay: the server asks an OpenAI-style chat API for a streamed answer
//! (with `sse-client`) and re-streams its tokens to browsers as a *resumable*
//! reply (`sse_core::Resumable`). A viewer whose connection drops (a phone
//! changing network, a reloaded tab) comes back with its `Last-Event-ID` and gets
//! exactly the rest, while the upstream is asked only once: the relay keeps
//! reading it when nobody watches, and hangs up on it when the reply is cancelled
//! (the Stop button) or abandoned (nobody watched it for a minute).
//!
//! | request | answer |
//! |---|---|
//! | `POST /chat` with `{"messages": [{"role": "user", "content": "..."}]}` | starts a reply and streams it: a `Resume-Location: /chat/{key}` header, one event per token (data: the token), then `event: end` with `data: done` |
//! | `GET /chat/{key}` with `Last-Event-ID` | the rest of that reply after the id, then live, then its end; 204 once it is gone |
//! | `POST /chat/{key}/cancel` | stops it: the relay hangs up on the upstream, viewers get `event: end`, `data: cancelled` |
//!
//! When the upstream fails (it answers 401, 429 or 500, or its stream breaks), the
//! viewer gets an `event: error` whose data is JSON, the upstream's status and
//! body when it answered (`{"status": 429, "body": "..."}`), else
//! `{"message": "..."}`; then the end.
//!
//! Run it against OpenAI, or any server that speaks its API
//! (`UPSTREAM_URL=http://127.0.0.1:11434/v1/chat/completions` for a local
//! Ollama; then no key is needed):
//!
//! ```sh
//! OPENAI_API_KEY=sk-... cargo run --example llm_relay
//! ```
//!
//! Settings, from the environment: `PORT` (default 3000), `UPSTREAM_URL` (default
//! `https://api.openai.com/v1/chat/completions`), `OPENAI_API_KEY` (sent as a
//! Bearer token when set), `MODEL` (default `gpt-4o-mini`).
//!
//! Try it with curl: ask, stop reading halfway (Ctrl-C), and resume with the key
//! from the `Resume-Location` header and the last `id:` you saw:
//!
//! ```sh
//! curl -iN http://127.0.0.1:3000/chat -H 'content-type: application/json' \
//!     -d '{"messages": [{"role": "user", "content": "Count from 1 to 50 in words"}]}'
//! curl -N http://127.0.0.1:3000/chat/chat-0123abcd... -H 'Last-Event-ID: 12'
//! ```
//!
//! `sse-client` resumes by itself: when the stream of its `POST` breaks, it
//! reconnects by `GET` to the `Resume-Location`, with `Last-Event-ID`. A page
//! reads the `POST` with `fetch` and does the same (an `EventSource` cannot
//! `POST`, but it can follow `GET /chat/{key}` from the start).

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use sse_axum::{LastEventId, Sse};
use sse_client::http::Method;
use sse_client::{EventSource, ReconnectConfig};
use sse_core::{Event, Producer, RESUME_LOCATION, Resumable, ResumeConfig};

/// The chat API the relay asks.
#[derive(Clone, Debug)]
struct Upstream {
    /// An OpenAI-style chat completions URL.
    url: String,
    /// Sent as `Authorization: Bearer ...` when set.
    api_key: Option<String>,
    model: String,
}

impl Upstream {
    fn from_env() -> Upstream {
        let var = |name| std::env::var(name).ok().filter(|value| !value.is_empty());
        Upstream {
            url: var("UPSTREAM_URL")
                .unwrap_or_else(|| "https://api.openai.com/v1/chat/completions".into()),
            api_key: var("OPENAI_API_KEY"),
            model: var("MODEL").unwrap_or_else(|| "gpt-4o-mini".into()),
        }
    }

    /// Asks for a streamed answer to `messages`.
    fn ask(&self, messages: &[Value]) -> Result<EventSource, sse_client::Error> {
        let body = json!({"model": self.model, "stream": true, "messages": messages});
        let mut request = EventSource::builder(&self.url)
            .method(Method::POST)
            .json(&body)
            // An answer is paid for: ask once, and tell the viewer if it fails.
            .reconnect(ReconnectConfig::default().max_attempts(Some(1)));
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        request.build()
    }
}

/// What the handlers share.
#[derive(Clone)]
struct Relay {
    upstream: Arc<Upstream>,
    replies: Resumable,
    keys: Arc<Keys>,
}

/// The relay: its routes, and the timer that forgets old replies.
fn app(upstream: Upstream) -> Router {
    // A reply no one has watched for a minute is abandoned: the relay stops
    // reading (and paying for) it. Ended replies stay 5 minutes for late resumers.
    let config = ResumeConfig::default().abandon_after(Some(Duration::from_secs(60)));
    let replies = Resumable::new(config);
    // The registry has no timer of its own: this task expires what is due.
    tokio::spawn({
        let replies = replies.clone();
        async move { replies.run(tokio::time::sleep).await }
    });
    let relay = Relay {
        upstream: Arc::new(upstream),
        replies,
        keys: Arc::default(),
    };
    Router::new()
        .route("/chat", post(chat))
        .route("/chat/{key}", get(resume))
        .route("/chat/{key}/cancel", post(cancel))
        .with_state(relay)
}

#[derive(Deserialize)]
struct ChatRequest {
    /// The conversation, as the upstream takes it.
    messages: Vec<Value>,
}

/// `POST /chat`: starts a reply, detached from this connection, and streams it.
async fn chat(State(relay): State<Relay>, Json(request): Json<ChatRequest>) -> Response {
    let key = relay.keys.next();
    let producer = match relay.replies.start(&key) {
        Ok(producer) => producer,
        Err(error) => return (error.status(), error.to_string()).into_response(),
    };
    let viewer = relay.replies.attach(&key, None).expect("started just now");
    tokio::spawn(relay_tokens(relay.upstream, request.messages, producer));
    let mut response = Sse::from_stream(viewer).into_response();
    let location = HeaderValue::try_from(format!("/chat/{key}")).expect("keys are URL-safe");
    response.headers_mut().insert(RESUME_LOCATION, location);
    response
}

/// `GET /chat/{key}`: the rest after `Last-Event-ID`, then live; 204 once gone.
async fn resume(
    State(relay): State<Relay>,
    Path(key): Path<String>,
    LastEventId(last): LastEventId,
) -> Response {
    match relay.replies.attach(&key, last.as_deref()) {
        Some(viewer) => Sse::from_stream(viewer).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

/// `POST /chat/{key}/cancel`: the Stop button.
async fn cancel(State(relay): State<Relay>, Path(key): Path<String>) -> StatusCode {
    if relay.replies.cancel(&key) {
        StatusCode::ACCEPTED
    } else {
        StatusCode::NOT_FOUND
    }
}

/// Copies the upstream's tokens into the reply until the upstream is done, or
/// until the reply is cancelled or abandoned: then dropping the upstream's
/// stream hangs up on it. A viewer leaving changes nothing.
async fn relay_tokens(upstream: Arc<Upstream>, messages: Vec<Value>, producer: Producer) {
    tokio::select! {
        () = producer.closed() => {}
        () = copy_tokens(&upstream, &messages, &producer) => {}
    }
    // Dropping the producer ends the reply: viewers get `event: end`, `data: done`.
}

async fn copy_tokens(upstream: &Upstream, messages: &[Value], producer: &Producer) {
    let mut answer = match upstream.ask(messages) {
        Ok(answer) => answer,
        Err(error) => return fail(producer, &error).await,
    };
    while let Some(item) = answer.next().await {
        let chunk = match item {
            Ok(sse_client::Event::Message(chunk)) => chunk,
            Ok(_) => continue, // It opened; it closed.
            Err(error) => return fail(producer, &error).await,
        };
        if chunk.data == "[DONE]" {
            return;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(&chunk.data) else {
            let error = json!({"message": "the upstream sent a chunk that is not JSON"});
            let _ = producer.send(error_event(&error)).await;
            return;
        };
        // `{"choices": [{"delta": {"content": "tok"}}]}`; the first and last
        // chunks carry no content (the role, the finish reason).
        let token = chunk.pointer("/choices/0/delta/content");
        let Some(token) = token.and_then(Value::as_str).filter(|t| !t.is_empty()) else {
            continue;
        };
        if producer.send(token.to_owned()).await.is_err() {
            return; // Cancelled or abandoned.
        }
    }
}

/// Tells the viewers why the answer stopped.
async fn fail(producer: &Producer, error: &sse_client::Error) {
    // The upstream's answer, if it gave one (its body says why: a bad key, a quota).
    let error = match error.response() {
        Some(response) => json!({"status": response.status.as_u16(), "body": response.text()}),
        None => json!({"message": error.to_string()}),
    };
    let _ = producer.send(error_event(&error)).await;
}

fn error_event(error: &Value) -> Event<'static> {
    let event = Event::json(error).expect("a JSON value serialises");
    event.with_event("error").expect("a valid event name")
}

/// Reply keys: whoever knows one can read and cancel its reply, so they are not
/// guessable (128 bits of SipHash, keyed by the OS's randomness, over a counter).
#[derive(Default)]
struct Keys {
    hasher: RandomState,
    next: AtomicU64,
}

impl Keys {
    fn next(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let [high, low] = [0u8, 1].map(|half| self.hasher.hash_one((n, half)));
        format!("chat-{high:016x}{low:016x}")
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::var("PORT").map_or(Ok(3000), |port| port.parse())?;
    let upstream = Upstream::from_env();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let address = listener.local_addr()?;
    println!("relaying {} on http://{address}", upstream.url);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let timeouts = sse_axum::Timeouts::default();
    sse_axum::serve(listener, app(upstream), timeouts, shutdown).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    use axum::http::HeaderMap;
    use sse_client::MessageEvent;
    use sse_testkit::TIMEOUT;
    use tokio::sync::Notify;

    use super::*;

    /// A fake OpenAI: streams its tokens as chat completion chunks, then
    /// `[DONE]`, one stream per request; or fails with `fail`.
    #[derive(Default)]
    struct FakeUpstream {
        tokens: Vec<&'static str>,
        /// Holds back after this many tokens until `go_on` is notified.
        pause_after: Option<usize>,
        go_on: Notify,
        /// Notified when the relay closed its stream (after `[DONE]`, or before).
        hung_up: Notify,
        fail: Option<StatusCode>,
        /// Each request's `Authorization` header and body.
        requests: Mutex<Vec<(Option<String>, Value)>>,
        calls: AtomicUsize,
    }

    async fn completions(
        State(fake): State<Arc<FakeUpstream>>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> Response {
        fake.calls.fetch_add(1, Ordering::Relaxed);
        let auth = headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned());
        fake.requests.lock().unwrap().push((auth, body));
        if let Some(status) = fake.fail {
            let body = json!({"error": {"message": "The model is overloaded."}});
            return (status, Json(body)).into_response();
        }
        let (sender, receiver) = sse_core::channel(16);
        tokio::spawn(async move {
            for (n, token) in fake.tokens.iter().enumerate() {
                if fake.pause_after == Some(n) {
                    tokio::select! {
                        () = fake.go_on.notified() => {}
                        () = sender.closed() => break,
                    }
                }
                let chunk = json!({"choices": [{"index": 0, "delta": {"content": token}}]});
                if sender.send(Event::json(&chunk).unwrap()).await.is_err() {
                    break;
                }
            }
            let _ = sender.send("[DONE]").await;
            // The relay hangs up once it read `[DONE]`, or before when cancelled.
            sender.closed().await;
            fake.hung_up.notify_one();
        });
        Sse::from_stream(receiver).into_response()
    }

    /// Serves `router` on a free loopback port; its base URL.
    async fn serve(router: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let timeouts = sse_axum::Timeouts::default();
        tokio::spawn(sse_axum::serve(
            listener,
            router,
            timeouts,
            std::future::pending(),
        ));
        base
    }

    /// The fake upstream and the relay asking it; the relay's base URL.
    async fn relay_to(fake: &Arc<FakeUpstream>) -> String {
        let fake_app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(fake.clone());
        let upstream = Upstream {
            url: format!("{}/v1/chat/completions", serve(fake_app).await),
            api_key: Some("sk-test".into()),
            model: "test-model".into(),
        };
        serve(app(upstream)).await
    }

    /// What a browser does: `POST /chat`. Returns the stream, once open, and its
    /// `Resume-Location`.
    async fn ask(relay: &str, question: &str) -> (EventSource, String) {
        let body = json!({"messages": [{"role": "user", "content": question}]});
        let mut viewer = EventSource::builder(format!("{relay}/chat"))
            .method(Method::POST)
            .json(&body)
            .build()
            .unwrap();
        let location = match next(&mut viewer).await {
            sse_client::Event::Open(open) => open.headers[RESUME_LOCATION].to_str().unwrap().into(),
            other => panic!("expected the stream to open, got {other:?}"),
        };
        (viewer, location)
    }

    async fn next(viewer: &mut EventSource) -> sse_client::Event {
        match tokio::time::timeout(TIMEOUT, viewer.next()).await {
            Ok(Some(Ok(event))) => event,
            Ok(other) => panic!("expected an event, got {other:?}"),
            Err(_) => panic!("nothing within {TIMEOUT:?}"),
        }
    }

    async fn message(viewer: &mut EventSource) -> MessageEvent {
        match next(viewer).await {
            sse_client::Event::Message(message) => message,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// Messages until the `end` event, and the end's data.
    async fn until_end(viewer: &mut EventSource) -> (Vec<MessageEvent>, String) {
        let mut messages = Vec::new();
        loop {
            let message = message(viewer).await;
            if message.event_type == "end" {
                return (messages, message.data);
            }
            messages.push(message);
        }
    }

    fn data(messages: &[MessageEvent]) -> Vec<&str> {
        messages.iter().map(|m| m.data.as_str()).collect()
    }

    const TOKENS: [&str; 6] = ["Once", " upon", " a", " time", ",", " the end."];

    #[tokio::test]
    async fn a_viewer_gets_every_token_in_order_then_the_end() {
        let fake = Arc::new(FakeUpstream {
            tokens: TOKENS.to_vec(),
            ..FakeUpstream::default()
        });
        let relay = relay_to(&fake).await;
        let (mut viewer, location) = ask(&relay, "Tell me a story").await;
        assert!(location.starts_with("/chat/chat-"), "{location}");

        let (tokens, end) = until_end(&mut viewer).await;
        assert_eq!(data(&tokens), TOKENS);
        assert_eq!(end, "done");
        // The reply is complete: the `POST` is not sent again.
        assert!(matches!(next(&mut viewer).await, sse_client::Event::Closed));

        let requests = fake.requests.lock().unwrap();
        let [(auth, body)] = &requests[..] else {
            panic!("one request upstream, not {requests:?}")
        };
        assert_eq!(auth.as_deref(), Some("Bearer sk-test"));
        assert_eq!(
            *body,
            json!({"model": "test-model", "stream": true,
                   "messages": [{"role": "user", "content": "Tell me a story"}]})
        );
    }

    #[tokio::test]
    async fn a_viewer_that_left_halfway_resumes_with_exactly_the_rest() {
        let fake = Arc::new(FakeUpstream {
            tokens: TOKENS.to_vec(),
            pause_after: Some(3),
            ..FakeUpstream::default()
        });
        let relay = relay_to(&fake).await;
        let (mut viewer, location) = ask(&relay, "Tell me a story").await;
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(message(&mut viewer).await);
        }
        // The tab closes; the upstream goes on, and the relay reads it to its end
        // with no one watching.
        drop(viewer);
        fake.go_on.notify_one();
        tokio::time::timeout(TIMEOUT, fake.hung_up.notified())
            .await
            .expect("the relay read the upstream to its end");

        let last = seen.last().unwrap().last_event_id.clone();
        let mut resumed = EventSource::builder(format!("{relay}{location}"))
            .last_event_id(last)
            .build()
            .unwrap();
        assert!(matches!(
            next(&mut resumed).await,
            sse_client::Event::Open(_)
        ));
        let (rest, end) = until_end(&mut resumed).await;
        assert_eq!(end, "done");
        seen.extend(rest);
        // Every token once, in order: no gap, no duplicate.
        assert_eq!(data(&seen), TOKENS);
        let ids: Vec<&str> = seen.iter().map(|m| m.last_event_id.as_str()).collect();
        assert_eq!(ids, ["1", "2", "3", "4", "5", "6"]);
        assert_eq!(
            fake.calls.load(Ordering::Relaxed),
            1,
            "the upstream was asked once"
        );
    }

    #[tokio::test]
    async fn cancelling_a_reply_hangs_up_on_the_upstream() {
        let fake = Arc::new(FakeUpstream {
            tokens: TOKENS.to_vec(),
            pause_after: Some(2),
            ..FakeUpstream::default()
        });
        let relay = relay_to(&fake).await;
        let (mut viewer, location) = ask(&relay, "Tell me a story").await;
        let first = [message(&mut viewer).await, message(&mut viewer).await];
        assert_eq!(data(&first), &TOKENS[..2]);

        let cancelled = reqwest::Client::new()
            .post(format!("{relay}{location}/cancel"))
            .send()
            .await
            .unwrap();
        assert_eq!(cancelled.status(), StatusCode::ACCEPTED);
        let (rest, end) = until_end(&mut viewer).await;
        assert_eq!((data(&rest), end.as_str()), (vec![], "cancelled"));
        tokio::time::timeout(TIMEOUT, fake.hung_up.notified())
            .await
            .expect("the relay hung up on the upstream");
    }

    #[tokio::test]
    async fn an_upstream_error_is_an_error_event() {
        let fake = Arc::new(FakeUpstream {
            fail: Some(StatusCode::INTERNAL_SERVER_ERROR),
            ..FakeUpstream::default()
        });
        let relay = relay_to(&fake).await;
        let (mut viewer, _) = ask(&relay, "Hello?").await;
        let (messages, end) = until_end(&mut viewer).await;
        let [error] = &messages[..] else {
            panic!("one error event, not {messages:?}")
        };
        assert_eq!(error.event_type, "error");
        let error: Value = serde_json::from_str(&error.data).unwrap();
        assert_eq!(error["status"], 500);
        let body: Value = serde_json::from_str(error["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["error"]["message"], "The model is overloaded.");
        assert_eq!(end, "done");
        assert_eq!(fake.calls.load(Ordering::Relaxed), 1, "not asked again");
    }
}
