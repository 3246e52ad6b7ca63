//! The per-request baseline, served by `sse-load serve axum-sse-stream`: axum 0.8's
//! own `Sse::new(stream).keep_alive(KeepAlive::default())` on the demos' `POST
//! /generate` contract, written the way the demos write theirs.
//!
//! A request `{"prompt"?, "words"?, "rate"?}` spawns a producer task that sends into
//! a bounded `tokio::sync::mpsc` channel (capacity 64, the demos' channel size):
//! word `n` as `Event::default().data(word(n))`, an id-only checkpoint
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
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use super::words::{CHECKPOINT_EVERY, word};

/// The demos' limits and defaults (`sse_demo::generate`).
const MAX_WORDS: u64 = 1_000_000;
const MAX_RATE: f64 = 100_000.0;
const DEFAULT_WORDS: u64 = 40;
const DEFAULT_RATE: f64 = 20.0;
/// The demos' producer channel: `sse_core::channel(64)`.
const CHANNEL: usize = 64;

/// A generate request, as the demos read it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Generate {
    #[serde(default)]
    prompt: String,
    words: Option<u64>,
    rate: Option<f64>,
}

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
    let request: Generate = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return bad_request(&format!("invalid JSON: {e}")),
    };
    let words = request.words.unwrap_or(DEFAULT_WORDS);
    if words > MAX_WORDS {
        return bad_request(&format!("words: at most {MAX_WORDS}"));
    }
    let rate = request.rate.unwrap_or(DEFAULT_RATE);
    if !(0.0..=MAX_RATE).contains(&rate) {
        return bad_request(&format!("rate: from 0 to {MAX_RATE} words per second"));
    }
    let pause = (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate));
    let prompt_words = request.prompt.split_whitespace().count();

    let (sender, receiver) = mpsc::channel(CHANNEL);
    tokio::spawn(produce(sender, words, pause, prompt_words));
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

/// Sends the reply; stops as soon as a send fails (the response is gone).
async fn produce(
    sender: mpsc::Sender<Event>,
    words: u64,
    pause: Option<Duration>,
    prompt_words: usize,
) {
    for n in 0..words {
        if let Some(pause) = pause {
            tokio::time::sleep(pause).await;
        }
        if sender.send(Event::default().data(word(n))).await.is_err() {
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
    let done = json!({ "words": words, "prompt_words": prompt_words });
    let _ = sender
        .send(Event::default().event("done").data(done.to_string()))
        .await;
}

fn bad_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "error": message }).to_string(),
    )
        .into_response()
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
