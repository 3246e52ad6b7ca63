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
use sse_demo::{Demo, DemoArgs, MAX_BODY, Route};
use sse_hyper::{FrameBody, SseBody};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = DemoArgs::from_env();
    let demo = Demo::open_or_exit(&args).await;
    let hub = demo.hub().clone();
    tokio::spawn(demo.clone().run_backplane(tokio::time::sleep));
    sse_hyper::spawn_keep_alive(&hub);
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    println!("listening on http://{}", listener.local_addr()?);

    let graceful = GracefulShutdown::new();
    let shutdown = sse_demo::shut_down_on_signal(hub.clone());
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            // Out of file descriptors, say: keep serving, accept again shortly.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Each event is sent as soon as it is written, not held back by Nagle.
        let _ = tcp.set_nodelay(true);
        let demo = demo.clone();
        // hyper keeps room for the service's future for the connection's whole life:
        // a boxed one (freed once answered) keeps that room small.
        let service =
            service_fn(move |request| -> BoxedResponse { Box::pin(handle(demo.clone(), request)) });
        // The builder lives in the task and the connection borrows it (no owned copy
        // inside the connection), and SSE needs no upgrades: less memory per client.
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            let _ = watcher
                .watch(builder.serve_connection(TokioIo::new(tcp), service))
                .await;
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
    std::pin::Pin<Box<dyn Future<Output = Result<http::Response<FrameBody>, Infallible>> + Send>>;

/// Streams answer with [`FrameBody`]: each batch of frames as one `Bytes`, so
/// hyper's write queue holds small buffers (a `Batch` is a few hundred bytes
/// inline, and the queue keeps its room for the connection's life).
async fn handle(
    demo: Demo,
    request: http::Request<Incoming>,
) -> Result<http::Response<FrameBody>, Infallible> {
    let route = sse_demo::route(request.method(), request.uri().path());
    if route == Route::Events {
        return Ok(sse_hyper::respond(demo.hub(), request).map(SseBody::into_frames));
    }
    let response = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(body) => demo.respond(route, &body.to_bytes()).await,
        Err(_) => sse_demo::too_large(),
    };
    Ok(response.map(|body| SseBody::from(body).into_frames()))
}
