//! A channel from producers to one response, with backpressure.

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use event_listener::Event;
use futures_core::Stream;

use super::Message;

/// A channel for the producers of one response: the [`Sender`] for them (cloneable,
/// `Send + Sync`) and the [`Receiver`], the stream for the response (it converts
/// into a [`ResponseStream`](super::ResponseStream); every adapter takes it).
///
/// At most `capacity` messages (at least 1) wait in it. When the client reads
/// slower than the producer sends, [`Sender::send`] waits: backpressure, never
/// loss. When the response is gone (the client disconnected, the body was dropped),
/// every send fails at once and hands the message back, so the producer stops
/// instead of computing tokens for nobody.
///
/// # Examples
///
/// ```
/// use futures_lite::{StreamExt, future};
/// use sse_core::{Event, channel};
///
/// let (sender, mut receiver) = channel(16);
/// future::block_on(async {
///     sender.send("token").await?;
///     sender.send(Event::new("{}").with_event("done")?).await?;
///     assert_eq!(receiver.next().await.unwrap().to_frame().as_bytes(), "data: token\n\n");
///
///     drop(receiver); // The client went away.
///     assert!(sender.send("unheard").await.is_err());
///     Ok::<_, Box<dyn std::error::Error>>(())
/// })?;
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
pub fn channel(capacity: usize) -> (Sender, Receiver) {
    let (sender, receiver) = async_channel::bounded(capacity.max(1));
    let shared = Arc::new(Shared {
        receiver: Mutex::new(None),
        senders: AtomicUsize::new(1),
        closed: Event::new(),
    });
    let receiver = Receiver {
        inner: receiver,
        shared: shared.clone(),
    };
    (
        Sender {
            inner: sender,
            shared,
        },
        receiver,
    )
}

/// How the receiver waits: its waker, in a slot the senders wake after each send.
/// The channel's own waiting would box a listener each time the receiver waits; a
/// slot costs nothing (a waker's clone is a reference count), so a paced token
/// costs no allocation either.
struct Shared {
    receiver: Mutex<Option<Waker>>,
    /// The senders alive: the last one dropped closes the channel.
    senders: AtomicUsize,
    /// Notified when the receiver is dropped: producers waiting in
    /// [`Sender::closed`] stop.
    closed: Event,
}

impl Shared {
    fn wake_receiver(&self) {
        let waker = self
            .receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn register(&self, waker: &Waker) {
        let mut slot = self.receiver.lock().unwrap_or_else(PoisonError::into_inner);
        if !slot.as_ref().is_some_and(|old| old.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }
}

/// The sending half of a [`channel`]: clone it for every producer.
pub struct Sender {
    inner: async_channel::Sender<Message>,
    shared: Arc<Shared>,
}

impl Clone for Sender {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last sender: the stream ends once what was sent is read.
            self.inner.close();
            self.shared.wake_receiver();
        }
    }
}

impl Sender {
    /// Sends a message, waiting while the channel is full (the client reads slower
    /// than you send).
    ///
    /// # Errors
    ///
    /// [`Closed`], with the message, when the response is gone: stop producing.
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), Closed> {
        self.inner
            .send(message.into())
            .await
            .map_err(|error| Closed(error.into_inner()))?;
        self.shared.wake_receiver();
        Ok(())
    }

    /// Sends a message if there is room now.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] with the message when the channel is full,
    /// [`TrySendError::Closed`] when the response is gone.
    pub fn try_send(&self, message: impl Into<Message>) -> Result<(), TrySendError> {
        self.inner
            .try_send(message.into())
            .map_err(|error| match error {
                async_channel::TrySendError::Full(message) => TrySendError::Full(message),
                async_channel::TrySendError::Closed(message) => TrySendError::Closed(message),
            })?;
        self.shared.wake_receiver();
        Ok(())
    }

    /// Whether the response is gone (every send would fail).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Completes when the response is gone (the client disconnected, the body was
    /// dropped): every send would fail from then on.
    ///
    /// A producer that waits for something else (an upstream's first token, a
    /// timer between paced messages) selects on it, so it stops as soon as the
    /// client leaves instead of at its next send. It costs nothing until polled,
    /// and one listener while it waits.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::future;
    /// use sse_core::channel;
    ///
    /// let (sender, receiver) = channel(16);
    /// let mut closed = Box::pin(sender.closed());
    /// assert!(future::block_on(future::poll_once(&mut closed)).is_none());
    /// drop(receiver); // The client went away.
    /// future::block_on(closed);
    /// assert!(sender.is_closed());
    /// ```
    #[must_use = "futures do nothing unless you .await or poll them"]
    pub fn closed(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        let sender = self.inner.clone();
        let shared = self.shared.clone();
        async move {
            loop {
                if sender.is_closed() {
                    return;
                }
                // Listening, then checking again: a close in between is seen now,
                // one after notifies the listener.
                let listener = shared.closed.listen();
                if sender.is_closed() {
                    return;
                }
                listener.await;
            }
        }
    }
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("queued", &self.inner.len())
            .field("closed", &self.inner.is_closed())
            .finish()
    }
}

/// The receiving half of a [`channel`]: a [`Stream`] of [`Message`]s that ends
/// when every [`Sender`] is dropped. Hand it to your adapter as the response's
/// stream; dropping it closes the channel.
#[must_use = "streams do nothing unless polled"]
pub struct Receiver {
    inner: async_channel::Receiver<Message>,
    shared: Arc<Shared>,
}

// Only `try_recv` is used, never the channel's own waiting: nothing is pinned.
impl Unpin for Receiver {}

impl Receiver {
    fn try_next(&self) -> Poll<Option<Message>> {
        match self.inner.try_recv() {
            Ok(message) => Poll::Ready(Some(message)),
            Err(async_channel::TryRecvError::Closed) => Poll::Ready(None),
            Err(async_channel::TryRecvError::Empty) => Poll::Pending,
        }
    }
}

impl Stream for Receiver {
    type Item = Message;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        if let ready @ Poll::Ready(_) = self.try_next() {
            return ready;
        }
        // Registered, then tried again: a message sent in between is taken now,
        // one sent after finds the waker.
        self.shared.register(cx.waker());
        self.try_next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.inner.len(), None)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // Closing at once, rather than when the last reference goes, wakes every
        // sender waiting for room: its `send` fails now.
        self.inner.close();
        self.shared.closed.notify(usize::MAX);
    }
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("queued", &self.inner.len())
            .finish()
    }
}

/// The response is gone: the message that could not be sent, handed back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Closed(pub Message);

impl Closed {
    /// The message that was not sent.
    #[must_use]
    pub fn into_inner(self) -> Message {
        self.0
    }
}

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the response is closed")
    }
}

impl std::error::Error for Closed {}

/// Why [`Sender::try_send`] did not send: the message, handed back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrySendError {
    /// The channel is full: the client has not read what was sent yet.
    Full(Message),
    /// The response is gone.
    Closed(Message),
}

impl TrySendError {
    /// The message that was not sent.
    #[must_use]
    pub fn into_inner(self) -> Message {
        match self {
            TrySendError::Full(message) | TrySendError::Closed(message) => message,
        }
    }
}

impl fmt::Display for TrySendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrySendError::Full(_) => "the response's channel is full",
            TrySendError::Closed(_) => "the response is closed",
        })
    }
}

impl std::error::Error for TrySendError {}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::{StreamExt, future};

    #[test]
    fn a_full_channel_hands_the_message_back() {
        let (sender, mut receiver) = channel(1);
        sender.try_send("one").expect("room for one");
        let refused = sender.try_send("two").expect_err("full");
        assert!(matches!(refused, TrySendError::Full(_)));
        assert_eq!(refused.into_inner(), Message::from("two"));
        assert_eq!(future::block_on(receiver.next()), Some("one".into()));
    }

    #[test]
    fn a_zero_capacity_is_one() {
        let (sender, _receiver) = channel(0);
        sender.try_send("fits").expect("room for one");
    }

    #[test]
    fn a_waiting_send_fails_when_the_response_goes() {
        let (sender, receiver) = channel(1);
        sender.try_send("fills it").expect("room");
        let mut send = Box::pin(sender.send("waits"));
        assert!(future::block_on(future::poll_once(&mut send)).is_none());
        drop(receiver);
        let error = future::block_on(send).expect_err("closed");
        assert_eq!(error.into_inner(), Message::from("waits"));
        assert!(sender.is_closed());
        assert!(matches!(
            sender.try_send("late"),
            Err(TrySendError::Closed(_))
        ));
    }

    #[test]
    fn the_stream_ends_when_every_sender_is_gone() {
        let (sender, receiver) = channel(4);
        let other = sender.clone();
        sender.try_send("a").expect("room");
        drop(sender);
        other.try_send("b").expect("room");
        drop(other);
        let all: Vec<Message> = future::block_on(receiver.collect());
        assert_eq!(all, ["a", "b"].map(Message::from));
    }

    #[test]
    fn closed_completes_when_the_response_goes() {
        let (sender, receiver) = channel(1);
        let other = sender.clone();
        let mut waiting = Box::pin(other.closed());
        assert!(future::block_on(future::poll_once(&mut waiting)).is_none());
        // Another sender leaving closes nothing.
        drop(sender);
        assert!(future::block_on(future::poll_once(&mut waiting)).is_none());
        drop(receiver);
        future::block_on(waiting);
        // Once closed, it completes at once.
        future::block_on(other.closed());
    }

    #[test]
    fn closed_wakes_a_waiting_producer_on_another_thread() {
        let (sender, receiver) = channel(1);
        let producer = std::thread::spawn(move || future::block_on(sender.closed()));
        drop(receiver);
        producer.join().expect("the producer saw the close");
    }

    // Producers run on other threads.
    const _: fn() = || {
        fn send_and_sync<T: Send + Sync>() {}
        send_and_sync::<Sender>();
        send_and_sync::<Receiver>();
    };
}
