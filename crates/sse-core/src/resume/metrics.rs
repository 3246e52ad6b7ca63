//! Counters, and the snapshot a registry hands out.

use std::sync::atomic::{AtomicIsize, AtomicU64, AtomicUsize, Ordering::Relaxed};

crate::figures! {
/// A snapshot of a [`Resumable`](super::Resumable) registry's figures (counters
/// since it was made, gauges now); [`figures`](Self::figures) walks them, for
/// exporters.
///
/// ```
/// # use sse_core::Resumable;
/// let metrics = Resumable::default().metrics();
/// assert_eq!((metrics.live, metrics.started), (0, 0));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ResumeMetrics {
    /// Streams started and not ended.
    pub live: u64 = Gauge,
    /// Streams ended and still held for late resumers.
    pub lingering: u64 = Gauge,
    /// Streams started.
    pub started: u64 = Counter,
    /// Streams ended by their producer (finished, or every clone dropped).
    pub finished: u64 = Counter,
    /// Streams cancelled (by the application, or the registry dropped).
    pub cancelled: u64 = Counter,
    /// Streams cancelled because no viewer watched them for `abandon_after`.
    pub abandoned: u64 = Counter,
    /// Ended streams dropped before their linger was over, to keep within the
    /// budget.
    pub evicted: u64 = Counter,
    /// Ended streams dropped when their linger was over.
    pub expired: u64 = Counter,
    /// Viewers attached (resumers included).
    pub attached: u64 = Counter,
    /// Viewers attached with a `Last-Event-ID` that resumed exactly after it.
    pub resumed: u64 = Counter,
    /// Resync events sent: a viewer asked for messages no longer held, or for
    /// an id that is not the stream's.
    pub resyncs: u64 = Counter,
    /// Messages evicted, by a stream's `max_bytes` or by the budget.
    pub messages_evicted: u64 = Counter,
    /// Bytes the streams hold, as the budget counts them.
    pub bytes: u64 = Gauge,
}
}

/// The counters, shared by the registry, its producers and viewers (which do
/// not keep the registry alive).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) live: AtomicUsize,
    pub(crate) lingering: AtomicUsize,
    pub(crate) started: AtomicU64,
    pub(crate) finished: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) abandoned: AtomicU64,
    pub(crate) evicted: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) attached: AtomicU64,
    pub(crate) resumed: AtomicU64,
    pub(crate) resyncs: AtomicU64,
    pub(crate) messages_evicted: AtomicU64,
    /// The cost of every stream the registry holds (changed outside its lock, so
    /// it may dip below zero for a moment).
    pub(crate) bytes: AtomicIsize,
    /// Above this many bytes, the budget is enforced: the budget, or more when
    /// the last enforcement could not get under it (newest messages are kept), so
    /// that it does not run again at every message.
    pub(crate) threshold: AtomicUsize,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Relaxed);
        }
    }

    /// Adds `delta` to the bytes held; returns whether they are now above the
    /// threshold.
    pub(crate) fn add_bytes(&self, delta: isize) -> bool {
        let bytes = self.bytes.fetch_add(delta, Relaxed) + delta;
        bytes > 0 && bytes as usize > self.threshold.load(Relaxed)
    }

    /// The bytes held (0 while they dip below).
    pub(crate) fn bytes(&self) -> usize {
        self.bytes.load(Relaxed).max(0) as usize
    }

    pub(crate) fn snapshot(&self) -> ResumeMetrics {
        ResumeMetrics {
            live: self.live.load(Relaxed) as u64,
            lingering: self.lingering.load(Relaxed) as u64,
            started: self.started.load(Relaxed),
            finished: self.finished.load(Relaxed),
            cancelled: self.cancelled.load(Relaxed),
            abandoned: self.abandoned.load(Relaxed),
            evicted: self.evicted.load(Relaxed),
            expired: self.expired.load(Relaxed),
            attached: self.attached.load(Relaxed),
            resumed: self.resumed.load(Relaxed),
            resyncs: self.resyncs.load(Relaxed),
            messages_evicted: self.messages_evicted.load(Relaxed),
            bytes: self.bytes() as u64,
        }
    }
}
