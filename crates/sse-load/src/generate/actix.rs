//! The per-request leader, served by `sse-load serve actix-sse-stream`: actix-web 4
//! with actix-web-lab's `Sse::from_infallible_receiver` on the demos' `POST
//! /generate` contract, written the way its users write it (its own docs' example:
//! a `tokio::sync::mpsc` channel, a spawned producer).
//!
//! A request ([`Request`]) sends the opening comment into a bounded
//! `tokio::sync::mpsc` channel (capacity 64, the demos' channel size) and spawns a
//! producer that sends word `n` as `sse::Data::new(token)`, `token` a `String`, then
//! `event: done` with `{"prompt_words", "words"}`; with `rate: 0` as fast as the
//! channel takes them, otherwise sleeping (`tokio::time::sleep`) `1/rate` before
//! each word. The response is `Sse::from_infallible_receiver(receiver)
//! .with_retry_duration(1 s).with_keep_alive(15 s)`, so it opens with `retry:
//! 1000`, then `: generating`.
//!
//! actix-web-lab has no id-only frame (every `Data` has a `data:` line, which would
//! dispatch an empty event), so the checkpoint's id rides on the next event instead
//! (`Data::new(token).id(n)`, and on `done` for the last): the client's last event
//! id is the same at every event, which is what the load tool checks, for a few
//! bytes less per checkpoint. Connections are served with `TCP_NODELAY` (through
//! `on_connect`), as the demos and the axum baseline do.

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{App, Either, HttpResponse, Responder, web};
use actix_web_lab::sse;
use tokio::sync::mpsc;

use super::request::{CHANNEL, Request};
use super::words::{CHECKPOINT_EVERY, word};

/// Serves `POST /generate` on `addr` until killed; prints `listening on http://ADDR`.
pub(crate) fn serve(addr: SocketAddr) -> std::io::Result<()> {
    crate::actix::serve(addr, || {
        App::new().route("/generate", web::post().to(generate))
    })
}

async fn generate(body: Bytes) -> impl Responder {
    let request = match Request::read(&body) {
        Ok(request) => request,
        Err(message) => {
            return Either::Left(
                HttpResponse::BadRequest()
                    .content_type("application/json")
                    .body(Request::error_json(&message)),
            );
        }
    };
    let (sender, receiver) = mpsc::channel(CHANNEL);
    // Queued before the response is polled: the keep-alive interval's first tick
    // is immediate, and would otherwise come before the opening comment.
    let _ = sender.try_send(sse::Event::Comment("generating".into()));
    actix_web::rt::spawn(produce(sender, request));
    Either::Right(
        sse::Sse::from_infallible_receiver(receiver)
            .with_retry_duration(Duration::from_secs(1))
            .with_keep_alive(Duration::from_secs(15)),
    )
}

/// Sends the reply, a `String` per word (as a detokenizer hands them out), each
/// checkpoint's id on the event after it; stops as soon as a send fails (the
/// response is gone).
async fn produce(sender: mpsc::Sender<sse::Event>, request: Request) {
    let words = request.words;
    let mut checkpoint: Option<String> = None;
    let with_checkpoint = |data: sse::Data, checkpoint: &mut Option<String>| match checkpoint.take()
    {
        Some(id) => data.id(id),
        None => data,
    };
    for n in 0..words {
        if let Some(pause) = request.pause {
            tokio::time::sleep(pause).await;
        }
        let token: String = word(n).to_owned();
        let data = with_checkpoint(sse::Data::new(token), &mut checkpoint);
        if sender.send(data.into()).await.is_err() {
            return;
        }
        let sent = n + 1;
        if sent % CHECKPOINT_EVERY == 0 || sent == words {
            checkpoint = Some(sent.to_string());
        }
    }
    let done = with_checkpoint(
        sse::Data::new(request.done()).event("done"),
        &mut checkpoint,
    );
    let _ = sender.send(done.into()).await;
}
