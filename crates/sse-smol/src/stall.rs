//! A writer that fails when its peer stops taking bytes.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_io::Timer;
use futures_lite::{AsyncWrite, Future};

/// A writer that fails with [`io::ErrorKind::TimedOut`] when bytes wait but none
/// are taken for `stall` (a client that stopped reading: its socket buffers are
/// full). The stream being written ends with it, so the hub removes the client.
/// [`Server`](crate::Server) writes through one (see
/// [`write_stall`](crate::Server::write_stall)).
#[derive(Debug)]
pub struct WriteTimeout<W> {
    writer: W,
    stall: Duration,
    /// Running while a write waits; dropped when bytes are taken.
    timer: Option<Timer>,
}

impl<W> WriteTimeout<W> {
    /// Wraps `writer`.
    pub fn new(writer: W, stall: Duration) -> Self {
        WriteTimeout {
            writer,
            stall,
            timer: None,
        }
    }

    fn after_write(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        if !polled.is_pending() {
            self.timer = None;
            return polled;
        }
        let stall = self.stall;
        let timer = self.timer.get_or_insert_with(|| Timer::after(stall));
        match Pin::new(timer).poll(cx) {
            Poll::Ready(_) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the peer took no bytes for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.writer).poll_write(cx, buf);
        this.after_write(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.writer).poll_write_vectored(cx, bufs);
        this.after_write(cx, polled)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().writer).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().writer).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::AsyncWriteExt;

    /// A writer whose peer never reads: every write waits.
    struct Full;

    impl AsyncWrite for Full {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Pending
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn a_write_that_waits_too_long_fails() {
        let mut writer = WriteTimeout::new(Full, Duration::from_millis(20));
        let error = smol::block_on(writer.write_all(b"frame")).expect_err("stalled");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn bytes_taken_in_time_pass_through() {
        let mut out = Vec::new();
        let mut writer = WriteTimeout::new(&mut out, Duration::from_millis(20));
        smol::block_on(writer.write_all(b"frame")).expect("written");
        assert_eq!(out, b"frame");
    }
}
