//! The accept loop the hyper and warp demos share: `sse_hyper::serve` with the
//! demo's timeouts, shutting the hub down on SIGINT or SIGTERM.

use std::convert::Infallible;
use std::error::Error;
use std::pin::Pin;

use bytes::Bytes;
use http_body::Body;
use sse_core::Hub;
use sse_hyper::RequestBody;
use tokio::net::TcpListener;

use crate::DemoArgs;

/// Serves `listener` with [`sse_hyper::serve`] and the timeouts of `args`, until
/// SIGINT or SIGTERM; then shuts `hub` down (every stream gets the farewell event
/// and ends) and gives the connections 5 s to close.
pub async fn serve<F, B>(
    listener: TcpListener,
    hub: Hub,
    args: &DemoArgs,
    respond: impl Fn(http::Request<RequestBody>) -> Pin<Box<F>> + Clone + Send + 'static,
) where
    F: Future<Output = Result<http::Response<B>, Infallible>> + Send + ?Sized + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn Error + Send + Sync>>,
{
    let shutdown = crate::shut_down_on_signal(hub);
    sse_hyper::serve(listener, hyper_timeouts(args), shutdown, respond).await;
}

/// The demo's timeouts as `sse-hyper`'s.
#[must_use]
pub fn hyper_timeouts(args: &DemoArgs) -> sse_hyper::Timeouts {
    let t = args.timeouts;
    sse_hyper::Timeouts::default()
        .head(t.head)
        .body(t.body)
        .idle(t.idle)
        .write_stall(t.write_stall)
}

/// The answer to a request whose body could not be read: 408 when it took longer
/// than the body timeout (`sse_hyper::BodyTimeout`, anywhere in `error`'s
/// sources), else 413 (over [`MAX_BODY`](crate::MAX_BODY)).
#[must_use]
pub fn unreadable_body(error: &(dyn Error + 'static)) -> http::Response<Bytes> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<sse_hyper::BodyTimeout>() {
            return crate::error(http::StatusCode::REQUEST_TIMEOUT, &error.to_string());
        }
        cause = error.source();
    }
    crate::too_large()
}
