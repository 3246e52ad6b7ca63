//! Framework-neutral HTTP, on the [`http`] crate's types: everything an adapter
//! would otherwise repeat.
//!
//! | step | here |
//! |---|---|
//! | read `Last-Event-ID`, topics (and the client id, when trusted) | [`ConnectOptions::from_parts`] |
//! | accept or reject (405, 400, 503 + `Retry-After`, 409, the hook's status) | [`Hub::accept`] |
//! | the response head | [`response_head`], in [`Accepted::head`] |
//! | a rejection's response | [`Rejection::into_response`] (a JSON error) |
//!
//! An adapter maps its framework's request to [`http::request::Parts`], calls
//! [`Hub::accept`], and streams [`Accepted::stream`] into its body type.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{HeaderName, Method, StatusCode, Version};

use crate::hub::{ClientStream, ConnectError, ConnectOptions, Hub, HubConfig};

/// The header a browser sends back with the last event id it saw when it reconnects.
pub const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// The header with which a response that starts a resumable stream names where to
/// resume it: a URL (absolute, or relative to the request's) that a client whose
/// stream broke reconnects to with `GET` and its `Last-Event-ID`, instead of sending
/// the original request (often a `POST` that starts a paid generation) again.
/// `sse-client` follows it.
pub const RESUME_LOCATION: HeaderName = HeaderName::from_static("resume-location");

/// The head of an SSE response: `200`, `Content-Type: text/event-stream`,
/// `Cache-Control: no-cache, no-transform` (no proxy or browser may cache a live
/// stream, and no compression middleware or proxy may transform it, which would
/// buffer it) and
/// `X-Accel-Buffering: no` (nginx must not buffer it). No `Connection` header: it is
/// forbidden in HTTP/2 and the default in HTTP/1.1.
///
/// ```
/// # use http::Version;
/// let head = sse_core::response_head(Version::HTTP_2);
/// assert_eq!(head.headers()["content-type"], "text/event-stream");
/// assert_eq!(head.headers()["cache-control"], "no-cache, no-transform");
/// assert!(head.headers().get("connection").is_none());
/// ```
#[must_use]
pub fn response_head(version: Version) -> http::Response<()> {
    let mut head = http::Response::new(());
    *head.version_mut() = version;
    let headers = head.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-transform"),
    );
    headers.insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    head
}

/// An accepted request: the response head to send at once (so the browser's
/// `onopen` fires without waiting for an event), and the stream to send after it
/// (none for `HEAD`).
#[derive(Debug)]
#[non_exhaustive]
pub struct Accepted {
    /// The response head.
    pub head: http::Response<()>,
    /// The client's frames; `None` for a `HEAD` request.
    pub stream: Option<ClientStream>,
}

/// A refused request: its status, a message, and for 503 how long to wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    status: StatusCode,
    message: String,
    retry_after: Option<Duration>,
}

impl Rejection {
    /// A rejection with `status` (a 4xx or 5xx; anything else becomes 403) and a
    /// message for the client. The admission hook ([`Hooks::admit`](crate::Hooks::admit))
    /// refuses with one; an application can answer its own refusals the same way.
    #[must_use]
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let status = if status.is_client_error() || status.is_server_error() {
            status
        } else {
            StatusCode::FORBIDDEN
        };
        Rejection {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 401 Unauthorized.
    #[must_use]
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Rejection::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403 Forbidden.
    #[must_use]
    pub fn forbidden(message: impl Into<String>) -> Self {
        Rejection::new(StatusCode::FORBIDDEN, message)
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message for the client.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// For a 503: when to try again.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The response: the status, `Retry-After` (503), `Allow` (405), and a JSON body
    /// `{"error": "..."}`.
    ///
    /// ```
    /// # use sse_core::Hub;
    /// let request = http::Request::post("/events").body(()).unwrap();
    /// let (parts, ()) = request.into_parts();
    /// let rejection = Hub::default().accept(&parts, Default::default()).unwrap_err();
    /// let response = rejection.into_response();
    /// assert_eq!(response.status(), 405);
    /// assert_eq!(response.headers()["allow"], "GET, HEAD");
    /// assert_eq!(response.body(), r#"{"error":"method not allowed: use GET"}"#);
    /// ```
    #[must_use]
    pub fn into_response(self) -> http::Response<Bytes> {
        let body = format!(r#"{{"error":{}}}"#, json_string(&self.message));
        let mut response = http::Response::new(Bytes::from(body));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(retry_after) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(retry_after.as_secs().max(1)));
        }
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            headers.insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        }
        response
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl std::error::Error for Rejection {}

impl Hub {
    /// Decides what to do with an SSE request: 405 for a method other than `GET` or
    /// `HEAD`; 400 for more topics than [`HubConfig::max_topics_per_client`]; 503
    /// with `Retry-After` at capacity, while shutting down, or when the request's
    /// topics would need more topic logs than [`HubConfig::max_topics`]; 409 for a
    /// duplicate id (when refused); the admission hook's status when it refuses.
    /// Otherwise the client is connected (`GET`) and the response head returned.
    ///
    /// `options` usually come from [`ConnectOptions::from_request`]; an application
    /// that authenticates first can pass its own (the id and topics it allows).
    ///
    /// # Errors
    ///
    /// The [`Rejection`] to answer with.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sse_core::{ConnectOptions, Hub};
    /// let hub = Hub::default();
    /// let (parts, ()) = http::Request::get("/events?topic=news")
    ///     .header("sse-clientid", "alice")
    ///     .body(())
    ///     .unwrap()
    ///     .into_parts();
    /// let options = ConnectOptions::from_request(&parts, hub.config())
    ///     .with_query(parts.uri.query().unwrap_or_default());
    /// let accepted = hub.accept(&parts, options).unwrap();
    /// assert_eq!(accepted.head.status(), 200);
    /// assert_eq!(hub.client("alice").unwrap().topics().collect::<Vec<_>>(), ["news"]);
    /// ```
    pub fn accept(
        &self,
        request: &http::request::Parts,
        options: ConnectOptions,
    ) -> Result<Accepted, Rejection> {
        let is_head = match request.method {
            Method::GET => false,
            Method::HEAD => true,
            _ => {
                return Err(Rejection::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method not allowed: use GET",
                ));
            }
        };
        let mut head = response_head(request.version);
        if is_head {
            return Ok(Accepted { head, stream: None });
        }
        match self.connect_inner(&options, Some(request)) {
            Ok(stream) => {
                // The client learns its id (an id it chose is told back as it is).
                if let Ok(id) = HeaderValue::from_str(stream.id()) {
                    let name = self.config().client_id_header.clone();
                    head.headers_mut().insert(name, id);
                }
                Ok(Accepted {
                    head,
                    stream: Some(stream),
                })
            }
            Err(ConnectError::Refused(rejection)) => Err(rejection),
            Err(error) => {
                let mut rejection = Rejection::from(error);
                if rejection.status == StatusCode::SERVICE_UNAVAILABLE {
                    rejection.retry_after = Some(self.retry_after());
                }
                Err(rejection)
            }
        }
    }
}

impl From<ConnectError> for Rejection {
    fn from(error: ConnectError) -> Self {
        Rejection::new(error.status(), error.to_string())
    }
}

/// The `Last-Event-ID` a reconnecting client sent: the header, else the
/// `lastEventId=` query parameter some polyfills use. Not UTF-8 is read lossily;
/// empty is none.
///
/// A per-request stream that can resume (as MCP's Streamable HTTP does) reads it
/// here and decides what to send again: that is the application's choice.
///
/// ```
/// let (parts, ()) = http::Request::post("/generate")
///     .header("last-event-id", "job-7/3")
///     .body(())
///     .unwrap()
///     .into_parts();
/// assert_eq!(sse_core::last_event_id(&parts).as_deref(), Some("job-7/3"));
/// ```
#[must_use]
pub fn last_event_id(request: &http::request::Parts) -> Option<String> {
    header(request, &LAST_EVENT_ID).or_else(|| {
        ConnectOptions::new()
            .with_query(request.uri.query().unwrap_or_default())
            .last_event_id
    })
}

/// A header's value, read lossily; `None` when missing or empty.
fn header(request: &http::request::Parts, name: &HeaderName) -> Option<String> {
    request
        .headers
        .get(name)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .filter(|value| !value.is_empty())
}

impl ConnectOptions {
    /// What a request asks for, as the ready handlers read it: topics (`topic=`,
    /// repeatable) and the `Last-Event-ID` (header, or `lastEventId=`); and the
    /// client id (the [`HubConfig::client_id_header`], else `client=`) only when
    /// [`HubConfig::trust_client_id`] is set. Otherwise the hub issues the id: a
    /// client cannot take over another's id by claiming it.
    ///
    /// ```
    /// # use sse_core::{ConnectOptions, HubConfig};
    /// let (parts, ()) = http::Request::get("/events?topic=news&client=alice")
    ///     .header("last-event-id", "41")
    ///     .body(())
    ///     .unwrap()
    ///     .into_parts();
    /// let options = ConnectOptions::from_parts(&parts, &HubConfig::default());
    /// assert_eq!(options.topics, ["news"]);
    /// assert_eq!(options.last_event_id.as_deref(), Some("41"));
    /// assert_eq!(options.client_id, None, "the hub issues it");
    ///
    /// let trusting = HubConfig::default().trust_client_id(true);
    /// let options = ConnectOptions::from_parts(&parts, &trusting);
    /// assert_eq!(options.client_id.as_deref(), Some("alice"));
    /// ```
    #[must_use]
    pub fn from_parts(request: &http::request::Parts, config: &HubConfig) -> Self {
        let mut options = ConnectOptions::from_request(request, config)
            .with_query(request.uri.query().unwrap_or_default());
        if !config.trust_client_id {
            options.client_id = None;
        }
        options
    }

    /// The client id a request asks for, trusted or not: for the admission hook.
    pub(crate) fn requested_id(
        request: &http::request::Parts,
        config: &HubConfig,
    ) -> Option<String> {
        ConnectOptions::from_request(request, config)
            .with_query(request.uri.query().unwrap_or_default())
            .client_id
    }

    /// Reads the client id (header [`HubConfig::client_id_header`], `sse-clientid`
    /// by default) and `Last-Event-ID` from a request's headers, as the client
    /// claims them: [`from_parts`](Self::from_parts) is what the ready handlers use. Values that are not
    /// UTF-8 are read lossily; empty ones are ignored.
    #[must_use]
    pub fn from_request(request: &http::request::Parts, config: &HubConfig) -> Self {
        ConnectOptions {
            client_id: header(request, &config.client_id_header),
            topics: Vec::new(),
            last_event_id: header(request, &LAST_EVENT_ID),
        }
    }

    /// Adds what a browser can only put in the URL (an `EventSource` cannot set
    /// headers): `topic=` (repeatable), `client=` (when no id came in a header) and
    /// `lastEventId=` (when no `Last-Event-ID` header came). Percent-encoding and `+`
    /// are decoded.
    ///
    /// ```
    /// # use sse_core::ConnectOptions;
    /// let options = ConnectOptions::new().with_query("topic=a%20b&topic=c&client=tab+1");
    /// assert_eq!(options.topics, ["a b", "c"]);
    /// assert_eq!(options.client_id.as_deref(), Some("tab 1"));
    /// ```
    #[must_use]
    pub fn with_query(mut self, query: &str) -> Self {
        for (name, value) in query_pairs(query) {
            if value.is_empty() {
                continue;
            }
            match &*name {
                "topic" => self.topics.push(value.into_owned()),
                "client" if self.client_id.is_none() => self.client_id = Some(value.into_owned()),
                "lastEventId" if self.last_event_id.is_none() => {
                    self.last_event_id = Some(value.into_owned());
                }
                _ => {}
            }
        }
        self
    }
}

/// The `name=value` pairs of a URL query, decoded.
fn query_pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
}

fn percent_decode(text: &str) -> Cow<'_, str> {
    if !text.contains(['%', '+']) {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|&b| (b as char).to_digit(16));
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests;
