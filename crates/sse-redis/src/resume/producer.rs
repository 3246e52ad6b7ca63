//! The producer: the application's handle on a stream it started.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use sse_core::Message;

use super::errors::{SendError, TrySendError};
use super::registry::Closure;
use super::writer::{Refused, State};

/// The producer of a resumable stream on Redis, from
/// [`RedisResumable::start`](crate::RedisResumable::start): detached from every
/// connection (a viewer leaving never stops it), it ends when you
/// [`finish`](Self::finish) it or drop every clone, when the stream is cancelled
/// on any process, or abandoned. The same methods as `sse_core::Producer`.
///
/// Every message becomes one entry of the stream, and an event's id is its
/// entry's id, so a viewer resumes exactly after it on any process. Writes are in
/// order and exactly once: a write whose reply was lost is not repeated when
/// tried again (the stream knows each entry's sequence number).
///
/// - [`send`](Self::send) returns once Redis holds the message (and everything
///   sent before it): a success is never reported for an entry that was not
///   written. Clones send concurrently; one of them writes for all, in one round
///   trip per batch.
/// - [`try_send`](Self::try_send) only queues it; the next `send`,
///   [`flush`](Self::flush) or `finish` writes everything queued in one round
///   trip. Handy for bursts of small tokens.
/// - When Redis cannot be reached, `send` fails with
///   [`SendError::Unavailable`]: the message waits (up to
///   [`max_pending`](crate::ResumeOptions#structfield.max_pending) messages and
///   [`max_bytes`](crate::ResumeOptions#structfield.max_bytes) bytes), and is
///   written first, once, when a later write gets through.
/// - [`closed`](Self::closed) completes when the stream is cancelled or
///   abandoned (heard by [`run`](crate::RedisResumable::run)), or found ended or
///   lost by a write; then every send fails.
///
/// Dropping the last clone finishes the stream (`data: done`) through `run`,
/// after writing what waits; prefer `finish().await`, which says whether it
/// worked.
#[derive(Clone)]
pub struct RedisProducer(Arc<Handle>);

/// Shared by a producer's clones; the last one dropped finishes the stream.
struct Handle(Arc<State>);

impl RedisProducer {
    pub(crate) fn new(state: State) -> Self {
        RedisProducer(Arc::new(Handle(Arc::new(state))))
    }

    fn state(&self) -> &State {
        &self.0.0
    }

    /// The stream's key.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.state().link.key
    }

    /// Writes `message` (after everything sent before it) as the stream's next
    /// message, and returns once Redis holds it.
    ///
    /// # Errors
    ///
    /// [`SendError::Ended`] or [`SendError::Lost`]: stop producing.
    /// [`SendError::Unavailable`]: Redis is down; the message waits (or is handed
    /// back when the producer is full). [`SendError::Invalid`]: a message over
    /// `max_bytes`.
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        let state = self.state();
        let mut message = message.into();
        let sequence = loop {
            match state.push(message) {
                Ok(sequence) => break sequence,
                // Full: write what waits, then try again.
                Err(Refused::Full(refused)) => match state.flush().await {
                    Ok(()) => message = refused,
                    Err(error) => return Err(error.with_message(refused)),
                },
                Err(Refused::Closed(Closure::Ended(reason), refused)) => {
                    return Err(SendError::Ended(reason, Some(refused)));
                }
                Err(Refused::Closed(Closure::Lost, refused)) => {
                    return Err(SendError::Lost(Some(refused)));
                }
                Err(Refused::Invalid(invalid, refused)) => {
                    return Err(SendError::Invalid(invalid, refused));
                }
            }
        };
        state.flush_through(sequence).await
    }

    /// Queues `message` without writing it: the next [`send`](Self::send),
    /// [`flush`](Self::flush) or [`finish`](Self::finish) writes it.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] when `max_pending` messages (or `max_bytes` bytes)
    /// wait; the stream's end or loss; a message over `max_bytes`.
    pub fn try_send(&self, message: impl Into<Message>) -> Result<(), TrySendError> {
        match self.state().push(message.into()) {
            Ok(_) => Ok(()),
            Err(Refused::Full(message)) => Err(TrySendError::Full(message)),
            Err(Refused::Closed(Closure::Ended(reason), message)) => {
                Err(TrySendError::Ended(reason, message))
            }
            Err(Refused::Closed(Closure::Lost, message)) => Err(TrySendError::Lost(message)),
            Err(Refused::Invalid(invalid, message)) => Err(TrySendError::Invalid(invalid, message)),
        }
    }

    /// Writes every message waiting (queued by `try_send`, or kept when Redis was
    /// down).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub async fn flush(&self) -> Result<(), SendError> {
        self.state().flush().await
    }

    /// Writes what waits, then the end entry (`data: done`): viewers get the end
    /// event, the stream lingers for late resumers, and every clone's sends fail
    /// from now on.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send). On [`SendError::Unavailable`], once every clone
    /// is dropped, [`run`](crate::RedisResumable::run) finishes the stream when
    /// Redis is back.
    pub async fn finish(self) -> Result<(), SendError> {
        let state = self.state();
        let result = state.finish().await;
        if !matches!(result, Err(SendError::Unavailable(..))) {
            state.shared.unregister(&state.link);
        }
        result
    }

    /// Whether the stream is over for this producer (finished, cancelled,
    /// abandoned, found lost): every send fails.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.state().link.closure().is_some()
    }

    /// Completes when the stream is over for this producer: finished, cancelled
    /// (on any process), abandoned, or found lost by a write. Select on it while
    /// waiting for something else (an upstream's next token), so the work stops
    /// at once. Cancels from other processes are heard by
    /// [`run`](crate::RedisResumable::run).
    #[must_use = "futures do nothing unless you .await or poll them"]
    pub fn closed(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        self.state().link.clone().closed()
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let state = &self.0;
        let shared = &state.shared;
        if state.link.closure().is_some() {
            shared.unregister(&state.link);
            return;
        }
        // `run` writes what waits and the end entry.
        shared
            .orphans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(state.clone());
        shared.orphans_new.store(true, Relaxed);
        shared.orphaned.notify(usize::MAX);
    }
}

impl fmt::Debug for RedisProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("RedisProducer")
            .field("key", &state.link.key)
            .field("pending", &state.pending())
            .field("closed", &state.link.closure())
            .finish_non_exhaustive()
    }
}

impl SendError {
    /// The error of a write made to make room for `message`, which was not
    /// taken: the message is handed back.
    fn with_message(self, message: Message) -> SendError {
        match self {
            SendError::Ended(reason, _) => SendError::Ended(reason, Some(message)),
            SendError::Lost(_) => SendError::Lost(Some(message)),
            SendError::Unavailable(error, _) => SendError::Unavailable(error, Some(message)),
            invalid @ SendError::Invalid(..) => invalid,
        }
    }
}
