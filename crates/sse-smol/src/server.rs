//! A small HTTP/1.1 server: your handler for every request, and the hub's stream
//! at one path if there is a hub.

use std::future::Future;
use std::io::{self, Read};
use std::sync::Arc;
use std::time::Duration;

use async_io::{Async, Timer};
use async_net::{TcpListener, TcpStream};
use bytes::Bytes;
use futures_lite::future;
use http::StatusCode;
use sse_core::Hub;
use sse_net::{ACCEPT_BACKOFF, AcceptFailure, ConnectionLimits, Connections, Permit};

use crate::body::{Body, Inner};
use crate::request::{Limits, read_request};
use crate::stall::WriteTimeout;
use crate::workers::Workers;
use crate::writer::{
    with_length, write_events, write_full, write_head, write_response, write_stream,
};

type Handler = dyn Fn(http::Request<Bytes>) -> future::Boxed<http::Response<Body>> + Send + Sync;

/// A small HTTP/1.1 server: every request goes to your [`handler`](Self::handler)
/// (404 without one), and, if you give it a hub, one path streams the hub's
/// clients ([`events`](Self::events): `GET`, `HEAD`; other methods get 405).
///
/// Every connection is its own task (on smol's global executor, or on threads of
/// the server's own: [`threads`](Self::threads)); requests are bounded by [`Limits`] (malformed,
/// oversized or slow ones get 400, 431, 413, 408 and are closed), so a misbehaving
/// client never affects the others. A `HEAD` request is answered with the head
/// alone: a stream your handler returned is dropped unread, so its producer stops.
/// Keep-alive comments run on `async-io` timers.
///
/// # Examples
///
/// A hub at `/events`, and a page elsewhere:
///
/// ```no_run
/// use sse_core::{Event, Hub};
/// use sse_smol::Server;
///
/// smol::block_on(async {
///     let hub = Hub::default();
///     let listener = async_net::TcpListener::bind("127.0.0.1:8080").await?;
///     smol::spawn({
///         let hub = hub.clone();
///         async move { hub.broadcast(&Event::new("hello")) }
///     })
///     .detach();
///     let server = Server::new()
///         .events("/events", hub)
///         .handler(|_request| async { http::Response::new(bytes::Bytes::from("<p>hi</p>")) });
///     // Serves until `hub.shutdown(..)` is called and every stream has ended.
///     server.run(listener).await
/// })
/// # .unwrap();
/// ```
#[derive(Clone)]
pub struct Server {
    /// The hub, and the path that streams it.
    hub: Option<(Arc<str>, Hub)>,
    limits: Limits,
    write_stall: Duration,
    connections: ConnectionLimits,
    threads: usize,
    handler: Arc<Handler>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("events", &self.hub.as_ref().map(|(path, _)| path))
            .field("limits", &self.limits)
            .field("write_stall", &self.write_stall)
            .field("connections", &self.connections)
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

impl Default for Server {
    fn default() -> Self {
        Server::new()
    }
}

impl Server {
    /// A server that answers 404 to everything until it is given a
    /// [`handler`](Self::handler) or a hub ([`events`](Self::events)).
    #[must_use]
    pub fn new() -> Self {
        Server {
            hub: None,
            limits: Limits::default(),
            write_stall: Duration::from_secs(30),
            connections: ConnectionLimits::default(),
            threads: 0,
            handler: Arc::new(|_| {
                Box::pin(async { crate::json_error(StatusCode::NOT_FOUND, "not found") })
            }),
        }
    }

    /// Streams `hub` at `path` (as [`respond`](crate::respond) answers): its
    /// clients connect there, and [`run`](Self::run) returns once the hub has shut
    /// down and every stream has ended. Runs the hub's keep-alive.
    #[must_use]
    pub fn events(mut self, path: &str, hub: Hub) -> Self {
        self.hub = Some((path.into(), hub));
        self
    }

    /// Closes a stream whose client takes no bytes for this long while frames wait
    /// (it stopped reading), or (a TCP socket on Linux) leaves what it was sent
    /// unread this long while more is written, keep-alive comments included,
    /// however little it holds (see [`WriteTimeout`]); its client is removed from
    /// the hub. Default 30 s; keep the hub's keep-alive interval below it.
    #[must_use]
    pub fn write_stall(mut self, stall: Duration) -> Self {
        self.write_stall = stall;
        self
    }

    /// At most so many connections open per peer address and in all (none by
    /// default): one past its address's limit is closed as soon as it is
    /// accepted, so an attacker that reopens every connection the server closes
    /// holds no more than its share of file descriptors; at the total, accepting
    /// pauses until a connection closes.
    #[must_use]
    pub fn connection_limits(mut self, limits: ConnectionLimits) -> Self {
        self.connections = limits;
        self
    }

    /// Serves the connections on `threads` threads of their own (say, one per
    /// core: [`std::thread::available_parallelism`]), each running an executor,
    /// connections dealt to them in turn. Start a request's producer with
    /// [`spawn`](crate::spawn) and it runs on its connection's thread. `0`, the
    /// default, serves them on smol's global executor (one thread unless
    /// `SMOL_THREADS` says otherwise). Measured on two cores
    /// (`crates/sse-load/RESULTS-threads.md`), two threads of its own flooded
    /// 100 per-request streams 1.13× as fast as the global executor's one, and
    /// 1 000 streams 0.96× as fast, and took 1.15× the CPU per paced token with
    /// 100: `async-io`'s one reactor still wakes every thread.
    #[must_use]
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Sets the request limits.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Answers every request (but the hub's path) with `handler`, its body read
    /// within the limits: a whole response (`http::Response<Bytes>`), a stream of
    /// your own ([`from_stream`](crate::from_stream)), or a hub client
    /// ([`respond`](crate::respond), [`connect`](crate::connect)).
    #[must_use]
    pub fn handler<F, R, B>(mut self, handler: F) -> Self
    where
        F: Fn(http::Request<Bytes>) -> R + Send + Sync + 'static,
        R: Future<Output = http::Response<B>> + Send + 'static,
        B: Into<Body>,
    {
        self.handler = Arc::new(move |request| {
            let response = handler(request);
            Box::pin(async move { response.await.map(Into::into) })
        });
        self
    }

    /// Accepts connections: with a hub ([`events`](Self::events)), until it shuts
    /// down, then waits until every client is gone, running keep-alive meanwhile;
    /// without one, until the listener fails (race it with your own shutdown
    /// signal to stop).
    ///
    /// A failed accept does not stop the server, nor spin: a connection that went
    /// away is skipped, and running out of file descriptors (or memory) pauses
    /// accepting for 100 ms while the connected clients keep being served.
    ///
    /// # Errors
    ///
    /// When the listener itself is unusable (not listening).
    pub async fn run(self, listener: TcpListener) -> io::Result<()> {
        let hub = self.hub.as_ref().map(|(_, hub)| hub.clone());
        let keep_alive = hub
            .clone()
            .map(|hub| smol::spawn(async move { hub.run_keep_alive(Timer::after).await }));
        let connections = Connections::new(self.connections);
        let mut workers = Workers::start(self.threads);
        let accept = async {
            loop {
                // At the total limit, connections wait in the kernel's queue until
                // one closes, rather than being accepted only to be closed.
                connections.room().await;
                match listener.accept().await {
                    Ok((connection, peer)) => {
                        // Past a limit: closed here, at once, freeing its descriptor.
                        let Ok(permit) = connections.admit(peer.ip()) else {
                            continue;
                        };
                        let _ = connection.set_nodelay(true);
                        workers.spawn(self.clone().serve(connection, permit));
                    }
                    Err(error) => match AcceptFailure::of(&error) {
                        AcceptFailure::Stop => return Err(error),
                        AcceptFailure::Next => {}
                        _ => {
                            Timer::after(ACCEPT_BACKOFF).await;
                        }
                    },
                }
            }
        };
        let Some(hub) = hub else {
            return accept.await;
        };
        let stopping = async {
            hub.shutting_down().await;
            Ok(())
        };
        let accepted: io::Result<()> = future::or(accept, stopping).await;
        hub.closed().await;
        if let Some(keep_alive) = keep_alive {
            keep_alive.cancel().await;
        }
        accepted
    }

    /// Serves one connection: one request, then close (which frees `_permit`).
    async fn serve(self, connection: TcpStream, _permit: Permit) {
        let mut reader = connection.clone();
        let mut writer = connection;
        let request = match read_request(&mut reader, &self.limits).await {
            Ok(request) => request,
            Err(error) => {
                if let Some(status) = error.status() {
                    let error = crate::json_error(status, &error.to_string());
                    let _ = write_response(&mut writer, error).await;
                }
                return;
            }
        };
        drop(reader);
        let head_only = request.method() == http::Method::HEAD;
        let response = match &self.hub {
            Some((path, hub)) if request.uri().path() == &**path => crate::respond(hub, request),
            _ => (self.handler)(request).await,
        };
        let (head, body) = response.into_parts();
        let body = match body.into_inner() {
            Inner::Full(bytes) if head_only => {
                // The length the body would have had, unless it has none.
                let head = match bytes.len() {
                    0 => http::Response::from_parts(head, ()),
                    length => with_length(head, length),
                };
                let _ = write_head(&mut writer, &head).await;
                return;
            }
            Inner::Full(bytes) => {
                let _ = write_full(&mut writer, head, &bytes).await;
                return;
            }
            stream => stream,
        };
        // A `HEAD` gets the head alone: the stream is dropped here, unread.
        if write_head(&mut writer, &http::Response::from_parts(head, ()))
            .await
            .is_err()
            || head_only
        {
            return;
        }
        let socket: Arc<Async<std::net::TcpStream>> = writer.into();
        let writer = WriteTimeout::new(&*socket, self.write_stall);
        #[cfg(unix)]
        let writer = writer.watch_peer();
        let mut writer = writer;
        // A peer that seems behind is sampled again at its deadline, between
        // writes: stuck, the connection closes then rather than at the next write.
        let peer = writer.peer_watch();
        let stuck = async {
            #[cfg(unix)]
            if let Some(peer) = &peer {
                use std::os::fd::AsFd;
                peer.stuck(socket.as_fd()).await;
                return Ok(());
            }
            let _ = &peer;
            future::pending().await
        };
        let write = async {
            match body {
                Inner::Events(stream) => write_events(&mut writer, stream).await,
                Inner::Stream(stream) => write_stream(&mut writer, stream).await,
                Inner::Full(_) => Ok(()),
            }
        };
        let _ = future::or(write, future::or(peer_closed(&socket), stuck)).await;
    }
}

/// Resolves when the client closes its side (or the connection fails), even while
/// nothing is written. It waits for readability, so it costs no system call while
/// the client is silent, however often the task is woken to write.
async fn peer_closed(socket: &Async<std::net::TcpStream>) -> io::Result<()> {
    let mut scratch = [0; 64];
    loop {
        socket.readable().await?;
        match socket.get_ref().read(&mut scratch) {
            Ok(0) => return Ok(()),
            Err(error) if error.kind() != io::ErrorKind::WouldBlock => return Ok(()),
            _ => {}
        }
    }
}
