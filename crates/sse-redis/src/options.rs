//! The backplane's settings.

use std::time::Duration;

/// Where the backplane's stream is, and how it is read.
///
/// ```
/// use std::time::Duration;
/// use sse_redis::RedisOptions;
///
/// let options = RedisOptions::new("redis://127.0.0.1:6379/")
///     .stream("chat:events")
///     .max_len(50_000)
///     .block(Duration::from_secs(2));
/// assert_eq!(options.stream, "chat:events");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisOptions {
    /// The server, as a `redis://` URL.
    pub url: String,
    /// The stream's key. Every process of one application uses the same.
    pub stream: String,
    /// Roughly how many entries the stream keeps (`XADD ... MAXLEN ~`): how far back
    /// a client can be replayed. [default: 100 000]
    pub max_len: usize,
    /// How long one `XREAD` waits for entries. [default: 5 s]
    pub block: Duration,
    /// At most this many entries per `XREAD`. [default: 1024]
    pub read_count: usize,
    /// At most this many events are replayed to one client from Redis; a client
    /// that missed more gets a replay miss. [default: 10 000]
    pub replay_limit: usize,
    /// How long a reply may take (beyond `block` for `XREAD`). [default: 5 s]
    pub response_timeout: Duration,
    /// The first wait before reconnecting; it doubles on each failure up to
    /// `max_backoff`. [default: 50 ms]
    pub min_backoff: Duration,
    /// The longest wait before reconnecting. [default: 5 s]
    pub max_backoff: Duration,
}

impl RedisOptions {
    /// The defaults, with the server at `url`.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        RedisOptions {
            url: url.into(),
            stream: "sse:events".into(),
            max_len: 100_000,
            block: Duration::from_secs(5),
            read_count: 1024,
            replay_limit: 10_000,
            response_timeout: Duration::from_secs(5),
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
        }
    }

    /// Sets the stream's key.
    #[must_use]
    pub fn stream(mut self, key: impl Into<String>) -> Self {
        self.stream = key.into();
        self
    }

    /// Sets how many entries the stream keeps, roughly.
    #[must_use]
    pub fn max_len(mut self, entries: usize) -> Self {
        self.max_len = entries.max(1);
        self
    }

    /// Sets how long one `XREAD` waits.
    #[must_use]
    pub fn block(mut self, block: Duration) -> Self {
        self.block = block.max(Duration::from_millis(1));
        self
    }

    /// Sets how many events one client may be replayed from Redis.
    #[must_use]
    pub fn replay_limit(mut self, events: usize) -> Self {
        self.replay_limit = events;
        self
    }

    /// Sets the bounds of the reconnection backoff.
    #[must_use]
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_backoff = min;
        self.max_backoff = max.max(min);
        self
    }
}
