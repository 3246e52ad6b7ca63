//! A connection's open requests, and closing it once it has had none for a while
//! whatever else it sends (HTTP/2 PINGs, SETTINGS, WINDOW_UPDATEs).

use std::error::Error;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use tokio::sync::Notify;

/// How many requests a connection has open: from the service's call until its
/// response body is dropped (sent whole, or the stream reset).
#[derive(Debug, Default)]
pub(crate) struct OpenRequests {
    open: AtomicUsize,
    /// Requests ever opened: none yet means the head timeout applies.
    opened: AtomicU64,
    changed: Notify,
}

impl OpenRequests {
    /// Counts a request as open until the guard drops.
    pub(crate) fn open(self: &Arc<Self>) -> Open {
        self.open.fetch_add(1, Ordering::AcqRel);
        self.opened.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_waiters();
        Open(Arc::clone(self))
    }

    /// Resolves once the connection has had no request open for `idle` (for
    /// `head` before its first request).
    pub(crate) async fn idle_for(&self, head: Duration, idle: Duration) {
        loop {
            let changed = self.changed.notified();
            let mut changed = std::pin::pin!(changed);
            // Registered before the count is read: a change in between still wakes.
            changed.as_mut().enable();
            if self.open.load(Ordering::Acquire) > 0 {
                changed.await;
                continue;
            }
            let limit = if self.opened.load(Ordering::Acquire) == 0 {
                head
            } else {
                idle
            };
            tokio::select! {
                () = tokio::time::sleep(limit) => {
                    if self.open.load(Ordering::Acquire) == 0 {
                        return;
                    }
                }
                () = changed => {}
            }
        }
    }
}

/// A request counted as open (see [`OpenRequests::open`]).
#[derive(Debug)]
pub(crate) struct Open(Arc<OpenRequests>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify_waiters();
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request counted as open while it lives;
    /// for a `HEAD` request, one that ends before its first frame, whatever the
    /// handler answered (hyper sends HTTP/2 a body's frames even then, which the
    /// client takes as a protocol error).
    #[derive(Debug)]
    pub(crate) struct Counted<B> {
        #[pin]
        body: B,
        open: Open,
        head_only: bool,
    }
}

impl<B> Counted<B> {
    pub(crate) fn new(body: B, open: Open, head_only: bool) -> Self {
        Counted {
            body,
            open,
            head_only,
        }
    }
}

impl<B> Body for Counted<B>
where
    B: Body,
    B::Error: Into<Box<dyn Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        if *this.head_only {
            return Poll::Ready(None);
        }
        this.body.poll_frame(cx)
    }

    /// Ended at once for `HEAD`: hyper then sends the head alone and drops the
    /// body unread, so a stream's producer stops.
    fn is_end_stream(&self) -> bool {
        self.head_only || self.body.is_end_stream()
    }

    /// The body's, so a `HEAD` answer tells the length a `GET` would have.
    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn no_first_request_within_head_and_no_request_for_idle_are_both_idle() {
        let requests = Arc::new(OpenRequests::default());
        let started = tokio::time::Instant::now();
        requests
            .idle_for(Duration::from_secs(1), Duration::from_secs(5))
            .await;
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(1),
            "the head timeout"
        );
        drop(requests.open());
        let started = tokio::time::Instant::now();
        requests
            .idle_for(Duration::from_secs(1), Duration::from_secs(5))
            .await;
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(5),
            "the idle timeout"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_request_keeps_the_connection_however_long() {
        let requests = Arc::new(OpenRequests::default());
        let open = requests.open();
        let idle = requests.idle_for(Duration::from_secs(1), Duration::from_secs(5));
        let timed = tokio::time::timeout(Duration::from_secs(3600), idle);
        assert!(timed.await.is_err(), "idle while a request was open");
        let started = tokio::time::Instant::now();
        drop(open);
        requests
            .idle_for(Duration::from_secs(1), Duration::from_secs(5))
            .await;
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }
}
