//! A viewer: one attached response's reader of a resumable stream.

use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Instant;

use super::Shared;
use super::metrics::Counters;
use super::stream::{Read, Stream};
use super::wire::resync_frame;
use crate::{Batch, Frame};

/// Reads a stream from its cursor on, as a [`Stream`](futures_core::Stream) of
/// frames for a [`ResponseStream`](crate::ResponseStream): under the stream's
/// lock it takes every frame ready (up to a batch, sharing the log's chunks),
/// then hands them out one by one without it.
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
    /// Frames taken, not yet handed out.
    batch: Batch,
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
            batch: Batch::new(),
            done: false,
        }
    }
}

impl futures_core::Stream for Viewer {
    type Item = Frame;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Frame>> {
        let this = self.get_mut();
        loop {
            if std::mem::take(&mut this.resync) {
                return Poll::Ready(Some(Frame::from_encoded(resync_frame())));
            }
            if let Some(frame) = this.batch.pop_frame() {
                return Poll::Ready(Some(Frame::from_encoded(frame)));
            }
            if this.done {
                return Poll::Ready(None);
            }
            let read = this
                .stream
                .read(this.slot, &mut this.cursor, &mut this.batch, cx.waker());
            match read {
                Read::Frames { resync } => {
                    if resync {
                        Counters::add(&this.counters.resyncs, 1);
                    }
                    this.resync = resync;
                }
                Read::Pending => return Poll::Pending,
                Read::End(frame) => {
                    this.done = true;
                    return Poll::Ready(Some(Frame::from_encoded(frame)));
                }
            }
        }
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
