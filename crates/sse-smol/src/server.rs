//! A small HTTP/1.1 server: one path streams from the hub, the rest goes to your
//! handler.

use std::future::Future;
use std::io::{self, Read};
use std::sync::Arc;
use std::time::Duration;

use async_io::{Async, Timer};
use async_net::{TcpListener, TcpStream};
use bytes::Bytes;
use futures_lite::future;
use http::StatusCode;
use sse_core::{ClientStream, ConnectOptions, Hub, ResponseStream};
use sse_net::{ACCEPT_BACKOFF, AcceptFailure, ConnectionLimits, Connections, Permit};

use crate::request::{Limits, read_request};
use crate::stall::WriteTimeout;
use crate::writer::{write_events, write_head, write_response, write_stream};

type Handler = dyn Fn(http::Request<Bytes>) -> future::Boxed<http::Response<Body>> + Send + Sync;

/// The body of a [`Server::fallback`]'s response: whole bytes, or your own
/// stream of events (a per-request stream: its head is written and flushed at
/// once, then every message as it is ready).
#[derive(Debug)]
pub enum Body {
    /// A whole body, sent with its `Content-Length`.
    Full(Bytes),
    /// Your events, as [`write_stream`](crate::write_stream) writes them.
    Stream(ResponseStream),
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Body::Full(bytes)
    }
}

impl From<ResponseStream> for Body {
    fn from(stream: ResponseStream) -> Self {
        Body::Stream(stream)
    }
}

/// A per-request SSE response for [`Server::fallback`]: the SSE head and your
/// stream (a [`channel`](sse_core::channel)'s receiver, any stream of messages, or
/// a [`ResponseStream`] you configured).
///
/// ```
/// use sse_core::{Event, channel};
///
/// let server = sse_smol::Server::new(sse_core::Hub::default()).fallback(|_request| async {
///     let (sender, receiver) = channel(16);
///     smol::spawn(async move {
///         let _ = sender.send(Event::new("working")).await;
///     })
///     .detach();
///     sse_smol::stream_response(receiver)
/// });
/// # let _ = server;
/// ```
pub fn stream_response(stream: impl sse_core::IntoResponseStream) -> http::Response<Body> {
    sse_core::response_head(http::Version::HTTP_11)
        .map(|()| Body::Stream(stream.into_response_stream()))
}

/// An HTTP/1.1 server for a hub: requests for [`events_path`](Self::events_path)
/// (`/events` by default) stream (`GET`, `HEAD`; other methods get 405), every
/// other request goes to the [`fallback`](Self::fallback) (404 by default).
///
/// Every connection is its own task; requests are bounded by [`Limits`] (malformed,
/// oversized or slow ones get 400, 431, 413, 408 and are closed), so a misbehaving
/// client never affects the others. Keep-alive comments run on `async-io` timers.
///
/// # Examples
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
///     // Serves until `hub.shutdown(..)` is called and every stream has ended.
///     Server::new(hub).run(listener).await
/// })
/// # .unwrap();
/// ```
#[derive(Clone)]
pub struct Server {
    hub: Hub,
    events_path: Arc<str>,
    limits: Limits,
    write_stall: Duration,
    connections: ConnectionLimits,
    fallback: Arc<Handler>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("events_path", &self.events_path)
            .field("limits", &self.limits)
            .field("write_stall", &self.write_stall)
            .field("connections", &self.connections)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server streaming `hub` at `/events`, answering 404 elsewhere.
    #[must_use]
    pub fn new(hub: Hub) -> Self {
        Server {
            hub,
            events_path: "/events".into(),
            limits: Limits::default(),
            write_stall: Duration::from_secs(30),
            connections: ConnectionLimits::default(),
            fallback: Arc::new(|_| {
                Box::pin(async {
                    crate::json_error(StatusCode::NOT_FOUND, "not found").map(Body::Full)
                })
            }),
        }
    }

    /// Sets the path that streams.
    #[must_use]
    pub fn events_path(mut self, path: &str) -> Self {
        self.events_path = path.into();
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

    /// Sets the request limits.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Answers every other request with `handler` (its body read, within the
    /// limits): a whole response (`http::Response<Bytes>`), or a per-request stream
    /// ([`stream_response`]).
    #[must_use]
    pub fn fallback<F, R, B>(mut self, handler: F) -> Self
    where
        F: Fn(http::Request<Bytes>) -> R + Send + Sync + 'static,
        R: Future<Output = http::Response<B>> + Send + 'static,
        B: Into<Body>,
    {
        self.fallback = Arc::new(move |request| {
            let response = handler(request);
            Box::pin(async move { response.await.map(Into::into) })
        });
        self
    }

    /// Accepts connections until the hub shuts down, then waits until every client
    /// is gone. Runs keep-alive meanwhile.
    ///
    /// A failed accept does not stop the server, nor spin: a connection that went
    /// away is skipped, and running out of file descriptors (or memory) pauses
    /// accepting for 100 ms while the connected clients keep being served.
    ///
    /// # Errors
    ///
    /// When the listener itself is unusable (not listening).
    pub async fn run(self, listener: TcpListener) -> io::Result<()> {
        let keep_alive = {
            let hub = self.hub.clone();
            smol::spawn(async move { hub.run_keep_alive(Timer::after).await })
        };
        let connections = Connections::new(self.connections);
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
                        smol::spawn(self.clone().serve(connection, permit)).detach();
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
        let stopping = async {
            self.hub.shutting_down().await;
            Ok(())
        };
        let accepted: io::Result<()> = future::or(accept, stopping).await;
        self.hub.closed().await;
        keep_alive.cancel().await;
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
                    let _ =
                        write_response(&mut writer, crate::json_error(status, &error.to_string()))
                            .await;
                }
                return;
            }
        };
        drop(reader);
        let (head, body) = if request.uri().path() == &*self.events_path {
            self.events(request)
        } else {
            match (self.fallback)(request).await.into_parts() {
                (head, Body::Full(bytes)) => (head, Reply::Full(bytes)),
                (head, Body::Stream(stream)) => (head, Reply::Stream(stream)),
            }
        };
        let body = match body {
            Reply::Full(bytes) => {
                let _ = write_response(&mut writer, http::Response::from_parts(head, bytes)).await;
                return;
            }
            body => body,
        };
        if write_head(&mut writer, &http::Response::from_parts(head, ()))
            .await
            .is_err()
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
                Reply::Events(stream) => write_events(&mut writer, stream).await,
                Reply::Stream(stream) => write_stream(&mut writer, stream).await,
                Reply::Full(_) | Reply::Empty => Ok(()),
            }
        };
        let _ = future::or(write, future::or(peer_closed(&socket), stuck)).await;
    }

    /// Connects a client to the hub, or refuses it.
    fn events(&self, request: http::Request<Bytes>) -> (http::response::Parts, Reply) {
        let (parts, _body) = request.into_parts();
        let options = ConnectOptions::from_parts(&parts, self.hub.config());
        match self.hub.accept(&parts, options) {
            Ok(accepted) => {
                let body = accepted.stream.map_or(Reply::Empty, Reply::Events);
                (accepted.head.into_parts().0, body)
            }
            Err(rejection) => {
                let (head, bytes) = rejection.into_response().into_parts();
                (head, Reply::Full(bytes))
            }
        }
    }
}

/// What a request is answered with, after its head.
enum Reply {
    Full(Bytes),
    /// A hub client's stream.
    Events(ClientStream),
    /// A per-request stream.
    Stream(ResponseStream),
    /// Nothing after the head (`HEAD`).
    Empty,
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
