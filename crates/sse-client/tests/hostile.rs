//! The client against hostile servers written here: hand-written HTTP/1.1 over a
//! tokio `TcpListener` (and TLS with a certificate made by the test), each doing one
//! thing wrong, or odd, on purpose.
//!
//! Every wait is bounded by [`TIMEOUT`]; nothing sleeps and then asserts.
#![cfg(feature = "tokio")]

mod common;

use common::{
    STREAM_HEAD, Server, TIMEOUT, expect_message, expect_open, header, hold, next, next_event,
    read_head, send,
};

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;
use sse_client::{
    DecodeError, DecodeLimits, Error, Event, EventSource, ReconnectConfig, ReconnectReason,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

fn fast() -> ReconnectConfig {
    ReconnectConfig::default()
        .initial_retry(Duration::from_millis(20))
        .jitter(false)
}

fn source(url: &str) -> sse_client::Builder {
    EventSource::builder(url).reconnect(fast())
}

async fn expect_reconnecting(source: &mut EventSource) -> (ReconnectReason, Duration) {
    match next_event(source).await {
        Event::Reconnecting { reason, delay } => (reason, delay),
        other => panic!("expected Reconnecting, got {other:?}"),
    }
}

#[tokio::test]
async fn a_drop_in_the_middle_of_an_event_discards_it_and_resumes_from_the_last_id() {
    let mut server = Server::start(|n, _, mut stream| async move {
        if n == 0 {
            send(&mut stream, STREAM_HEAD).await;
            send(&mut stream, "id: 1\ndata: a\n\nid: 2\ndata: part").await;
        } else {
            send(&mut stream, STREAM_HEAD).await;
            send(&mut stream, "id: 3\ndata: b\n\n").await;
            hold(&mut stream).await;
        }
    })
    .await;
    let mut source = source(&server.url("/events")).build().unwrap();
    expect_open(&mut source).await;
    let a = expect_message(&mut source).await;
    assert_eq!((a.data.as_str(), a.last_event_id.as_str()), ("a", "1"));
    let (reason, delay) = expect_reconnecting(&mut source).await;
    assert!(matches!(reason, ReconnectReason::Ended), "{reason:?}");
    assert_eq!(delay, Duration::from_millis(20));
    expect_open(&mut source).await;
    let b = expect_message(&mut source).await;
    assert_eq!((b.data.as_str(), b.last_event_id.as_str()), ("b", "3"));
    let first = server.request().await;
    assert_eq!(header(&first, "last-event-id"), None);
    assert_eq!(header(&first, "accept"), Some("text/event-stream"));
    let second = server.request().await;
    assert_eq!(header(&second, "last-event-id"), Some("1"));
}

#[tokio::test]
async fn a_server_error_is_retried_with_backoff() {
    let server = Server::start(|n, _, mut stream| async move {
        if n == 0 {
            send(
                &mut stream,
                "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n",
            )
            .await;
        } else {
            send(&mut stream, STREAM_HEAD).await;
            send(&mut stream, "data: ok\n\n").await;
            hold(&mut stream).await;
        }
    })
    .await;
    let mut source = source(&server.url("/events")).build().unwrap();
    let (reason, delay) = expect_reconnecting(&mut source).await;
    assert!(
        matches!(
            reason,
            ReconnectReason::Status(ref response)
                if response.status == StatusCode::INTERNAL_SERVER_ERROR
        ),
        "{reason:?}"
    );
    assert_eq!(delay, Duration::from_millis(40)); // 2 × retry, no jitter.
    expect_open(&mut source).await;
    assert_eq!(expect_message(&mut source).await.data, "ok");
}

#[tokio::test]
async fn retry_after_on_a_503_is_honoured() {
    let server = Server::start(|n, _, mut stream| async move {
        if n == 0 {
            send(
                &mut stream,
                "HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 0\r\n\r\n",
            )
            .await;
        } else {
            send(&mut stream, STREAM_HEAD).await;
            send(&mut stream, "data: back\n\n").await;
            hold(&mut stream).await;
        }
    })
    .await;
    let mut source = source(&server.url("/events")).build().unwrap();
    let (reason, delay) = expect_reconnecting(&mut source).await;
    assert!(
        matches!(
            reason,
            ReconnectReason::Status(ref response)
                if response.status == StatusCode::SERVICE_UNAVAILABLE
        ),
        "{reason:?}"
    );
    assert_eq!(delay, Duration::from_secs(1));
    let waited = Instant::now();
    expect_open(&mut source).await;
    assert!(
        waited.elapsed() >= Duration::from_millis(900),
        "{:?}",
        waited.elapsed()
    );
    assert_eq!(expect_message(&mut source).await.data, "back");
}

#[tokio::test]
async fn no_content_stops_for_good() {
    let mut server = Server::start(|_, _, mut stream| async move {
        send(&mut stream, "HTTP/1.1 204 No Content\r\n\r\n").await;
        hold(&mut stream).await;
    })
    .await;
    let mut source = source(&server.url("/events")).build().unwrap();
    assert!(matches!(next_event(&mut source).await, Event::Closed));
    assert!(next(&mut source).await.is_none());
    server.request().await;
    assert!(server.no_more_requests(), "no second request");
}

#[tokio::test]
async fn a_wrong_content_type_fails_without_retrying() {
    let mut server = Server::start(|_, _, mut stream| async move {
        send(
            &mut stream,
            "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 2\r\n\r\nhi",
        )
        .await;
        hold(&mut stream).await;
    })
    .await;
    let mut source = source(&server.url("/events")).build().unwrap();
    match next(&mut source).await {
        Some(Err(Error::ContentType(Some(value)))) => assert_eq!(value, "text/html"),
        other => panic!("expected a content type error, got {other:?}"),
    }
    assert!(next(&mut source).await.is_none());
    server.request().await;
    assert!(server.no_more_requests(), "no second request");
}

#[tokio::test]
async fn a_client_error_fails_without_retrying_and_says_why() {
    const WHY: &str =
        r#"{"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}"#;
    let server = Server::start(|_, _, mut stream| async move {
        let head = format!(
            "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\nwww-authenticate: Bearer\r\ncontent-length: {}\r\n\r\n",
            WHY.len()
        );
        send(&mut stream, head + WHY).await;
        hold(&mut stream).await;
    })
    .await;
    let mut source = source(&server.url("/events")).build().unwrap();
    match next(&mut source).await {
        Some(Err(Error::Status(response))) => {
            assert_eq!(response.status, StatusCode::UNAUTHORIZED);
            assert_eq!(response.headers["www-authenticate"], "Bearer");
            assert_eq!(response.text(), WHY);
            assert!(!response.truncated);
            assert!(
                response.to_string().contains("Incorrect API key"),
                "{response}"
            );
        }
        other => panic!("expected a status error, got {other:?}"),
    }
    assert!(next(&mut source).await.is_none());
}

#[tokio::test]
async fn a_body_that_trickles_one_byte_at_a_time() {
    const BODY: &str =
        "\u{FEFF}: hi\r\nevent: tick\r\nid: 9\r\ndata: one\r\ndata: two\r\n\r\ndata: é✓\n\n";
    let server = Server::start(|_, _, mut stream| async move {
        send(&mut stream, STREAM_HEAD).await;
        for byte in BODY.as_bytes() {
            send(&mut stream, [*byte]).await;
            tokio::task::yield_now().await;
        }
        hold(&mut stream).await;
    })
    .await;
    let mut source = source(&server.url("/events")).build().unwrap();
    expect_open(&mut source).await;
    let first = expect_message(&mut source).await;
    assert_eq!(
        (
            &*first.event_type,
            first.data.as_str(),
            first.last_event_id.as_str()
        ),
        ("tick", "one\ntwo", "9")
    );
    let second = expect_message(&mut source).await;
    assert_eq!(
        (&*second.event_type, second.data.as_str()),
        ("message", "é✓")
    );
}

#[tokio::test]
async fn an_event_larger_than_the_limit_is_a_typed_error() {
    let server = Server::start(|_, _, mut stream| async move {
        send(&mut stream, STREAM_HEAD).await;
        send(&mut stream, "data: small\n\n").await;
        let big = "x".repeat(600);
        for _ in 0..100 {
            send(&mut stream, format!("data: {big}\n")).await;
        }
        hold(&mut stream).await;
    })
    .await;
    let limits = DecodeLimits::default()
        .max_line_len(1024)
        .max_event_len(4096);
    let mut source = source(&server.url("/events"))
        .limits(limits)
        .build()
        .unwrap();
    expect_open(&mut source).await;
    assert_eq!(expect_message(&mut source).await.data, "small");
    match next(&mut source).await {
        Some(Err(Error::Decode(DecodeError::EventTooLarge { limit: 4096 }))) => {}
        other => panic!("expected EventTooLarge, got {other:?}"),
    }
    assert!(next(&mut source).await.is_none());
}

#[tokio::test]
async fn headers_then_silence_trips_the_idle_watchdog() {
    let mut server = Server::start(|n, _, mut stream| async move {
        send(&mut stream, STREAM_HEAD).await;
        if n == 0 {
            send(&mut stream, "id: 1\ndata: first\n\n").await;
        } else {
            send(&mut stream, "data: second\n\n").await;
        }
        hold(&mut stream).await;
    })
    .await;
    let idle = Duration::from_millis(300);
    let mut source = source(&server.url("/events"))
        .idle_timeout(Some(idle))
        .build()
        .unwrap();
    expect_open(&mut source).await;
    assert_eq!(expect_message(&mut source).await.data, "first");
    let (reason, _) = expect_reconnecting(&mut source).await;
    assert!(
        matches!(reason, ReconnectReason::Idle(d) if d == idle),
        "{reason:?}"
    );
    expect_open(&mut source).await;
    assert_eq!(expect_message(&mut source).await.data, "second");
    server.request().await;
    assert_eq!(header(&server.request().await, "last-event-id"), Some("1"));
}

#[tokio::test]
async fn keep_alive_comments_keep_the_watchdog_quiet() {
    let server = Server::start(|_, _, mut stream| async move {
        send(&mut stream, STREAM_HEAD).await;
        for _ in 0..8 {
            send(&mut stream, ": keep-alive\n\n").await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        send(&mut stream, "data: done\n\n").await;
        hold(&mut stream).await;
    })
    .await;
    let idle = Duration::from_millis(400);
    let mut source = source(&server.url("/events"))
        .idle_timeout(Some(idle))
        .build()
        .unwrap();
    expect_open(&mut source).await;
    // Eight tenths of a second of comments only: no reconnection in between.
    assert_eq!(expect_message(&mut source).await.data, "done");
}

#[tokio::test]
async fn a_refused_connection_is_retried_until_max_failures() {
    // A port with nothing listening: bind, read the port, close.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let config = fast().max_failures(Some(2));
    let mut source = EventSource::builder(format!("http://{addr}/"))
        .reconnect(config)
        .build()
        .unwrap();
    for delay in [40, 80] {
        let (reason, d) = expect_reconnecting(&mut source).await;
        assert!(matches!(reason, ReconnectReason::Connect(_)), "{reason:?}");
        assert_eq!(d, Duration::from_millis(delay));
    }
    match next(&mut source).await {
        Some(Err(Error::GaveUp {
            failures: 3,
            last: ReconnectReason::Connect(_),
        })) => {}
        other => panic!("expected GaveUp, got {other:?}"),
    }
    assert!(next(&mut source).await.is_none());
}

#[tokio::test]
async fn post_with_a_body_headers_and_an_initial_last_event_id() {
    let mut server = Server::start(|_, _, mut stream| async move {
        send(&mut stream, STREAM_HEAD).await;
        send(&mut stream, "data: token\n\n").await;
        hold(&mut stream).await;
    })
    .await;
    let mut source = source(&server.url("/events"))
        .method(http::Method::POST)
        .bearer_auth("sk-test")
        .header("content-type", "application/json")
        .body(r#"{"prompt": "hi"}"#)
        .last_event_id("41")
        .build()
        .unwrap();
    expect_open(&mut source).await;
    let token = expect_message(&mut source).await;
    // No id from the server yet: the one given still stands.
    assert_eq!(
        (token.data.as_str(), token.last_event_id.as_str()),
        ("token", "41")
    );
    let head = server.request().await;
    assert!(head.starts_with("post /events http/1.1\r\n"), "{head}");
    assert_eq!(header(&head, "authorization"), Some("bearer sk-test"));
    assert_eq!(header(&head, "content-type"), Some("application/json"));
    assert_eq!(header(&head, "content-length"), Some("16"));
    assert_eq!(header(&head, "last-event-id"), Some("41"));
}

#[cfg(feature = "rustls")]
#[tokio::test]
async fn https_with_a_test_certificate() {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let cert_der = certified.cert.der().to_vec();
    let key_der = certified.signing_key.serialize_der();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der)),
        )
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (heads_tx, mut heads) = mpsc::unbounded_channel();
    let handshakes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let heads_tx = heads_tx.clone();
            let handshakes = handshakes.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let n = handshakes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = heads_tx.send(read_head(&mut tls).await);
                send(&mut tls, STREAM_HEAD).await;
                send(&mut tls, format!("id: {n}\ndata: secure {n}\n\n")).await;
                if n == 0 {
                    let _ = tls.shutdown().await;
                } else {
                    hold(&mut tls).await;
                }
            });
        }
    });
    for host in ["localhost", "127.0.0.1"] {
        // Without the root, the certificate is refused (and retried).
        let mut untrusting = source(&format!("https://{host}:{port}/events"))
            .reconnect(fast().max_failures(Some(0)))
            .build()
            .unwrap();
        assert!(matches!(
            next(&mut untrusting).await,
            Some(Err(Error::GaveUp {
                last: ReconnectReason::Connect(_),
                ..
            }))
        ));
    }
    let mut source = source(&format!("https://localhost:{port}/events"))
        .add_root_certificate(cert_der)
        .build()
        .unwrap();
    expect_open(&mut source).await;
    let first = expect_message(&mut source).await;
    assert!(first.data.starts_with("secure "), "{first:?}");
    let (reason, _) = expect_reconnecting(&mut source).await;
    assert!(matches!(
        reason,
        ReconnectReason::Ended | ReconnectReason::Transport(_)
    ));
    expect_open(&mut source).await;
    let second = expect_message(&mut source).await;
    assert!(second.data.starts_with("secure "));
    let _ = tokio::time::timeout(TIMEOUT, heads.recv()).await;
    let head = tokio::time::timeout(TIMEOUT, heads.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        header(&head, "last-event-id"),
        Some(first.last_event_id.as_str())
    );
}
