//! Chunks of a log's frames, shared with the batches that read them.
//!
//! A log keeps its frames in fixed-size chunks behind an [`Arc`]: a stream that
//! reads a run of frames takes one reference to their chunk instead of one to each
//! frame, so a delivery costs no atomic operation of its own, only one per run.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

/// Frames per chunk: small enough for the allocator's fast path (a chunk is
/// about 650 bytes).
pub(crate) const CHUNK_LEN: usize = 16;

/// Up to [`CHUNK_LEN`] frames, each written once by the log (under the hub's lock)
/// before any reader is told it exists.
#[derive(Debug)]
pub(crate) struct Chunk {
    frames: [OnceLock<Bytes>; CHUNK_LEN],
}

/// What an unwritten slot reads as; readers are never given one.
static UNWRITTEN: Bytes = Bytes::new();

impl Chunk {
    pub(crate) fn new() -> Arc<Chunk> {
        Arc::new(Chunk {
            frames: [const { OnceLock::new() }; CHUNK_LEN],
        })
    }

    /// Writes slot `slot` (once; a second write is ignored).
    pub(crate) fn set(&self, slot: usize, frame: Bytes) {
        let _ = self.frames[slot].set(frame);
    }

    /// The frame in slot `slot`.
    #[inline]
    pub(crate) fn frame(&self, slot: usize) -> &Bytes {
        self.frames[slot].get().unwrap_or(&UNWRITTEN)
    }
}
