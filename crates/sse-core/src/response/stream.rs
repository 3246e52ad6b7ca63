//! The response stream: a user's stream of messages, as the bytes of one response.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;

use super::channel::Ready;
use super::{Message, Receiver};
use crate::event::Comment;
use crate::observe::Observed;

/// An error a fallible stream ends with, as the response's error hook gets it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where the messages come from.
enum Source {
    /// A [`channel`](super::channel)'s receiver: every ready message taken in one
    /// lock.
    Channel(Receiver),
    /// Any other stream, boxed.
    Stream(Pin<Box<dyn Stream<Item = Result<Message, BoxError>> + Send>>),
}
type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;
type OnError = Box<dyn FnOnce(BoxError) -> Option<Message> + Send>;

/// The keep-alive comment, as the hub sends it too.
const KEEP_ALIVE: &str = "keep-alive";

/// The least room the buffer is grown by, so small messages share allocations.
const MIN_BUFFER: usize = 4 * 1024;

/// A per-request SSE response: your stream of [`Message`]s (an LLM's tokens, a job's
/// progress, an MCP call's results) as the bytes of one response body, framework-
/// neutral and without a runtime. Every adapter takes one (or any stream it can
/// be made from, through [`IntoResponseStream`]).
///
/// It is a [`Stream`] of [`Bytes`], each holding every frame that was ready:
///
/// - when polled, it takes every message your stream has ready (up to
///   [`max_batch`](Self::max_batch) bytes) and encodes them into one buffer, so
///   the writer sends them with one write; as soon as nothing is ready it returns
///   `Pending`, which is when adapters flush: a ready message never waits for the
///   next one;
/// - messages are encoded into a buffer it reuses: no allocation per message or
///   per chunk once the writer keeps up (the buffer is reclaimed when the bytes
///   handed out are written);
/// - when your stream has been idle for the [`keep_alive`](Self::keep_alive)
///   interval (15 s by default), it sends a keep-alive comment; the adapter
///   supplies the runtime's timer ([`timer`](Self::timer)), and without one none
///   is sent;
/// - it can open with a `retry:` hint and a comment, so the client's `onopen` fires
///   at once even through proxies that hold the head until the first bytes;
/// - it ends when your stream ends; a fallible stream ([`try_new`](Self::try_new))
///   that fails ends the response cleanly after what was sent, the error handed to
///   [`on_error`](Self::on_error). It never panics on what it is given.
///
/// Your stream is dropped as soon as it ends or the response is dropped (the client
/// went away), so whatever produces it stops.
///
/// # Examples
///
/// ```
/// use futures_lite::{StreamExt, future, stream};
/// use sse_core::{Comment, ResponseStream};
///
/// let tokens = stream::iter(["Hello", ",", " world"]);
/// let mut response = ResponseStream::new(tokens).open(Comment::new("ok"));
/// let body = future::block_on(response.next()).unwrap();
/// assert_eq!(body, ": ok\n\ndata: Hello\n\ndata: ,\n\ndata:  world\n\n");
/// assert_eq!(future::block_on(response.next()), None);
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct ResponseStream {
    /// What is not `Sync`, kept so that the stream is (warp needs it): only ever
    /// reached through `&mut self`, so the mutex is never contended.
    parts: Mutex<Parts>,
    buf: BytesMut,
    /// The opening frames, not yet sent.
    retry: Option<Duration>,
    opening: Option<Comment<'static>>,
    keep_alive: Option<Duration>,
    max_batch: usize,
    /// A message that would have taken the chunk past `max_batch`: the next
    /// chunk's first (boxed: rare, and the stream stays small).
    held: Option<Box<Message>>,
    /// When bytes were last handed out (or the stream was first polled).
    last_sent: Option<Instant>,
    observed: Observed,
}

struct Parts {
    /// `None` once it ended or failed: dropped at once.
    source: Option<Source>,
    on_error: Option<OnError>,
    timer: Option<Timer>,
}

struct Timer {
    sleep: Box<dyn FnMut(Duration) -> Sleep + Send>,
    armed: Option<Sleep>,
}

impl ResponseStream {
    /// A response streaming `stream`, whose items are [`Event<'static>`]s,
    /// [`Comment<'static>`]s, [`Frame`](crate::Frame)s, text, or [`Message`]s.
    ///
    /// [`Event<'static>`]: crate::Event
    /// [`Comment<'static>`]: crate::Comment
    pub fn new<S>(stream: S) -> Self
    where
        S: Stream + Send + 'static,
        S::Item: Into<Message>,
    {
        // A channel's receiver, however it was given (`ResponseStream::new`, an
        // adapter's `from_stream`), takes the fast path.
        let mut slot = Some(stream);
        let receiver = (&mut slot as &mut dyn Any)
            .downcast_mut::<Option<Receiver>>()
            .and_then(Option::take);
        ResponseStream::from_source(match (receiver, slot) {
            (Some(receiver), _) => Some(Source::Channel(receiver)),
            (None, Some(stream)) => Some(Source::Stream(Box::pin(Infallible { stream }))),
            // Not reached: the slot is only emptied when the receiver was taken.
            (None, None) => None,
        })
    }

    /// A response streaming a fallible `stream`: an error ends the response after
    /// every message before it (see [`on_error`](Self::on_error)).
    ///
    /// ```
    /// use futures_lite::{StreamExt, future, stream};
    /// use sse_core::{Event, Message, ResponseStream};
    ///
    /// let steps = stream::iter([Ok("step 1"), Err("disk full"), Ok("never sent")]);
    /// let mut response = ResponseStream::try_new(steps).on_error(|error| {
    ///     // Log it; tell the client what you choose to.
    ///     Some(Event::new(error.to_string()).with_event("error").ok()?.into())
    /// });
    /// let body = future::block_on(response.next()).unwrap();
    /// assert_eq!(body, "data: step 1\n\nevent: error\ndata: disk full\n\n");
    /// assert_eq!(future::block_on(response.next()), None);
    /// ```
    pub fn try_new<S, T, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<T, E>> + Send + 'static,
        T: Into<Message>,
        E: Into<BoxError>,
    {
        ResponseStream::from_source(Some(Source::Stream(Box::pin(Fallible { stream }))))
    }

    fn from_source(source: Option<Source>) -> Self {
        ResponseStream {
            parts: Mutex::new(Parts {
                source,
                on_error: None,
                timer: None,
            }),
            buf: BytesMut::new(),
            retry: None,
            opening: None,
            keep_alive: Some(Duration::from_secs(15)),
            max_batch: 64 * 1024,
            held: None,
            last_sent: None,
            observed: Observed::new(),
        }
    }

    /// Sends a keep-alive comment when the stream has been idle this long (default
    /// 15 s; `None` for none), so proxies keep the connection open. Needs a
    /// [`timer`](Self::timer), which adapters supply.
    pub fn keep_alive(mut self, interval: impl Into<Option<Duration>>) -> Self {
        self.keep_alive = interval.into().filter(|interval| !interval.is_zero());
        self
    }

    /// Opens the response with a `retry:` hint: how long the client waits before
    /// reconnecting.
    pub fn retry(mut self, retry: Duration) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Opens the response with a comment (after the retry hint), so the client
    /// sees the stream open before the first message is ready.
    pub fn open(mut self, comment: Comment<'static>) -> Self {
        self.opening = Some(comment);
        self
    }

    /// What to do when a [`try_new`](Self::try_new) stream fails: `on_error` gets
    /// the error (log it) and may return a last message for the client. Without it,
    /// the response just ends.
    pub fn on_error(
        mut self,
        on_error: impl FnOnce(BoxError) -> Option<Message> + Send + 'static,
    ) -> Self {
        self.parts_mut().on_error = Some(Box::new(on_error));
        self
    }

    /// The most bytes taken into one chunk (default 64 KiB): a message that would
    /// take a chunk past it starts the next one, and a message larger than that
    /// is one chunk of its own. Messages ready beyond it wait for the next poll, so
    /// one busy response cannot hold a writer forever.
    pub fn max_batch(mut self, bytes: usize) -> Self {
        self.max_batch = bytes.max(1);
        self
    }

    /// The runtime's timer, for keep-alive: `sleep(duration)` resolves after
    /// `duration`. Adapters call it (`tokio::time::sleep`, `async_io::Timer::after`).
    pub fn timer<F>(mut self, mut sleep: impl FnMut(Duration) -> F + Send + 'static) -> Self
    where
        F: Future + Send + 'static,
    {
        let sleep = Box::new(move |duration| -> Sleep {
            let sleep = sleep(duration);
            Box::pin(async move {
                sleep.await;
            })
        });
        self.parts_mut().timer = Some(Timer { sleep, armed: None });
        self
    }

    fn parts_mut(&mut self) -> &mut Parts {
        self.parts.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    /// Encodes `message` after what is buffered.
    fn push(buf: &mut BytesMut, message: &Message) {
        Self::reserve(buf, message.encoded_len());
        message.encode(buf);
    }

    /// Room for `len` more bytes.
    fn reserve(buf: &mut BytesMut, len: usize) {
        if buf.capacity() - buf.len() < len {
            // Reclaims the buffer's own room once the bytes handed out are gone.
            buf.reserve(len.max(MIN_BUFFER));
        }
    }

    /// Encodes `message` after what is buffered if the chunk stays within
    /// `max_batch` (or holds nothing yet); else holds it for the next chunk and
    /// returns `false`.
    fn push_within(
        buf: &mut BytesMut,
        max_batch: usize,
        held: &mut Option<Box<Message>>,
        message: Message,
    ) -> bool {
        let len = message.encoded_len();
        if !buf.is_empty() && buf.len() + len > max_batch {
            *held = Some(Box::new(message));
            return false;
        }
        Self::reserve(buf, len);
        message.encode(buf);
        true
    }

    /// The opening frames, on the first poll.
    fn open_once(&mut self) {
        if self.last_sent.is_some() {
            return;
        }
        self.last_sent = Some(Instant::now());
        if let Some(retry) = self.retry.take() {
            Self::push(&mut self.buf, &Message::retry(retry));
            self.observed.frame();
        }
        if let Some(comment) = self.opening.take() {
            Self::push(&mut self.buf, &comment.into());
            self.observed.frame();
        }
    }

    /// Takes what the source has ready into the buffer; `Ready` when the source is
    /// done (ended or failed).
    fn take_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let max_batch = self.max_batch;
        let buf = &mut self.buf;
        let held = &mut self.held;
        let observed = &mut self.observed;
        if let Some(message) = held.take() {
            Self::push(buf, &message);
            observed.message();
        }
        let parts = self.parts.get_mut().unwrap_or_else(PoisonError::into_inner);
        match parts.source.as_mut() {
            None => Poll::Ready(()),
            Some(Source::Channel(receiver)) => loop {
                while buf.len() < max_batch {
                    let Some(message) = receiver.next_taken() else {
                        break;
                    };
                    if !Self::push_within(buf, max_batch, held, message) {
                        return Poll::Pending;
                    }
                    observed.message();
                }
                if buf.len() >= max_batch {
                    return Poll::Pending;
                }
                // With bytes to hand out, the response is polled again: its waker
                // is only left when it has nothing.
                let ready = if buf.is_empty() {
                    receiver.take_ready(cx)
                } else {
                    receiver.try_take()
                };
                match ready {
                    Ready::Taken => {}
                    Ready::Empty => return Poll::Pending,
                    Ready::Ended => {
                        parts.source = None;
                        return Poll::Ready(());
                    }
                }
            },
            Some(Source::Stream(_)) => {
                while buf.len() < max_batch {
                    let Some(Source::Stream(source)) = parts.source.as_mut() else {
                        return Poll::Ready(());
                    };
                    match source.as_mut().poll_next(cx) {
                        Poll::Ready(Some(Ok(message))) => {
                            if !Self::push_within(buf, max_batch, held, message) {
                                return Poll::Pending;
                            }
                            observed.message();
                        }
                        Poll::Ready(Some(Err(error))) => {
                            parts.source = None;
                            let last = parts.on_error.take().and_then(|on_error| on_error(error));
                            if let Some(message) = last {
                                Self::push(buf, &message);
                                observed.message();
                            }
                        }
                        Poll::Ready(None) => parts.source = None,
                        Poll::Pending => return Poll::Pending,
                    }
                }
                Poll::Pending
            }
        }
    }

    /// Waits out the keep-alive interval; `Ready` when the stream has been idle for
    /// it (a keep-alive is due).
    fn poll_keep_alive(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let (Some(interval), Some(last_sent)) = (self.keep_alive, self.last_sent) else {
            return Poll::Pending;
        };
        let parts = self.parts.get_mut().unwrap_or_else(PoisonError::into_inner);
        let Some(timer) = parts.timer.as_mut() else {
            return Poll::Pending;
        };
        loop {
            let idle = last_sent.elapsed();
            let Some(left) = interval.checked_sub(idle).filter(|left| !left.is_zero()) else {
                timer.armed = None;
                return Poll::Ready(());
            };
            let sleep = timer.armed.get_or_insert_with(|| (timer.sleep)(left));
            std::task::ready!(sleep.as_mut().poll(cx));
            // Woken: frames may have gone out meanwhile, so measure again.
            timer.armed = None;
        }
    }

    fn hand_out(&mut self) -> Bytes {
        self.observed.written();
        if self.keep_alive.is_some() {
            self.last_sent = Some(Instant::now());
        }
        self.buf.split().freeze()
    }
}

impl Stream for ResponseStream {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = self.get_mut();
        if this.buf.is_empty() && this.buf.capacity() < MIN_BUFFER {
            // A new chunk: start again at the front of the buffer if the chunks
            // handed out are written by now, rather than run out of room in the
            // middle of the next batches and allocate while the writer holds them.
            let _ = this.buf.try_reclaim(MIN_BUFFER);
        }
        this.open_once();
        let done = this.take_ready(cx).is_ready();
        if !this.buf.is_empty() {
            return Poll::Ready(Some(this.hand_out()));
        }
        if done {
            // Nothing more: drop the timer with the source.
            this.parts_mut().timer = None;
            return Poll::Ready(None);
        }
        std::task::ready!(this.poll_keep_alive(cx));
        Self::push(&mut this.buf, &Comment::new(KEEP_ALIVE).into());
        this.observed.frame();
        Poll::Ready(Some(this.hand_out()))
    }
}

impl fmt::Debug for ResponseStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseStream")
            .field("buffered", &self.buf.len())
            .field("keep_alive", &self.keep_alive)
            .field("max_batch", &self.max_batch)
            .finish_non_exhaustive()
    }
}

/// What an adapter can stream as one response: a [`ResponseStream`] you configured,
/// a [`Receiver`] of a [`channel`](super::channel), or any stream of items that
/// convert into [`Message`]s.
pub trait IntoResponseStream {
    /// The response stream.
    fn into_response_stream(self) -> ResponseStream;
}

impl IntoResponseStream for ResponseStream {
    fn into_response_stream(self) -> ResponseStream {
        self
    }
}

impl<S> IntoResponseStream for S
where
    S: Stream + Send + 'static,
    S::Item: Into<Message>,
{
    fn into_response_stream(self) -> ResponseStream {
        ResponseStream::new(self)
    }
}

impl<M: Into<Message>> FromIterator<M> for ResponseStream {
    /// A response of messages all known at once (a `Vec`, an array, any
    /// iterator): every one is sent, then the response ends.
    ///
    /// ```
    /// use futures_lite::{StreamExt, future};
    /// use sse_core::{Event, ResponseStream};
    ///
    /// let steps = vec![Event::new("step 1"), Event::new("step 2")];
    /// let mut response: ResponseStream = steps.into_iter().collect();
    /// let body = future::block_on(response.next()).unwrap();
    /// assert_eq!(body, "data: step 1\n\ndata: step 2\n\n");
    /// assert_eq!(future::block_on(response.next()), None);
    /// ```
    fn from_iter<I: IntoIterator<Item = M>>(messages: I) -> Self {
        let messages: Vec<Message> = messages.into_iter().map(Into::into).collect();
        let source = Source::Stream(Box::pin(Listed(messages.into_iter())));
        ResponseStream::from_source(Some(source))
    }
}

/// Messages all known at once.
struct Listed(std::vec::IntoIter<Message>);

impl Stream for Listed {
    type Item = Result<Message, BoxError>;

    fn poll_next(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.get_mut().0.next().map(Ok))
    }
}

impl From<Receiver> for ResponseStream {
    fn from(receiver: Receiver) -> Self {
        ResponseStream::new(receiver)
    }
}

pin_project_lite::pin_project! {
    /// A stream of items that cannot fail.
    struct Infallible<S> {
        #[pin]
        stream: S,
    }
}

impl<S> Stream for Infallible<S>
where
    S: Stream,
    S::Item: Into<Message>,
{
    type Item = Result<Message, BoxError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = std::task::ready!(self.project().stream.poll_next(cx));
        Poll::Ready(item.map(|item| Ok(item.into())))
    }
}

pin_project_lite::pin_project! {
    /// A stream of results.
    struct Fallible<S> {
        #[pin]
        stream: S,
    }
}

impl<S, T, E> Stream for Fallible<S>
where
    S: Stream<Item = Result<T, E>>,
    T: Into<Message>,
    E: Into<BoxError>,
{
    type Item = Result<Message, BoxError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = std::task::ready!(self.project().stream.poll_next(cx));
        Poll::Ready(item.map(|item| item.map(Into::into).map_err(Into::into)))
    }
}

// Adapters hand responses to frameworks that need them `Send + Sync` (warp does).
const _: fn() = || {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<ResponseStream>();
};
