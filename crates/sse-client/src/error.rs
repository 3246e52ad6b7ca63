//! Errors that end the stream, and the reasons it reconnects.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use sse_core::{DecodeError, StopReason};

/// A boxed error from the transport (IO, TLS, HTTP).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why an [`EventSource`](crate::EventSource) stopped for good. It is the stream's
/// last item: nothing follows it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The request could not be built: a bad URL, header or TLS setting. Returned by
    /// [`Builder::build`](crate::Builder::build), or by an attempt for a setting only
    /// a connection reveals (a proxy of a kind the client does not speak).
    Config(String),
    /// The server answered with a status that is not retried (a `4xx` other than
    /// 408 and 429, a `3xx` that is not followed, a `2xx` other than 200 and 204):
    /// the status, the headers and the start of the body.
    Status(Box<ErrorResponse>),
    /// A redirect that cannot be followed: too many, a loop, or a `Location` that is
    /// not an `http(s)` URL.
    Redirect(RedirectError),
    /// The server answered `200` with a `Content-Encoding` the client cannot decode
    /// (the value it sent): one not offered in `Accept-Encoding`, or whose cargo
    /// feature (`gzip`, `deflate`, `brotli`, `zstd`) is off.
    ContentEncoding(HeaderValue),
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
            Error::Status(response) => response.fmt(f),
            Error::Redirect(error) => error.fmt(f),
            Error::ContentEncoding(value) => {
                write!(
                    f,
                    "the server answered with content encoding {value:?}, which this client cannot decode"
                )
            }
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

impl Error {
    /// The server's answer, when one ended the stream: the status that is not
    /// retried ([`Error::Status`]), or the 408, 429 or `5xx` of the last attempt
    /// before the client gave up or its policy stopped it. Its body says why (an
    /// LLM API's bad key, or quota); `None` when no attempt got an answer.
    ///
    /// ```no_run
    /// use futures_lite::StreamExt;
    ///
    /// # async fn run(mut source: sse_client::EventSource) {
    /// while let Some(item) = source.next().await {
    ///     if let Err(error) = item {
    ///         match error.response() {
    ///             Some(answer) => eprintln!("{}: {}", answer.status, answer.text()),
    ///             None => eprintln!("{error}"),
    ///         }
    ///     }
    /// }
    /// # }
    /// ```
    #[must_use]
    pub fn response(&self) -> Option<&ErrorResponse> {
        match self {
            Error::Status(response)
            | Error::GaveUp {
                last: ReconnectReason::Status(response),
                ..
            }
            | Error::Stopped {
                last: ReconnectReason::Status(response),
                ..
            } => Some(response),
            _ => None,
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Decode(error) => Some(error),
            Error::GaveUp { last, .. } | Error::Stopped { last, .. } => Some(last),
            Error::Redirect(error) => Some(error),
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
    /// The server answered 408, 429 or a `5xx` (its headers and the start of its
    /// body say more: an API explains a 429 there).
    Status(Box<ErrorResponse>),
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
            ReconnectReason::Status(response) => response.fmt(f),
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

/// How much of an error response's body an [`ErrorResponse`] keeps.
pub(crate) const ERROR_BODY_LIMIT: usize = 8 * 1024;

/// A response that is not an event stream: its status, its headers, and the start of
/// its body (at most 8 KiB, decoded if it was compressed), read within the connect
/// timeout. LLM APIs say why they answer 401 or 429 there.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ErrorResponse {
    /// The status.
    pub status: StatusCode,
    /// The response headers (`Retry-After`, `WWW-Authenticate`, `Location`, ...).
    pub headers: HeaderMap,
    /// The first bytes of the body: all of it if it is short, else the first 8 KiB
    /// (see [`truncated`](Self::truncated)).
    pub body: Bytes,
    /// Whether the body went on past [`body`](Self::body) (or did not end in time).
    pub truncated: bool,
}

impl ErrorResponse {
    pub(crate) fn new(parts: http::response::Parts) -> Box<ErrorResponse> {
        let mut parts = parts;
        let prefix = parts.extensions.remove::<BodyPrefix>().unwrap_or_default();
        Box::new(ErrorResponse {
            status: parts.status,
            headers: parts.headers,
            body: prefix.bytes,
            truncated: prefix.truncated,
        })
    }

    /// A response known only by its status.
    pub(crate) fn bare(status: StatusCode) -> Box<ErrorResponse> {
        Box::new(ErrorResponse {
            status,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            truncated: false,
        })
    }

    /// The body prefix as text (invalid UTF-8 replaced).
    #[must_use]
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

impl fmt::Display for ErrorResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the server answered {}", self.status)?;
        let text = self.text();
        let text = text.trim();
        if !text.is_empty() {
            // A line of it is enough in a message; the field holds the rest.
            let line: String = text.chars().take(200).filter(|c| !c.is_control()).collect();
            write!(f, ": {line}")?;
        }
        Ok(())
    }
}

/// The start of an error response's body, read by the attempt and carried to the
/// [`ErrorResponse`] in the response's extensions.
#[derive(Debug, Clone, Default)]
pub(crate) struct BodyPrefix {
    pub(crate) bytes: Bytes,
    pub(crate) truncated: bool,
}

/// Why a redirect was not followed ([`Error::Redirect`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum RedirectError {
    /// More redirects in a row than [`Builder::redirect_limit`](crate::Builder::redirect_limit).
    TooMany {
        /// The limit.
        limit: usize,
    },
    /// A redirect back to a URL already visited in this chain.
    Loop {
        /// That URL.
        url: String,
    },
    /// A `Location` that is not a valid `http` or `https` URL.
    Location {
        /// The header's value (lossily decoded).
        location: String,
    },
}

impl fmt::Display for RedirectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedirectError::TooMany { limit } => write!(f, "more than {limit} redirects"),
            RedirectError::Loop { url } => write!(f, "a redirect loop back to {url}"),
            RedirectError::Location { location } => {
                write!(f, "a redirect to {location:?}, not an http(s) URL")
            }
        }
    }
}

impl std::error::Error for RedirectError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_response_is_found_wherever_an_error_keeps_it() {
        let answered = |status| ErrorResponse::bare(StatusCode::from_u16(status).unwrap());
        let errors = [
            (Error::Status(answered(401)), Some(401)),
            (
                Error::GaveUp {
                    failures: 3,
                    last: ReconnectReason::Status(answered(503)),
                },
                Some(503),
            ),
            (
                Error::Stopped {
                    reason: StopReason::Attempts { attempts: 3 },
                    last: ReconnectReason::Status(answered(429)),
                },
                Some(429),
            ),
            (
                Error::Stopped {
                    reason: StopReason::Attempts { attempts: 3 },
                    last: ReconnectReason::Ended,
                },
                None,
            ),
            (Error::ContentType(None), None),
        ];
        for (error, status) in errors {
            let found = error.response().map(|response| response.status.as_u16());
            assert_eq!(found, status, "{error}");
        }
    }
}
