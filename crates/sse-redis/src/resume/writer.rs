//! A producer's state: the messages waiting for Redis, and the one writer that
//! writes them in order, exactly once, trimmed to the bounds.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sse_core::{EndReason, Message};

use super::errors::{InvalidMessage, SendError};
use super::metrics::Counters;
use super::options::ResumeOptions;
use super::registry::{Closure, Link, Shared};
use super::scripts::{APPEND, END, Outcome};
use super::stored::Stored;
use crate::entry::StreamId;
use crate::observe::Error;

/// The most entries written in one round trip.
const MAX_BATCH: usize = 64;

/// One producer's state, shared by its clones (and taken by `run` when the last
/// is dropped unfinished).
pub(crate) struct State {
    pub(crate) shared: Arc<Shared>,
    pub(crate) link: Arc<Link>,
    queue: Mutex<Queue>,
    /// Held by the one task writing; the others wait for it.
    writing: AtomicBool,
    written: event_listener::Event,
    /// Only touched by the task holding `writing`.
    writer: Mutex<Writer>,
}

/// The messages not known written yet.
struct Queue {
    /// The sequence number of the next message.
    next: u64,
    /// Oldest first, with their sequence numbers.
    pending: VecDeque<(u64, Stored)>,
    pending_bytes: usize,
    /// Every message up to this sequence number is written.
    written_through: u64,
}

/// What the stream holds, for trimming to the bounds.
struct Writer {
    /// The messages the stream holds, oldest first: their ids (`None` when a
    /// retry found one written before) and sizes.
    window: VecDeque<(Option<StreamId>, usize)>,
    window_bytes: usize,
    /// The newest entry known written.
    newest: StreamId,
}

/// The writer's turn, released on drop (a send dropped while writing leaves its
/// messages waiting, for the next writer).
struct Turn<'a>(&'a State);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.writing.store(false, Relaxed);
        self.0.written.notify(1);
    }
}

/// Why a message was not queued.
pub(crate) enum Refused {
    Full(Message),
    Closed(Closure, Message),
    Invalid(InvalidMessage, Message),
}

impl State {
    pub(crate) fn new(shared: Arc<Shared>, link: Arc<Link>, start: StreamId) -> Self {
        State {
            shared,
            link,
            queue: Mutex::new(Queue {
                next: 1,
                pending: VecDeque::new(),
                pending_bytes: 0,
                written_through: 0,
            }),
            writing: AtomicBool::new(false),
            written: event_listener::Event::new(),
            writer: Mutex::new(Writer {
                window: VecDeque::new(),
                window_bytes: 0,
                newest: start,
            }),
        }
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn pending(&self) -> usize {
        self.queue().pending.len()
    }

    /// Queues `message` as the next one; returns its sequence number.
    pub(crate) fn push(&self, message: Message) -> Result<u64, Refused> {
        if let Some(closure) = self.link.closure() {
            return Err(Refused::Closed(closure, message));
        }
        let options = &self.shared.options;
        let stored = match Stored::new(&message, options.max_bytes) {
            Ok(stored) => stored,
            Err(invalid) => return Err(Refused::Invalid(invalid, message)),
        };
        let len = stored.bytes().len();
        let mut queue = self.queue();
        // Within `max_pending` messages and `max_bytes` bytes: more could not be
        // kept by the stream anyway.
        if !queue.pending.is_empty()
            && (queue.pending.len() >= options.max_pending
                || queue.pending_bytes + len > options.max_bytes)
        {
            return Err(Refused::Full(message));
        }
        let sequence = queue.next;
        queue.next += 1;
        queue.pending.push_back((sequence, stored));
        queue.pending_bytes += len;
        Ok(sequence)
    }

    /// Waits for the writer's turn.
    async fn turn(&self) -> Turn<'_> {
        loop {
            if !self.writing.swap(true, Relaxed) {
                return Turn(self);
            }
            let listener = self.written.listen();
            if !self.writing.swap(true, Relaxed) {
                return Turn(self);
            }
            listener.await;
        }
    }

    fn closed_error(&self, closure: Closure) -> SendError {
        let mut queue = self.queue();
        queue.pending.clear();
        queue.pending_bytes = 0;
        match closure {
            Closure::Ended(reason) => SendError::Ended(reason, None),
            Closure::Lost => SendError::Lost(None),
        }
    }

    /// Writes every message queued up to `through` (and any queued after it
    /// meanwhile), unless another writer already did.
    pub(crate) async fn flush_through(&self, through: u64) -> Result<(), SendError> {
        let _turn = self.turn().await;
        loop {
            let (written_through, empty) = {
                let queue = self.queue();
                (queue.written_through, queue.pending.is_empty())
            };
            if written_through >= through || empty {
                return Ok(());
            }
            if let Some(closure) = self.link.closure() {
                return Err(self.closed_error(closure));
            }
            self.write_batch().await?;
        }
    }

    /// Writes everything queued.
    pub(crate) async fn flush(&self) -> Result<(), SendError> {
        self.flush_through(u64::MAX).await
    }

    /// The oldest queued messages that fit the bounds together.
    fn batch(&self) -> Vec<(u64, Stored)> {
        let options = &self.shared.options;
        let queue = self.queue();
        let mut bytes = 0;
        let mut batch = Vec::new();
        for (sequence, stored) in queue
            .pending
            .iter()
            .take(MAX_BATCH.min(options.max_entries))
        {
            let len = stored.bytes().len();
            if !batch.is_empty() && bytes + len > options.max_bytes {
                break;
            }
            bytes += len;
            batch.push((*sequence, stored.clone()));
        }
        batch
    }

    /// Writes the oldest queued messages that fit the bounds together, in one
    /// round trip. Only with the writer's turn.
    async fn write_batch(&self) -> Result<(), SendError> {
        let options = &self.shared.options;
        let batch = self.batch();
        let bytes = batch.iter().map(|(_, stored)| stored.bytes().len()).sum();
        let (trim, minid) = self.writer().trim_for(options, batch.len(), bytes);
        let minid = minid.map(|id| id.to_string()).unwrap_or_default();
        let ttl = ResumeOptions::millis(options.live_ttl).to_string();
        let mut args = vec![
            self.link.token.clone().into_bytes(),
            minid.into_bytes(),
            ttl.into_bytes(),
        ];
        for (sequence, stored) in &batch {
            let (field, value) = stored.field();
            args.push(sequence.to_string().into_bytes());
            args.push(field.into());
            args.push(value.to_vec());
        }
        let keys = [self.link.keys.stream.as_str()];
        let outcome = APPEND
            .run(&self.shared.commands, &keys, args)
            .await
            .and_then(|reply| Outcome::parse(&reply))
            .map_err(|error| self.unavailable(error))?;
        let ids = match outcome {
            Outcome::Ok(ids) if ids.len() == batch.len() => ids,
            Outcome::Ok(_) => {
                return Err(self.unavailable(Error::UnexpectedReply("an id per message")));
            }
            outcome => {
                let closure = self.link.learn(&outcome).unwrap_or(Closure::Lost);
                return Err(self.closed_error(closure));
            }
        };
        Counters::add(&self.shared.counters.sent, ids.len() as u64);
        let mut writer = self.writer();
        writer.trim(trim);
        let mut queue = self.queue();
        for (id, (sequence, stored)) in ids.into_iter().zip(batch) {
            let len = stored.bytes().len();
            writer.window.push_back((id, len));
            writer.window_bytes += len;
            if let Some(id) = id {
                writer.newest = id;
            }
            queue.pending.pop_front();
            queue.pending_bytes -= len;
            queue.written_through = sequence;
        }
        Ok(())
    }

    fn writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn unavailable(&self, error: Error) -> SendError {
        Counters::add(&self.shared.counters.send_errors, 1);
        SendError::Unavailable(error, None)
    }

    /// Writes what waits, then the end entry. An end already written by this
    /// producer (a retry after a lost reply) counts as done.
    pub(crate) async fn finish(&self) -> Result<(), SendError> {
        self.flush().await?;
        let _turn = self.turn().await;
        let shared = &self.shared;
        let args = vec![
            EndReason::Done.as_str().into(),
            ResumeOptions::millis(shared.options.linger)
                .to_string()
                .into_bytes(),
            self.link.token.clone().into_bytes(),
            Vec::new(),
            Vec::new(),
        ];
        let reply = END
            .run(&shared.commands, &[&self.link.keys.stream], args)
            .await
            .and_then(|reply| Outcome::parse(&reply));
        match reply {
            Ok(Outcome::Ok(_)) => {
                self.link.close(Closure::Ended(EndReason::Done));
                Ok(())
            }
            Ok(Outcome::Ended(EndReason::Done)) => {
                self.link.close(Closure::Ended(EndReason::Done));
                Ok(())
            }
            Ok(outcome) => {
                let closure = self.link.learn(&outcome).unwrap_or(Closure::Lost);
                Err(self.closed_error(closure))
            }
            Err(error) => Err(self.unavailable(error)),
        }
    }
}

impl Writer {
    /// How many of the oldest entries to trim so that `count` more entries of
    /// `bytes` fit the bounds, and the `MINID` that trims exactly them.
    fn trim_for(
        &self,
        options: &ResumeOptions,
        count: usize,
        bytes: usize,
    ) -> (usize, Option<StreamId>) {
        let (mut kept_bytes, mut trim) = (self.window_bytes, 0);
        while trim < self.window.len()
            && (kept_bytes + bytes > options.max_bytes
                || self.window.len() - trim + count > options.max_entries)
        {
            kept_bytes -= self.window[trim].1;
            trim += 1;
        }
        if trim == 0 {
            return (0, None);
        }
        // Just above the newest entry trimmed (or, if a retry left its id unknown,
        // the oldest entry kept whose id is known; else above everything written).
        let above = |id: StreamId| match id.sequence.checked_add(1) {
            Some(sequence) => StreamId { sequence, ..id },
            None => StreamId {
                millis: id.millis.saturating_add(1),
                sequence: 0,
            },
        };
        let minid = self.window[trim - 1]
            .0
            .map(above)
            .or_else(|| self.window.iter().skip(trim).find_map(|entry| entry.0))
            .unwrap_or(above(self.newest));
        (trim, Some(minid))
    }

    /// Forgets the `count` oldest entries, trimmed.
    fn trim(&mut self, count: usize) {
        for (_, size) in self.window.drain(..count.min(self.window.len())) {
            self.window_bytes -= size;
        }
    }
}
