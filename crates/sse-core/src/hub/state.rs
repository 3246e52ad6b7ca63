//! Everything behind the hub's lock: the registry, the logs and the sequence
//! counter, and the operations that coordinate them (each invariant is its
//! owner's: `client.rs`, `registry.rs`, `logs.rs`, `lag.rs`, `waiters.rs`). No
//! hooks run and no wakers are woken in here: wakers are handed back so the
//! caller wakes them after unlocking.
//!
//! Layer 3 of the hub: state, above the owners it coordinates.

use std::sync::Arc;
use std::task::Waker;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};

use super::batch::Batch;
use super::client::Client;
use super::config::{DuplicateIdPolicy, HubConfig};
use super::errors::{ConnectError, SendError};
use super::hooks::{ClientInfo, DisconnectReason};
use super::keys::{ClientKey, LogRef};
use super::lag::apply_lag_policy;
use super::logs::{Logs, Published};
use super::options::{ConnectOptions, distinct_topics};
use super::position::{Position, Relayed};
use super::queue::QueueFull;
use super::registry::Registry;
use super::waiters::Waiters;
use crate::encode::SequenceIdLine;

/// A frame [`State::send_to`] did not queue: why, and the waker of a client it
/// ended meanwhile (to wake after unlocking).
#[derive(Debug)]
pub(crate) struct Unsent {
    /// Why it was not queued.
    pub(crate) error: SendError,
    /// The waker of the client it ended, if it ended one.
    pub(crate) waker: Option<Waker>,
}

impl From<SendError> for Unsent {
    fn from(error: SendError) -> Self {
        Unsent { error, waker: None }
    }
}

/// The hub's state, behind its lock.
#[derive(Debug)]
pub(crate) struct State {
    /// The hub's settings (bounds applied), shared with the hub's lock-free reads.
    config: Arc<HubConfig>,
    /// The last sequence number handed out.
    pub(crate) sequence: u64,
    /// The id line of the next sequence, counted up with it.
    next_id_line: SequenceIdLine,
    /// The sequence before the first handed out: `Last-Event-ID`s from here on
    /// are this hub's.
    first_sequence: u64,
    /// The connected clients.
    registry: Registry,
    /// The logs, and the history's indexes and budget.
    logs: Logs,
    /// Set by [`shut_down`](Self::shut_down): no client is admitted any more.
    pub(crate) shutting_down: bool,
    /// The id of the newest event relayed (or the relay mark) once the hub relays:
    /// what names a position there (see [`position`](Self::position)). `None`
    /// while the hub does not relay.
    relayed: Option<Relayed>,
}

/// Whether a connecting client resumes after a `Last-Event-ID`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Replay {
    /// It sent none.
    NotAsked,
    /// The history holds everything after it: the client gets exactly that.
    Resumed,
    /// The history cannot give what followed it (evicted, or the id is unknown):
    /// the client starts live.
    Missed,
    /// Not in the history: the replay source is asked.
    Remote,
}

/// A client [`State::connect`] registered.
#[derive(Debug)]
pub(crate) struct Connected {
    /// Its key in the registry.
    pub(crate) key: ClientKey,
    /// Its id and topics.
    pub(crate) info: ClientInfo,
    /// How many clients are connected now.
    pub(crate) active: usize,
    /// Whether it resumes after its `Last-Event-ID`.
    pub(crate) replay: Replay,
    /// The stream this connection replaced, to wake so it ends.
    pub(crate) replaced: Option<Waker>,
    /// Where it stands, unless nothing names it (a relaying hub whose external log
    /// restarted, until the new log's first event).
    pub(crate) position: Option<Position>,
}

/// What a read did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// Frames are in the batch.
    Ready,
    /// Nothing to read; the waker is registered.
    Pending,
    /// The stream is over.
    Ended(DisconnectReason),
}

/// What [`State::read`] did, and what it counted.
#[derive(Debug)]
pub(crate) struct ReadOutcome {
    /// Frames read, waiting, or ended.
    pub(crate) read: Read,
    /// Frames skipped under [`LagPolicy::DropOldest`](super::LagPolicy::DropOldest).
    pub(crate) dropped: u64,
    /// The batch holds a keep-alive comment (nothing else was there to read).
    pub(crate) keep_alive: bool,
}

/// A client [`State::remove`] took out of the registry.
#[derive(Debug)]
pub(crate) struct Removed {
    /// Its id and topics, for the disconnect hook.
    pub(crate) info: ClientInfo,
    /// Why it left.
    pub(crate) reason: DisconnectReason,
    /// How many clients are connected now.
    pub(crate) active: usize,
}

/// A frame [`State::send_to`] queued.
#[derive(Debug)]
pub(crate) struct Sent {
    /// The sequence it took.
    pub(crate) sequence: u64,
    /// The client's waker, to wake after unlocking.
    pub(crate) waker: Option<Waker>,
    /// The client's queue was full: its oldest frame was dropped for this one.
    pub(crate) dropped: bool,
}

/// Wakers collected under the hub's lock, woken after it.
pub(crate) type WakeList = super::wake::WakeList<32>;

impl State {
    /// No client, no frame; sequences start after `first_sequence`.
    pub(crate) fn new(config: Arc<HubConfig>, first_sequence: u64) -> Self {
        State {
            logs: Logs::new(config.clone()),
            config,
            sequence: first_sequence,
            next_id_line: SequenceIdLine::new(first_sequence.saturating_add(1)),
            first_sequence,
            registry: Registry::default(),
            shutting_down: false,
            relayed: None,
        }
    }

    /// What the logs' history counts toward [`HubConfig::history_budget`] now.
    pub(crate) fn history_bytes(&self) -> usize {
        self.logs.history_bytes()
    }

    /// How many clients are connected.
    pub(crate) fn active(&self) -> usize {
        self.registry.len()
    }

    /// The info of the client with this id.
    pub(crate) fn client_by_id(&self, id: &str) -> Option<&ClientInfo> {
        self.registry.by_id(id).map(Client::info)
    }

    /// The ids of the connected clients.
    pub(crate) fn client_ids(&self) -> impl Iterator<Item = &str> {
        self.registry.ids()
    }

    /// How many topic logs are held.
    pub(crate) fn topic_count(&self) -> usize {
        self.logs.topic_count()
    }

    /// Registers a client. With `remote`, a `Last-Event-ID` the history does not
    /// hold is left to the replay source: the client waits for
    /// [`resume`](Self::resume). Idle topic logs freed to make room for its
    /// topics are counted in `expired`, whether it connects or not.
    pub(crate) fn connect(
        &mut self,
        options: &ConnectOptions,
        remote: bool,
        expired: &mut u64,
    ) -> Result<Connected, ConnectError> {
        if self.shutting_down {
            return Err(ConnectError::ShuttingDown);
        }
        let requested = options.client_id.as_deref().filter(|id| !id.is_empty());
        let existing = requested.filter(|id| self.registry.key_of(id).is_some());
        if existing.is_some() && self.config.duplicate_id == DuplicateIdPolicy::RefuseNew {
            return Err(ConnectError::DuplicateId);
        }
        let others = self.registry.len() - usize::from(existing.is_some());
        if self.config.max_clients.is_some_and(|max| others >= max) {
            return Err(ConnectError::AtCapacity);
        }
        let topics = distinct_topics(&options.topics, self.config.max_topics_per_client)?;
        if !self.logs.room_for(&topics, Instant::now(), expired) {
            return Err(ConnectError::TopicsFull);
        }

        let replaced = existing
            .and_then(|id| self.registry.take_id(id))
            .and_then(|client| client.end_now(DisconnectReason::Replaced));
        let id: Arc<str> = match requested {
            Some(id) => id.into(),
            None => self.registry.generate_id(),
        };

        let topics: Vec<Arc<str>> = topics.into_iter().map(Arc::from).collect();
        let log_indexes: Vec<usize> = topics.iter().map(|t| self.logs.topic_log(t)).collect();

        let after = options
            .last_event_id
            .as_deref()
            .map(|last| self.resolve_event_id(last));
        let mut replay = match after {
            None => Replay::NotAsked,
            Some(Some(_)) => Replay::Resumed,
            Some(None) if remote => Replay::Remote,
            Some(None) => Replay::Missed,
        };
        // An id this hub knows but no longer holds everything after (in one of the
        // client's logs) is the replay source's too, when there is one.
        let cursors = self
            .logs
            .cursors_after(after.flatten(), &log_indexes)
            .or_else(|| {
                replay = if remote {
                    Replay::Remote
                } else {
                    Replay::Missed
                };
                self.logs.cursors_after(None, &log_indexes)
            });
        let (broadcast, topic_cursors) = cursors.expect("a live cursor always exists");
        for &index in &log_indexes {
            self.logs.reader_joined(index);
        }

        let info = self.registry.info(id, topics);
        let key = self.registry.insert(|generation| {
            Client::new(
                generation,
                info.clone(),
                broadcast,
                log_indexes.into_iter().zip(topic_cursors),
                replay == Replay::Remote,
            )
        });
        Ok(Connected {
            key,
            info,
            active: self.registry.len(),
            replay,
            replaced,
            position: self.position(),
        })
    }

    /// The id naming the point after everything appended so far: the newest
    /// sequence, or in a hub that relays the newest external id (a sequence means
    /// nothing to another process reading the same log). Every frame appended
    /// after it has a greater sequence, so a client whose cursors start here and
    /// that reconnects with this id misses nothing and gets nothing twice.
    pub(crate) fn position(&self) -> Option<Position> {
        match &self.relayed {
            None => Some(Position::Sequence(self.sequence)),
            Some(Relayed::At(id)) => Some(Position::Relayed(id.clone())),
            Some(Relayed::Restarted) => None,
        }
    }

    /// Places a client that waited for the replay source just after `through`, in
    /// every log it reads; when `through` is `None` or no longer in the history, it
    /// stays where it connected (live from then on). Returns whether it resumed
    /// after `through`; `None` when the client is gone.
    pub(crate) fn resume(&mut self, key: ClientKey, through: Option<&str>) -> Option<bool> {
        let logs: Vec<usize> = self.registry.get(key)?.topic_logs().collect();
        let after = through.and_then(|id| self.resolve_event_id(id));
        let placed = after.and_then(|sequence| self.logs.cursors_after(Some(sequence), &logs));
        Some(self.registry.get_mut(key)?.resume(placed))
    }

    /// Notes that this hub holds everything an external log holds up to its id
    /// `id` (see [`Hub::mark_relayed`](super::Hub::mark_relayed)).
    pub(crate) fn mark_relayed(&mut self, id: Arc<str>) {
        self.relayed = Some(Relayed::At(id.clone()));
        self.logs.mark_relayed(id, self.sequence);
    }

    /// Forgets every event id and the relay mark (see
    /// [`Hub::restart_relay`](super::Hub::restart_relay)).
    pub(crate) fn restart_relay(&mut self) {
        self.relayed = Some(Relayed::Restarted);
        self.logs.restart_relay();
    }

    /// The sequence a `Last-Event-ID` stands for, if any (see
    /// [`Logs::resolve_event_id`]).
    fn resolve_event_id(&self, last_event_id: &str) -> Option<u64> {
        self.logs
            .resolve_event_id(last_event_id, self.first_sequence..=self.sequence)
    }

    /// Frees the topic logs idle for
    /// [`HubConfig::idle_topic_lifetime`] at `now`; returns how many.
    pub(crate) fn expire_idle(&mut self, now: Instant) -> u64 {
        self.logs.expire_idle(now, None)
    }

    /// Hands out the next sequence number.
    fn take_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.next_id_line.increment();
        self.sequence
    }

    /// Appends an event to the broadcast log or a topic's. `fields` is the encoded
    /// event without its final blank line; events without an id of their own get
    /// the sequence as id. `relayed`: its id is an external log's.
    #[inline]
    pub(crate) fn publish(
        &mut self,
        topic: Option<&str>,
        mut fields: BytesMut,
        own_id: Option<Arc<str>>,
        relayed: bool,
    ) -> Published {
        if let Some(id) = &own_id {
            fields.put_u8(b'\n');
            if relayed {
                self.relayed = Some(Relayed::At(id.clone()));
            }
        } else {
            fields.put_slice(self.next_id_line.as_bytes());
        }
        let sequence = self.take_sequence();
        self.logs.append(topic, sequence, fields.freeze(), own_id)
    }

    /// Whether readers wait on `log`.
    #[inline]
    pub(crate) fn has_waiters(&self, log_ref: LogRef) -> bool {
        self.logs.has_waiters(log_ref)
    }

    /// Moves the wakers of readers waiting on `log` into `wakers`, until it is full.
    /// Returns whether more are waiting.
    pub(crate) fn take_waiters(&mut self, log_ref: LogRef, wakers: &mut WakeList) -> bool {
        let State { registry, logs, .. } = self;
        let Some(waiters) = logs.waiters_mut(log_ref) else {
            return false;
        };
        while !wakers.is_full() {
            let Some(key) = waiters.pop(|key| registry.is_live(key)) else {
                return false;
            };
            let Some(client) = registry.get_mut(key) else {
                continue;
            };
            client.unlisted(log_ref);
            if let Some(waker) = client.take_waker() {
                wakers.push(waker);
            }
        }
        !waiters.is_empty()
    }

    /// Queues a frame for one client. Returns the waker to wake, also when the
    /// frame was refused and the client ended (a full queue, under
    /// [`LagPolicy::Disconnect`](super::LagPolicy::Disconnect)).
    pub(crate) fn send_to(&mut self, client_id: &str, frame: Bytes) -> Result<Sent, Unsent> {
        if self.shutting_down {
            return Err(SendError::ShuttingDown.into());
        }
        let client = self
            .registry
            .by_id_mut(client_id)
            .filter(|client| client.is_open())
            .ok_or(SendError::UnknownClient)?;
        // Taken only if the frame is queued.
        let sequence = self.sequence + 1;
        let sent = client.send_direct(
            sequence,
            frame,
            self.config.client_queue,
            self.config.lag_policy,
        );
        let dropped = match sent {
            Ok(dropped) => dropped,
            Err(QueueFull) => {
                return Err(Unsent {
                    error: SendError::QueueFull,
                    waker: client.end_now(DisconnectReason::Lagged),
                });
            }
        };
        let waker = client.take_waker();
        self.take_sequence();
        Ok(Sent {
            sequence,
            waker,
            dropped,
        })
    }

    /// Reads what the client `key` has to read into `batch`, in sequence order, or
    /// registers `waker` when there is nothing.
    pub(crate) fn read(
        &mut self,
        key: ClientKey,
        batch: &mut Batch,
        waker: &Waker,
        keep_alive_frame: &Bytes,
    ) -> ReadOutcome {
        let State {
            registry,
            logs,
            config,
            ..
        } = self;
        let (broadcast, topics) = logs.for_readers();
        let mut outcome = ReadOutcome {
            read: Read::Ready,
            dropped: 0,
            keep_alive: false,
        };
        let Some(client) = registry.get_mut(key) else {
            outcome.read = Read::Ended(DisconnectReason::Removed);
            return outcome;
        };
        let limit = match client.read_limit() {
            Ok(limit) => limit,
            Err(reason) => {
                outcome.read = Read::Ended(reason);
                return outcome;
            }
        };

        // Waiting for the replay source: nothing to read yet, but a disconnect or a
        // shutdown still ends the stream.
        if client.is_awaiting_replay() {
            if let Some(reason) = client.end_if_drained() {
                outcome.read = Read::Ended(reason);
            } else {
                client.register_waker(waker);
                outcome.read = Read::Pending;
            }
            return outcome;
        }

        // Slow readers first: the policy applies before anything is read.
        match apply_lag_policy(client.cursors_mut(broadcast, topics), config) {
            Some(dropped) => outcome.dropped = dropped,
            None => {
                client.end_now(DisconnectReason::Lagged);
                outcome.read = Read::Ended(DisconnectReason::Lagged);
                return outcome;
            }
        }

        client.read_into(broadcast, topics, limit, batch);
        if !batch.is_empty() {
            client.delivered();
            return outcome;
        }
        if let Some(reason) = client.end_if_drained() {
            outcome.read = Read::Ended(reason);
            return outcome;
        }
        if client.take_keep_alive_due() {
            batch.push(keep_alive_frame.clone());
            outcome.keep_alive = true;
            return outcome;
        }

        // Nothing to read: wait for the next append to any of the client's logs.
        client.register_waker(waker);
        client.list_waiting(key, broadcast, topics);
        outcome.read = Read::Pending;
        outcome
    }

    /// Removes a client from the registry (if `key` is still its key), with
    /// `reason` unless it was already ending for another.
    pub(crate) fn remove(&mut self, key: ClientKey, reason: DisconnectReason) -> Option<Removed> {
        let client = self.registry.remove(key)?;
        for log_ref in client.listed_on() {
            if let Some(waiters) = self.logs.waiters_mut(log_ref) {
                forget_waiter(waiters, &self.registry);
            }
        }
        for index in client.topic_logs() {
            self.logs.reader_left(index);
        }
        let reason = client.reason_or(reason);
        Some(Removed {
            info: client.into_info(),
            reason,
            active: self.registry.len(),
        })
    }

    /// Ends the stream of the client with this id now. Returns its waker.
    pub(crate) fn disconnect(&mut self, client_id: &str) -> Option<Option<Waker>> {
        let client = self.registry.take_id(client_id)?;
        Some(client.end_now(DisconnectReason::Removed))
    }

    /// Stops admitting clients and ends every stream after what is already
    /// published. Returns the wakers of waiting streams.
    pub(crate) fn shut_down(&mut self) -> Vec<Waker> {
        self.shutting_down = true;
        let sequence = self.sequence;
        let mut wakers = Vec::new();
        for (_, client) in self.registry.iter_mut() {
            wakers.extend(client.end_after(sequence, DisconnectReason::Shutdown));
        }
        wakers
    }

    /// Marks clients that stayed idle since the previous tick as owed a keep-alive
    /// (when `keep_alive`), and applies the lag policy to every client that is not
    /// waiting: a stream whose writer is blocked on a full socket is never polled,
    /// so [`read`](Self::read) alone would never see it fall behind.
    pub(crate) fn tick(&mut self, keep_alive: bool, now: Instant) -> Tick {
        let mut tick = Tick {
            expired: self.expire_idle(now),
            ..Tick::default()
        };
        let State {
            registry,
            logs,
            config,
            ..
        } = self;
        let (broadcast, topics) = logs.for_readers();
        for (key, client) in registry.iter_mut() {
            if !client.is_open() || client.is_awaiting_replay() {
                continue;
            }
            // A waiting stream has read everything there is: it cannot lag.
            let waiting = client.is_waiting();
            if keep_alive {
                tick.wakers.extend(client.keep_alive_tick());
            }
            if waiting {
                continue;
            }
            match apply_lag_policy(client.cursors_mut(broadcast, topics), config) {
                Some(dropped) => tick.dropped += dropped,
                None => {
                    client.end_now(DisconnectReason::Lagged);
                    tick.lagged.push(key);
                }
            }
        }
        tick
    }
}

/// What a [`State::tick`] found.
#[derive(Debug, Default)]
pub(crate) struct Tick {
    /// Streams to wake for their keep-alive.
    pub(crate) wakers: Vec<Waker>,
    /// Clients too far behind under [`LagPolicy::Disconnect`](super::LagPolicy::Disconnect), to remove.
    pub(crate) lagged: Vec<ClientKey>,
    /// Frames skipped under [`LagPolicy::DropOldest`](super::LagPolicy::DropOldest).
    pub(crate) dropped: u64,
    /// Idle topic logs freed.
    pub(crate) expired: u64,
}

/// Notes that one of `log`'s waiters has left, and drops the keys of those that
/// left once they are the majority, so clients that come and go without anything
/// being published never grow the list (amortised O(1) per departure).
fn forget_waiter(waiters: &mut Waiters, registry: &Registry) {
    waiters.forget_one(|key| registry.is_live(key));
}
