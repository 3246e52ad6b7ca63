//! Chunks of a log's frames, shared with the batches that read them.
//!
//! A log keeps its frames in fixed-size chunks behind an [`Arc`]: a stream that
//! reads a run of frames takes one reference to their chunk instead of one to each
//! frame, so a delivery costs no atomic operation of its own, only one per run.
//!
//! A chunk is filled while readers already share it, one slot after the other, by
//! its one [`ChunkWriter`]. This is the crate's only `unsafe` code: a slot is a
//! plain cell written once, published by a release store of the count of written
//! slots and read after an acquire load of it, so writing a frame costs two plain
//! stores, where a `OnceLock` per slot cost two atomic read-modify-writes and a
//! call (measured: about 15 % of publishing to one client, `benches/fanout.rs`).
//!
//! Why it is sound:
//!
//! - Only a [`ChunkWriter`] writes, and each chunk has exactly one (it is made with
//!   its chunk and is not `Clone`); writing takes `&mut self`, so writes to a chunk
//!   never race with each other.
//! - The writer writes slot `n` only when `written` is `n`, then stores `n + 1`
//!   (release). Slots below `written` are never written again.
//! - A reader reads slot `n` only when it loads `written` (acquire) and finds it
//!   above `n`, and `dropped` at or below `n`: the load synchronises with the
//!   writer's store, so the write happened before the read, and no write to that
//!   slot can follow.
//! - The log drops the frames of entries it evicts early, when it holds the chunk
//!   alone (`&mut`, through `Arc::get_mut`): those slots, a prefix, are counted in
//!   `dropped`, and read as empty from then on. Slots in `dropped..written` are the
//!   initialised ones; dropping the chunk drops them, each once.
//!
//! Layer 1 of the hub: logs.
#![allow(unsafe_code)]

use std::mem::MaybeUninit;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use super::sync::{Arc, AtomicUsize, UnsafeCell};

use bytes::Bytes;

/// Frames per chunk: small enough for the allocator's fast path (a chunk is
/// about 540 bytes).
pub(crate) const CHUNK_LEN: usize = 16;

/// Up to [`CHUNK_LEN`] frames, written once each, in order, by the chunk's
/// [`ChunkWriter`].
pub(crate) struct Chunk {
    /// How many of the first slots had their frame dropped early (changed only
    /// through `&mut`).
    dropped: usize,
    /// How many slots are written: those in `dropped..written` hold a frame.
    written: AtomicUsize,
    slots: [UnsafeCell<MaybeUninit<Bytes>>; CHUNK_LEN],
}

// SAFETY: shared access only reads slots below `written` (acquire), which their one
// writer finished before its release store and never writes again (module docs);
// `Bytes` is `Send + Sync`.
unsafe impl Sync for Chunk {}

// A panic cannot leave a chunk half-changed: a slot is written, then counted, by
// code that does not panic; so batches stay unwind-safe, as they were.
impl std::panic::RefUnwindSafe for Chunk {}

/// What a slot not yet written reads as; readers are never given one.
static UNWRITTEN: Bytes = Bytes::new();

impl Chunk {
    /// The frame in slot `slot` (empty if it is not written yet, or dropped).
    #[inline]
    pub(crate) fn frame(&self, slot: usize) -> &Bytes {
        if slot >= self.dropped && slot < self.written.load(Acquire) {
            // SAFETY: `slot` is below `written`, loaded with acquire: its writer
            // initialised it before the matching release store, and never writes
            // it again; it is not dropped while `&self` lives, since only `&mut`
            // drops a slot (raising `dropped`, which is not above it now).
            self.slots[slot].with(|slot| unsafe { (*slot).assume_init_ref() })
        } else {
            &UNWRITTEN
        }
    }

    /// Drops the frames of slots `..=slot` that are still held: the log frees an
    /// evicted entry's frame at once, rather than with its whole chunk (freeing a
    /// chunk's frames all at once makes the allocator merge and split them).
    pub(crate) fn drop_through(&mut self, slot: usize) {
        let end = (slot + 1).min(self.written.load(Acquire));
        while self.dropped < end {
            let slot = &self.slots[self.dropped];
            self.dropped += 1;
            // SAFETY: the slot is in `dropped..written` (before the increment):
            // initialised, and now outside that range, so it is never read or
            // dropped again; `&mut self` means no reader is left.
            slot.with_mut(|slot| unsafe { (*slot).assume_init_drop() });
        }
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        let written = self.written.load(Acquire);
        for slot in &self.slots[self.dropped..written] {
            // SAFETY: slots in `dropped..written` are initialised, and `&mut self`
            // means no reader is left; each is dropped once, here.
            slot.with_mut(|slot| unsafe { (*slot).assume_init_drop() });
        }
    }
}

impl std::fmt::Debug for Chunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let written = self.written.load(Acquire);
        f.debug_list()
            .entries((self.dropped..written).map(|slot| self.frame(slot)))
            .finish()
    }
}

/// The one handle that fills a [`Chunk`], slot after slot.
#[derive(Debug)]
pub(crate) struct ChunkWriter {
    chunk: Arc<Chunk>,
}

impl ChunkWriter {
    /// A writer with a new, empty chunk.
    pub(crate) fn new() -> Self {
        ChunkWriter {
            chunk: Arc::new(Chunk {
                dropped: 0,
                written: AtomicUsize::new(0),
                slots: std::array::from_fn(|_| UnsafeCell::new(MaybeUninit::uninit())),
            }),
        }
    }

    /// The chunk, to share with readers.
    pub(crate) fn chunk(&self) -> &Arc<Chunk> {
        &self.chunk
    }

    /// The chunk, when no one else holds it (no batch, and the log let go of its
    /// own reference): to drop frames early.
    pub(crate) fn chunk_mut(&mut self) -> Option<&mut Chunk> {
        Arc::get_mut(&mut self.chunk)
    }

    /// Whether every slot is written.
    pub(crate) fn is_full(&self) -> bool {
        self.chunk.written.load(Relaxed) == CHUNK_LEN
    }

    /// Writes `frame` into the next slot.
    ///
    /// # Panics
    ///
    /// If the chunk is full; check [`is_full`](Self::is_full) first.
    pub(crate) fn push(&mut self, frame: Bytes) {
        // Only this writer stores `written`, so its own last store is what it loads.
        let next = self.chunk.written.load(Relaxed);
        let slot = &self.chunk.slots[next];
        // SAFETY: this writer is the chunk's only one and `&mut self` is exclusive,
        // so no other write races with this one; readers read slot `next` only once
        // `written` is above it, which the release store below makes it, after this
        // write. The slot was never written: `written` only grows.
        slot.with_mut(|slot| unsafe { (*slot).write(frame) });
        self.chunk.written.store(next + 1, Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_read_once_written_and_dropped_with_the_chunk() {
        let frame = Bytes::from(vec![b'x'; 100]);
        let mut writer = ChunkWriter::new();
        let chunk = writer.chunk().clone();
        assert!(chunk.frame(0).is_empty());
        for _ in 0..CHUNK_LEN {
            assert!(!writer.is_full());
            writer.push(frame.clone());
        }
        assert!(writer.is_full());
        assert!((0..CHUNK_LEN).all(|slot| *chunk.frame(slot) == frame));
        drop((writer, chunk));
        // Every clone the chunk held was dropped with it.
        assert!(frame.is_unique());
    }

    #[test]
    fn frames_dropped_early_read_as_empty_and_are_dropped_once() {
        let frame = Bytes::from(vec![b'x'; 100]);
        let mut writer = ChunkWriter::new();
        for _ in 0..4 {
            writer.push(frame.clone());
        }
        let mut chunk = writer.chunk().clone();
        drop(writer);
        let only = Arc::get_mut(&mut chunk).expect("the writer is gone");
        only.drop_through(1);
        only.drop_through(0);
        assert!(chunk.frame(0).is_empty() && chunk.frame(1).is_empty());
        assert_eq!(*chunk.frame(2), frame);
        // Beyond what was written, nothing happens.
        Arc::get_mut(&mut chunk)
            .expect("alone")
            .drop_through(CHUNK_LEN - 1);
        assert!(chunk.frame(3).is_empty());
        drop(chunk);
        assert!(frame.is_unique());
    }

    #[test]
    fn readers_on_other_threads_see_every_frame_written_before_they_look() {
        let mut writer = ChunkWriter::new();
        let chunk = writer.chunk().clone();
        let reader = std::thread::spawn(move || {
            let mut seen = 0;
            while seen < CHUNK_LEN {
                let frame = chunk.frame(seen);
                if !frame.is_empty() {
                    assert_eq!(frame, seen.to_string().as_bytes());
                    seen += 1;
                }
            }
        });
        for slot in 0..CHUNK_LEN {
            writer.push(Bytes::from(slot.to_string()));
        }
        reader.join().expect("the reader saw every frame");
    }
}
