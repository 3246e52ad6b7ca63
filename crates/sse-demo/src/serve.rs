//! The accept loop the hyper and warp demos share: hyper-util's connection builder
//! on tokio, one task per connection, graceful shutdown on SIGINT or SIGTERM.

use std::convert::Infallible;
use std::error::Error;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http_body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use sse_core::Hub;
use tokio::net::TcpListener;

/// Serves HTTP/1.1 and HTTP/2 (prior knowledge) on `listener` until SIGINT or
/// SIGTERM, answering each request with `respond`; then shuts `hub` down (every
/// stream gets the farewell event and ends) and waits up to 5 s for the
/// connections to close.
///
/// `respond` should return a boxed future (`Pin<Box<..>>`): hyper keeps room for
/// the service's future for the connection's whole life, so a box takes a
/// pointer's room there (freed once the request is answered) rather than the
/// largest future the framework can make.
///
/// Every connection is set to `TCP_NODELAY`: each SSE frame is sent as soon as it
/// is written, not held back by Nagle's algorithm while the last is unacknowledged.
///
/// A failed `accept` (out of file descriptors, say) is retried after 100 ms.
pub async fn serve<F, B>(
    listener: TcpListener,
    hub: Hub,
    respond: impl Fn(http::Request<Incoming>) -> Pin<Box<F>> + Clone + Send + 'static,
) where
    F: Future<Output = Result<http::Response<B>, Infallible>> + Send + ?Sized + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn Error + Send + Sync>>,
{
    let graceful = GracefulShutdown::new();
    let shutdown = crate::shut_down_on_signal(hub.clone());
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let service = hyper::service::service_fn(respond.clone());
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
    let drained = async {
        hub.closed().await;
        graceful.shutdown().await;
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), drained).await;
}
