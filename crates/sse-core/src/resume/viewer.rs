//! A viewer: one attached response's reader of a resumable stream.

use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::BytesMut;

use super::Shared;
use super::metrics::Counters;
use super::stream::{Read, Stream};
use super::wire::resync_frame;
use crate::Frame;

/// The most bytes copied into one item (a frame larger than that is one item of
/// its own): the response's own default batch.
const MAX_ITEM: usize = 64 * 1024;

/// Reads a stream from its cursor on, as a [`Stream`](futures_core::Stream) for a
/// [`ResponseStream`](crate::ResponseStream): under the stream's lock it copies
/// every frame ready (up to [`MAX_ITEM`] bytes) into one buffer it reuses, and
/// yields them as one item. The response copies the bytes as they are, so an item
/// holding several frames is what it sends anyway, and a token costs no reference
/// count, allocation or poll of its own.
pub(crate) struct Viewer {
    stream: Arc<Stream>,
    shared: Weak<Shared>,
    counters: Arc<Counters>,
    /// Its slot among the stream's viewers (its waker).
    slot: usize,
    /// The log-local index of the next message to read.
    cursor: u64,
    /// The resync event is owed before the next frame.
    resync: bool,
    /// Where the frames read are copied, then split off as one item (reclaimed
    /// once the response has copied it).
    out: BytesMut,
    /// The end event was handed out.
    done: bool,
}

impl Viewer {
    pub(crate) fn new(
        stream: Arc<Stream>,
        shared: Weak<Shared>,
        counters: Arc<Counters>,
        slot: usize,
        cursor: u64,
        resync: bool,
    ) -> Self {
        if resync {
            Counters::add(&counters.resyncs, 1);
        }
        Viewer {
            stream,
            shared,
            counters,
            slot,
            cursor,
            resync,
            out: BytesMut::new(),
            done: false,
        }
    }
}

impl futures_core::Stream for Viewer {
    type Item = Frame;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Frame>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let out = &mut this.out;
        // The resync event owed since it was attached goes first.
        let owed = std::mem::take(&mut this.resync);
        if owed {
            out.extend_from_slice(&resync_frame());
        }
        let read = this
            .stream
            .read(this.slot, &mut this.cursor, out, MAX_ITEM, cx.waker());
        match read {
            Read::Frames { resync: false } | Read::Pending => {}
            // Placed at the oldest held already: its gap is the one announced.
            Read::Frames { resync: true } if owed => {}
            Read::Frames { resync: true } => {
                Counters::add(&this.counters.resyncs, 1);
                // Owed before what it read: it goes first.
                let frames = out.split();
                out.extend_from_slice(&resync_frame());
                out.unsplit(frames);
            }
            Read::End(frame) => {
                this.done = true;
                out.extend_from_slice(&frame);
            }
        }
        if out.is_empty() {
            return Poll::Pending;
        }
        Poll::Ready(Some(Frame::from_encoded(out.split().freeze())))
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        match self.shared.upgrade() {
            Some(shared) => shared.detach(&self.stream, self.slot, Instant::now()),
            None => {
                self.stream.detach(self.slot);
            }
        }
    }
}

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("key", &self.stream.key)
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}
