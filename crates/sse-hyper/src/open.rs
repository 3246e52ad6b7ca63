//! A connection's open requests, and closing it once it has had none for a while
//! whatever else it sends (HTTP/2 PINGs, SETTINGS, WINDOW_UPDATEs).

use std::error::Error;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use tokio::time::Instant;

/// How many requests a connection has open (from the service's call until its
/// response body is dropped: sent whole, or the stream reset), and since when it
/// has had none. Nothing waits on it: the connection's [`TimeoutIo`](crate::TimeoutIo)
/// reads [`idle_deadline`](Self::idle_deadline) when it sets its timer, so a request
/// costs two atomic operations and no wake-up.
#[derive(Debug)]
pub(crate) struct OpenRequests {
    open: AtomicUsize,
    /// When the last request closed, in nanoseconds after `since`, plus one; 0
    /// while none has been opened (the head timeout applies).
    closed: AtomicU64,
    since: Instant,
    head: Duration,
}

impl OpenRequests {
    /// A connection that must open its first request within `head` from now.
    pub(crate) fn new(head: Duration) -> Self {
        OpenRequests {
            open: AtomicUsize::new(0),
            closed: AtomicU64::new(0),
            since: Instant::now(),
            head,
        }
    }

    /// Counts a request as open until the guard drops.
    pub(crate) fn open(self: &Arc<Self>) -> Open {
        self.open.fetch_add(1, Ordering::AcqRel);
        Open(Arc::clone(self))
    }

    /// When the connection is to be closed for want of a request, unless one
    /// opens first, if it must have one open at least every `idle`; `None` while
    /// one is open.
    pub(crate) fn idle_deadline(&self, idle: Duration) -> Option<Instant> {
        if self.open.load(Ordering::Acquire) > 0 {
            return None;
        }
        match self.closed.load(Ordering::Acquire) {
            0 => Some(self.since + self.head),
            closed => Some(self.since + Duration::from_nanos(closed - 1) + idle),
        }
    }
}

/// A request counted as open (see [`OpenRequests::open`]).
#[derive(Debug)]
pub(crate) struct Open(Arc<OpenRequests>);

impl Drop for Open {
    fn drop(&mut self) {
        let requests = &self.0;
        // Stamped before the count drops, so that whoever sees no request open
        // sees when the last one closed.
        let after = Instant::now().saturating_duration_since(requests.since);
        let after = u64::try_from(after.as_nanos()).unwrap_or(u64::MAX - 1);
        requests.closed.fetch_max(after + 1, Ordering::AcqRel);
        requests.open.fetch_sub(1, Ordering::AcqRel);
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

    const IDLE: Duration = Duration::from_secs(5);

    #[tokio::test(start_paused = true)]
    async fn no_first_request_within_head_and_no_request_for_idle_are_both_idle() {
        let started = Instant::now();
        let requests = Arc::new(OpenRequests::new(Duration::from_secs(1)));
        assert_eq!(
            requests.idle_deadline(IDLE),
            Some(started + Duration::from_secs(1)),
            "the head timeout"
        );
        let open = requests.open();
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(requests.idle_deadline(IDLE), None, "a request is open");
        drop(open);
        assert_eq!(
            requests.idle_deadline(IDLE),
            Some(started + Duration::from_secs(8)),
            "the idle timeout, from when the request closed"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_last_of_several_requests_to_close_starts_the_idle_timeout() {
        let started = Instant::now();
        let requests = Arc::new(OpenRequests::new(Duration::from_secs(1)));
        let (first, second) = (requests.open(), requests.open());
        tokio::time::advance(Duration::from_secs(2)).await;
        drop(first);
        assert_eq!(requests.idle_deadline(IDLE), None, "one is still open");
        tokio::time::advance(Duration::from_secs(2)).await;
        drop(second);
        assert_eq!(
            requests.idle_deadline(IDLE),
            Some(started + Duration::from_secs(9))
        );
    }
}
