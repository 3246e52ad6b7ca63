//! `sse-client` against every adapter's demo server (in its own process, over
//! loopback, HTTP/1.1 and, where the demo speaks it, HTTP/2 with prior knowledge):
//! events arrive exactly; a connection the server ends is resumed with the right
//! `Last-Event-ID` and gets exactly what it missed; the server's `retry:` sets the
//! delay; a server shutdown ends the stream cleanly; the client follows the demo
//! across a restart; and the same on the smol runtime.
//!
//! `cargo test --test client`; one adapter: `cargo test --test client axum::`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sse_client::{Event, EventSource, MessageEvent, ReconnectConfig, ReconnectReason, Runtime};
use sse_testkit::TIMEOUT;
use sse_testkit::client::Protocol;
use sse_testkit::demo::{Adapter, Server, run};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// A client of `server`'s `/events` as `client`.
fn client(server: &Server, client: &str, protocol: Protocol, runtime: Runtime) -> EventSource {
    EventSource::builder(server.url(&format!("/events?client={client}")))
        .http2_prior_knowledge(protocol == Protocol::Http2)
        .runtime(runtime)
        .reconnect(
            ReconnectConfig::default()
                .initial_retry(Duration::from_millis(100))
                .max_backoff(Duration::from_millis(500)),
        )
        .build()
        .expect("a valid source")
}

async fn next(source: &mut EventSource) -> Event {
    match tokio::time::timeout(TIMEOUT, source.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(other) => panic!("expected an event, got {other:?}"),
        Err(_) => panic!("no event within {TIMEOUT:?}"),
    }
}

/// The next message, skipping nothing but what `skip` allows.
async fn message(source: &mut EventSource) -> MessageEvent {
    match next(source).await {
        Event::Message(message) => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// Waits for the stream to open, and for the demo's `client-id` event; checks the
/// protocol and the `sse-clientid` header.
async fn opened(source: &mut EventSource, id: &str, protocol: Protocol) {
    match next(source).await {
        Event::Open(open) => {
            assert_eq!(open.version, protocol.version());
            assert_eq!(open.headers["sse-clientid"], id);
        }
        other => panic!("expected Open, got {other:?}"),
    }
    let hello = message(source).await;
    assert_eq!((&*hello.event_type, hello.data.as_str()), ("client-id", id));
}

async fn case_events_arrive_exactly(adapter: Adapter, protocol: Protocol, runtime: Runtime) {
    let server = adapter.start(&[]);
    let mut source = client(&server, "exact", protocol, runtime);
    opened(&mut source, "exact", protocol).await;
    let sent = [
        json!({"data": "one"}),
        json!({"data": "two\nlines\r\nand CRLF", "event": "update"}),
        json!({"data": " leading space, ünïcödé ✓", "id": "own-id"}),
        json!({"data": ""}),
        json!({"data": "to me alone", "client": "exact"}),
    ];
    let mut ids = Vec::new();
    for body in &sent {
        ids.push(server.publish(body).await);
    }
    let expected = [
        ("message", "one"),
        ("update", "two\nlines\nand CRLF"),
        ("message", " leading space, ünïcödé ✓"),
        ("message", ""),
        ("message", "to me alone"),
    ];
    let mut last = String::new();
    for (i, (event_type, data)) in expected.into_iter().enumerate() {
        let got = message(&mut source).await;
        assert_eq!(
            (&*got.event_type, got.data.as_str()),
            (event_type, data),
            "#{i}"
        );
        if i < 4 {
            last.clone_from(&ids[i]);
        }
        // A frame sent to one client carries no id: the last one stays.
        assert_eq!(got.last_event_id, last, "#{i}");
    }
    assert_eq!(ids[2], "own-id");
    assert_eq!(source.last_event_id(), ids[3]);
}

async fn case_resumes_with_last_event_id_after_the_server_ends_it(
    adapter: Adapter,
    protocol: Protocol,
) {
    // The server's `retry: 700` sets the delay; the client's own default is 100 ms.
    let server = adapter.start(&["--retry", "700"]);
    let mut source = client(&server, "resume", protocol, Runtime::default());
    opened(&mut source, "resume", protocol).await;
    let first = server.broadcast("before").await;
    let got = message(&mut source).await;
    assert_eq!(
        (got.data.as_str(), got.last_event_id.as_str()),
        ("before", &*first)
    );
    assert_eq!(source.retry(), Duration::from_millis(700));

    let reply = server.disconnect("resume").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    // The demo may say goodbye first; then the stream ends.
    let (reason, delay) = loop {
        match next(&mut source).await {
            Event::Reconnecting { reason, delay } => break (reason, delay),
            Event::Message(m) => assert_ne!(m.data, "missed 1", "{m:?}"),
            other => panic!("expected Reconnecting, got {other:?}"),
        }
    };
    assert!(matches!(reason, ReconnectReason::Ended), "{reason:?}");
    assert_eq!(delay, Duration::from_millis(700));
    // Published while the client waits: it must get them from replay, once each.
    let missed = [
        server.broadcast("missed 1").await,
        server.broadcast("missed 2").await,
    ];
    opened(&mut source, "resume", protocol).await;
    for (i, id) in missed.iter().enumerate() {
        let got = message(&mut source).await;
        assert_eq!(got.data, format!("missed {}", i + 1));
        assert_eq!(&got.last_event_id, id);
    }
    let after = server.broadcast("after").await;
    let got = message(&mut source).await;
    assert_eq!(
        (got.data.as_str(), got.last_event_id.as_str()),
        ("after", &*after)
    );
    let stats = server.stats().await;
    assert!(stats["replays"].as_u64() >= Some(1), "{stats}");
}

async fn case_shutdown_ends_the_stream_cleanly(adapter: Adapter, protocol: Protocol) {
    let mut server = adapter.start(&[]);
    let mut source = client(&server, "bye", protocol, Runtime::default());
    opened(&mut source, "bye", protocol).await;
    server.terminate();
    let shutdown = message(&mut source).await;
    assert_eq!(shutdown.event_type, "shutdown");
    match next(&mut source).await {
        Event::Reconnecting {
            reason: ReconnectReason::Ended,
            ..
        } => {}
        other => panic!("expected a clean end, got {other:?}"),
    }
    let status = server.wait_exit(TIMEOUT).await;
    assert!(status.success(), "exit status {status}");
    // Nobody listens any more: the next attempt fails to connect, and is retried.
    match next(&mut source).await {
        Event::Reconnecting {
            reason: ReconnectReason::Connect(_),
            ..
        } => {}
        other => panic!("expected a failed attempt, got {other:?}"),
    }
}

async fn case_follows_the_demo_across_a_restart(adapter: Adapter) {
    let mut server = adapter.start(&[]);
    let addr = server.addr();
    let mut source = client(&server, "follow", Protocol::Http1, Runtime::default());
    opened(&mut source, "follow", Protocol::Http1).await;
    let id = server.broadcast("first run").await;
    assert_eq!(message(&mut source).await.last_event_id, id);
    server.terminate();
    assert_eq!(message(&mut source).await.event_type, "shutdown");
    server.wait_exit(TIMEOUT).await;
    drop(server);
    let server = adapter.start_on(addr, &[]);
    // The client retries by itself until the new process answers.
    loop {
        match next(&mut source).await {
            Event::Reconnecting { .. } => {}
            Event::Open(_) => break,
            other => panic!("expected reconnections, got {other:?}"),
        }
    }
    // Its old id means nothing to the new process: it is told to resync.
    let mut seen = Vec::new();
    let data = loop {
        let got = message(&mut source).await;
        seen.push(got.event_type.clone().into_owned());
        if got.event_type == "message" {
            break got.data;
        }
        if got.event_type == "client-id" {
            server.broadcast("second run").await;
        }
    };
    assert_eq!(data, "second run");
    assert!(seen.iter().any(|t| t == "resync"), "{seen:?}");
}

/// A TCP relay in front of a demo: every connection is passed through byte for
/// byte, in both directions, until [`Relay::cut`] resets the first one (as a
/// network that drops a connection does: the client sees a broken stream, not an
/// end).
struct Relay {
    addr: std::net::SocketAddr,
    cut: Arc<Notify>,
}

impl Relay {
    async fn start(upstream: std::net::SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let addr = listener.local_addr().expect("its address");
        let cut = Arc::new(Notify::new());
        let first = cut.clone();
        tokio::spawn(async move {
            for n in 0.. {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                tokio::spawn(relay(client, server, (n == 0).then(|| first.clone())));
            }
        });
        Relay { addr, cut }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Resets the first connection.
    fn cut(&self) {
        self.cut.notify_one();
    }
}

async fn relay(mut client: TcpStream, mut server: TcpStream, cut: Option<Arc<Notify>>) {
    let Some(cut) = cut else {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        () = cut.notified() => {
            // An RST, not a FIN: a connection lost, not a body ended.
            let _ = client.set_zero_linger();
        }
    }
}

/// The demo's `POST /generate` is a resumable reply, whose response names where to
/// resume it (`Resume-Location`). Its connection is reset mid-reply: the client
/// resumes with `GET` there and its `Last-Event-ID`, never sending the `POST`
/// again, and gets every word exactly once, then the end.
async fn case_a_post_broken_midway_resumes_by_get_once(adapter: Adapter) {
    let server = adapter.start(&[]);
    let relay = Relay::start(server.addr()).await;
    const WORDS: u64 = 400;
    let request = json!({"words": WORDS, "rate": 400});
    let mut source = EventSource::builder(relay.url("/generate"))
        .method(sse_client::http::Method::POST)
        .header("content-type", "application/json")
        .body(request.to_string())
        .reconnect(ReconnectConfig::default().initial_retry(Duration::from_millis(100)))
        .build()
        .expect("a valid source");
    let mut words = Vec::new();
    let mut opens = 0;
    let mut end = None;
    loop {
        match next(&mut source).await {
            Event::Open(_) => opens += 1,
            Event::Message(message) => match &*message.event_type {
                "message" => {
                    words.push(message.data);
                    if words.len() == 50 {
                        relay.cut();
                    }
                }
                "end" => end = Some(message.data),
                _ => {}
            },
            Event::Closed => break,
            Event::Reconnecting { .. } => {}
            _ => {}
        }
    }
    let expected: Vec<String> = (0..WORDS).map(|n| sse_demo::word(n).to_owned()).collect();
    assert!(words == expected, "{} words, not the reply", words.len());
    assert_eq!(end.as_deref(), Some("done"));
    assert!(opens >= 2, "resumed on a new connection: {opens} opens");
    let stats = server.stats().await;
    assert_eq!(
        stats["generate"]["started"], 1,
        "the POST was sent once: {stats}"
    );
    assert!(stats["replies"]["resumed"].as_u64() >= Some(1), "{stats}");
}

macro_rules! adapter_tests {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;
            const ADAPTER: Adapter = sse_testkit::adapter!($name);

            #[test]
            fn events_arrive_exactly_http1() {
                run(super::case_events_arrive_exactly(ADAPTER, Protocol::Http1, Runtime::Tokio));
            }

            #[test]
            fn events_arrive_exactly_http2() {
                if ADAPTER.h2 {
                    run(super::case_events_arrive_exactly(ADAPTER, Protocol::Http2, Runtime::Tokio));
                }
            }

            #[test]
            fn events_arrive_exactly_on_smol() {
                let protocol = ADAPTER.newest_protocol();
                run(super::case_events_arrive_exactly(ADAPTER, protocol, Runtime::Smol));
            }

            #[test]
            fn resumes_with_last_event_id_after_the_server_ends_it_http1() {
                run(super::case_resumes_with_last_event_id_after_the_server_ends_it(ADAPTER, Protocol::Http1));
            }

            #[test]
            fn resumes_with_last_event_id_after_the_server_ends_it_http2() {
                if ADAPTER.h2 {
                    run(super::case_resumes_with_last_event_id_after_the_server_ends_it(ADAPTER, Protocol::Http2));
                }
            }

            #[test]
            fn shutdown_ends_the_stream_cleanly() {
                let protocol = ADAPTER.newest_protocol();
                run(super::case_shutdown_ends_the_stream_cleanly(ADAPTER, protocol));
            }

            #[test]
            fn follows_the_demo_across_a_restart() {
                run(super::case_follows_the_demo_across_a_restart(ADAPTER));
            }

            #[test]
            fn a_post_broken_midway_resumes_by_get_once() {
                run(super::case_a_post_broken_midway_resumes_by_get_once(ADAPTER));
            }
        }
    )*};
}

adapter_tests!(hyper, axum, warp, smol);
