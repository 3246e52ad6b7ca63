//! The broadcast leader, served by `sse-load serve actix-sse`: actix-web 4 with
//! actix-web-lab's `Sse`, on the same demo contract as the axum baselines
//! (`GET /events`, `POST /publish {"data"}` → 202, `GET /stats`), written the way
//! its users write it: a `tokio::sync::broadcast::Sender<String>`, each client's
//! stream its `BroadcastStream` mapped to `sse::Data::new(s)` and answered with
//! `Sse::from_infallible_stream`. Every delivery clones the `String` and encodes
//! the event again, as `axum-sse` does. A receiver that falls more than the
//! channel's capacity behind skips what it missed, which `/stats` counts as
//! `lagged`.
//!
//! Also [`serve`], how every actix server of this tool runs: one worker per core
//! (actix's default), `TCP_NODELAY` on every connection.

use std::any::Any;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use actix_web::body::MessageBody;
use actix_web::dev::{Extensions, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::rt::net::TcpStream;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpResponse, Responder};
use actix_web_lab::sse;
use serde::Deserialize;
use tokio::sync::broadcast;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

/// Serves the app `factory` builds on `addr` until killed, with `TCP_NODELAY` on
/// every connection; prints `listening on http://ADDR`.
pub(crate) fn serve<F, T, B>(addr: SocketAddr, factory: F) -> std::io::Result<()>
where
    F: Fn() -> App<T> + Send + Clone + 'static,
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    actix_web::rt::System::new().block_on(async move {
        let server = actix_web::HttpServer::new(factory)
            .on_connect(no_delay)
            .bind(addr)?;
        for addr in server.addrs() {
            println!("listening on http://{addr}");
        }
        server.run().await
    })
}

/// Sets `TCP_NODELAY`, as the demos do: without it a small frame can wait for a
/// delayed ACK.
fn no_delay(connection: &dyn Any, _: &mut Extensions) {
    if let Some(tcp) = connection.downcast_ref::<TcpStream>() {
        let _ = tcp.set_nodelay(true);
    }
}

#[derive(Clone)]
struct AppState {
    strings: broadcast::Sender<String>,
    published: Arc<AtomicU64>,
    lagged: Arc<AtomicU64>,
}

#[derive(Deserialize)]
struct Publish {
    data: String,
}

/// Serves the broadcast baseline on `addr` until killed, with a broadcast channel
/// of `capacity`.
pub(crate) fn serve_broadcast(addr: SocketAddr, capacity: usize) -> std::io::Result<()> {
    let state = AppState {
        strings: broadcast::channel(capacity).0,
        published: Arc::default(),
        lagged: Arc::default(),
    };
    serve(addr, move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .route("/events", web::get().to(events))
            .route("/publish", web::post().to(publish))
            .route("/stats", web::get().to(stats))
    })
}

async fn events(state: web::Data<AppState>) -> impl Responder {
    let lagged = state.lagged.clone();
    let stream =
        BroadcastStream::new(state.strings.subscribe()).filter_map(move |item| match item {
            Ok(data) => Some(sse::Event::Data(sse::Data::new(data))),
            Err(BroadcastStreamRecvError::Lagged(skipped)) => {
                lagged.fetch_add(skipped, Relaxed);
                None
            }
        });
    sse::Sse::from_infallible_stream(stream)
}

async fn publish(state: web::Data<AppState>, body: Bytes) -> HttpResponse {
    let Ok(Publish { data }) = serde_json::from_slice(&body) else {
        return HttpResponse::BadRequest()
            .content_type("application/json")
            .body(r#"{"error":"invalid JSON"}"#);
    };
    let _ = state.strings.send(data);
    let id = state.published.fetch_add(1, Relaxed) + 1;
    HttpResponse::Accepted()
        .content_type("application/json")
        .body(format!(r#"{{"id":"{id}"}}"#))
}

async fn stats(state: web::Data<AppState>) -> HttpResponse {
    let body = serde_json::json!({
        "active": state.strings.receiver_count(),
        "published": state.published.load(Relaxed),
        "lagged": state.lagged.load(Relaxed),
    });
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body.to_string())
}
