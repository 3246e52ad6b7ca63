//! A client's stream: where a client waits, and what it reads.
//!
//! Layer 4 of the hub: hub, the public API.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use futures_core::Stream;

use super::batch::Batch;
use super::hooks::{ClientInfo, DisconnectReason, SendResult};
use super::keys::ClientKey;
use super::metrics::Counters;
use super::replay::ReplayFuture;
use super::shared::Shared;
use super::state::Read;
use crate::Frame;
use crate::observe::Started;

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
    /// Frames owed before anything else.
    lead: Lead,
    /// The id-only frame that tells the client where it stands, owed after the
    /// lead frames and any replay from the replay source, before anything live.
    checkpoint: Option<Bytes>,
    /// A replay from the hub's replay source, fetched, then delivered, before the
    /// hub's own logs are read.
    remote: Option<Box<RemoteReplay>>,
    phase: Phase,
    started_at: Started,
}

impl ClientStream {
    pub(crate) fn new(
        shared: Arc<Shared>,
        key: ClientKey,
        info: ClientInfo,
        lead: Lead,
        checkpoint: Option<Bytes>,
        remote: Option<RemoteReplay>,
    ) -> Self {
        ClientStream {
            shared,
            key,
            info,
            lead,
            checkpoint,
            remote: remote.map(Box::new),
            phase: Phase::Waiting,
            started_at: Started::now(),
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

    /// Polls the replay source's fetch; once it is done, places the client in the
    /// hub's logs. `Ready(false)` when the stream ended meanwhile.
    fn poll_remote_fetch(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        let shared = &*self.shared;
        let Some(remote) = self.remote.as_mut() else {
            return Poll::Ready(true);
        };
        let Some(fetch) = remote.fetch.as_mut() else {
            return Poll::Ready(true);
        };
        let fetch = fetch.get_mut().unwrap_or_else(PoisonError::into_inner);
        let Poll::Ready(replayed) = fetch.as_mut().poll(cx) else {
            // Registered with the hub too, so a disconnect or a shutdown still ends
            // the stream.
            let mut batch = Batch::new();
            let outcome =
                shared
                    .lock()
                    .read(self.key, &mut batch, cx.waker(), &shared.keep_alive_frame);
            return match outcome.read {
                Read::Ended(reason) => {
                    self.finish(reason);
                    Poll::Ready(false)
                }
                Read::Pending | Read::Ready => Poll::Pending,
            };
        };
        remote.fetch = None;
        let through = replayed.as_ref().map(|replayed| replayed.through.as_str());
        let resumed = shared.lock().resume(self.key, through);
        match (resumed, replayed) {
            (None, _) => {
                self.finish(DisconnectReason::Removed);
                return Poll::Ready(false);
            }
            (Some(true), Some(replayed)) => {
                Counters::add(&shared.counters.replays, 1);
                remote.frames = replayed.frames.into_iter();
                // The replay looked up to `through`, also past frames of topics
                // this client does not read: that is where it stands now.
                self.checkpoint = Frame::checkpoint(&replayed.through)
                    .ok()
                    .map(Frame::into_bytes);
            }
            (Some(_), _) => {
                shared.replay_missed(&self.info, &remote.last_event_id);
                self.lead.resync = shared.replay_miss_frame.is_some();
            }
        }
        Poll::Ready(true)
    }

    fn finish(&mut self, reason: DisconnectReason) {
        if std::mem::replace(&mut self.phase, Phase::Finished) != Phase::Finished {
            self.shared.counters.histograms.ended(self.started_at);
            self.shared.remove(self.key, reason);
        }
    }
}

impl Stream for ClientStream {
    type Item = Batch;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Batch>> {
        let this = self.get_mut();
        if this.phase == Phase::Finished {
            return Poll::Ready(None);
        }
        match this.poll_remote_fetch(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(false) => return Poll::Ready(None),
            Poll::Ready(true) => {}
        }
        let shared = &*this.shared;
        let mut batch = Batch::new();
        let lead = std::mem::take(&mut this.lead);
        if let (true, Some(frame)) = (lead.retry, &shared.retry_frame) {
            batch.push(frame.clone());
        }
        if let Some(frame) = lead
            .id
            .then(|| shared.client_id_frame(this.info.id()))
            .flatten()
        {
            batch.push(frame);
        }
        if let (true, Some(frame)) = (lead.resync, &shared.replay_miss_frame) {
            batch.push(frame.clone());
        }
        if let Some(remote) = &mut this.remote {
            while !batch.is_full() {
                let Some(frame) = remote.frames.next() else {
                    this.remote = None;
                    break;
                };
                batch.push(frame.into_bytes());
            }
            if batch.is_full() {
                return Poll::Ready(Some(this.deliver(batch)));
            }
        }
        if let Some(frame) = this.checkpoint.take() {
            batch.push(frame);
        }
        let outcome =
            shared
                .lock()
                .read(this.key, &mut batch, cx.waker(), &shared.keep_alive_frame);
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
            Read::Pending | Read::Ready => Poll::Ready(Some(this.deliver(batch))),
        }
    }
}

impl ClientStream {
    /// Counts a batch about to be yielded, and tells the hooks.
    fn deliver(&mut self, batch: Batch) -> Batch {
        let shared = &*self.shared;
        if self.phase == Phase::Waiting {
            self.phase = Phase::Sending;
            shared.hooks.before_first_send(&self.info);
        }
        Counters::add(&shared.counters.delivered, batch.len() as u64);
        shared.counters.histograms.write(batch.len());
        let result = SendResult::Sent {
            frames: batch.len(),
            bytes: batch.remaining(),
        };
        shared.hooks.on_send(&self.info, result);
        batch
    }
}

/// Where a client's stream stands: one byte, where two flags took two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Nothing sent yet: the first batch runs the `before_first_send` hook.
    Waiting,
    /// Sending.
    Sending,
    /// Ended: the client is out of the hub.
    Finished,
}

/// The frames a stream owes before anything else, shared by every stream of the hub.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Lead {
    /// The retry hint ([`HubConfig::retry`](super::HubConfig::retry)).
    pub(crate) retry: bool,
    /// The resync event, after a replay miss.
    pub(crate) resync: bool,
    /// The event that tells the client its id
    /// ([`HubConfig::client_id_event`](super::HubConfig::client_id_event)).
    pub(crate) id: bool,
}

/// A replay from the hub's [`ReplaySource`](super::ReplaySource): the fetch, then
/// the frames it found, delivered before the hub's own logs are read.
pub(crate) struct RemoteReplay {
    /// In a mutex only to keep the stream `Sync` (the future need not be): it is
    /// only ever reached through `&mut`, without locking.
    fetch: Option<Mutex<ReplayFuture>>,
    frames: std::vec::IntoIter<Frame>,
    last_event_id: Box<str>,
}

impl RemoteReplay {
    pub(crate) fn new(fetch: ReplayFuture, last_event_id: &str) -> Self {
        RemoteReplay {
            fetch: Some(Mutex::new(fetch)),
            frames: Vec::new().into_iter(),
            last_event_id: last_event_id.into(),
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
            .field("finished", &(self.phase == Phase::Finished))
            .finish_non_exhaustive()
    }
}

// Adapters hand streams to frameworks that need them `Send + Sync` (warp does).
const _: fn() = || {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<ClientStream>();
};
