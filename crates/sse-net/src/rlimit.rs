//! The process's file-descriptor limit, for a default [`ConnectionLimits::total`](crate::ConnectionLimits::total).

/// Descriptors a server keeps for what is not a client connection (the listener,
/// standard streams, a backplane's connections, files it serves) and for
/// accepting one connection past the limit in order to close it.
pub const RESERVED_FILES: usize = 64;

/// How many connections fit in the process's open-file limit (its soft
/// `RLIMIT_NOFILE`) with [`RESERVED_FILES`] kept aside; `None` when there is no
/// such limit (or not on Unix).
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
        Some(limit.saturating_sub(RESERVED_FILES).max(1))
    }
    #[cfg(not(unix))]
    {
        None
    }
}
