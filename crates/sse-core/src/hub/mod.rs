//! The hub: who is connected, and getting every event to everyone it is for.
//!
//! A [`Hub`] is the `SSE` value of the Go package this library redesigns: a registry
//! of clients, and the fan-out to them.
//!
//! Layer 4 of the hub, the top: the [`Hub`] and its public API. [Layers](#layers)
//! draws every layer, and which file may import which.
//!
//! | you call | what happens |
//! |---|---|
//! | [`Hub::connect`] | registers a client, returns its [`ClientStream`] |
//! | [`Hub::broadcast`] | one frame, appended once to the broadcast log every client reads |
//! | [`Hub::publish`] | the same, to one topic's log, read by its subscribers |
//! | [`Hub::send_to`] | one frame into one client's own bounded queue |
//! | [`Hub::shutdown`], [`Hub::closed`] | ends every stream, waits until all are gone |
//!
//! Every frame gets a sequence number from one hub-wide counter, and each stream
//! merges its sources by sequence, so every client sees one order, the same for all.
//! The logs are also the replay history: a client that connects with a
//! `Last-Event-ID` gets exactly the frames it missed, then live ones.
//!
//! Every stream that does not resume opens with an id-only checkpoint of where its
//! client stands, so a reconnect after a drop before the first event resumes
//! exactly (see [`Hub`'s positions](Hub#positions)).
//!
//! Publishing costs the same whatever the number of clients, plus one wake per
//! client waiting; a woken stream takes every frame ready (up to
//! [`BATCH_CAPACITY`]) as one [`Batch`]. The logs keep their frames in shared
//! chunks, so a batch holds a run of frames with one reference count, not one per
//! frame: a delivery costs no atomic operation of its own. Nothing ever waits for a
//! slow client: one more than [`HubConfig::max_lag`] frames behind is handled by the
//! [`LagPolicy`].
//!
//! The hub does no IO and needs no runtime: the adapters move the bytes and call
//! [`Hub::keep_alive_tick`] from their runtime's timer.
//!
//! # How a frame travels
//!
//! 1. **Encoded once** (`mod.rs`, `crate::encode`): [`Hub::broadcast`],
//!    [`Hub::publish`] and [`Hub::send_to`] encode the event into one exactly sized
//!    frame. An event without an id of its own gets its sequence number as its id:
//!    `state.rs` keeps the `id:` line in decimal and counts it up.
//! 2. **Appended once** (`state.rs`, `logs.rs`, `log.rs`, `chunk.rs`): under the
//!    hub's lock, the frame takes the next sequence number (`state.rs`) and goes
//!    at the end of the broadcast log or the topic's log (`logs.rs` finds or
//!    makes it), into the log's current [`Chunk`](chunk::Chunk) (`chunk.rs`:
//!    fixed-size, behind an `Arc`, filled while readers share it). Frames for one
//!    client go into its own bounded queue (`queue.rs`, held by `client.rs`)
//!    instead, found by id in the registry (`registry.rs`). The history bounds
//!    (`history`, `history_bytes`, `history_budget`, `order.rs`'s eviction order,
//!    applied by `logs.rs`) drop the oldest frames here.
//! 3. **Readers woken** (`mod.rs`): the wakers of readers waiting on that log are
//!    taken under the lock into a [`WakeList`] and woken after it is released, 32
//!    at a time.
//! 4. **Taken at once** (`stream.rs`, `state.rs`'s `read`, `client.rs`'s
//!    `read_into`): a woken [`ClientStream`] takes, under the lock, every frame
//!    past its cursors in each log it reads and its own queue, merged by sequence
//!    a run at a time (`merge.rs`: every client sees one order), up to
//!    [`BATCH_CAPACITY`], after the lag policy (`lag.rs`).
//! 5. **Handed out as one unit** (`batch.rs`): a [`Batch`] holds runs of a
//!    chunk's frames with one reference each, and frames of their own, inline; it
//!    is one `Buf`, so the adapter sends it with one write and flushes when the
//!    stream is `Pending`: `sse-smol`'s writer as a vectored write, `sse-hyper`'s
//!    body (and so axum's and warp's) as one `Bytes`, a single frame as it is and
//!    several copied together, which hyper writes with fewer calls.
//!
//! # How waiting works
//!
//! A client waits in one place: its [`ClientStream`]'s `poll_next`. The
//! invariants, each with one owner: `state.rs` coordinates under the lock, and
//! the per-client rules are `client.rs`'s (its fields are private to it):
//!
//! - **Registered before it sleeps.** When `read` (`state.rs`) finds nothing for
//!   a client, the client stores its waker (cloned only when it changed) and lists
//!   itself on each log it reads, once (`client.rs`'s `listed` marks; the list is
//!   `waiters.rs`'s, which also sweeps the keys of clients that left); a publish
//!   to such a log takes the wakers of its listed readers. Reading and
//!   registering happen under the same lock as appending, so a frame is either
//!   seen by the read or finds the waker: no wake-up is lost, and waiting
//!   allocates nothing.
//! - **Woken after the lock.** No waker is woken under the lock: operations hand
//!   their wakers back ([`WakeList`], or one waker) and the caller
//!   wakes them once it has unlocked, so a woken task never contends for the lock
//!   it was woken from.
//! - **Lagging** (`lag.rs`). A reader more than [`HubConfig::max_lag`] frames behind in a log
//!   (or whose own queue is full, or whose unread frames the history budget
//!   evicted) is handled by the [`LagPolicy`] on its next read: its stream ends
//!   ([`LagPolicy::Disconnect`]; the browser reconnects and replay fills the gap)
//!   or it skips ahead, the skipped frames counted as dropped.
//! - **Closing.** A client ends when it is disconnected, replaced, lags under
//!   `Disconnect`, or the hub shuts down: its entry is marked ended and its waker
//!   woken (`client.rs`: ending at once wins over ending after the frames already
//!   published); its stream then yields `None`, and dropping the stream removes
//!   the entry, running the disconnect hook exactly once. A stale key (a removed
//!   client whose slab slot was reused) never reaches the newer client: every key
//!   carries the slot's generation (`registry.rs`, which also keeps the id index
//!   naming only live clients).
//!
//! # Layers
//!
//! The hub's files import one another in one direction only: down. A file imports
//! only files of its own layer or of a layer below, never in a circle (within a
//! layer the imports go one way too: `mod.rs` → `stream.rs` → `shared.rs` →
//! `builder.rs`, `registry.rs` → `client.rs`, `lag.rs` → `log.rs` → `order.rs`,
//! `options.rs` → `errors.rs`, …), and nothing in the hub imports the modules
//! above it. Each file's `//!` says its layer. `tests/layers/` reads this
//! drawing and enforces it, on every `use super::…`, `use crate::…` and path in
//! the code, tests included:
//!
//! ```text
//!  4 hub     mod.rs stream.rs shared.rs builder.rs     the public API: the Hub, a client's
//!            │                                          stream, what they share, the builder
//!            ▼
//!  3 state   state.rs                                  behind the lock: coordinates the owners
//!            ▼
//!  2 owners  client.rs registry.rs logs.rs             each owns its invariants
//!            ▼
//!  1 logs    log.rs chunk.rs batch.rs order.rs         leaf data structures, and the rules
//!            waiters.rs queue.rs lag.rs merge.rs       that read them
//!            position.rs wake.rs sync.rs
//!            ▼
//!  0 words   config.rs hooks.rs options.rs errors.rs   the types every layer speaks
//!            keys.rs metrics.rs replay.rs
//!  ──────────────────────────────────────────────────────────────────────────────────
//!  below the hub, any layer may import: crate::{encode, encoded, event, figures, observe,
//!                                               request, scan}
//!  above the hub, no layer may import:  crate::{http, resume}
//! ```

mod batch;
mod builder;
mod chunk;
mod client;
mod config;
mod errors;
mod hooks;
mod keys;
mod lag;
pub(crate) mod log;
mod logs;
mod merge;
mod metrics;
mod options;
mod order;
mod position;
mod queue;
mod registry;
mod replay;
mod shared;
mod state;
mod stream;
mod sync;
mod waiters;
pub(crate) mod wake;

pub use batch::{BATCH_CAPACITY, Batch};
pub use builder::HubBuilder;
pub use config::{DuplicateIdPolicy, HubConfig, LagPolicy};
pub use errors::{ConnectError, SendError};
pub use hooks::{ClientInfo, ConnectRequest, DisconnectReason, Hooks, NoHooks, SendResult};
pub use metrics::Metrics;
pub use options::ConnectOptions;
pub use replay::{ReplayFuture, ReplayRequest, ReplaySource, Replayed};
pub use stream::ClientStream;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::EncodedEvent;
use crate::encode::sequence_id_and_end_len;
use crate::event::{Event, EventError};
use metrics::Counters;
use options::distinct_topics;
use position::Position;
use shared::Shared;
use state::{Replay, WakeList};
use stream::{Lead, RemoteReplay};

/// The fan-out hub. Cheap to clone (an [`Arc`] inside), `Send + Sync`, and usable
/// from any runtime.
///
/// # Examples
///
/// ```
/// use futures_lite::{StreamExt, future};
/// use sse_core::{ConnectOptions, Event, Hub, HubConfig};
///
/// // Fixed ids, to show them (by default they start from the clock).
/// let hub = Hub::new(HubConfig::default().first_sequence(Some(0)));
/// let mut alice = hub.connect(ConnectOptions::new().client_id("alice"))?;
/// let mut bob = hub.connect(ConnectOptions::new().topic("news"))?;
///
/// hub.broadcast(&Event::new("to everyone"));
/// hub.publish("news", &Event::new("to news readers"));
/// hub.send_to("alice", &Event::new("to alice alone"))?;
///
/// // Each stream opens with an id-only checkpoint: where the client stands.
/// let alice_got = future::block_on(alice.next()).expect("a batch");
/// let frames: Vec<_> = alice_got.frames().collect();
/// assert_eq!(frames[0], "id: 0\n\n");
/// assert_eq!(frames.len(), 3);
/// let bob_got = future::block_on(bob.next()).expect("a batch");
/// assert_eq!(bob_got.frames().nth(2).unwrap(), "data: to news readers\nid: 2\n\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Bounded history
///
/// Each log keeps at most [`HubConfig::history`] frames and
/// [`HubConfig::history_bytes`] bytes; all of them together at most
/// [`HubConfig::history_budget`]. Over the budget, the hub evicts the oldest frames
/// of the topic logs no one reads, least recently published first, then those of
/// the logs clients read (the broadcast log and subscribed topics), least recently
/// published first; a publish costs O(1) for this, plus each frame evicted, once.
/// A reader that loses frames it had not read meets the [`LagPolicy`], as a slow
/// reader does, and a client that reconnects from before them gets a replay miss.
/// A topic log no one reads is freed after [`HubConfig::idle_topic_lifetime`]
/// without a publish, and at most [`HubConfig::max_topics`] are held, whether
/// publishes or subscriptions made them: see [`publish`](Self::publish). One
/// connection subscribes to at most [`HubConfig::max_topics_per_client`] topics
/// (more are [`ConnectError::TooManyTopics`], HTTP 400), and one whose topics would
/// need more logs than `max_topics` is [`ConnectError::TopicsFull`] (HTTP 503), so
/// no request, and no flood of them, makes the hub hold more; what subscribers
/// made is freed, the topic index's memory included, when they leave.
///
/// # Positions
///
/// Every stream that does not resume tells its client where it stands as soon as
/// it opens: after the opening frames (the retry hint, the client-id event, the
/// resync event) comes an id-only checkpoint (`id: …` and a blank line, which moves
/// a browser's last event id without dispatching anything) naming the point its
/// cursors start from. A client whose connection drops before its first event (on
/// a quiet stream, the usual case) therefore reconnects with a `Last-Event-ID` and
/// gets exactly what was published meanwhile, never a silent gap.
///
/// The checkpoint is the newest sequence handed out. On a hub that relays an
/// external log ([`relay`](Self::relay), [`mark_relayed`](Self::mark_relayed)) it
/// is instead the newest id relayed or marked: that id means the same to every
/// process reading the log, so a reconnect that lands on another process resumes
/// there too (from its history, or its [`ReplaySource`]). After
/// [`restart_relay`](Self::restart_relay), until the new log's first event, no id
/// names a position and no checkpoint is sent. A client that resumes from its
/// `Last-Event-ID` needs none (every replayed frame carries its id), except after a
/// replay from the [`ReplaySource`], which ends with a checkpoint of
/// [`Replayed::through`].
///
/// # Ids across runs
///
/// Automatic ids are sequences from [`HubConfig::first_sequence`], by default the
/// clock's microseconds when the hub is made: a client that reconnects with an id
/// of an earlier run of the process (below this run's first sequence) or one this
/// run has not reached gets the replay miss ([`HubConfig::replay_miss_event`]),
/// never a silent skip.
#[derive(Clone)]
pub struct Hub {
    shared: Arc<Shared>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new(HubConfig::default())
    }
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("config", &self.shared.config)
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// A hub with `config` and no hooks.
    #[must_use]
    pub fn new(config: HubConfig) -> Self {
        Hub::with_hooks(config, NoHooks)
    }

    /// A hub with `config` and `hooks`.
    #[must_use]
    pub fn with_hooks(config: HubConfig, hooks: impl Hooks) -> Self {
        Hub::builder().config(config).hooks(hooks).build()
    }

    /// A [`HubBuilder`], for a hub with a [`ReplaySource`] too.
    pub fn builder() -> HubBuilder {
        HubBuilder::default()
    }

    /// The settings (with their bounds applied, and the first sequence taken).
    #[must_use]
    pub fn config(&self) -> &HubConfig {
        &self.shared.config
    }

    /// Registers a client and returns its stream of frames.
    ///
    /// With no client id, the hub generates a unique one. With an id already
    /// connected, [`HubConfig::duplicate_id`] decides. With a `Last-Event-ID`, the
    /// stream starts with every frame published after that id that the client's logs
    /// still hold; when they no longer hold it, the [`ReplaySource`] is asked (if
    /// the hub has one), else the stream starts live, after
    /// [`HubConfig::replay_miss_event`]. A stream that starts live opens with a
    /// checkpoint of its position (see [positions](Self#positions)).
    ///
    /// # Errors
    ///
    /// [`ConnectError`]: shutting down, at capacity, a duplicate id (when refused),
    /// too many topics (for one connection, or for the hub), or the admission
    /// hook's refusal.
    pub fn connect(&self, options: ConnectOptions) -> Result<ClientStream, ConnectError> {
        self.connect_inner(&options, None)
    }

    pub(crate) fn connect_inner(
        &self,
        options: &ConnectOptions,
        http: Option<&http::request::Parts>,
    ) -> Result<ClientStream, ConnectError> {
        let shared = &self.shared;
        let requested = http
            .and_then(|parts| crate::request::client_id(parts, &shared.config.client_id_header));
        let request = ConnectRequest {
            client_id: options.client_id.as_deref(),
            requested_id: requested.as_deref().or(options.client_id.as_deref()),
            topics: &options.topics,
            last_event_id: options.last_event_id.as_deref(),
            http,
        };
        let result = self
            .precheck(options)
            .and_then(|()| shared.hooks.admit(&request).map_err(ConnectError::Refused))
            .and_then(|()| {
                let mut state = shared.lock();
                let remote = shared.replay_source.is_some();
                let mut expired = 0;
                let connected = state.connect(options, remote, &mut expired);
                drop(state);
                Counters::add(&shared.counters.topics_expired, expired);
                let connected = connected?;
                shared.counters.active.store(connected.active, Relaxed);
                Ok(connected)
            });
        let connected = match result {
            Ok(connected) => connected,
            Err(error) => {
                Counters::add(&shared.counters.refused, 1);
                if error == ConnectError::TopicsFull {
                    Counters::add(&shared.counters.topics_refused, 1);
                }
                return Err(error);
            }
        };
        if let Some(waker) = connected.replaced {
            waker.wake();
        }
        Counters::add(&shared.counters.connects, 1);
        let lead = Lead {
            retry: shared.retry_frame.is_some(),
            resync: connected.replay == Replay::Missed && shared.replay_miss_frame.is_some(),
            id: shared.config.client_id_event.is_some(),
        };
        let last_event_id = options.last_event_id.as_deref().unwrap_or_default();
        let remote = match (&shared.replay_source, connected.replay) {
            (Some(source), Replay::Remote) => Some(RemoteReplay::new(
                source.replay(ReplayRequest {
                    last_event_id: last_event_id.to_owned(),
                    client: connected.info.clone(),
                }),
                last_event_id,
            )),
            _ => None,
        };
        // The stream exists before any hook runs: should a hook panic, dropping it
        // still unregisters the client.
        // A client that resumed already knows where it stands (its
        // `Last-Event-ID`, then the replayed frames' ids); any other is told at once.
        let checkpoint = match connected.replay {
            Replay::Resumed => None,
            Replay::NotAsked | Replay::Missed | Replay::Remote => {
                connected.position.as_ref().and_then(Position::checkpoint)
            }
        };
        let stream = ClientStream::new(
            self.shared.clone(),
            connected.key,
            connected.info,
            lead,
            checkpoint,
            remote,
        );
        match connected.replay {
            Replay::NotAsked | Replay::Remote => {}
            Replay::Resumed => Counters::add(&shared.counters.replays, 1),
            Replay::Missed => shared.replay_missed(stream.info(), last_event_id),
        }
        shared.hooks.on_connect(stream.info(), connected.active);
        Ok(stream)
    }

    /// Refuses early, before the admission hook runs, what `connect` would refuse
    /// anyway (checked again under the lock).
    fn precheck(&self, options: &ConnectOptions) -> Result<(), ConnectError> {
        distinct_topics(&options.topics, self.shared.config.max_topics_per_client)?;
        let state = self.shared.lock();
        if state.shutting_down {
            Err(ConnectError::ShuttingDown)
        } else if (self.shared.config.max_clients).is_some_and(|max| state.active() >= max) {
            Err(ConnectError::AtCapacity)
        } else {
            Ok(())
        }
    }

    /// Sends `event` to every client. Returns its sequence number, which is also its
    /// id when it has none of its own.
    ///
    /// The event is encoded once; the cost does not depend on the number of clients,
    /// but for one wake per client waiting.
    pub fn broadcast(&self, event: &Event<'_>) -> u64 {
        self.append(None, event)
    }

    /// Sends `event` to the clients subscribed to `topic`. Returns its sequence
    /// number, which is also its id when it has none of its own.
    ///
    /// A topic's log is made on demand and kept while it has readers or history, so
    /// subscribers that reconnect get what they missed (within the
    /// [bounds](Self#bounded-history)). When `topic` has no log (no subscriber, no
    /// history) and [`HubConfig::max_topics`] logs are held, even after freeing
    /// idle ones, the event still takes its sequence and reaches everyone
    /// subscribed, that is nobody, but is not kept for replay: it is counted in
    /// [`Metrics::topics_refused`], and a client that later resumes the topic from
    /// before it gets a replay miss.
    pub fn publish(&self, topic: &str, event: &Event<'_>) -> u64 {
        self.append(Some(topic), event)
    }

    /// Appends an event that an external log (a backplane's) ordered and named:
    /// like [`broadcast`](Self::broadcast) (no `topic`) or
    /// [`publish`](Self::publish), but its id is `id`, the one the log gave it, and
    /// a client reconnecting with that id resumes after it. Relay in the log's
    /// order, from one task, and use only `relay` on a hub that relays (see
    /// `sse-redis`). Returns the event's sequence in this hub.
    ///
    /// ```
    /// use futures_lite::{StreamExt, future};
    /// use sse_core::{ConnectOptions, EncodedEvent, Event, Hub};
    ///
    /// let hub = Hub::default();
    /// let mut client = hub.connect(ConnectOptions::new())?;
    /// let stored = EncodedEvent::new(&Event::new("from another server"));
    /// hub.relay(None, &stored, "1700000000000-0")?;
    /// let batch = future::block_on(client.next()).expect("a batch");
    /// let mut frames = batch.frames().skip(1); // The opening checkpoint.
    /// assert_eq!(frames.next().unwrap(), "data: from another server\nid: 1700000000000-0\n\n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// When `id` contains a line break or NUL (nothing is appended).
    pub fn relay(
        &self,
        topic: Option<&str>,
        event: &EncodedEvent,
        id: &str,
    ) -> Result<u64, EventError> {
        let mut fields = BytesMut::with_capacity(event.frame_len(id));
        event.put_with_id(&mut fields, id)?;
        Ok(self.append_fields(topic, fields, Some(Arc::from(id)), true))
    }

    /// Records that this hub holds every event of an external log up to the one
    /// with id `id` that it will ever hold: a backplane that starts reading its log
    /// after `id` marks it, so a client that reconnects with `id` (or whose
    /// [`Replayed::through`] is `id`) resumes with what is relayed next. One mark is
    /// kept; a new one replaces it.
    ///
    /// # Errors
    ///
    /// When `id` contains a line break or NUL.
    pub fn mark_relayed(&self, id: &str) -> Result<(), EventError> {
        crate::event::check_id(id)?;
        self.shared.lock().mark_relayed(id.into());
        Ok(())
    }

    /// Records that the external log restarted: it was reset, or moved back below
    /// what was relayed (a backplane's stream recreated empty, or failed over to a
    /// replica that was behind). The ids relayed so far, and the relay mark, named
    /// events of a log that no longer holds them, so the hub forgets them: a client
    /// reconnecting with one is asked of the [`ReplaySource`] (or gets a replay
    /// miss), never resumed as if it had seen everything up to there. The frames
    /// stay in the history for the clients reading them; call it before relaying
    /// the new log's first event.
    pub fn restart_relay(&self) {
        self.shared.lock().restart_relay();
    }

    fn append(&self, topic: Option<&str>, event: &Event<'_>) -> u64 {
        // Sized exactly (the sequence is taken later, but almost always has the
        // digits of the one after the newest), so the frame becomes `Bytes`
        // without an allocation of its own.
        let frame_len = if event.id().is_some() {
            event.encoded_len()
        } else {
            let next = self.shared.counters.newest_sequence.load(Relaxed) + 1;
            event.encoded_len() - 1 + sequence_id_and_end_len(next)
        };
        let mut fields = BytesMut::with_capacity(frame_len);
        event.encode_fields(&mut fields);
        self.append_fields(topic, fields, event.id().map(Arc::from), false)
    }

    /// Appends encoded fields: with `own_id`, they include its `id` field
    /// (`relayed`: an external log's).
    #[inline]
    fn append_fields(
        &self,
        topic: Option<&str>,
        fields: BytesMut,
        own_id: Option<Arc<str>>,
        relayed: bool,
    ) -> u64 {
        let shared = &self.shared;
        let (published, wakers) = {
            let mut state = shared.lock();
            let published = state.publish(topic, fields, own_id, relayed);
            shared
                .counters
                .newest_sequence
                .store(published.sequence, Relaxed);
            // Most publishes find nobody waiting (readers are busy with the last).
            let wakers = published
                .log
                .filter(|log| state.has_waiters(*log))
                .map(|log| {
                    let mut wakers = WakeList::default();
                    let more = state.take_waiters(log, &mut wakers);
                    (log, wakers, more)
                });
            (published, wakers)
        };
        if let Some((log, mut wakers, mut more)) = wakers {
            wakers.wake_all();
            while more {
                more = shared.lock().take_waiters(log, &mut wakers);
                wakers.wake_all();
            }
        }
        shared.count_bounds(&published);
        published.sequence
    }

    /// Sends `event` to the client with id `client_id` alone, through its own
    /// bounded queue. Such frames are live only: never replayed, and given no
    /// automatic id. Returns the frame's sequence number.
    ///
    /// # Errors
    ///
    /// [`SendError::UnknownClient`] when no client has that id;
    /// [`SendError::QueueFull`] when its queue is full and the lag policy is
    /// [`LagPolicy::Disconnect`] (the client is then disconnected);
    /// [`SendError::ShuttingDown`] once the hub is shutting down.
    pub fn send_to(&self, client_id: &str, event: &Event<'_>) -> Result<u64, SendError> {
        let shared = &self.shared;
        let frame = event.to_frame().into_bytes();
        let sent = {
            let mut state = shared.lock();
            state.send_to(client_id, frame).inspect(|sent| {
                let newest = &shared.counters.newest_sequence;
                newest.store(sent.sequence, Relaxed);
            })
        };
        let sent = sent.map_err(|unsent| {
            if let Some(waker) = unsent.waker {
                waker.wake(); // The client it ended, after unlocking.
            }
            unsent.error
        })?;
        Counters::add(&shared.counters.dropped, u64::from(sent.dropped));
        if let Some(waker) = sent.waker {
            waker.wake();
        }
        Ok(sent.sequence)
    }

    /// The connected client with this id, if any.
    #[must_use]
    pub fn client(&self, client_id: &str) -> Option<ClientInfo> {
        self.shared.lock().client_by_id(client_id).cloned()
    }

    /// The ids of the connected clients, in no particular order.
    #[must_use]
    pub fn client_ids(&self) -> Vec<String> {
        self.shared.lock().client_ids().map(String::from).collect()
    }

    /// How many topic logs the hub holds (topics with subscribers or history).
    #[must_use]
    pub fn topic_count(&self) -> usize {
        self.shared.lock().topic_count()
    }

    /// What the history of every log counts now toward
    /// [`HubConfig::history_budget`]: the frames' bytes, plus
    /// [`HubConfig::FRAME_OVERHEAD`] each.
    #[must_use]
    pub fn history_bytes(&self) -> usize {
        self.shared.lock().history_bytes()
    }

    /// Frees the topic logs that no client read and nothing was published to for
    /// [`HubConfig::idle_topic_lifetime`] at `now`, and returns how many.
    /// [`keep_alive_tick`](Self::keep_alive_tick) does it with the current time, and
    /// publishing to a topic no one reads does it too; call it yourself without
    /// keep-alive ticks, or with a time of your own (a later one, in tests).
    pub fn expire_idle_topics(&self, now: Instant) -> usize {
        let shared = &self.shared;
        let expired = shared.lock().expire_idle(now);
        Counters::add(&shared.counters.topics_expired, expired);
        usize::try_from(expired).unwrap_or(usize::MAX)
    }

    /// Ends the stream of the client with this id (its disconnect hook runs when the
    /// stream ends). Returns whether such a client was connected.
    pub fn disconnect(&self, client_id: &str) -> bool {
        let ended = self.shared.lock().disconnect(client_id);
        if let Some(Some(waker)) = &ended {
            waker.wake_by_ref();
        }
        ended.is_some()
    }

    /// Sends a keep-alive comment to every client that received nothing since the
    /// previous tick. Adapters call it every [`HubConfig::keep_alive`] from their
    /// runtime's timer, so an idle client hears from the server at least every two
    /// intervals and never sooner than one.
    ///
    /// Each tick also applies the lag policy to clients whose stream is not being
    /// polled (a writer blocked on a client that stopped reading), and frees idle
    /// topic logs (see [`expire_idle_topics`](Self::expire_idle_topics)).
    pub fn keep_alive_tick(&self) {
        self.tick(true);
    }

    fn tick(&self, keep_alive: bool) {
        let now = Instant::now();
        let tick = self.shared.lock().tick(keep_alive, now);
        tick.wakers.into_iter().for_each(std::task::Waker::wake);
        Counters::add(&self.shared.counters.dropped, tick.dropped);
        Counters::add(&self.shared.counters.topics_expired, tick.expired);
        for key in tick.lagged {
            self.shared.remove(key, DisconnectReason::Lagged);
        }
    }

    /// Runs keep-alive until the hub shuts down: waits one [`HubConfig::keep_alive`]
    /// interval with `sleep`, your runtime's timer, then calls
    /// [`keep_alive_tick`](Self::keep_alive_tick), and so on. With keep-alive off it
    /// still ticks every second, to apply the lag policy to clients that stopped
    /// reading. Spawn it once per hub: `hub.run_keep_alive(tokio::time::sleep)`
    /// on tokio, `hub.run_keep_alive(async_io::Timer::after)` on smol.
    pub async fn run_keep_alive<F, S>(&self, mut sleep: S)
    where
        S: FnMut(Duration) -> F,
        F: Future,
    {
        // Without keep-alive, still tick every second for slow clients.
        let (interval, keep_alive) = match self.shared.config.keep_alive {
            Some(interval) => (interval, true),
            None => (Duration::from_secs(1), false),
        };
        loop {
            sleep(interval).await;
            if self.is_shutting_down() {
                return;
            }
            self.tick(keep_alive);
        }
    }

    /// Shuts down: no more clients are admitted, `final_event` (if any) is broadcast,
    /// and every stream ends once it has delivered what was published before. Await
    /// [`closed`](Self::closed) to know when every client is gone.
    pub fn shutdown(&self, final_event: Option<&Event<'_>>) {
        if let Some(event) = final_event {
            self.broadcast(event);
        }
        let (wakers, active) = {
            let mut state = self.shared.lock();
            (state.shut_down(), state.active())
        };
        wakers.into_iter().for_each(std::task::Waker::wake);
        self.shared.stopping.notify(usize::MAX);
        if active == 0 {
            self.shared.gone.notify(usize::MAX);
        }
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    #[must_use]
    pub fn is_shutting_down(&self) -> bool {
        self.shared.lock().shutting_down
    }

    /// Completes once [`shutdown`](Self::shutdown) is called: when a server should
    /// stop accepting connections.
    pub async fn shutting_down(&self) {
        wait_until(&self.shared.stopping, || self.is_shutting_down()).await;
    }

    /// Completes once the hub is shut down and every client is gone.
    pub async fn closed(&self) {
        wait_until(&self.shared.gone, || {
            let state = self.shared.lock();
            state.shutting_down && state.active() == 0
        })
        .await;
    }

    /// A snapshot of the counters.
    #[must_use]
    pub fn metrics(&self) -> Metrics {
        self.shared
            .counters
            .snapshot(self.shared.config.first_sequence_taken())
    }

    /// How long to wait before retrying, for 503 responses.
    #[must_use]
    pub fn retry_after(&self) -> Duration {
        self.shared.config.retry_after
    }
}

impl HubBuilder {
    /// The hub.
    pub fn build(self) -> Hub {
        Hub {
            shared: Arc::new(Shared::new(self)),
        }
    }
}

/// Waits until `done` holds, re-checking each time `event` is notified.
async fn wait_until(event: &event_listener::Event, done: impl Fn() -> bool) {
    loop {
        if done() {
            return;
        }
        let listener = event.listen();
        if done() {
            return;
        }
        listener.await;
    }
}
