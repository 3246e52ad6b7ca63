//! A channel from producers to one response, with backpressure.
//!
//! A queue under one lock with waker slots, no runtime's types: a send takes the
//! lock once and wakes the response only if it is waiting (the first message of a
//! batch; the rest find no waker to wake); the response takes every ready message
//! in one lock ([`Receiver::take_ready`]). Nothing allocates once the queue has
//! grown to its capacity: a waiting response or producer leaves a clone of its
//! waker (a reference count), never a boxed listener.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
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
/// loss. A response takes every waiting message at once, and while it encodes
/// them the producer may queue `capacity` more. When the response is gone (the
/// client disconnected, the body was dropped), every send fails at once and hands
/// the message back, so the producer stops instead of computing tokens for nobody.
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
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            capacity: capacity.max(1),
            receiver: None,
            senders_waiting: Vec::new(),
            ended: false,
        }),
        receiver_gone: AtomicBool::new(false),
        senders: AtomicUsize::new(1),
        closed: Event::new(),
    });
    let receiver = Receiver {
        shared: shared.clone(),
        taken: VecDeque::new(),
        to_wake: Vec::new(),
    };
    (Sender { shared }, receiver)
}

/// What the senders and the receiver share.
struct Shared {
    state: Mutex<State>,
    /// Set (under the lock) when the receiver is dropped: every send fails from
    /// then on. Read without the lock by [`Sender::is_closed`].
    receiver_gone: AtomicBool,
    /// The senders alive: the last one dropped ends the stream.
    senders: AtomicUsize,
    /// Notified when the receiver is dropped: producers waiting in
    /// [`Sender::closed`] stop.
    closed: Event,
}

/// Everything behind the lock.
struct State {
    /// The messages sent and not yet taken, oldest first.
    queue: VecDeque<Message>,
    capacity: usize,
    /// The receiver's waker while it waits for a message: the send that finds it
    /// takes it, so the rest of a batch wakes nobody.
    receiver: Option<Waker>,
    /// The wakers of the senders waiting for room, each once; all are woken when
    /// room is made (each then tries again), or when the receiver is dropped.
    senders_waiting: Vec<Waker>,
    /// Every sender is gone: the stream ends once the queue is empty.
    ended: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One attempt at a send; `Err` hands the message back.
    fn try_push(&self, message: Message) -> Result<(), TrySendError> {
        let mut state = self.lock();
        Self::push(&mut state, message, &self.receiver_gone)?;
        Self::wake(state);
        Ok(())
    }

    /// Queues `message` if the receiver is there and there is room, taking the
    /// receiver's waker (woken by [`Shared::wake`] once the lock is released).
    fn push(
        state: &mut State,
        message: Message,
        receiver_gone: &AtomicBool,
    ) -> Result<(), TrySendError> {
        if receiver_gone.load(Ordering::Relaxed) {
            return Err(TrySendError::Closed(message));
        }
        if state.queue.len() >= state.capacity {
            return Err(TrySendError::Full(message));
        }
        state.queue.push_back(message);
        Ok(())
    }

    /// Releases the lock, then wakes the receiver if it was waiting: only the first
    /// message of a batch finds its waker.
    fn wake(mut state: MutexGuard<'_, State>) {
        let waiting = state.receiver.take();
        drop(state);
        if let Some(receiver) = waiting {
            receiver.wake();
        }
    }

    /// A send in one lock, or (when the queue is full) the sender's waker left for
    /// the receiver to wake when it makes room.
    fn poll_send(
        &self,
        cx: &mut Context<'_>,
        slot: &mut Option<Message>,
    ) -> Poll<Result<(), Closed>> {
        let Some(message) = slot.take() else {
            return Poll::Ready(Ok(()));
        };
        let mut state = self.lock();
        match Self::push(&mut state, message, &self.receiver_gone) {
            Ok(()) => {
                Self::wake(state);
                Poll::Ready(Ok(()))
            }
            Err(TrySendError::Closed(message)) => Poll::Ready(Err(Closed(message))),
            Err(TrySendError::Full(message)) => {
                if !state
                    .senders_waiting
                    .iter()
                    .any(|w| w.will_wake(cx.waker()))
                {
                    state.senders_waiting.push(cx.waker().clone());
                }
                *slot = Some(message);
                Poll::Pending
            }
        }
    }
}

/// The sending half of a [`channel`]: clone it for every producer.
pub struct Sender {
    shared: Arc<Shared>,
}

impl Clone for Sender {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last sender: the stream ends once what was sent is read.
            let mut state = self.shared.lock();
            state.ended = true;
            Shared::wake(state);
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
        let mut slot = Some(message.into());
        std::future::poll_fn(|cx| self.shared.poll_send(cx, &mut slot)).await
    }

    /// Sends a message if there is room now.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] with the message when the channel is full,
    /// [`TrySendError::Closed`] when the response is gone.
    pub fn try_send(&self, message: impl Into<Message>) -> Result<(), TrySendError> {
        self.shared.try_push(message.into())
    }

    /// Whether the response is gone (every send would fail).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.shared.receiver_gone.load(Ordering::Acquire)
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
        let shared = self.shared.clone();
        async move {
            loop {
                if shared.receiver_gone.load(Ordering::Acquire) {
                    return;
                }
                // Listening, then checking again: a close in between is seen now,
                // one after notifies the listener.
                let listener = shared.closed.listen();
                if shared.receiver_gone.load(Ordering::Acquire) {
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
            .field("queued", &self.shared.lock().queue.len())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The receiving half of a [`channel`]: a [`Stream`] of [`Message`]s that ends
/// when every [`Sender`] is dropped. Hand it to your adapter as the response's
/// stream; dropping it closes the channel.
#[must_use = "streams do nothing unless polled"]
pub struct Receiver {
    shared: Arc<Shared>,
    /// Messages taken from the queue in one lock and not yet handed out (the
    /// response's fast path); its allocation and the queue's are swapped, so both
    /// keep their capacity.
    taken: VecDeque<Message>,
    /// The senders to wake, moved out of the lock to be woken after it; kept so
    /// its capacity is reused.
    to_wake: Vec<Waker>,
}

/// What a poll of the queue found.
pub(crate) enum Ready {
    /// Messages were taken.
    Taken,
    /// None are waiting (the waker, if one was given, is registered).
    Empty,
    /// Every sender is gone and nothing is left.
    Ended,
}

impl Receiver {
    /// Takes every waiting message in one lock into the receiver's own queue (read
    /// with [`next_taken`](Self::next_taken)), making room for the senders and
    /// waking those that wait for it. When none are waiting, registers `cx`'s
    /// waker, so the next send wakes it.
    pub(crate) fn take_ready(&mut self, cx: &mut Context<'_>) -> Ready {
        self.take(Some(cx.waker()))
    }

    /// As [`take_ready`](Self::take_ready), but registers no waker: for a
    /// response that already has bytes to hand out (and so will be polled again),
    /// so that a send meanwhile does not wake a task that is running.
    pub(crate) fn try_take(&mut self) -> Ready {
        self.take(None)
    }

    fn take(&mut self, waker: Option<&Waker>) -> Ready {
        if !self.taken.is_empty() {
            return Ready::Taken;
        }
        let mut state = self.shared.lock();
        let ready = if !state.queue.is_empty() {
            std::mem::swap(&mut state.queue, &mut self.taken);
            std::mem::swap(&mut state.senders_waiting, &mut self.to_wake);
            Ready::Taken
        } else if state.ended {
            Ready::Ended
        } else {
            if let Some(waker) = waker
                && !state.receiver.as_ref().is_some_and(|w| w.will_wake(waker))
            {
                state.receiver = Some(waker.clone());
            }
            Ready::Empty
        };
        drop(state);
        for sender in self.to_wake.drain(..) {
            sender.wake();
        }
        ready
    }

    /// The oldest message [`take_ready`](Self::take_ready) took, if any is left.
    pub(crate) fn next_taken(&mut self) -> Option<Message> {
        self.taken.pop_front()
    }
}

// Nothing is pinned: the queue is behind an `Arc`.
impl Unpin for Receiver {}

impl Stream for Receiver {
    type Item = Message;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        let this = self.get_mut();
        if let Some(message) = this.taken.pop_front() {
            return Poll::Ready(Some(message));
        }
        // One message at a time, so that at most `capacity` wait in all.
        let mut state = this.shared.lock();
        let poll = match state.queue.pop_front() {
            Some(message) => {
                std::mem::swap(&mut state.senders_waiting, &mut this.to_wake);
                Poll::Ready(Some(message))
            }
            None if state.ended => Poll::Ready(None),
            None => {
                if !state
                    .receiver
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    state.receiver = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        };
        drop(state);
        for sender in this.to_wake.drain(..) {
            sender.wake();
        }
        poll
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.taken.len() + self.shared.lock().queue.len(), None)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // Closing at once wakes every sender waiting for room: its `send` fails now.
        let mut state = self.shared.lock();
        self.shared.receiver_gone.store(true, Ordering::Release);
        let unread = std::mem::take(&mut state.queue);
        std::mem::swap(&mut state.senders_waiting, &mut self.to_wake);
        state.receiver = None;
        drop(state);
        drop(unread);
        for sender in self.to_wake.drain(..) {
            sender.wake();
        }
        self.shared.closed.notify(usize::MAX);
    }
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("queued", &self.size_hint().0)
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
    use std::future::Future;

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

    /// A waker that counts its wakes.
    #[derive(Default)]
    struct Counter(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn counting_waker() -> (Arc<Counter>, Waker) {
        let counter = Arc::new(Counter::default());
        (counter.clone(), Waker::from(counter))
    }

    #[test]
    fn a_batch_wakes_the_waiting_response_once() {
        let (sender, mut receiver) = channel(8);
        let (wakes, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(matches!(receiver.take_ready(&mut cx), Ready::Empty));
        for token in ["a", "b", "c"] {
            sender.try_send(token).expect("room");
        }
        assert_eq!(wakes.0.load(Ordering::Relaxed), 1, "one wake for the batch");
        assert!(matches!(receiver.take_ready(&mut cx), Ready::Taken));
        let taken: Vec<Message> = std::iter::from_fn(|| receiver.next_taken()).collect();
        assert_eq!(taken, ["a", "b", "c"].map(Message::from));
        // Taken, then tried without a waker (the response has bytes to hand out):
        // the next send wakes nobody until it waits again.
        assert!(matches!(receiver.try_take(), Ready::Empty));
        sender.try_send("d").expect("room");
        assert_eq!(wakes.0.load(Ordering::Relaxed), 1);
        drop(sender);
        assert!(matches!(receiver.take_ready(&mut cx), Ready::Taken));
        assert_eq!(receiver.next_taken(), Some("d".into()));
        assert!(matches!(receiver.take_ready(&mut cx), Ready::Ended));
    }

    #[test]
    fn taking_the_batch_wakes_the_senders_waiting_for_room() {
        let (sender, mut receiver) = channel(2);
        let other = sender.clone();
        sender.try_send("a").expect("room");
        sender.try_send("b").expect("room");
        let (wakes, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut first = Box::pin(sender.send("c"));
        let mut second = Box::pin(other.send("d"));
        assert!(first.as_mut().poll(&mut cx).is_pending());
        assert!(second.as_mut().poll(&mut cx).is_pending());
        // Polled again while waiting: its waker is kept once.
        assert!(first.as_mut().poll(&mut cx).is_pending());
        assert!(matches!(receiver.take_ready(&mut cx), Ready::Taken));
        assert_eq!(
            wakes.0.load(Ordering::Relaxed),
            1,
            "the waker was left once"
        );
        assert_eq!(first.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
        assert_eq!(second.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
        let all: Vec<Message> = future::block_on(receiver.take(4).collect());
        assert_eq!(all, ["a", "b", "c", "d"].map(Message::from));
    }

    #[test]
    fn read_one_at_a_time_at_most_capacity_wait() {
        let (sender, mut receiver) = channel(2);
        sender.try_send("a").expect("room");
        sender.try_send("b").expect("room");
        assert!(matches!(sender.try_send("c"), Err(TrySendError::Full(_))));
        assert_eq!(future::block_on(receiver.next()), Some("a".into()));
        sender.try_send("c").expect("room for one");
        assert!(matches!(sender.try_send("d"), Err(TrySendError::Full(_))));
    }

    #[test]
    fn every_message_arrives_in_order_across_threads() {
        const MESSAGES: usize = 20_000;
        let (sender, mut receiver) = channel(16);
        let producers: Vec<_> = (0..2)
            .map(|producer| {
                let sender = sender.clone();
                std::thread::spawn(move || {
                    future::block_on(async {
                        for n in 0..MESSAGES {
                            let text = format!("{producer} {n}");
                            sender.send(text).await.expect("the receiver is there");
                        }
                    });
                })
            })
            .collect();
        drop(sender);
        let mut next = [0; 2];
        future::block_on(async {
            let mut received = 0;
            loop {
                let ready = std::future::poll_fn(|cx| match receiver.take_ready(cx) {
                    Ready::Empty => Poll::Pending,
                    Ready::Taken => Poll::Ready(true),
                    Ready::Ended => Poll::Ready(false),
                })
                .await;
                if !ready {
                    break;
                }
                while let Some(message) = receiver.next_taken() {
                    let frame = message.to_frame();
                    let text = std::str::from_utf8(frame.as_bytes()).expect("UTF-8");
                    let (producer, n) = text
                        .trim_start_matches("data: ")
                        .trim_end()
                        .split_once(' ')
                        .expect("two numbers");
                    let producer: usize = producer.parse().expect("a number");
                    assert_eq!(n.parse::<usize>(), Ok(next[producer]), "in order");
                    next[producer] += 1;
                    received += 1;
                }
            }
            assert_eq!(received, 2 * MESSAGES);
        });
        for producer in producers {
            producer.join().expect("the producer finished");
        }
        assert_eq!(next, [MESSAGES; 2]);
    }

    // Producers run on other threads.
    const _: fn() = || {
        fn send_and_sync<T: Send + Sync>() {}
        send_and_sync::<Sender>();
        send_and_sync::<Receiver>();
    };
}
