//! A shared log: the ordered, bounded ring of frames that broadcast (or one topic's)
//! traffic goes through, and that replay reads from.
//!
//! Publishing appends once, whatever the number of readers; each reader keeps its own
//! cursor, a log-local index. The frames live in shared [`Chunk`]s, so a reader takes
//! a run of them with one reference. Entries carry the hub-wide sequence number, so readers
//! of several logs can merge them into one order, and a `Last-Event-ID` (a sequence)
//! places a reader in every log at once.
//!
//! Layer 1 of the hub: logs.

use std::collections::VecDeque;
use std::sync::Arc;

use super::sync;
use std::time::Instant;

use bytes::Bytes;

use super::batch::Batch;
use super::chunk::{CHUNK_LEN, Chunk, ChunkWriter};
use super::config::HubConfig;
use super::order::{Linked, Links};
use super::waiters::Waiters;

/// Frames of at least this many bytes are freed as their entry is evicted, not
/// with their whole chunk: sixteen large blocks freed together are merged by the
/// allocator, then split again for the next frames (glibc's per-thread cache,
/// which keeps small blocks apart, takes blocks up to about 1 KiB). Smaller frames
/// go with their chunk, which saves checking that no batch shares it.
const FREE_AT_ONCE_FROM: usize = 1024;

/// What the log knows of one published frame (the frame itself is in a chunk).
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) sequence: u64,
    /// The frame's length, for the history's byte bound.
    pub(crate) len: usize,
    /// The event's own id, if it had one (it is then in the hub's id index).
    pub(crate) own_id: Option<Arc<str>>,
}

/// A reader's place in a log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cursor {
    /// The log-local index of the next entry to read.
    pub(crate) next: u64,
    /// Where the reader's live traffic started: lag counts only from here, so a
    /// long replay is not mistaken for a slow reader.
    pub(crate) live_from: u64,
}

#[derive(Debug)]
pub(crate) struct Log {
    /// The topic this log serves (`None` for the broadcast log).
    pub(crate) topic: Option<Arc<str>>,
    entries: VecDeque<Entry>,
    /// The log-local index of `entries[0]`.
    first: u64,
    /// The frames: chunk `k` holds indexes `chunk_first() + k * CHUNK_LEN ..`, each
    /// chunk kept while it holds an entry.
    chunks: VecDeque<sync::Arc<Chunk>>,
    /// Fills the newest chunk.
    writer: Option<ChunkWriter>,
    bytes: usize,
    /// The sequence of the newest entry ever evicted (0 when none was): replay after a
    /// sequence below it would have a gap.
    evicted_through: u64,
    /// Readers that found nothing to read and wait for the next append.
    pub(crate) waiters: Waiters,
    /// How many clients read this log (0 for the broadcast log: every client does).
    pub(crate) readers: usize,
    /// Its place in the hub's eviction order (see [`Order`](super::order::Order)),
    /// which alone writes it, through [`Linked`].
    links: Links,
    /// Since when no client reads it and nothing was published to it (set only
    /// while it has no reader): an idle topic log is freed after
    /// [`HubConfig::idle_topic_lifetime`].
    pub(crate) idle_since: Option<Instant>,
}

impl Log {
    pub(crate) fn new(topic: Option<Arc<str>>) -> Self {
        Log {
            topic,
            entries: VecDeque::new(),
            first: 0,
            chunks: VecDeque::new(),
            writer: None,
            bytes: 0,
            evicted_through: 0,
            waiters: Waiters::default(),
            readers: 0,
            links: Links::default(),
            idle_since: None,
        }
    }

    /// A new log that cannot replay from before `sequence`: a topic's log made
    /// anew after an earlier one was freed with its history, so a client that
    /// resumes from before then gets a replay miss, not a silent gap.
    pub(crate) fn with_gap_through(mut self, sequence: u64) -> Self {
        self.evicted_through = sequence;
        self
    }

    /// How many entries it holds.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// What its history counts toward [`HubConfig::history_budget`].
    pub(crate) fn cost(&self) -> usize {
        self.bytes + self.entries.len() * HubConfig::FRAME_OVERHEAD
    }

    /// The sequence of the newest entry it held: a replay after an older one would
    /// need what it holds (0 when it never held any).
    pub(crate) fn newest_sequence(&self) -> u64 {
        self.entries
            .back()
            .map_or(self.evicted_through, |entry| entry.sequence)
    }

    /// The events' own ids it holds, with their sequences.
    pub(crate) fn own_ids(&self) -> impl Iterator<Item = (&Arc<str>, u64)> {
        self.entries
            .iter()
            .filter_map(|entry| Some((entry.own_id.as_ref()?, entry.sequence)))
    }

    /// Whether it is a topic's log that no client reads.
    pub(crate) fn is_unread_topic(&self) -> bool {
        self.topic.is_some() && self.readers == 0
    }

    /// The log-local index the next appended entry gets.
    pub(crate) fn end(&self) -> u64 {
        self.first + self.entries.len() as u64
    }

    /// The log-local index of the oldest entry held.
    pub(crate) fn start(&self) -> u64 {
        self.first
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn get(&self, index: u64) -> Option<&Entry> {
        let offset = usize::try_from(index.checked_sub(self.first)?).ok()?;
        self.entries.get(offset)
    }

    /// The entries from log-local index `index` on, oldest first, in two runs (the
    /// ring's two halves).
    pub(crate) fn entries_from(&self, index: u64) -> (&[Entry], &[Entry]) {
        let offset = index
            .saturating_sub(self.first)
            .min(self.entries.len() as u64) as usize;
        let (front, back) = self.entries.as_slices();
        match front.get(offset..) {
            Some(front) => (front, back),
            None => (&[], &back[offset - front.len()..]),
        }
    }

    /// Adds up to `count` frames from index `from` on to `batch`, shared; returns
    /// how many (fewer when the batch fills up).
    pub(crate) fn read_into(&self, from: u64, count: usize, batch: &mut Batch) -> usize {
        let mut taken = 0;
        while taken < count {
            let index = from + taken as u64;
            let Some(chunk) = usize::try_from((index - self.chunk_first()) / CHUNK_LEN as u64)
                .ok()
                .and_then(|k| self.chunks.get(k))
            else {
                break;
            };
            let slot = (index % CHUNK_LEN as u64) as usize;
            let end = (slot + count - taken).min(CHUNK_LEN);
            let added = batch.extend_run(chunk, slot, end);
            taken += added;
            if added < end - slot {
                break;
            }
        }
        taken
    }

    /// The frame of the entry at log-local index `index`, if it is held (for
    /// readers that copy frames rather than share runs of them).
    pub(crate) fn frame(&self, index: u64) -> Option<&Bytes> {
        if index < self.first || index >= self.end() {
            return None;
        }
        let chunk = usize::try_from((index - self.chunk_first()) / CHUNK_LEN as u64).ok()?;
        let slot = (index % CHUNK_LEN as u64) as usize;
        Some(self.chunks.get(chunk)?.frame(slot))
    }

    /// A cursor for a new reader: at the end (live only), or just after `sequence`
    /// when replaying. `None` when the log can no longer replay from there.
    pub(crate) fn cursor_after(&self, sequence: Option<u64>) -> Option<Cursor> {
        let live_from = self.end();
        let Some(sequence) = sequence else {
            return Some(Cursor {
                next: live_from,
                live_from,
            });
        };
        if sequence < self.evicted_through {
            return None;
        }
        let offset = self.entries.partition_point(|e| e.sequence <= sequence);
        Some(Cursor {
            next: self.first + offset as u64,
            live_from,
        })
    }

    /// Appends an entry and its frame, evicting the oldest beyond `history` entries
    /// or `history_bytes` bytes (the newest is always kept). Returns the evicted
    /// entries through `evicted`.
    #[inline]
    pub(crate) fn append(
        &mut self,
        entry: Entry,
        frame: Bytes,
        history: usize,
        history_bytes: usize,
        mut evicted: impl FnMut(Entry),
    ) {
        // Chunk `k` holds indexes `k * CHUNK_LEN ..`: a new one starts when the
        // last is full.
        let writer = match &mut self.writer {
            Some(writer) if !writer.is_full() => writer,
            writer => {
                let new = ChunkWriter::new();
                self.chunks.push_back(new.chunk().clone());
                writer.insert(new)
            }
        };
        writer.push(frame);
        self.bytes += entry.len;
        self.entries.push_back(entry);
        while self.entries.len() > history || (self.bytes > history_bytes && self.entries.len() > 1)
        {
            let Some(old) = self.pop_oldest() else {
                break;
            };
            evicted(old);
        }
        self.release_chunks();
    }

    /// Evicts the oldest entry (the hub-wide budget, or the log is freed); readers
    /// behind it have lost it, which the lag policy sees. Returns it.
    pub(crate) fn evict_oldest(&mut self) -> Option<Entry> {
        let old = self.pop_oldest();
        self.release_chunks();
        old
    }

    /// Takes the oldest entry out, and its frame when it is large.
    fn pop_oldest(&mut self) -> Option<Entry> {
        let old = self.entries.pop_front()?;
        // A large frame is freed now (its chunk is the first), unless a batch still
        // shares the chunk; small ones go with the chunk.
        if old.len >= FREE_AT_ONCE_FROM {
            self.drop_frame_early((self.first % CHUNK_LEN as u64) as usize);
        }
        self.first += 1;
        self.bytes -= old.len;
        self.evicted_through = old.sequence;
        Some(old)
    }

    /// Drops the frames of the first chunk's slots `..=slot`, when no batch shares
    /// the chunk. The writer holds the newest chunk too: when that is the first,
    /// the log's own reference is let go for a moment, so the writer's is the only
    /// one and the frame is freed now, not when the chunk fills up.
    fn drop_frame_early(&mut self, slot: usize) {
        if let Some(chunk) = self.chunks.front_mut().and_then(sync::Arc::get_mut) {
            chunk.drop_through(slot);
            return;
        }
        let Some(writer) = self.writer.as_mut() else {
            return;
        };
        if self.chunks.len() != 1
            || !self
                .chunks
                .front()
                .is_some_and(|chunk| sync::Arc::ptr_eq(chunk, writer.chunk()))
        {
            return;
        }
        self.chunks.clear();
        if let Some(chunk) = writer.chunk_mut() {
            chunk.drop_through(slot);
        }
        self.chunks.push_back(writer.chunk().clone());
    }

    /// Lets go of the chunks whose every entry is gone (batches may still hold
    /// them), but the one the next entry goes into.
    fn release_chunks(&mut self) {
        let len = CHUNK_LEN as u64;
        let needed = if self.entries.is_empty() {
            // The writer's chunk, unless it is full (the next entry starts one).
            usize::from(!self.first.is_multiple_of(len))
        } else {
            ((self.end() - 1) / len - self.first / len + 1) as usize
        };
        while self.chunks.len() > needed {
            self.chunks.pop_front();
        }
    }

    /// The index of the first chunk's first slot: the chunk of the oldest entry
    /// (entries are evicted oldest first, and a chunk goes with its last entry).
    fn chunk_first(&self) -> u64 {
        self.first - self.first % CHUNK_LEN as u64
    }
}

impl Linked for Log {
    #[inline]
    fn is_unread_topic(&self) -> bool {
        Log::is_unread_topic(self)
    }

    #[inline]
    fn links_mut(&mut self) -> &mut Links {
        &mut self.links
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(sequence: u64, len: usize) -> (Entry, Bytes) {
        let entry = Entry {
            sequence,
            len,
            own_id: None,
        };
        (entry, Bytes::from(vec![b'x'; len]))
    }

    fn append(log: &mut Log, sequence: u64, len: usize, evicted: &mut Vec<u64>) {
        let (entry, frame) = entry(sequence, len);
        log.append(entry, frame, 3, 1000, |e| evicted.push(e.sequence));
    }

    #[test]
    fn evicts_by_count_and_by_bytes_but_keeps_the_newest() {
        let mut log = Log::new(None);
        let mut evicted = Vec::new();
        for sequence in 1..=5 {
            append(&mut log, sequence, 10, &mut evicted);
        }
        assert_eq!(evicted, [1, 2]);
        assert_eq!((log.start(), log.end()), (2, 5));
        append(&mut log, 6, 2000, &mut evicted);
        assert_eq!(evicted, [1, 2, 3, 4, 5]);
        assert_eq!(log.get(5).map(|e| e.sequence), Some(6));
        assert!(log.get(4).is_none() && log.get(6).is_none());
    }

    #[test]
    fn a_log_emptied_by_eviction_keeps_its_indexes_and_frees_large_frames() {
        let mut log = Log::new(None);
        let large = Bytes::from(vec![b'x'; FREE_AT_ONCE_FROM]);
        for sequence in 1..=3 {
            let entry = Entry {
                sequence,
                len: large.len(),
                own_id: None,
            };
            log.append(entry, large.clone(), 10, usize::MAX, |_| {});
        }
        assert_eq!(log.cost(), 3 * (large.len() + HubConfig::FRAME_OVERHEAD));
        while log.evict_oldest().is_some() {}
        assert!(log.is_empty() && log.cost() == 0);
        assert_eq!((log.start(), log.end(), log.newest_sequence()), (3, 3, 3));
        // The frames went with their entries, though the writer's chunk stays.
        assert!(large.is_unique());
        let entry = Entry {
            sequence: 4,
            len: 1,
            own_id: None,
        };
        log.append(entry, Bytes::from_static(b"4"), 10, usize::MAX, |_| {});
        let mut batch = Batch::new();
        assert_eq!(log.read_into(3, 1, &mut batch), 1);
        assert_eq!(batch.frames().next().map(|f| &f[..]), Some(&b"4"[..]));
    }

    #[test]
    fn places_readers_after_a_sequence_or_reports_a_gap() {
        let mut log = Log::new(None);
        for sequence in [2, 5, 9] {
            append(&mut log, sequence, 1, &mut Vec::new());
        }
        let next = |log: &Log, after| log.cursor_after(after).map(|c| c.next);
        assert_eq!(next(&log, None), Some(3));
        assert_eq!(next(&log, Some(0)), Some(0));
        assert_eq!(next(&log, Some(5)), Some(2));
        assert_eq!(next(&log, Some(6)), Some(2));
        assert_eq!(next(&log, Some(9)), Some(3));
        append(&mut log, 12, 1, &mut Vec::new());
        // Sequence 2 was evicted: replaying after 1 would miss it, after 2 would not.
        assert_eq!(next(&log, Some(1)), None);
        assert_eq!(next(&log, Some(2)), Some(1));
    }

    #[test]
    fn frames_are_read_in_shared_runs_and_chunks_go_with_their_entries() {
        let mut log = Log::new(None);
        let frame = |n: u64| Bytes::from(n.to_string());
        for sequence in 1..=100 {
            let entry = Entry {
                sequence,
                len: 1,
                own_id: None,
            };
            log.append(entry, frame(sequence), 40, usize::MAX, |_| {});
        }
        // Entries 61..=100 (indexes 60..=99) are held, and only their chunks.
        let len = CHUNK_LEN as u64;
        assert_eq!(log.chunks.len() as u64, 99 / len - 60 / len + 1);
        assert_eq!(log.chunk_first(), 60 - 60 % len);
        let mut batch = Batch::new();
        assert_eq!(log.read_into(62, 30, &mut batch), 30);
        let read: Vec<Bytes> = batch.frames().cloned().collect();
        let expected: Vec<Bytes> = (63..93).map(frame).collect();
        assert_eq!(read, expected);
        let mut full = Batch::new();
        assert_eq!(
            log.read_into(60, 40, &mut full),
            crate::hub::batch::BATCH_CAPACITY
        );
        // One by one, the same frames; none outside what is held.
        assert_eq!(log.frame(62), Some(&frame(63)));
        assert_eq!(log.frame(99), Some(&frame(100)));
        assert!(log.frame(59).is_none() && log.frame(100).is_none());
    }
}
