//! The registry: starting, attaching to and cancelling streams, and what this
//! process's producers and viewers share.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use redis::aio::MultiplexedConnection;
use sse_core::EndReason;
use sse_core::{ResponseStream, is_valid_key};

use super::errors::{AttachError, StartError};
use super::key::Keys;
use super::metrics::{Counters, RedisResumeMetrics};
use super::options::ResumeOptions;
use super::producer::RedisProducer;
use super::scripts::{Commands, END, Outcome, START};
use super::viewer;
use super::writer::State;
use crate::entry::StreamId;
use crate::observe::Error;

/// Resumable streams on Redis: a stream started on one process is attached to,
/// resumed and cancelled from any process of the application.
///
/// The same methods as `sse_core::Resumable`, async where Redis makes them so,
/// but `expire`: Redis expires streams itself (the linger, and a live stream's
/// TTL). Bounds that are per process here: `max_streams` (live producers) and
/// `max_viewers`. Cheap to clone. Spawn [`run`](Self::run) once per process: it hears cancels
/// from other processes, keeps this process's live streams alive, abandons the
/// ones nobody follows, and finishes dropped producers.
///
/// # Examples
///
/// ```no_run
/// use sse_redis::{RedisResumable, ResumeOptions};
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let streams = RedisResumable::open(ResumeOptions::new("redis://127.0.0.1:6379/"))?;
/// tokio::spawn({
///     let streams = streams.clone();
///     async move { streams.run(tokio::time::sleep).await }
/// });
///
/// // POST /chat: start the reply under a key of the application's choosing.
/// let mut producer = streams.start("run-42").await?; // 503 when Redis is down
/// tokio::spawn(async move {
///     for token in ["Hel", "lo"] {
///         if producer.send(token).await.is_err() {
///             return; // cancelled, lost, or Redis is down
///         }
///     }
///     let _ = producer.finish().await;
/// });
///
/// // GET /chat/run-42 on any process, with the viewer's Last-Event-ID: serve the
/// // response stream with the adapter's per-request entry point, or answer 204.
/// match streams.attach("run-42", None).await? {
///     Some(response) => { /* adapter::from_stream(response) */ }
///     None => { /* 204 No Content */ }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisResumable {
    pub(crate) shared: Arc<Shared>,
}

/// What this process's registry, producers, viewers and `run` share.
pub(crate) struct Shared {
    pub(crate) options: ResumeOptions,
    pub(crate) commands: Commands,
    /// The channel cancels are announced on: `{prefix}:cancelled`.
    pub(crate) channel: String,
    /// This process's live producers, by key.
    producers: Mutex<HashMap<String, Arc<Link>>>,
    /// Producers dropped before they finished, for `run` to finish.
    pub(crate) orphans: Mutex<Vec<Arc<State>>>,
    /// Set, and notified, when an orphan is added.
    pub(crate) orphans_new: AtomicBool,
    pub(crate) orphaned: event_listener::Event,
    /// Blocking connections kept for the next viewers.
    idle: Mutex<Vec<MultiplexedConnection>>,
    pub(crate) counters: Counters,
}

/// How a producer learns that its stream ended elsewhere.
pub(crate) struct Link {
    pub(crate) token: String,
    pub(crate) keys: Keys,
    pub(crate) key: String,
    /// Whether Redis holds the stream yet: the key is reserved on this process
    /// before the start is written, and `run` leaves it alone until then.
    pub(crate) started: AtomicBool,
    closure: Mutex<Option<Closure>>,
    closed: event_listener::Event,
}

/// Why a producer can write no more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Closure {
    Ended(EndReason),
    Lost,
}

impl Link {
    pub(crate) fn closure(&self) -> Option<Closure> {
        *self.closure.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes the producer (the first reason stays), waking whoever waits.
    pub(crate) fn close(&self, closure: Closure) {
        self.closure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(closure);
        self.closed.notify(usize::MAX);
    }

    /// Completes once closed.
    pub(crate) async fn closed(self: Arc<Self>) {
        loop {
            if self.closure().is_some() {
                return;
            }
            let listener = self.closed.listen();
            if self.closure().is_some() {
                return;
            }
            listener.await;
        }
    }

    /// Reads a script's answer about the stream: closes on an end or a loss.
    pub(crate) fn learn(&self, outcome: &Outcome) -> Option<Closure> {
        let closure = match outcome {
            Outcome::Ok(_) => return None,
            Outcome::Ended(reason) => Closure::Ended(*reason),
            Outcome::Lost => Closure::Lost,
        };
        self.close(closure);
        self.closure()
    }
}

impl RedisResumable {
    /// The registry for the streams under `options.prefix`. Connects lazily: a
    /// Redis that is down makes `start` and `attach` fail, not this.
    ///
    /// # Errors
    ///
    /// When the URL is invalid.
    pub fn open(options: ResumeOptions) -> Result<Self, Error> {
        let client = redis::Client::open(options.url.as_str())?;
        let channel = format!("{}:cancelled", options.prefix);
        Ok(RedisResumable {
            shared: Arc::new(Shared {
                commands: Commands::new(client, options.response_timeout),
                channel,
                options,
                producers: Mutex::new(HashMap::new()),
                orphans: Mutex::new(Vec::new()),
                orphans_new: AtomicBool::new(false),
                orphaned: event_listener::Event::new(),
                idle: Mutex::new(Vec::new()),
                counters: Counters::default(),
            }),
        })
    }

    /// Starts a stream under `key` and returns its producer. The stream lives in
    /// Redis (`{prefix}:{key}`), so viewers on any process can attach to it; it
    /// ends when the producer finishes or is dropped, when it is cancelled from
    /// any process, or when it is abandoned.
    ///
    /// # Errors
    ///
    /// [`StartError::InvalidKey`] (400), [`StartError::Exists`] (409: live or
    /// lingering), [`StartError::AtCapacity`] (503: this process's
    /// `max_streams`), [`StartError::Unavailable`] (503: Redis is down; nothing was
    /// started).
    pub async fn start(&self, key: &str) -> Result<RedisProducer, StartError> {
        let result = self.try_start(key).await;
        let counters = &self.shared.counters;
        let counter = match result {
            Ok(_) => &counters.started,
            Err(_) => &counters.start_failures,
        };
        Counters::add(counter, 1);
        result
    }

    async fn try_start(&self, key: &str) -> Result<RedisProducer, StartError> {
        let shared = &self.shared;
        let options = &shared.options;
        if !is_valid_key(key) {
            return Err(StartError::InvalidKey);
        }
        let link = Arc::new(Link {
            token: token(),
            keys: Keys::new(&options.prefix, key),
            key: key.to_owned(),
            started: AtomicBool::new(false),
            closure: Mutex::new(None),
            closed: event_listener::Event::new(),
        });
        {
            let mut producers = shared.producers();
            if producers.contains_key(key) {
                return Err(StartError::Exists);
            }
            if producers.len() >= options.max_streams {
                return Err(StartError::AtCapacity);
            }
            // Held from here, so two starts on this process cannot both pass.
            producers.insert(key.to_owned(), link.clone());
        }
        let abandon = options.abandon_after.map_or(0, ResumeOptions::millis);
        let args = vec![
            link.token.clone().into_bytes(),
            ResumeOptions::millis(options.live_ttl)
                .to_string()
                .into_bytes(),
            abandon.to_string().into_bytes(),
        ];
        let keys = [link.keys.stream.as_str(), link.keys.seen.as_str()];
        let started = START.run(&shared.commands, &keys, args).await;
        let id = match started {
            Ok(redis::Value::Nil) => Err(StartError::Exists),
            Ok(reply) => crate::entry::text(&reply)
                .and_then(|id| id.parse::<StreamId>().ok())
                .ok_or(StartError::Unavailable(Error::UnexpectedReply(
                    "an entry id",
                ))),
            Err(error) => Err(StartError::Unavailable(error)),
        };
        match id {
            Ok(id) => {
                link.started.store(true, Relaxed);
                Ok(RedisProducer::new(State::new(shared.clone(), link, id)))
            }
            Err(error) => {
                shared.unregister(&link);
                Err(error)
            }
        }
    }

    /// Attaches a viewer to the stream under `key`, after `last_event_id` (the
    /// viewer's `Last-Event-ID`; `None` for the beginning): the response sends
    /// what the viewer missed, then follows the stream live, then its end event,
    /// and ends. Any process can serve any stream.
    ///
    /// `None` (answer 204, so `EventSource` stops) when the key is invalid,
    /// unknown, expired, cancelled or abandoned, or was already read to its end (the viewer's id is the
    /// end event's). A `last_event_id` from before what was trimmed, or that this
    /// stream never had, gets a `resync` event, then everything the stream still
    /// holds. A viewer whose read fails (Redis went away) has its response end: it
    /// reconnects with its `Last-Event-ID` and resumes exactly.
    ///
    /// # Errors
    ///
    /// [`AttachError::AtCapacity`] (this process's `max_viewers`) and
    /// [`AttachError::Unavailable`] (Redis is down), both 503.
    pub async fn attach(
        &self,
        key: &str,
        last_event_id: Option<&str>,
    ) -> Result<Option<ResponseStream>, AttachError> {
        let shared = &self.shared;
        let attached = if is_valid_key(key) {
            viewer::attach(shared.clone(), key, last_event_id).await?
        } else {
            None
        };
        let counter = match attached {
            Some(_) => &shared.counters.attached,
            None => &shared.counters.attach_misses,
        };
        Counters::add(counter, 1);
        Ok(attached.map(ResponseStream::new))
    }

    /// Cancels the stream under `key`, wherever its producer runs: its
    /// [`closed`](RedisProducer::closed) future completes and its sends fail, and
    /// every viewer, on every process, gets `event: end` with `data: cancelled`.
    /// Its key then answers `None` (204), as `sse-core`'s does; the stream is kept for
    /// the linger only so that viewers already following it get its end. `false`
    /// when there was no live stream to cancel.
    ///
    /// # Errors
    ///
    /// When Redis cannot be reached (nothing was cancelled).
    pub async fn cancel(&self, key: &str) -> Result<bool, Error> {
        let shared = &self.shared;
        if !is_valid_key(key) {
            return Ok(false);
        }
        let keys = Keys::new(&shared.options.prefix, key);
        let args = vec![
            EndReason::Cancelled.as_str().into(),
            ResumeOptions::millis(shared.options.linger)
                .to_string()
                .into_bytes(),
            Vec::new(),
            shared.channel.clone().into_bytes(),
            key.into(),
        ];
        let reply = END.run(&shared.commands, &[&keys.stream], args).await?;
        let cancelled = matches!(Outcome::parse(&reply)?, Outcome::Ok(_));
        if cancelled {
            Counters::add(&shared.counters.cancelled, 1);
            shared.close_local(key, Closure::Ended(EndReason::Cancelled));
        }
        Ok(cancelled)
    }

    /// A snapshot of this process's counters.
    #[must_use]
    pub fn metrics(&self) -> RedisResumeMetrics {
        let producers = self.shared.producers().len();
        self.shared.counters.snapshot(producers)
    }

    /// The settings.
    #[must_use]
    pub fn options(&self) -> &ResumeOptions {
        &self.shared.options
    }
}

impl fmt::Debug for RedisResumable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisResumable")
            .field("options", &self.shared.options)
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn producers(&self) -> MutexGuard<'_, HashMap<String, Arc<Link>>> {
        self.producers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// This process's live producers.
    pub(crate) fn links(&self) -> Vec<Arc<Link>> {
        self.producers().values().cloned().collect()
    }

    /// Closes this process's producer of `key`, if it has one.
    pub(crate) fn close_local(&self, key: &str, closure: Closure) {
        let link = self.producers().get(key).cloned();
        if let Some(link) = link {
            link.close(closure);
        }
    }

    /// Forgets a producer that is done.
    pub(crate) fn unregister(&self, link: &Arc<Link>) {
        let mut producers = self.producers();
        if producers
            .get(&link.key)
            .is_some_and(|l| Arc::ptr_eq(l, link))
        {
            producers.remove(&link.key);
        }
    }

    /// A blocking connection for a viewer: an idle one, or a new one.
    pub(crate) async fn blocking_connection(&self) -> Result<MultiplexedConnection, Error> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        if let Some(connection) = idle {
            return Ok(connection);
        }
        let config = self.commands.config(self.options.block);
        Ok(self
            .commands
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?)
    }

    /// Keeps a blocking connection with nothing in flight for the next viewer.
    pub(crate) fn return_connection(&self, connection: MultiplexedConnection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.options.idle_connections {
            idle.push(connection);
        }
    }

    /// Drops the idle connections (Redis went away: they are likely broken).
    pub(crate) fn forget_idle(&self) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// A token naming one producer, unique across processes and restarts in
/// practice: the clock, a per-process counter and the process id, hashed with
/// a random key.
fn token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    hasher.write_u128(now.as_nanos());
    hasher.write_u64(COUNTER.fetch_add(1, Relaxed));
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}
