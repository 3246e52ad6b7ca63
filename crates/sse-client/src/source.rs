//! [`EventSource`]: the stream, and the loop that connects, reads and reconnects.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use futures_core::Stream;
use http::{HeaderMap, Version};
use http_body::Body as _;
use sse_core::{
    DecodeLimits, Decoded, Decoder, DefaultPolicy, MessageEvent, Reconnect, ReconnectAction,
    ReconnectConfig, StopReason, Verdict,
};

use crate::body::Body;
use crate::builder::Builder;
use crate::connect::{self, Attempt, Connection, Target};
use crate::error::{Error, ErrorResponse, ReconnectReason};
use crate::rt::Timer;

mod policy;
mod resume;

pub(crate) use policy::BoxPolicy;
use resume::resume_target;

/// What an [`EventSource`] yields: events, and changes of its connection.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A connection opened: the server answered `200 text/event-stream`.
    Open(Open),
    /// An event, as a browser's `MessageEvent` shows it (`event_type`, `data`,
    /// `last_event_id`).
    Message(MessageEvent),
    /// The connection is lost or could not be made; the next attempt comes after
    /// `delay`, with `Last-Event-ID` set to the last id the server sent.
    Reconnecting {
        /// Why.
        reason: ReconnectReason,
        /// How long the client waits before the next attempt.
        delay: Duration,
    },
    /// The server is done, and the client does not come back: it answered `204 No
    /// Content`, or it ended the stream of a request that is not sent again (a
    /// `POST`'s answer is complete). The stream ends after this.
    Closed,
}

/// A connection that opened.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Open {
    /// The HTTP version in use.
    pub version: Version,
    /// The response headers (a server may say something here: the demo servers
    /// tell the client its id in `sse-clientid`).
    pub headers: HeaderMap,
}

/// An `EventSource` for Rust: a [`Stream`] of [`Event`]s from a URL, reconnecting as
/// the WHATWG spec says (see [`sse_core::Reconnect`] for the rules) and resuming with
/// `Last-Event-ID`.
///
/// A request that is not `GET` or `HEAD` (an LLM's `POST`) is not sent again when
/// its stream ends: after a clean end the stream is over ([`Event::Closed`]); after
/// a broken one the client resumes by `GET` where the server said
/// ([`RESUME_LOCATION`](sse_core::RESUME_LOCATION)), or ends with
/// [`Error::Stopped`] (unless
/// [`ReconnectConfig::resend_broken`](sse_core::ReconnectConfig::resend_broken)).
///
/// It connects when first polled. Fatal problems end it with one `Err` (see
/// [`Error`]); everything else is retried and reported as
/// [`Event::Reconnecting`]. Drop it to close the connection.
///
/// # Examples
///
/// ```no_run
/// use futures_lite::StreamExt;
/// use sse_client::{Event, EventSource};
///
/// # async fn run() -> Result<(), sse_client::Error> {
/// let mut source = EventSource::new("http://127.0.0.1:8080/events")?;
/// while let Some(item) = source.next().await {
///     match item? {
///         Event::Message(event) => println!("{}: {}", event.event_type, event.data),
///         Event::Reconnecting { reason, delay } => eprintln!("{reason}; again in {delay:?}"),
///         _ => {}
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct EventSource {
    target: Arc<Target>,
    /// The `GET` of the resume location the server named, once it did.
    resume: Option<(http::Uri, Arc<Target>)>,
    reconnect: Reconnect<BoxPolicy>,
    decoder: Decoder,
    idle_timeout: Option<Duration>,
    phase: Phase,
    /// One timer for every wait: the reconnection delay, the connect timeout, the
    /// idle watchdog.
    timer: Option<Timer>,
    /// A fatal error to report once the events decoded before it are out.
    failure: Option<Error>,
}

enum Phase {
    /// Ask the policy what to do.
    Idle,
    Connecting(Attempt),
    Streaming(Streaming),
    Done,
}

impl std::fmt::Debug for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Idle => "Idle",
            Phase::Connecting(_) => "Connecting",
            Phase::Streaming(_) => "Streaming",
            Phase::Done => "Done",
        })
    }
}

struct Streaming {
    body: Body,
    connection: Connection,
    /// When bytes last arrived (the watchdog's timer is moved lazily, when it fires).
    last_bytes: Instant,
}

impl EventSource {
    /// A `GET` of `uri` with the default settings.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a URL that is not absolute `http` or `https`.
    pub fn new(uri: impl Into<String>) -> Result<EventSource, Error> {
        Builder::new(uri).build()
    }

    /// A [`Builder`] for a request to `uri`: method, headers, body, settings.
    pub fn builder(uri: impl Into<String>) -> Builder {
        Builder::new(uri)
    }

    pub(crate) fn from_parts(
        target: Arc<Target>,
        config: ReconnectConfig,
        seed: u64,
        limits: DecodeLimits,
        idle_timeout: Option<Duration>,
        last_event_id: &str,
    ) -> EventSource {
        let mut decoder = Decoder::with_limits(limits);
        if !last_event_id.is_empty() {
            // The decoder's last event id starts as the one given: an id-only frame
            // sets it, and `finish` resets everything else (the BOM state included).
            let _ = decoder.push(format!("id: {last_event_id}\n\n").as_bytes());
            decoder.finish();
        }
        let policy = BoxPolicy(Box::new(DefaultPolicy));
        let mut reconnect = Reconnect::with_policy(config, seed, policy);
        let request = target.hop();
        reconnect.set_request(&request.method, &request.endpoint.uri);
        reconnect.set_last_event_id(last_event_id);
        EventSource {
            target,
            resume: None,
            reconnect,
            decoder,
            idle_timeout,
            phase: Phase::Idle,
            timer: None,
            failure: None,
        }
    }

    /// Decides with `policy` instead of the default rules.
    pub(crate) fn with_policy(mut self, policy: Option<BoxPolicy>) -> EventSource {
        if let Some(policy) = policy {
            *self.reconnect.policy_mut() = policy;
        }
        self
    }

    /// The last event id the server set: what the next reconnection sends as
    /// `Last-Event-ID`.
    #[must_use]
    pub fn last_event_id(&self) -> &str {
        self.decoder.last_event_id()
    }

    /// The reconnection delay in force (the server's last `retry:`, or the initial
    /// one).
    #[must_use]
    pub fn retry(&self) -> Duration {
        self.reconnect.retry()
    }

    /// Where the next attempt goes: the original request, or the `GET` of the
    /// resume location the server named.
    fn next_target(&mut self) -> Arc<Target> {
        let Some(uri) = self.reconnect.resume_at() else {
            return self.target.clone();
        };
        match &self.resume {
            Some((at, resume)) if at == uri => resume.clone(),
            _ => {
                // A location no request can go to resumes nowhere else.
                let Some(resume) = resume_target(&self.target, uri) else {
                    return self.target.clone();
                };
                let resume = Arc::new(resume);
                self.resume = Some((uri.clone(), resume.clone()));
                resume
            }
        }
    }

    /// Arms the shared timer for `at`.
    fn arm(&mut self, at: Instant) {
        match self.timer.as_mut() {
            Some(timer) => timer.reset(at),
            None => self.timer = Some(Timer::new(self.target.runtime, at)),
        }
    }

    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.timer.as_mut().map_or(Poll::Pending, |t| t.poll(cx))
    }

    /// After a retry verdict: the event to report; after a stop: the error.
    fn after(&mut self, verdict: Verdict, reason: ReconnectReason) -> Option<Result<Event, Error>> {
        match verdict {
            Verdict::Retry(retry) => {
                self.phase = Phase::Idle;
                Some(Ok(Event::Reconnecting {
                    reason,
                    delay: retry.delay,
                }))
            }
            Verdict::Stop(stop) => {
                self.phase = Phase::Done;
                Some(match stop {
                    StopReason::NoContent => Ok(Event::Closed),
                    StopReason::Status(status) => Err(Error::Status(match reason {
                        ReconnectReason::Status(response) => response,
                        _ => ErrorResponse::bare(status),
                    })),
                    StopReason::ContentType(value) => Err(Error::ContentType(value)),
                    StopReason::GaveUp { failures } => Err(Error::GaveUp {
                        failures,
                        last: reason,
                    }),
                    StopReason::Ended => Ok(Event::Closed),
                    stop => Err(Error::Stopped {
                        reason: stop,
                        last: reason,
                    }),
                })
            }
            _ => None,
        }
    }

    /// The open stream ended (for `reason`; `clean` when the server closed the body
    /// normally): the partial event is dropped, and the policy says whether and when
    /// to come back.
    fn stream_ended(
        &mut self,
        reason: ReconnectReason,
        clean: bool,
    ) -> Option<Result<Event, Error>> {
        self.decoder.finish();
        self.reconnect
            .set_last_event_id(self.decoder.last_event_id());
        let now = Instant::now();
        let verdict = if clean {
            self.reconnect.on_stream_end(now)
        } else {
            self.reconnect.on_stream_broken(now)
        };
        self.after(verdict, reason)
    }
}

impl Stream for EventSource {
    type Item = Result<Event, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match &mut this.phase {
                Phase::Done => return Poll::Ready(None),
                Phase::Idle => match this.reconnect.poll(Instant::now()) {
                    ReconnectAction::Connect | ReconnectAction::InProgress => {
                        let id = this.reconnect.last_event_id().to_owned();
                        let attempt = connect::attempt(this.next_target(), id);
                        this.arm(Instant::now() + this.target.connect_timeout);
                        this.phase = Phase::Connecting(attempt);
                    }
                    ReconnectAction::Wait(at) => {
                        this.arm(at);
                        std::task::ready!(this.poll_timer(cx));
                    }
                    _ => this.phase = Phase::Done,
                },
                Phase::Connecting(attempt) => {
                    let result = match attempt.as_mut().poll(cx) {
                        Poll::Ready(result) => result,
                        Poll::Pending => {
                            std::task::ready!(this.poll_timer(cx));
                            let timeout = this.target.connect_timeout;
                            let verdict = this.reconnect.on_connect_error(Instant::now());
                            let reason = ReconnectReason::Timeout(timeout);
                            if let Some(item) = this.after(verdict, reason) {
                                return Poll::Ready(Some(item));
                            }
                            continue;
                        }
                    };
                    let now = Instant::now();
                    let (response, connection) = match result {
                        Ok(ok) => ok,
                        // What no retry can mend (a redirect loop, an encoding it
                        // cannot decode) ends the stream.
                        Err(error) => match error.downcast::<Error>() {
                            Ok(fatal) => {
                                this.phase = Phase::Done;
                                return Poll::Ready(Some(Err(*fatal)));
                            }
                            Err(error) => {
                                let verdict = this.reconnect.on_connect_error(now);
                                let reason = ReconnectReason::Connect(error);
                                if let Some(item) = this.after(verdict, reason) {
                                    return Poll::Ready(Some(item));
                                }
                                continue;
                            }
                        },
                    };
                    let (parts, body) = response.into_parts();
                    let verdict = this.reconnect.on_response(
                        now,
                        SystemTime::now(),
                        parts.status,
                        &parts.headers,
                    );
                    if verdict != Verdict::Stream {
                        let reason = ReconnectReason::Status(ErrorResponse::new(parts));
                        if let Some(item) = this.after(verdict, reason) {
                            return Poll::Ready(Some(item));
                        }
                        continue;
                    }
                    if let Some(idle) = this.idle_timeout {
                        this.arm(now + idle);
                    }
                    this.phase = Phase::Streaming(Streaming {
                        body,
                        connection,
                        last_bytes: now,
                    });
                    let open = Open {
                        version: parts.version,
                        headers: parts.headers,
                    };
                    return Poll::Ready(Some(Ok(Event::Open(open))));
                }
                Phase::Streaming(streaming) => {
                    // What was decoded first, then a decode failure, then more bytes.
                    match this.decoder.next() {
                        Some(Decoded::Event(event)) => {
                            this.reconnect.on_event(&event);
                            return Poll::Ready(Some(Ok(Event::Message(event))));
                        }
                        Some(Decoded::Retry(delay)) => {
                            this.reconnect.on_retry(delay);
                            continue;
                        }
                        Some(_) => continue,
                        None => {}
                    }
                    if let Some(error) = this.failure.take() {
                        this.phase = Phase::Done;
                        return Poll::Ready(Some(Err(error)));
                    }
                    streaming.connection.drive(cx);
                    match Pin::new(&mut streaming.body).poll_frame(cx) {
                        Poll::Ready(Some(Ok(frame))) => {
                            if let Ok(data) = frame.into_data() {
                                if !data.is_empty() {
                                    streaming.last_bytes = Instant::now();
                                }
                                if let Err(error) = this.decoder.push(&data) {
                                    this.failure = Some(Error::Decode(error));
                                }
                            }
                        }
                        Poll::Ready(Some(Err(error))) => {
                            let reason = ReconnectReason::Transport(Box::new(error));
                            if let Some(item) = this.stream_ended(reason, false) {
                                return Poll::Ready(Some(item));
                            }
                        }
                        Poll::Ready(None) => {
                            if let Some(item) = this.stream_ended(ReconnectReason::Ended, true) {
                                return Poll::Ready(Some(item));
                            }
                        }
                        Poll::Pending => {
                            let Some(idle) = this.idle_timeout else {
                                return Poll::Pending;
                            };
                            let due = streaming.last_bytes + idle;
                            std::task::ready!(this.poll_timer(cx));
                            if Instant::now() < due {
                                // Bytes came since the timer was set: move it.
                                this.arm(due);
                                continue;
                            }
                            let reason = ReconnectReason::Idle(idle);
                            if let Some(item) = this.stream_ended(reason, false) {
                                return Poll::Ready(Some(item));
                            }
                        }
                    }
                }
            }
        }
    }
}
