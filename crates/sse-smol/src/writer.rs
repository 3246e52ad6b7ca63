//! Writing responses: the head, whole bodies, and a client's frames as they come.

use std::io::{self, IoSlice};

use bytes::Buf;
use futures_lite::{AsyncWrite, AsyncWriteExt, StreamExt};
use sse_core::{BATCH_CAPACITY, ClientStream};

/// Writes a response head as HTTP/1.1, with `Connection: close` (the body, a
/// stream or not, ends when the connection does), and flushes it so the client sees
/// it at once (a browser's `onopen` fires without waiting for an event).
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

/// Writes a whole response: its head (with `Content-Length`) and body.
///
/// # Errors
///
/// Whatever writing fails with.
pub async fn write_response<W: AsyncWrite + Unpin>(
    writer: &mut W,
    mut response: http::Response<bytes::Bytes>,
) -> io::Result<()> {
    let length = http::HeaderValue::from(response.body().len());
    response
        .headers_mut()
        .insert(http::header::CONTENT_LENGTH, length);
    write_head(writer, &response).await?;
    writer.write_all(response.body()).await?;
    writer.flush().await
}

/// Streams a client's frames to `writer` until the stream ends: each time the
/// stream yields, every ready frame is written (with vectored writes) and then
/// flushed once, so no frame waits for the next.
///
/// Returning (or failing) drops the stream, which removes the client from the hub.
///
/// # Errors
///
/// Whatever writing fails with (the peer is gone, usually).
pub async fn write_events<W: AsyncWrite + Unpin>(
    writer: &mut W,
    mut stream: ClientStream,
) -> io::Result<()> {
    while let Some(mut batch) = stream.next().await {
        write_all_buf(writer, &mut batch).await?;
        writer.flush().await?;
    }
    Ok(())
}

/// Writes all of `buf`, as many of its chunks at a time as the writer takes.
async fn write_all_buf<W: AsyncWrite + Unpin>(
    writer: &mut W,
    buf: &mut impl Buf,
) -> io::Result<()> {
    while buf.has_remaining() {
        let written = {
            let mut slices = [IoSlice::new(&[]); BATCH_CAPACITY];
            let count = buf.chunks_vectored(&mut slices);
            writer.write_vectored(&slices[..count]).await?
        };
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf.advance(written);
    }
    Ok(())
}
