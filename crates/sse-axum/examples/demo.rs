//! The demo server on axum 0.8 (HTTP/1.1 and HTTP/2 with prior knowledge).
//!
//! `cargo run -p sse-axum --example demo-axum -- --help` lists the flags; then open
//! <http://127.0.0.1:8080/>.

use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::serve::ListenerExt;
use sse_demo::{Demo, DemoArgs, MAX_BODY, Route};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = DemoArgs::from_env();
    let demo = Demo::open_or_exit(&args).await;
    let hub = demo.hub().clone();
    tokio::spawn(demo.clone().run_backplane(tokio::time::sleep));
    sse_axum::spawn_keep_alive(&hub);
    let app = Router::new()
        .route("/events", any(sse_axum::handler))
        .fallback(move |request| respond(demo.clone(), request))
        .with_state(hub.clone());

    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel();
    let shutdown = {
        let hub = hub.clone();
        async move {
            // Every stream gets the farewell event and ends; then axum closes.
            sse_demo::shut_down_on_signal(hub).await;
            let _ = stopped_tx.send(());
        }
    };
    // Each event is sent as soon as it is written, not held back by Nagle.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server = axum::serve(listener, app).with_graceful_shutdown(shutdown);
    let server = tokio::spawn(async move { server.await });
    // Give connections a few seconds to end once shutdown began.
    if stopped_rx.await.is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    }
    println!("shut down");
    Ok(())
}

/// Everything but `/events`: the page, generate, publish, disconnect, stats.
async fn respond(demo: Demo, request: Request) -> Response {
    let route = sse_demo::route(request.method(), request.uri().path());
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, MAX_BODY).await else {
        return sse_demo::too_large().map(Body::from).into_response();
    };
    let response = if route == Route::Generate {
        let spawn = |task| drop(tokio::spawn(task));
        match demo.generate(&parts, &body, spawn, tokio::time::sleep) {
            Ok(stream) => return sse_axum::Sse::from_stream(stream).into_response(),
            Err(refusal) => refusal,
        }
    } else {
        demo.respond(&parts, &body).await
    };
    response.map(Body::from).into_response()
}
