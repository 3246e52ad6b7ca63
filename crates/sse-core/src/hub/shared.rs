//! What every handle to one hub shares, behind one `Arc`: the settings, the hooks,
//! the replay source, the state behind the hub's one lock, the counters, the
//! shutdown signals, and the frames made once (keep-alive, retry hint, resync). The
//! [`Hub`](super::Hub) and each [`ClientStream`](super::ClientStream) hold it; it
//! locks the state ([`lock`](Shared::lock)) and removes a client with what follows
//! ([`remove`](Shared::remove)).
//!
//! Layer 4 of the hub: hub, under `mod.rs` and `stream.rs`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, PoisonError};

use bytes::Bytes;

use super::builder::HubBuilder;
use super::config::HubConfig;
use super::hooks::{ClientInfo, DisconnectReason, Hooks};
use super::keys::ClientKey;
use super::logs::Published;
use super::metrics::Counters;
use super::replay::ReplaySource;
use super::state::State;
use super::sync::{Mutex, MutexGuard};
use crate::event::Event;
use crate::{Comment, Frame};

/// The hub's parts, shared by the [`Hub`](super::Hub) and its streams.
pub(crate) struct Shared {
    /// The settings, also held by the state: read here without the lock.
    pub(crate) config: Arc<HubConfig>,
    /// The application's hooks.
    pub(crate) hooks: Box<dyn Hooks>,
    /// Where to replay from when the history does not hold a `Last-Event-ID`.
    pub(crate) replay_source: Option<Box<dyn ReplaySource>>,
    /// Everything behind the hub's one lock.
    pub(crate) state: Mutex<State>,
    /// The counters [`Metrics`](super::Metrics) snapshots.
    pub(crate) counters: Counters,
    /// Notified when shutdown begins.
    pub(crate) stopping: event_listener::Event,
    /// Notified when the hub is shutting down and the last client is gone.
    pub(crate) gone: event_listener::Event,
    /// The keep-alive comment, made once.
    pub(crate) keep_alive_frame: Bytes,
    /// The retry hint ([`HubConfig::retry`]), made once.
    pub(crate) retry_frame: Option<Bytes>,
    /// The resync event ([`HubConfig::replay_miss_event`]), made once.
    pub(crate) replay_miss_frame: Option<Bytes>,
}

impl Shared {
    /// A hub's parts from `builder`: its settings with their bounds applied and its
    /// first sequence taken, and the frames every stream sends as they are
    /// (keep-alive, retry hint, resync), made once.
    pub(crate) fn new(builder: HubBuilder) -> Self {
        let HubBuilder {
            config,
            hooks,
            replay_source,
        } = builder;
        let config = Arc::new(config.normalised());
        let first_sequence = config.first_sequence_taken();
        let frame = |frame: Frame| frame.into_bytes();
        Shared {
            state: Mutex::new(State::new(config.clone(), first_sequence)),
            counters: Counters {
                newest_sequence: AtomicU64::new(first_sequence),
                ..Counters::default()
            },
            stopping: event_listener::Event::new(),
            gone: event_listener::Event::new(),
            keep_alive_frame: frame(Comment::new("keep-alive").to_frame()),
            retry_frame: config.retry.map(|retry| frame(Frame::retry(retry))),
            replay_miss_frame: config
                .replay_miss_event
                .as_ref()
                .map(|e| frame(e.to_frame())),
            hooks,
            replay_source,
            config,
        }
    }

    /// Counts what a publish did to keep the history within its bounds.
    pub(crate) fn count_bounds(&self, published: &Published) {
        Counters::add(&self.counters.evicted, published.evicted);
        Counters::add(&self.counters.topics_expired, published.expired);
        if published.log.is_none() {
            Counters::add(&self.counters.topics_refused, 1);
        }
    }

    /// The event that tells a client its id ([`HubConfig::client_id_event`]);
    /// `None` when there is none or its type is invalid.
    pub(crate) fn client_id_frame(&self, id: &str) -> Option<Bytes> {
        let kind = self.config.client_id_event.as_deref()?;
        let event = Event::new(id).with_event(kind).ok()?;
        Some(event.to_frame().into_bytes())
    }

    /// Counts a replay miss and tells the hook.
    pub(crate) fn replay_missed(&self, client: &ClientInfo, last_event_id: &str) {
        Counters::add(&self.counters.replay_misses, 1);
        self.hooks.on_replay_miss(client, last_event_id);
    }

    /// The state, locked.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing that can panic runs under the lock (hooks run outside it), but
        // should something, the state is still consistent: keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a client out of the registry (once: a stale key does nothing) and runs
    /// what follows: counters, the disconnect hook, the shutdown signal.
    pub(crate) fn remove(&self, key: ClientKey, reason: DisconnectReason) {
        let (removed, closed) = {
            let mut state = self.lock();
            let Some(removed) = state.remove(key, reason) else {
                return;
            };
            self.counters.active.store(removed.active, Relaxed);
            let closed = state.shutting_down && removed.active == 0;
            (removed, closed)
        };
        Counters::add(&self.counters.disconnects, 1);
        if removed.reason == DisconnectReason::Lagged {
            Counters::add(&self.counters.lag_disconnects, 1);
        }
        self.hooks
            .on_disconnect(&removed.info, removed.reason, removed.active);
        if closed {
            self.gone.notify(usize::MAX);
        }
    }
}
