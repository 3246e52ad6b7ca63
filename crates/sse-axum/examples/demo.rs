//! The demo server on axum 0.8 (HTTP/1.1 and HTTP/2 with prior knowledge).
//!
//! `cargo run -p sse-axum --example demo-axum -- --help` lists the flags; then open
//! <http://127.0.0.1:8080/>.

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use sse_demo::{Answer, Demo, DemoArgs, MAX_BODY, Route};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = DemoArgs::from_env();
    let demo = Demo::open_or_exit(&args).await;
    let hub = demo.hub().clone();
    tokio::spawn(demo.clone().run(tokio::time::sleep));
    sse_axum::spawn_keep_alive(&hub);
    let app = Router::new()
        .route("/events", any(sse_axum::events))
        .fallback(move |request| respond(demo.clone(), request))
        .with_state(hub.clone());

    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // Every stream gets the farewell event and ends on SIGINT or SIGTERM; the
    // timeouts, the connection limits, `TCP_NODELAY`, the worker threads and the
    // grace period are `sse_hyper::Server`'s (what `sse_axum::serve` runs, here
    // with the demo's thread count).
    let shutdown = sse_demo::shut_down_on_signal(hub);
    sse_hyper::Server::new()
        .timeouts(args.timeouts)
        .connection_limits(args.connections)
        .threads(args.threads)
        .run(listener, shutdown, move |request| {
            let mut app = app.clone();
            Box::pin(async move { tower_service::Service::call(&mut app, request).await })
        })
        .await;
    println!("shut down");
    Ok(())
}

/// Everything but `/events`: the page, generate, publish, disconnect, stats.
async fn respond(demo: Demo, request: Request) -> Response {
    let route = sse_demo::route(request.method(), request.uri().path());
    let (parts, body) = request.into_parts();
    let body = match to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(error) => {
            return sse_demo::unreadable_body(&error)
                .map(Body::from)
                .into_response();
        }
    };
    let response = if route == Route::Generate {
        let spawn = |task| drop(tokio::spawn(task));
        match demo
            .generate(&parts, &body, spawn, tokio::time::sleep)
            .await
        {
            Answer::Stream(stream, headers) => {
                let mut response = sse_axum::Sse::from_stream(stream).into_response();
                response.headers_mut().extend(headers);
                return response;
            }
            Answer::Response(response) => response,
        }
    } else {
        demo.respond(&parts, &body).await
    };
    response.map(Body::from).into_response()
}
