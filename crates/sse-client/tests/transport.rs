//! The transport against hostile or unusual servers and proxies written here, over
//! real sockets: redirects (chains, loops, method rewrite, credentials across
//! origins), compressed bodies (streamed, corrupt, unknown, unannounced), URL
//! credentials, proxies (a `CONNECT` tunnel and a forwarding proxy), ids no header
//! can hold, error bodies, endless lines and huge events (with a bound on what the
//! client reads before it gives up).
//!
//! Each test asserts what was sent and what the user sees. Every wait is bounded by
//! [`TIMEOUT`]; nothing sleeps and then asserts.
#![cfg(feature = "tokio")]

mod common;

use common::{
    STREAM_HEAD, Server, TIMEOUT, expect_message, expect_open, header, hold, next, next_event,
    read_head, send,
};

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sse_client::http::{Method, StatusCode, header};
use sse_client::{
    DecodeError, Error, Event, EventSource, ReconnectConfig, ReconnectReason, RedirectError,
};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

fn headers<'h>(head: &'h str, name: &str) -> Vec<&'h str> {
    head.lines()
        .filter_map(|line| line.strip_prefix(&format!("{name}:")))
        .map(str::trim)
        .collect()
}

fn redirect(status: &str, to: &str) -> String {
    format!("HTTP/1.1 {status}\r\nlocation: {to}\r\ncontent-length: 0\r\n\r\n")
}

fn source(url: &str) -> sse_client::Builder {
    EventSource::builder(url)
        .reconnect(
            ReconnectConfig::default()
                .initial_retry(Duration::from_millis(20))
                .jitter(false),
        )
        .no_proxy()
}

async fn expect_reconnecting(source: &mut EventSource) -> ReconnectReason {
    match next_event(source).await {
        Event::Reconnecting { reason, .. } => reason,
        other => panic!("expected Reconnecting, got {other:?}"),
    }
}

async fn expect_error(source: &mut EventSource) -> Error {
    match next(source).await {
        Some(Err(error)) => error,
        other => panic!("expected an error, got {other:?}"),
    }
}

// Redirects.

#[tokio::test]
async fn a_redirect_chain_is_followed_and_reconnects_go_where_it_ended() {
    let mut server = Server::start(|_, head, mut stream| async move {
        if head.starts_with("get /events ") {
            send(&mut stream, redirect("301 Moved Permanently", "/hop")).await;
        } else if head.starts_with("get /hop ") {
            send(&mut stream, redirect("307 Temporary Redirect", "moved?x=1")).await;
        } else {
            send(&mut stream, STREAM_HEAD).await;
            send(&mut stream, "id: 1\ndata: here\n\n").await;
        }
    })
    .await;
    let mut source = source(&server.url("/events")).build().unwrap();
    expect_open(&mut source).await;
    assert_eq!(expect_message(&mut source).await.data, "here");
    assert!(matches!(
        expect_reconnecting(&mut source).await,
        ReconnectReason::Ended
    ));
    expect_open(&mut source).await;
    for line in ["get /events ", "get /hop ", "get /moved?x=1 "] {
        let head = server.request().await;
        assert!(head.starts_with(line), "{head}");
    }
    let again = server.request().await;
    assert!(again.starts_with("get /moved?x=1 "), "{again}");
    assert_eq!(header(&again, "last-event-id"), Some("1"));
}

#[tokio::test]
async fn a_post_becomes_a_get_without_its_body_on_303_and_keeps_it_on_308() {
    let mut server = Server::start(|_, head, mut stream| async move {
        if head.starts_with("post /events ") {
            send(&mut stream, redirect("308 Permanent Redirect", "/kept")).await;
        } else if head.starts_with("post /kept ") {
            send(&mut stream, redirect("303 See Other", "/result")).await;
        } else {
            send(&mut stream, STREAM_HEAD).await;
            send(&mut stream, "data: done\n\n").await;
            hold(&mut stream).await;
        }
    })
    .await;
    let mut source = source(&server.url("/events"))
        .method(Method::POST)
        .bearer_auth("sk-test")
        .header(header::CONTENT_TYPE, "application/json")
        .body(r#"{"q": 1}"#)
        .build()
        .unwrap();
    expect_open(&mut source).await;
    assert_eq!(expect_message(&mut source).await.data, "done");
    server.request().await;
    let kept = server.request().await;
    assert!(kept.starts_with("post /kept "), "{kept}");
    assert!(kept.ends_with(r#"{"q": 1}"#), "{kept}");
    assert_eq!(header(&kept, "content-type"), Some("application/json"));
    let result = server.request().await;
    assert!(result.starts_with("get /result "), "{result}");
    assert_eq!(header(&result, "content-type"), None);
    assert_eq!(header(&result, "content-length"), None);
    // Same origin: the credentials go along.
    assert_eq!(header(&result, "authorization"), Some("bearer sk-test"));
}

#[tokio::test]
async fn a_redirect_to_another_origin_drops_the_credentials() {
    let mut other = Server::start(|_, _, mut stream| async move {
        send(&mut stream, STREAM_HEAD).await;
        send(&mut stream, "data: elsewhere\n\n").await;
        hold(&mut stream).await;
    })
    .await;
    let to = other.url("/there");
    let mut first = Server::start(move |_, _, mut stream| {
        let to = to.clone();
        async move { send(&mut stream, redirect("302 Found", &to)).await }
    })
    .await;
    let url = first
        .url("/events")
        .replace("http://", "http://user:secret@");
    let mut source = source(&url)
        .header("cookie", "session=1")
        .header("x-api-version", "2")
        .build()
        .unwrap();
    expect_open(&mut source).await;
    assert_eq!(expect_message(&mut source).await.data, "elsewhere");
    let head = first.request().await;
    // base64("user:secret")
    assert_eq!(
        header(&head, "authorization"),
        Some("basic dxnlcjpzzwnyzxq=")
    );
    let head = other.request().await;
    assert_eq!(header(&head, "authorization"), None, "{head}");
    assert_eq!(header(&head, "cookie"), None, "{head}");
    assert_eq!(header(&head, "x-api-version"), Some("2"));
}

#[tokio::test]
async fn a_redirect_loop_is_a_typed_error_and_not_retried() {
    let mut server = Server::start(|_, head, mut stream| async move {
        let to = if head.starts_with("get /a ") {
            "/b"
        } else {
            "/a"
        };
        send(&mut stream, redirect("302 Found", to)).await;
    })
    .await;
    let mut source = source(&server.url("/a")).build().unwrap();
    let error = expect_error(&mut source).await;
    assert!(
        matches!(&error, Error::Redirect(RedirectError::Loop { url }) if url.ends_with("/a")),
        "{error:?}"
    );
    assert!(next(&mut source).await.is_none());
    server.request().await;
    server.request().await;
    assert!(server.no_more_requests());
}

#[tokio::test]
async fn more_redirects_than_the_limit_is_a_typed_error() {
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let server = Server::start(move |n, _, mut stream| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            send(
                &mut stream,
                redirect("307 Temporary Redirect", &format!("/{n}")),
            )
            .await
        }
    })
    .await;
    let mut source = source(&server.url("/start"))
        .redirect_limit(3)
        .build()
        .unwrap();
    let error = expect_error(&mut source).await;
    assert!(
        matches!(error, Error::Redirect(RedirectError::TooMany { limit: 3 })),
        "{error:?}"
    );
    // The first request and three redirects followed.
    assert_eq!(sent.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn with_redirects_off_a_3xx_is_a_status_error_with_its_location() {
    let server = Server::start(|_, _, mut stream| async move {
        send(&mut stream, redirect("302 Found", "/elsewhere")).await;
    })
    .await;
    let mut source = source(&server.url("/events"))
        .redirect_limit(0)
        .build()
        .unwrap();
    match expect_error(&mut source).await {
        Error::Status(response) => {
            assert_eq!(response.status, StatusCode::FOUND);
            assert_eq!(response.headers[header::LOCATION], "/elsewhere");
        }
        other => panic!("expected a status error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_redirect_to_another_scheme_is_a_typed_error() {
    let server = Server::start(|_, _, mut stream| async move {
        send(&mut stream, redirect("302 Found", "ftp://example.com/x")).await;
    })
    .await;
    let mut source = source(&server.url("/events")).build().unwrap();
    let error = expect_error(&mut source).await;
    assert!(
        matches!(error, Error::Redirect(RedirectError::Location { .. })),
        "{error:?}"
    );
}

// Credentials and headers.

#[tokio::test]
async fn url_credentials_become_basic_and_never_reach_host() {
    let mut server = Server::start(|_, _, mut stream| async move {
        send(&mut stream, STREAM_HEAD).await;
        hold(&mut stream).await;
    })
    .await;
    let url = server
        .url("/events")
        .replace("http://", "http://us%20er:p%40ss@");
    let mut source = source(&url).build().unwrap();
    expect_open(&mut source).await;
    let head = server.request().await;
    // base64("us er:p@ss")
    assert_eq!(
        header(&head, "authorization"),
        Some("basic dxmgzxi6cebzcw==")
    );
    assert_eq!(
        header(&head, "host"),
        Some(server.addr.to_string().as_str())
    );
    assert!(!head.contains("p%40ss") && !head.contains("p@ss"), "{head}");
    assert!(head.starts_with("get /events http/1.1\r\n"), "{head}");
}

#[tokio::test]
async fn basic_auth_appended_headers_and_a_json_body() {
    let mut server = Server::start(|_, _, mut stream| async move {
        send(&mut stream, STREAM_HEAD).await;
        hold(&mut stream).await;
    })
    .await;
    let mut source = source(&server.url("/events"))
        .method(Method::POST)
        .basic_auth("aladdin", Some("opensesame"))
        .header_append("x-tag", "a")
        .header_append("x-tag", "b")
        .json(&serde_json::json!({"stream": true}))
        .build()
        .unwrap();
    expect_open(&mut source).await;
    let head = server.request().await;
    assert_eq!(
        header(&head, "authorization"),
        Some("basic ywxhzgrpbjpvcgvuc2vzyw1l")
    );
    assert_eq!(headers(&head, "x-tag"), ["a", "b"]);
    assert_eq!(header(&head, "content-type"), Some("application/json"));
    assert!(head.ends_with(r#"{"stream":true}"#), "{head}");
}

// Ids.

#[tokio::test]
async fn a_control_character_in_an_id_never_wedges_reconnection() {
    let mut server = Server::start(|n, _, mut stream| async move {
        send(&mut stream, STREAM_HEAD).await;
        match n {
            0 => send(&mut stream, "id: caf\u{e9}\ndata: one\n\n").await,
            1 => send(&mut stream, "id: a\u{1}b\ndata: two\n\n").await,
            _ => {
                send(&mut stream, "data: three\n\n").await;
                hold(&mut stream).await;
            }
        }
    })
    .await;
    let mut source = source(&server.url("/events")).build().unwrap();
    expect_open(&mut source).await;
    assert_eq!(expect_message(&mut source).await.last_event_id, "caf\u{e9}");
    expect_reconnecting(&mut source).await;
    expect_open(&mut source).await;
    // The user sees the id as a browser's `lastEventId` shows it.
    let two = expect_message(&mut source).await;
    assert_eq!(
        (two.data.as_str(), two.last_event_id.as_str()),
        ("two", "a\u{1}b")
    );
    expect_reconnecting(&mut source).await;
    expect_open(&mut source).await;
    assert_eq!(expect_message(&mut source).await.data, "three");
    assert_eq!(header(&server.request().await, "last-event-id"), None);
    // A non-ASCII id goes as its UTF-8 bytes.
    assert_eq!(
        header(&server.request().await, "last-event-id"),
        Some("caf\u{e9}")
    );
    // One no header can hold is not sent; the request still is.
    assert_eq!(header(&server.request().await, "last-event-id"), None);
}

// Error responses.

#[tokio::test]
async fn a_429_carries_its_body_and_retry_after() {
    let server = Server::start(|n, _, mut stream| async move {
        if n == 0 {
            let why = r#"{"error": "rate limited, slow down"}"#;
            let head = format!(
                "HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\ncontent-length: {}\r\n\r\n",
                why.len()
            );
            send(&mut stream, head + why).await;
        } else {
            send(&mut stream, STREAM_HEAD).await;
            hold(&mut stream).await;
        }
    })
    .await;
    let mut source = source(&server.url("/events")).build().unwrap();
    match next_event(&mut source).await {
        Event::Reconnecting {
            reason: ReconnectReason::Status(response),
            delay,
        } => {
            assert_eq!(response.status, StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(response.text(), r#"{"error": "rate limited, slow down"}"#);
            assert_eq!(delay, Duration::from_secs(1));
        }
        other => panic!("expected Reconnecting, got {other:?}"),
    }
    expect_open(&mut source).await;
}

#[tokio::test]
async fn an_error_body_is_bounded_in_size_and_in_time() {
    let server = Server::start(|n, _, mut stream| async move {
        if n == 0 {
            // A megabyte of explanation.
            let head = "HTTP/1.1 403 Forbidden\r\ncontent-length: 1048576\r\n\r\n";
            send(&mut stream, head).await;
            send(&mut stream, vec![b'x'; 1 << 20]).await;
        } else {
            // Ten bytes, then silence, of a promised thousand.
            let head = "HTTP/1.1 403 Forbidden\r\ncontent-length: 1000\r\n\r\n";
            send(&mut stream, format!("{head}0123456789")).await;
            hold(&mut stream).await;
        }
    })
    .await;
    let mut big = source(&server.url("/events")).build().unwrap();
    match expect_error(&mut big).await {
        Error::Status(response) => {
            assert_eq!(response.body.len(), 8 * 1024);
            assert!(response.truncated);
        }
        other => panic!("expected a status error, got {other:?}"),
    }
    let mut silent = source(&server.url("/events"))
        .connect_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    match expect_error(&mut silent).await {
        Error::Status(response) => {
            assert_eq!(response.status, StatusCode::FORBIDDEN);
            assert_eq!(response.text(), "0123456789");
            assert!(response.truncated);
        }
        other => panic!("expected a status error, got {other:?}"),
    }
}

// Broken servers.

#[tokio::test]
async fn no_response_at_all_or_garbage_is_a_connect_error_and_retried() {
    let server = Server::start(|n, _, mut stream| async move {
        match n {
            0 => {}
            1 => send(&mut stream, "this is not HTTP\r\n\r\n").await,
            _ => {
                send(&mut stream, STREAM_HEAD).await;
                send(&mut stream, "data: finally\n\n").await;
                hold(&mut stream).await;
            }
        }
    })
    .await;
    let mut source = source(&server.url("/events")).build().unwrap();
    for _ in 0..2 {
        let reason = expect_reconnecting(&mut source).await;
        assert!(matches!(reason, ReconnectReason::Connect(_)), "{reason:?}");
    }
    expect_open(&mut source).await;
    assert_eq!(expect_message(&mut source).await.data, "finally");
}

#[tokio::test]
async fn invalid_utf8_is_replaced_as_a_browser_does() {
    let server = Server::start(|_, _, mut stream| async move {
        send(&mut stream, STREAM_HEAD).await;
        send(&mut stream, b"data: a\xff\xfeb\n\n").await;
        hold(&mut stream).await;
    })
    .await;
    let mut source = source(&server.url("/events")).build().unwrap();
    expect_open(&mut source).await;
    assert_eq!(expect_message(&mut source).await.data, "a\u{fffd}\u{fffd}b");
}

/// Streams `line` forever (until the client leaves); returns how many bytes went.
async fn flood(stream: &mut TcpStream, line: &[u8], cap: usize) -> usize {
    let mut sent = 0;
    while sent < cap {
        if stream.write_all(line).await.is_err() {
            break;
        }
        sent += line.len();
    }
    sent
}

#[tokio::test]
async fn an_endless_line_and_a_100_mb_event_end_early_and_bounded() {
    const MB: usize = 1 << 20;
    let (sent_tx, mut sent_rx) = mpsc::unbounded_channel();
    let server = Server::start(move |n, _, mut stream| {
        let sent_tx = sent_tx.clone();
        async move {
            send(&mut stream, STREAM_HEAD).await;
            let sent = if n == 0 {
                send(&mut stream, "data: ").await;
                flood(&mut stream, &[b'x'; 64 * 1024], 100 * MB).await
            } else {
                let mut line = b"data: ".to_vec();
                line.extend([b'y'; 1017]);
                line.push(b'\n');
                flood(&mut stream, &line, 100 * MB).await
            };
            let _ = sent_tx.send(sent);
        }
    })
    .await;
    let mut endless = source(&server.url("/events")).build().unwrap();
    expect_open(&mut endless).await;
    let error = expect_error(&mut endless).await;
    assert!(
        matches!(error, Error::Decode(DecodeError::LineTooLong { .. })),
        "{error:?}"
    );
    drop(endless);
    let mut huge = source(&server.url("/events")).build().unwrap();
    expect_open(&mut huge).await;
    let error = expect_error(&mut huge).await;
    assert!(
        matches!(error, Error::Decode(DecodeError::EventTooLarge { .. })),
        "{error:?}"
    );
    drop(huge);
    // The client stopped reading at its limits (1 MiB a line, 4 MiB an event): the
    // servers could write little more than that and the sockets' buffers.
    for _ in 0..2 {
        let sent = tokio::time::timeout(TIMEOUT, sent_rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(sent < 40 * MB, "the server wrote {sent} bytes");
    }
}

// Compressed bodies.

fn gzip_parts(parts: &[&str]) -> Vec<Vec<u8>> {
    // Each part is flushed (a sync flush), so it can be decoded on its own.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut out = Vec::new();
    for part in parts {
        encoder.write_all(part.as_bytes()).unwrap();
        encoder.flush().unwrap();
        out.push(std::mem::take(encoder.get_mut()));
    }
    out.push(encoder.finish().unwrap());
    out
}

#[tokio::test]
async fn a_gzip_stream_is_decoded_event_by_event() {
    let (got_first, first) = oneshot::channel::<()>();
    let first = Arc::new(tokio::sync::Mutex::new(Some(first)));
    let mut server = Server::start(move |_, _, mut stream| {
        let first = first.clone();
        async move {
            let parts = gzip_parts(&["id: 1\ndata: one\n\n", "data: two\n\n"]);
            send(
                &mut stream,
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: gzip\r\n\r\n",
            )
            .await;
            send(&mut stream, &parts[0]).await;
            // The second event waits until the client has the first: decoding
            // does not wait for more input than the event needs.
            if let Some(first) = first.lock().await.take() {
                let _ = tokio::time::timeout(TIMEOUT, first).await;
            }
            send(&mut stream, &parts[1]).await;
            send(&mut stream, &parts[2]).await;
            hold(&mut stream).await;
        }
    })
    .await;
    let mut source = source(&server.url("/events")).build().unwrap();
    expect_open(&mut source).await;
    let one = expect_message(&mut source).await;
    assert_eq!(
        (one.data.as_str(), one.last_event_id.as_str()),
        ("one", "1")
    );
    got_first.send(()).unwrap();
    assert_eq!(expect_message(&mut source).await.data, "two");
    let head = server.request().await;
    assert_eq!(
        header(&head, "accept-encoding"),
        Some("gzip, deflate, br, zstd")
    );
}

#[tokio::test]
async fn brotli_deflate_and_zstd_bodies_are_decoded() {
    let body = "event: greeting\ndata: hello\n\ndata: world\n\n";
    let mut brotli = Vec::new();
    {
        let mut writer = brotli::CompressorWriter::new(&mut brotli, 4096, 5, 22);
        writer.write_all(body.as_bytes()).unwrap();
    }
    let mut deflate = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    deflate.write_all(body.as_bytes()).unwrap();
    let deflate = deflate.finish().unwrap();
    let mut zstd = Vec::new();
    futures_lite::io::AsyncReadExt::read_to_end(
        &mut async_compression::futures::bufread::ZstdEncoder::new(body.as_bytes()),
        &mut zstd,
    )
    .await
    .unwrap();
    for (coding, bytes) in [("br", brotli), ("deflate", deflate), ("zstd", zstd)] {
        let server = Server::start(move |_, _, mut stream| {
            let bytes = bytes.clone();
            async move {
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: {coding}\r\n\r\n"
                );
                send(&mut stream, head).await;
                send(&mut stream, &bytes).await;
                hold(&mut stream).await;
            }
        })
        .await;
        let mut source = source(&server.url("/events")).build().unwrap();
        expect_open(&mut source).await;
        let greeting = expect_message(&mut source).await;
        assert_eq!(
            (&*greeting.event_type, greeting.data.as_str()),
            ("greeting", "hello"),
            "{coding}"
        );
        assert_eq!(expect_message(&mut source).await.data, "world", "{coding}");
    }
}

#[tokio::test]
async fn an_encoding_it_cannot_decode_is_a_typed_error_not_retried() {
    let mut server = Server::start(|_, _, mut stream| async move {
        send(
            &mut stream,
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: compress\r\n\r\n",
        )
        .await;
        send(&mut stream, b"\x1f\x9d\x90data").await;
        hold(&mut stream).await;
    })
    .await;
    let mut source = source(&server.url("/events")).build().unwrap();
    let error = expect_error(&mut source).await;
    assert!(
        matches!(&error, Error::ContentEncoding(value) if value == "compress"),
        "{error:?}"
    );
    assert!(next(&mut source).await.is_none());
    server.request().await;
    assert!(server.no_more_requests());
}

#[tokio::test]
async fn a_corrupt_gzip_body_is_a_transport_error_after_the_good_events() {
    let (got_good, good) = oneshot::channel::<()>();
    let good = Arc::new(tokio::sync::Mutex::new(Some(good)));
    let server = Server::start(move |_, _, mut stream| {
        let good = good.clone();
        async move {
            let parts = gzip_parts(&["data: good\n\n"]);
            send(
                &mut stream,
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: gzip\r\n\r\n",
            )
            .await;
            send(&mut stream, &parts[0]).await;
            if let Some(good) = good.lock().await.take() {
                let _ = tokio::time::timeout(TIMEOUT, good).await;
            }
            send(&mut stream, [0xffu8; 64]).await;
            hold(&mut stream).await;
        }
    })
    .await;
    let mut source = source(&server.url("/events")).build().unwrap();
    expect_open(&mut source).await;
    assert_eq!(expect_message(&mut source).await.data, "good");
    got_good.send(()).unwrap();
    let reason = expect_reconnecting(&mut source).await;
    assert!(
        matches!(reason, ReconnectReason::Transport(_)),
        "{reason:?}"
    );
}

#[tokio::test]
async fn a_reset_in_the_middle_of_an_event_never_dispatches_it() {
    let server = Server::start(|n, _, mut stream| async move {
        send(&mut stream, STREAM_HEAD).await;
        if n == 0 {
            send(&mut stream, "id: 1\ndata: whole\n\nid: 2\ndata: partial").await;
            // A reset, not a clean close.
            let _ = stream.set_zero_linger();
            drop(stream);
        } else {
            send(&mut stream, "data: after\n\n").await;
            hold(&mut stream).await;
        }
    })
    .await;
    let mut source = source(&server.url("/events")).build().unwrap();
    expect_open(&mut source).await;
    assert_eq!(expect_message(&mut source).await.data, "whole");
    let reason = expect_reconnecting(&mut source).await;
    assert!(
        matches!(
            reason,
            ReconnectReason::Transport(_) | ReconnectReason::Ended
        ),
        "{reason:?}"
    );
    expect_open(&mut source).await;
    let after = expect_message(&mut source).await;
    assert_eq!(
        (after.data.as_str(), after.last_event_id.as_str()),
        ("after", "1")
    );
}

#[tokio::test]
async fn a_gzip_body_without_the_header_is_not_guessed() {
    let server = Server::start(|_, _, mut stream| async move {
        send(&mut stream, STREAM_HEAD).await;
        for part in gzip_parts(&["data: hidden\n\n"]) {
            send(&mut stream, part).await;
        }
    })
    .await;
    let mut source = source(&server.url("/events")).build().unwrap();
    expect_open(&mut source).await;
    // The bytes are read as text: no event comes out of them, and the stream ends.
    let reason = expect_reconnecting(&mut source).await;
    assert!(matches!(reason, ReconnectReason::Ended), "{reason:?}");
}

// Proxies.

/// A small HTTP proxy: `CONNECT host:port` opens a tunnel, an absolute-form
/// request is forwarded; a request without the expected `Proxy-Authorization`
/// gets 407. Each request head goes to the returned channel.
async fn proxy(expected_auth: &'static str) -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let head = read_head(&mut client).await;
                let _ = tx.send(head.clone());
                if header(&head, "proxy-authorization") != Some(expected_auth) {
                    send(
                        &mut client,
                        "HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\n\r\n",
                    )
                    .await;
                    return;
                }
                let target = head
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                if head.starts_with("connect ") {
                    let Ok(mut server) = TcpStream::connect(target.as_str()).await else {
                        return;
                    };
                    send(&mut client, "HTTP/1.1 200 Connection Established\r\n\r\n").await;
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                } else {
                    let authority = target
                        .strip_prefix("http://")
                        .and_then(|rest| rest.split('/').next())
                        .unwrap_or_default();
                    let Ok(mut server) = TcpStream::connect(authority).await else {
                        return;
                    };
                    send(&mut server, head.as_bytes()).await;
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    (url, rx)
}

#[tokio::test]
async fn an_http_request_goes_through_a_forwarding_proxy_with_credentials() {
    let mut server = Server::start(|_, _, mut stream| async move {
        send(&mut stream, STREAM_HEAD).await;
        send(&mut stream, "data: proxied\n\n").await;
        hold(&mut stream).await;
    })
    .await;
    // base64("px:pw")
    let (proxy_url, mut seen) = proxy("basic chg6chc=").await;
    let mut source = source(&server.url("/events"))
        .proxy(proxy_url.replace("http://", "http://px:pw@"))
        .build()
        .unwrap();
    expect_open(&mut source).await;
    assert_eq!(expect_message(&mut source).await.data, "proxied");
    let at_proxy = seen.recv().await.unwrap();
    let absolute = format!("get {} http/1.1\r\n", server.url("/events"));
    assert!(at_proxy.starts_with(&absolute), "{at_proxy}");
    assert_eq!(
        header(&at_proxy, "host"),
        Some(server.addr.to_string().as_str())
    );
    server.request().await;
}

#[tokio::test]
async fn https_goes_through_a_connect_tunnel_on_both_runtimes_and_a_refusal_is_retried() {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
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
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, heads_tx) = (acceptor.clone(), heads_tx.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let _ = heads_tx.send(read_head(&mut tls).await);
                send(&mut tls, STREAM_HEAD).await;
                send(&mut tls, "data: through the tunnel\n\n").await;
                hold(&mut tls).await;
            });
        }
    });
    let (proxy_url, mut seen) = proxy("basic chg6chc=").await;
    let url = format!("https://localhost:{port}/events");
    // Wrong credentials: the proxy answers 407, a failed attempt.
    let mut refused = source(&url)
        .reconnect(ReconnectConfig::default().max_failures(Some(0)))
        .proxy(proxy_url.replace("http://", "http://px:wrong@"))
        .add_root_certificate(cert_der.clone())
        .build()
        .unwrap();
    let error = expect_error(&mut refused).await;
    assert!(
        matches!(
            error,
            Error::GaveUp {
                last: ReconnectReason::Connect(_),
                ..
            }
        ),
        "{error:?}"
    );
    seen.recv().await.unwrap();
    for runtime in [sse_client::Runtime::Tokio, sse_client::Runtime::Smol] {
        let mut source = source(&url)
            .runtime(runtime)
            .proxy(proxy_url.replace("http://", "http://px:pw@"))
            .add_root_certificate(cert_der.clone())
            .build()
            .unwrap();
        expect_open(&mut source).await;
        assert_eq!(expect_message(&mut source).await.data, "through the tunnel");
        let at_proxy = seen.recv().await.unwrap();
        assert!(
            at_proxy.starts_with(&format!("connect localhost:{port} http/1.1\r\n")),
            "{at_proxy}"
        );
        let at_server = heads.recv().await.unwrap();
        assert!(
            at_server.starts_with("get /events http/1.1\r\n"),
            "{at_server}"
        );
        // The proxy's credentials stay with the proxy.
        assert_eq!(header(&at_server, "proxy-authorization"), None);
    }
}

// The other runtime.

#[tokio::test]
async fn on_smol_a_redirect_a_gzip_body_and_a_proxy_work_too() {
    let mut server = Server::start(|_, head, mut stream| async move {
        if head.starts_with("get http://") && head.contains("/events ") {
            send(&mut stream, redirect("307 Temporary Redirect", "/gz")).await;
        } else {
            send(
                &mut stream,
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: gzip\r\n\r\n",
            )
            .await;
            for part in gzip_parts(&["id: 7\ndata: smol\n\n"]) {
                send(&mut stream, part).await;
            }
            hold(&mut stream).await;
        }
    })
    .await;
    let (proxy_url, mut seen) = proxy("basic chg6chc=").await;
    let mut source = source(&server.url("/events"))
        .runtime(sse_client::Runtime::Smol)
        .proxy(proxy_url.replace("http://", "http://px:pw@"))
        .build()
        .unwrap();
    expect_open(&mut source).await;
    let message = expect_message(&mut source).await;
    assert_eq!(
        (message.data.as_str(), message.last_event_id.as_str()),
        ("smol", "7")
    );
    for path in ["/events", "/gz"] {
        let at_proxy = seen.recv().await.unwrap();
        let line = format!("get {} http/1.1\r\n", server.url(path));
        assert!(at_proxy.starts_with(&line), "{at_proxy}");
        server.request().await;
    }
}

#[tokio::test]
async fn a_wrong_content_type_in_an_unknown_encoding_is_a_content_type_error() {
    let server = Server::start(|_, _, mut stream| async move {
        send(
            &mut stream,
            "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-encoding: compress\r\ncontent-length: 0\r\n\r\n",
        )
        .await;
    })
    .await;
    let mut source = source(&server.url("/events")).build().unwrap();
    let error = expect_error(&mut source).await;
    assert!(
        matches!(&error, Error::ContentType(Some(value)) if value == "text/html"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_zstd_window_over_8_mib_is_refused_not_allocated() {
    use async_compression::zstd::CParameter;

    let mut big_window = Vec::new();
    futures_lite::io::AsyncReadExt::read_to_end(
        &mut async_compression::futures::bufread::ZstdEncoder::with_quality_and_params(
            &b"data: too wide\n\n"[..],
            async_compression::Level::Default,
            &[CParameter::window_log(27)],
        ),
        &mut big_window,
    )
    .await
    .unwrap();
    let server = Server::start(move |_, _, mut stream| {
        let big_window = big_window.clone();
        async move {
            send(
                &mut stream,
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: zstd\r\n\r\n",
            )
            .await;
            send(&mut stream, &big_window).await;
            hold(&mut stream).await;
        }
    })
    .await;
    let mut source = source(&server.url("/events")).build().unwrap();
    expect_open(&mut source).await;
    let reason = expect_reconnecting(&mut source).await;
    assert!(
        matches!(reason, ReconnectReason::Transport(_)),
        "{reason:?}"
    );
}
