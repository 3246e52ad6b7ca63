//! Attacks on the serving side, each against a real demo process: a reader that
//! stopped reading with a backlog small enough for the kernel to hold, an HTTP/2
//! connection kept open by PINGs alone, and a flood of connections from one
//! address that reopens each one the server closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::Adapter;
use sse_testkit::TIMEOUT;
use sse_testkit::client::{Connect, RawClient};

/// A bound on how long the server may take to close, far above the timeouts set
/// (1 and 2 s), so a loaded runner cannot break it.
const CLOSED_WITHIN: Duration = Duration::from_secs(30);

/// With `--write-stall 2` and keep-alive comments every second: a client that
/// reads nothing while 64 events of 1 KiB arrive (a backlog its kernel holds,
/// acknowledged, so the server's writes never wait) is closed, its client removed
/// once (the disconnect hook), while a client that reads gets everything and stays.
pub(crate) async fn a_stuck_reader_with_a_small_backlog_is_closed(adapter: Adapter) {
    let server = adapter.start(&[
        "--write-stall",
        "2",
        "--keep-alive",
        "1",
        "--policy",
        "drop-oldest",
        "--max-lag",
        "1000",
    ]);
    let mut reader = Connect::new().client("reader").open(&server).await;
    let stuck = RawClient::connect_with_buffer(&server, "stuck", None).await;
    let padding = "x".repeat(1024);
    for n in 0..EVENTS {
        server
            .publish(&json!({ "data": format!("{n} {padding}") }))
            .await;
    }
    for n in 0..EVENTS {
        let event = reader.next_event().await;
        assert!(event.data.starts_with(&format!("{n} ")), "{n}: {event:?}");
    }
    let stats = server
        .wait_for_stats_within(CLOSED_WITHIN, "the stuck reader to be removed", |s| {
            s["active"] == 1
        })
        .await;
    assert_eq!(stats["disconnects"], 1, "{stats}");
    let clients = stats["clients"].as_array().expect("a client list");
    assert_eq!(clients, &[json!("reader")], "{stats}");
    let read = stuck.read_until_closed(CLOSED_WITHIN).await;
    assert!(read.is_ok(), "the stuck reader's connection is still open");
    // The reader is still served, past the write-stall timeout.
    let id = server.broadcast("after").await;
    assert_eq!(reader.next_event().await.last_event_id, id);
}

/// How many 1 KiB events the stuck reader leaves unread: far below what its
/// kernel and the server's hold (the server's writes never wait), enough for its
/// receive window to show them (see `sse_net::watch`: the hub sends them in a few
/// large writes, which the peer's kernel packs tightly).
const EVENTS: usize = 64;

/// The HTTP/2 connection preface and an empty SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";

/// A PING frame (8 bytes of opaque data, stream 0).
const H2_PING: &[u8] = b"\0\0\x08\x06\0\0\0\0\0pingping";

/// `GET /` on stream 1, ending the stream: a HEADERS frame whose block is
/// `:method GET`, `:scheme http`, `:path /` from HPACK's static table.
const H2_GET: &[u8] = b"\0\0\x03\x01\x05\0\0\0\x01\x82\x86\x84";

/// Connects, sends `opening`, then a PING every 200 ms, reading whatever comes,
/// until the server closes the connection; panics if it does not within
/// [`CLOSED_WITHIN`].
async fn pinging_until_closed(addr: SocketAddr, opening: &[&[u8]], what: &str) {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    for bytes in opening {
        tcp.write_all(bytes).await.expect("write");
    }
    let (mut read, mut write) = tcp.into_split();
    let pings = async {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if write.write_all(H2_PING).await.is_err() {
                // Closed: the reader sees it too.
                return std::future::pending::<()>().await;
            }
        }
    };
    let closed = async {
        let mut chunk = [0; 4096];
        while read.read(&mut chunk).await.is_ok_and(|n| n > 0) {}
    };
    let until_closed = async {
        tokio::select! {
            () = pings => {}
            () = closed => {}
        }
    };
    assert!(
        tokio::time::timeout(CLOSED_WITHIN, until_closed)
            .await
            .is_ok(),
        "{what}: still open after {CLOSED_WITHIN:?}"
    );
}

/// With `--head-timeout 1 --idle-timeout 4`: an HTTP/2 (prior knowledge)
/// connection that sends only PINGs is closed (the head timeout: no request), and
/// so is one that sent a request and then only PINGs (the idle timeout: no request
/// open); a stream open on its own connection meanwhile stays open past both,
/// kept by keep-alive comments. (On sse-smol, HTTP/1.1 only, the preface is a bad
/// request and closed at once.)
pub(crate) async fn an_http2_connection_with_only_pings_is_closed(adapter: Adapter) {
    let server = adapter.start(&[
        "--head-timeout",
        "1",
        // Twice the keep-alive interval, and more: a client can wait up to two
        // intervals for its comment (it is sent once a client has been idle an
        // interval, at the next tick).
        "--idle-timeout",
        "4",
        "--keep-alive",
        "1",
    ]);
    let mut stream = Connect::new()
        .protocol(adapter.newest_protocol())
        .client("streaming")
        .open(&server)
        .await;
    tokio::join!(
        pinging_until_closed(server.addr(), &[H2_PREFACE], "no request, PINGs"),
        pinging_until_closed(
            server.addr(),
            &[H2_PREFACE, H2_GET],
            "one request answered, then PINGs"
        ),
    );
    let id = server.broadcast("still here").await;
    assert_eq!(stream.next_event().await.last_event_id, id);
}

/// How many connections the attacker keeps trying to hold.
const FLOOD: usize = 100;

/// A connection from `127.0.0.2` (another peer address on loopback) to `addr`.
async fn connect_from_elsewhere(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from(([127, 0, 0, 2], 0)))?;
    socket.connect(addr).await
}

/// Holds [`FLOOD`] silent connections from `127.0.0.2`, reopening each one the
/// server closes (or refuses), until `stop`.
async fn flood(addr: SocketAddr, stop: Arc<AtomicBool>) {
    let mut attackers = tokio::task::JoinSet::new();
    for _ in 0..FLOOD {
        let stop = Arc::clone(&stop);
        attackers.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(mut tcp) = connect_from_elsewhere(addr).await {
                    let mut chunk = [0; 64];
                    let closed = async { while tcp.read(&mut chunk).await.is_ok_and(|n| n > 0) {} };
                    // Checks `stop` now and then while the server holds it.
                    let _ = tokio::time::timeout(Duration::from_millis(500), closed).await;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
    }
    attackers.join_all().await;
}

/// With 64 file descriptors, a head timeout of a minute (an attacker's silent
/// connection holds its descriptor that long) and `--max-connections-per-peer 8`:
/// an attacker on another address that keeps 100 connections open, reopening each
/// one the server closes, holds at most 8, and a client from elsewhere connects,
/// gets its events, and the JSON routes answer.
pub(crate) async fn a_connection_flood_from_one_address_leaves_room_for_others(adapter: Adapter) {
    let flags = ["--head-timeout", "60", "--max-connections-per-peer", "8"];
    let server = adapter.start_with_file_limit(&flags, 64);
    let stop = Arc::new(AtomicBool::new(false));
    let attack = tokio::spawn(flood(server.addr(), Arc::clone(&stop)));
    // Let the attacker fill what it can: a connection it holds is one the server
    // accepted (it answers nothing to a silent one).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut client = Connect::new().client("legitimate").open(&server).await;
    let id = server.broadcast("served").await;
    assert_eq!(client.next_event().await.last_event_id, id);
    let stats = server.stats().await;
    assert_eq!(stats["active"], 1, "{stats}");
    stop.store(true, Ordering::Relaxed);
    tokio::time::timeout(TIMEOUT, attack)
        .await
        .expect("the attackers stop")
        .expect("no attacker panicked");
}
