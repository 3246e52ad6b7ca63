//! Errors that end the stream, and the reasons it reconnects.

use std::fmt;
use std::time::Duration;

use http::{HeaderValue, StatusCode};
use sse_core::{DecodeError, StopReason};

/// A boxed error from the transport (IO, TLS, HTTP).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why an [`EventSource`](crate::EventSource) stopped for good. It is the stream's
/// last item: nothing follows it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The request could not be built: a bad URL, header or TLS setting. Returned by
    /// [`Builder::build`](crate::Builder::build).
    Config(String),
    /// The server answered with a status that is not retried (a `4xx` other than
    /// 408 and 429, a `3xx`, a `2xx` other than 200 and 204).
    Status(StatusCode),
    /// The server answered `200` with a `Content-Type` other than
    /// `text/event-stream` (the value it sent, if any).
    ContentType(Option<HeaderValue>),
    /// The stream broke a [`DecodeLimits`](crate::DecodeLimits) bound (a line or an
    /// event too large). The events before it were delivered; the connection is
    /// closed and not retried, since the server would send the same event again.
    Decode(DecodeError),
    /// More consecutive failures than
    /// [`ReconnectConfig::max_failures`](crate::ReconnectConfig::max_failures).
    GaveUp {
        /// How many attempts failed in a row.
        failures: u32,
        /// Why the last one failed.
        last: ReconnectReason,
    },
    /// The reconnection policy stopped: a `POST` whose stream broke is not sent
    /// again ([`StopReason::NotResent`]), the attempt limit was reached
    /// ([`StopReason::Attempts`]), or a [`Policy`](crate::Policy) said so.
    Stopped {
        /// Why.
        reason: StopReason,
        /// What ended the last attempt.
        last: ReconnectReason,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(message) => write!(f, "invalid event source: {message}"),
            Error::Status(status) => write!(f, "the server answered {status}"),
            Error::ContentType(Some(value)) => {
                write!(
                    f,
                    "the server answered with content type {value:?}, not text/event-stream"
                )
            }
            Error::ContentType(None) => {
                f.write_str("the server answered without a content type, not text/event-stream")
            }
            Error::Decode(error) => error.fmt(f),
            Error::GaveUp { failures, last } => {
                write!(
                    f,
                    "gave up after {failures} failed attempts; the last: {last}"
                )
            }
            Error::Stopped { reason, last } => {
                write!(f, "stopped: {reason}; the last attempt: {last}")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Decode(error) => Some(error),
            Error::GaveUp { last, .. } | Error::Stopped { last, .. } => Some(last),
            _ => None,
        }
    }
}

/// Why the client is about to reconnect.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReconnectReason {
    /// The server ended the stream.
    Ended,
    /// No bytes, not even a keep-alive comment, arrived for this long (the idle
    /// watchdog, [`Builder::idle_timeout`](crate::Builder::idle_timeout)).
    Idle(Duration),
    /// The connection, TLS or the request failed before a response arrived.
    Connect(BoxError),
    /// No response head within [`Builder::connect_timeout`](crate::Builder::connect_timeout).
    Timeout(Duration),
    /// The server answered 408, 429 or a `5xx`.
    Status(StatusCode),
    /// The stream failed midway (a reset connection, a broken chunk).
    Transport(BoxError),
}

impl fmt::Display for ReconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReconnectReason::Ended => f.write_str("the server ended the stream"),
            ReconnectReason::Idle(idle) => write!(f, "no bytes for {idle:?}"),
            ReconnectReason::Connect(error) => write!(f, "cannot connect: {error}"),
            ReconnectReason::Timeout(after) => write!(f, "no response within {after:?}"),
            ReconnectReason::Status(status) => write!(f, "the server answered {status}"),
            ReconnectReason::Transport(error) => write!(f, "the stream failed: {error}"),
        }
    }
}

impl std::error::Error for ReconnectReason {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReconnectReason::Connect(error) | ReconnectReason::Transport(error) => {
                Some(error.as_ref())
            }
            _ => None,
        }
    }
}
