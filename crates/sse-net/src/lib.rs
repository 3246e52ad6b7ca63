//! What the SSE serving adapters (`sse-hyper`, which serves axum and warp too, and
//! `sse-smol`) share about connections, with no runtime: each adapter supplies
//! its socket and its timer.
//!
//! | item | use |
//! |---|---|
//! | [`peer_window`], [`Window`] | the peer's TCP receive window as the kernel last heard it (Linux; `None` elsewhere) |
//! | [`PeerWatch`], [`PeerSampler`], [`Verdict`] | whether a peer still reads, from those windows, and when to sample them: a stuck reader is found whatever the size of its unread backlog, not only once the kernel's buffers are full |
//! | [`ConnectionLimits`], [`Connections`], [`Permit`] | connections per peer address and in all |
//! | [`connections_within_file_limit`] | a total that fits in the process's file-descriptor limit |
//! | [`AcceptFailure`], [`ACCEPT_BACKOFF`] | what an accept loop does when `accept` fails: never spin, never stop serving the connected |
//! | [`Timeouts`], [`BodyTimeout`] | how long a connection may take at each step (request head and body, idle, write stall, shutdown), and the error of a body that took too long |
#![deny(unsafe_code)]

mod accept;
mod limit;
mod rlimit;
mod timeouts;
pub mod watch;
mod window;

pub use accept::{ACCEPT_BACKOFF, AcceptFailure};
pub use limit::{ConnectionLimits, Connections, Permit, Refused};
pub use rlimit::{RESERVED_FILES, connections_within_file_limit};
pub use timeouts::{BodyTimeout, Timeouts};
pub use watch::{PeerSampler, PeerWatch, SAMPLE_EVERY, Verdict};
pub use window::Window;
#[cfg(unix)]
pub use window::peer_window;
