//! The logs and what indexes them: the broadcast log, the topic logs (made on
//! first use, freed when idle), the events' own ids, the relay mark, and the
//! hub-wide history budget with its eviction order. It owns the history's
//! invariants: `history_bytes` is what every log's history costs, an own id maps
//! to the newest event still held that has it, and a topic log made anew cannot
//! replay from before what a freed one held.
//!
//! Layer 2 of the hub: owners.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use slab::Slab;

use super::config::HubConfig;
use super::keys::LogRef;
use super::log::{Cursor, Entry, Log};
use super::order::{Order, Tier, log_mut};
use super::waiters::Waiters;

/// What a publish did, besides appending.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Published {
    /// The sequence the frame took.
    pub(crate) sequence: u64,
    /// The log appended to; `None` when the topic had no log and
    /// [`HubConfig::max_topics`] were held (nobody reads it: the frame is not kept).
    pub(crate) log: Option<LogRef>,
    /// Frames evicted for the history budget.
    pub(crate) evicted: u64,
    /// Idle topic logs freed.
    pub(crate) expired: u64,
}

/// Every log, and the indexes into them.
#[derive(Debug)]
pub(crate) struct Logs {
    /// The hub's settings (bounds applied).
    config: Arc<HubConfig>,
    broadcast: Log,
    topics: Slab<Log>,
    /// Each topic to its log's index in `topics`.
    topic_index: HashMap<Arc<str>, usize>,
    /// Events' own ids, for those still in a log, to their sequence.
    event_ids: HashMap<Arc<str>, u64>,
    /// An external log's id up to which this hub holds everything it will, and the
    /// sequence it stands for (see [`Hub::mark_relayed`](super::Hub::mark_relayed)).
    relay_mark: Option<(Arc<str>, u64)>,
    /// Which logs lose frames first when the history is over its budget.
    order: Order,
    /// What every log's history counts toward [`HubConfig::history_budget`].
    history_bytes: usize,
    /// The newest sequence any freed topic log held (or a publish not kept held):
    /// a topic log made anew cannot replay from before it, since it may miss what
    /// the freed one held.
    freed_through: u64,
    /// The number of topic logs below which a free next tries to give the topic
    /// slab's and index's memory back (see [`shrink_if_sparse`](Self::shrink_if_sparse)).
    shrink_below: usize,
}

/// Below this many slots, the topic slab and index are not worth shrinking.
const MIN_SHRINK_CAPACITY: usize = 64;

impl Logs {
    /// No log but the broadcast one, empty.
    pub(crate) fn new(config: Arc<HubConfig>) -> Self {
        Logs {
            config,
            broadcast: Log::new(None),
            topics: Slab::new(),
            topic_index: HashMap::new(),
            event_ids: HashMap::new(),
            relay_mark: None,
            order: Order::default(),
            history_bytes: 0,
            freed_through: 0,
            shrink_below: 0,
        }
    }

    /// What the logs' history counts toward [`HubConfig::history_budget`] now.
    pub(crate) fn history_bytes(&self) -> usize {
        self.history_bytes
    }

    /// How many topic logs are held.
    pub(crate) fn topic_count(&self) -> usize {
        self.topics.len()
    }

    /// The broadcast log and the topic logs, for readers: to read them, move
    /// their cursors and list themselves as waiting (nothing that changes what a
    /// log holds).
    #[inline]
    pub(crate) fn for_readers(&mut self) -> (&mut Log, &mut Slab<Log>) {
        (&mut self.broadcast, &mut self.topics)
    }

    /// The readers waiting on `log_ref`, if that log exists.
    #[inline]
    pub(crate) fn waiters_mut(&mut self, log_ref: LogRef) -> Option<&mut Waiters> {
        log_mut(&mut self.broadcast, &mut self.topics, log_ref).map(|log| &mut log.waiters)
    }

    /// Whether readers wait on `log`.
    #[inline]
    pub(crate) fn has_waiters(&self, log_ref: LogRef) -> bool {
        match log_ref {
            LogRef::Broadcast => !self.broadcast.waiters.is_empty(),
            LogRef::Topic(index) => self
                .topics
                .get(index)
                .is_some_and(|log| !log.waiters.is_empty()),
        }
    }

    /// Cursors in the broadcast log and the given topic logs, just after `sequence`
    /// (or live when `None`); `None` when one of the logs cannot replay from there.
    pub(crate) fn cursors_after(
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

    /// Notes that this hub holds everything an external log holds up to its id
    /// `id`, which stands for `sequence` (see
    /// [`Hub::mark_relayed`](super::Hub::mark_relayed)).
    pub(crate) fn mark_relayed(&mut self, id: Arc<str>, sequence: u64) {
        self.relay_mark = Some((id, sequence));
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
    /// history, the relay mark, or a sequence this hub handed out (`handed_out`).
    /// `None` when it is none of these.
    pub(crate) fn resolve_event_id(
        &self,
        last_event_id: &str,
        handed_out: RangeInclusive<u64>,
    ) -> Option<u64> {
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
        handed_out.contains(&sequence).then_some(sequence)
    }

    /// The index of `topic`'s log, made if it does not exist.
    pub(crate) fn topic_log(&mut self, topic: &str) -> usize {
        match self.topic_index.get(topic) {
            Some(&index) => index,
            None => self.new_topic_log(topic),
        }
    }

    /// Whether the logs of `topics` fit within [`HubConfig::max_topics`]: those
    /// that have none would make one each. Frees idle logs (at `now`) first when
    /// they would not.
    pub(crate) fn room_for(&mut self, topics: &[&str], now: Instant, expired: &mut u64) -> bool {
        let fits = |logs: &Self| {
            let new = topics
                .iter()
                .filter(|topic| !logs.topic_index.contains_key(**topic))
                .count();
            logs.topics.len() + new <= logs.config.max_topics
        };
        if fits(self) {
            return true;
        }
        *expired += self.expire_idle(now, None);
        fits(self)
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
        self.shrink_below = self.shrink_below.max(self.topics.len() / 4);
        index
    }

    /// Gives the memory of the topic slab and index back once at most a quarter
    /// of their slots are used (a flood of subscriptions came and went). Tried each
    /// time the count of logs halves, and when it reaches 0, so its O(slots) cost is
    /// amortised over the frees. The slab cannot shrink past its last live log.
    fn shrink_if_sparse(&mut self) {
        let len = self.topics.len();
        if len >= self.shrink_below && len > 0 {
            return;
        }
        self.shrink_below = len / 2;
        let sparse = |capacity: usize| capacity > MIN_SHRINK_CAPACITY && len * 4 < capacity;
        if sparse(self.topics.capacity()) {
            self.topics.shrink_to_fit();
        }
        if sparse(self.topic_index.capacity()) {
            self.topic_index.shrink_to(len * 2);
        }
    }

    /// A client now reads topic log `index`: no longer idle, and evicted after the
    /// logs no one reads.
    pub(crate) fn reader_joined(&mut self, index: usize) {
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
    pub(crate) fn reader_left(&mut self, index: usize) {
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
        let Logs {
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
        self.shrink_if_sparse();
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
                let Logs {
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

    /// Appends `frame`, of sequence `sequence`, to the broadcast log or `topic`'s
    /// (made if need be), then keeps the history within its bounds; `own_id`, the
    /// event's own id, then finds it.
    #[inline]
    pub(crate) fn append(
        &mut self,
        topic: Option<&str>,
        sequence: u64,
        frame: Bytes,
        own_id: Option<Arc<str>>,
    ) -> Published {
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
        let Logs {
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
            len: frame.len(),
            own_id,
        };
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
}

/// Takes an evicted event's own id out of the index, unless a newer event with the
/// same id replaced it there.
fn forget_own_id(event_ids: &mut HashMap<Arc<str>, u64>, id: &Arc<str>, sequence: u64) {
    if event_ids.get(id) == Some(&sequence) {
        event_ids.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn logs(config: HubConfig) -> Logs {
        Logs::new(Arc::new(config.normalised()))
    }

    /// Appends a frame of 100 bytes with the next sequence.
    fn append(logs: &mut Logs, next: &mut u64, topic: Option<&str>, id: Option<&str>) -> Published {
        *next += 1;
        let frame = Bytes::from(vec![b'x'; 100]);
        logs.append(topic, *next, frame, id.map(Arc::from))
    }

    /// What every log's history costs, counted afresh.
    fn counted(logs: &Logs) -> usize {
        logs.broadcast.cost() + logs.topics.iter().map(|(_, log)| log.cost()).sum::<usize>()
    }

    #[test]
    fn history_bytes_is_what_every_log_costs() {
        let budget = 10 * (100 + HubConfig::FRAME_OVERHEAD);
        let mut logs = logs(HubConfig::default().history(4).history_budget(budget));
        let reader = logs.topic_log("read");
        logs.reader_joined(reader);
        let mut next = 0;
        let mut evicted = 0;
        for round in 0..40 {
            let topic = match round % 3 {
                0 => None,
                1 => Some("read"),
                _ => Some("unread"),
            };
            evicted += append(&mut logs, &mut next, topic, None).evicted;
            assert_eq!(logs.history_bytes(), counted(&logs));
            assert!(logs.history_bytes() <= budget);
        }
        assert!(evicted > 0, "the budget was met");
        logs.reader_left(reader);
        assert_eq!(logs.history_bytes(), counted(&logs));
        let later = Instant::now() + Duration::from_secs(24 * 60 * 60);
        assert_eq!(logs.expire_idle(later, None), 2, "both topics idle");
        assert_eq!(logs.topic_count(), 0);
        assert_eq!(logs.history_bytes(), counted(&logs));
    }

    #[test]
    fn an_own_id_finds_the_newest_event_still_held_with_it() {
        let mut logs = logs(HubConfig::default().history(2));
        let mut next = 0;
        let none = 0..=0;
        append(&mut logs, &mut next, None, Some("a"));
        append(&mut logs, &mut next, None, Some("a"));
        assert_eq!(logs.resolve_event_id("a", none.clone()), Some(2));
        // Evicting the first "a" leaves the second in the index.
        append(&mut logs, &mut next, None, None);
        assert_eq!(logs.resolve_event_id("a", none.clone()), Some(2));
        append(&mut logs, &mut next, None, None);
        assert_eq!(logs.resolve_event_id("a", none), None, "evicted too");
    }

    #[test]
    fn a_last_event_id_is_an_own_id_the_relay_mark_or_a_sequence_handed_out() {
        let mut logs = logs(HubConfig::default());
        let mut next = 0;
        append(&mut logs, &mut next, None, Some("7"));
        logs.mark_relayed("1-0".into(), 1);
        assert_eq!(logs.resolve_event_id("7", 1..=9), Some(1), "own id first");
        assert_eq!(logs.resolve_event_id("1-0", 1..=9), Some(1));
        assert_eq!(logs.resolve_event_id("9", 1..=9), Some(9));
        assert_eq!(logs.resolve_event_id("10", 1..=9), None, "not handed out");
        assert_eq!(logs.resolve_event_id("+5", 1..=9), None);
        assert_eq!(logs.resolve_event_id("", 0..=9), None);
        logs.restart_relay();
        assert_eq!(logs.resolve_event_id("7", 1..=6), None);
        assert_eq!(logs.resolve_event_id("1-0", 1..=9), None);
    }

    #[test]
    fn a_topic_log_made_anew_cannot_replay_from_before_a_freed_one() {
        let mut logs = logs(HubConfig::default());
        let mut next = 0;
        let topic = logs.topic_log("news");
        logs.reader_joined(topic);
        append(&mut logs, &mut next, Some("news"), None);
        append(&mut logs, &mut next, Some("news"), None);
        logs.reader_left(topic);
        let later = Instant::now() + Duration::from_secs(24 * 60 * 60);
        assert_eq!(logs.expire_idle(later, None), 1);

        let topic = logs.topic_log("news");
        assert!(logs.cursors_after(Some(1), &[topic]).is_none(), "a gap");
        assert!(logs.cursors_after(Some(2), &[topic]).is_some());
        assert!(logs.cursors_after(None, &[topic]).is_some(), "live");
    }

    #[test]
    fn a_publish_to_a_topic_with_no_room_is_not_kept_and_leaves_a_gap() {
        let mut logs = logs(HubConfig::default().max_topics(1));
        let mut next = 0;
        let held = logs.topic_log("held");
        logs.reader_joined(held);
        let published = append(&mut logs, &mut next, Some("other"), None);
        assert_eq!(published.log, None);
        assert_eq!(logs.topic_count(), 1);
        logs.reader_left(held);
        let other = logs.topic_log("other");
        assert!(logs.cursors_after(Some(0), &[other]).is_none());
        assert!(logs.cursors_after(Some(1), &[other]).is_some());
    }

    #[test]
    fn a_log_with_waiters_is_found_by_its_ref() {
        let mut logs = logs(HubConfig::default());
        let topic = logs.topic_log("news");
        let key = crate::hub::keys::ClientKey {
            index: 0,
            generation: 0,
        };
        assert!(!logs.has_waiters(LogRef::Topic(topic)));
        logs.waiters_mut(LogRef::Topic(topic)).unwrap().list(key);
        assert!(logs.has_waiters(LogRef::Topic(topic)));
        assert!(!logs.has_waiters(LogRef::Broadcast));
        assert!(logs.waiters_mut(LogRef::Topic(topic + 1)).is_none());
        assert!(!logs.has_waiters(LogRef::Topic(topic + 1)));
    }
}
