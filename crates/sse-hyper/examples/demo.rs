//! The demo server on plain hyper 1.x (HTTP/1.1 and HTTP/2 with prior knowledge).
//!
//! `cargo run -p sse-hyper --example demo-hyper -- --help` lists the flags; then open
//! <http://127.0.0.1:8080/>.

use std::convert::Infallible;
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use sse_core::Hub;
use sse_demo::{DemoArgs, MAX_BODY, Route};
use sse_hyper::SseBody;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = DemoArgs::from_env();
    let hub = Hub::new(args.config);
    sse_hyper::spawn_keep_alive(&hub);
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    println!("listening on http://{}", listener.local_addr()?);

    let graceful = GracefulShutdown::new();
    let shutdown = sse_demo::shut_down_on_signal(hub.clone());
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => break,
        };
        // Each event is sent as soon as it is written, not held back by Nagle.
        let _ = tcp.set_nodelay(true);
        let hub = hub.clone();
        // hyper keeps room for the service's future for the connection's whole life:
        // a boxed one (freed once answered) keeps that room small.
        let service =
            service_fn(move |request| -> BoxedResponse { Box::pin(handle(hub.clone(), request)) });
        let connection = auto::Builder::new(TokioExecutor::new())
            .serve_connection_with_upgrades(TokioIo::new(tcp), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }

    // Every stream got the farewell event and ends; then the connections close.
    let drained = async {
        hub.closed().await;
        graceful.shutdown().await;
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), drained).await;
    println!("shut down");
    Ok(())
}

type BoxedResponse =
    std::pin::Pin<Box<dyn Future<Output = Result<http::Response<SseBody>, Infallible>> + Send>>;

async fn handle(
    hub: Hub,
    request: http::Request<Incoming>,
) -> Result<http::Response<SseBody>, Infallible> {
    let route = sse_demo::route(request.method(), request.uri().path());
    if route == Route::Events {
        return Ok(sse_hyper::respond(&hub, request));
    }
    let response = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(body) => sse_demo::respond(&hub, route, &body.to_bytes()),
        Err(_) => sse_demo::too_large(),
    };
    Ok(response.map(SseBody::from))
}
