//! Reading an HTTP/1.1 request, bounded in size and time.

use std::fmt;
use std::time::Duration;

use async_io::Timer;
use bytes::Bytes;
use futures_lite::{AsyncRead, AsyncReadExt, future};
use http::{HeaderName, HeaderValue, StatusCode, Version};

/// Bounds on what a request may take.
///
/// ```
/// # use std::time::Duration;
/// let limits = sse_smol::Limits::default()
///     .max_head(4096)
///     .head_timeout(Duration::from_secs(5));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The largest request head (request line and headers), in bytes: 431 beyond.
    /// Default 8 KiB.
    pub max_head: usize,
    /// The most headers: 431 beyond. Default 32.
    pub max_headers: usize,
    /// The largest body (by `Content-Length`): 413 beyond. Default 64 KiB.
    pub max_body: usize,
    /// How long the head may take to arrive: 408 after. Default 10 s.
    pub head_timeout: Duration,
    /// How long the body may take to arrive, once the head has: 408 after.
    /// Default 30 s.
    pub body_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 8 * 1024,
            max_headers: 32,
            max_body: 64 * 1024,
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
        }
    }
}

impl Limits {
    /// Sets [`max_head`](Self::max_head).
    #[must_use]
    pub fn max_head(mut self, bytes: usize) -> Self {
        self.max_head = bytes;
        self
    }

    /// Sets [`max_headers`](Self::max_headers).
    #[must_use]
    pub fn max_headers(mut self, count: usize) -> Self {
        self.max_headers = count;
        self
    }

    /// Sets [`max_body`](Self::max_body).
    #[must_use]
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Sets [`head_timeout`](Self::head_timeout).
    #[must_use]
    pub fn head_timeout(mut self, timeout: Duration) -> Self {
        self.head_timeout = timeout;
        self
    }

    /// Sets [`body_timeout`](Self::body_timeout).
    #[must_use]
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }
}

/// Why a request was not read.
#[derive(Debug)]
#[non_exhaustive]
pub enum RequestError {
    /// Not valid HTTP/1.x (400).
    Malformed(&'static str),
    /// The head is larger than [`Limits::max_head`] or has more than
    /// [`Limits::max_headers`] headers (431).
    HeadTooLarge,
    /// The body is larger than [`Limits::max_body`] (413).
    BodyTooLarge,
    /// A body without `Content-Length` (411): chunked request bodies are not read.
    LengthRequired,
    /// The head took longer than [`Limits::head_timeout`], or the body than
    /// [`Limits::body_timeout`] (408).
    Timeout,
    /// The peer closed the connection before a whole request arrived.
    Closed,
    /// Reading failed.
    Io(std::io::Error),
}

impl RequestError {
    /// The status to answer with; `None` when the connection is gone.
    #[must_use]
    pub fn status(&self) -> Option<StatusCode> {
        Some(match self {
            RequestError::Malformed(_) => StatusCode::BAD_REQUEST,
            RequestError::HeadTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            RequestError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            RequestError::LengthRequired => StatusCode::LENGTH_REQUIRED,
            RequestError::Timeout => StatusCode::REQUEST_TIMEOUT,
            RequestError::Closed | RequestError::Io(_) => return None,
        })
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Malformed(what) => write!(f, "malformed request: {what}"),
            RequestError::HeadTooLarge => f.write_str("request head too large"),
            RequestError::BodyTooLarge => f.write_str("request body too large"),
            RequestError::LengthRequired => f.write_str("a request body needs a Content-Length"),
            RequestError::Timeout => f.write_str("request took too long"),
            RequestError::Closed => f.write_str("connection closed"),
            RequestError::Io(error) => write!(f, "reading the request: {error}"),
        }
    }
}

impl std::error::Error for RequestError {}

/// Parses a request head from the start of `buf`: `Ok(None)` while it is
/// incomplete, else the request (without body) and the head's length.
///
/// # Errors
///
/// [`RequestError::Malformed`] or [`RequestError::HeadTooLarge`].
///
/// ```
/// # use sse_smol::{Limits, parse_head};
/// let (request, len) = parse_head(b"GET /events?topic=a HTTP/1.1\r\nHost: x\r\n\r\n", &Limits::default())
///     .unwrap()
///     .unwrap();
/// assert_eq!((request.uri().path(), len), ("/events", 41));
/// ```
pub fn parse_head(
    buf: &[u8],
    limits: &Limits,
) -> Result<Option<(http::Request<()>, usize)>, RequestError> {
    let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut parsed = httparse::Request::new(&mut headers);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= limits.max_head => {
            return Err(RequestError::HeadTooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(RequestError::HeadTooLarge),
        Err(_) => return Err(RequestError::Malformed("invalid request head")),
    };
    if len > limits.max_head {
        return Err(RequestError::HeadTooLarge);
    }
    let mut request = http::Request::builder()
        .method(parsed.method.unwrap_or_default())
        .uri(parsed.path.unwrap_or_default())
        .version(match parsed.version {
            Some(0) => Version::HTTP_10,
            _ => Version::HTTP_11,
        })
        .body(())
        .map_err(|_| RequestError::Malformed("invalid method or target"))?;
    let map = request.headers_mut();
    for header in parsed.headers.iter() {
        let name = HeaderName::from_bytes(header.name.as_bytes())
            .map_err(|_| RequestError::Malformed("invalid header name"))?;
        let value = HeaderValue::from_bytes(header.value)
            .map_err(|_| RequestError::Malformed("invalid header value"))?;
        map.append(name, value);
    }
    Ok(Some((request, len)))
}

/// Reads one request, head and body, within `limits`.
///
/// # Errors
///
/// A [`RequestError`]: most map to the status to answer with.
pub async fn read_request<R: AsyncRead + Unpin>(
    reader: &mut R,
    limits: &Limits,
) -> Result<http::Request<Bytes>, RequestError> {
    let mut buf = Vec::with_capacity(1024);
    let read_head = async {
        loop {
            if let Some(parsed) = parse_head(&buf, limits)? {
                return Ok(parsed);
            }
            read_more(reader, &mut buf, limits.max_head).await?;
        }
    };
    let (head, head_len) = within(limits.head_timeout, read_head).await?;
    let length = body_length(&head, limits)?;
    let mut body = buf.split_off(head_len);
    let read_body = async {
        while body.len() < length {
            read_more(reader, &mut body, length).await?;
        }
        Ok(())
    };
    within(limits.body_timeout, read_body).await?;
    body.truncate(length);
    Ok(head.map(|()| Bytes::from(body)))
}

/// `read`, or [`RequestError::Timeout`] after `timeout`.
async fn within<T>(
    timeout: Duration,
    read: impl Future<Output = Result<T, RequestError>>,
) -> Result<T, RequestError> {
    let expired = async {
        Timer::after(timeout).await;
        Err(RequestError::Timeout)
    };
    future::or(read, expired).await
}

/// Reads more bytes into `buf`, never past `max` bytes in all.
async fn read_more<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<(), RequestError> {
    let start = buf.len();
    let want = (max - start).clamp(1, 4096);
    buf.resize(start + want, 0);
    let read = reader.read(&mut buf[start..]).await;
    let read = read.map_err(RequestError::Io)?;
    buf.truncate(start + read);
    if read == 0 {
        return Err(RequestError::Closed);
    }
    Ok(())
}

fn body_length(head: &http::Request<()>, limits: &Limits) -> Result<usize, RequestError> {
    let headers = head.headers();
    if headers.contains_key(http::header::TRANSFER_ENCODING) {
        return Err(RequestError::LengthRequired);
    }
    let mut lengths = headers.get_all(http::header::CONTENT_LENGTH).iter();
    let Some(length) = lengths.next() else {
        return Ok(0);
    };
    if lengths.next().is_some() {
        return Err(RequestError::Malformed("several Content-Length headers"));
    }
    let length: usize = length
        .to_str()
        .ok()
        .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|text| text.parse().ok())
        .ok_or(RequestError::Malformed("invalid Content-Length"))?;
    if length > limits.max_body {
        return Err(RequestError::BodyTooLarge);
    }
    Ok(length)
}

#[cfg(test)]
mod tests;
