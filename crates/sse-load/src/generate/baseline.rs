//! The per-request baseline, served by `sse-load serve axum-sse-stream`: axum 0.8's
//! own `Sse::new(stream).keep_alive(KeepAlive::default())` on the demos' `POST
//! /generate` contract, written the way the demos write theirs.
//!
//! A request `{"prompt"?, "words"?, "rate"?}` ([`Request`]) spawns a producer task
//! that sends into a bounded `tokio::sync::mpsc` channel (capacity 64, the demos'
//! channel size): word `n` as `Event::default().data(token)`, `token` a `String`, an id-only checkpoint
//! (`Event::default().id(n)`, which axum writes as `id: n` and the blank line, the
//! same bytes as ours) after every [`CHECKPOINT_EVERY`] words and after the last,
//! then `event: done` with `{"prompt_words", "words"}`. With `rate: 0` it sends as
//! fast as the channel takes (backpressure); otherwise it sleeps
//! (`tokio::time::sleep`) `1/rate` before each word. The response opens with
//! `retry: 1000` and `: generating`, each its own `Event` as axum requires, and ends
//! when the producer drops its sender. Connections are served with `TCP_NODELAY`,
//! as the demos do (without it a paced word waits for a delayed ACK).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use super::request::{CHANNEL, Request};
use super::words::{CHECKPOINT_EVERY, word};

/// Serves `POST /generate` on `addr` until killed; prints `listening on http://ADDR`.
pub(crate) fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = Router::new().route("/generate", post(generate));
        let listener = tokio::net::TcpListener::bind(addr).await?;
        println!("listening on http://{}", listener.local_addr()?);
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await
    })
}

async fn generate(body: Bytes) -> Response {
    let request = match Request::read(&body) {
        Ok(request) => request,
        Err(message) => {
            return (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "application/json")],
                Request::error_json(&message),
            )
                .into_response();
        }
    };
    let (sender, receiver) = mpsc::channel(CHANNEL);
    tokio::spawn(produce(sender, request));
    let opening = [
        Event::default().retry(Duration::from_secs(1)),
        Event::default().comment("generating"),
    ];
    let stream = tokio_stream::iter(opening)
        .chain(ReceiverStream::new(receiver))
        .map(Ok::<_, Infallible>);
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Sends the reply, a `String` per word (as a detokenizer hands them out); stops
/// as soon as a send fails (the response is gone).
async fn produce(sender: mpsc::Sender<Event>, request: Request) {
    let words = request.words;
    for n in 0..words {
        if let Some(pause) = request.pause {
            tokio::time::sleep(pause).await;
        }
        let token: String = word(n).to_owned();
        if sender.send(Event::default().data(token)).await.is_err() {
            return;
        }
        let sent = n + 1;
        if (sent % CHECKPOINT_EVERY == 0 || sent == words)
            && sender
                .send(Event::default().id(sent.to_string()))
                .await
                .is_err()
        {
            return;
        }
    }
    let _ = sender
        .send(Event::default().event("done").data(request.done()))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// axum writes every frame with the bytes the demos' `sse_core` writes.
    #[test]
    fn frames_are_the_demos_bytes() {
        let frame = |event: Event| format!("{event:?}");
        let cases = [
            (
                Event::default().retry(Duration::from_secs(1)),
                "retry: 1000\\n",
            ),
            (Event::default().comment("generating"), ": generating\\n"),
            (Event::default().data(word(2)), "data:  Events\\n"),
            (Event::default().id("100"), "id: 100\\n"),
            (
                Event::default().event("done").data("{}"),
                "event: done\\ndata: {}\\n",
            ),
        ];
        for (event, bytes) in cases {
            let debug = frame(event);
            assert!(debug.contains(bytes), "{debug} lacks {bytes}");
        }
    }
}
