//! Stream keys: which the application may choose, and their Redis keys.

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

/// Whether the application's `key` may name a stream: 1 to `max_len` bytes of
/// visible ASCII, without braces (they would move the hash tag).
pub(crate) fn valid(key: &str, max_len: usize) -> bool {
    !key.is_empty()
        && key.len() <= max_len
        && key
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'{' && b != b'}')
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

    #[test]
    fn only_short_visible_keys_without_braces_are_valid() {
        for good in ["a", "run-42", "conv/7:msg.3", &"k".repeat(16)] {
            assert!(valid(good, 16), "{good:?}");
        }
        for bad in ["", "a b", "a\nb", "{a}", "a}", "é", "\0", &"k".repeat(17)] {
            assert!(!valid(bad, 16), "{bad:?}");
        }
    }
}
