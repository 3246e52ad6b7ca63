//! A writer that fails when its peer stops taking bytes, or leaves them unread.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_io::Timer;
use event_listener::Event;
use futures_lite::{AsyncWrite, Future, future};
use sse_net::{PeerSampler, Verdict, Window};

/// A writer that fails with [`io::ErrorKind::TimedOut`] when bytes wait but none
/// are taken for `stall` (a client that stopped reading: its socket buffers are
/// full), or, with [`watch_peer`](Self::watch_peer) on a TCP socket on Linux, when
/// its peer leaves what it was sent unread for `stall` while more is written,
/// however little it holds (see [`sse_net::watch`]). The stream being written
/// ends with it, so the hub removes the client. [`Server`](crate::Server) writes
/// through one (see [`write_stall`](crate::Server::write_stall)), and also checks
/// a peer that seems behind when its deadline comes, between writes.
#[derive(Debug)]
pub struct WriteTimeout<W> {
    writer: W,
    stall: Duration,
    /// Running while a write waits; dropped when bytes are taken.
    timer: Option<Timer>,
    /// The peer's window, followed where the kernel shows it.
    peer: Option<Peer<W>>,
}

/// How a [`WriteTimeout`] samples its peer's window, and the sampler it shares
/// with whoever checks the peer between writes ([`PeerWatch::stuck`]).
struct Peer<W> {
    watch: Arc<PeerWatch>,
    sample: fn(&W) -> Option<Window>,
}

impl<W> std::fmt::Debug for Peer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("watch", &self.watch)
            .finish_non_exhaustive()
    }
}

/// A peer's [`PeerSampler`], shared by the writer (which samples after writes)
/// and [`stuck`](Self::stuck) (which samples at the deadline between writes).
#[derive(Debug)]
pub(crate) struct PeerWatch {
    sampler: Mutex<PeerSampler>,
    /// Told when the sampler's deadline may have changed.
    changed: Event,
}

impl PeerWatch {
    fn sampler(&self) -> std::sync::MutexGuard<'_, PeerSampler> {
        self.sampler.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Resolves once the peer is stuck, sampling `socket`'s window at each
    /// deadline the writer's samples set; never, while it keeps reading.
    #[cfg(unix)]
    pub(crate) async fn stuck(&self, socket: std::os::fd::BorrowedFd<'_>) {
        loop {
            let changed = self.changed.listen();
            let Some(deadline) = self.sampler().deadline() else {
                changed.await;
                continue;
            };
            let due = async {
                Timer::at(deadline).await;
                true
            };
            if !future::or(due, async {
                changed.await;
                false
            })
            .await
            {
                continue;
            }
            let verdict = {
                let mut sampler = self.sampler();
                let now = Instant::now();
                if sampler.deadline().is_some_and(|deadline| deadline <= now) {
                    // The kernel does not say: the write stall alone applies.
                    sse_net::peer_window(socket).map(|window| sampler.sampled(window, now))
                } else {
                    Some(Verdict::Reading)
                }
            };
            match verdict {
                Some(Verdict::Stuck) => return,
                Some(_) => {}
                None => return std::future::pending().await,
            }
        }
    }
}

impl<W> WriteTimeout<W> {
    /// Wraps `writer`.
    pub fn new(writer: W, stall: Duration) -> Self {
        WriteTimeout {
            writer,
            stall,
            timer: None,
            peer: None,
        }
    }

    /// Also fails when the peer leaves bytes unread for the stall timeout, whatever
    /// their number (a TCP socket on Linux; elsewhere this changes nothing): see
    /// [`sse_net::watch`]. Checked after writes, keep-alive comments included.
    #[cfg(unix)]
    #[must_use]
    pub fn watch_peer(mut self) -> Self
    where
        W: std::os::fd::AsFd,
    {
        self.peer = Some(Peer {
            watch: Arc::new(PeerWatch {
                sampler: Mutex::new(PeerSampler::new(self.stall)),
                changed: Event::new(),
            }),
            sample: |writer| sse_net::peer_window(writer.as_fd()),
        });
        self
    }

    /// The peer's watch, shared with a check between writes.
    pub(crate) fn peer_watch(&self) -> Option<Arc<PeerWatch>> {
        self.peer.as_ref().map(|peer| Arc::clone(&peer.watch))
    }

    /// Samples the peer's window after a write of `written` bytes, when due; an
    /// error when it is stuck.
    fn observe_peer(&mut self, written: usize) -> io::Result<()> {
        let Some(peer) = &self.peer else {
            return Ok(());
        };
        let now = Instant::now();
        let mut sampler = peer.watch.sampler();
        let before = sampler.deadline();
        if !sampler.wrote(written, now) {
            if sampler.deadline() != before {
                peer.watch.changed.notify(usize::MAX);
            }
            return Ok(());
        }
        let Some(window) = (peer.sample)(&self.writer) else {
            // The kernel does not say: the write stall alone applies.
            drop(sampler);
            self.peer = None;
            return Ok(());
        };
        let verdict = sampler.sampled(window, now);
        if sampler.deadline() != before {
            peer.watch.changed.notify(usize::MAX);
        }
        if verdict == Verdict::Stuck {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the peer left what it was sent unread for too long",
            ));
        }
        Ok(())
    }

    fn after_write(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        if !polled.is_pending() {
            self.timer = None;
            if let Poll::Ready(Ok(written @ 1..)) = polled
                && let Err(error) = self.observe_peer(written)
            {
                return Poll::Ready(Err(error));
            }
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
    use async_io::Async;
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

    /// A loopback connection: the server's socket, and the client's end.
    #[cfg(target_os = "linux")]
    async fn connection() -> (Async<std::net::TcpStream>, async_net::TcpStream) {
        let listener = async_net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = async_net::TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = future::zip(client, listener.accept()).await;
        let (server, _) = accepted.unwrap();
        server.set_nodelay(true).unwrap();
        let server: Arc<Async<std::net::TcpStream>> = server.into();
        let server = Arc::into_inner(server).expect("the only reference");
        (server, client.unwrap())
    }

    /// `future`, or a panic after a minute: a guard far above the 1 s limits below.
    #[cfg(target_os = "linux")]
    async fn within_a_minute<T>(future: impl Future<Output = T>) -> T {
        let guard = async {
            Timer::after(Duration::from_secs(60)).await;
            panic!("the stuck reader was never found");
        };
        future::or(future, guard).await
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_peer_that_leaves_a_few_kib_unread_fails_the_next_write_past_the_limit() {
        smol::block_on(async {
            let (socket, _client) = connection().await;
            let mut writer = WriteTimeout::new(&socket, Duration::from_secs(1)).watch_peer();
            let error: io::Result<()> = within_a_minute(async {
                for _ in 0..16 {
                    writer.write_all(&[b'x'; 1024]).await?;
                }
                loop {
                    Timer::after(Duration::from_millis(100)).await;
                    writer.write_all(b":\n\n").await?;
                }
            })
            .await;
            let error = error.expect_err("stuck");
            assert_eq!(error.kind(), io::ErrorKind::TimedOut);
            assert_eq!(
                error.to_string(),
                "the peer left what it was sent unread for too long"
            );
        });
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_peer_that_leaves_a_few_kib_unread_is_found_between_writes() {
        use std::os::fd::AsFd;
        smol::block_on(async {
            let (socket, _client) = connection().await;
            let mut writer = WriteTimeout::new(&socket, Duration::from_secs(1)).watch_peer();
            let watch = writer.peer_watch().expect("a TCP socket");
            // A burst, and one keep-alive once it is behind; then nothing.
            let write = async {
                for _ in 0..16 {
                    writer.write_all(&[b'x'; 1024]).await.expect("written");
                }
                Timer::after(Duration::from_millis(500)).await;
                writer.write_all(b":\n\n").await.expect("written");
                future::pending::<()>().await;
            };
            within_a_minute(future::or(watch.stuck(socket.as_fd()), write)).await;
        });
    }
}
