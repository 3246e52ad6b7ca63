//! Resumable streams: a reply that outlives its connection.
//!
//! A per-request stream's producer is cancelled with its response: when a phone
//! changes network, a proxy closes an idle connection or a tab reloads, the reply
//! is lost. A resumable stream is started under a key the application chooses (a
//! run or conversation id) and is detached from any connection:
//!
//! | you call | what happens |
//! |---|---|
//! | [`Resumable::start`] | a live stream under the key, and its [`Producer`] (`send`, `try_send`, `closed`) |
//! | [`Resumable::attach`] | a [`ResponseStream`] for one viewer: what it missed after its `Last-Event-ID`, then live, then the end; `None` (answer 204) for an unknown, expired or cancelled key |
//! | [`Resumable::cancel`] | the Stop button: the producer's sends fail, every viewer gets the end |
//! | [`Resumable::expire`] | drops streams whose linger is over, abandons unwatched ones; call it from a timer |
//! | [`Resumable::run`] | calls `expire` whenever it is due, on your runtime's timer: spawn it once |
//!
//! A viewer leaving never cancels the producer. Several viewers at once (a second
//! tab, a second device) each get the whole stream. After it ends, a stream
//! lingers for [`ResumeConfig::linger`] so a late resumer gets the rest and the
//! end. Each stream keeps its messages in the hub's log (the same chunks, the
//! same cost per message): a viewer takes every message ready past its cursor
//! at once, as one write.
//!
//! # Wire format
//!
//! Shared with `sse-redis`'s resumable streams and what clients rely on:
//!
//! - **Ids are positions.** Every message takes the next position in its stream,
//!   counting from 1 (comments and retry hints too, though they carry no id). An
//!   event is sent with `id: <position>` in decimal, *replacing* any id of its
//!   own; a checkpoint ([`Message::checkpoint`](crate::Message::checkpoint))
//!   becomes `id: <position>`; comments and `retry:` hints pass through without
//!   an id. So a `Last-Event-ID` of `n` resumes exactly after the message at
//!   position `n`: no gap, no duplicate.
//! - **The end** is a last event, `event: end` ([`END_EVENT`]), whose data says
//!   why ([`EndReason`]: `done`, `cancelled` or `abandoned`), with the next
//!   position as its id; then the response ends. A viewer that reconnects with
//!   that id gets `None` (204), so an `EventSource` stops.
//! - **A key names one reply.** It cannot be started again while its stream is
//!   live or lingers; once dropped, a new stream under it numbers from 1 again,
//!   so use a fresh key (a run id) per reply.
//! - **A gap** is announced, never silent: a viewer whose `Last-Event-ID` names
//!   messages no longer held (past [`ResumeConfig::max_bytes`], or the budget),
//!   or that is not one of the stream's ids, and a viewer too slow for what is
//!   held, gets `event: resync` ([`RESYNC_EVENT`]) with empty data and no id,
//!   then everything still held.
//!
//! ```text
//! event: token          ← a message's own id is replaced by its position
//! data: Hello
//! id: 1
//!
//! data: , world
//! id: 2
//!
//! event: end
//! data: done
//! id: 3
//! ```
//!
//! # Bounds
//!
//! Each stream holds at most [`ResumeConfig::max_bytes`], all together at most
//! [`ResumeConfig::budget`] (ended streams go first, then the oldest messages of
//! the largest), at most [`ResumeConfig::max_streams`] are live, and a stream no
//! one watches can be abandoned after [`ResumeConfig::abandon_after`]. Keys are
//! short and URL-safe ([`is_valid_key`]).
//!
//! # Time
//!
//! The registry has no timer: spawn [`Resumable::run`] with your runtime's
//! `sleep`, or call [`Resumable::expire`] when it says. [`start`](Resumable::start)
//! and [`attach`](Resumable::attach) also expire what is due, so an expired key
//! is never served.

mod config;
mod error;
mod key;
mod metrics;
mod producer;
mod registry;
mod stream;
mod viewer;
mod wire;

pub use config::ResumeConfig;
pub use error::StartError;
pub use key::{MAX_KEY_LEN, is_valid_key};
pub use metrics::ResumeMetrics;
pub use producer::Producer;
pub use wire::{END_EVENT, EndReason, RESYNC_EVENT, UnknownEndReason};

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::ResponseStream;
use metrics::Counters;
use registry::Registry;
use stream::{Placement, Stream, WakeList};
use viewer::Viewer;
use wire::parse_position;

/// The longest [`Resumable::run`] goes without expiring: what a stream that ended
/// or lost its last viewer waits at most past its deadline.
const EXPIRE_EVERY: Duration = Duration::from_secs(1);

/// A registry of resumable streams. Cheap to clone (an [`Arc`] inside),
/// `Send + Sync`, and usable from any runtime: it does no IO and has no timer.
///
/// Dropping the last clone cancels every live stream (their producers' sends
/// fail; their viewers get the end, `cancelled`).
///
/// # Examples
///
/// ```
/// use futures_lite::{StreamExt, future};
/// use sse_core::{Event, Resumable, ResumeConfig};
///
/// let streams = Resumable::new(ResumeConfig::default().keep_alive(None));
/// let producer = streams.start("chat-42")?;
/// let mut first_tab = streams.attach("chat-42", None).expect("live");
///
/// future::block_on(async {
///     producer.send(Event::new("Hello").with_event("token")?).await?;
///     let got = first_tab.next().await.unwrap();
///     assert_eq!(got, "event: token\ndata: Hello\nid: 1\n\n");
///
///     // The tab reloads; the producer goes on.
///     drop(first_tab);
///     producer.send(", world").await?;
///     producer.finish();
///
///     let reloaded = streams.attach("chat-42", Some("1")).expect("lingering");
///     let rest: Vec<_> = reloaded.collect().await;
///     let rest = String::from_utf8(rest.concat())?;
///     assert_eq!(rest, "data: , world\nid: 2\n\nevent: end\ndata: done\nid: 3\n\n");
///     Ok::<_, Box<dyn std::error::Error>>(())
/// })?;
///
/// // It has been read to its end: nothing more (the adapter answers 204).
/// assert!(streams.attach("chat-42", Some("3")).is_none());
/// assert!(streams.attach("unknown", None).is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Resumable {
    shared: Arc<Shared>,
}

struct Shared {
    config: ResumeConfig,
    registry: Mutex<Registry>,
    counters: Arc<Counters>,
}

impl Resumable {
    /// A registry with these settings.
    #[must_use]
    pub fn new(config: ResumeConfig) -> Self {
        let counters = Counters::default();
        counters
            .threshold
            .store(config.budget, std::sync::atomic::Ordering::Relaxed);
        Resumable {
            shared: Arc::new(Shared {
                config,
                registry: Mutex::new(Registry::default()),
                counters: Arc::new(counters),
            }),
        }
    }

    /// Its settings.
    #[must_use]
    pub fn config(&self) -> &ResumeConfig {
        &self.shared.config
    }

    /// Starts a live stream under `key`: its [`Producer`] sends, viewers
    /// [`attach`](Self::attach).
    ///
    /// # Errors
    ///
    /// [`StartError::InvalidKey`] (see [`is_valid_key`]), [`StartError::Exists`]
    /// when a live or lingering stream has the key, [`StartError::AtCapacity`]
    /// when [`ResumeConfig::max_streams`] are live.
    pub fn start(&self, key: &str) -> Result<Producer, StartError> {
        if !is_valid_key(key) {
            return Err(StartError::InvalidKey);
        }
        let shared = &self.shared;
        let stream = shared
            .lock()
            .start(key, Instant::now(), &shared.config, &shared.counters)?;
        Ok(Producer {
            stream,
            shared: Arc::downgrade(shared),
            counters: shared.counters.clone(),
        })
    }

    /// A response for one viewer of the stream under `key`: what it missed after
    /// `last_event_id` (everything held when `None`), then live messages, then the
    /// end event, after which it ends.
    ///
    /// A `last_event_id` that is not one of the stream's ids, or names messages no
    /// longer held, gets the [`RESYNC_EVENT`] first, then everything held.
    ///
    /// `None` (answer 204 No Content, so an `EventSource` stops reconnecting)
    /// when no stream has the key (never started, or its linger is over), when it
    /// was cancelled or abandoned, and when it ended and `last_event_id` is its
    /// end event's id (the viewer read it to its end).
    pub fn attach(&self, key: &str, last_event_id: Option<&str>) -> Option<ResponseStream> {
        if !is_valid_key(key) {
            return None;
        }
        let shared = &self.shared;
        let config = &shared.config;
        let mut registry = shared.lock();
        registry.expire(Instant::now(), config, &shared.counters);
        let stream = registry.get(key)?.clone();
        if stream
            .end_reason()
            .is_some_and(|reason| reason != EndReason::Done)
        {
            return None;
        }
        let Placement::At {
            slot,
            index,
            resync,
            resumed,
        } = stream.attach(last_event_id.map(parse_position))
        else {
            return None;
        };
        registry.watched(&stream);
        drop(registry);
        Counters::add(&shared.counters.attached, 1);
        Counters::add(&shared.counters.resumed, u64::from(resumed));
        let viewer = Viewer::new(
            stream,
            Arc::downgrade(shared),
            shared.counters.clone(),
            slot,
            index,
            resync,
        );
        let response = ResponseStream::new(viewer).keep_alive(config.keep_alive);
        Some(match config.retry {
            Some(retry) => response.retry(retry),
            None => response,
        })
    }

    /// Cancels the live stream under `key` (the Stop button): its producer's
    /// sends fail and its [`closed`](Producer::closed) completes; every viewer
    /// gets what was sent, then the end event (`cancelled`). Later attaches get
    /// `None`. Returns whether a live stream was cancelled.
    pub fn cancel(&self, key: &str) -> bool {
        if !is_valid_key(key) {
            return false;
        }
        let shared = &self.shared;
        shared.lock().cancel(
            key,
            EndReason::Cancelled,
            Instant::now(),
            &shared.config,
            &shared.counters,
        )
    }

    /// Drops the streams whose [`linger`](ResumeConfig::linger) is over at `now`,
    /// and abandons the live ones no viewer watched for
    /// [`abandon_after`](ResumeConfig::abandon_after). Returns when it next has
    /// something to do (`None`: nothing, until a stream ends or loses its last
    /// viewer).
    ///
    /// Call it from your runtime's timer, at the instant it returns (or every few
    /// seconds): each call costs only what is due.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use sse_core::{Resumable, ResumeConfig};
    ///
    /// let streams = Resumable::new(ResumeConfig::default().linger(Duration::from_secs(60)));
    /// streams.start("run-3")?.finish();
    /// let next = streams.expire(Instant::now()).expect("it lingers");
    /// assert!(streams.expire(next).is_none());
    /// assert!(streams.attach("run-3", None).is_none());
    /// # Ok::<(), sse_core::StartError>(())
    /// ```
    pub fn expire(&self, now: Instant) -> Option<Instant> {
        let shared = &self.shared;
        shared.lock().expire(now, &shared.config, &shared.counters)
    }

    /// Expires what is due (see [`expire`](Self::expire)) whenever it is due,
    /// until the future is dropped: spawn it once, with your runtime's timer,
    /// `streams.run(tokio::time::sleep)` on tokio, `streams.run(async_io::Timer::after)`
    /// on smol (as `sse-redis`'s `RedisResumable::run`). It sleeps until the next
    /// deadline `expire` names, and a second at most: a stream that ends or loses
    /// its last viewer sets a deadline without waking it.
    pub async fn run<F: Future>(&self, mut sleep: impl FnMut(Duration) -> F) {
        loop {
            let now = Instant::now();
            let wait = self.expire(now).map_or(EXPIRE_EVERY, |next| {
                next.saturating_duration_since(now).min(EXPIRE_EVERY)
            });
            sleep(wait).await;
        }
    }

    /// Its figures now.
    #[must_use]
    pub fn metrics(&self) -> ResumeMetrics {
        self.shared.counters.snapshot()
    }
}

impl Default for Resumable {
    fn default() -> Self {
        Resumable::new(ResumeConfig::default())
    }
}

impl fmt::Debug for Resumable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resumable")
            .field("config", &self.shared.config)
            .field("metrics", &self.metrics())
            .finish()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that `stream` ended for `reason`.
    fn ended(&self, stream: &Arc<Stream>, reason: EndReason, now: Instant) {
        self.lock()
            .ended(stream, reason, now, &self.config, &self.counters);
    }

    /// Forgets a viewer; the stream's abandon clock starts if it was the last.
    fn detach(&self, stream: &Arc<Stream>, slot: usize, now: Instant) {
        if self.config.abandon_after.is_none() {
            stream.detach(slot);
            return;
        }
        let mut registry = self.lock();
        if stream.detach(slot) == 0 {
            registry.unwatched(stream, now, &self.config);
        }
    }

    /// Brings the bytes held back under the budget.
    fn enforce_budget(&self) {
        self.lock().enforce_budget(&self.config, &self.counters);
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let registry = self
            .registry
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for stream in registry.streams() {
            let mut wakers = WakeList::default();
            let mut more = stream
                .end(EndReason::Cancelled, &mut wakers)
                .unwrap_or(false);
            wakers.wake_all();
            while more {
                more = stream.take_more_wakers(&mut wakers);
                wakers.wake_all();
            }
        }
    }
}

// Adapters and producers use it from any thread.
const _: fn() = || {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<Resumable>();
};
