//! A connection that times out when it goes silent or its peer stops reading.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A connection (any tokio `AsyncRead + AsyncWrite`, a `TcpStream` usually) that
/// fails with [`io::ErrorKind::TimedOut`] when:
///
/// - **idle**: no byte has moved either way for `idle` (a client that sends nothing,
///   half a request, or keeps an idle connection open; an SSE stream is never idle
///   that long while keep-alive comments, every 15 s by default, go out);
/// - **write stall**: bytes wait to be written but the socket has taken none for
///   `write_stall` (a client that stopped reading: its socket buffers are full).
///
/// The server then closes the connection, which drops the response body, so the
/// hub removes the client (its disconnect hook runs once). [`serve`](crate::serve)
/// wraps every connection in one; with `axum::serve`, wrap the listener's
/// connections (see `sse_axum::TimeoutListener`).
#[derive(Debug)]
pub struct TimeoutIo<T> {
    io: T,
    idle: Duration,
    write_stall: Duration,
    last_moved: Instant,
    /// When a write first found the socket full, since the last byte it took.
    stalled_since: Option<Instant>,
    /// One timer for both deadlines, reset rather than made anew.
    timer: Pin<Box<Sleep>>,
}

impl<T> TimeoutIo<T> {
    /// Wraps `io`. Must be made inside a tokio runtime (it holds a tokio timer).
    pub fn new(io: T, idle: Duration, write_stall: Duration) -> Self {
        let now = Instant::now();
        TimeoutIo {
            io,
            idle,
            write_stall,
            last_moved: now,
            stalled_since: None,
            timer: Box::pin(tokio::time::sleep_until(now + idle)),
        }
    }

    /// The connection inside.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    fn moved(&mut self) {
        self.last_moved = Instant::now();
    }

    /// The deadline that applies now.
    fn deadline(&self) -> Instant {
        let idle = self.last_moved + self.idle;
        match self.stalled_since {
            Some(since) => idle.min(since + self.write_stall),
            None => idle,
        }
    }

    /// Called when the connection would wait: an error once a deadline passed,
    /// else the timer is set to wake the task by the next deadline.
    ///
    /// Traffic moves the idle deadline later without touching the timer (a reset
    /// takes the timer driver's lock, and would cost one per write): a timer that
    /// fires before the deadline is set again then. It is moved earlier only when a
    /// write stall begins.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let deadline = self.deadline();
        if deadline < self.timer.deadline() {
            self.timer.as_mut().reset(deadline);
        }
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return Ok(());
            }
            let deadline = self.deadline();
            if deadline > self.timer.deadline() {
                self.timer.as_mut().reset(deadline);
                continue;
            }
            let stalled = self
                .stalled_since
                .is_some_and(|since| since + self.write_stall <= deadline);
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                if stalled {
                    "the peer took no bytes for too long"
                } else {
                    "the connection was idle for too long"
                },
            ));
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimeoutIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                this.moved();
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match this.check(cx) {
                Ok(()) => Poll::Pending,
                Err(error) => Poll::Ready(Err(error)),
            },
            ready => ready,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimeoutIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        this.after_write(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.after_write(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl<T> TimeoutIo<T> {
    fn after_write(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match polled {
            Poll::Ready(Ok(written)) if written > 0 => {
                self.stalled_since = None;
                self.moved();
                Poll::Ready(Ok(written))
            }
            Poll::Pending => {
                self.stalled_since.get_or_insert_with(Instant::now);
                match self.check(cx) {
                    Ok(()) => Poll::Pending,
                    Err(error) => Poll::Ready(Err(error)),
                }
            }
            ready => ready,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_times_out_and_traffic_keeps_it_open() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut io = TimeoutIo::new(near, Duration::from_secs(10), Duration::from_secs(5));
        let mut buf = [0; 8];
        // Traffic every 6 s: never idle for 10.
        for _ in 0..3 {
            tokio::time::advance(Duration::from_secs(6)).await;
            far.write_all(b"x").await.unwrap();
            assert_eq!(io.read(&mut buf).await.unwrap(), 1);
        }
        let error = io.read(&mut buf).await.expect_err("idle");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_stops_reading_stalls_the_writer_into_an_error() {
        let (near, _far) = tokio::io::duplex(16);
        let mut io = TimeoutIo::new(near, Duration::from_secs(60), Duration::from_secs(5));
        let started = Instant::now();
        let error = io.write_all(&[0; 64]).await.expect_err("stalled");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(error.to_string(), "the peer took no bytes for too long");
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(5),
            "paused time: exact"
        );
    }
}
