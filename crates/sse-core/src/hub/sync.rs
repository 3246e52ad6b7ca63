//! The hub's one lock, swapped for loom's when model checking (`--cfg loom`), so
//! loom can explore every interleaving of readers registering wakers and publishers
//! waking them.

#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};
