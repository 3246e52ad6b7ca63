//! How a hub behaves: history, slow clients, limits, keep-alive.
//!
//! Layer 0 of the hub: words.

use std::time::{Duration, SystemTime};

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
    /// Whether the ready handlers take the client id a request asks for (the
    /// [`client_id_header`](Self::client_id_header), or `client=`), see
    /// [`ConnectOptions::from_parts`](super::ConnectOptions::from_parts). Default
    /// `false`: every connection gets a fresh id from the hub, told to the client in
    /// the response's [`client_id_header`](Self::client_id_header) (and by
    /// [`client_id_event`](Self::client_id_event)).
    ///
    /// Set it only where something trusted sets the id (a proxy that
    /// authenticates): whoever claims an id gets the messages sent to it, and with
    /// [`DuplicateIdPolicy::ReplaceExisting`] ends the stream of the client that had
    /// it. For per-user delivery, subscribe each user to a topic your admission hook
    /// ([`Hooks::admit`](super::Hooks::admit)) authorizes.
    pub trust_client_id: bool,
    /// When set, every stream starts with an event of this type whose data is the
    /// client's id: how a browser's `EventSource`, which cannot read response
    /// headers, learns the id the hub gave it. Default `None`. A type containing a
    /// line break is never sent.
    pub client_id_event: Option<String>,
    /// The request header that carries the client id. Default `sse-clientid` (the
    /// header of the Go package this library redesigns).
    pub client_id_header: http::HeaderName,
    /// How many bytes of history all logs together keep: when a publish would go
    /// beyond it, the hub evicts old frames from other logs first (see
    /// [`Hub`](super::Hub#bounded-history)). Each frame counts its length plus
    /// [`FRAME_OVERHEAD`](Self::FRAME_OVERHEAD) bytes for the hub's bookkeeping; the newest frame of the
    /// log published to is always kept. Default 64 MiB.
    pub history_budget: usize,
    /// The most topic logs the hub holds at once, whether a publish or a
    /// subscription made them (idle ones are freed first to make room). A publish
    /// to a topic that has no log when this many exist (no subscriber, no history)
    /// is delivered to nobody, as it would be anyway, but not kept for replay, and
    /// counted in [`Metrics::topics_refused`](super::Metrics::topics_refused); a
    /// connection that would need more logs than that is refused with
    /// [`ConnectError::TopicsFull`](super::ConnectError::TopicsFull) (HTTP 503 with
    /// `Retry-After`) and counted there too. Default 10 000.
    pub max_topics: usize,
    /// The most distinct topics one connection may subscribe to; more are refused
    /// with [`ConnectError::TooManyTopics`](super::ConnectError::TooManyTopics)
    /// (HTTP 400), before the admission hook runs. Each subscription costs a topic
    /// log (when the topic has none yet) and a cursor, so this bounds what one
    /// request can make the hub hold. Default 64.
    pub max_topics_per_client: usize,
    /// How long a topic log that no client reads is kept after its last publish (or
    /// after its last reader left): then it is freed, history and all. Checked by
    /// [`Hub::keep_alive_tick`](super::Hub::keep_alive_tick) and on publishes to
    /// topics no one reads. Default 5 minutes.
    pub idle_topic_lifetime: Duration,
    /// The first sequence number: automatic event ids are the sequences after it.
    /// `None` (the default) takes the microseconds since the Unix epoch when the hub
    /// is made, so ids differ per run: a later run's ids are above every id of an
    /// earlier run, unless that one published more than one event per microsecond
    /// of its life (or the clock went back between the runs), and a client
    /// reconnecting with an id of an earlier run gets a replay miss, never a silent
    /// skip. The ids stay below 2^53, exact in JavaScript numbers. Set `Some(n)` for
    /// fixed ids (tests, examples); [`Hub::config`](super::Hub::config) shows the
    /// value taken.
    pub first_sequence: Option<u64>,
}

impl HubConfig {
    /// What each frame of history counts, besides its own bytes, toward
    /// [`history_budget`](Self::history_budget): its log entry, its slot in a
    /// chunk, and the allocator's and `Bytes`' headers (about this much on 64-bit
    /// targets), so that many tiny frames cannot hold much more memory than the
    /// budget says.
    pub const FRAME_OVERHEAD: usize = 128;
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
            trust_client_id: false,
            client_id_event: None,
            client_id_header: http::HeaderName::from_static("sse-clientid"),
            history_budget: 64 << 20,
            max_topics: 10_000,
            max_topics_per_client: 64,
            idle_topic_lifetime: Duration::from_secs(5 * 60),
            first_sequence: None,
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
    /// Sets [`trust_client_id`](Self::trust_client_id).
    trust_client_id: bool,
    /// Sets [`client_id_event`](Self::client_id_event).
    client_id_event: Option<String>,
    /// Sets [`client_id_header`](Self::client_id_header).
    client_id_header: http::HeaderName,
    /// Sets [`history_budget`](Self::history_budget).
    history_budget: usize,
    /// Sets [`max_topics`](Self::max_topics).
    max_topics: usize,
    /// Sets [`max_topics_per_client`](Self::max_topics_per_client).
    max_topics_per_client: usize,
    /// Sets [`idle_topic_lifetime`](Self::idle_topic_lifetime).
    idle_topic_lifetime: Duration,
    /// Sets [`first_sequence`](Self::first_sequence).
    first_sequence: Option<u64>,
}

impl HubConfig {
    /// The settings with their bounds applied: history at least 2, `max_lag` below
    /// it and at least 1, a client queue of at least 1, and the first sequence
    /// taken (from the clock when it is `None`).
    pub(crate) fn normalised(mut self) -> Self {
        self.history = self.history.max(2);
        self.max_lag = self.max_lag.clamp(1, self.history - 1);
        self.client_queue = self.client_queue.max(1);
        self.first_sequence = Some(self.first_sequence.unwrap_or_else(clock_sequence));
        self
    }

    /// The first sequence (of a normalised config: always set).
    pub(crate) fn first_sequence_taken(&self) -> u64 {
        self.first_sequence.unwrap_or_default()
    }
}

/// Microseconds since the Unix epoch: a first sequence above every sequence of an
/// earlier run that published at most one event per microsecond. 0 when the clock
/// is before the epoch.
fn clock_sequence() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_micros()).unwrap_or(u64::MAX / 2)
        })
}
