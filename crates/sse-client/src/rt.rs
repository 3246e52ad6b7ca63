//! The runtime seam: a TCP connection, TLS over it, a timer, and a way to spawn the
//! few tasks HTTP/2 needs. Everything else in the crate is runtime-neutral.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

/// Which async runtime drives the client's sockets and timers.
///
/// The default is [`Tokio`](Runtime::Tokio) when the `tokio` feature is on (it is by
/// default), else [`Smol`](Runtime::Smol). The stream must be polled from within that
/// runtime (a tokio task, or any executor while `async-io`'s reactor runs, for smol).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Runtime {
    /// tokio (the `tokio` feature).
    #[cfg(feature = "tokio")]
    Tokio,
    /// smol / `async-io` (the `smol` feature).
    #[cfg(feature = "smol")]
    Smol,
}

impl Default for Runtime {
    fn default() -> Self {
        #[cfg(feature = "tokio")]
        return Runtime::Tokio;
        #[cfg(not(feature = "tokio"))]
        return Runtime::Smol;
    }
}

/// The IO of one connection, TLS or not.
pub(crate) trait Io: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static {}
impl<T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static> Io for T {}

pub(crate) type BoxIo = Box<dyn Io>;

/// A plain TCP connection, with `TCP_NODELAY` (a request is one write; no need to
/// hold it back).
pub(crate) async fn connect_tcp(rt: Runtime, host: &str, port: u16) -> std::io::Result<Tcp> {
    match rt {
        #[cfg(feature = "tokio")]
        Runtime::Tokio => {
            let stream = tokio::net::TcpStream::connect((host, port)).await?;
            stream.set_nodelay(true)?;
            Ok(Tcp::Tokio(hyper_util::rt::TokioIo::new(stream)))
        }
        #[cfg(feature = "smol")]
        Runtime::Smol => {
            let stream = async_net::TcpStream::connect((host, port)).await?;
            stream.set_nodelay(true)?;
            Ok(Tcp::Smol(smol_hyper::rt::FuturesIo::new(stream)))
        }
    }
}

/// A connected TCP stream of either runtime, as hyper's IO (a proxy tunnel is
/// opened over it before TLS).
pub(crate) enum Tcp {
    #[cfg(feature = "tokio")]
    Tokio(hyper_util::rt::TokioIo<tokio::net::TcpStream>),
    #[cfg(feature = "smol")]
    Smol(smol_hyper::rt::FuturesIo<async_net::TcpStream>),
}

impl Tcp {
    pub(crate) fn into_io(self) -> BoxIo {
        match self {
            #[cfg(feature = "tokio")]
            Tcp::Tokio(stream) => Box::new(stream),
            #[cfg(feature = "smol")]
            Tcp::Smol(stream) => Box::new(stream),
        }
    }

    /// TLS over this stream; returns the IO and whether the server chose `h2`.
    #[cfg(feature = "rustls")]
    pub(crate) async fn into_tls(
        self,
        config: std::sync::Arc<rustls::ClientConfig>,
        name: rustls_pki_types::ServerName<'static>,
    ) -> std::io::Result<(BoxIo, bool)> {
        match self {
            #[cfg(feature = "tokio")]
            Tcp::Tokio(stream) => {
                let tls = tokio_rustls::TlsConnector::from(config)
                    .connect(name, stream.into_inner())
                    .await?;
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                Ok((Box::new(hyper_util::rt::TokioIo::new(tls)), h2))
            }
            #[cfg(feature = "smol")]
            Tcp::Smol(stream) => {
                let tls = futures_rustls::TlsConnector::from(config)
                    .connect(name, stream.into_inner())
                    .await?;
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                Ok((Box::new(smol_hyper::rt::FuturesIo::new(tls)), h2))
            }
        }
    }
}

impl hyper::rt::Read for Tcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            #[cfg(feature = "tokio")]
            Tcp::Tokio(stream) => Pin::new(stream).poll_read(cx, buf),
            #[cfg(feature = "smol")]
            Tcp::Smol(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl hyper::rt::Write for Tcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            #[cfg(feature = "tokio")]
            Tcp::Tokio(stream) => Pin::new(stream).poll_write(cx, buf),
            #[cfg(feature = "smol")]
            Tcp::Smol(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            #[cfg(feature = "tokio")]
            Tcp::Tokio(stream) => Pin::new(stream).poll_flush(cx),
            #[cfg(feature = "smol")]
            Tcp::Smol(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            #[cfg(feature = "tokio")]
            Tcp::Tokio(stream) => Pin::new(stream).poll_shutdown(cx),
            #[cfg(feature = "smol")]
            Tcp::Smol(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }
}

/// Spawns HTTP/2's background tasks on the runtime.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Exec(pub(crate) Runtime);

impl<F> hyper::rt::Executor<F> for Exec
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        match self.0 {
            #[cfg(feature = "tokio")]
            Runtime::Tokio => {
                tokio::spawn(future);
            }
            #[cfg(feature = "smol")]
            Runtime::Smol => smol::spawn(future).detach(),
        }
    }
}

/// A resettable deadline.
pub(crate) enum Timer {
    #[cfg(feature = "tokio")]
    Tokio(Pin<Box<tokio::time::Sleep>>),
    #[cfg(feature = "smol")]
    Smol(async_io::Timer),
}

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Timer")
    }
}

impl Timer {
    pub(crate) fn new(rt: Runtime, at: Instant) -> Timer {
        match rt {
            #[cfg(feature = "tokio")]
            Runtime::Tokio => Timer::Tokio(Box::pin(tokio::time::sleep_until(at.into()))),
            #[cfg(feature = "smol")]
            Runtime::Smol => Timer::Smol(async_io::Timer::at(at)),
        }
    }

    pub(crate) fn reset(&mut self, at: Instant) {
        match self {
            #[cfg(feature = "tokio")]
            Timer::Tokio(sleep) => sleep.as_mut().reset(at.into()),
            #[cfg(feature = "smol")]
            Timer::Smol(timer) => timer.set_at(at),
        }
    }

    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self {
            #[cfg(feature = "tokio")]
            Timer::Tokio(sleep) => sleep.as_mut().poll(cx),
            #[cfg(feature = "smol")]
            Timer::Smol(timer) => Pin::new(timer).poll(cx).map(drop),
        }
    }
}
