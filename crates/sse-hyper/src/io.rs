//! A connection that times out when it goes silent or its peer stops reading.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use sse_net::{PeerSampler, Verdict, Window};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::open::OpenRequests;

/// A connection (any tokio `AsyncRead + AsyncWrite`, a `TcpStream` usually) that
/// fails with [`io::ErrorKind::TimedOut`] when:
///
/// - **idle**: no byte has moved either way for `idle` (a client that sends nothing,
///   half a request, or keeps an idle connection open; an SSE stream is never idle
///   that long while keep-alive comments, every 15 s by default, go out);
/// - **write stall**: bytes wait to be written but the socket has taken none for
///   `write_stall` (a client that stopped reading: its socket buffers are full);
/// - **stuck reader** (a TCP socket on Linux, with [`watch_peer`](Self::watch_peer)):
///   the peer has left bytes unread for `write_stall` while more were written
///   (keep-alive comments included), however few: its receive window stays
///   narrowed (see [`sse_net::watch`]). Checked at each write and when the
///   deadline comes; elsewhere only the write stall applies.
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
    /// One timer for every deadline, reset rather than made anew.
    timer: Pin<Box<Sleep>>,
    /// The waker the timer last held when [`check`](Self::check) left it pending:
    /// until it fires, it wakes that task by every deadline, and a read that would
    /// wait in that task need not look again.
    armed: Option<Waker>,
    /// The peer's window, followed where the kernel shows it.
    peer: Option<Peer<T>>,
    /// [`serve`](crate::serve)'s connections: also closed when no request has been
    /// open for long enough (whatever bytes move), a deadline read here rather
    /// than a timer of its own.
    requests: Option<Arc<OpenRequests>>,
}

/// A [`PeerSampler`] and how to sample the connection's peer window.
struct Peer<T> {
    sampler: PeerSampler,
    sample: fn(&T) -> Option<Window>,
}

impl<T> std::fmt::Debug for Peer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("sampler", &self.sampler)
            .finish_non_exhaustive()
    }
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
            armed: None,
            peer: None,
            requests: None,
        }
    }

    /// Also fails once `requests` has had none open for its limits.
    pub(crate) fn close_without_requests(mut self, requests: Arc<OpenRequests>) -> Self {
        self.requests = Some(requests);
        self
    }

    /// Also closes the connection when its peer leaves bytes unread for the write
    /// stall timeout, whatever their number (a TCP socket on Linux; elsewhere this
    /// changes nothing): see [`sse_net::watch`].
    #[cfg(unix)]
    #[must_use]
    pub fn watch_peer(mut self) -> Self
    where
        T: std::os::fd::AsFd,
    {
        self.peer = Some(Peer {
            sampler: PeerSampler::new(self.write_stall),
            sample: |io| sse_net::peer_window(io.as_fd()),
        });
        self
    }

    /// The connection inside.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// The deadline that applies now.
    fn deadline(&self) -> Instant {
        let mut deadline = self.last_moved + self.idle;
        if let Some(since) = self.stalled_since {
            deadline = deadline.min(since + self.write_stall);
        }
        if let Some(peer) = self.peer_deadline() {
            deadline = deadline.min(peer);
        }
        if let Some(requests) = self.requests_deadline() {
            deadline = deadline.min(requests);
        }
        deadline
    }

    /// When the connection is closed for want of a request, if none opens: the
    /// idle timeout after the last one closed (the same as for bytes, which
    /// [`armed_for`](Self::armed_for) counts on), the head timeout before the first.
    fn requests_deadline(&self) -> Option<Instant> {
        self.requests.as_ref()?.idle_deadline(self.idle)
    }

    /// Called when the connection would wait, and after a write while the peer
    /// seems behind: an error once a deadline passed, else the timer is set to wake
    /// the task by the next deadline.
    ///
    /// Traffic moves the idle deadline later without touching the timer (a reset
    /// takes the timer driver's lock, and would cost one per write): a timer that
    /// fires before the deadline is set again then. It is moved earlier only when a
    /// write stall begins or the peer falls behind: a request that closes sets a
    /// deadline no earlier than the one the timer has (see
    /// [`armed_for`](Self::armed_for)), and the first request's, the head timeout,
    /// is set at the first call.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        loop {
            let deadline = self.deadline();
            if deadline < self.timer.deadline() {
                self.timer.as_mut().reset(deadline);
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                if !self.armed_for(cx) {
                    self.armed = Some(cx.waker().clone());
                }
                return Ok(());
            }
            let now = Instant::now();
            if deadline > now {
                self.timer.as_mut().reset(deadline);
                continue;
            }
            if self
                .stalled_since
                .is_some_and(|since| since + self.write_stall <= now)
            {
                return Err(timed_out("the peer took no bytes for too long"));
            }
            if self.last_moved + self.idle <= now {
                return Err(timed_out("the connection was idle for too long"));
            }
            if self
                .requests_deadline()
                .is_some_and(|deadline| deadline <= now)
            {
                return Err(timed_out("the connection had no request open for too long"));
            }
            // The peer's deadline: sample its window again.
            self.observe_peer(0, now)?;
        }
    }

    /// Whether the timer will wake this task by every deadline, as
    /// [`check`](Self::check) left it. Deadlines move earlier only where `check`
    /// runs: a write that waits, a write after which the peer's deadline comes
    /// first, and a request that closes after the timer was set (its deadline, the
    /// idle timeout after it closed, is then later than the timer's, set by the
    /// idle timeout after an earlier byte at the latest).
    ///
    /// The task is known by its waker's data: `Waker::will_wake` also compares
    /// vtables, and a clone may carry another copy of the same one, which would
    /// send every read through `check`. The clone kept holds the task alive, so no
    /// other can take its address.
    fn armed_for(&self, cx: &Context<'_>) -> bool {
        self.armed
            .as_ref()
            .is_some_and(|waker| std::ptr::eq(waker.data(), cx.waker().data()))
            && !self.timer.is_elapsed()
    }

    /// When the peer's window is to be sampled without a write.
    fn peer_deadline(&self) -> Option<Instant> {
        let deadline = self.peer.as_ref()?.sampler.deadline()?;
        Some(Instant::from_std(deadline))
    }

    /// Samples the peer's window when due (after a write of `written` bytes, or at
    /// its deadline with none); an error when the peer is stuck.
    fn observe_peer(&mut self, written: usize, now: Instant) -> io::Result<()> {
        let Some(peer) = &mut self.peer else {
            return Ok(());
        };
        let now = now.into_std();
        if written > 0 && !peer.sampler.wrote(written, now) {
            return Ok(());
        }
        let Some(window) = (peer.sample)(&self.io) else {
            // The kernel does not say: the write stall alone applies.
            self.peer = None;
            return Ok(());
        };
        match peer.sampler.sampled(window, now) {
            Verdict::Stuck => Err(timed_out(
                "the peer left what it was sent unread for too long",
            )),
            _ => Ok(()),
        }
    }
}

fn timed_out(message: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, message)
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
                this.last_moved = Instant::now();
                Poll::Ready(Ok(()))
            }
            // The common case, once per wake-up of an idle stream: nothing to do.
            Poll::Pending if this.armed_for(cx) => Poll::Pending,
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
    /// The bookkeeping of a write: one clock reading, and the timer left alone
    /// unless the peer's deadline is due before it (see [`check`](Self::check)).
    fn after_write(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match polled {
            Poll::Ready(Ok(written)) if written > 0 => {
                let now = Instant::now();
                self.stalled_since = None;
                self.last_moved = now;
                if let Err(error) = self.observe_peer(written, now) {
                    return Poll::Ready(Err(error));
                }
                // The timer wakes the task by every deadline but the peer's, which
                // a write may have set: only then is it looked at here.
                if self
                    .peer_deadline()
                    .is_some_and(|peer| peer < self.timer.deadline() || self.timer.is_elapsed())
                    && let Err(error) = self.check(cx)
                {
                    return Poll::Ready(Err(error));
                }
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

    /// Reads until an error, while the far end writes a byte every second.
    async fn read_while_pinged(
        io: &mut TimeoutIo<tokio::io::DuplexStream>,
        mut far: tokio::io::DuplexStream,
    ) -> io::Error {
        let pings = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if far.write_all(b"p").await.is_err() {
                    return;
                }
            }
        });
        let mut buf = [0; 8];
        let error = loop {
            match io.read(&mut buf).await {
                Ok(0) => panic!("the far end closed"),
                Ok(_) => {}
                Err(error) => break error,
            }
        };
        pings.abort();
        error
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_without_a_request_open_is_closed_whatever_bytes_move() {
        let requests = Arc::new(OpenRequests::new(Duration::from_secs(2)));
        let (near, far) = tokio::io::duplex(64);
        let mut io = TimeoutIo::new(near, Duration::from_secs(5), Duration::from_secs(5))
            .close_without_requests(Arc::clone(&requests));
        let started = Instant::now();
        let error = read_while_pinged(&mut io, far).await;
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(
            error.to_string(),
            "the connection had no request open for too long"
        );
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(2),
            "the head timeout"
        );

        let requests = Arc::new(OpenRequests::new(Duration::from_secs(2)));
        let (near, far) = tokio::io::duplex(64);
        let mut io = TimeoutIo::new(near, Duration::from_secs(5), Duration::from_secs(5))
            .close_without_requests(Arc::clone(&requests));
        let started = Instant::now();
        let open = requests.open();
        let closing = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(20)).await;
            drop(open);
        });
        let error = read_while_pinged(&mut io, far).await;
        closing.await.unwrap();
        assert_eq!(
            error.to_string(),
            "the connection had no request open for too long"
        );
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(25),
            "open for 20 s, then the idle timeout"
        );
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

    /// A loopback connection: the server's end, and the client's.
    #[cfg(target_os = "linux")]
    async fn connection() -> (tokio::net::TcpStream, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        let (server, _) = accepted.unwrap();
        server.set_nodelay(true).unwrap();
        (server, client.unwrap())
    }

    /// Writes 16 frames of 1 KiB, then a keep-alive comment every 100 ms, for at
    /// most `within`; the error that ended it, if any.
    #[cfg(target_os = "linux")]
    async fn frames_then_keep_alives(
        io: &mut TimeoutIo<tokio::net::TcpStream>,
        within: Duration,
    ) -> Option<io::Error> {
        let written = async {
            for _ in 0..16 {
                io.write_all(&[b'x'; 1024]).await?;
            }
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                io.write_all(b":\n\n").await?;
            }
        };
        let ended: Result<io::Result<()>, _> = tokio::time::timeout(within, written).await;
        ended.ok().and_then(Result::err)
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_peer_that_leaves_a_few_kib_unread_is_closed_though_its_buffer_is_far_from_full() {
        let (server, _client) = connection().await;
        let mut io =
            TimeoutIo::new(server, Duration::from_secs(600), Duration::from_secs(1)).watch_peer();
        // A guard far above the 1 s limit: the error is what is waited for.
        let error = frames_then_keep_alives(&mut io, Duration::from_secs(60)).await;
        let error = error.expect("the stuck reader was never closed");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(
            error.to_string(),
            "the peer left what it was sent unread for too long"
        );
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_peer_that_reads_is_never_taken_for_stuck() {
        let (server, mut client) = connection().await;
        let reader = tokio::spawn(async move {
            let mut buf = vec![0; 64 * 1024];
            while client.read(&mut buf).await.is_ok_and(|n| n > 0) {}
        });
        let mut io =
            TimeoutIo::new(server, Duration::from_secs(600), Duration::from_secs(1)).watch_peer();
        // Three times the limit, keep-alives the whole time.
        let error = frames_then_keep_alives(&mut io, Duration::from_secs(3)).await;
        assert!(error.is_none(), "{error:?}");
        drop(io);
        reader.await.unwrap();
    }
}
