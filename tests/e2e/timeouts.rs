//! Connections that hold the server without doing their part are closed: silent
//! ones, half-sent requests, idle keep-alive connections, and streams whose client
//! stopped reading.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Adapter;
use sse_testkit::client::RawClient;
use sse_testkit::demo::Server;

/// A bound on how long the server may take to close, far above the timeouts set
/// (1 and 2 s), so a loaded runner cannot break it.
const CLOSED_WITHIN: Duration = Duration::from_secs(30);

/// Connects and sends `bytes` (maybe none).
async fn send(server: &Server, bytes: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(server.addr()).await.expect("connect");
    tcp.write_all(bytes.as_bytes()).await.expect("write");
    tcp
}

/// Reads until the server closes the connection; panics if it does not within
/// [`CLOSED_WITHIN`]. Returns what it sent before.
async fn closed_by_server(mut tcp: TcpStream, what: &str) -> String {
    let mut got = Vec::new();
    let read = tokio::time::timeout(CLOSED_WITHIN, async {
        let mut chunk = [0; 4096];
        loop {
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    });
    assert!(
        read.await.is_ok(),
        "{what}: still open after {CLOSED_WITHIN:?}"
    );
    String::from_utf8_lossy(&got).into_owned()
}

/// With `--head-timeout 1 --body-timeout 1`: a connection that sends nothing, half a
/// request head, half a body, or idles after a request is closed; the half-sent
/// `POST` publishes nothing; the server serves others meanwhile.
pub(crate) async fn silent_and_half_sent_requests_are_closed(adapter: Adapter) {
    let server = adapter.start(&["--head-timeout", "1", "--body-timeout", "1"]);
    let host = server.addr();
    let silent = send(&server, "").await;
    let half_head = send(&server, &format!("GET /stats HTTP/1.1\r\nhost: {host}\r\n")).await;
    let half_body = send(
        &server,
        &format!(
            "POST /publish HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n\
             content-length: 100\r\n\r\n{{\"data\": "
        ),
    )
    .await;
    let keep_alive = send(
        &server,
        &format!("GET /stats HTTP/1.1\r\nhost: {host}\r\n\r\n"),
    )
    .await;

    let (silent, half_head, half_body, idle) = tokio::join!(
        closed_by_server(silent, "a silent connection"),
        closed_by_server(half_head, "half a head"),
        closed_by_server(half_body, "half a body"),
        closed_by_server(keep_alive, "an idle keep-alive connection"),
    );
    for answer in [&silent, &half_head, &half_body] {
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
            "{answer:?}"
        );
    }
    assert!(
        idle.starts_with("HTTP/1.1 200"),
        "the request was answered: {idle:?}"
    );
    let stats = server.stats().await;
    assert_eq!(
        stats["published"], 0,
        "the half body published nothing: {stats}"
    );
}

/// With `--write-stall 2`: a client that stops reading while events keep coming
/// (`drop-oldest`, so the hub itself never ends its stream) is closed once its
/// socket has taken nothing for 2 s: its client is removed (the disconnect hook
/// once), and its socket is closed: reading what the kernel buffered then meets
/// the end (were it still open, the stream would go on, or stay silent).
pub(crate) async fn a_stream_whose_client_stops_reading_is_closed(adapter: Adapter) {
    let server = adapter.start(&[
        "--write-stall",
        "2",
        "--policy",
        "drop-oldest",
        "--max-lag",
        "16",
        "--keep-alive",
        "0",
    ]);
    let stuck = RawClient::connect(&server, "stuck").await;
    let padding = "x".repeat(16 * 1024);
    for _ in 0..200 {
        server.publish(&json!({ "data": padding })).await;
        if server.stats().await["active"] == 0 {
            break;
        }
    }
    server
        .wait_for_stats("the stalled client to be removed", |s| s["active"] == 0)
        .await;
    let stats = server.stats().await;
    assert_eq!(stats["disconnects"], 1, "{stats}");
    let read = stuck.read_until_closed(CLOSED_WITHIN).await;
    assert!(read.is_ok(), "the stalled connection is still open");
}
