//! The process's file-descriptor limit, for a default [`ConnectionLimits::total`](crate::ConnectionLimits::total).

/// Descriptors a server keeps for what is not a client connection (the listener,
/// standard streams, the runtime's, a backplane's connections, files it serves)
/// and for accepting a connection past the limit in order to close it: a quarter
/// of its limit, at most this many.
pub const RESERVED_FILES: usize = 64;

/// How many connections fit in the process's open-file limit (its soft
/// `RLIMIT_NOFILE`) with a quarter of it, at most [`RESERVED_FILES`], kept aside;
/// `None` when there is no such limit (or not on Unix).
///
/// ```
/// if let Some(connections) = sse_net::connections_within_file_limit() {
///     assert!(connections >= 1);
/// }
/// ```
#[must_use]
pub fn connections_within_file_limit() -> Option<usize> {
    #[cfg(unix)]
    {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current?;
        let limit = usize::try_from(limit).ok()?;
        Some(limit.saturating_sub(RESERVED_FILES.min(limit / 4)).max(1))
    }
    #[cfg(not(unix))]
    {
        None
    }
}
