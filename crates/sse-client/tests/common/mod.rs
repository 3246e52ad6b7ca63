//! What the client's socket tests share: the bound on every wait, the items a
//! source yields, and a hand-written HTTP/1.1 server with the bytes it writes.
#![allow(dead_code, reason = "each test file uses some of these")]

use std::sync::Arc;
use std::time::Duration;

use sse_client::{Error, Event, EventSource, MessageEvent};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// How long anything may take before the test fails.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(15);

/// The next item, within [`TIMEOUT`].
pub(crate) async fn next(source: &mut EventSource) -> Option<Result<Event, Error>> {
    tokio::time::timeout(TIMEOUT, source.next())
        .await
        .expect("an item in time")
}

pub(crate) async fn next_event(source: &mut EventSource) -> Event {
    match next(source).await {
        Some(Ok(event)) => event,
        other => panic!("expected an event, got {other:?}"),
    }
}

pub(crate) async fn expect_open(source: &mut EventSource) {
    let event = next_event(source).await;
    assert!(
        matches!(event, Event::Open(_)),
        "expected Open, got {event:?}"
    );
}

pub(crate) async fn expect_message(source: &mut EventSource) -> MessageEvent {
    match next_event(source).await {
        Event::Message(message) => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// Writes `bytes` and flushes; ignores a client that left.
pub(crate) async fn send<S: AsyncWrite + Unpin>(stream: &mut S, bytes: impl AsRef<[u8]>) {
    let _ = stream.write_all(bytes.as_ref()).await;
    let _ = stream.flush().await;
}

/// Keeps the connection open until the client closes it.
pub(crate) async fn hold<S: AsyncRead + Unpin>(stream: &mut S) {
    let mut buf = [0u8; 64];
    while stream.read(&mut buf).await.is_ok_and(|n| n > 0) {}
}

pub(crate) fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}:")))
        .map(str::trim)
}

pub(crate) const STREAM_HEAD: &str =
    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\r\n";

/// A server that hands each connection, numbered from 0, its request head (lower
/// case) and the stream; every head also goes to [`Server::request`].
pub(crate) struct Server {
    pub(crate) addr: std::net::SocketAddr,
    requests: mpsc::UnboundedReceiver<String>,
}

impl Server {
    pub(crate) async fn start<F, Fut>(serve: F) -> Server
    where
        F: Fn(usize, String, TcpStream) -> Fut + Send + Sync + 'static,
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
                    let head = read_head(&mut stream).await;
                    let _ = tx.send(head.clone());
                    serve(n, head, stream).await;
                });
            }
        });
        Server { addr, requests }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) async fn request(&mut self) -> String {
        tokio::time::timeout(TIMEOUT, self.requests.recv())
            .await
            .expect("a request in time")
            .expect("the server runs")
    }

    /// Whether another request came (without waiting).
    pub(crate) fn no_more_requests(&mut self) -> bool {
        self.requests.try_recv().is_err()
    }
}

/// Reads a request ([`read_request`]); returns its head (lower case) followed by
/// its body.
pub(crate) async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> String {
    let (head, body) = read_request(stream).await;
    head + &body
}

/// Reads a request: its head (lower case) and its body (`content-length` bytes),
/// read lossily.
pub(crate) async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> (String, String) {
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    while !bytes.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.unwrap_or(0) == 0 {
            break;
        }
        bytes.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&bytes).to_lowercase();
    let length = header(&head, "content-length")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    let _ = stream.read_exact(&mut body).await;
    (head, String::from_utf8_lossy(&body).into_owned())
}
