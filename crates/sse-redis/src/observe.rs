//! What the backplane reports: errors, metrics and hooks.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use crate::entry::{InvalidEntry, StreamId};

/// What went wrong talking to Redis, or publishing.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Redis could not be reached, or refused the command.
    Redis(redis::RedisError),
    /// Redis replied with something else than the command's reply.
    UnexpectedReply(&'static str),
    /// The event has an id of its own: through the backplane, the stream entry id
    /// is the event's id.
    EventHasId,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Redis(error) => write!(f, "redis: {error}"),
            Error::UnexpectedReply(expected) => write!(f, "redis replied without {expected}"),
            Error::EventHasId => {
                f.write_str("the event has an id; through Redis, the stream entry id is its id")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Redis(error) => Some(error),
            _ => None,
        }
    }
}

impl From<redis::RedisError> for Error {
    fn from(error: redis::RedisError) -> Self {
        Error::Redis(error)
    }
}

/// Called by the backplane as things happen; every method does nothing by default.
/// Hooks run on the backplane's tasks: keep them short.
pub trait BackplaneHooks: Send + Sync + 'static {
    /// The reader lost its connection to Redis (or could not connect); it retries
    /// with backoff. Called once per outage.
    fn on_connection_lost(&self, error: &Error) {
        let _ = error;
    }

    /// The reader is connected again and resumes after the last entry it relayed
    /// (or from the stream's beginning, when it found the stream reset: then
    /// [`on_reset`](Self::on_reset) is called first).
    fn on_reconnected(&self) {}

    /// An entry of the stream is not an event this crate wrote; it is skipped.
    fn on_invalid_entry(&self, id: StreamId, reason: InvalidEntry) {
        let _ = (id, reason);
    }

    /// The stream no longer holds `relayed`, the newest entry the reader had
    /// relayed, yet it holds (or may get) entries below it: it was reset (Redis
    /// restarted empty, the key was deleted) or moved back (a failover to a replica
    /// that was behind, a clock stepped back). The reader starts again from the
    /// stream's beginning, so nothing published since is skipped, and a client
    /// reconnecting with an id of the old stream gets a replay miss.
    fn on_reset(&self, relayed: StreamId) {
        let _ = relayed;
    }
}

/// Hooks that do nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoBackplaneHooks;

impl BackplaneHooks for NoBackplaneHooks {}

sse_core::figures! {
/// A snapshot of the backplane's counters; [`figures`](Self::figures) walks them,
/// for exporters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackplaneMetrics {
    /// Whether the reader is connected.
    pub connected: bool = Gauge,
    /// Events appended to the stream by this process.
    pub published: u64 = Counter,
    /// Publishes that failed (Redis unreachable or refusing).
    pub publish_errors: u64 = Counter,
    /// Entries read from the stream and relayed to the hub.
    pub relayed: u64 = Counter,
    /// Entries skipped as not written by this crate.
    pub invalid_entries: u64 = Counter,
    /// Times the reader lost its connection.
    pub connection_losses: u64 = Counter,
    /// Times the reader connected again after losing it.
    pub reconnects: u64 = Counter,
    /// Times the reader found the stream reset or moved back below the entry it
    /// had relayed last, and started again from the stream's beginning.
    pub resets: u64 = Counter,
    /// Clients replayed from Redis.
    pub replays: u64 = Counter,
    /// Clients whose `Last-Event-ID` Redis could not replay from.
    pub replay_misses: u64 = Counter,
}
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connected: AtomicBool,
    pub(crate) published: AtomicU64,
    pub(crate) publish_errors: AtomicU64,
    pub(crate) relayed: AtomicU64,
    pub(crate) invalid_entries: AtomicU64,
    pub(crate) connection_losses: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) resets: AtomicU64,
    pub(crate) replays: AtomicU64,
    pub(crate) replay_misses: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> BackplaneMetrics {
        BackplaneMetrics {
            connected: self.connected.load(Relaxed),
            published: self.published.load(Relaxed),
            publish_errors: self.publish_errors.load(Relaxed),
            relayed: self.relayed.load(Relaxed),
            invalid_entries: self.invalid_entries.load(Relaxed),
            connection_losses: self.connection_losses.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            resets: self.resets.load(Relaxed),
            replays: self.replays.load(Relaxed),
            replay_misses: self.replay_misses.load(Relaxed),
        }
    }
}
