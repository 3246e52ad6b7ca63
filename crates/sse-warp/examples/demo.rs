//! The demo server on warp 0.4 (HTTP/1.1 and HTTP/2 with prior knowledge).
//!
//! `cargo run -p sse-warp --example demo-warp -- --help` lists the flags; then open
//! <http://127.0.0.1:8080/>.

use std::time::Duration;

use bytes::{Buf, Bytes};
use sse_demo::{Demo, DemoArgs, MAX_BODY};
use warp::Filter;
use warp::path::FullPath;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = DemoArgs::from_env();
    let demo = Demo::open_or_exit(&args).await;
    let hub = demo.hub().clone();
    tokio::spawn(demo.clone().run_backplane(tokio::time::sleep));
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
    let rest = warp::method()
        .and(warp::path::full())
        .and(warp::body::stream())
        .then(move |method, path: FullPath, body| {
            let demo = demo.clone();
            async move {
                let route = sse_demo::route(&method, path.as_str());
                match read_body(body).await {
                    Some(body) => demo.respond(route, &body).await,
                    None => sse_demo::too_large(),
                }
            }
        });
    let app = events.or(rest);

    // Bind first, so that `--addr 127.0.0.1:0` prints the real port.
    let listener = bind_without_delay(args.addr)?;
    println!("listening on http://{}", listener.local_addr()?);
    let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel();
    let shutdown = {
        let hub = hub.clone();
        async move {
            // Every stream gets the farewell event and ends; then warp closes.
            sse_demo::shut_down_on_signal(hub).await;
            let _ = stopped_tx.send(());
        }
    };
    let server = warp::serve(app).incoming(listener).graceful(shutdown).run();
    let server = tokio::spawn(server);
    // Give connections a few seconds to end once shutdown began.
    if stopped_rx.await.is_ok() {
        let drained = async {
            hub.closed().await;
            let _ = server.await;
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), drained).await;
    }
    println!("shut down");
    Ok(())
}

/// A listener whose connections send small writes at once (`TCP_NODELAY`): warp has
/// no hook to set it on each connection, but on Linux accepted connections inherit
/// it from the listening socket. Without it, Nagle's algorithm holds back each
/// frame written while the last is unacknowledged, which under load adds tens of
/// milliseconds per delivery.
fn bind_without_delay(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// The request body, or `None` when it is over [`MAX_BODY`] or cannot be read.
async fn read_body<S, B>(body: S) -> Option<Bytes>
where
    S: futures_core::Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut body = std::pin::pin!(body);
    let mut out = Vec::new();
    while let Some(chunk) = std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await {
        let mut chunk = chunk.ok()?;
        if out.len() + chunk.remaining() > MAX_BODY {
            return None;
        }
        while chunk.has_remaining() {
            let bytes = chunk.chunk();
            out.extend_from_slice(bytes);
            let len = bytes.len();
            chunk.advance(len);
        }
    }
    Some(Bytes::from(out))
}
