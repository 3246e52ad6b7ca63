//! The demos' `/generate` reply: its words and checkpoints are `sse_demo`'s own
//! (`word`, `CHECKPOINT_EVERY`), so the check cannot drift from the contract.

pub(crate) use sse_demo::{CHECKPOINT_EVERY, word};

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
