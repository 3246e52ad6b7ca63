//! The readers waiting on a log, to wake on its next append.
//!
//! Layer 1 of the hub: logs.

use super::keys::ClientKey;

/// How many keys of departed clients may pile up, at least, before they are swept.
const SWEEP_FROM: usize = 32;

/// The keys of the clients waiting on one log. It owns two rules:
///
/// - a client is listed once per wait: the caller lists it only when its cursor on
///   the log is not already marked listed, and clears the mark when its key is
///   taken ([`pop`](Self::pop));
/// - a client that leaves while listed costs O(1): its key stays until it is
///   popped (and skipped) or until departed keys are half the list, when one sweep
///   drops them all ([`forget_one`](Self::forget_one)).
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    keys: Vec<ClientKey>,
    /// How many of `keys` are of clients that have left since.
    departed: usize,
}

impl Waiters {
    /// Whether no one waits.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Lists a client that found nothing to read.
    #[inline]
    pub(crate) fn list(&mut self, key: ClientKey) {
        self.keys.push(key);
    }

    /// Takes a waiting client's key, the newest first; `is_live` says whether its
    /// client is still there (a departed one is skipped and its count settled).
    #[inline]
    pub(crate) fn pop(&mut self, is_live: impl Fn(ClientKey) -> bool) -> Option<ClientKey> {
        loop {
            let key = self.keys.pop()?;
            if is_live(key) {
                return Some(key);
            }
            self.departed = self.departed.saturating_sub(1);
        }
    }

    /// Notes that a listed client has left; sweeps the departed keys out (keeping
    /// those for which `is_live` holds) once they are at least half the list.
    pub(crate) fn forget_one(&mut self, is_live: impl Fn(ClientKey) -> bool) {
        self.departed += 1;
        if self.departed >= SWEEP_FROM && self.departed * 2 >= self.keys.len() {
            self.keys.retain(|&key| is_live(key));
            self.departed = 0;
        }
    }

    /// How many keys are held, departed ones included.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(index: usize) -> ClientKey {
        ClientKey {
            index,
            generation: 0,
        }
    }

    #[test]
    fn pop_skips_the_departed_newest_first() {
        let mut waiters = Waiters::default();
        for index in 0..4 {
            waiters.list(key(index));
        }
        let live = |k: ClientKey| k.index != 3 && k.index != 1;
        waiters.forget_one(live);
        waiters.forget_one(live);
        assert_eq!(waiters.pop(live), Some(key(2)));
        assert_eq!(waiters.pop(live), Some(key(0)));
        assert_eq!(waiters.pop(live), None);
        assert!(waiters.is_empty());
        assert_eq!(waiters.departed, 0, "settled as they were skipped");
    }

    #[test]
    fn departed_keys_are_swept_once_they_are_half_the_list() {
        let mut waiters = Waiters::default();
        for index in 0..2 * SWEEP_FROM {
            waiters.list(key(index));
        }
        let live = |k: ClientKey| k.index >= SWEEP_FROM;
        for _ in 0..SWEEP_FROM - 1 {
            waiters.forget_one(live);
        }
        assert_eq!(waiters.len(), 2 * SWEEP_FROM, "not yet");
        waiters.forget_one(live);
        assert_eq!(waiters.len(), SWEEP_FROM, "swept");
        assert_eq!(waiters.departed, 0);
    }
}
