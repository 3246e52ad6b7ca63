//! The demos' `/generate` reply: the words it is made of and where its checkpoints
//! fall, copied from `sse_demo` (`word`, `CHECKPOINT_EVERY`) so this tool needs
//! neither the demos nor their Redis client to build. Should the two drift apart,
//! every stream of the per-request scenario fails its check, `--quick` included.

/// A checkpoint (an id-only frame, `id: n`) follows every this many words, and
/// the last.
pub(crate) const CHECKPOINT_EVERY: u64 = 100;

/// `sse_demo`'s vocabulary, in turn.
const VOCABULARY: [&str; 16] = [
    "Server", "-Sent", " Events", " stream", " each", " token", " as", " soon", " as", " it",
    " is", " ready,", " in", " order,", " without", " loss.",
];

/// Word `n` of every reply.
pub(crate) fn word(n: u64) -> &'static str {
    VOCABULARY[(n % VOCABULARY.len() as u64) as usize]
}

/// The last checkpoint a client has seen before word `n` (counting from 0) and
/// after all of a reply's `words`: the id its events carry (`None`: no id yet).
pub(crate) fn checkpoint_before(n: u64, words: u64) -> Option<u64> {
    if n >= words && words > 0 {
        return Some(words);
    }
    let last = n / CHECKPOINT_EVERY * CHECKPOINT_EVERY;
    (last > 0).then_some(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints() {
        assert_eq!(checkpoint_before(0, 1000), None);
        assert_eq!(checkpoint_before(99, 1000), None);
        assert_eq!(checkpoint_before(100, 1000), Some(100));
        assert_eq!(checkpoint_before(999, 1000), Some(900));
        assert_eq!(checkpoint_before(1000, 1000), Some(1000));
        assert_eq!(checkpoint_before(50, 50), Some(50));
        assert_eq!(checkpoint_before(0, 0), None);
        assert_eq!(word(0), "Server");
        assert_eq!(word(18), " Events");
    }
}
