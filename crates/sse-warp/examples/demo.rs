//! The demo server on warp 0.4 (HTTP/1.1 and HTTP/2 with prior knowledge).
//!
//! `cargo run -p sse-warp --example demo-warp -- --help` lists the flags; then open
//! <http://127.0.0.1:8080/>.

use bytes::{Buf, Bytes};
use http::request::Parts;
use sse_demo::{Answer, Demo, DemoArgs, MAX_BODY, Route};
use tower_service::Service as _;
use warp::path::FullPath;
use warp::{Filter, Reply};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = DemoArgs::from_env();
    let demo = Demo::open_or_exit(&args).await;
    let hub = demo.hub().clone();
    tokio::spawn(demo.clone().run(tokio::time::sleep));
    sse_warp::spawn_keep_alive(&hub);

    // `/events` exactly, as `sse_demo::route` has it (`warp::path!` takes `/events/` too).
    let events = warp::path::full()
        .and_then(|path: FullPath| async move {
            if path.as_str() == "/events" {
                Ok(())
            } else {
                Err(warp::reject::not_found())
            }
        })
        .untuple_one()
        .and(sse_warp::events(hub.clone()));
    let rest =
        sse_warp::request_parts()
            .and(warp::body::stream())
            .then(move |parts: Parts, body| {
                let demo = demo.clone();
                async move {
                    let route = sse_demo::route(&parts.method, parts.uri.path());
                    let body = match read_body(body).await {
                        Ok(body) => body,
                        Err(refusal) => return refusal.into_response(),
                    };
                    if route != Route::Generate {
                        return demo.respond(&parts, &body).await.into_response();
                    }
                    let spawn = |task| drop(tokio::spawn(task));
                    match demo
                        .generate(&parts, &body, spawn, tokio::time::sleep)
                        .await
                    {
                        Answer::Stream(stream, headers) => {
                            let mut response = sse_warp::Sse::from_stream(stream).into_response();
                            response.headers_mut().extend(headers);
                            response
                        }
                        Answer::Response(response) => response.into_response(),
                    }
                }
            });
    let app = events.or(rest);

    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // Served with hyper-util rather than `warp::serve`: each connection is set to
    // `TCP_NODELAY` (warp has no hook for it), and warp's future for a request, which
    // holds the whole request, is boxed and freed once answered; hyper would keep
    // room for it for the connection's whole life (about 1.2 KiB per client).
    let service = warp::service(app);
    // The timeouts, the connection limits, `TCP_NODELAY`, the worker threads and
    // a 5 s grace period after SIGINT or SIGTERM (every stream gets the farewell
    // event and ends) are `sse_hyper::Server`'s.
    let shutdown = sse_demo::shut_down_on_signal(hub);
    sse_hyper::Server::new()
        .timeouts(args.timeouts)
        .connection_limits(args.connections)
        .threads(args.threads)
        .run(listener, shutdown, move |request| {
            Box::pin(service.clone().call(request))
        })
        .await;
    println!("shut down");
    Ok(())
}

/// The request body, or the answer when it is over [`MAX_BODY`] (413) or cannot
/// be read (408 when it took too long).
async fn read_body<S, B>(body: S) -> Result<Bytes, http::Response<Bytes>>
where
    S: futures_core::Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut body = std::pin::pin!(body);
    let mut out = Vec::new();
    while let Some(chunk) = std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await {
        let mut chunk = chunk.map_err(|error| sse_demo::unreadable_body(&error))?;
        if out.len() + chunk.remaining() > MAX_BODY {
            return Err(sse_demo::too_large());
        }
        while chunk.has_remaining() {
            let bytes = chunk.chunk();
            out.extend_from_slice(bytes);
            let len = bytes.len();
            chunk.advance(len);
        }
    }
    Ok(Bytes::from(out))
}
