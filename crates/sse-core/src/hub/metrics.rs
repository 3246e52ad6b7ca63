//! Counters, and the snapshot the hub hands out.
//!
//! Layer 0 of the hub: words.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

crate::figures! {
/// A snapshot of a hub's counters (all since the hub was made, but `active`);
/// [`figures`](Self::figures) walks them, for exporters.
///
/// ```
/// # use sse_core::Hub;
/// let metrics = Hub::default().metrics();
/// assert_eq!((metrics.active, metrics.connects), (0, 0));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Metrics {
    /// Clients connected now.
    pub active: usize = Gauge,
    /// Connections accepted.
    pub connects: u64 = Counter,
    /// Connections ended (for any reason).
    pub disconnects: u64 = Counter,
    /// Connections refused (capacity, shutdown, admission hook, duplicate id).
    pub refused: u64 = Counter,
    /// Events published: broadcast, to a topic, or to one client.
    pub published: u64 = Counter,
    /// Frames handed to writers, keep-alives and hints included.
    pub delivered: u64 = Counter,
    /// Frames dropped for slow clients (under `LagPolicy::DropOldest`).
    pub dropped: u64 = Counter,
    /// Clients disconnected for falling too far behind.
    pub lag_disconnects: u64 = Counter,
    /// Connections that resumed after a `Last-Event-ID`.
    pub replays: u64 = Counter,
    /// Connections whose `Last-Event-ID` was no longer (or never) in the history.
    pub replay_misses: u64 = Counter,
    /// Keep-alive comments sent.
    pub keep_alives: u64 = Counter,
    /// Frames taken out of the history early to keep it within
    /// `HubConfig::history_budget` (readers that had not read them meet the lag
    /// policy, counted in `dropped` or `lag_disconnects`).
    pub evicted: u64 = Counter,
    /// Topic logs freed, with their history, after `HubConfig::idle_topic_lifetime`
    /// without readers or publishes.
    pub topics_expired: u64 = Counter,
    /// Publishes to a topic without a log while `HubConfig::max_topics` logs were
    /// held (delivered to nobody, as no one subscribed, and not kept for replay),
    /// and connections refused because their topics would need more logs than that.
    pub topics_refused: u64 = Counter,
}
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) active: AtomicUsize,
    pub(crate) connects: AtomicU64,
    pub(crate) disconnects: AtomicU64,
    pub(crate) refused: AtomicU64,
    /// The newest sequence taken, stored under the hub's lock: every event
    /// published takes one, so it counts them without an atomic add of its own,
    /// and sizes the next frame's `id` line.
    pub(crate) newest_sequence: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) lag_disconnects: AtomicU64,
    pub(crate) replays: AtomicU64,
    pub(crate) replay_misses: AtomicU64,
    pub(crate) keep_alives: AtomicU64,
    pub(crate) evicted: AtomicU64,
    pub(crate) topics_expired: AtomicU64,
    pub(crate) topics_refused: AtomicU64,
    /// Feature `metrics`: recorded through the facade as clients go.
    pub(crate) histograms: crate::observe::HubHistograms,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Relaxed);
        }
    }

    /// The counters now, for a hub whose first sequence is `first_sequence`.
    pub(crate) fn snapshot(&self, first_sequence: u64) -> Metrics {
        Metrics {
            active: self.active.load(Relaxed),
            connects: self.connects.load(Relaxed),
            disconnects: self.disconnects.load(Relaxed),
            refused: self.refused.load(Relaxed),
            published: self.newest_sequence.load(Relaxed) - first_sequence,
            delivered: self.delivered.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            lag_disconnects: self.lag_disconnects.load(Relaxed),
            replays: self.replays.load(Relaxed),
            replay_misses: self.replay_misses.load(Relaxed),
            keep_alives: self.keep_alives.load(Relaxed),
            evicted: self.evicted.load(Relaxed),
            topics_expired: self.topics_expired.load(Relaxed),
            topics_refused: self.topics_refused.load(Relaxed),
        }
    }
}
