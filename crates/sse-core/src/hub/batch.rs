//! A batch: the frames a client stream hands out at once, held inline.
//!
//! Layer 1 of the hub: logs.

use super::sync::Arc;
use std::fmt;
use std::io::IoSlice;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::chunk::Chunk;

/// The most frames one [`Batch`] holds.
pub const BATCH_CAPACITY: usize = 32;

/// The most pieces (frames of their own, or runs of a log's frames) one batch holds.
const PIECES: usize = 8;

/// The frames a [`ClientStream`](super::ClientStream) took in one go, in order, held
/// inline (no heap allocation) and readable as one [`Buf`], so a writer can send
/// them all with one vectored write.
///
/// Frames read from the hub's logs are not copied, nor even counted one by one: a
/// run of them is one shared reference to the log's storage. A batch holds up to
/// [`BATCH_CAPACITY`] frames, in at most 8 pieces (runs, or frames of their own).
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
    /// The pieces in use are `pieces[head..used]`, in order.
    pieces: [Option<Piece>; PIECES],
    head: usize,
    used: usize,
    /// Within `pieces[head]`, when it is a run: the frames already read.
    head_frame: usize,
    /// Bytes already read of the first unread frame (of a run; a frame of its own
    /// is advanced itself).
    head_offset: usize,
    /// Frames not yet read completely.
    frames: usize,
    remaining: usize,
}

enum Piece {
    /// A frame of its own: a direct frame, a lead frame, a keep-alive.
    Frame(Bytes),
    /// Frames `start..end` of a log chunk, shared with every reader of the log.
    Run {
        chunk: Arc<Chunk>,
        start: usize,
        end: usize,
    },
}

impl Piece {
    fn frame_count(&self) -> usize {
        match self {
            Piece::Frame(_) => 1,
            Piece::Run { start, end, .. } => end - start,
        }
    }

    /// Frame `n` of the piece.
    fn frame(&self, n: usize) -> &Bytes {
        match self {
            Piece::Frame(frame) => frame,
            Piece::Run { chunk, start, .. } => chunk.frame(start + n),
        }
    }
}

impl Batch {
    /// An empty batch.
    #[must_use]
    pub const fn new() -> Self {
        Batch {
            pieces: [const { None }; PIECES],
            head: 0,
            used: 0,
            head_frame: 0,
            head_offset: 0,
            frames: 0,
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
        assert!(!self.is_full(), "the batch is full");
        self.remaining += frame.len();
        self.frames += 1;
        self.pieces[self.used] = Some(Piece::Frame(frame));
        self.used += 1;
    }

    /// Appends as many of the frames `start..end` of `chunk` as there is room for,
    /// sharing them; returns how many.
    #[inline]
    pub(crate) fn extend_run(&mut self, chunk: &Arc<Chunk>, start: usize, end: usize) -> usize {
        let end = end.min(start + self.room());
        if end <= start {
            return 0;
        }
        let last = self
            .used
            .checked_sub(1)
            .and_then(|i| self.pieces[i].as_mut());
        match last {
            // The run goes on where the last one stopped: widen it.
            Some(Piece::Run {
                chunk: last,
                end: last_end,
                ..
            }) if Arc::ptr_eq(last, chunk) && *last_end == start => *last_end = end,
            _ if self.used == PIECES => return 0,
            _ => {
                self.pieces[self.used] = Some(Piece::Run {
                    chunk: chunk.clone(),
                    start,
                    end,
                });
                self.used += 1;
            }
        }
        self.remaining += (start..end)
            .map(|slot| chunk.frame(slot).len())
            .sum::<usize>();
        self.frames += end - start;
        end - start
    }

    /// How many more frames it has room for.
    #[inline]
    pub(crate) fn room(&self) -> usize {
        BATCH_CAPACITY - self.frames
    }

    /// How many frames it holds (not counting those already read through [`Buf`]).
    #[must_use]
    #[inline]
    pub fn len(&self) -> usize {
        self.frames
    }

    /// Whether it holds no frame.
    #[must_use]
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.frames == 0
    }

    /// Whether it has room for no more frames.
    #[must_use]
    #[inline]
    pub fn is_full(&self) -> bool {
        self.frames == BATCH_CAPACITY || self.used == PIECES
    }

    /// The frames not yet read completely, in order (the first may be partly read
    /// through [`Buf`]: it is given whole).
    pub fn frames(&self) -> impl Iterator<Item = &Bytes> + '_ {
        let mut skip = self.head_frame;
        self.pieces[self.head..self.used]
            .iter()
            .flatten()
            .flat_map(move |piece| {
                let from = std::mem::take(&mut skip);
                (from..piece.frame_count()).map(|n| piece.frame(n))
            })
    }

    /// The unread bytes of every frame, in order, the first from its offset.
    fn unread(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut offset = self.head_offset;
        self.frames()
            .map(move |frame| &frame[std::mem::take(&mut offset)..])
            .filter(|bytes| !bytes.is_empty())
    }

    /// Marks the first unread frame as read.
    fn next_frame(&mut self) {
        self.head_offset = 0;
        self.frames -= 1;
        let Some(piece) = self.pieces[self.head].as_ref() else {
            return;
        };
        self.head_frame += 1;
        if self.head_frame == piece.frame_count() {
            // Release the piece now rather than when the batch is dropped.
            self.pieces[self.head] = None;
            self.head += 1;
            self.head_frame = 0;
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
        self.unread().next().unwrap_or_default()
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining, "advance past the end of a batch");
        self.remaining -= cnt;
        while self.frames > 0 {
            let Some(piece) = self.pieces[self.head].as_mut() else {
                break;
            };
            let unread = piece.frame(self.head_frame).len() - self.head_offset;
            if cnt < unread {
                match piece {
                    Piece::Frame(frame) => frame.advance(cnt),
                    Piece::Run { .. } => self.head_offset += cnt,
                }
                return;
            }
            cnt -= unread;
            self.next_frame();
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut filled = 0;
        for (slot, bytes) in dst.iter_mut().zip(self.unread()) {
            *slot = IoSlice::new(bytes);
            filled += 1;
        }
        filled
    }

    fn copy_to_bytes(&mut self, len: usize) -> Bytes {
        // One whole frame is handed out without a copy.
        let whole = (self.head_offset == 0)
            .then(|| self.frames().find(|frame| !frame.is_empty()))
            .flatten()
            .filter(|first| first.len() == len)
            .cloned();
        if let Some(frame) = whole {
            self.advance(len);
            return frame;
        }
        let mut out = BytesMut::with_capacity(len);
        out.put((&mut *self).take(len));
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::chunk::{CHUNK_LEN, ChunkWriter};
    use proptest::prelude::*;

    fn batch_of(frames: &[&'static [u8]]) -> Batch {
        let mut batch = Batch::new();
        for frame in frames {
            batch.push(Bytes::from_static(frame));
        }
        batch
    }

    fn chunk_of(frames: impl IntoIterator<Item = Bytes>) -> Arc<Chunk> {
        let mut writer = ChunkWriter::new();
        for frame in frames {
            writer.push(frame);
        }
        writer.chunk().clone()
    }

    fn read_all(batch: &mut Batch) -> Vec<u8> {
        batch.copy_to_bytes(batch.remaining()).to_vec()
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
    fn runs_of_a_chunk_are_shared_widened_and_read_like_frames() {
        let chunk = chunk_of([&b"a"[..], b"bb", b"ccc", b"dddd"].map(Bytes::from_static));
        let mut batch = batch_of(&[b"lead "]);
        assert_eq!(batch.extend_run(&chunk, 0, 2), 2);
        assert_eq!(batch.extend_run(&chunk, 2, 3), 1, "widens the last run");
        assert_eq!(batch.used, 2, "two pieces");
        batch.push(Bytes::from_static(b" own "));
        assert_eq!(batch.extend_run(&chunk, 3, 4), 1);
        assert_eq!(batch.len(), 6);
        let frames: Vec<&[u8]> = batch.frames().map(|f| &f[..]).collect();
        assert_eq!(
            frames,
            [&b"lead "[..], b"a", b"bb", b"ccc", b" own ", b"dddd"]
        );
        batch.advance(6);
        assert_eq!(batch.chunk(), b"bb");
        batch.advance(1);
        assert_eq!(batch.chunk(), b"b");
        assert_eq!(read_all(&mut batch), b"bccc own dddd");
        assert!(batch.is_empty());
        assert_eq!(Arc::strong_count(&chunk), 1, "read pieces are released");
    }

    #[test]
    fn fills_vectored_slices_up_to_their_count() {
        let batch = batch_of(&[b"a", b"", b"b", b"c"]);
        let mut slices = [IoSlice::new(&[]); 2];
        assert_eq!(batch.chunks_vectored(&mut slices), 2);
        assert_eq!((&*slices[0], &*slices[1]), (&b"a"[..], &b"b"[..]));
    }

    #[test]
    fn holds_up_to_its_capacity_in_frames_and_in_pieces() {
        let chunk = chunk_of(vec![Bytes::from_static(b"x"); CHUNK_LEN]);
        let mut batch = Batch::new();
        let mut taken = 0;
        while !batch.is_full() {
            taken += batch.extend_run(&chunk, 0, CHUNK_LEN);
        }
        assert_eq!(taken, BATCH_CAPACITY);
        let mut batch = Batch::new();
        while !batch.is_full() {
            batch.push(Bytes::from_static(b"x"));
        }
        assert_eq!(batch.len(), PIECES);
        assert_eq!(batch.extend_run(&chunk, 0, 1), 0);
        assert!(std::panic::catch_unwind(move || batch.push(Bytes::new())).is_err());
    }

    proptest! {
        #[test]
        fn reads_back_what_was_added(
            pieces in prop::collection::vec(
                (any::<bool>(), prop::collection::vec(prop::collection::vec(any::<u8>(), 0..12), 1..6)),
                0..PIECES,
            ),
            steps in prop::collection::vec(0usize..30, 0..40),
        ) {
            let mut batch = Batch::new();
            let mut expected = Vec::new();
            for (shared, frames) in &pieces {
                if *shared {
                    let chunk = chunk_of(frames.iter().cloned().map(Bytes::from));
                    let taken = batch.extend_run(&chunk, 0, frames.len());
                    expected.extend(frames[..taken].concat());
                } else if !batch.is_full() {
                    batch.push(Bytes::from(frames[0].clone()));
                    expected.extend(&frames[0]);
                }
            }
            prop_assert_eq!(batch.remaining(), expected.len());
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
            prop_assert_eq!(batch.remaining(), 0);
        }
    }
}
