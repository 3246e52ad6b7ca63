//! Reading an SSE request and refusing one, on the [`http`] crate's types: the
//! `Last-Event-ID` (header, or `lastEventId=`), the client id a request asks for,
//! a URL query's pairs, and [`Rejection`]. Its layer: below both the hub (whose
//! admission hook refuses with a [`Rejection`], and which reads the client id a
//! request asks for) and `crate::http` (which reads the rest); it imports neither.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderName, StatusCode};

/// The header a browser sends back with the last event id it saw when it reconnects.
pub const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// A refused request: its status, a message, for 503 how long to wait, and any
/// headers the refusal needs (a 401's challenge).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    status: StatusCode,
    message: String,
    retry_after: Option<Duration>,
    /// Boxed: most rejections carry none, and a `Result` with a rejection for its
    /// error stays small.
    headers: Box<HeaderMap>,
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
            headers: Box::default(),
        }
    }

    /// 401 Unauthorized, with the challenge a 401 must carry (RFC 9110, 15.5.2):
    /// `WWW-Authenticate: Bearer`; name another scheme or a realm with
    /// [`with_header`](Self::with_header).
    ///
    /// ```
    /// use http::header::{HeaderValue, WWW_AUTHENTICATE};
    /// use sse_core::Rejection;
    ///
    /// let response = Rejection::unauthorized("sign in first").into_response();
    /// assert_eq!(response.status(), 401);
    /// assert_eq!(response.headers()[WWW_AUTHENTICATE], "Bearer");
    ///
    /// let realm = HeaderValue::from_static(r#"Bearer realm="notifications""#);
    /// let response = Rejection::unauthorized("sign in first")
    ///     .with_header(WWW_AUTHENTICATE, realm)
    ///     .into_response();
    /// assert_eq!(response.headers()[WWW_AUTHENTICATE], r#"Bearer realm="notifications""#);
    /// ```
    #[must_use]
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Rejection::new(StatusCode::UNAUTHORIZED, message)
            .with_header(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
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

    /// The same, telling the client to retry after `after` (for a 503).
    pub(crate) fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// The same, with `name: value` on its response (replacing any header of that
    /// name the rejection would otherwise send).
    #[must_use]
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// The headers [`with_header`](Self::with_header) added.
    #[must_use]
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The response: the status, `Retry-After` (503), `Allow` (405), the headers
    /// added with [`with_header`](Self::with_header), and a JSON body
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
        for (name, value) in self.headers.iter() {
            headers.insert(name, value.clone());
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
    header(request, &LAST_EVENT_ID)
        .or_else(|| query_value(request.uri.query().unwrap_or_default(), "lastEventId"))
}

/// The client id a request asks for, trusted or not: the header `name` (the hub's
/// [`client_id_header`](crate::HubConfig::client_id_header)), else `client=`. Not
/// UTF-8 is read lossily; empty is none.
pub(crate) fn client_id(request: &http::request::Parts, name: &HeaderName) -> Option<String> {
    header(request, name).or_else(|| query_value(request.uri.query().unwrap_or_default(), "client"))
}

/// A header's value, read lossily; `None` when missing or empty.
pub(crate) fn header(request: &http::request::Parts, name: &HeaderName) -> Option<String> {
    request
        .headers
        .get(name)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .filter(|value| !value.is_empty())
}

/// The `name=value` pairs of a URL query, decoded.
pub(crate) fn query_pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
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

/// The first non-empty value of `name` in a URL query, decoded.
fn query_value(query: &str, name: &str) -> Option<String> {
    query_pairs(query)
        .find(|(key, value)| key == name && !value.is_empty())
        .map(|(_, value)| value.into_owned())
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
mod tests {
    use super::*;

    #[test]
    fn a_rejection_carries_its_headers_beside_the_ones_its_status_needs() {
        let busy = Rejection::new(StatusCode::SERVICE_UNAVAILABLE, "full")
            .with_retry_after(Duration::from_secs(3))
            .with_header(
                HeaderName::from_static("x-reason"),
                HeaderValue::from_static("full"),
            );
        let response = busy.into_response();
        assert_eq!(response.headers()[RETRY_AFTER], "3");
        assert_eq!(response.headers()["x-reason"], "full");
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");

        // Every 401 carries a challenge, and one given replaces the default.
        let plain = Rejection::unauthorized("who are you");
        assert_eq!(plain.headers()[WWW_AUTHENTICATE], "Bearer");
        let basic = plain.with_header(WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
        let response = basic.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenges: Vec<_> = response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .collect();
        assert_eq!(challenges, ["Basic"]);
    }

    #[test]
    fn percent_decoding_handles_plus_escapes_and_malformed_input() {
        assert_eq!(percent_decode("plain"), "plain");
        assert_eq!(percent_decode("a+b%20c%2Fd"), "a b c/d");
        assert_eq!(percent_decode("%C3%A9t%C3%A9"), "été");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%FF"), "\u{FFFD}");
    }

    #[test]
    fn query_pairs_skip_empty_parts_and_allow_missing_values() {
        let pairs: Vec<_> = query_pairs("a=1&&b&c=&=d")
            .map(|(n, v)| (n.into_owned(), v.into_owned()))
            .collect();
        let expected = [("a", "1"), ("b", ""), ("c", ""), ("", "d")];
        let expected: Vec<_> = expected
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        assert_eq!(pairs, expected);
    }

    #[test]
    fn json_strings_escape_quotes_backslashes_and_control_characters() {
        assert_eq!(json_string("plain"), r#""plain""#);
        assert_eq!(json_string("a\"b\\c\nd\u{1}é"), r#""a\"b\\c\nd\u0001é""#);
    }

    #[test]
    fn the_first_non_empty_query_value_counts_and_a_header_wins() {
        let (parts, ()) = http::Request::get("/?client=&client=a+b&lastEventId=7&lastEventId=8")
            .body(())
            .unwrap()
            .into_parts();
        let name = HeaderName::from_static("sse-clientid");
        assert_eq!(client_id(&parts, &name).as_deref(), Some("a b"));
        assert_eq!(last_event_id(&parts).as_deref(), Some("7"));
        let (parts, ()) = http::Request::get("/?client=a&lastEventId=7")
            .header("sse-clientid", "b")
            .header(LAST_EVENT_ID, "9")
            .body(())
            .unwrap()
            .into_parts();
        assert_eq!(client_id(&parts, &name).as_deref(), Some("b"));
        assert_eq!(last_event_id(&parts).as_deref(), Some("9"));
    }
}
