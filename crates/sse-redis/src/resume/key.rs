//! A stream's Redis keys. Which keys the application may choose is `sse-core`'s
//! rule, [`sse_core::is_valid_key`]: short and URL-safe, so never a brace.

/// The Redis keys of one stream. The application's key is the hash tag (in
/// braces), so Redis Cluster keeps a stream and its companion on one slot, and
/// spreads different streams over the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Keys {
    /// The Redis stream: `{prefix}:{key}`.
    pub(crate) stream: String,
    /// Set by viewers while they follow the stream (when abandoning is on):
    /// `{prefix}:{key}:seen`.
    pub(crate) seen: String,
}

impl Keys {
    /// The keys of `key`, once checked with [`valid`].
    pub(crate) fn new(prefix: &str, key: &str) -> Self {
        let stream = format!("{prefix}:{{{key}}}");
        let seen = format!("{stream}:seen");
        Keys { stream, seen }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_the_application_key_as_their_hash_tag() {
        let keys = Keys::new("sse:resume", "run-42");
        assert_eq!(keys.stream, "sse:resume:{run-42}");
        assert_eq!(keys.seen, "sse:resume:{run-42}:seen");
    }
}
