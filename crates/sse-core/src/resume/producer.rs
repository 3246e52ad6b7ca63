//! The producer of a resumable stream: the sending side, detached from any
//! connection.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Instant;

use super::Shared;
use super::metrics::Counters;
use super::stream::{Stream, WakeList};
use super::wire::EndReason;
use crate::{Closed, Message, TrySendError};

/// The sending side of a resumable stream, from
/// [`Resumable::start`](super::Resumable::start): the same API as a
/// [`channel`](crate::channel)'s [`Sender`](crate::Sender), but detached from any
/// connection.
///
/// - A send never waits for viewers: the message is appended to the stream's
///   log (each viewer reads it at its own pace), so `send` completes at once and
///   [`try_send`](Self::try_send) is never [`TrySendError::Full`]. A stream past
///   its [`max_bytes`](super::ResumeConfig::max_bytes) loses its oldest messages
///   instead.
/// - A send fails only once the stream ended: cancelled
///   ([`Resumable::cancel`](super::Resumable::cancel)), abandoned, the registry
///   dropped, or [`finish`](Self::finish)ed. [`closed`](Self::closed) completes
///   then, for producers that wait on something else.
/// - The stream ends (its end event says `done`) when [`finish`](Self::finish)
///   is called, or when every clone of the producer is dropped.
///
/// # Examples
///
/// ```
/// use futures_lite::{StreamExt, future};
/// use sse_core::{Resumable, ResumeConfig};
///
/// let streams = Resumable::new(ResumeConfig::default().keep_alive(None));
/// let producer = streams.start("run-1")?;
/// future::block_on(async {
///     producer.send("Hello").await?;
///     producer.send(",").await?;
///     Ok::<_, sse_core::Closed>(())
/// })?;
/// producer.finish();
///
/// // A viewer that saw the first token (id 1) resumes after it.
/// let response = streams.attach("run-1", Some("1")).expect("lingering");
/// let body: Vec<_> = future::block_on(response.collect());
/// let body = String::from_utf8(body.concat())?;
/// assert_eq!(body, "data: ,\nid: 2\n\nevent: end\ndata: done\nid: 3\n\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Producer {
    pub(super) stream: Arc<Stream>,
    /// The registry, to record the end (it does not keep it alive).
    pub(super) shared: Weak<Shared>,
    /// The registry's counters and byte count, which every message changes.
    pub(super) counters: Arc<Counters>,
}

impl Producer {
    /// The stream's key.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.stream.key
    }

    /// Sends a message: appended to the stream at once (a producer never waits
    /// for viewers), with its position as its id.
    ///
    /// # Errors
    ///
    /// [`Closed`], with the message, once the stream ended: stop producing.
    #[allow(clippy::unused_async)] // The same API as `Sender::send`.
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), Closed> {
        self.push(message.into()).map_err(Closed)
    }

    /// Sends a message (as [`send`](Self::send) does: there is always room).
    ///
    /// # Errors
    ///
    /// [`TrySendError::Closed`], with the message, once the stream ended.
    pub fn try_send(&self, message: impl Into<Message>) -> Result<(), TrySendError> {
        self.push(message.into()).map_err(TrySendError::Closed)
    }

    fn push(&self, message: Message) -> Result<(), Message> {
        let stream = &*self.stream;
        if stream.has_ended() {
            return Err(message);
        }
        let mut wakers = WakeList::default();
        let Some(appended) = stream.append(&message, &mut wakers) else {
            return Err(message);
        };
        wakers.wake_all();
        let mut more = appended.more_waiting;
        while more {
            more = stream.take_more_wakers(&mut wakers);
            wakers.wake_all();
        }
        Counters::add(&self.counters.messages_evicted, appended.evicted);
        if self.counters.add_bytes(appended.added)
            && let Some(shared) = self.shared.upgrade()
        {
            shared.enforce_budget();
        }
        Ok(())
    }

    /// Whether the stream ended: every send fails.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.stream.has_ended()
    }

    /// Completes once the stream ended, whatever ended it: cancelled, abandoned,
    /// the registry dropped, or finished. A producer that waits on something else
    /// (an upstream's next token) selects on it, so it stops at once. It costs
    /// nothing until polled, and one listener while it waits.
    ///
    /// ```
    /// use futures_lite::future;
    /// use sse_core::Resumable;
    ///
    /// let streams = Resumable::default();
    /// let producer = streams.start("run-2")?;
    /// let mut closed = Box::pin(producer.closed());
    /// assert!(future::block_on(future::poll_once(&mut closed)).is_none());
    /// assert!(streams.cancel("run-2")); // The Stop button.
    /// future::block_on(closed);
    /// assert!(producer.try_send("unheard").is_err());
    /// # Ok::<(), sse_core::StartError>(())
    /// ```
    #[must_use = "futures do nothing unless you .await or poll them"]
    pub fn closed(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        let stream = self.stream.clone();
        async move {
            loop {
                if stream.has_ended() {
                    return;
                }
                // Listening, then checking again: an end in between is seen now,
                // one after notifies the listener.
                let listener = stream.closed.listen();
                if stream.has_ended() {
                    return;
                }
                listener.await;
            }
        }
    }

    /// Ends the stream: viewers get what was sent, then the end event (`done`),
    /// and every clone's sends fail from now on.
    pub fn finish(self) {
        self.end(EndReason::Done);
    }

    fn end(&self, reason: EndReason) {
        let mut wakers = WakeList::default();
        let Some(mut more) = self.stream.end(reason, &mut wakers) else {
            return;
        };
        wakers.wake_all();
        while more {
            more = self.stream.take_more_wakers(&mut wakers);
            wakers.wake_all();
        }
        if let Some(shared) = self.shared.upgrade() {
            shared.ended(&self.stream, reason, Instant::now());
        }
    }
}

impl Clone for Producer {
    fn clone(&self) -> Self {
        self.stream.producers.fetch_add(1, Ordering::Relaxed);
        Producer {
            stream: self.stream.clone(),
            shared: self.shared.clone(),
            counters: self.counters.clone(),
        }
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        if self.stream.producers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.end(EndReason::Done);
        }
    }
}

impl fmt::Debug for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("key", &self.stream.key)
            .field("closed", &self.is_closed())
            .finish()
    }
}

// Producers run on other threads.
const _: fn() = || {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<Producer>();
};
