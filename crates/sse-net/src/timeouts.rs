//! How long a connection may take at each step, for every serving adapter.

use std::time::Duration;

/// How long a connection may take at each step before it is closed. The defaults
/// suit a server open to the internet; every one is bounded.
///
/// | timeout | default | closes a connection that |
/// |---|---|---|
/// | [`head`](Self::head) | 10 s | sends no request head, or half of one, or sits idle between requests (HTTP/1.1); opens no request at all (`sse_hyper::serve`, HTTP/2 included) |
/// | [`body`](Self::body) | 30 s | has not sent its whole request body by then |
/// | [`idle`](Self::idle) | 60 s | moves no byte either way for that long; or (`sse_hyper::serve`) has no request open for that long, whatever else it sends (HTTP/2 PINGs included); keep it above the keep-alive interval, or idle streams are closed |
/// | [`write_stall`](Self::write_stall) | 30 s | takes none of the bytes waiting for it, or (a TCP socket on Linux) leaves what it was sent unread that long while more is written, keep-alive comments included, however little it holds (see [`watch`](crate::watch)): its stream's client is removed |
/// | [`shutdown`](Self::shutdown) | 5 s | is still open that long after shutdown began |
///
/// Keep the keep-alive interval below `write_stall` as well: a stuck reader's
/// window is checked at each write, so one is found at the first write past
/// `write_stall`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// Reading a request head, from the connection's start or the end of the
    /// previous response (HTTP/1.1); the first request, from the connection's
    /// start (any protocol, with `sse_hyper::serve`).
    pub head: Duration,
    /// Reading a whole request body, from the handler's first read.
    pub body: Duration,
    /// No byte read or written; with `sse_hyper::serve`, also no request open.
    pub idle: Duration,
    /// Bytes waiting, none taken by the socket; or bytes left unread by the peer.
    pub write_stall: Duration,
    /// How long connections may take to end once shutdown began.
    pub shutdown: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            head: Duration::from_secs(10),
            body: Duration::from_secs(30),
            idle: Duration::from_secs(60),
            write_stall: Duration::from_secs(30),
            shutdown: Duration::from_secs(5),
        }
    }
}

impl Timeouts {
    /// Sets [`head`](Self::head).
    #[must_use]
    pub fn head(mut self, head: Duration) -> Self {
        self.head = head;
        self
    }

    /// Sets [`body`](Self::body).
    #[must_use]
    pub fn body(mut self, body: Duration) -> Self {
        self.body = body;
        self
    }

    /// Sets [`idle`](Self::idle).
    #[must_use]
    pub fn idle(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// Sets [`write_stall`](Self::write_stall).
    #[must_use]
    pub fn write_stall(mut self, write_stall: Duration) -> Self {
        self.write_stall = write_stall;
        self
    }

    /// Sets [`shutdown`](Self::shutdown).
    #[must_use]
    pub fn shutdown(mut self, shutdown: Duration) -> Self {
        self.shutdown = shutdown;
        self
    }
}

/// A request body took longer than [`Timeouts::body`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body took too long")
    }
}

impl std::error::Error for BodyTimeout {}
