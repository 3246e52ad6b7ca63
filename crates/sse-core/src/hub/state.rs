//! Everything behind the hub's lock: the registry, the logs, the id indexes, and the
//! operations on them. No hooks run and no wakers are woken in here: wakers are
//! handed back so the caller wakes them after unlocking.

use std::collections::HashMap;
use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::task::Waker;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use slab::Slab;

use super::batch::Batch;
use super::client::{Client, QueueFull};
use super::config::{DuplicateIdPolicy, HubConfig};
use super::hooks::{ClientInfo, DisconnectReason};
use super::lag::apply_lag_policy;
use super::log::{Cursor, Entry, Log};
use super::order::{Order, Tier, log_mut};
use super::registry::{ClientKey, Registry};
use super::{ConnectError, ConnectOptions, SendError};
use crate::encode::SequenceIdLine;

/// A frame [`State::send_to`] did not queue: why, and the waker of a client it
/// ended meanwhile (to wake after unlocking).
#[derive(Debug)]
pub(crate) struct Unsent {
    pub(crate) error: SendError,
    pub(crate) waker: Option<Waker>,
}

impl From<SendError> for Unsent {
    fn from(error: SendError) -> Self {
        Unsent { error, waker: None }
    }
}

/// Which log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LogRef {
    Broadcast,
    Topic(usize),
}

#[derive(Debug)]
pub(crate) struct State {
    /// The hub's settings (bounds applied), shared with the hub's lock-free reads.
    config: Arc<HubConfig>,
    /// The last sequence number handed out.
    pub(crate) sequence: u64,
    /// The id line of the next sequence, counted up with it.
    next_id_line: SequenceIdLine,
    first_sequence: u64,
    /// The connected clients.
    registry: Registry,
    broadcast: Log,
    topics: Slab<Log>,
    topic_index: HashMap<Arc<str>, usize>,
    /// Events' own ids, for those still in a log, to their sequence.
    event_ids: HashMap<Arc<str>, u64>,
    /// An external log's id up to which this hub holds everything it will, and the
    /// sequence it stands for (see [`Hub::mark_relayed`](super::Hub::mark_relayed)).
    relay_mark: Option<(Arc<str>, u64)>,
    pub(crate) shutting_down: bool,
    /// Which logs lose frames first when the history is over its budget.
    order: Order,
    /// What every log's history counts toward [`HubConfig::history_budget`].
    history_bytes: usize,
    /// The newest sequence any freed topic log held (or a publish not kept held):
    /// a topic log made anew cannot replay from before it, since it may miss what
    /// the freed one held.
    freed_through: u64,
}

/// What a publish did, besides appending.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Published {
    pub(crate) sequence: u64,
    /// The log appended to; `None` when the topic had no log and
    /// [`HubConfig::max_topics`] were held (nobody reads it: the frame is not kept).
    pub(crate) log: Option<LogRef>,
    /// Frames evicted for the history budget.
    pub(crate) evicted: u64,
    /// Idle topic logs freed.
    pub(crate) expired: u64,
}

/// Whether a connecting client resumes after a `Last-Event-ID`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Replay {
    NotAsked,
    Resumed,
    Missed,
    /// Not in the history: the replay source is asked.
    Remote,
}

#[derive(Debug)]
pub(crate) struct Connected {
    pub(crate) key: ClientKey,
    pub(crate) info: ClientInfo,
    pub(crate) active: usize,
    pub(crate) replay: Replay,
    /// The stream this connection replaced, to wake so it ends.
    pub(crate) replaced: Option<Waker>,
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

#[derive(Debug)]
pub(crate) struct ReadOutcome {
    pub(crate) read: Read,
    /// Frames skipped under [`LagPolicy::DropOldest`](super::LagPolicy::DropOldest).
    pub(crate) dropped: u64,
    pub(crate) keep_alive: bool,
}

#[derive(Debug)]
pub(crate) struct Removed {
    pub(crate) info: ClientInfo,
    pub(crate) reason: DisconnectReason,
    pub(crate) active: usize,
}

#[derive(Debug)]
pub(crate) struct Sent {
    pub(crate) sequence: u64,
    pub(crate) waker: Option<Waker>,
    pub(crate) dropped: bool,
}

/// Wakers collected under the lock, woken after it, without allocating.
pub(crate) struct WakeList {
    /// Only `wakers[..len]` can hold a waker: dropping looks at those alone (most
    /// publishes find nobody waiting).
    wakers: ManuallyDrop<[Option<Waker>; 32]>,
    len: usize,
}

impl Drop for WakeList {
    fn drop(&mut self) {
        for waker in &mut self.wakers[..self.len] {
            drop(waker.take());
        }
    }
}

impl WakeList {
    pub(crate) fn new() -> Self {
        WakeList {
            wakers: ManuallyDrop::new([const { None }; 32]),
            len: 0,
        }
    }

    fn is_full(&self) -> bool {
        self.len == self.wakers.len()
    }

    fn push(&mut self, waker: Waker) {
        self.wakers[self.len] = Some(waker);
        self.len += 1;
    }

    pub(crate) fn wake_all(&mut self) {
        for waker in &mut self.wakers[..self.len] {
            if let Some(waker) = waker.take() {
                waker.wake();
            }
        }
        self.len = 0;
    }
}

impl State {
    pub(crate) fn new(config: Arc<HubConfig>, first_sequence: u64) -> Self {
        State {
            config,
            sequence: first_sequence,
            next_id_line: SequenceIdLine::new(first_sequence.saturating_add(1)),
            first_sequence,
            registry: Registry::default(),
            broadcast: Log::new(None),
            topics: Slab::new(),
            topic_index: HashMap::new(),
            event_ids: HashMap::new(),
            relay_mark: None,
            shutting_down: false,
            order: Order::default(),
            history_bytes: 0,
            freed_through: 0,
        }
    }

    /// What the logs' history counts toward [`HubConfig::history_budget`] now.
    pub(crate) fn history_bytes(&self) -> usize {
        self.history_bytes
    }

    pub(crate) fn active(&self) -> usize {
        self.registry.len()
    }

    pub(crate) fn client_by_id(&self, id: &str) -> Option<&ClientInfo> {
        self.registry.by_id(id).map(Client::info)
    }

    pub(crate) fn client_ids(&self) -> impl Iterator<Item = &str> {
        self.registry.ids()
    }

    pub(crate) fn topic_count(&self) -> usize {
        self.topics.len()
    }

    /// Registers a client. With `remote`, a `Last-Event-ID` the history does not
    /// hold is left to the replay source: the client waits for
    /// [`resume`](Self::resume).
    pub(crate) fn connect(
        &mut self,
        options: &ConnectOptions,
        remote: bool,
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

        let replaced = existing
            .and_then(|id| self.registry.take_id(id))
            .and_then(|client| client.end_now(DisconnectReason::Replaced));
        let id: Arc<str> = match requested {
            Some(id) => id.into(),
            None => self.registry.generate_id(),
        };

        let mut topics: Vec<Arc<str>> = Vec::with_capacity(options.topics.len());
        for topic in &options.topics {
            if !topics.iter().any(|t| **t == **topic) {
                topics.push(topic.as_str().into());
            }
        }
        let log_indexes: Vec<usize> = topics.iter().map(|t| self.topic_log(t)).collect();

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
        let cursors = self
            .cursors_after(after.flatten(), &log_indexes)
            .or_else(|| {
                replay = Replay::Missed;
                self.cursors_after(None, &log_indexes)
            });
        let (broadcast, topic_cursors) = cursors.expect("a live cursor always exists");
        for &index in &log_indexes {
            self.reader_joined(index);
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
        })
    }

    /// Cursors in the broadcast log and the given topic logs, just after `sequence`
    /// (or live when `None`); `None` when one of the logs cannot replay from there.
    fn cursors_after(
        &self,
        sequence: Option<u64>,
        topic_logs: &[usize],
    ) -> Option<(Cursor, Vec<Cursor>)> {
        let broadcast = self.broadcast.cursor_after(sequence)?;
        let topics = topic_logs
            .iter()
            .map(|&index| self.topics[index].cursor_after(sequence))
            .collect::<Option<Vec<_>>>()?;
        Some((broadcast, topics))
    }

    /// Places a client that waited for the replay source just after `through`, in
    /// every log it reads; when `through` is `None` or no longer in the history, it
    /// stays where it connected (live from then on). Returns whether it resumed
    /// after `through`; `None` when the client is gone.
    pub(crate) fn resume(&mut self, key: ClientKey, through: Option<&str>) -> Option<bool> {
        let logs: Vec<usize> = self.registry.get(key)?.topic_logs().collect();
        let after = through.and_then(|id| self.resolve_event_id(id));
        let placed = after.and_then(|sequence| self.cursors_after(Some(sequence), &logs));
        Some(self.registry.get_mut(key)?.resume(placed))
    }

    pub(crate) fn mark_relayed(&mut self, id: Arc<str>) {
        self.relay_mark = Some((id, self.sequence));
    }

    /// Forgets every event id and the relay mark (see
    /// [`Hub::restart_relay`](super::Hub::restart_relay)). Entries keep their
    /// `own_id`: evicting one removes it from `event_ids` only if it still maps to
    /// that entry's sequence, so nothing else is disturbed.
    pub(crate) fn restart_relay(&mut self) {
        self.event_ids.clear();
        self.relay_mark = None;
    }

    /// The sequence a `Last-Event-ID` stands for: an event's own id still in the
    /// history, the relay mark, or a sequence this hub handed out. `None` when it is
    /// none of these.
    fn resolve_event_id(&self, last_event_id: &str) -> Option<u64> {
        if let Some(&sequence) = self.event_ids.get(last_event_id) {
            return Some(sequence);
        }
        if let Some((mark, sequence)) = &self.relay_mark
            && **mark == *last_event_id
        {
            return Some(*sequence);
        }
        if last_event_id.is_empty() || !last_event_id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let sequence: u64 = last_event_id.parse().ok()?;
        (self.first_sequence..=self.sequence)
            .contains(&sequence)
            .then_some(sequence)
    }

    /// The index of `topic`'s log, made if it does not exist.
    fn topic_log(&mut self, topic: &str) -> usize {
        match self.topic_index.get(topic) {
            Some(&index) => index,
            None => self.new_topic_log(topic),
        }
    }

    /// The log to publish to `topic` in, made if it does not exist and fewer than
    /// [`HubConfig::max_topics`] are held (idle ones are freed first). `None` when
    /// there is no room.
    fn topic_log_to_publish(&mut self, topic: &str, expired: &mut u64) -> Option<LogRef> {
        if let Some(&index) = self.topic_index.get(topic) {
            return Some(LogRef::Topic(index));
        }
        if self.topics.len() >= self.config.max_topics {
            *expired += self.expire_idle(Instant::now(), None);
            if self.topics.len() >= self.config.max_topics {
                return None;
            }
        }
        Some(LogRef::Topic(self.new_topic_log(topic)))
    }

    /// Makes `topic`'s log: one that cannot replay from before what freed logs held.
    fn new_topic_log(&mut self, topic: &str) -> usize {
        let topic: Arc<str> = topic.into();
        let log = Log::new(Some(topic.clone())).with_gap_through(self.freed_through);
        let index = self.topics.insert(log);
        self.topic_index.insert(topic, index);
        index
    }

    /// A client now reads topic log `index`: no longer idle, and evicted after the
    /// logs no one reads.
    fn reader_joined(&mut self, index: usize) {
        let Some(log) = self.topics.get_mut(index) else {
            return;
        };
        log.readers += 1;
        if log.readers == 1 {
            log.idle_since = None;
            self.relist(LogRef::Topic(index));
        }
    }

    /// A client no longer reads topic log `index`: when it was the last, the log is
    /// freed if it holds nothing, and idle from now otherwise.
    fn reader_left(&mut self, index: usize) {
        let Some(log) = self.topics.get_mut(index) else {
            return;
        };
        log.readers = log.readers.saturating_sub(1);
        if log.readers > 0 {
            return;
        }
        if log.is_empty() {
            self.free_topic(index);
        } else {
            log.idle_since = Some(Instant::now());
            self.relist(LogRef::Topic(index));
        }
    }

    /// Moves a log to the newest end of the eviction list it belongs in now, or
    /// out of the lists when it holds nothing.
    fn relist(&mut self, log_ref: LogRef) {
        let State {
            broadcast,
            topics,
            order,
            ..
        } = self;
        match log_mut(broadcast, topics, log_ref) {
            Some(log) if !log.is_empty() => order.touch(broadcast, topics, log_ref),
            _ => order.remove(broadcast, topics, log_ref),
        }
    }

    /// Frees topic log `index` with its history (it has no reader).
    fn free_topic(&mut self, index: usize) {
        self.order
            .remove(&mut self.broadcast, &mut self.topics, LogRef::Topic(index));
        let Some(log) = self.topics.try_remove(index) else {
            return;
        };
        if let Some(topic) = &log.topic {
            self.topic_index.remove(topic);
        }
        self.freed_through = self.freed_through.max(log.newest_sequence());
        self.history_bytes -= log.cost();
        for (id, sequence) in log.own_ids() {
            forget_own_id(&mut self.event_ids, id, sequence);
        }
    }

    /// Frees the topic logs no one read nor published to for
    /// [`HubConfig::idle_topic_lifetime`] at `now`, but `except` (the log just
    /// published to). The idle logs are the oldest of their list, so this looks
    /// at one log more than it frees. Returns how many it freed.
    pub(crate) fn expire_idle(&mut self, now: Instant, except: Option<LogRef>) -> u64 {
        let mut expired = 0;
        while let Some(LogRef::Topic(index)) = self.order.oldest(Tier::Unread) {
            if except == Some(LogRef::Topic(index)) {
                break;
            }
            let idle = self.topics.get(index).and_then(|log| log.idle_since);
            let expires = idle.is_none_or(|since| {
                now.saturating_duration_since(since) >= self.config.idle_topic_lifetime
            });
            if !expires {
                break;
            }
            self.free_topic(index);
            expired += 1;
        }
        expired
    }

    /// Evicts the oldest frames of the logs first in the eviction order until the
    /// history is within [`HubConfig::history_budget`], keeping the newest frame of
    /// `keep` (the log just published to). Readers of a log that lose frames they
    /// had not read meet the lag policy when they next read. Returns how many
    /// frames it evicted.
    fn evict_for_budget(&mut self, keep: LogRef) -> u64 {
        let mut evicted = 0;
        for tier in Tier::EVICTION_ORDER {
            while self.history_bytes > self.config.history_budget {
                let Some(log_ref) = self.order.oldest(tier) else {
                    break;
                };
                let State {
                    broadcast,
                    topics,
                    event_ids,
                    history_bytes,
                    ..
                } = self;
                let Some(log) = log_mut(broadcast, topics, log_ref) else {
                    break;
                };
                if log_ref == keep && log.len() <= 1 {
                    // The newest of its list: nothing older is left in this one.
                    break;
                }
                let before = log.cost();
                if let Some(old) = log.evict_oldest() {
                    *history_bytes = *history_bytes - before + log.cost();
                    if let Some(id) = &old.own_id {
                        forget_own_id(event_ids, id, old.sequence);
                    }
                    evicted += 1;
                }
                if log.is_empty() {
                    match log_ref {
                        LogRef::Topic(index) if log.readers == 0 => self.free_topic(index),
                        _ => self.relist(log_ref),
                    }
                }
            }
        }
        evicted
    }

    /// Hands out the next sequence number.
    fn take_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.next_id_line.increment();
        self.sequence
    }

    /// Appends an event to the broadcast log or a topic's. `fields` is the encoded
    /// event without its final blank line; events without an id of their own get
    /// the sequence as id.
    #[inline]
    pub(crate) fn publish(
        &mut self,
        topic: Option<&str>,
        mut fields: BytesMut,
        own_id: Option<Arc<str>>,
    ) -> Published {
        if own_id.is_some() {
            fields.put_u8(b'\n');
        } else {
            fields.put_slice(self.next_id_line.as_bytes());
        }
        let sequence = self.take_sequence();
        let mut published = Published {
            sequence,
            log: None,
            evicted: 0,
            expired: 0,
        };
        let log_ref = match topic {
            None => LogRef::Broadcast,
            Some(topic) => {
                match self.topic_log_to_publish(topic, &mut published.expired) {
                    Some(log_ref) => log_ref,
                    None => {
                        // Not kept: a log made for it later cannot replay past it.
                        self.freed_through = sequence;
                        return published;
                    }
                }
            }
        };
        published.log = Some(log_ref);
        if let Some(id) = &own_id {
            self.event_ids.insert(id.clone(), sequence);
        }
        let State {
            broadcast,
            topics,
            event_ids,
            order,
            history_bytes,
            ..
        } = self;
        let Some(log) = log_mut(broadcast, topics, log_ref) else {
            return published;
        };
        let entry = Entry {
            sequence,
            len: fields.len(),
            own_id,
        };
        let frame = fields.freeze();
        let before = log.cost();
        log.append(
            entry,
            frame,
            self.config.history,
            self.config.history_bytes,
            |old| {
                if let Some(id) = &old.own_id {
                    forget_own_id(event_ids, id, old.sequence);
                }
            },
        );
        *history_bytes = *history_bytes - before + log.cost();
        // Only logs no one reads need the time: to know when they are idle.
        let now = log.is_unread_topic().then(Instant::now);
        log.idle_since = now;
        order.touch(broadcast, topics, log_ref);
        if self.history_bytes > self.config.history_budget {
            published.evicted = self.evict_for_budget(log_ref);
        }
        if let Some(now) = now {
            published.expired += self.expire_idle(now, Some(log_ref));
        }
        published
    }

    /// Whether readers wait on `log`.
    pub(crate) fn has_waiters(&self, log_ref: LogRef) -> bool {
        match log_ref {
            LogRef::Broadcast => !self.broadcast.waiters.is_empty(),
            LogRef::Topic(index) => self
                .topics
                .get(index)
                .is_some_and(|log| !log.waiters.is_empty()),
        }
    }

    /// Moves the wakers of readers waiting on `log` into `wakers`, until it is full.
    /// Returns whether more are waiting.
    pub(crate) fn take_waiters(&mut self, log_ref: LogRef, wakers: &mut WakeList) -> bool {
        let State {
            registry,
            broadcast,
            topics,
            ..
        } = self;
        let log = match log_ref {
            LogRef::Broadcast => broadcast,
            LogRef::Topic(index) => match topics.get_mut(index) {
                Some(log) => log,
                None => return false,
            },
        };
        while !wakers.is_full() {
            let Some(key) = log.waiters.pop(|key| registry.is_live(key)) else {
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
        !log.waiters.is_empty()
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
            broadcast,
            topics,
            config,
            ..
        } = self;
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
            if let Some(log) = log_mut(&mut self.broadcast, &mut self.topics, log_ref) {
                forget_waiter(log, &self.registry);
            }
        }
        for index in client.topic_logs() {
            self.reader_left(index);
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
            expired: self.expire_idle(now, None),
            ..Tick::default()
        };
        let State {
            registry,
            broadcast,
            topics,
            config,
            ..
        } = self;
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

/// Takes an evicted event's own id out of the index, unless a newer event with the
/// same id replaced it there.
fn forget_own_id(event_ids: &mut HashMap<Arc<str>, u64>, id: &Arc<str>, sequence: u64) {
    if event_ids.get(id) == Some(&sequence) {
        event_ids.remove(id);
    }
}

/// Notes that one of `log`'s waiters has left, and drops the keys of those that
/// left once they are the majority, so clients that come and go without anything
/// being published never grow the list (amortised O(1) per departure).
fn forget_waiter(log: &mut Log, registry: &Registry) {
    log.waiters.forget_one(|key| registry.is_live(key));
}
