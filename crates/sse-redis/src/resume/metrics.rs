//! What resumable streams on this process count.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

sse_core::figures! {
/// A snapshot of this process's resumable-stream counters;
/// [`figures`](Self::figures) walks them, for exporters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisResumeMetrics {
    /// Live producers on this process.
    pub producers: u64 = Gauge,
    /// Viewers on this process.
    pub viewers: u64 = Gauge,
    /// Streams started on this process.
    pub started: u64 = Counter,
    /// Starts refused: the key exists, this process is at capacity, or Redis is unavailable.
    pub start_failures: u64 = Counter,
    /// Attaches that got a stream.
    pub attached: u64 = Counter,
    /// Attaches that found no stream, or one already read to its end (answered 204).
    pub attach_misses: u64 = Counter,
    /// Resync events sent: a viewer missed events that were trimmed, or named a position the stream never had.
    pub resyncs: u64 = Counter,
    /// Streams cancelled from this process.
    pub cancelled: u64 = Counter,
    /// Events written to Redis by this process's producers.
    pub sent: u64 = Counter,
    /// Writes that failed because Redis was unavailable.
    pub send_errors: u64 = Counter,
}
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) viewers: AtomicU64,
    pub(crate) started: AtomicU64,
    pub(crate) start_failures: AtomicU64,
    pub(crate) attached: AtomicU64,
    pub(crate) attach_misses: AtomicU64,
    pub(crate) resyncs: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) send_errors: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub(crate) fn snapshot(&self, producers: usize) -> RedisResumeMetrics {
        RedisResumeMetrics {
            producers: producers as u64,
            viewers: self.viewers.load(Relaxed),
            started: self.started.load(Relaxed),
            start_failures: self.start_failures.load(Relaxed),
            attached: self.attached.load(Relaxed),
            attach_misses: self.attach_misses.load(Relaxed),
            resyncs: self.resyncs.load(Relaxed),
            cancelled: self.cancelled.load(Relaxed),
            sent: self.sent.load(Relaxed),
            send_errors: self.send_errors.load(Relaxed),
        }
    }
}
