//! The backplane: one Redis stream that every process appends to and relays from.

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Value};
use sse_core::{EncodedEvent, Event, Hub, HubBuilder};

use crate::entry::{EVENT_FIELD, StreamId, TOPIC_FIELD, parse_entries};
use crate::observe::{BackplaneHooks, BackplaneMetrics, Counters, Error, NoBackplaneHooks};
use crate::options::RedisOptions;
use crate::replay::RedisReplay;

/// A hub fed by a Redis stream, shared by every server process of an application.
///
/// Publishing appends the event to the stream (`XADD`, trimmed with `MAXLEN ~`),
/// and the stream entry id becomes its SSE id. Every process runs
/// [`run`](Self::run), which reads the stream (`XREAD BLOCK`) and relays each entry
/// to its own hub once, in stream order, so every client of every process sees the
/// same events in the same order. A client that reconnects to any process with a
/// `Last-Event-ID` gets what it missed: from the hub's history when it holds it,
/// else from the stream (`XRANGE`).
///
/// Cheap to clone. Adapters stream [`hub`](Self::hub) as usual; publish through the
/// backplane, not the hub.
///
/// # Examples
///
/// ```no_run
/// use sse_core::{Event, Hub};
/// use sse_redis::{Backplane, RedisOptions};
///
/// # async fn example() -> Result<(), sse_redis::Error> {
/// let options = RedisOptions::new("redis://127.0.0.1:6379/");
/// let backplane = Backplane::open(options, Hub::builder()).await?;
/// tokio::spawn({
///     let backplane = backplane.clone();
///     async move { backplane.run(tokio::time::sleep).await }
/// });
/// let hub = backplane.hub().clone(); // hand it to your adapter
/// let id = backplane.broadcast(&Event::new("to every client of every process")).await?;
/// println!("published as {id}");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Backplane {
    pub(crate) shared: Arc<Shared>,
    pub(crate) hub: Hub,
}

/// What the backplane and its replay source share.
pub(crate) struct Shared {
    pub(crate) client: redis::Client,
    pub(crate) options: RedisOptions,
    pub(crate) hooks: Box<dyn BackplaneHooks>,
    pub(crate) counters: Counters,
    /// The connection for commands that do not block: `XADD`, `XRANGE`.
    commands: Mutex<Option<MultiplexedConnection>>,
    /// How far the reader has relayed, and whether it is reading.
    position: Mutex<Position>,
    /// Notified when the position changes.
    moved: event_listener::Event,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Position {
    /// The newest entry relayed to the hub (or the stream's end when the reader
    /// started).
    pub(crate) relayed: StreamId,
    /// Whether the reader is connected.
    pub(crate) reading: bool,
    /// How many times the stream was found reset (see [`crate::reset`]): an id
    /// read before a reset is not comparable with `relayed` after it.
    pub(crate) resets: u64,
}

impl Backplane {
    /// Connects to Redis, and builds the hub from `hub` with Redis as its replay
    /// source. Reading starts after the stream's newest entry: call
    /// [`run`](Self::run) next.
    ///
    /// # Errors
    ///
    /// When the URL is invalid or Redis cannot be reached.
    pub async fn open(options: RedisOptions, hub: HubBuilder) -> Result<Self, Error> {
        Backplane::open_with_hooks(options, hub, NoBackplaneHooks).await
    }

    /// [`open`](Self::open), with hooks.
    ///
    /// # Errors
    ///
    /// When the URL is invalid or Redis cannot be reached.
    pub async fn open_with_hooks(
        options: RedisOptions,
        hub: HubBuilder,
        hooks: impl BackplaneHooks,
    ) -> Result<Self, Error> {
        let shared = Arc::new(Shared {
            client: redis::Client::open(options.url.as_str())?,
            options,
            hooks: Box::new(hooks),
            counters: Counters::default(),
            commands: Mutex::new(None),
            position: Mutex::new(Position {
                relayed: StreamId::default(),
                reading: true,
                resets: 0,
            }),
            moved: event_listener::Event::new(),
        });
        let newest = shared.newest_entry().await?;
        shared.position().relayed = newest;
        shared.counters.connected.store(true, Relaxed);
        let hub = hub.replay_source(RedisReplay::new(shared.clone())).build();
        hub.mark_relayed(&newest.to_string())
            .expect("a stream id is a valid event id");
        Ok(Backplane { shared, hub })
    }

    /// The hub this process's clients connect to.
    #[must_use]
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Appends `event` for every client of every process. Returns its id.
    ///
    /// # Errors
    ///
    /// [`Error::EventHasId`] when the event has an id of its own; [`Error::Redis`]
    /// when Redis cannot be reached (nothing is sent).
    pub async fn broadcast(&self, event: &Event<'_>) -> Result<StreamId, Error> {
        self.append(None, event).await
    }

    /// Appends `event` for the clients subscribed to `topic`, on every process.
    /// Returns its id.
    ///
    /// # Errors
    ///
    /// As [`broadcast`](Self::broadcast).
    pub async fn publish(&self, topic: &str, event: &Event<'_>) -> Result<StreamId, Error> {
        self.append(Some(topic), event).await
    }

    async fn append(&self, topic: Option<&str>, event: &Event<'_>) -> Result<StreamId, Error> {
        if event.id().is_some() {
            return Err(Error::EventHasId);
        }
        let shared = &self.shared;
        let encoded = EncodedEvent::new(event);
        let mut command = redis::cmd("XADD");
        command
            .arg(&shared.options.stream)
            .arg("MAXLEN")
            .arg("~")
            .arg(shared.options.max_len)
            .arg("*");
        if let Some(topic) = topic {
            command.arg(TOPIC_FIELD).arg(topic);
        }
        command.arg(EVENT_FIELD).arg(&encoded.as_bytes()[..]);
        let result = match shared.command(&command).await {
            Ok(Value::BulkString(id)) => std::str::from_utf8(&id)
                .ok()
                .and_then(|id| id.parse().ok())
                .ok_or(Error::UnexpectedReply("an entry id")),
            Ok(_) => Err(Error::UnexpectedReply("an entry id")),
            Err(error) => Err(error),
        };
        let counter = match result {
            Ok(_) => &shared.counters.published,
            Err(_) => &shared.counters.publish_errors,
        };
        Counters::add(counter, 1);
        result
    }

    /// A snapshot of the backplane's counters (the hub has its own).
    #[must_use]
    pub fn metrics(&self) -> BackplaneMetrics {
        self.shared.counters.snapshot()
    }
}

impl fmt::Debug for Backplane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backplane")
            .field("options", &self.shared.options)
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn position(&self) -> MutexGuard<'_, Position> {
        self.position.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the reader's position and wakes whoever waits on it.
    pub(crate) fn set_position(&self, update: impl FnOnce(&mut Position)) {
        update(&mut self.position());
        self.moved.notify(usize::MAX);
    }

    /// Waits until the reader has relayed `id`, an id read from the stream when
    /// `resets` resets had been found. `false` when it stopped reading, or found
    /// the stream reset since (`id` may be of the old stream).
    pub(crate) async fn relayed_through(&self, id: StreamId, resets: u64) -> bool {
        let reached = || {
            let position = self.position();
            if position.resets != resets {
                return Some(false);
            }
            (position.relayed >= id)
                .then_some(true)
                .or((!position.reading).then_some(false))
        };
        loop {
            if let Some(reached) = reached() {
                return reached;
            }
            let listener = self.moved.listen();
            if let Some(reached) = reached() {
                return reached;
            }
            listener.await;
        }
    }

    /// A connection's settings: replies may take `extra` longer than usual.
    pub(crate) fn connection_config(&self, extra: Duration) -> AsyncConnectionConfig {
        AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.options.response_timeout))
            .set_response_timeout(Some(self.options.response_timeout + extra))
    }

    /// Runs a command that does not block on the shared connection, connecting
    /// first if needed. A failed command drops the connection: the next one
    /// reconnects.
    pub(crate) async fn command(&self, command: &redis::Cmd) -> Result<Value, Error> {
        let slot = || self.commands.lock().unwrap_or_else(PoisonError::into_inner);
        let cached = slot().clone();
        let mut connection = match cached {
            Some(connection) => connection,
            None => {
                let config = self.connection_config(Duration::ZERO);
                let connection = self
                    .client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?;
                *slot() = Some(connection.clone());
                connection
            }
        };
        command.query_async(&mut connection).await.map_err(|error| {
            self.forget_connection();
            Error::Redis(error)
        })
    }

    /// Drops the shared connection (the reader lost its own: this one is likely
    /// broken too), so the next command connects afresh.
    pub(crate) fn forget_connection(&self) {
        *self.commands.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// The id of the stream's newest entry (`0-0` when there is none).
    async fn newest_entry(&self) -> Result<StreamId, Error> {
        let mut command = redis::cmd("XREVRANGE");
        command
            .arg(&self.options.stream)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1);
        let entries = parse_entries(self.command(&command).await?)
            .map_err(|unexpected| Error::UnexpectedReply(unexpected.0))?;
        Ok(entries.first().map(|entry| entry.id).unwrap_or_default())
    }
}
