//! Compressed bodies, decoded as they stream by `async-compression`: whatever the
//! decoder can produce from the bytes so far is handed on at once, so events still
//! arrive one by one. The decoded bytes go through the event decoder's limits like
//! any others, so a compression bomb ends in [`Error::Decode`](crate::Error::Decode),
//! not in memory; the decoders' own state is bounded too (gzip and deflate 32 KiB,
//! brotli 16 MiB, zstd 8 MiB of window).

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use futures_io::{AsyncBufRead, AsyncRead};
use http::HeaderValue;
use http_body::{Body as _, Frame};
use hyper::body::Incoming;

use crate::body::BodyError;

/// How many decoded bytes one read may produce.
const CHUNK: usize = 16 * 1024;

/// A `Content-Encoding` this build decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    #[cfg(feature = "gzip")]
    Gzip,
    #[cfg(feature = "deflate")]
    Deflate,
    #[cfg(feature = "brotli")]
    Brotli,
    #[cfg(feature = "zstd")]
    Zstd,
}

impl Coding {
    /// The coding named `name` (as `Content-Encoding` spells it), if this build has
    /// it.
    pub(crate) fn named(name: &str) -> Option<Coding> {
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            #[cfg(feature = "gzip")]
            "gzip" | "x-gzip" => Some(Coding::Gzip),
            #[cfg(feature = "deflate")]
            "deflate" => Some(Coding::Deflate),
            #[cfg(feature = "brotli")]
            "br" => Some(Coding::Brotli),
            #[cfg(feature = "zstd")]
            "zstd" => Some(Coding::Zstd),
            _ => None,
        }
    }
}

/// `Accept-Encoding`: the codings of this build.
pub(crate) fn accept_encoding() -> HeaderValue {
    let names: &[&str] = &[
        #[cfg(feature = "gzip")]
        "gzip",
        #[cfg(feature = "deflate")]
        "deflate",
        #[cfg(feature = "brotli")]
        "br",
        #[cfg(feature = "zstd")]
        "zstd",
    ];
    HeaderValue::try_from(names.join(", ")).unwrap_or(HeaderValue::from_static("identity"))
}

/// A body decoded as it streams.
pub(crate) struct Decoded {
    reader: Box<dyn AsyncRead + Send + Unpin>,
    buffer: BytesMut,
    done: bool,
}

impl std::fmt::Debug for Decoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoded").field("done", &self.done).finish()
    }
}

impl Decoded {
    pub(crate) fn new(body: Incoming, coding: Coding) -> Decoded {
        let input = BodyReader {
            body,
            chunk: Bytes::new(),
        };
        let reader: Box<dyn AsyncRead + Send + Unpin> = match coding {
            #[cfg(feature = "gzip")]
            Coding::Gzip => {
                let mut decoder = async_compression::futures::bufread::GzipDecoder::new(input);
                decoder.multiple_members(true);
                Box::new(decoder)
            }
            #[cfg(feature = "deflate")]
            Coding::Deflate => {
                Box::new(async_compression::futures::bufread::ZlibDecoder::new(input))
            }
            #[cfg(feature = "brotli")]
            Coding::Brotli => Box::new(async_compression::futures::bufread::BrotliDecoder::new(
                input,
            )),
            #[cfg(feature = "zstd")]
            // At most an 8 MiB window (RFC 9659's limit for HTTP, as browsers),
            // not zstd's 128 MiB: the window is memory the server chooses.
            Coding::Zstd => {
                Box::new(async_compression::futures::bufread::ZstdDecoder::new_for_http(input))
            }
        };
        Decoded {
            reader,
            buffer: BytesMut::new(),
            done: false,
        }
    }

    /// The next decoded chunk: whatever the bytes received so far decode to.
    pub(crate) fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        self.buffer.resize(CHUNK, 0);
        match ready!(Pin::new(&mut self.reader).poll_read(cx, &mut self.buffer)) {
            Ok(0) => {
                self.done = true;
                Poll::Ready(None)
            }
            Ok(n) => Poll::Ready(Some(Ok(Frame::data(self.buffer.split_to(n).freeze())))),
            Err(error) => {
                self.done = true;
                // The connection's own error, passed through the decoder, stays one.
                let error = match error.get_ref().map(|e| e.is::<hyper::Error>()) {
                    Some(true) => match error.into_inner().map(|e| e.downcast::<hyper::Error>()) {
                        Some(Ok(http)) => BodyError::Http(*http),
                        _ => BodyError::Decompress(std::io::Error::other("the connection failed")),
                    },
                    _ => BodyError::Decompress(error),
                };
                Poll::Ready(Some(Err(error)))
            }
        }
    }
}

/// The compressed body as an `AsyncBufRead` for the decoders: hyper's chunks, one
/// at a time, without copying.
struct BodyReader {
    body: Incoming,
    chunk: Bytes,
}

impl AsyncRead for BodyReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        let available = ready!(self.as_mut().poll_fill_buf(cx))?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Poll::Ready(Ok(n))
    }
}

impl AsyncBufRead for BodyReader {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<&[u8]>> {
        let this = self.get_mut();
        while this.chunk.is_empty() {
            match ready!(Pin::new(&mut this.body).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        this.chunk = data;
                    }
                }
                Some(Err(error)) => return Poll::Ready(Err(std::io::Error::other(error))),
                None => break,
            }
        }
        Poll::Ready(Ok(&this.chunk))
    }

    fn consume(mut self: Pin<&mut Self>, amount: usize) {
        self.chunk.advance(amount);
    }
}
