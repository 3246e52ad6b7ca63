//! What the client's socket tests share: the bound on every wait, the items a
//! source yields, and the bytes a hand-written server writes.
#![allow(dead_code, reason = "each test file uses some of these")]

use std::time::Duration;

use sse_client::{Error, Event, EventSource, MessageEvent};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

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
