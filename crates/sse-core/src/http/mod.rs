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
//!
//! Its layer: above the hub, whose public API it uses, and above `crate::request`
//! (the request reading and [`Rejection`] it shares with the hub); nothing in the
//! hub imports it.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{HeaderName, Method, StatusCode, Version};

use crate::hub::{ClientStream, ConnectError, ConnectOptions, Hub, HubConfig};
use crate::request::{LAST_EVENT_ID, Rejection, header, query_pairs};

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

impl Hub {
    /// Decides what to do with an SSE request: 405 for a method other than `GET` or
    /// `HEAD`; 400 for more topics than [`HubConfig::max_topics_per_client`]; 503
    /// with `Retry-After` at capacity, while shutting down, or when the request's
    /// topics would need more topic logs than [`HubConfig::max_topics`]; 409 for a
    /// duplicate id (when refused); the admission hook's status when it refuses.
    /// Otherwise the client is connected (`GET`) and the response head returned.
    ///
    /// `options` usually come from [`ConnectOptions::from_parts`]; an application
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
    /// // The id is your authentication's choice; the one the request claims is not
    /// // taken (`from_parts` drops it unless the hub trusts client ids).
    /// let user = "alice";
    /// let options = ConnectOptions::from_parts(&parts, hub.config()).client_id(user);
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
                let rejection = Rejection::from(error);
                if rejection.status() == StatusCode::SERVICE_UNAVAILABLE {
                    return Err(rejection.with_retry_after(self.retry_after()));
                }
                Err(rejection)
            }
        }
    }

    /// [`accept`](Self::accept) as a whole response, for an adapter whose one body
    /// type `B` holds a client's stream and whole bytes: the head with the stream
    /// (an empty body for `HEAD`), or the refusal with its JSON. It is what
    /// `sse_hyper::connect` and `sse_smol::connect` answer.
    ///
    /// ```
    /// # use sse_core::{ClientStream, ConnectOptions, Hub};
    /// /// An adapter's body.
    /// enum Body {
    ///     Stream(ClientStream),
    ///     Whole(bytes::Bytes),
    /// }
    /// # impl From<ClientStream> for Body { fn from(s: ClientStream) -> Self { Body::Stream(s) } }
    /// # impl From<bytes::Bytes> for Body { fn from(b: bytes::Bytes) -> Self { Body::Whole(b) } }
    /// let hub = Hub::default();
    /// let (parts, ()) = http::Request::post("/events").body(()).unwrap().into_parts();
    /// let response: http::Response<Body> = hub.answer(&parts, ConnectOptions::new());
    /// assert_eq!(response.status(), 405);
    /// assert!(matches!(response.body(), Body::Whole(json) if json.starts_with(b"{")));
    /// ```
    pub fn answer<B>(
        &self,
        request: &http::request::Parts,
        options: ConnectOptions,
    ) -> http::Response<B>
    where
        B: From<ClientStream> + From<Bytes>,
    {
        match self.accept(request, options) {
            Ok(accepted) => {
                let body = accepted
                    .stream
                    .map_or_else(|| B::from(Bytes::new()), B::from);
                accepted.head.map(|()| body)
            }
            Err(rejection) => rejection.into_response().map(B::from),
        }
    }
}

impl From<ConnectError> for Rejection {
    fn from(error: ConnectError) -> Self {
        Rejection::new(error.status(), error.to_string())
    }
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

    /// Reads the client id (header [`HubConfig::client_id_header`], `sse-clientid`
    /// by default) and `Last-Event-ID` from a request's headers, as the client
    /// claims them, trusted or not. Values that are not UTF-8 are read lossily;
    /// empty ones are ignored.
    ///
    /// The id here is untrusted input: connecting with it lets any client take
    /// over another's id. Connect with [`from_parts`](Self::from_parts) (what the
    /// ready handlers use: it drops the id unless
    /// [`HubConfig::trust_client_id`] is set), with the id your authentication
    /// chose set over it, or with [`ConnectOptions::new`].
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

#[cfg(test)]
mod tests;
