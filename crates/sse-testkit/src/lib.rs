//! What the workspace's tests (and the load tool) share: the processes they run
//! and the clients they read with. Not published.
//!
//! | module | what it is |
//! |---|---|
//! | [`demo`] | a demo server in a child process, killed when the guard drops, and plain HTTP to its JSON routes; each adapter's demo ([`adapter!`]) and [`run`](demo::run) for a case |
//! | [`client`] | an SSE client over reqwest (HTTP/1.1 or h2c), and a raw one that reads only when told |
//! | [`redis`] | a throwaway `redis-server` on a free port |
//!
//! Every wait is bounded by [`TIMEOUT`], so a failing test neither hangs nor leaves
//! a process behind.

pub mod client;
pub mod demo;
pub mod redis;

pub use demo::TIMEOUT;
