//! The baselines, served by `sse-load serve`: axum 0.8 with `tokio::sync::broadcast`,
//! the way most users write an SSE endpoint, on the same demo contract
//! (`GET /events`, `POST /publish {"data"}` → 202, `GET /stats`).
//!
//! - `axum-sse`: a `broadcast::Sender<String>`; each client's stream is its
//!   `BroadcastStream`, mapped to `axum::response::sse::Event::default().data(s)`
//!   and answered with `axum::response::Sse`. Every delivery clones the `String`
//!   and encodes the event again.
//! - `axum-bytes`: the event is encoded once per publish into a `Bytes` frame; the
//!   channel carries the frame and each client's body is
//!   `Body::from_stream(BroadcastStream)`: one refcount clone per delivery.
//!
//! - `actix-sse`: actix-web-lab's `Sse` over the same broadcast of `String`, in
//!   [`crate::actix`].
//! - `hyper-floor` (not in `all`: `--servers hyper-floor`): `axum-bytes`'s router
//!   served by hyper's own HTTP/1 connection, one per accepted socket, with no
//!   hyper-util `auto` connection (which `axum::serve` uses, and which makes the
//!   read buffer 16 KiB), no timeout and no graceful shutdown: what an idle stream
//!   costs at least on hyper, the floor of the memory table.
//!
//! A receiver that falls more than the channel's capacity behind gets
//! `RecvError::Lagged(n)`: it skips the `n` oldest frames, which `/stats` counts as
//! `lagged` (the same as our `--policy drop-oldest`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use hyper::body::Incoming;
use serde::Deserialize;
use tokio::sync::broadcast;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

/// Which baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Baseline {
    /// `Sse` over a broadcast of `String`.
    AxumSse,
    /// A broadcast of pre-encoded `Bytes` frames, written as the body.
    AxumBytes,
    /// actix-web-lab's `Sse` over a broadcast of `String` ([`crate::actix`]).
    ActixSse,
    /// `AxumBytes`'s router on hyper's bare HTTP/1 connection: the floor.
    HyperFloor,
}

impl Baseline {
    /// Its name: the report's label and what `serve` takes.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Baseline::AxumSse => "axum-sse",
            Baseline::AxumBytes => "axum-bytes",
            Baseline::ActixSse => "actix-sse",
            Baseline::HyperFloor => "hyper-floor",
        }
    }
}

#[derive(Clone)]
struct AppState {
    strings: broadcast::Sender<String>,
    frames: broadcast::Sender<Bytes>,
    published: Arc<AtomicU64>,
    lagged: Arc<AtomicU64>,
    baseline: Baseline,
}

#[derive(Deserialize)]
struct Publish {
    data: String,
}

/// Serves `baseline` on `addr` until killed; prints `listening on http://ADDR`.
pub(crate) fn serve(baseline: Baseline, addr: SocketAddr, capacity: usize) -> std::io::Result<()> {
    if baseline == Baseline::ActixSse {
        return crate::actix::serve_broadcast(addr, capacity);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let state = AppState {
            strings: broadcast::channel(capacity).0,
            frames: broadcast::channel(capacity).0,
            published: Arc::default(),
            lagged: Arc::default(),
            baseline,
        };
        let app = Router::new()
            .route("/events", get(events))
            .route("/publish", post(publish))
            .route("/stats", get(stats))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind(addr).await?;
        println!("listening on http://{}", listener.local_addr()?);
        // As every server here: a small frame never waits for a delayed ACK.
        if baseline == Baseline::HyperFloor {
            return serve_bare_http1(listener, app).await;
        }
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await
    })
}

/// `app` on hyper's HTTP/1 connection and nothing else, a task per connection.
async fn serve_bare_http1(listener: tokio::net::TcpListener, app: Router) -> std::io::Result<()> {
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                tower_service::Service::call(&mut app.clone(), request.map(Body::new))
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), service);
            let _ = connection.await;
        });
    }
}

async fn events(State(state): State<AppState>) -> Response {
    let lagged = state.lagged.clone();
    let count_lag = move |error: BroadcastStreamRecvError| {
        let BroadcastStreamRecvError::Lagged(skipped) = error;
        lagged.fetch_add(skipped, Relaxed);
    };
    match state.baseline {
        Baseline::AxumSse | Baseline::ActixSse => {
            let stream =
                BroadcastStream::new(state.strings.subscribe()).filter_map(
                    move |item| match item {
                        Ok(data) => Some(Ok::<_, Infallible>(Event::default().data(data))),
                        Err(error) => {
                            count_lag(error);
                            None
                        }
                    },
                );
            Sse::new(stream).into_response()
        }
        Baseline::AxumBytes | Baseline::HyperFloor => {
            let stream =
                BroadcastStream::new(state.frames.subscribe()).filter_map(move |item| match item {
                    Ok(frame) => Some(Ok::<_, Infallible>(frame)),
                    Err(error) => {
                        count_lag(error);
                        None
                    }
                });
            (
                [
                    (header::CONTENT_TYPE, "text/event-stream"),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                Body::from_stream(stream),
            )
                .into_response()
        }
    }
}

async fn publish(State(state): State<AppState>, body: Bytes) -> Response {
    let Ok(Publish { data }) = serde_json::from_slice(&body) else {
        return (StatusCode::BAD_REQUEST, r#"{"error":"invalid JSON"}"#).into_response();
    };
    match state.baseline {
        Baseline::AxumSse | Baseline::ActixSse => {
            let _ = state.strings.send(data);
        }
        Baseline::AxumBytes | Baseline::HyperFloor => {
            let _ = state.frames.send(encode(&data));
        }
    }
    let id = state.published.fetch_add(1, Relaxed) + 1;
    (
        StatusCode::ACCEPTED,
        [(header::CONTENT_TYPE, "application/json")],
        format!(r#"{{"id":"{id}"}}"#),
    )
        .into_response()
}

/// One `data:` line per line of `data` (split as axum does it, on `\n`; the load
/// tool sends single lines), then the blank line.
fn encode(data: &str) -> Bytes {
    let mut frame = Vec::with_capacity(data.len() + 8);
    for line in data.split('\n') {
        frame.extend_from_slice(b"data: ");
        frame.extend_from_slice(line.as_bytes());
        frame.push(b'\n');
    }
    frame.push(b'\n');
    Bytes::from(frame)
}

async fn stats(State(state): State<AppState>) -> Response {
    let active = match state.baseline {
        Baseline::AxumSse | Baseline::ActixSse => state.strings.receiver_count(),
        Baseline::AxumBytes | Baseline::HyperFloor => state.frames.receiver_count(),
    };
    let body = serde_json::json!({
        "active": active,
        "published": state.published.load(Relaxed),
        "lagged": state.lagged.load(Relaxed),
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_axum() {
        assert_eq!(encode("a"), "data: a\n\n");
        assert_eq!(encode("a\nb"), "data: a\ndata: b\n\n");
        let axum_frame = format!("{:?}", Event::default().data("a\nb"));
        assert!(axum_frame.contains("data: a\\ndata: b\\n"), "{axum_frame}");
    }
}
