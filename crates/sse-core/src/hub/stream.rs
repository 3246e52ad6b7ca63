//! A client's stream: where a client waits, and what it reads.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use futures_core::Stream;

use super::Shared;
use super::batch::Batch;
use super::hooks::{ClientInfo, DisconnectReason, SendResult};
use super::metrics::Counters;
use super::registry::ClientKey;
use super::state::Read;

/// The frames for one client, as a [`Stream`] of [`Batch`]es.
///
/// Each time it is woken it takes every frame ready for its client (up to
/// [`BATCH_CAPACITY`](super::BATCH_CAPACITY)), in the hub's one order, and yields
/// them as one batch; it waits without allocating. It ends when the client is
/// disconnected, replaced, falls too far behind, or the hub shuts down; dropping it
/// removes the client from the hub (the disconnect hook runs once either way).
///
/// Adapters write each batch and flush.
#[must_use = "streams do nothing unless polled"]
pub struct ClientStream {
    shared: Arc<Shared>,
    key: ClientKey,
    info: ClientInfo,
    /// Frames sent before anything else: the retry hint, the resync event.
    lead: [Option<Bytes>; 2],
    started: bool,
    finished: bool,
}

impl ClientStream {
    pub(crate) fn new(
        shared: Arc<Shared>,
        key: ClientKey,
        info: ClientInfo,
        lead: [Option<Bytes>; 2],
    ) -> Self {
        ClientStream {
            shared,
            key,
            info,
            lead,
            started: false,
            finished: false,
        }
    }

    /// The client's id.
    #[must_use]
    pub fn id(&self) -> &str {
        self.info.id()
    }

    /// The client, as hooks see it.
    #[must_use]
    pub fn info(&self) -> &ClientInfo {
        &self.info
    }

    fn finish(&mut self, reason: DisconnectReason) {
        if !std::mem::replace(&mut self.finished, true) {
            self.shared.remove(self.key, reason);
        }
    }
}

impl Stream for ClientStream {
    type Item = Batch;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Batch>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        let shared = &*this.shared;
        let mut batch = Batch::new();
        for frame in this.lead.iter_mut().filter_map(Option::take) {
            batch.push(frame);
        }
        let outcome = shared.lock().read(
            this.key,
            &mut batch,
            cx.waker(),
            &shared.keep_alive_frame,
            &shared.config,
        );
        if outcome.dropped > 0 {
            Counters::add(&shared.counters.dropped, outcome.dropped);
            let result = SendResult::Dropped {
                frames: outcome.dropped,
            };
            shared.hooks.on_send(&this.info, result);
        }
        Counters::add(&shared.counters.keep_alives, u64::from(outcome.keep_alive));
        match outcome.read {
            Read::Ended(reason) => {
                this.finish(reason);
                Poll::Ready(None)
            }
            Read::Pending if batch.is_empty() => Poll::Pending,
            Read::Pending | Read::Ready => {
                if !std::mem::replace(&mut this.started, true) {
                    shared.hooks.before_first_send(&this.info);
                }
                Counters::add(&shared.counters.delivered, batch.len() as u64);
                let result = SendResult::Sent {
                    frames: batch.len(),
                    bytes: batch.remaining(),
                };
                shared.hooks.on_send(&this.info, result);
                Poll::Ready(Some(batch))
            }
        }
    }
}

impl Drop for ClientStream {
    fn drop(&mut self) {
        self.finish(DisconnectReason::Closed);
    }
}

impl fmt::Debug for ClientStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientStream")
            .field("id", &self.info.id())
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}
