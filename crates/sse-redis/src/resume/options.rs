//! The settings of resumable streams on Redis.

use std::time::Duration;

/// Where resumable streams live in Redis, and their bounds.
///
/// Every process of one application uses the same settings (at least the same
/// `prefix`, `linger` and bounds): a stream started on one process is written with
/// them and read on any other.
///
/// ```
/// use std::time::Duration;
/// use sse_redis::ResumeOptions;
///
/// let options = ResumeOptions::new("redis://127.0.0.1:6379/")
///     .prefix("chat:replies")
///     .linger(Duration::from_secs(60))
///     .max_bytes(256 * 1024);
/// assert_eq!(options.prefix, "chat:replies");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResumeOptions {
    /// The server, as a `redis://` URL.
    pub url: String,
    /// The start of every stream's Redis key: the stream of key `run-42` is
    /// `{prefix}:{run-42}`. [default: `sse:resume`]
    pub prefix: String,
    /// How long an ended stream (finished, cancelled or abandoned) stays for late
    /// resumers before Redis expires it. [default: 5 min]
    pub linger: Duration,
    /// At most this many bytes of events per stream (the encoded events, without
    /// their ids): older entries are trimmed, and a resumer from before them gets
    /// a `resync` event. [default: 1 MiB]
    pub max_bytes: usize,
    /// At most this many events per stream, whatever their size. [default: 100 000]
    pub max_entries: usize,
    /// At most this many live producers on this process: more starts fail with
    /// [`StartError::AtCapacity`](crate::StartError::AtCapacity). [default: 10 000]
    pub max_streams: usize,
    /// At most this many viewers on this process: each follows its stream on a
    /// blocking connection of its own, so this bounds the connections to Redis.
    /// More attaches fail with
    /// [`AttachError::AtCapacity`](crate::AttachError::AtCapacity). [default: 1024]
    pub max_viewers: usize,
    /// How many blocking connections are kept open for the next viewers once
    /// theirs end. [default: 16]
    pub idle_connections: usize,
    /// A live stream expires this long after its producer was last heard of (a
    /// send, or [`RedisResumable::run`](crate::RedisResumable::run)'s heartbeat), so
    /// the stream of a process that died goes away. [default: 10 min]
    pub live_ttl: Duration,
    /// Ends a live stream, as `abandoned`, when no viewer on any process has
    /// followed it for this long. [default: none]
    pub abandon_after: Option<Duration>,
    /// At most this many messages wait in a producer for Redis (sent with
    /// `try_send`, or kept when Redis could not be reached); at most `max_bytes`
    /// bytes of them either. [default: 1024]
    pub max_pending: usize,
    /// How long one `XREAD` of a viewer waits for entries. [default: 5 s]
    pub block: Duration,
    /// At most this many entries per read. [default: 256]
    pub read_count: usize,
    /// How long a reply may take (beyond `block` for `XREAD`). [default: 5 s]
    pub response_timeout: Duration,
    /// The first wait before [`run`](crate::RedisResumable::run) reconnects; it
    /// doubles on each failure up to `max_backoff`. [default: 50 ms]
    pub min_backoff: Duration,
    /// The longest wait before reconnecting. [default: 5 s]
    pub max_backoff: Duration,
}

impl ResumeOptions {
    /// The defaults, with the server at `url`.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        ResumeOptions {
            url: url.into(),
            prefix: "sse:resume".into(),
            linger: Duration::from_secs(5 * 60),
            max_bytes: 1 << 20,
            max_entries: 100_000,
            max_streams: 10_000,
            max_viewers: 1024,
            idle_connections: 16,
            live_ttl: Duration::from_secs(10 * 60),
            abandon_after: None,
            max_pending: 1024,
            block: Duration::from_secs(5),
            read_count: 256,
            response_timeout: Duration::from_secs(5),
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
        }
    }

    /// Sets the start of every stream's key.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets how long ended streams stay (at least 1 ms).
    #[must_use]
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger.max(Duration::from_millis(1));
        self
    }

    /// Sets the bytes kept per stream (at least 1).
    #[must_use]
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes.max(1);
        self
    }

    /// Sets the events kept per stream (at least 1).
    #[must_use]
    pub fn max_entries(mut self, entries: usize) -> Self {
        self.max_entries = entries.max(1);
        self
    }

    /// Sets the live producers allowed on this process.
    #[must_use]
    pub fn max_streams(mut self, streams: usize) -> Self {
        self.max_streams = streams;
        self
    }

    /// Sets the viewers allowed on this process.
    #[must_use]
    pub fn max_viewers(mut self, viewers: usize) -> Self {
        self.max_viewers = viewers;
        self
    }

    /// Sets how long a live stream lasts without word from its producer (at least
    /// 1 s).
    #[must_use]
    pub fn live_ttl(mut self, ttl: Duration) -> Self {
        self.live_ttl = ttl.max(Duration::from_secs(1));
        self
    }

    /// Sets when a stream no viewer follows is abandoned.
    #[must_use]
    pub fn abandon_after(mut self, after: impl Into<Option<Duration>>) -> Self {
        self.abandon_after = after
            .into()
            .map(|after| after.max(Duration::from_millis(1)));
        self
    }

    /// Sets how long one `XREAD` waits (at least 1 ms).
    #[must_use]
    pub fn block(mut self, block: Duration) -> Self {
        self.block = block.max(Duration::from_millis(1));
        self
    }

    /// Sets the bounds of the reconnection backoff.
    #[must_use]
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_backoff = min;
        self.max_backoff = max.max(min);
        self
    }

    /// Milliseconds for a Redis `PEXPIRE` (at least 1).
    pub(crate) fn millis(duration: Duration) -> u64 {
        u64::try_from(duration.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}
