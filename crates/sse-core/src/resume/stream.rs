//! One resumable stream: its log (the hub's [`Log`]), how it ended, and its
//! viewers' wakers. Shared by its producers, its viewers and the registry.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use bytes::{Bytes, BytesMut};
use slab::Slab;

use super::config::ResumeConfig;
use super::wire::{Encoding, EndReason, end_frame};
use crate::Message;
use crate::encode::SequenceIdLine;
use crate::hub::log::{Entry, Log};

/// How many wakers are taken under the lock at once, then woken after it.
const WAKE_AT_ONCE: usize = 8;

/// The least a stream's encoding buffer grows by: frames are split off it, so
/// a token costs no allocation of its own (one per this many bytes).
const ENCODE_BLOCK: usize = 1024;

/// One stream, shared.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) key: Arc<str>,
    state: Mutex<State>,
    /// Set once the stream ended: every send fails. Read without the lock by
    /// [`Producer::closed`](super::Producer::closed) and the send fast path.
    ended: AtomicBool,
    /// Notified when the stream ends.
    pub(crate) closed: event_listener::Event,
    /// Its cost (messages and [`ResumeConfig::STREAM_OVERHEAD`]), stored under the
    /// lock, read without it when the registry picks what to evict.
    cost: AtomicUsize,
    /// How many [`Producer`](super::Producer) clones are alive.
    pub(crate) producers: AtomicUsize,
    /// [`ResumeConfig::max_bytes`].
    max_bytes: usize,
}

#[derive(Debug)]
struct State {
    /// Entry `i` (log-local index) is the message at position `i + 1`, its
    /// `sequence`.
    log: Log,
    /// The `id` line of the next position.
    next_id: SequenceIdLine,
    /// Where messages are encoded, each split off as its frame (dropped when the
    /// stream ends).
    buf: BytesMut,
    end: Option<End>,
    viewers: Slab<Viewer>,
    /// Viewers waiting for the next message (or the end), each listed once.
    waiting: Vec<usize>,
}

#[derive(Debug)]
struct End {
    reason: EndReason,
    /// Its position: one past the last message's.
    position: u64,
    frame: Bytes,
}

/// A viewer's place in the waiting.
#[derive(Debug, Default)]
struct Viewer {
    waker: Option<Waker>,
    listed: bool,
}

/// What a viewer read.
pub(crate) enum Read {
    /// Frames were copied out; `resync` when some it had not read were evicted
    /// first (it then reads from the oldest held, perhaps nothing).
    Frames { resync: bool },
    /// Nothing yet: the waker is registered.
    Pending,
    /// Everything was read: the end event's frame.
    End(Bytes),
}

/// Where a new viewer starts.
pub(crate) enum Placement {
    /// At this log-local index, in this viewer slot; `resync` when what it
    /// asked for is not all held, `resumed` when it resumes exactly.
    At {
        slot: usize,
        index: u64,
        resync: bool,
        resumed: bool,
    },
    /// The stream ended and the viewer has already read its end.
    AtEnd,
}

impl Stream {
    pub(crate) fn new(key: Arc<str>, max_bytes: usize) -> Self {
        Stream {
            key,
            max_bytes,
            state: Mutex::new(State {
                log: Log::new(None),
                next_id: SequenceIdLine::new(1),
                buf: BytesMut::new(),
                end: None,
                viewers: Slab::new(),
                waiting: Vec::new(),
            }),
            ended: AtomicBool::new(false),
            closed: event_listener::Event::new(),
            cost: AtomicUsize::new(ResumeConfig::STREAM_OVERHEAD),
            producers: AtomicUsize::new(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether it ended.
    pub(crate) fn has_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Its cost now.
    pub(crate) fn cost(&self) -> usize {
        self.cost.load(Ordering::Relaxed)
    }

    /// Appends a message, evicting the oldest beyond
    /// [`ResumeConfig::max_bytes`]; takes the wakers of waiting viewers. `None`
    /// when the stream ended.
    pub(crate) fn append(&self, message: &Message, wakers: &mut WakeList) -> Option<Appended> {
        let encoding = Encoding::new(message);
        let mut state = self.lock();
        if state.end.is_some() {
            return None;
        }
        let before = state.cost();
        let position = state.log.end() + 1;
        let frame = match encoding.shared() {
            Some(frame) => frame.clone(),
            None => state.encode(&encoding),
        };
        let entry = Entry {
            sequence: position,
            len: frame.len(),
            own_id: None,
        };
        state
            .log
            .append(entry, frame, usize::MAX, usize::MAX, |_| {});
        state.next_id.increment();
        let mut evicted = 0;
        while state.log.cost() > self.max_bytes && state.log.len() > 1 {
            state.log.evict_oldest();
            evicted += 1;
        }
        let after = state.cost();
        self.cost.store(after, Ordering::Relaxed);
        let more = state.take_wakers(wakers);
        Some(Appended {
            added: after as isize - before as isize,
            evicted,
            more_waiting: more,
        })
    }

    /// Takes more wakers after [`append`](Self::append) or [`end`](Self::end)
    /// said more were waiting; returns whether more still are.
    pub(crate) fn take_more_wakers(&self, wakers: &mut WakeList) -> bool {
        self.lock().take_wakers(wakers)
    }

    /// Ends the stream (once): its end event takes the next position. Returns
    /// `None` when it had ended already.
    pub(crate) fn end(&self, reason: EndReason, wakers: &mut WakeList) -> Option<bool> {
        let mut state = self.lock();
        if state.end.is_some() {
            return None;
        }
        let position = state.log.end() + 1;
        state.end = Some(End {
            reason,
            position,
            frame: end_frame(reason, position),
        });
        self.ended.store(true, Ordering::Release);
        // Its unused room goes now (its frames hold the rest of it).
        state.buf = BytesMut::new();
        let more = state.take_wakers(wakers);
        drop(state);
        self.closed.notify(usize::MAX);
        Some(more)
    }

    /// How it ended, if it did.
    pub(crate) fn end_reason(&self) -> Option<EndReason> {
        self.lock().end.as_ref().map(|end| end.reason)
    }

    /// Evicts its oldest messages until it costs at most `cost` (keeping the
    /// newest; all of them when `cost` is 0). Returns the cost freed and how many
    /// messages went.
    pub(crate) fn shrink_to(&self, cost: usize) -> (usize, u64) {
        let mut state = self.lock();
        let before = state.cost();
        let keep = usize::from(cost > 0);
        let mut evicted = 0;
        while state.cost() > cost && state.log.len() > keep {
            state.log.evict_oldest();
            evicted += 1;
        }
        let after = state.cost();
        self.cost.store(after, Ordering::Relaxed);
        (before - after, evicted)
    }

    /// Places a new viewer after `last_event_id`'s position (`None`: from the
    /// start; `Some(None)`: an id that is not a position), and registers it.
    pub(crate) fn attach(&self, after: Option<Option<u64>>) -> Placement {
        let mut state = self.lock();
        let (start, end) = (state.log.start(), state.log.end());
        let (index, resync, resumed) = match after {
            None => (start, start > 0, false),
            Some(Some(position)) if state.end.as_ref().is_some_and(|e| e.position == position) => {
                return Placement::AtEnd;
            }
            // Resuming after `position` reads index `position` next.
            Some(Some(position)) if (start..=end).contains(&position) => (position, false, true),
            Some(_) => (start, true, false),
        };
        Placement::At {
            slot: state.viewers.insert(Viewer::default()),
            index,
            resync,
            resumed,
        }
    }

    /// Forgets a viewer; returns how many are left.
    pub(crate) fn detach(&self, slot: usize) -> usize {
        let mut state = self.lock();
        if state
            .viewers
            .try_remove(slot)
            .is_some_and(|viewer| viewer.listed)
        {
            // Unlisted now, or a later viewer in the same slot would be listed
            // twice (the list holds at most one slot per viewer).
            state.waiting.retain(|&listed| listed != slot);
        }
        state.viewers.len()
    }

    /// Copies the frames from log-local index `*cursor` on into `out`, up to
    /// `max` bytes (at least one frame), moving the cursor; registers `waker`
    /// when there is nothing to read.
    pub(crate) fn read(
        &self,
        slot: usize,
        cursor: &mut u64,
        out: &mut BytesMut,
        max: usize,
        waker: &Waker,
    ) -> Read {
        let mut state = self.lock();
        let resync = *cursor < state.log.start();
        if resync {
            *cursor = state.log.start();
        }
        let from = *cursor;
        while let Some(frame) = state.log.frame(*cursor) {
            if *cursor > from && out.len() + frame.len() > max {
                break;
            }
            out.extend_from_slice(frame);
            *cursor += 1;
        }
        if *cursor > from || resync {
            return Read::Frames { resync };
        }
        if let Some(end) = &state.end {
            return Read::End(end.frame.clone());
        }
        let State {
            viewers, waiting, ..
        } = &mut *state;
        if let Some(viewer) = viewers.get_mut(slot) {
            if !viewer
                .waker
                .as_ref()
                .is_some_and(|old| old.will_wake(waker))
            {
                viewer.waker = Some(waker.clone());
            }
            if !viewer.listed {
                viewer.listed = true;
                waiting.push(slot);
            }
        }
        Read::Pending
    }
}

impl State {
    /// Encodes a message as the next position's frame, split off the buffer.
    fn encode(&mut self, encoding: &Encoding<'_>) -> Bytes {
        let len = encoding.len(&self.next_id);
        if self.buf.capacity() - self.buf.len() < len {
            self.buf.reserve(len.max(ENCODE_BLOCK));
        }
        encoding.encode(&mut self.buf, &self.next_id);
        self.buf.split().freeze()
    }

    /// Its cost toward the bounds.
    fn cost(&self) -> usize {
        // `Log::cost` counts the hub's frame overhead, the same as ours.
        self.log.cost() + ResumeConfig::STREAM_OVERHEAD
    }

    /// Moves waiting viewers' wakers into `wakers` until it is full; returns
    /// whether more wait.
    fn take_wakers(&mut self, wakers: &mut WakeList) -> bool {
        while !wakers.is_full() {
            let Some(slot) = self.waiting.pop() else {
                return false;
            };
            if let Some(viewer) = self.viewers.get_mut(slot) {
                viewer.listed = false;
                if let Some(waker) = viewer.waker.take() {
                    wakers.push(waker);
                }
            }
        }
        !self.waiting.is_empty()
    }
}

/// What an append changed.
pub(crate) struct Appended {
    /// The change in the stream's cost.
    pub(crate) added: isize,
    /// Messages evicted by the stream's own bound.
    pub(crate) evicted: u64,
    /// Whether more viewers wait than were taken.
    pub(crate) more_waiting: bool,
}

/// Wakers taken under a stream's lock, to wake after it (most sends find one
/// viewer waiting, or none).
pub(crate) type WakeList = crate::hub::wake::WakeList<WAKE_AT_ONCE>;
