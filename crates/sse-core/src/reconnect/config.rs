//! [`ReconnectConfig`]: the settings of the default rules.

use std::time::Duration;

/// The reconnection policy's settings: the default rules' numbers.
///
/// | setting | default | what it bounds |
/// | --- | --- | --- |
/// | [`initial_retry`](Self::initial_retry) | 3 s | the delay until the server sends `retry:` |
/// | [`min_retry`](Self::min_retry) | 500 ms | the floor on the server's `retry:` |
/// | [`max_retry`](Self::max_retry) | 10 min | the cap on the server's `retry:` |
/// | [`max_backoff`](Self::max_backoff) | 60 s | the backoff after failures |
/// | [`jitter`](Self::jitter) | on | spreads the backoff into its upper half |
/// | [`max_retry_after`](Self::max_retry_after) | 1 h | the longest `Retry-After` honoured |
/// | [`max_failures`](Self::max_failures) | none | consecutive failed attempts |
/// | [`max_attempts`](Self::max_attempts) | none | attempts in all, a hard limit |
/// | [`resend_broken`](Self::resend_broken) | off | sending a `POST` again after its stream broke |
///
/// ```
/// # use std::time::Duration;
/// # use sse_core::ReconnectConfig;
/// let config = ReconnectConfig::default()
///     .initial_retry(Duration::from_secs(1))
///     .min_retry(Duration::from_secs(1))
///     .max_backoff(Duration::from_secs(30))
///     .max_failures(Some(10))
///     .max_attempts(Some(100));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReconnectConfig {
    /// The reconnection delay until the server sends a `retry:`. Default 3 s, what
    /// browsers use. It is the client's own setting: the floor and the cap below
    /// bound only the server's `retry:`.
    pub initial_retry: Duration,
    /// The shortest reconnection delay a server's `retry:` may set (a shorter one,
    /// `retry: 0` included, is raised to it). Default 500 ms, as Firefox does: a
    /// server that sends `retry: 0` and closes gets at most two reconnections a
    /// second from each client, not thousands.
    pub min_retry: Duration,
    /// The longest reconnection delay a server's `retry:` may set (a longer one is cut
    /// to it). Default 10 minutes: `retry: 99999999999999` does not park the client
    /// for millennia.
    pub max_retry: Duration,
    /// The cap on the backoff after failures (never below the reconnection delay).
    /// Default 60 s.
    pub max_backoff: Duration,
    /// Whether backoff delays are jittered (uniformly into their upper half), so that
    /// many clients of a restarted server do not come back at once. Default on.
    pub jitter: bool,
    /// Give up after this many consecutive failures (`None`: never). A failure is an
    /// attempt that delivered no event: a network error, a retried status, or a
    /// stream that ended before its first event. Default `None`.
    pub max_failures: Option<u32>,
    /// Connect at most this many times in all, the first attempt included (`None`: no
    /// limit); `Some(1)` never reconnects. Unlike the other rules it holds whatever a
    /// [`Policy`](crate::Policy) decides. Default `None`.
    pub max_attempts: Option<u32>,
    /// The longest `Retry-After` honoured; a longer one is cut to it. Default 1 hour.
    pub max_retry_after: Duration,
    /// Whether a request that is not `GET` or `HEAD` is sent again after its stream
    /// broke (a network error, a reset, the idle timeout) when the server named no
    /// resume location. Default off: a `POST` that started a paid generation is sent
    /// once. (After a clean end it is never sent again, whatever this says.)
    pub resend_broken: bool,
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        ReconnectConfig {
            initial_retry: Duration::from_secs(3),
            min_retry: Duration::from_millis(500),
            max_retry: Duration::from_secs(600),
            max_backoff: Duration::from_secs(60),
            jitter: true,
            max_failures: None,
            max_attempts: None,
            max_retry_after: Duration::from_secs(3600),
            resend_broken: false,
        }
    }
}

impl ReconnectConfig {
    /// Sets [`initial_retry`](Self::initial_retry).
    #[must_use]
    pub fn initial_retry(mut self, delay: Duration) -> Self {
        self.initial_retry = delay;
        self
    }

    /// Sets [`min_retry`](Self::min_retry).
    #[must_use]
    pub fn min_retry(mut self, floor: Duration) -> Self {
        self.min_retry = floor;
        self
    }

    /// Sets [`max_retry`](Self::max_retry).
    #[must_use]
    pub fn max_retry(mut self, cap: Duration) -> Self {
        self.max_retry = cap;
        self
    }

    /// Sets [`max_backoff`](Self::max_backoff).
    #[must_use]
    pub fn max_backoff(mut self, cap: Duration) -> Self {
        self.max_backoff = cap;
        self
    }

    /// Sets [`jitter`](Self::jitter).
    #[must_use]
    pub fn jitter(mut self, on: bool) -> Self {
        self.jitter = on;
        self
    }

    /// Sets [`max_failures`](Self::max_failures).
    #[must_use]
    pub fn max_failures(mut self, failures: Option<u32>) -> Self {
        self.max_failures = failures;
        self
    }

    /// Sets [`max_attempts`](Self::max_attempts).
    #[must_use]
    pub fn max_attempts(mut self, attempts: Option<u32>) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// Sets [`max_retry_after`](Self::max_retry_after).
    #[must_use]
    pub fn max_retry_after(mut self, cap: Duration) -> Self {
        self.max_retry_after = cap;
        self
    }

    /// Sets [`resend_broken`](Self::resend_broken).
    #[must_use]
    pub fn resend_broken(mut self, on: bool) -> Self {
        self.resend_broken = on;
        self
    }

    /// A server's `retry:` within [`min_retry`](Self::min_retry) and
    /// [`max_retry`](Self::max_retry) (the floor wins if they cross).
    pub(crate) fn clamp_retry(&self, delay: Duration) -> Duration {
        delay.min(self.max_retry).max(self.min_retry)
    }
}
