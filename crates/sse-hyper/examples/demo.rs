//! The demo server on plain hyper 1.x (HTTP/1.1 and HTTP/2 with prior knowledge).
//!
//! `cargo run -p sse-hyper --example demo-hyper -- --help` lists the flags; then open
//! <http://127.0.0.1:8080/>.

use std::convert::Infallible;

use http_body_util::{BodyExt, Limited};
use sse_demo::{Answer, Demo, DemoArgs, MAX_BODY, Route};
use sse_hyper::{Body, RequestBody, Server};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = DemoArgs::from_env();
    let demo = Demo::open_or_exit(&args).await;
    let hub = demo.hub().clone();
    tokio::spawn(demo.clone().run(tokio::time::sleep));
    sse_hyper::spawn_keep_alive(&hub);
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // The timeouts, the connection limits, `TCP_NODELAY`, the worker threads and
    // a 5 s grace period after SIGINT or SIGTERM (every stream gets the farewell
    // event and ends) are `sse_hyper::Server`'s.
    let shutdown = sse_demo::shut_down_on_signal(hub);
    Server::new()
        .timeouts(args.timeouts)
        .connection_limits(args.connections)
        .threads(args.threads)
        .run(listener, shutdown, move |request| {
            Box::pin(handle(demo.clone(), request))
        })
        .await;
    println!("shut down");
    Ok(())
}

/// Every answer is an [`Body`]: a stream, or a whole JSON or HTML body.
async fn handle(
    demo: Demo,
    request: http::Request<RequestBody>,
) -> Result<http::Response<Body>, Infallible> {
    let route = sse_demo::route(request.method(), request.uri().path());
    if route == Route::Events {
        return Ok(sse_hyper::respond(demo.hub(), request));
    }
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(error) => {
            let response = sse_demo::unreadable_body(&*error);
            return Ok(response.map(Body::from));
        }
    };
    let response = if route == Route::Generate {
        let spawn = |task| drop(tokio::spawn(task));
        match demo
            .generate(&parts, &body, spawn, tokio::time::sleep)
            .await
        {
            Answer::Stream(stream, headers) => {
                let mut response = sse_hyper::from_stream(stream);
                response.headers_mut().extend(headers);
                return Ok(response);
            }
            Answer::Response(response) => response,
        }
    } else {
        demo.respond(&parts, &body).await
    };
    Ok(response.map(Body::from))
}
