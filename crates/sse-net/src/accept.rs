//! What an accept loop does when `accept` fails.

use std::io;
use std::time::Duration;

/// How long an accept loop pauses when the process (or the system) is out of
/// file descriptors or memory: the connected clients are served meanwhile, and
/// the loop does not spin on an error that repeats until something closes.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What to do after a failed `accept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcceptFailure {
    /// That one connection failed (it was reset, say): accept the next at once.
    Next,
    /// Out of a resource (file descriptors, memory, buffers): pause for
    /// [`ACCEPT_BACKOFF`], then accept again.
    Pause,
    /// The listener itself is unusable (not listening): stop.
    Stop,
}

impl AcceptFailure {
    /// Sorts `error` from `accept`.
    ///
    /// ```
    /// use sse_net::AcceptFailure;
    ///
    /// let too_many_files = std::io::Error::from_raw_os_error(24); // EMFILE on Linux.
    /// # #[cfg(target_os = "linux")]
    /// assert_eq!(AcceptFailure::of(&too_many_files), AcceptFailure::Pause);
    /// let reset = std::io::Error::from(std::io::ErrorKind::ConnectionAborted);
    /// assert_eq!(AcceptFailure::of(&reset), AcceptFailure::Next);
    /// ```
    #[must_use]
    pub fn of(error: &io::Error) -> Self {
        match error.kind() {
            io::ErrorKind::InvalidInput | io::ErrorKind::NotConnected => AcceptFailure::Stop,
            io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::PermissionDenied => AcceptFailure::Next,
            // EMFILE, ENFILE, ENOBUFS, ENOMEM, and anything unforeseen: pausing
            // costs the server 100 ms of accepting at worst; spinning costs a core.
            _ => AcceptFailure::Pause,
        }
    }
}
