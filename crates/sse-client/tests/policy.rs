//! The reconnection policy against hostile and unlucky servers over real sockets
//! (hand-written HTTP/1.1 on a tokio `TcpListener`): what the client sends, what the
//! user sees, and how often it comes back.
//!
//! - `retry: 0` then close: at most two reconnections a second (the floor);
//! - `retry: 99999999999999`: the wait is capped;
//! - `200` then close, no event: a failure (backoff, `max_failures` stops it);
//! - a `POST` whose stream ends cleanly is not sent again (the README's LLM case);
//! - a `POST` whose stream breaks is not sent again, or resent on opt-in, or resumed
//!   by `GET` at the location the server named (the `POST` sent once);
//! - `max_attempts` stops; a user policy decides per outcome.
//!
//! Waits are bounded by [`TIMEOUT`]; the only timed assertions are lower bounds
//! (a loaded machine makes the client later, never earlier).
#![cfg(feature = "tokio")]

mod common;

use common::{TIMEOUT, expect_message, expect_open, header, hold, next, next_event, send};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use sse_client::{
    Decision, Error, Event, EventSource, Outcome, ReconnectConfig, ReconnectReason, StopReason,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// A close-delimited stream: its end is the connection's (a clean end).
const STREAM_HEAD: &str = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n";

/// A chunked stream: closing it midway breaks it.
const CHUNKED_HEAD: &str =
    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n";

/// A request as the server read it: the head (lower-cased) and the body.
#[derive(Debug)]
struct Request {
    head: String,
    body: String,
}

impl Request {
    fn line(&self) -> &str {
        self.head.lines().next().unwrap_or_default()
    }

    fn header(&self, name: &str) -> Option<&str> {
        header(&self.head, name)
    }
}

/// A server that hands connection `n` (from 0) to `serve` after reading its request.
struct Server {
    addr: std::net::SocketAddr,
    requests: mpsc::UnboundedReceiver<Request>,
}

impl Server {
    async fn start<F, Fut>(serve: F) -> Server
    where
        F: Fn(usize, TcpStream) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, requests) = mpsc::unbounded_channel();
        let serve = Arc::new(serve);
        tokio::spawn(async move {
            for n in 0.. {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let tx = tx.clone();
                let serve = serve.clone();
                tokio::spawn(async move {
                    let (head, body) = common::read_request(&mut stream).await;
                    let _ = tx.send(Request { head, body });
                    serve(n, stream).await;
                });
            }
        });
        Server { addr, requests }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn request(&mut self) -> Request {
        tokio::time::timeout(TIMEOUT, self.requests.recv())
            .await
            .expect("a request in time")
            .expect("the server runs")
    }

    /// Asserts that no request came beyond those taken.
    fn no_more_requests(&mut self) {
        if let Ok(request) = self.requests.try_recv() {
            panic!("an unexpected request: {request:?}");
        }
    }
}
/// One chunk of a chunked body.
fn chunk(data: &str) -> String {
    format!("{:x}\r\n{data}\r\n", data.len())
}

/// Sends a chunked stream with `events`, then half of a chunk, and closes: the body
/// breaks.
async fn send_then_break(stream: &mut TcpStream, extra_head: &str, events: &str) {
    send(stream, format!("{CHUNKED_HEAD}{extra_head}\r\n")).await;
    send(stream, chunk(events)).await;
    send(stream, "40\r\nid: 99\ndata: cut").await;
}

fn fast() -> ReconnectConfig {
    ReconnectConfig::default()
        .initial_retry(Duration::from_millis(20))
        .jitter(false)
}

async fn expect_reconnecting(source: &mut EventSource) -> (ReconnectReason, Duration) {
    match next_event(source).await {
        Event::Reconnecting { reason, delay } => (reason, delay),
        other => panic!("expected Reconnecting, got {other:?}"),
    }
}

/// The POST of an LLM-style API.
fn post(url: &str) -> sse_client::Builder {
    EventSource::builder(url)
        .method(Method::POST)
        .bearer_auth("sk-test")
        .header("content-type", "application/json")
        .body(r#"{"prompt": "hi"}"#)
        .reconnect(fast())
}

#[tokio::test]
async fn retry_zero_then_close_comes_back_at_most_twice_a_second() {
    let mut server = Server::start(|n, mut stream| async move {
        send(&mut stream, STREAM_HEAD).await;
        send(&mut stream, format!("retry: 0\nid: {n}\ndata: x\n\n")).await;
    })
    .await;
    let mut source = EventSource::builder(server.url("/events"))
        .reconnect(ReconnectConfig::default().jitter(false))
        .build()
        .unwrap();
    let mut opened = Vec::new();
    for _ in 0..4 {
        expect_open(&mut source).await;
        opened.push(Instant::now());
        expect_message(&mut source).await;
        let (reason, delay) = expect_reconnecting(&mut source).await;
        assert!(matches!(reason, ReconnectReason::Ended), "{reason:?}");
        assert_eq!(delay, Duration::from_millis(500), "the floor");
    }
    // Three waits of the floor at least between the first and the fourth.
    let span = opened[3] - opened[0];
    assert!(span >= Duration::from_millis(1450), "{span:?}");
    for _ in 0..4 {
        assert_eq!(server.request().await.line(), "get /events http/1.1");
    }
    drop(source);
}

#[tokio::test]
async fn a_huge_retry_is_capped() {
    let server = Server::start(|_, mut stream| async move {
        send(&mut stream, STREAM_HEAD).await;
        send(&mut stream, "retry: 99999999999999\ndata: x\n\n").await;
    })
    .await;
    let mut source = EventSource::new(server.url("/events")).unwrap();
    expect_open(&mut source).await;
    expect_message(&mut source).await;
    let (_, delay) = expect_reconnecting(&mut source).await;
    assert_eq!(delay, Duration::from_secs(600), "the default cap");

    // A cap of the user's: the client is back after it.
    let mut source = EventSource::builder(server.url("/events"))
        .reconnect(ReconnectConfig::default().max_retry(Duration::from_millis(700)))
        .build()
        .unwrap();
    expect_open(&mut source).await;
    expect_message(&mut source).await;
    let (_, delay) = expect_reconnecting(&mut source).await;
    assert_eq!(delay, Duration::from_millis(700));
    expect_open(&mut source).await;
}

#[tokio::test]
async fn ok_then_close_without_an_event_is_a_failure() {
    let mut server = Server::start(|_, mut stream| async move {
        send(&mut stream, STREAM_HEAD).await;
        send(&mut stream, ": hello\nretry: 0\n\n").await;
    })
    .await;
    let config = fast()
        .min_retry(Duration::from_millis(20))
        .max_failures(Some(2));
    let mut source = EventSource::builder(server.url("/events"))
        .reconnect(config)
        .build()
        .unwrap();
    // Backed off as failures, from the floor: 40 ms, then 80 ms.
    for expected in [40, 80] {
        expect_open(&mut source).await;
        let (reason, delay) = expect_reconnecting(&mut source).await;
        assert!(matches!(reason, ReconnectReason::Ended), "{reason:?}");
        assert_eq!(delay, Duration::from_millis(expected));
    }
    expect_open(&mut source).await;
    match next(&mut source).await {
        Some(Err(Error::GaveUp {
            failures: 3,
            last: ReconnectReason::Ended,
        })) => {}
        other => panic!("expected GaveUp, got {other:?}"),
    }
    assert!(next(&mut source).await.is_none());
    for _ in 0..3 {
        server.request().await;
    }
    server.no_more_requests();
}

#[tokio::test]
async fn a_post_that_ends_cleanly_is_sent_once() {
    // The README's LLM example: a final event, then the server closes.
    let mut server = Server::start(|_, mut stream| async move {
        send(&mut stream, STREAM_HEAD).await;
        send(&mut stream, "data: Hello\n\ndata: [DONE]\n\n").await;
    })
    .await;
    let mut source = post(&server.url("/v1/chat/completions"))
        .reconnect(ReconnectConfig::default().max_failures(Some(0)))
        .build()
        .unwrap();
    expect_open(&mut source).await;
    assert_eq!(expect_message(&mut source).await.data, "Hello");
    assert_eq!(expect_message(&mut source).await.data, "[DONE]");
    assert!(matches!(next_event(&mut source).await, Event::Closed));
    assert!(next(&mut source).await.is_none());
    let request = server.request().await;
    assert_eq!(request.line(), "post /v1/chat/completions http/1.1");
    assert_eq!(request.body, r#"{"prompt": "hi"}"#);
    server.no_more_requests();
}

#[tokio::test]
async fn a_post_whose_stream_breaks_is_not_sent_again() {
    let mut server = Server::start(|_, mut stream| async move {
        send_then_break(&mut stream, "", "id: 1\ndata: a\n\n").await;
    })
    .await;
    let mut source = post(&server.url("/generate")).build().unwrap();
    expect_open(&mut source).await;
    assert_eq!(expect_message(&mut source).await.data, "a");
    match next(&mut source).await {
        Some(Err(Error::Stopped {
            reason: StopReason::NotResent,
            last: ReconnectReason::Transport(_),
        })) => {}
        other => panic!("expected Stopped(NotResent), got {other:?}"),
    }
    assert!(next(&mut source).await.is_none());
    server.request().await;
    server.no_more_requests();
}

#[tokio::test]
async fn a_post_whose_stream_goes_idle_is_not_sent_again() {
    let mut server = Server::start(|_, mut stream| async move {
        send(&mut stream, STREAM_HEAD).await;
        send(&mut stream, "data: a\n\n").await;
        hold(&mut stream).await;
    })
    .await;
    let mut source = post(&server.url("/generate"))
        .idle_timeout(Some(Duration::from_millis(200)))
        .build()
        .unwrap();
    expect_open(&mut source).await;
    expect_message(&mut source).await;
    assert!(matches!(
        next(&mut source).await,
        Some(Err(Error::Stopped {
            reason: StopReason::NotResent,
            last: ReconnectReason::Idle(_),
        }))
    ));
    server.request().await;
    server.no_more_requests();
}

#[tokio::test]
async fn a_broken_post_is_sent_again_on_opt_in() {
    let mut server = Server::start(|n, mut stream| async move {
        if n == 0 {
            send_then_break(&mut stream, "", "id: 1\ndata: a\n\n").await;
        } else {
            send(&mut stream, STREAM_HEAD).await;
            send(&mut stream, "id: 2\ndata: b\n\n").await;
        }
    })
    .await;
    let mut source = post(&server.url("/generate"))
        .reconnect(fast().resend_broken(true))
        .build()
        .unwrap();
    expect_open(&mut source).await;
    expect_message(&mut source).await;
    let (reason, _) = expect_reconnecting(&mut source).await;
    assert!(
        matches!(reason, ReconnectReason::Transport(_)),
        "{reason:?}"
    );
    expect_open(&mut source).await;
    assert_eq!(expect_message(&mut source).await.data, "b");
    // And after its clean end, nothing more.
    assert!(matches!(next_event(&mut source).await, Event::Closed));
    let first = server.request().await;
    let second = server.request().await;
    assert_eq!(second.line(), "post /generate http/1.1");
    assert_eq!(second.body, first.body);
    assert_eq!(second.header("last-event-id"), Some("1"));
    server.no_more_requests();
}

#[tokio::test]
async fn a_broken_post_resumes_by_get_at_the_location_named_the_post_sent_once() {
    let mut server = Server::start(|n, mut stream| async move {
        if n == 0 {
            let events = "id: 1\ndata: Server\n\nid: 2\ndata: -Sent\n\n";
            send_then_break(&mut stream, "resume-location: runs/r1\r\n", events).await;
        } else {
            send(&mut stream, STREAM_HEAD).await;
            send(&mut stream, "id: 3\ndata:  Events\n\n").await;
        }
    })
    .await;
    let mut source = post(&server.url("/v1/generate")).build().unwrap();
    expect_open(&mut source).await;
    assert_eq!(expect_message(&mut source).await.data, "Server");
    assert_eq!(expect_message(&mut source).await.data, "-Sent");
    let (reason, delay) = expect_reconnecting(&mut source).await;
    assert!(
        matches!(reason, ReconnectReason::Transport(_)),
        "{reason:?}"
    );
    assert_eq!(delay, Duration::from_millis(20));
    expect_open(&mut source).await;
    let resumed = expect_message(&mut source).await;
    assert_eq!(
        (resumed.data.as_str(), resumed.last_event_id.as_str()),
        (" Events", "3")
    );
    // The resumed stream ends cleanly: the answer is complete.
    assert!(matches!(next_event(&mut source).await, Event::Closed));
    assert!(next(&mut source).await.is_none());

    let post = server.request().await;
    assert_eq!(post.line(), "post /v1/generate http/1.1");
    assert_eq!(post.header("last-event-id"), None);
    let resume = server.request().await;
    assert_eq!(resume.line(), "get /v1/runs/r1 http/1.1");
    assert_eq!(resume.header("last-event-id"), Some("2"));
    assert_eq!(resume.header("authorization"), Some("bearer sk-test"));
    assert_eq!(resume.header("content-type"), None);
    assert_eq!(resume.header("content-length"), None);
    assert_eq!(resume.body, "");
    server.no_more_requests();
}

#[tokio::test]
async fn a_resume_location_on_another_origin_is_not_followed() {
    let mut server = Server::start(|_, mut stream| async move {
        let location = "resume-location: http://evil.example/steal\r\n";
        send_then_break(&mut stream, location, "id: 1\ndata: a\n\n").await;
    })
    .await;
    let mut source = post(&server.url("/generate")).build().unwrap();
    expect_open(&mut source).await;
    expect_message(&mut source).await;
    assert!(matches!(
        next(&mut source).await,
        Some(Err(Error::Stopped {
            reason: StopReason::NotResent,
            ..
        }))
    ));
    server.request().await;
    server.no_more_requests();
}

#[tokio::test]
async fn a_post_refused_with_retry_after_is_sent_again_after_it() {
    let mut server = Server::start(|n, mut stream| async move {
        if n == 0 {
            let head =
                "HTTP/1.1 500 Internal Server Error\r\nretry-after: 1\r\ncontent-length: 0\r\n\r\n";
            send(&mut stream, head).await;
        } else {
            send(&mut stream, STREAM_HEAD).await;
            send(&mut stream, "data: ok\n\n").await;
        }
    })
    .await;
    let mut source = post(&server.url("/generate")).build().unwrap();
    let (reason, delay) = expect_reconnecting(&mut source).await;
    assert!(matches!(
        reason,
        ReconnectReason::Status(ref response) if response.status == StatusCode::INTERNAL_SERVER_ERROR
    ));
    assert_eq!(delay, Duration::from_secs(1));
    let waited = Instant::now();
    expect_open(&mut source).await;
    assert!(waited.elapsed() >= Duration::from_millis(900));
    assert_eq!(expect_message(&mut source).await.data, "ok");
    assert!(matches!(next_event(&mut source).await, Event::Closed));
    // The server started nothing the first time: the POST went twice.
    for _ in 0..2 {
        assert_eq!(server.request().await.line(), "post /generate http/1.1");
    }
    server.no_more_requests();
}

#[tokio::test]
async fn max_attempts_stops_a_server_that_keeps_ending_the_stream() {
    let mut server = Server::start(|n, mut stream| async move {
        send(&mut stream, STREAM_HEAD).await;
        send(&mut stream, format!("id: {n}\ndata: x\n\n")).await;
    })
    .await;
    let mut source = EventSource::builder(server.url("/events"))
        .reconnect(fast().max_attempts(Some(2)))
        .build()
        .unwrap();
    expect_open(&mut source).await;
    expect_message(&mut source).await;
    expect_reconnecting(&mut source).await;
    expect_open(&mut source).await;
    expect_message(&mut source).await;
    match next(&mut source).await {
        Some(Err(Error::Stopped {
            reason: StopReason::Attempts { attempts: 2 },
            last: ReconnectReason::Ended,
        })) => {}
        other => panic!("expected Stopped(Attempts), got {other:?}"),
    }
    assert!(next(&mut source).await.is_none());
    server.request().await;
    server.request().await;
    server.no_more_requests();
}

#[tokio::test]
async fn a_policy_retries_a_401_after_refreshing_and_never_reconnects_a_stream() {
    let mut server = Server::start(|n, mut stream| async move {
        if n == 0 {
            let head = "HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n";
            send(&mut stream, head).await;
        } else {
            send(&mut stream, STREAM_HEAD).await;
            send(&mut stream, "data: in\n\n").await;
        }
    })
    .await;
    let refreshed = Arc::new(AtomicBool::new(false));
    let seen = refreshed.clone();
    let policy = move |outcome: &Outcome<'_>, default: Decision| match outcome {
        Outcome::Response { status, .. } if *status == StatusCode::UNAUTHORIZED => {
            seen.store(true, Ordering::SeqCst);
            Decision::Retry(Duration::ZERO)
        }
        Outcome::StreamEnd { .. } => Decision::Stop(StopReason::Policy),
        _ => default,
    };
    let mut source = EventSource::builder(server.url("/events"))
        .reconnect(fast())
        .policy(policy)
        .build()
        .unwrap();
    let (reason, delay) = expect_reconnecting(&mut source).await;
    assert!(matches!(
        reason,
        ReconnectReason::Status(ref response) if response.status == StatusCode::UNAUTHORIZED
    ));
    assert_eq!(delay, Duration::ZERO);
    assert!(refreshed.load(Ordering::SeqCst));
    expect_open(&mut source).await;
    assert_eq!(expect_message(&mut source).await.data, "in");
    match next(&mut source).await {
        Some(Err(Error::Stopped {
            reason: StopReason::Policy,
            last: ReconnectReason::Ended,
        })) => {}
        other => panic!("expected Stopped(Policy), got {other:?}"),
    }
    server.request().await;
    server.request().await;
    server.no_more_requests();
}
