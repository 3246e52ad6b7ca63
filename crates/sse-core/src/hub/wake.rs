//! Wakers collected under a lock and woken after it, without allocating: the hub's
//! publishes and a resumable stream's sends both take them this way.
//!
//! Layer 1 of the hub: logs (`crate::resume`, above the hub, uses it too).

use std::mem::ManuallyDrop;
use std::task::Waker;

/// At most `N` wakers, taken under a lock, to wake once it is released (a waker
/// woken under the lock could run its task on another thread straight into it).
/// Dropping the list wakes what it still holds, so a waker taken is never lost.
#[derive(Debug)]
pub(crate) struct WakeList<const N: usize> {
    /// Only `wakers[..len]` can hold a waker: dropping looks at those alone (most
    /// appends find nobody waiting).
    wakers: ManuallyDrop<[Option<Waker>; N]>,
    len: usize,
}

impl<const N: usize> Default for WakeList<N> {
    fn default() -> Self {
        WakeList {
            wakers: ManuallyDrop::new([const { None }; N]),
            len: 0,
        }
    }
}

impl<const N: usize> WakeList<N> {
    /// Whether it holds `N` wakers: wake them before taking more.
    pub(crate) fn is_full(&self) -> bool {
        self.len == N
    }

    /// Adds a waker; the list must not be full.
    pub(crate) fn push(&mut self, waker: Waker) {
        self.wakers[self.len] = Some(waker);
        self.len += 1;
    }

    /// Wakes every waker held, emptying the list.
    pub(crate) fn wake_all(&mut self) {
        for waker in &mut self.wakers[..self.len] {
            if let Some(waker) = waker.take() {
                waker.wake();
            }
        }
        self.len = 0;
    }
}

impl<const N: usize> Drop for WakeList<N> {
    fn drop(&mut self) {
        self.wake_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn wakes_each_waker_once_and_what_is_left_when_dropped() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let mut list = WakeList::<2>::default();
        list.push(Waker::from(count.clone()));
        list.push(Waker::from(count.clone()));
        assert!(list.is_full());
        list.wake_all();
        assert_eq!(count.0.load(Ordering::Relaxed), 2);
        assert!(!list.is_full());
        list.wake_all();
        assert_eq!(count.0.load(Ordering::Relaxed), 2, "emptied");
        list.push(Waker::from(count.clone()));
        drop(list);
        assert_eq!(count.0.load(Ordering::Relaxed), 3, "never lost");
    }
}
