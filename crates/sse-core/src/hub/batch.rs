//! A batch: the frames a client stream hands out at once, held inline.

use std::fmt;
use std::io::IoSlice;
use std::mem::ManuallyDrop;

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The most frames one [`Batch`] holds.
pub const BATCH_CAPACITY: usize = 32;

/// The frames a [`ClientStream`](super::ClientStream) took in one go, in order, held
/// inline (no heap allocation) and readable as one [`Buf`], so a writer can send
/// them all with one vectored write.
///
/// # Examples
///
/// ```
/// use bytes::Buf;
/// use sse_core::{Batch, Event};
///
/// let mut batch = Batch::new();
/// batch.push(Event::new("a").to_frame().into_bytes());
/// batch.push(Event::new("b").to_frame().into_bytes());
/// assert_eq!(batch.len(), 2);
/// assert_eq!(batch.copy_to_bytes(batch.remaining()), "data: a\n\ndata: b\n\n");
/// ```
pub struct Batch {
    /// Slots at `end` and beyond always hold `Bytes::new()`, which owns nothing, so
    /// they need no drop: only `frames[..end]` are dropped (see `Drop`).
    frames: ManuallyDrop<[Bytes; BATCH_CAPACITY]>,
    /// The frames in use are `frames[start..end]`; `frames[start]` may be partly read.
    start: usize,
    end: usize,
    remaining: usize,
}

impl Batch {
    /// An empty batch.
    #[must_use]
    pub const fn new() -> Self {
        Batch {
            frames: ManuallyDrop::new([const { Bytes::new() }; BATCH_CAPACITY]),
            start: 0,
            end: 0,
            remaining: 0,
        }
    }

    /// Appends a frame.
    ///
    /// # Panics
    ///
    /// If the batch is full; check [`is_full`](Self::is_full) first.
    #[inline]
    pub fn push(&mut self, frame: Bytes) {
        assert!(
            !self.is_full(),
            "a batch holds at most {BATCH_CAPACITY} frames"
        );
        self.remaining += frame.len();
        // The slot holds `Bytes::new()`, which owns nothing: skip its drop (an
        // indirect call through the static vtable).
        std::mem::forget(std::mem::replace(&mut self.frames[self.end], frame));
        self.end += 1;
    }

    /// Appends clones of `frames`, as many as there is room for.
    #[inline]
    pub(crate) fn extend<'f>(&mut self, frames: impl Iterator<Item = &'f Bytes>) {
        for (slot, frame) in self.frames[self.end..].iter_mut().zip(frames) {
            self.remaining += frame.len();
            // As in `push`: the slot owns nothing, skip its drop.
            *slot = frame.clone();
            self.end += 1;
        }
    }

    /// How many more frames it has room for.
    #[inline]
    pub(crate) fn room(&self) -> usize {
        BATCH_CAPACITY - self.end
    }

    /// How many frames it holds (not counting those already read through [`Buf`]).
    #[must_use]
    #[inline]
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether it holds no frame.
    #[must_use]
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Whether it has room for no more frames.
    #[must_use]
    #[inline]
    pub fn is_full(&self) -> bool {
        self.end == BATCH_CAPACITY
    }

    /// The frames, in order (the first one may be partly consumed through [`Buf`]).
    #[must_use]
    pub fn frames(&self) -> &[Bytes] {
        &self.frames[self.start..self.end]
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        // Only the slots in use can own something (see `frames`).
        for frame in &mut self.frames[..self.end] {
            drop(std::mem::take(frame));
        }
    }
}

impl Default for Batch {
    fn default() -> Self {
        Batch::new()
    }
}

impl fmt::Debug for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("frames", &self.len())
            .field("remaining", &self.remaining)
            .finish()
    }
}

impl Buf for Batch {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.frames()
            .iter()
            .find(|f| !f.is_empty())
            .map_or(&[], |f| f)
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining, "advance past the end of a batch");
        self.remaining -= cnt;
        while cnt > 0 {
            let frame = &mut self.frames[self.start];
            let step = cnt.min(frame.len());
            frame.advance(step);
            cnt -= step;
            if frame.is_empty() {
                // Release the frame now rather than when the batch is dropped.
                *frame = Bytes::new();
                self.start += 1;
            }
        }
        while self.start < self.end && self.frames[self.start].is_empty() {
            self.start += 1;
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut filled = 0;
        for (slot, frame) in dst
            .iter_mut()
            .zip(self.frames().iter().filter(|f| !f.is_empty()))
        {
            *slot = IoSlice::new(frame);
            filled += 1;
        }
        filled
    }

    fn copy_to_bytes(&mut self, len: usize) -> Bytes {
        // One whole frame is handed out without a copy.
        match self.frames().first() {
            Some(first) if first.len() == len => {
                let frame = std::mem::take(&mut self.frames[self.start]);
                self.start += 1;
                self.remaining -= len;
                frame
            }
            _ => {
                let mut out = BytesMut::with_capacity(len);
                out.put((&mut *self).take(len));
                out.freeze()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn batch_of(frames: &[&'static [u8]]) -> Batch {
        let mut batch = Batch::new();
        for frame in frames {
            batch.push(Bytes::from_static(frame));
        }
        batch
    }

    #[test]
    fn reads_frames_in_order_across_boundaries() {
        let mut batch = batch_of(&[b"abc", b"", b"de", b"f"]);
        assert_eq!(batch.remaining(), 6);
        assert_eq!(batch.chunk(), b"abc");
        batch.advance(4);
        assert_eq!(batch.chunk(), b"e");
        assert_eq!(batch.remaining(), 2);
        batch.advance(2);
        assert_eq!((batch.remaining(), batch.chunk()), (0, &b""[..]));
        assert!(batch.is_empty());
    }

    #[test]
    fn fills_vectored_slices_up_to_their_count() {
        let batch = batch_of(&[b"a", b"", b"b", b"c"]);
        let mut slices = [IoSlice::new(&[]); 2];
        assert_eq!(batch.chunks_vectored(&mut slices), 2);
        assert_eq!((&*slices[0], &*slices[1]), (&b"a"[..], &b"b"[..]));
    }

    #[test]
    fn holds_up_to_its_capacity() {
        let mut batch = Batch::new();
        while !batch.is_full() {
            batch.push(Bytes::from_static(b"x"));
        }
        assert_eq!(batch.len(), BATCH_CAPACITY);
        assert!(std::panic::catch_unwind(move || batch.push(Bytes::new())).is_err());
    }

    proptest! {
        #[test]
        fn reads_back_what_was_pushed(
            frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 0..BATCH_CAPACITY),
            steps in prop::collection::vec(0usize..30, 0..40),
        ) {
            let mut batch = Batch::new();
            for frame in &frames {
                batch.push(Bytes::from(frame.clone()));
            }
            let expected: Vec<u8> = frames.concat();
            let mut read = Vec::new();
            for step in steps {
                let step = step.min(batch.remaining());
                read.extend_from_slice(&batch.copy_to_bytes(step));
            }
            while batch.has_remaining() {
                let chunk = batch.chunk().to_vec();
                prop_assert!(!chunk.is_empty());
                batch.advance(chunk.len());
                read.extend_from_slice(&chunk);
            }
            prop_assert_eq!(read, expected);
        }
    }
}
