//! Reconnecting as the WHATWG `EventSource` does, safely: [`Reconnect`], the policy
//! half of an SSE client, with its settings ([`ReconnectConfig`]) and its replaceable
//! part ([`Policy`]).

mod config;
mod location;
mod policy;
mod retry_after;

pub use config::ReconnectConfig;
pub use policy::{Decision, DefaultPolicy, Outcome, Policy};
pub use retry_after::parse_retry_after;

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};

use crate::decode::{Decoded, MessageEvent};

/// What [`Reconnect::poll`] asks the caller to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReconnectAction {
    /// Connect now: send the original request, or a `GET` of
    /// [`Reconnect::resume_at`] when it is set, with [`Reconnect::last_event_id`] as
    /// the `Last-Event-ID` header when it is not empty. Then report the outcome with
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
    /// The stream of a request that is not `GET` or `HEAD` ended cleanly: the answer
    /// is complete, and the request is not sent again.
    Ended,
    /// The stream of a request that is not `GET` or `HEAD` broke, the server named no
    /// resume location, and [`ReconnectConfig::resend_broken`] is off: the request is
    /// not sent again.
    NotResent,
    /// [`ReconnectConfig::max_attempts`] attempts were made.
    Attempts {
        /// How many.
        attempts: u32,
    },
    /// A [`Policy`] stopped it.
    Policy,
    /// The caller stopped it ([`Reconnect::stop_now`]).
    Closed,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::NoContent => f.write_str("the server answered 204 No Content"),
            StopReason::Status(status) => write!(f, "the server answered {status}"),
            StopReason::ContentType(Some(value)) => {
                write!(f, "the server answered with content type {value:?}")
            }
            StopReason::ContentType(None) => {
                f.write_str("the server answered without a content type")
            }
            StopReason::GaveUp { failures } => write!(f, "{failures} attempts in a row failed"),
            StopReason::Ended => f.write_str("the stream is complete"),
            StopReason::NotResent => {
                f.write_str("the stream broke, and its request is not sent again")
            }
            StopReason::Attempts { attempts } => write!(f, "{attempts} attempts were made"),
            StopReason::Policy => f.write_str("the reconnection policy stopped"),
            StopReason::Closed => f.write_str("closed"),
        }
    }
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

/// Reconnecting as the WHATWG `EventSource` does, without IO and without a clock,
/// and without the ways a server can abuse it.
///
/// [`Reconnect`] is the policy half of an SSE client: it owns the last event id, the
/// reconnection delay (the server's `retry:`, within bounds), exponential backoff
/// with jitter for failures, where the next attempt goes (the request again, or a
/// `GET` of the resume location the server named), and the decision what an outcome
/// means. The client half (a socket, a timer, an HTTP library) tells it what happened
/// and does what it says:
///
/// ```text
///            ┌────────── poll(now) ──────────┐
///            ▼                               │
///   Connect ──▶ send the request ──▶ on_response(now, ..) ──▶ Stream ──▶ read; on_decoded(..)
///      ▲            │ (network error)            │                          │ (closed / broke)
///      │            ▼                            ▼                          ▼
///   Wait(at) ◀── on_connect_error(now)        Retry / Stop    on_stream_end / on_stream_broken(now)
/// ```
///
/// Time is always passed in (`now`), as quinn-proto does: it never sleeps, so it is
/// tested with a fake clock and runs under any runtime.
///
/// The rules below are the defaults; a [`Policy`] ([`with_policy`](Self::with_policy))
/// sees every outcome that does not open a stream, with the rules' decision, and may
/// decide otherwise.
///
/// # What a response means
///
/// | response | verdict |
/// | --- | --- |
/// | `200` with `Content-Type: text/event-stream` | [`Verdict::Stream`] |
/// | `204 No Content` | [`Verdict::Stop`] for good (the server's "don't come back") |
/// | `200` with another content type | [`Verdict::Stop`], no retry |
/// | any other `2xx`, `3xx`, or a `4xx` other than 408 and 429 | [`Verdict::Stop`], no retry |
/// | `408`, `429`, `5xx` | [`Verdict::Retry`], after `Retry-After` when it says longer |
/// | a network error before the response | [`Verdict::Retry`] with backoff |
///
/// # What is sent again
///
/// The request's method ([`set_request`](Self::set_request); `GET` until told)
/// decides what follows the end of an open stream:
///
/// | the stream | `GET`, `HEAD` | any other method (a `POST`) |
/// | --- | --- | --- |
/// | ended cleanly (the server closed the body) | the request again, after the reconnection delay | nothing: [`StopReason::Ended`] |
/// | broke (IO error, reset, idle timeout), a resume location named | a `GET` of it | a `GET` of it |
/// | broke, no resume location | the request again | nothing ([`StopReason::NotResent`]), unless [`ReconnectConfig::resend_broken`] |
///
/// A failure before any stream opened (a network error, `408`, `429`, `5xx`) is
/// retried whatever the method: the server did not start answering.
///
/// A resume location is the [`RESUME_LOCATION`](crate::RESUME_LOCATION) header of a
/// response that opened a stream, resolved against the request's URI; one that names
/// another origin is ignored (the request's headers go with the resume). Once named,
/// every later attempt goes there ([`resume_at`](Self::resume_at)).
///
/// # Delays and limits
///
/// - After an open stream that delivered events ends, the client waits the
///   *reconnection delay*: the last `retry:` the server sent, held between
///   [`ReconnectConfig::min_retry`] and [`ReconnectConfig::max_retry`], or
///   [`ReconnectConfig::initial_retry`] until it sends one. No jitter: the server
///   said how long.
/// - A *failure* is an attempt that delivered no event: a network error, a retried
///   status, or a stream that ended before its first event (a server that answers
///   `200` and closes). After `n` consecutive failures it waits
///   `min(max(cap, retry), retry × 2ⁿ)`, jittered uniformly into its upper half, and
///   never less than the reconnection delay (a zero delay backs off from 1 ms). The
///   cap is [`ReconnectConfig::max_backoff`].
/// - A `Retry-After` (seconds or an HTTP-date) on a retried response is honoured up to
///   [`ReconnectConfig::max_retry_after`]: the wait is the longer of it and the backoff.
/// - After more than [`ReconnectConfig::max_failures`] consecutive failures (if set), it
///   gives up ([`StopReason::GaveUp`]).
/// - After [`ReconnectConfig::max_attempts`] attempts (if set) it stops
///   ([`StopReason::Attempts`]), whatever the policy says.
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
/// decoder.push(b"retry: 1500\nid: 7\ndata: hi\n\n")?;
/// for item in &mut decoder {
///     reconnect.on_decoded(&item);
/// }
/// assert_eq!(reconnect.last_event_id(), "7");
///
/// // The server closes the stream: come back after its `retry:`.
/// let Verdict::Retry(retry) = reconnect.on_stream_end(now) else { panic!() };
/// assert_eq!(retry.delay, Duration::from_millis(1500));
/// assert_eq!(reconnect.poll(now), ReconnectAction::Wait(retry.at));
/// assert_eq!(reconnect.poll(retry.at), ReconnectAction::Connect);
/// # Ok::<(), sse_core::DecodeError>(())
/// ```
///
/// A `POST` whose stream broke resumes by `GET` where the server said:
///
/// ```
/// use std::time::{Instant, SystemTime};
/// use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
/// use sse_core::{RESUME_LOCATION, Reconnect, ReconnectConfig, Verdict};
///
/// let mut reconnect = Reconnect::new(ReconnectConfig::default(), 42);
/// let uri: Uri = "https://api.example.com/v1/generate".parse()?;
/// reconnect.set_request(&Method::POST, &uri);
/// let now = Instant::now();
/// let _ = reconnect.poll(now);
/// let mut headers = HeaderMap::new();
/// headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
/// headers.insert(RESUME_LOCATION, HeaderValue::from_static("/v1/runs/r1"));
/// assert_eq!(
///     reconnect.on_response(now, SystemTime::now(), StatusCode::OK, &headers),
///     Verdict::Stream
/// );
/// reconnect.set_last_event_id("12");
/// assert!(matches!(reconnect.on_stream_broken(now), Verdict::Retry(_)));
/// let resume = reconnect.resume_at().unwrap();
/// assert_eq!(resume.to_string(), "https://api.example.com/v1/runs/r1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Reconnect<P = DefaultPolicy> {
    config: ReconnectConfig,
    policy: P,
    state: State,
    last_event_id: String,
    /// The reconnection delay: the server's last `retry:` (clamped), or the initial
    /// one.
    retry: Duration,
    /// Consecutive failures since an attempt last delivered an event.
    failures: u32,
    /// Attempts made in all.
    attempts: u32,
    /// Events delivered by the open stream.
    events: u64,
    /// Whether the request may be sent again after a clean end (`GET`, `HEAD`).
    resendable: bool,
    /// The request's URI, which a resume location is resolved against.
    base: Option<Uri>,
    /// Where attempts go by `GET` once a stream named it.
    resume: Option<Uri>,
    /// SplitMix64 state, for jitter.
    rng: u64,
}

impl<P> fmt::Debug for Reconnect<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reconnect")
            .field("config", &self.config)
            .field("state", &self.state)
            .field("last_event_id", &self.last_event_id)
            .field("retry", &self.retry)
            .field("failures", &self.failures)
            .field("attempts", &self.attempts)
            .field("resendable", &self.resendable)
            .field("resume", &self.resume)
            .finish_non_exhaustive()
    }
}

impl Reconnect {
    /// A state machine with the default rules that will connect at once; `seed`
    /// seeds its jitter (give each client its own, from any source of randomness;
    /// the same seed gives the same delays, which tests rely on).
    #[must_use]
    pub fn new(config: ReconnectConfig, seed: u64) -> Self {
        Reconnect::with_policy(config, seed, DefaultPolicy)
    }
}

impl<P: Policy> Reconnect<P> {
    /// A state machine whose decisions go through `policy` (see [`Policy`]).
    #[must_use]
    pub fn with_policy(config: ReconnectConfig, seed: u64, policy: P) -> Self {
        Reconnect {
            retry: config.initial_retry,
            config,
            policy,
            state: State::Waiting(None),
            last_event_id: String::new(),
            failures: 0,
            attempts: 0,
            events: 0,
            resendable: true,
            base: None,
            resume: None,
            rng: seed,
        }
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &ReconnectConfig {
        &self.config
    }

    /// The policy.
    pub fn policy_mut(&mut self) -> &mut P {
        &mut self.policy
    }

    /// The request the first attempt sends: its method decides what is sent again
    /// (see the table above), and a resume location is resolved against its URI
    /// (absolute `http`/`https`; without one, resume locations are ignored).
    pub fn set_request(&mut self, method: &Method, uri: &Uri) {
        self.resendable = *method == Method::GET || *method == Method::HEAD;
        self.base = Some(uri.clone());
    }

    /// Where the next attempt goes by `GET` (with `Last-Event-ID`) instead of the
    /// original request: the resume location a stream named. `None`: the original
    /// request.
    #[must_use]
    pub fn resume_at(&self) -> Option<&Uri> {
        self.resume.as_ref()
    }

    /// What to do now. Call it first, after each [`Verdict::Retry`], and when the
    /// instant of a [`ReconnectAction::Wait`] has come.
    #[must_use]
    pub fn poll(&mut self, now: Instant) -> ReconnectAction {
        match &self.state {
            State::Waiting(Some(at)) if now < *at => ReconnectAction::Wait(*at),
            State::Waiting(_) => {
                self.state = State::Connecting;
                self.attempts = self.attempts.saturating_add(1);
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

    /// The reconnection delay now in force: the server's last `retry:` (between
    /// [`ReconnectConfig::min_retry`] and [`ReconnectConfig::max_retry`]), or
    /// [`ReconnectConfig::initial_retry`].
    #[must_use]
    pub fn retry(&self) -> Duration {
        self.retry
    }

    /// The server sent `retry:`: within the floor and the cap, it becomes the
    /// reconnection delay.
    pub fn on_retry(&mut self, delay: Duration) {
        self.retry = self.config.clamp_retry(delay);
    }

    /// An event was dispatched: its id becomes the last event id, and the attempt
    /// is no failure.
    pub fn on_event(&mut self, event: &MessageEvent) {
        self.set_last_event_id(&event.last_event_id);
        if matches!(self.state, State::Open) {
            self.events = self.events.saturating_add(1);
            self.failures = 0;
        }
    }

    /// Feeds a decoded item: an event's id and a `retry:` are taken, comments ignored.
    pub fn on_decoded(&mut self, item: &Decoded) {
        match item {
            Decoded::Event(event) => self.on_event(event),
            Decoded::Retry(delay) => self.on_retry(*delay),
            Decoded::Comment(_) => {}
        }
    }

    /// How many attempts in a row delivered no event.
    #[must_use]
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// How many attempts were made in all.
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.attempts
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
        let content_type = headers.get(header::CONTENT_TYPE);
        if status == StatusCode::OK && content_type.is_some_and(is_event_stream) {
            self.state = State::Open;
            self.events = 0;
            if let (Some(base), Some(location)) = (&self.base, headers.get(crate::RESUME_LOCATION))
                && let Some(uri) = location::resolve(base, location.as_bytes())
            {
                self.resume = Some(uri);
            }
            return Verdict::Stream;
        }
        self.failures = self.failures.saturating_add(1);
        let default = match status.as_u16() {
            200 => Decision::Stop(StopReason::ContentType(content_type.cloned())),
            204 => Decision::Stop(StopReason::NoContent),
            408 | 429 | 500..=599 => {
                let retry_after = headers
                    .get(header::RETRY_AFTER)
                    .and_then(|value| parse_retry_after(value.as_bytes(), wall))
                    .map(|after| after.min(self.config.max_retry_after));
                self.backoff_or_give_up(retry_after)
            }
            _ => Decision::Stop(StopReason::Status(status)),
        };
        self.decide(now, &Outcome::Response { status, headers }, default)
    }

    /// The connection or the request failed before a response head arrived.
    #[must_use]
    pub fn on_connect_error(&mut self, now: Instant) -> Verdict {
        self.fail(now)
    }

    /// An open stream ended cleanly: the server closed the body. A `GET` comes back
    /// after the reconnection delay (after the backoff if it delivered no event);
    /// another method is done ([`StopReason::Ended`]). (Called while no stream is
    /// open, it counts as a failed attempt.)
    #[must_use]
    pub fn on_stream_end(&mut self, now: Instant) -> Verdict {
        self.stream_end(now, true)
    }

    /// An open stream broke: an IO error or a reset midway, or the idle timeout. It
    /// resumes at the resume location if one was named, else sends a `GET` again;
    /// another method stops ([`StopReason::NotResent`]) unless
    /// [`ReconnectConfig::resend_broken`]. (Called while no stream is open, it counts
    /// as a failed attempt.)
    #[must_use]
    pub fn on_stream_broken(&mut self, now: Instant) -> Verdict {
        self.stream_end(now, false)
    }

    /// Stops for good (the caller closed the client, say).
    pub fn stop_now(&mut self) {
        if !matches!(self.state, State::Stopped(_)) {
            self.state = State::Stopped(StopReason::Closed);
        }
    }

    fn stream_end(&mut self, now: Instant, clean: bool) -> Verdict {
        match &self.state {
            State::Open => {}
            State::Stopped(reason) => return Verdict::Stop(reason.clone()),
            State::Waiting(_) | State::Connecting => return self.fail(now),
        }
        let events = self.events;
        let retry = if events == 0 {
            self.failures = self.failures.saturating_add(1);
            self.backoff_or_give_up(None)
        } else {
            Decision::Retry(self.retry)
        };
        let default = match retry {
            stop @ Decision::Stop(_) => stop,
            retry if self.resendable => retry,
            _ if clean => Decision::Stop(StopReason::Ended),
            retry if self.resume.is_some() || self.config.resend_broken => retry,
            _ => Decision::Stop(StopReason::NotResent),
        };
        self.decide(now, &Outcome::StreamEnd { clean, events }, default)
    }

    /// A failed attempt (no response, or no stream): back off, or give up.
    fn fail(&mut self, now: Instant) -> Verdict {
        if let State::Stopped(reason) = &self.state {
            return Verdict::Stop(reason.clone());
        }
        self.failures = self.failures.saturating_add(1);
        let default = self.backoff_or_give_up(None);
        self.decide(now, &Outcome::ConnectError, default)
    }

    /// After `self.failures` failures: the backoff (or a longer `retry_after`), or
    /// giving up past [`ReconnectConfig::max_failures`].
    fn backoff_or_give_up(&mut self, retry_after: Option<Duration>) -> Decision {
        let failures = self.failures;
        if self.config.max_failures.is_some_and(|max| failures > max) {
            return Decision::Stop(StopReason::GaveUp { failures });
        }
        let backoff = self.backoff();
        Decision::Retry(retry_after.map_or(backoff, |after| after.max(backoff)))
    }

    /// The policy's word on `outcome`, then the attempt limit.
    fn decide(&mut self, now: Instant, outcome: &Outcome<'_>, default: Decision) -> Verdict {
        match self.policy.decide(outcome, default) {
            Decision::Retry(_) if self.attempts_used() => {
                let attempts = self.attempts;
                self.stop(StopReason::Attempts { attempts })
            }
            Decision::Retry(delay) => self.wait(now, delay),
            Decision::Stop(reason) => self.stop(reason),
        }
    }

    fn attempts_used(&self) -> bool {
        self.config
            .max_attempts
            .is_some_and(|max| self.attempts >= max)
    }

    fn stop(&mut self, reason: StopReason) -> Verdict {
        self.state = State::Stopped(reason.clone());
        Verdict::Stop(reason)
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
        // A zero delay still backs off, from a millisecond.
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
