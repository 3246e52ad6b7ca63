//! Serving with hyper-util on tokio, with every timeout an open port needs.

use std::convert::Infallible;
use std::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use sse_net::{
    ACCEPT_BACKOFF, AcceptFailure, BodyTimeout, ConnectionLimits, Connections, Timeouts,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

use crate::TimeoutIo;
use crate::open::{Counted, OpenRequests};
use crate::workers::Workers;

/// Serves HTTP/1.1 and HTTP/2 on `listener` until `shutdown` resolves, answering
/// each request with `respond`, bounded by `timeouts`: [`Server`] with its
/// defaults otherwise (no connection limits, connections on the caller's
/// runtime). See [`Server::run`].
///
/// ```no_run
/// use std::convert::Infallible;
/// use sse_core::Hub;
/// use sse_hyper::Timeouts;
///
/// # async fn run() -> std::io::Result<()> {
/// let hub = Hub::default();
/// sse_hyper::spawn_keep_alive(&hub);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// let shutdown = {
///     let hub = hub.clone();
///     async move {
///         let _ = tokio::signal::ctrl_c().await;
///         hub.shutdown(None);
///     }
/// };
/// sse_hyper::serve(listener, Timeouts::default(), shutdown, move |request| {
///     let response = sse_hyper::respond(&hub, request);
///     Box::pin(async move { Ok::<_, Infallible>(response) })
/// })
/// .await;
/// # Ok(())
/// # }
/// ```
pub async fn serve<F, B>(
    listener: TcpListener,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()>,
    respond: impl Fn(http::Request<RequestBody>) -> Pin<Box<F>> + Clone + Send + 'static,
) where
    F: Future<Output = Result<http::Response<B>, Infallible>> + Send + ?Sized + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn Error + Send + Sync>>,
{
    Server::new()
        .timeouts(timeouts)
        .run(listener, shutdown, respond)
        .await;
}

/// An accept loop on hyper-util with every bound an open port needs (timeouts,
/// connection limits), and where its connections run. Set what differs from the
/// defaults, then [`run`](Self::run) it.
///
/// | setting | default |
/// |---|---|
/// | [`timeouts`](Self::timeouts) | [`Timeouts::default`] |
/// | [`connection_limits`](Self::connection_limits) | none ([`ConnectionLimits::default`]) |
/// | [`threads`](Self::threads) | none: connections run on the caller's runtime |
///
/// ```no_run
/// use std::convert::Infallible;
/// use sse_hyper::{ConnectionLimits, Server, Timeouts};
///
/// # async fn run(hub: sse_core::Hub, listener: tokio::net::TcpListener) {
/// let limits = ConnectionLimits::default()
///     .per_peer(64)
///     .total(sse_hyper::connections_within_file_limit());
/// Server::new()
///     .timeouts(Timeouts::default())
///     .connection_limits(limits)
///     .run(listener, std::future::pending(), move |request| {
///         let response = sse_hyper::respond(&hub, request);
///         Box::pin(async move { Ok::<_, Infallible>(response) })
///     })
///     .await;
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Server {
    timeouts: Timeouts,
    limits: ConnectionLimits,
    threads: usize,
}

impl Default for Server {
    fn default() -> Server {
        Server::new()
    }
}

impl Server {
    /// A server with the defaults.
    pub fn new() -> Server {
        Server {
            timeouts: Timeouts::default(),
            limits: ConnectionLimits::default(),
            threads: 0,
        }
    }

    /// Every timeout of a connection (see [`Timeouts`]).
    pub fn timeouts(mut self, timeouts: Timeouts) -> Server {
        self.timeouts = timeouts;
        self
    }

    /// At most so many connections open per peer address and in all
    /// ([`ConnectionLimits`]): one past its address's limit is closed as soon as
    /// it is accepted, so an attacker that reopens every connection the server
    /// closes holds no more than its share of file descriptors, and clients from
    /// elsewhere get in; at the total, accepting pauses until a connection closes.
    pub fn connection_limits(mut self, limits: ConnectionLimits) -> Server {
        self.limits = limits;
        self
    }

    /// Serves the connections on `threads` threads of their own (say, one per
    /// core: [`std::thread::available_parallelism`]), each a tokio runtime with a
    /// single worker, connections dealt to them in turn, as actix-web runs.
    /// A connection, and what its handler spawns with `tokio::spawn` (a
    /// producer), stay on one thread: a token goes from the producer to its
    /// response without waking another thread, and no worker parks and wakes
    /// another around every token. `0`, the default, serves them on the caller's
    /// runtime.
    ///
    /// Measured on two cores against the caller's two-worker runtime
    /// (`crates/sse-load/RESULTS-threads.md`): a hub's fan-out at full speed
    /// delivered 1.15× the events per second to 100 clients and 1.96× to 1 000,
    /// but with 10 000 it let clients fall behind (30 % of the events delivered,
    /// against 100 %), as a connection cannot move to an idle thread; flooded
    /// per-request streams went 1.00–1.07× as fast, and paced ones took 0.96–1.14×
    /// the CPU per token.
    pub fn threads(mut self, threads: usize) -> Server {
        self.threads = threads;
        self
    }

    /// Serves HTTP/1.1 and HTTP/2 (prior knowledge, or after the preface) on the
    /// connections `listener` accepts, answering each request with `respond`,
    /// until `shutdown` resolves; then stops accepting and gives the open
    /// connections up to [`Timeouts::shutdown`] to end (shut your hub down in
    /// `shutdown`, so that its streams end). The accept loop runs on the caller's
    /// runtime, the connections there or on [`threads`](Self::threads) of their
    /// own, which end with it, closing what is still open.
    ///
    /// Every connection is bounded by the [`Timeouts`]: its request head (hyper's
    /// own header timeout), its body ([`RequestBody`]), silence, write stalls and
    /// stuck readers ([`TimeoutIo`]), and time without a request open (HTTP/2
    /// PINGs do not keep a connection). Each is set to `TCP_NODELAY`, so an SSE
    /// frame goes out as soon as it is written rather than waiting for the last
    /// one's acknowledgement (Nagle's algorithm). A failed `accept` never stops
    /// the server nor spins: out of file descriptors (or memory), accepting
    /// pauses for 100 ms while the connected clients are served.
    ///
    /// A `HEAD` request gets the head of what `respond` answered, never its body
    /// (over HTTP/2 too, where hyper would send it): a stream is dropped unread,
    /// so its producer stops.
    ///
    /// `respond` should return a boxed future: hyper keeps room for the service's
    /// future for the connection's whole life, so a box takes a pointer's room
    /// there rather than the largest future the framework can make.
    pub async fn run<F, B>(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
        respond: impl Fn(http::Request<RequestBody>) -> Pin<Box<F>> + Clone + Send + 'static,
    ) where
        F: Future<Output = Result<http::Response<B>, Infallible>> + Send + ?Sized + 'static,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn Error + Send + Sync>>,
    {
        let Server {
            timeouts,
            limits,
            threads,
        } = self;
        let mut workers = Workers::start(threads);
        let graceful = GracefulShutdown::new();
        let connections = Connections::new(limits);
        let shutdown = std::pin::pin!(shutdown);
        let mut shutdown = shutdown;
        loop {
            // At the total limit, connections wait in the kernel's queue until one
            // closes, rather than being accepted only to be closed.
            let accepted = tokio::select! {
                accepted = async {
                    connections.room().await;
                    listener.accept().await
                } => accepted,
                () = &mut shutdown => break,
            };
            let (tcp, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => match AcceptFailure::of(&error) {
                    AcceptFailure::Next => continue,
                    AcceptFailure::Stop => break,
                    _ => {
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                },
            };
            // Past a limit: closed here, at once, freeing its descriptor.
            let Ok(permit) = connections.admit(peer.ip()) else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let Ok(tcp) = workers.hand_over(tcp) else {
                continue;
            };
            let respond = respond.clone();
            let watcher = graceful.watcher();
            // One future per connection, its parts in place: built in this task's
            // body, not handed to async functions (each would keep a second copy of
            // what it is given, the connection included).
            workers.spawn(async move {
                let _permit = permit;
                let Ok(tcp) = tcp.register() else {
                    return;
                };
                let Some((tcp, protocol)) = first_bytes(tcp, timeouts.head).await else {
                    return;
                };
                // No request open for the idle timeout (none at all for the head
                // timeout), whatever else arrives: `TimeoutIo` fails, hyper closes.
                let requests = Arc::new(OpenRequests::new(timeouts.head));
                let io = TimeoutIo::new(tcp, timeouts.idle, timeouts.write_stall)
                    .close_without_requests(Arc::clone(&requests));
                #[cfg(unix)]
                let io = io.watch_peer();
                let io = TokioIo::new(io);
                let service =
                    hyper::service::service_fn(move |request: http::Request<Incoming>| {
                        let open = requests.open();
                        let head_only = request.method() == http::Method::HEAD;
                        let response =
                            respond(request.map(|body| RequestBody::new(body, timeouts.body)));
                        async move {
                            let response = response.await?;
                            Ok::<_, Infallible>(
                                response.map(|body| Counted::new(body, open, head_only)),
                            )
                        }
                    });
                match protocol {
                    Protocol::Http1 => {
                        let connection = http1::Builder::new()
                            .timer(TokioTimer::new())
                            .header_read_timeout(timeouts.head)
                            .serve_connection(io, service);
                        let _ = watcher.watch(connection).await;
                    }
                    // Larger than HTTP/1's: boxed, so that an HTTP/1 connection's task
                    // keeps no room for it.
                    Protocol::Http2 => {
                        let connection = http2::Builder::new(TokioExecutor::new())
                            .timer(TokioTimer::new())
                            .serve_connection(io, service);
                        let _ = Box::pin(watcher.watch(connection)).await;
                    }
                    Protocol::Unknown => {
                        Box::pin(async move {
                            // The builder lives here and the connection borrows it.
                            let mut builder = auto::Builder::new(TokioExecutor::new());
                            builder
                                .http1()
                                .timer(TokioTimer::new())
                                .header_read_timeout(timeouts.head);
                            builder.http2().timer(TokioTimer::new());
                            let _ = watcher.watch(builder.serve_connection(io, service)).await;
                        })
                        .await;
                    }
                }
            });
        }
        let _ = tokio::time::timeout(timeouts.shutdown, graceful.shutdown()).await;
        // Dropping the workers closes the connections that outlived the grace period.
        drop(workers);
    }
}

/// What the first bytes of a connection say it speaks, told from bytes peeked
/// rather than read, so that hyper's own HTTP/1 or HTTP/2 connection serves it.
/// hyper-util's `auto` connection reads them itself and hands them back through a
/// buffer of its own, after which hyper's HTTP/1 read buffer, 8 KiB at first,
/// grows to 16 KiB to take the rest of the request head, and keeps that for the
/// connection's life: 7 KiB more resident per idle stream (see
/// `crates/sse-load/RESULTS-memory.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    /// They differ from HTTP/2's preface.
    Http1,
    /// The whole preface.
    Http2,
    /// A part of the preface so far: hyper-util's `auto` reads on and tells.
    Unknown,
}

/// HTTP/2's connection preface (RFC 9113, section 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

impl Protocol {
    /// From the first bytes a client sent (at least one).
    fn of(first: &[u8]) -> Protocol {
        let Some(preface) = H2_PREFACE.get(..first.len()) else {
            return Protocol::Http1;
        };
        if first != preface {
            Protocol::Http1
        } else if first.len() == H2_PREFACE.len() {
            Protocol::Http2
        } else {
            Protocol::Unknown
        }
    }
}

/// The connection and what it speaks, once its first bytes arrived within `head`
/// (hyper's header timeout starts only once the protocol is known); `None` when
/// it sent nothing. The bytes are peeked, not read: hyper reads them.
async fn first_bytes(tcp: TcpStream, head: Duration) -> Option<(TcpStream, Protocol)> {
    let mut first = [0; H2_PREFACE.len()];
    match tokio::time::timeout(head, tcp.peek(&mut first)).await {
        Ok(Ok(peeked @ 1..)) => Some((tcp, Protocol::of(&first[..peeked]))),
        _ => None,
    }
}

/// A request body that fails (ending the request) when it has not been read
/// whole within [`Timeouts::body`] of the first read: a client that sends half a
/// body, or drips it, cannot hold a connection and a handler forever.
#[derive(Debug)]
pub struct RequestBody {
    body: Incoming,
    limit: Duration,
    /// Set on the first read: a handler that never reads the body costs no timer.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl RequestBody {
    fn new(body: Incoming, limit: Duration) -> Self {
        RequestBody {
            body,
            limit,
            deadline: None,
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = Box<dyn Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let limit = this.limit;
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimeout.into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocol_is_told_from_the_first_bytes_that_differ_from_the_preface() {
        assert_eq!(Protocol::of(b"G"), Protocol::Http1);
        assert_eq!(Protocol::of(b"GET /events HTTP/1.1\r\n"), Protocol::Http1);
        assert_eq!(
            Protocol::of(b"PO"),
            Protocol::Http1,
            "POST differs at its second byte"
        );
        assert_eq!(Protocol::of(H2_PREFACE), Protocol::Http2);
        assert_eq!(Protocol::of(b"P"), Protocol::Unknown);
        assert_eq!(Protocol::of(b"PRI * HTTP/2.0\r\n"), Protocol::Unknown);
    }
}
