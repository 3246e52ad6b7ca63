//! [`Body`]: the response body as the decoder reads it, decompressed as it streams
//! when the server sent a `Content-Encoding` (with the `gzip`, `deflate`, `brotli`
//! or `zstd` features), and as hyper gave it otherwise.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderValue;
use http_body::Frame;
use hyper::body::Incoming;

use crate::error::Error;

/// A response body: plain, or decoded as it streams.
#[derive(Debug)]
pub(crate) struct Body {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Plain(Incoming),
    #[cfg(feature = "__decompress")]
    Decoded(crate::decompress::Decoded),
}

/// Why a body broke: the connection, or the compressed stream.
#[derive(Debug)]
pub(crate) enum BodyError {
    Http(hyper::Error),
    /// The compressed bytes are corrupt or truncated.
    #[cfg_attr(not(feature = "__decompress"), allow(dead_code))]
    Decompress(std::io::Error),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::Http(error) => error.fmt(f),
            BodyError::Decompress(error) => write!(f, "a corrupt compressed body: {error}"),
        }
    }
}

impl std::error::Error for BodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BodyError::Http(error) => Some(error),
            BodyError::Decompress(error) => Some(error),
        }
    }
}

/// How a body is to be read.
enum Decoding {
    Plain,
    #[cfg(feature = "__decompress")]
    Decode(crate::decompress::Coding),
}

/// How to read a body with this `Content-Encoding`: none, or `identity`, as it is.
fn decoding(encoding: Option<&HeaderValue>) -> Result<Decoding, Error> {
    let name = encoding.map_or("", |e| e.to_str().unwrap_or("?").trim());
    if name.is_empty() || name.eq_ignore_ascii_case("identity") {
        return Ok(Decoding::Plain);
    }
    #[cfg(feature = "__decompress")]
    if let Some(coding) = crate::decompress::Coding::named(name) {
        return Ok(Decoding::Decode(coding));
    }
    Err(Error::ContentEncoding(
        encoding.cloned().unwrap_or(HeaderValue::from_static("")),
    ))
}

impl Body {
    /// The body of a response with this `Content-Encoding`.
    ///
    /// # Errors
    ///
    /// [`Error::ContentEncoding`] for an encoding this build cannot decode.
    pub(crate) fn new(body: Incoming, encoding: Option<&HeaderValue>) -> Result<Body, Error> {
        Ok(Body::with(body, decoding(encoding)?))
    }

    /// As [`new`](Self::new), but a body in an encoding this build cannot decode is
    /// read as it came.
    pub(crate) fn new_or_plain(body: Incoming, encoding: Option<&HeaderValue>) -> Body {
        Body::with(body, decoding(encoding).unwrap_or(Decoding::Plain))
    }

    fn with(body: Incoming, decoding: Decoding) -> Body {
        let inner = match decoding {
            Decoding::Plain => Inner::Plain(body),
            #[cfg(feature = "__decompress")]
            Decoding::Decode(coding) => {
                Inner::Decoded(crate::decompress::Decoded::new(body, coding))
            }
        };
        Body { inner }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match &mut self.get_mut().inner {
            Inner::Plain(body) => Pin::new(body).poll_frame(cx).map_err(BodyError::Http),
            #[cfg(feature = "__decompress")]
            Inner::Decoded(decoded) => decoded.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Plain(body) => http_body::Body::is_end_stream(body),
            // Known only once the decoder has read to the end.
            #[cfg(feature = "__decompress")]
            Inner::Decoded(_) => false,
        }
    }
}

/// The `Accept-Encoding` this build offers: every coding whose feature is on, or
/// `None` with none on (then the header is not sent).
pub(crate) fn accept_encoding() -> Option<HeaderValue> {
    #[cfg(feature = "__decompress")]
    return Some(crate::decompress::accept_encoding());
    #[cfg(not(feature = "__decompress"))]
    None
}
