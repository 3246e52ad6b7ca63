//! The producer: writes a stream's events to Redis, in order, exactly once.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use redis::Value;
use sse_core::EndReason;
use sse_core::Message;

use super::errors::{InvalidMessage, SendError, TrySendError};
use super::metrics::Counters;
use super::options::ResumeOptions;
use super::registry::{Closure, Link, Shared};
use super::scripts::{APPEND, Call, END, Outcome};
use super::stored::Stored;
use crate::entry::StreamId;
use crate::observe::Error;

/// The most entries written in one round trip.
const MAX_BATCH: usize = 64;

/// The producer of a resumable stream on Redis, from
/// [`RedisResumable::start`](crate::RedisResumable::start): detached from every
/// connection (a viewer leaving never stops it), it ends when you
/// [`finish`](Self::finish) or drop it, when the stream is cancelled on any
/// process, or abandoned.
///
/// Every event becomes one entry of the stream, whose id is the event's SSE id,
/// so a viewer resumes exactly after it on any process. Writes are in order and
/// exactly once: a write whose reply was lost is not repeated when tried again
/// (the stream knows each entry's sequence number).
///
/// - [`send`](Self::send) writes the message (and any waiting before it) and
///   returns once Redis holds it: a success is never reported for an entry that
///   was not written.
/// - [`try_send`](Self::try_send) only queues it; the next `send`,
///   [`flush`](Self::flush) or `finish` writes everything queued in one round
///   trip. Handy for bursts of small tokens.
/// - When Redis cannot be reached, `send` fails with
///   [`SendError::Unavailable`]: the message waits, and is written first, once,
///   when a later write gets through.
/// - [`closed`](Self::closed) completes when the stream is cancelled or
///   abandoned (heard by [`run`](crate::RedisResumable::run)), or found ended or
///   lost by a write; then every send fails.
///
/// Dropping it finishes the stream (`data: done`) through `run`, after writing
/// what waits; prefer `finish().await`, which says whether it worked.
pub struct RedisProducer(Option<Producer>);

/// The producer's state (taken by `run` when the producer is dropped unfinished).
pub(crate) struct Producer {
    shared: Arc<Shared>,
    pub(crate) link: Arc<Link>,
    /// The sequence number of the next event.
    next: u64,
    /// Queued or unconfirmed messages, oldest first, with their sequence numbers.
    pending: VecDeque<(u64, Stored)>,
    /// The events the stream holds, oldest first: their ids (`None` when a retry
    /// found one written before) and sizes, for trimming to the bounds.
    window: VecDeque<(Option<StreamId>, usize)>,
    window_bytes: usize,
    /// The newest entry known written.
    newest: StreamId,
}

impl RedisProducer {
    pub(crate) fn new(producer: Producer) -> Self {
        RedisProducer(Some(producer))
    }

    fn inner(&mut self) -> &mut Producer {
        self.0.as_mut().expect("present until finished or dropped")
    }

    fn get(&self) -> &Producer {
        self.0.as_ref().expect("present until finished or dropped")
    }

    /// The stream's key.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.get().link.key
    }

    /// Writes `message` (after anything still waiting) as the stream's next
    /// event, and returns once Redis holds it.
    ///
    /// # Errors
    ///
    /// [`SendError::Ended`] or [`SendError::Lost`]: stop producing.
    /// [`SendError::Unavailable`]: Redis is down; the message waits (or is handed
    /// back when the producer is full). [`SendError::Invalid`]: an event with an
    /// id of its own, several events in one frame, or a message over
    /// `max_bytes`.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), SendError> {
        let message = message.into();
        let producer = self.inner();
        match producer.link.closure() {
            Some(Closure::Ended(reason)) => return Err(SendError::Ended(reason, Some(message))),
            Some(Closure::Lost) => return Err(SendError::Lost(Some(message))),
            None => {}
        }
        if producer.pending.len() >= producer.shared.options.max_pending
            && let Err(error) = producer.flush().await
        {
            return Err(error.with_message(message));
        }
        match producer.queue(message) {
            Ok(()) => producer.flush().await,
            Err((invalid, message)) => Err(SendError::Invalid(invalid, message)),
        }
    }

    /// Queues `message` without writing it: the next [`send`](Self::send),
    /// [`flush`](Self::flush) or [`finish`](Self::finish) writes it.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] when `max_pending` messages wait; the stream's end
    /// or loss; an invalid message.
    pub fn try_send(&mut self, message: impl Into<Message>) -> Result<(), TrySendError> {
        let message = message.into();
        let producer = self.inner();
        match producer.link.closure() {
            Some(Closure::Ended(reason)) => return Err(TrySendError::Ended(reason, message)),
            Some(Closure::Lost) => return Err(TrySendError::Lost(message)),
            None => {}
        }
        if producer.pending.len() >= producer.shared.options.max_pending {
            return Err(TrySendError::Full(message));
        }
        producer
            .queue(message)
            .map_err(|(invalid, message)| TrySendError::Invalid(invalid, message))
    }

    /// Writes every message waiting (queued by `try_send`, or kept when Redis was
    /// down).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub async fn flush(&mut self) -> Result<(), SendError> {
        self.inner().flush().await
    }

    /// Writes what waits, then the end entry (`data: done`): viewers get the end
    /// event, and the stream lingers for late resumers.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send); on [`SendError::Unavailable`] the producer is
    /// dropped, so [`run`](crate::RedisResumable::run) finishes it once Redis is
    /// back.
    pub async fn finish(mut self) -> Result<(), SendError> {
        let result = self.inner().finish().await;
        if !matches!(result, Err(SendError::Unavailable(..)))
            && let Some(producer) = self.0.take()
        {
            producer.shared.unregister(&producer.link);
        }
        result
    }

    /// Whether the stream is over for this producer (cancelled, abandoned, found
    /// lost): every send fails.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.get().link.closure().is_some()
    }

    /// Completes when the stream is over for this producer: cancelled (on any
    /// process), abandoned, or found ended or lost by a write. Select on it while
    /// waiting for something else (an upstream's next token), so the work stops
    /// at once. Cancels from other processes are heard by
    /// [`run`](crate::RedisResumable::run).
    #[must_use = "futures do nothing unless you .await or poll them"]
    pub fn closed(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        self.get().link.clone().closed()
    }
}

impl Drop for RedisProducer {
    fn drop(&mut self) {
        let Some(producer) = self.0.take() else {
            return;
        };
        if producer.link.closure().is_some() {
            producer.shared.unregister(&producer.link);
            return;
        }
        // `run` writes what waits and the end entry.
        let shared = producer.shared.clone();
        shared
            .orphans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(producer);
        shared
            .orphans_new
            .store(true, std::sync::atomic::Ordering::Relaxed);
        shared.orphaned.notify(usize::MAX);
    }
}

impl fmt::Debug for RedisProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("RedisProducer");
        if let Some(producer) = &self.0 {
            debug
                .field("key", &producer.link.key)
                .field("pending", &producer.pending.len())
                .field("closed", &producer.link.closure());
        }
        debug.finish_non_exhaustive()
    }
}

impl SendError {
    /// The error of a flush made to make room for `message`, which was not taken.
    fn with_message(self, message: Message) -> SendError {
        match self {
            SendError::Ended(reason, _) => SendError::Ended(reason, Some(message)),
            SendError::Lost(_) => SendError::Lost(Some(message)),
            SendError::Unavailable(error, _) => SendError::Unavailable(error, Some(message)),
            invalid @ SendError::Invalid(..) => invalid,
        }
    }
}

impl Producer {
    pub(crate) fn new(shared: Arc<Shared>, link: Arc<Link>, start: StreamId) -> Self {
        Producer {
            shared,
            link,
            next: 1,
            pending: VecDeque::new(),
            window: VecDeque::new(),
            window_bytes: 0,
            newest: start,
        }
    }

    /// Queues `message` as the next event, or hands it back with why it cannot be
    /// one.
    fn queue(&mut self, message: Message) -> Result<(), (InvalidMessage, Message)> {
        match Stored::new(&message, self.shared.options.max_bytes) {
            Ok(stored) => {
                self.pending.push_back((self.next, stored));
                self.next += 1;
                Ok(())
            }
            Err(invalid) => Err((invalid, message)),
        }
    }

    fn closed_error(&mut self, closure: Closure) -> SendError {
        self.pending.clear();
        match closure {
            Closure::Ended(reason) => SendError::Ended(reason, None),
            Closure::Lost => SendError::Lost(None),
        }
    }

    /// Writes everything pending, in batches that each fit the bounds.
    pub(crate) async fn flush(&mut self) -> Result<(), SendError> {
        while !self.pending.is_empty() {
            if let Some(closure) = self.link.closure() {
                return Err(self.closed_error(closure));
            }
            self.write_batch().await?;
        }
        Ok(())
    }

    /// How many of the oldest entries to trim so that `count` more entries of
    /// `bytes` fit the bounds, and the `MINID` that trims exactly them.
    fn trim_for(&self, count: usize, bytes: usize) -> (usize, Option<StreamId>) {
        let options = &self.shared.options;
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
        let above = |id: StreamId| StreamId {
            millis: id.millis,
            sequence: id.sequence + 1,
        };
        let minid = self.window[trim - 1]
            .0
            .map(above)
            .or_else(|| self.window.iter().skip(trim).find_map(|entry| entry.0))
            .unwrap_or(above(self.newest));
        (trim, Some(minid))
    }

    /// Writes the oldest pending entries that fit the bounds together, in one
    /// round trip.
    async fn write_batch(&mut self) -> Result<(), SendError> {
        let options = &self.shared.options;
        let (mut count, mut bytes) = (0, 0);
        for (_, stored) in self.pending.iter().take(MAX_BATCH.min(options.max_entries)) {
            let len = stored.bytes().len();
            if count > 0 && bytes + len > options.max_bytes {
                break;
            }
            count += 1;
            bytes += len;
        }
        let (trim, minid) = self.trim_for(count, bytes);
        let minid = minid.map(|id| id.to_string()).unwrap_or_default();
        let ttl = ResumeOptions::millis(options.live_ttl).to_string();
        let keys = [self.link.keys.stream.as_str()];
        let calls: Vec<Call<'_>> = self
            .pending
            .iter()
            .take(count)
            .map(|(sequence, stored)| {
                let (field, value) = stored.field();
                let args = vec![
                    self.link.token.clone().into_bytes(),
                    sequence.to_string().into_bytes(),
                    value.to_vec(),
                    minid.clone().into_bytes(),
                    ttl.clone().into_bytes(),
                    field.into(),
                ];
                (&keys[..], args)
            })
            .collect();
        let replies = APPEND.run_many(&self.shared.commands, &calls).await;
        let replies = match replies {
            Ok(replies) if replies.len() == count => replies,
            Ok(_) => return Err(self.unavailable(Error::UnexpectedReply("a reply per entry"))),
            Err(error) => return Err(self.unavailable(error)),
        };
        let mut trimmed = false;
        for reply in replies {
            let outcome = match &reply {
                Value::ServerError(error) => {
                    return Err(self.unavailable(Error::Redis(error.clone().into())));
                }
                reply => match Outcome::parse(reply) {
                    Ok(outcome) => outcome,
                    Err(error) => return Err(self.unavailable(error)),
                },
            };
            if let Some(closure) = self.link.learn(&outcome) {
                return Err(self.closed_error(closure));
            }
            let Outcome::Ok(id) = outcome else {
                unreachable!("learn closes on every other outcome")
            };
            if !std::mem::replace(&mut trimmed, true) {
                for (_, size) in self.window.drain(..trim) {
                    self.window_bytes -= size;
                }
            }
            let Some((_, stored)) = self.pending.pop_front() else {
                break;
            };
            let len = stored.bytes().len();
            self.window.push_back((id, len));
            self.window_bytes += len;
            if let Some(id) = id {
                self.newest = id;
            }
            Counters::add(&self.shared.counters.sent, 1);
        }
        Ok(())
    }

    fn unavailable(&self, error: Error) -> SendError {
        Counters::add(&self.shared.counters.send_errors, 1);
        SendError::Unavailable(error, None)
    }

    /// Writes what waits, then the end entry. An end already written by this
    /// producer (a retry after a lost reply) counts as done.
    pub(crate) async fn finish(&mut self) -> Result<(), SendError> {
        self.flush().await?;
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
        let outcome = match reply {
            Ok(outcome) => outcome,
            Err(error) => return Err(self.unavailable(error)),
        };
        match outcome {
            Outcome::Ok(_) => {
                self.link.close(Closure::Ended(EndReason::Done));
                Ok(())
            }
            Outcome::Ended(reason) => {
                self.link.close(Closure::Ended(reason));
                match reason {
                    EndReason::Done => Ok(()),
                    reason => Err(SendError::Ended(reason, None)),
                }
            }
            Outcome::Lost => {
                self.link.close(Closure::Lost);
                Err(SendError::Lost(None))
            }
        }
    }
}
