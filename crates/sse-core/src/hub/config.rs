//! How a hub behaves: history, slow clients, limits, keep-alive.

use std::time::Duration;

use crate::event::Event;

/// What to do with a client that cannot keep up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LagPolicy {
    /// End its stream. Nothing is lost: the frames it missed are still in the history,
    /// so when it reconnects with `Last-Event-ID` (browsers do so by themselves) replay
    /// fills the gap.
    #[default]
    Disconnect,
    /// Skip it ahead: the oldest frames it had not read are dropped (and counted), so
    /// it is never more than `max_lag` frames behind.
    DropOldest,
}

/// What happens when a client connects with an id that is already connected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DuplicateIdPolicy {
    /// The new connection takes the id; the old stream ends cleanly and its disconnect
    /// hook runs (a browser tab that reconnected before the old connection timed out).
    #[default]
    ReplaceExisting,
    /// The new connection is refused with [`ConnectError::DuplicateId`](super::ConnectError::DuplicateId).
    RefuseNew,
}

/// The settings of a [`Hub`](super::Hub).
///
/// Built from [`Default`] with chained setters:
///
/// ```
/// use std::time::Duration;
/// use sse_core::{HubConfig, LagPolicy};
///
/// let config = HubConfig::default()
///     .history(4096)
///     .max_lag(1024)
///     .lag_policy(LagPolicy::DropOldest)
///     .max_clients(Some(50_000))
///     .keep_alive(Some(Duration::from_secs(20)));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HubConfig {
    /// How many frames each log (the broadcast log and each topic's) keeps for replay.
    /// Default 1024. At least 2.
    pub history: usize,
    /// How many bytes of frames each log keeps for replay (the newest frame is always
    /// kept). Default 4 MiB.
    pub history_bytes: usize,
    /// How many frames a client may fall behind before [`lag_policy`](Self::lag_policy)
    /// applies; always less than [`history`](Self::history) (it is capped at
    /// `history - 1`), so the frames a disconnected client missed are still there when
    /// it reconnects. Default 256.
    pub max_lag: usize,
    /// What to do with a client more than `max_lag` frames behind, or whose own queue
    /// is full. Default [`LagPolicy::Disconnect`].
    pub lag_policy: LagPolicy,
    /// How many frames sent to one client (with [`Hub::send_to`](super::Hub::send_to))
    /// may wait for it. Default 16.
    pub client_queue: usize,
    /// The most clients connected at once; more are refused (HTTP 503 with
    /// `Retry-After`). Default `None`: no limit.
    pub max_clients: Option<usize>,
    /// Send a comment to a client idle this long, so proxies keep the connection open.
    /// Default 15 s. Driven by [`Hub::keep_alive_tick`](super::Hub::keep_alive_tick),
    /// which the adapter calls at this interval from its runtime's timer.
    pub keep_alive: Option<Duration>,
    /// A `retry:` hint sent first on every stream: how long browsers wait before
    /// reconnecting. Default `None` (browsers use their own, about 3 s).
    pub retry: Option<Duration>,
    /// The `Retry-After` seconds sent with a 503 (at capacity, shutting down). Default 5.
    pub retry_after: Duration,
    /// What to do when a connecting client's id is already connected.
    pub duplicate_id: DuplicateIdPolicy,
    /// The event sent to a client whose `Last-Event-ID` is no longer in the history (or
    /// was never issued), so the application can resync it. Default: an empty event of
    /// type `resync`. `None` sends nothing (the miss is still counted and hooked).
    pub replay_miss_event: Option<Event<'static>>,
    /// The request header that carries the client id. Default `sse-clientid` (the
    /// header of the Go package this library redesigns).
    pub client_id_header: http::HeaderName,
    /// The first sequence number, which is also the first automatic event id. Set it
    /// to something that grows across restarts (a timestamp, say) so that ids from a
    /// previous run are never mistaken for new ones. Default 0.
    pub first_sequence: u64,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            history: 1024,
            history_bytes: 4 << 20,
            max_lag: 256,
            lag_policy: LagPolicy::Disconnect,
            client_queue: 16,
            max_clients: None,
            keep_alive: Some(Duration::from_secs(15)),
            retry: None,
            retry_after: Duration::from_secs(5),
            duplicate_id: DuplicateIdPolicy::ReplaceExisting,
            replay_miss_event: Some(
                Event::new("")
                    .with_event("resync")
                    .expect("a valid event type"),
            ),
            client_id_header: http::HeaderName::from_static("sse-clientid"),
            first_sequence: 0,
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $type:ty,)*) => {
        impl HubConfig {
            $(
                $(#[$doc])*
                #[must_use]
                pub fn $name(mut self, $name: $type) -> Self {
                    self.$name = $name;
                    self
                }
            )*
        }
    };
}

setters! {
    /// Sets [`history`](Self::history).
    history: usize,
    /// Sets [`history_bytes`](Self::history_bytes).
    history_bytes: usize,
    /// Sets [`max_lag`](Self::max_lag).
    max_lag: usize,
    /// Sets [`lag_policy`](Self::lag_policy).
    lag_policy: LagPolicy,
    /// Sets [`client_queue`](Self::client_queue).
    client_queue: usize,
    /// Sets [`max_clients`](Self::max_clients).
    max_clients: Option<usize>,
    /// Sets [`keep_alive`](Self::keep_alive).
    keep_alive: Option<Duration>,
    /// Sets [`retry`](Self::retry).
    retry: Option<Duration>,
    /// Sets [`retry_after`](Self::retry_after).
    retry_after: Duration,
    /// Sets [`duplicate_id`](Self::duplicate_id).
    duplicate_id: DuplicateIdPolicy,
    /// Sets [`replay_miss_event`](Self::replay_miss_event).
    replay_miss_event: Option<Event<'static>>,
    /// Sets [`client_id_header`](Self::client_id_header).
    client_id_header: http::HeaderName,
    /// Sets [`first_sequence`](Self::first_sequence).
    first_sequence: u64,
}

impl HubConfig {
    /// The settings with their bounds applied: history at least 2, `max_lag` below
    /// it and at least 1, a client queue of at least 1.
    pub(crate) fn normalised(mut self) -> Self {
        self.history = self.history.max(2);
        self.max_lag = self.max_lag.clamp(1, self.history - 1);
        self.client_queue = self.client_queue.max(1);
        self
    }
}
