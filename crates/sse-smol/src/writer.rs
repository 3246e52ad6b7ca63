//! Writing responses: the head, whole bodies, and a client's frames as they come.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::Poll;

use bytes::Buf;
use futures_lite::{AsyncWrite, AsyncWriteExt, Stream, StreamExt, future};
use sse_core::{BATCH_CAPACITY, Batch, ClientStream, ResponseStream};

use crate::body::{Body, Inner};

/// Writes a response head as HTTP/1.1, with `Connection: close` (the body, a
/// stream or not, ends when the connection does), and flushes it so the client sees
/// it at once (a browser's `onopen` fires without waiting for an event). Alone, it
/// is the answer to a `HEAD` request.
///
/// # Errors
///
/// Whatever writing fails with.
pub async fn write_head<W: AsyncWrite + Unpin, B>(
    writer: &mut W,
    head: &http::Response<B>,
) -> io::Result<()> {
    let mut bytes = Vec::with_capacity(256);
    let status = head.status();
    bytes.extend_from_slice(b"HTTP/1.1 ");
    bytes.extend_from_slice(status.as_str().as_bytes());
    bytes.push(b' ');
    bytes.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    bytes.extend_from_slice(b"\r\n");
    for (name, value) in head.headers() {
        bytes.extend_from_slice(name.as_str().as_bytes());
        bytes.extend_from_slice(b": ");
        bytes.extend_from_slice(value.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"connection: close\r\n\r\n");
    writer.write_all(&bytes).await?;
    writer.flush().await
}

/// Writes a response, whatever its [`Body`]: a whole one with its
/// `Content-Length`; a stream (a hub client's, or your own) after its head, every
/// frame ready in one write and then a flush, until the stream ends.
///
/// Returning (or failing) drops a stream, which removes a hub client from the hub
/// and makes your stream's producer stop (a channel's sender fails). A
/// [`Server`](crate::Server) adds write-stall and stuck-reader timeouts; in a loop of
/// your own, wrap the writer in a [`WriteTimeout`](crate::WriteTimeout).
///
/// # Errors
///
/// Whatever writing fails with (the peer is gone, usually).
pub async fn write_response<W: AsyncWrite + Unpin>(
    writer: &mut W,
    response: http::Response<Body>,
) -> io::Result<()> {
    let (head, body) = response.into_parts();
    match body.into_inner() {
        Inner::Full(bytes) => write_full(writer, head, &bytes).await,
        Inner::Events(stream) => {
            write_head(writer, &http::Response::from_parts(head, ())).await?;
            write_events(writer, stream).await
        }
        Inner::Stream(stream) => {
            write_head(writer, &http::Response::from_parts(head, ())).await?;
            write_stream(writer, stream).await
        }
    }
}

/// Writes `head` with the `Content-Length` of `bytes`, then `bytes`.
pub(crate) async fn write_full<W: AsyncWrite + Unpin>(
    writer: &mut W,
    head: http::response::Parts,
    bytes: &[u8],
) -> io::Result<()> {
    write_head(writer, &with_length(head, bytes.len())).await?;
    writer.write_all(bytes).await?;
    writer.flush().await
}

/// `head` saying its body has `length` bytes.
pub(crate) fn with_length(mut head: http::response::Parts, length: usize) -> http::Response<()> {
    let length = http::HeaderValue::from(length);
    head.headers.insert(http::header::CONTENT_LENGTH, length);
    http::Response::from_parts(head, ())
}

/// The most frames gathered into one vectored write.
const MAX_SLICES: usize = 4 * BATCH_CAPACITY;

/// Streams a hub client's frames to `writer` until the stream ends: each time the
/// stream yields, every ready frame is written (with vectored writes, up to 128
/// frames each) and then flushed once, so no frame waits for the next.
///
/// Once woken, it lets the executor's other tasks (other clients, publishers) run
/// once before it writes: what they publish meanwhile goes in the same write.
/// Under load that halves the writes, for one turn of the executor's queue.
///
/// Returning (or failing) drops the stream, which removes the client from the hub.
///
/// # Errors
///
/// Whatever writing fails with (the peer is gone, usually).
pub(crate) async fn write_events<W: AsyncWrite + Unpin>(
    writer: &mut W,
    mut stream: ClientStream,
) -> io::Result<()> {
    while let Some(batch) = stream.next().await {
        let mut batches = vec![batch];
        future::yield_now().await;
        let ended = take_ready(&mut stream, &mut batches).await;
        write_all_batches(writer, &mut batches).await?;
        writer.flush().await?;
        if ended {
            break;
        }
    }
    Ok(())
}

/// Streams your own events to `writer` until the stream ends: every message
/// ready is written with one write, then flushed, so none waits for the next.
///
/// # Errors
///
/// Whatever writing fails with (the peer is gone, usually).
pub(crate) async fn write_stream<W: AsyncWrite + Unpin>(
    writer: &mut W,
    mut stream: ResponseStream,
) -> io::Result<()> {
    while let Some(chunk) = stream.next().await {
        writer.write_all(&chunk).await?;
        writer.flush().await?;
    }
    Ok(())
}

/// Appends the batches `stream` has ready, while they fit in one write; whether the
/// stream ended.
async fn take_ready(stream: &mut ClientStream, batches: &mut Vec<Batch>) -> bool {
    future::poll_fn(|cx| {
        let mut frames: usize = batches.iter().map(Batch::len).sum();
        while frames + BATCH_CAPACITY <= MAX_SLICES {
            match Pin::new(&mut *stream).poll_next(cx) {
                Poll::Ready(Some(batch)) => {
                    frames += batch.len();
                    batches.push(batch);
                }
                Poll::Ready(None) => return Poll::Ready(true),
                Poll::Pending => break,
            }
        }
        Poll::Ready(false)
    })
    .await
}

/// Writes all of `batches`, as many of their frames at a time as the writer takes.
async fn write_all_batches<W: AsyncWrite + Unpin>(
    writer: &mut W,
    batches: &mut [Batch],
) -> io::Result<()> {
    let mut first = 0;
    while first < batches.len() {
        // The slices live only within a poll, not in the future across awaits.
        let written = future::poll_fn(|cx| {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let mut count = 0;
            for batch in &batches[first..] {
                count += batch.chunks_vectored(&mut slices[count..]);
            }
            Pin::new(&mut *writer).poll_write_vectored(cx, &slices[..count])
        })
        .await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let mut left = written;
        while let Some(batch) = batches.get_mut(first) {
            let step = left.min(batch.remaining());
            batch.advance(step);
            left -= step;
            if batch.has_remaining() {
                break;
            }
            first += 1;
        }
    }
    Ok(())
}
