//! One connected client: its cursors in the logs it reads, its own queue, its
//! waker, whether and when its stream ends, and its keep-alive state. Its fields
//! are private: the methods here own its invariants, and the hub's state only
//! coordinates clients and logs.
//!
//! Layer 2 of the hub: owners.

use std::task::Waker;

use bytes::Bytes;
use slab::Slab;

use super::batch::Batch;
use super::config::LagPolicy;
use super::hooks::{ClientInfo, DisconnectReason};
use super::keys::{ClientKey, LogRef};
use super::log::{Cursor, Log};
use super::merge::{Run, next_run};
use super::queue::{DirectQueue, QueueFull};

/// What the hub keeps per connected client.
#[derive(Debug)]
pub(crate) struct Client {
    /// The generation of its registry entry (see [`ClientKey`]).
    generation: u64,
    info: ClientInfo,
    /// Its place in the broadcast log.
    broadcast: LogCursor,
    /// Its place in each topic's log, by the log's index in the hub's topic slab.
    topics: Box<[(usize, LogCursor)]>,
    /// Its own queue, made on the first frame sent to it alone (boxed: most
    /// clients never get one).
    direct: Option<Box<DirectQueue>>,
    /// Set while the stream waits for something to read.
    waker: Option<Waker>,
    end: End,
    /// Nothing was delivered since the last keep-alive tick.
    idle: bool,
    /// A keep-alive comment is owed.
    keep_alive_due: bool,
    /// Its stream waits for the replay source; its cursors are placed when it
    /// resumes.
    awaiting_replay: bool,
}

/// A reader's cursor in one log, and whether it is on the log's waiting list.
#[derive(Clone, Copy, Debug)]
struct LogCursor {
    cursor: Cursor,
    listed: bool,
}

impl LogCursor {
    fn new(cursor: Cursor) -> Self {
        LogCursor {
            cursor,
            listed: false,
        }
    }
}

/// Whether, and when, a client's stream ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Open,
    /// After every frame up to this sequence (a graceful shutdown).
    After(u64, DisconnectReason),
    /// At once.
    Now(DisconnectReason),
}

/// Where a run of the merge comes from.
#[derive(Clone, Copy, Debug)]
enum Source {
    Direct,
    Broadcast,
    /// A position in the client's topic list.
    Topic(usize),
}

impl Client {
    /// A client of registry generation `generation`, reading the broadcast log from
    /// `broadcast` and each topic log (by index) from its cursor; with
    /// `awaiting_replay`, its stream waits for [`resume`](Self::resume).
    pub(crate) fn new(
        generation: u64,
        info: ClientInfo,
        broadcast: Cursor,
        topics: impl IntoIterator<Item = (usize, Cursor)>,
        awaiting_replay: bool,
    ) -> Self {
        Client {
            generation,
            info,
            broadcast: LogCursor::new(broadcast),
            topics: topics
                .into_iter()
                .map(|(index, cursor)| (index, LogCursor::new(cursor)))
                .collect(),
            direct: None,
            waker: None,
            end: End::Open,
            idle: false,
            keep_alive_due: false,
            awaiting_replay,
        }
    }

    /// The generation of its registry entry.
    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether `key` names this client (and not an earlier one in its slot).
    #[inline]
    pub(crate) fn is(&self, key: ClientKey) -> bool {
        self.generation == key.generation
    }

    /// What the hooks and the hub's users see of it.
    #[inline]
    pub(crate) fn info(&self) -> &ClientInfo {
        &self.info
    }

    /// Its info, the client gone.
    pub(crate) fn into_info(self) -> ClientInfo {
        self.info
    }

    /// The indexes of the topic logs it reads.
    #[inline]
    pub(crate) fn topic_logs(&self) -> impl Iterator<Item = usize> + '_ {
        self.topics.iter().map(|(index, _)| *index)
    }

    // Ending.

    /// Whether its stream is neither ending nor ended.
    #[inline]
    pub(crate) fn is_open(&self) -> bool {
        self.end == End::Open
    }

    /// Ends the stream at once, unless it is already ending at once (the first
    /// reason stays); returns the waker to wake.
    #[inline]
    pub(crate) fn end_now(&mut self, reason: DisconnectReason) -> Option<Waker> {
        if !matches!(self.end, End::Now(_)) {
            self.end = End::Now(reason);
        }
        self.waker.take()
    }

    /// Ends the stream once it has read every frame up to `sequence` (a graceful
    /// shutdown), unless it is already ending; returns the waker to wake.
    #[inline]
    pub(crate) fn end_after(&mut self, sequence: u64, reason: DisconnectReason) -> Option<Waker> {
        if self.end == End::Open {
            self.end = End::After(sequence, reason);
        }
        self.waker.take()
    }

    /// The last sequence it may read (`u64::MAX` while open), or why its stream
    /// has ended.
    #[inline]
    pub(crate) fn read_limit(&self) -> Result<u64, DisconnectReason> {
        match self.end {
            End::Open => Ok(u64::MAX),
            End::After(sequence, _) => Ok(sequence),
            End::Now(reason) => Err(reason),
        }
    }

    /// Called when nothing is left for it to read: a stream ending after a
    /// sequence ends now. Returns the reason when it ended; `None` when it is open.
    #[inline]
    pub(crate) fn end_if_drained(&mut self) -> Option<DisconnectReason> {
        let End::After(_, reason) = self.end else {
            return None;
        };
        self.end = End::Now(reason);
        Some(reason)
    }

    /// Why it ended, or `reason` when it was still open.
    #[inline]
    pub(crate) fn reason_or(&self, reason: DisconnectReason) -> DisconnectReason {
        match self.end {
            End::Now(reason) | End::After(_, reason) => reason,
            End::Open => reason,
        }
    }

    // The waker.

    /// Whether its stream waits (it has read everything there was).
    #[inline]
    pub(crate) fn is_waiting(&self) -> bool {
        self.waker.is_some()
    }

    /// Stores `waker` to wake when there is something to read; the stored one is
    /// kept (not cloned again) when it would wake the same task. Always inlined:
    /// it is on every read that finds nothing, and the compiler left it a call.
    #[inline(always)]
    pub(crate) fn register_waker(&mut self, waker: &Waker) {
        match &mut self.waker {
            Some(stored) if stored.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
    }

    /// Takes the stored waker, to wake.
    #[inline]
    pub(crate) fn take_waker(&mut self) -> Option<Waker> {
        self.waker.take()
    }

    // Keep-alive.

    /// A keep-alive tick: a client that stayed idle since the previous tick is
    /// owed a keep-alive, and its waker is returned to wake.
    #[inline]
    pub(crate) fn keep_alive_tick(&mut self) -> Option<Waker> {
        let woken = if self.idle {
            self.keep_alive_due = true;
            self.waker.take()
        } else {
            None
        };
        self.idle = true;
        woken
    }

    /// Frames were delivered: it is not idle, owes no keep-alive, and is not
    /// waiting.
    #[inline]
    pub(crate) fn delivered(&mut self) {
        self.idle = false;
        self.keep_alive_due = false;
        self.waker = None;
    }

    /// Whether a keep-alive is owed, clearing it (the caller sends it).
    #[inline]
    pub(crate) fn take_keep_alive_due(&mut self) -> bool {
        std::mem::take(&mut self.keep_alive_due)
    }

    // Replay from the replay source.

    /// Whether its stream waits for the replay source.
    #[inline]
    pub(crate) fn is_awaiting_replay(&self) -> bool {
        self.awaiting_replay
    }

    /// Stops waiting for the replay source; with `placed` (its broadcast cursor,
    /// then one per topic log in [`topic_logs`](Self::topic_logs)'s order), moves
    /// its cursors there. Returns whether it was placed.
    pub(crate) fn resume(&mut self, placed: Option<(Cursor, Vec<Cursor>)>) -> bool {
        self.awaiting_replay = false;
        let Some((broadcast, topics)) = placed else {
            return false;
        };
        self.broadcast.cursor = broadcast;
        for ((_, cursor), placed) in self.topics.iter_mut().zip(topics) {
            cursor.cursor = placed;
        }
        true
    }

    // Cursors and waiting lists.

    /// Each log it reads, with its cursor there: for the lag policy.
    #[inline]
    pub(crate) fn cursors_mut<'a>(
        &'a mut self,
        broadcast: &'a Log,
        topics: &'a Slab<Log>,
    ) -> impl Iterator<Item = (&'a Log, &'a mut Cursor)> {
        std::iter::once((broadcast, &mut self.broadcast.cursor)).chain(
            self.topics
                .iter_mut()
                .map(|(index, cursor)| (&topics[*index], &mut cursor.cursor)),
        )
    }

    /// Lists it on the waiting list of each log it reads where it is not listed
    /// yet (`key` is its key), so the next append to any of them wakes it. Always
    /// inlined, as [`register_waker`](Self::register_waker) is.
    #[inline(always)]
    pub(crate) fn list_waiting(
        &mut self,
        key: ClientKey,
        broadcast: &mut Log,
        topics: &mut Slab<Log>,
    ) {
        if !std::mem::replace(&mut self.broadcast.listed, true) {
            broadcast.waiters.list(key);
        }
        for (index, cursor) in self.topics.iter_mut() {
            if !std::mem::replace(&mut cursor.listed, true) {
                topics[*index].waiters.list(key);
            }
        }
    }

    /// Its key was taken from `log`'s waiting list: it is no longer listed there.
    #[inline]
    pub(crate) fn unlisted(&mut self, log: LogRef) {
        let cursor = match log {
            LogRef::Broadcast => Some(&mut self.broadcast),
            LogRef::Topic(index) => self
                .topics
                .iter_mut()
                .find(|(i, _)| *i == index)
                .map(|(_, cursor)| cursor),
        };
        if let Some(cursor) = cursor {
            cursor.listed = false;
        }
    }

    /// The logs whose waiting list holds its key.
    pub(crate) fn listed_on(&self) -> impl Iterator<Item = LogRef> + '_ {
        let broadcast = self.broadcast.listed.then_some(LogRef::Broadcast);
        let topics = self
            .topics
            .iter()
            .filter(|(_, cursor)| cursor.listed)
            .map(|(index, _)| LogRef::Topic(*index));
        broadcast.into_iter().chain(topics)
    }

    // Its own queue.

    /// Queues `frame` (of sequence `sequence`) for it alone, making its queue
    /// (of `capacity` frames) on the first. A full queue is handled by `policy`
    /// (see [`DirectQueue::send`]): returns whether a frame was dropped.
    #[inline]
    pub(crate) fn send_direct(
        &mut self,
        sequence: u64,
        frame: Bytes,
        capacity: usize,
        policy: LagPolicy,
    ) -> Result<bool, QueueFull> {
        self.direct
            .get_or_insert_with(|| DirectQueue::new(capacity))
            .send((sequence, frame), policy)
    }

    // Reading.

    /// Reads into `batch`, up to sequence `limit`, what it has to read in the
    /// broadcast log, its topic logs and its own queue, merged by sequence a run
    /// at a time (`merge.rs`), until the batch is full or nothing is left.
    #[inline]
    pub(crate) fn read_into(
        &mut self,
        broadcast: &Log,
        topics: &Slab<Log>,
        limit: u64,
        batch: &mut Batch,
    ) {
        while !batch.is_full() {
            let direct = self
                .direct
                .as_mut()
                .and_then(|queue| queue.peek())
                .map(|(sequence, _)| (*sequence, Source::Direct));
            let broadcast_head = broadcast
                .get(self.broadcast.cursor.next)
                .map(|entry| (entry.sequence, Source::Broadcast));
            let topic_heads =
                self.topics
                    .iter()
                    .enumerate()
                    .filter_map(|(position, (index, cursor))| {
                        let entry = topics[*index].get(cursor.cursor.next)?;
                        Some((entry.sequence, Source::Topic(position)))
                    });
            let heads = direct.into_iter().chain(broadcast_head).chain(topic_heads);
            let Some(Run { source, stop }) = next_run(heads, limit) else {
                break;
            };
            let (log, cursor) = match source {
                Source::Direct => {
                    if let Some((_, frame)) =
                        self.direct.as_mut().and_then(|queue| queue.take_peeked())
                    {
                        batch.push(frame);
                    }
                    continue;
                }
                Source::Broadcast => (broadcast, &mut self.broadcast.cursor),
                Source::Topic(position) => {
                    let (index, cursor) = &mut self.topics[position];
                    (&topics[*index], &mut cursor.cursor)
                }
            };
            // The run: the entries below `stop`, as many as the batch has room for.
            let (front, back) = log.entries_from(cursor.next);
            let mut run = 0;
            for entries in [front, back] {
                let room = entries.len().min(batch.room() - run);
                let below = entries[..room].partition_point(|entry| entry.sequence < stop);
                run += below;
                if below < entries.len() {
                    break;
                }
            }
            let taken = log.read_into(cursor.next, run, batch);
            cursor.next += taken as u64;
            if taken < run || run == 0 {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::task::Wake;

    use super::*;

    fn client() -> Client {
        let info = ClientInfo {
            id: "a".into(),
            topics: Arc::new([]),
        };
        let cursor = Cursor {
            next: 0,
            live_from: 0,
        };
        Client::new(0, info, cursor, [], false)
    }

    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    fn waker() -> Waker {
        Arc::new(Noop).into()
    }

    #[test]
    fn ending_now_wins_over_ending_after() {
        let mut client = client();
        client.end_after(7, DisconnectReason::Shutdown);
        assert_eq!(client.read_limit(), Ok(7));
        client.end_now(DisconnectReason::Removed);
        assert_eq!(client.read_limit(), Err(DisconnectReason::Removed));
        client.end_after(9, DisconnectReason::Shutdown);
        assert_eq!(client.read_limit(), Err(DisconnectReason::Removed));
        assert_eq!(client.end_if_drained(), None, "already ended");
    }

    #[test]
    fn the_first_reason_to_end_now_stays() {
        let mut client = client();
        client.end_now(DisconnectReason::Replaced);
        client.end_now(DisconnectReason::Lagged);
        assert_eq!(
            client.reason_or(DisconnectReason::Removed),
            DisconnectReason::Replaced
        );
    }

    #[test]
    fn ending_after_ends_now_once_drained() {
        let mut client = client();
        assert_eq!(client.end_if_drained(), None, "open");
        assert!(client.is_open());
        client.end_after(3, DisconnectReason::Shutdown);
        assert!(!client.is_open());
        assert_eq!(client.end_if_drained(), Some(DisconnectReason::Shutdown));
        assert_eq!(client.read_limit(), Err(DisconnectReason::Shutdown));
    }

    #[test]
    fn ending_hands_back_the_waker() {
        let mut client = client();
        client.register_waker(&waker());
        assert!(client.is_waiting());
        assert!(client.end_after(1, DisconnectReason::Shutdown).is_some());
        assert!(!client.is_waiting());
        client.register_waker(&waker());
        assert!(client.end_now(DisconnectReason::Removed).is_some());
        assert!(client.end_now(DisconnectReason::Removed).is_none(), "taken");
    }

    #[test]
    fn keep_alive_is_due_only_after_a_whole_idle_tick() {
        let mut client = client();
        client.register_waker(&waker());
        assert!(client.keep_alive_tick().is_none(), "idle only since now");
        assert!(!client.take_keep_alive_due());
        assert!(client.keep_alive_tick().is_some(), "a whole tick idle");
        assert!(client.take_keep_alive_due());
        assert!(!client.take_keep_alive_due(), "owed once");

        client.delivered();
        assert!(!client.is_waiting());
        assert!(client.keep_alive_tick().is_none(), "it delivered meanwhile");
        assert!(!client.take_keep_alive_due());
    }

    #[test]
    fn delivering_clears_a_keep_alive_owed() {
        let mut client = client();
        client.keep_alive_tick();
        client.keep_alive_tick();
        client.delivered();
        assert!(!client.take_keep_alive_due());
    }

    #[test]
    fn a_full_queue_refuses_the_frame_under_disconnect() {
        let mut client = client();
        let frame = Bytes::from_static(b"x");
        assert_eq!(
            client.send_direct(1, frame.clone(), 1, LagPolicy::Disconnect),
            Ok(false)
        );
        assert_eq!(
            client.send_direct(2, frame, 1, LagPolicy::Disconnect),
            Err(QueueFull)
        );
        assert!(client.is_open(), "the caller decides to end it");
    }

    #[test]
    fn a_waiting_client_is_listed_once_per_wait() {
        let mut broadcast = Log::new(None);
        let mut topics = Slab::new();
        let topic = topics.insert(Log::new(Some("news".into())));
        let info = ClientInfo {
            id: "a".into(),
            topics: Arc::new(["news".into()]),
        };
        let cursor = |log: &Log| log.cursor_after(None).unwrap();
        let mut client = Client::new(
            0,
            info,
            cursor(&broadcast),
            [(topic, cursor(&topics[topic]))],
            false,
        );
        let key = ClientKey {
            index: 0,
            generation: 0,
        };
        client.list_waiting(key, &mut broadcast, &mut topics);
        client.list_waiting(key, &mut broadcast, &mut topics);
        assert_eq!(
            client.listed_on().collect::<Vec<_>>(),
            [LogRef::Broadcast, LogRef::Topic(topic)]
        );
        assert_eq!(broadcast.waiters.pop(|_| true), Some(key));
        assert_eq!(broadcast.waiters.pop(|_| true), None, "listed once");
        client.unlisted(LogRef::Broadcast);
        assert_eq!(
            client.listed_on().collect::<Vec<_>>(),
            [LogRef::Topic(topic)]
        );
        client.list_waiting(key, &mut broadcast, &mut topics);
        assert_eq!(broadcast.waiters.pop(|_| true), Some(key), "listed again");
        assert_eq!(topics[topic].waiters.pop(|_| true), Some(key));
        assert_eq!(topics[topic].waiters.pop(|_| true), None);
    }
}
