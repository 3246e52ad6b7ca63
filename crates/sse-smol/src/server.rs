//! A small HTTP/1.1 server: one path streams from the hub, the rest goes to your
//! handler.

use std::future::Future;
use std::io::{self, Read};
use std::sync::Arc;

use async_io::{Async, Timer};
use async_net::{TcpListener, TcpStream};
use bytes::Bytes;
use futures_lite::future;
use http::StatusCode;
use sse_core::{ConnectOptions, Hub};

use crate::request::{Limits, read_request};
use crate::writer::{write_events, write_head, write_response};

/// How long accepting pauses after an error such as running out of file
/// descriptors.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

type Handler = dyn Fn(http::Request<Bytes>) -> future::Boxed<http::Response<Bytes>> + Send + Sync;

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
    fallback: Arc<Handler>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("events_path", &self.events_path)
            .field("limits", &self.limits)
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
            fallback: Arc::new(|_| {
                Box::pin(async { crate::json_error(StatusCode::NOT_FOUND, "not found") })
            }),
        }
    }

    /// Sets the path that streams.
    #[must_use]
    pub fn events_path(mut self, path: &str) -> Self {
        self.events_path = path.into();
        self
    }

    /// Sets the request limits.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Answers every other request with `handler` (its body read, within the limits).
    #[must_use]
    pub fn fallback<F, R>(mut self, handler: F) -> Self
    where
        F: Fn(http::Request<Bytes>) -> R + Send + Sync + 'static,
        R: Future<Output = http::Response<Bytes>> + Send + 'static,
    {
        self.fallback = Arc::new(move |request| Box::pin(handler(request)));
        self
    }

    /// Accepts connections until the hub shuts down, then waits until every client
    /// is gone. Runs keep-alive meanwhile.
    ///
    /// A failed accept does not stop the server: a connection that went away is
    /// skipped, and running out of file descriptors (or memory) pauses accepting
    /// for 100 ms while the connected clients keep being served.
    ///
    /// # Errors
    ///
    /// When the listener itself is unusable (not listening).
    pub async fn run(self, listener: TcpListener) -> io::Result<()> {
        let keep_alive = {
            let hub = self.hub.clone();
            smol::spawn(async move { hub.run_keep_alive(Timer::after).await })
        };
        let accept = async {
            loop {
                match listener.accept().await {
                    Ok((connection, _)) => {
                        let _ = connection.set_nodelay(true);
                        smol::spawn(self.clone().serve(connection)).detach();
                    }
                    Err(error) => match error.kind() {
                        io::ErrorKind::InvalidInput => return Err(error),
                        io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::Interrupted
                        | io::ErrorKind::PermissionDenied => {}
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

    /// Serves one connection: one request, then close.
    async fn serve(self, connection: TcpStream) {
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
        if request.uri().path() != &*self.events_path {
            let response = (self.fallback)(request).await;
            let _ = write_response(&mut writer, response).await;
            return;
        }
        let (parts, _body) = request.into_parts();
        let options = ConnectOptions::from_request(&parts, self.hub.config())
            .with_query(parts.uri.query().unwrap_or_default());
        let accepted = match self.hub.accept(&parts, options) {
            Ok(accepted) => accepted,
            Err(rejection) => {
                let _ = write_response(&mut writer, rejection.into_response()).await;
                return;
            }
        };
        if write_head(&mut writer, &accepted.head).await.is_err() {
            return;
        }
        let Some(stream) = accepted.stream else {
            return; // HEAD
        };
        drop(reader);
        let socket: Arc<Async<std::net::TcpStream>> = writer.into();
        let _ = future::or(write_events(&mut &*socket, stream), peer_closed(&socket)).await;
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
