//! Reconnecting as the WHATWG `EventSource` does: [`Reconnect`], the policy half of
//! an SSE client.

mod retry_after;

pub use retry_after::parse_retry_after;

use std::time::{Duration, Instant, SystemTime};

use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::decode::{Decoded, MessageEvent};

/// The reconnection policy's settings.
///
/// ```
/// # use std::time::Duration;
/// # use sse_core::ReconnectConfig;
/// let config = ReconnectConfig::default()
///     .initial_retry(Duration::from_secs(1))
///     .max_backoff(Duration::from_secs(30))
///     .max_failures(Some(10));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReconnectConfig {
    /// The reconnection delay until the server sends a `retry:`. Default 3 s, what
    /// browsers use.
    pub initial_retry: Duration,
    /// The cap on the backoff after failures (never below the server's `retry:`).
    /// Default 60 s.
    pub max_backoff: Duration,
    /// Whether backoff delays are jittered (uniformly into their upper half), so that
    /// many clients of a restarted server do not come back at once. Default on.
    pub jitter: bool,
    /// Give up after this many consecutive failures (`None`: never). Default `None`.
    pub max_failures: Option<u32>,
    /// The longest `Retry-After` honoured; a longer one is cut to it. Default 1 hour.
    pub max_retry_after: Duration,
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        ReconnectConfig {
            initial_retry: Duration::from_secs(3),
            max_backoff: Duration::from_secs(60),
            jitter: true,
            max_failures: None,
            max_retry_after: Duration::from_secs(3600),
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

    /// Sets [`max_retry_after`](Self::max_retry_after).
    #[must_use]
    pub fn max_retry_after(mut self, cap: Duration) -> Self {
        self.max_retry_after = cap;
        self
    }
}

/// What [`Reconnect::poll`] asks the caller to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReconnectAction {
    /// Connect now: send the request, with [`Reconnect::last_event_id`] as the
    /// `Last-Event-ID` header when it is not empty. Then report the outcome with
    /// [`on_response`](Reconnect::on_response) or
    /// [`on_connect_error`](Reconnect::on_connect_error).
    Connect,
    /// Wait until this instant, then poll again.
    Wait(Instant),
    /// A connection is being made or is open: report what happens to it.
    InProgress,
    /// Done for good ([`Verdict::Stop`] said why): do not connect again.
    Stopped,
}

/// What an outcome means for the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// The response is an event stream: read it.
    Stream,
    /// Connect again after a delay ([`Reconnect::poll`] says when).
    Retry(RetryDelay),
    /// Stop for good.
    Stop(StopReason),
}

/// When the next attempt is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryDelay {
    /// How long to wait.
    pub delay: Duration,
    /// `now + delay`: when [`Reconnect::poll`] will say [`ReconnectAction::Connect`].
    pub at: Instant,
}

/// Why the client stops for good.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// `204 No Content`: the server asks the client not to come back.
    NoContent,
    /// A status that is not retried (a `4xx` other than 408 and 429, a `3xx`, a `2xx`
    /// other than 200 and 204).
    Status(StatusCode),
    /// A `200` whose `Content-Type` is not `text/event-stream` (the value, if any).
    ContentType(Option<HeaderValue>),
    /// More consecutive failures than [`ReconnectConfig::max_failures`].
    GaveUp {
        /// How many attempts failed in a row.
        failures: u32,
    },
    /// The caller stopped it ([`Reconnect::stop_now`]).
    Closed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// Connect at this instant (`None`: now).
    Waiting(Option<Instant>),
    Connecting,
    Open,
    /// For good: every later outcome gets this answer again.
    Stopped(StopReason),
}

/// Reconnecting as the WHATWG `EventSource` does, without IO and without a clock.
///
/// [`Reconnect`] is the policy half of an SSE client: it owns the last event id, the
/// reconnection delay (the server's `retry:` wins), exponential backoff with jitter for
/// failures, and the decision what a response means. The client half (a socket, a
/// timer, an HTTP library) tells it what happened and does what it says:
///
/// ```text
///            ┌────────── poll(now) ──────────┐
///            ▼                               │
///   Connect ──▶ send the request ──▶ on_response(now, ..) ──▶ Stream ──▶ read; on_decoded(..)
///      ▲            │ (network error)            │                          │ (end, error, idle)
///      │            ▼                            ▼                          ▼
///   Wait(at) ◀── on_connect_error(now)        Retry / Stop         on_stream_end(now)
/// ```
///
/// Time is always passed in (`now`), as quinn-proto does: it never sleeps, so it is
/// tested with a fake clock and runs under any runtime.
///
/// What a response means:
///
/// | response | verdict |
/// | --- | --- |
/// | `200` with `Content-Type: text/event-stream` | [`Verdict::Stream`] |
/// | `204 No Content` | [`Verdict::Stop`] for good (the server's "don't come back") |
/// | `200` with another content type | [`Verdict::Stop`], no retry |
/// | any other `2xx`, `3xx`, or a `4xx` other than 408 and 429 | [`Verdict::Stop`], no retry |
/// | `408`, `429`, `5xx` | [`Verdict::Retry`], after `Retry-After` when it says longer |
/// | a network error before the response | [`Verdict::Retry`] with backoff |
/// | the end of an open stream (closed, failed, idle) | [`Verdict::Retry`] after the reconnection delay |
///
/// # Delays
///
/// - After an open stream ends, the client waits the *reconnection delay*: the last
///   `retry:` the server sent, or [`ReconnectConfig::initial_retry`] until it sends one.
///   No jitter: the server said how long.
/// - After `n` consecutive failures (no stream opened in between), it waits
///   `min(max(cap, retry), retry × 2ⁿ)`, jittered uniformly into its upper half, and
///   never less than the reconnection delay (a `retry` of zero backs off from 1 ms).
///   The cap is [`ReconnectConfig::max_backoff`].
/// - A `Retry-After` (seconds or an HTTP-date) on a retried response is honoured up to
///   [`ReconnectConfig::max_retry_after`]: the wait is the longer of it and the backoff.
/// - After more than [`ReconnectConfig::max_failures`] consecutive failures (if set), it
///   gives up.
///
/// # Examples
///
/// A connection that streams, ends, and is made again after the server's `retry:`:
///
/// ```
/// use std::time::{Duration, Instant, SystemTime};
/// use http::{HeaderMap, HeaderValue, StatusCode, header};
/// use sse_core::{Decoded, Decoder, Reconnect, ReconnectAction, ReconnectConfig, Verdict};
///
/// let mut reconnect = Reconnect::new(ReconnectConfig::default(), 42);
/// let now = Instant::now();
/// assert_eq!(reconnect.poll(now), ReconnectAction::Connect);
///
/// let mut headers = HeaderMap::new();
/// headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
/// let verdict = reconnect.on_response(now, SystemTime::now(), StatusCode::OK, &headers);
/// assert_eq!(verdict, Verdict::Stream);
///
/// let mut decoder = Decoder::new();
/// decoder.push(b"retry: 500\nid: 7\ndata: hi\n\n")?;
/// for item in &mut decoder {
///     reconnect.on_decoded(&item);
/// }
/// assert_eq!(reconnect.last_event_id(), "7");
///
/// // The server closes the stream: come back after its `retry:`.
/// let Verdict::Retry(retry) = reconnect.on_stream_end(now) else { panic!() };
/// assert_eq!(retry.delay, Duration::from_millis(500));
/// assert_eq!(reconnect.poll(now), ReconnectAction::Wait(retry.at));
/// assert_eq!(reconnect.poll(retry.at), ReconnectAction::Connect);
/// # Ok::<(), sse_core::DecodeError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Reconnect {
    config: ReconnectConfig,
    state: State,
    last_event_id: String,
    /// The reconnection delay: the server's last `retry:`, or the initial one.
    retry: Duration,
    /// Consecutive failures since a stream last opened.
    failures: u32,
    /// SplitMix64 state, for jitter.
    rng: u64,
}

impl Reconnect {
    /// A state machine that will connect at once; `seed` seeds its jitter (give each
    /// client its own, from any source of randomness; the same seed gives the same
    /// delays, which tests rely on).
    #[must_use]
    pub fn new(config: ReconnectConfig, seed: u64) -> Self {
        Reconnect {
            retry: config.initial_retry,
            config,
            state: State::Waiting(None),
            last_event_id: String::new(),
            failures: 0,
            rng: seed,
        }
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &ReconnectConfig {
        &self.config
    }

    /// What to do now. Call it first, after each [`Verdict::Retry`], and when the
    /// instant of a [`ReconnectAction::Wait`] has come.
    #[must_use]
    pub fn poll(&mut self, now: Instant) -> ReconnectAction {
        match &self.state {
            State::Waiting(Some(at)) if now < *at => ReconnectAction::Wait(*at),
            State::Waiting(_) => {
                self.state = State::Connecting;
                ReconnectAction::Connect
            }
            State::Connecting | State::Open => ReconnectAction::InProgress,
            State::Stopped(_) => ReconnectAction::Stopped,
        }
    }

    /// When the caller must [`poll`](Self::poll) again, if it is waiting.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Waiting(at) => *at,
            _ => None,
        }
    }

    /// The id to send as `Last-Event-ID` (empty: send none).
    #[must_use]
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// Sets the last event id: the one to start from, or the decoder's
    /// ([`Decoder::last_event_id`](crate::Decoder::last_event_id)), which also follows
    /// id-only frames.
    pub fn set_last_event_id(&mut self, id: &str) {
        if self.last_event_id != id {
            id.clone_into(&mut self.last_event_id);
        }
    }

    /// The reconnection delay now in force: the server's last `retry:`, or
    /// [`ReconnectConfig::initial_retry`].
    #[must_use]
    pub fn retry(&self) -> Duration {
        self.retry
    }

    /// The server sent `retry:`: it becomes the reconnection delay.
    pub fn on_retry(&mut self, delay: Duration) {
        self.retry = delay;
    }

    /// An event was dispatched: its id becomes the last event id.
    pub fn on_event(&mut self, event: &MessageEvent) {
        self.set_last_event_id(&event.last_event_id);
    }

    /// Feeds a decoded item: an event's id and a `retry:` are taken, comments ignored.
    pub fn on_decoded(&mut self, item: &Decoded) {
        match item {
            Decoded::Event(event) => self.on_event(event),
            Decoded::Retry(delay) => self.on_retry(*delay),
            Decoded::Comment(_) => {}
        }
    }

    /// How many attempts failed in a row since a stream last opened.
    #[must_use]
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The response head arrived (`now` on the monotonic clock, `wall` the system
    /// time, to read a `Retry-After` given as an HTTP-date).
    #[must_use]
    pub fn on_response(
        &mut self,
        now: Instant,
        wall: SystemTime,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Verdict {
        if let State::Stopped(reason) = &self.state {
            return Verdict::Stop(reason.clone());
        }
        match status.as_u16() {
            200 => {
                let content_type = headers.get(header::CONTENT_TYPE);
                if content_type.is_some_and(is_event_stream) {
                    self.state = State::Open;
                    self.failures = 0;
                    Verdict::Stream
                } else {
                    self.stop(StopReason::ContentType(content_type.cloned()))
                }
            }
            204 => self.stop(StopReason::NoContent),
            408 | 429 | 500..=599 => {
                let retry_after = headers
                    .get(header::RETRY_AFTER)
                    .and_then(|value| parse_retry_after(value.as_bytes(), wall))
                    .map(|after| after.min(self.config.max_retry_after));
                self.fail(now, retry_after)
            }
            _ => self.stop(StopReason::Status(status)),
        }
    }

    /// The connection or the request failed before a response head arrived.
    #[must_use]
    pub fn on_connect_error(&mut self, now: Instant) -> Verdict {
        self.fail(now, None)
    }

    /// An open stream ended: the server closed it, it failed, or it went idle. The
    /// next attempt comes after the reconnection delay. (Called while no stream is
    /// open, it counts as a failed attempt.)
    #[must_use]
    pub fn on_stream_end(&mut self, now: Instant) -> Verdict {
        match &self.state {
            State::Open => {
                let delay = self.retry;
                self.wait(now, delay)
            }
            State::Stopped(reason) => Verdict::Stop(reason.clone()),
            State::Waiting(_) | State::Connecting => self.fail(now, None),
        }
    }

    /// Stops for good (the caller closed the client, say).
    pub fn stop_now(&mut self) {
        if !matches!(self.state, State::Stopped(_)) {
            self.state = State::Stopped(StopReason::Closed);
        }
    }

    fn stop(&mut self, reason: StopReason) -> Verdict {
        self.state = State::Stopped(reason.clone());
        Verdict::Stop(reason)
    }

    fn fail(&mut self, now: Instant, retry_after: Option<Duration>) -> Verdict {
        if let State::Stopped(reason) = &self.state {
            return Verdict::Stop(reason.clone());
        }
        self.failures = self.failures.saturating_add(1);
        if self
            .config
            .max_failures
            .is_some_and(|max| self.failures > max)
        {
            let failures = self.failures;
            return self.stop(StopReason::GaveUp { failures });
        }
        let backoff = self.backoff();
        let delay = retry_after.map_or(backoff, |after| after.max(backoff));
        self.wait(now, delay)
    }

    fn wait(&mut self, now: Instant, delay: Duration) -> Verdict {
        // An instant too far to represent: wait "forever" (about a century).
        let at = now
            .checked_add(delay)
            .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
            .unwrap_or(now);
        self.state = State::Waiting(Some(at));
        Verdict::Retry(RetryDelay { delay, at })
    }

    /// The delay after `self.failures` (≥ 1) consecutive failures.
    fn backoff(&mut self) -> Duration {
        let retry = self.retry;
        // A `retry: 0` still backs off, from a millisecond.
        let base = retry.max(Duration::from_millis(1));
        let cap = self.config.max_backoff.max(retry);
        let shift = self.failures.min(31);
        let full = base
            .checked_mul(1 << shift)
            .map_or(cap, |grown| grown.min(cap));
        if !self.config.jitter {
            return full;
        }
        let half = full / 2;
        let span = u64::try_from((full - half).as_nanos()).unwrap_or(u64::MAX);
        let extra = if span == u64::MAX {
            self.next_random()
        } else {
            self.next_random() % (span + 1)
        };
        (half + Duration::from_nanos(extra)).max(retry)
    }

    /// SplitMix64.
    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Whether a `Content-Type` is `text/event-stream` (any case, any parameters).
fn is_event_stream(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    let essence = bytes
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    essence.eq_ignore_ascii_case(b"text/event-stream")
}

#[cfg(test)]
mod tests;
