//! A viewer: what it missed (`XRANGE`), then the stream live (`XREAD BLOCK` on a
//! connection of its own), then the end.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use futures_lite::Stream;
use redis::Value;
use redis::aio::MultiplexedConnection;
use sse_core::{EndReason, Message};

use super::entries::{Item, Kind, parse_range, parse_read};
use super::errors::AttachError;
use super::key::Keys;
use super::metrics::Counters;
use super::options::ResumeOptions;
use super::registry::Shared;
use super::wire::{end_event, resync_event};
use crate::entry::StreamId;
use crate::observe::Error;

/// Attaches after `last_event_id` (see
/// [`RedisResumable::attach`](crate::RedisResumable::attach)): `None` when there
/// is nothing to attach to.
pub(crate) async fn attach(
    shared: Arc<Shared>,
    key: &str,
    last_event_id: Option<&str>,
) -> Result<Option<impl Stream<Item = Message> + Send + 'static>, AttachError> {
    let permit = Permit::take(&shared).ok_or(AttachError::AtCapacity)?;
    let keys = Keys::new(&shared.options.prefix, key);
    let mut viewer = Viewer {
        shared,
        keys,
        after: StreamId::default(),
        expected: None,
        ready: VecDeque::new(),
        phase: Phase::CatchingUp,
        connection: None,
        seen: None,
        _permit: permit,
    };
    let unavailable = AttachError::Unavailable;
    // A reply that was stopped (cancelled or abandoned) is not served again, as
    // in `sse-core`: its key answers 204, so an `EventSource` stops.
    if viewer.stopped().await.map_err(unavailable)? {
        return Ok(None);
    }
    let last = last_event_id.map(|id| id.parse::<StreamId>());
    if let Some(Ok(last)) = last {
        let page = viewer.range(&last.to_string()).await.map_err(unavailable)?;
        let full = viewer.full(&page);
        let mut entries = page.into_iter().peekable();
        if let Some(first) = entries.next_if(|first| first.id == last) {
            // The viewer has it: go on after it.
            viewer.after = first.id;
            viewer.expected = match first.kind {
                Kind::End(_) => return Ok(None),
                Kind::Start => Some(1),
                Kind::Data(sequence, _) | Kind::Plain(sequence, _) => {
                    Some(sequence.saturating_add(1))
                }
                Kind::Other => None,
            };
            viewer.take(entries, full);
            viewer.see().await;
            return Ok(Some(viewer.into_stream()));
        }
    }
    let page = viewer.range("-").await.map_err(unavailable)?;
    let Some(first) = page.first() else {
        return Ok(None);
    };
    // No id and the start is still there: nothing was missed. Any other case
    // (trimmed, or a position this stream never had) is a resync.
    if last.is_some() || first.kind != Kind::Start {
        viewer.resync();
    }
    let full = viewer.full(&page);
    viewer.take(page, full);
    viewer.see().await;
    Ok(Some(viewer.into_stream()))
}

/// Counts a viewer on this process, within `max_viewers`.
struct Permit(Arc<Shared>);

impl Permit {
    fn take(shared: &Arc<Shared>) -> Option<Permit> {
        let viewers = &shared.counters.viewers;
        let max = shared.options.max_viewers as u64;
        viewers
            .fetch_update(Relaxed, Relaxed, |n| (n < max).then_some(n + 1))
            .ok()
            .map(|_| Permit(shared.clone()))
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.counters.viewers.fetch_sub(1, Relaxed);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Reading pages of what the stream holds (`XRANGE`).
    CatchingUp,
    /// At the stream's end, waiting for new entries (`XREAD BLOCK`).
    Live,
    /// The end entry was read, or the stream is gone or unreadable.
    Done,
}

struct Viewer {
    shared: Arc<Shared>,
    keys: Keys,
    /// The newest entry read.
    after: StreamId,
    /// The sequence number the next event should have: another one means events
    /// were trimmed unread.
    expected: Option<u64>,
    /// Read, not yet handed to the response.
    ready: VecDeque<Message>,
    phase: Phase,
    /// The blocking connection, while not in a read.
    connection: Option<MultiplexedConnection>,
    /// When this viewer last marked the stream seen (abandoning is on).
    seen: Option<Instant>,
    _permit: Permit,
}

impl Viewer {
    fn into_stream(self) -> impl Stream<Item = Message> + Send + 'static {
        futures_lite::stream::unfold(self, |mut viewer| async move {
            let message = viewer.next().await?;
            Some((message, viewer))
        })
    }

    /// Up to a page of entries from `start` (inclusive) on.
    async fn range(&self, start: &str) -> Result<Vec<Item>, Error> {
        let mut command = redis::cmd("XRANGE");
        command
            .arg(&self.keys.stream)
            .arg(start)
            .arg("+")
            .arg("COUNT")
            .arg(self.shared.options.read_count.max(2));
        parse_range(self.shared.commands.query(&command).await?)
    }

    /// Whether the stream's newest entry ends it otherwise than `done`.
    async fn stopped(&self) -> Result<bool, Error> {
        let mut command = redis::cmd("XREVRANGE");
        command
            .arg(&self.keys.stream)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1);
        let newest = parse_range(self.shared.commands.query(&command).await?)?;
        Ok(newest.first().is_some_and(
            |entry| matches!(entry.kind, Kind::End(reason) if reason != EndReason::Done),
        ))
    }

    fn resync(&mut self) {
        Counters::add(&self.shared.counters.resyncs, 1);
        self.ready.push_back(resync_event());
        self.expected = None;
    }

    /// Sends a resync before an entry whose sequence number shows that entries
    /// before it were trimmed unread.
    fn check_sequence(&mut self, sequence: u64) {
        if self.expected.is_some_and(|expected| sequence > expected) {
            self.resync();
        }
        self.expected = Some(sequence.saturating_add(1));
    }

    /// Whether `page` is a full page of `XRANGE`: more may follow.
    fn full(&self, page: &[Item]) -> bool {
        page.len() >= self.shared.options.read_count.max(2)
    }

    /// Turns read entries into messages; after a `full` page, more may follow.
    fn take(&mut self, page: impl IntoIterator<Item = Item>, full: bool) {
        for item in page {
            self.after = item.id;
            match item.kind {
                Kind::Start => self.expected = Some(1),
                Kind::Data(sequence, event) => {
                    self.check_sequence(sequence);
                    if let Ok(frame) = event.to_frame(&item.id.to_string()) {
                        self.ready.push_back(frame.into());
                    }
                }
                Kind::Plain(sequence, message) => {
                    self.check_sequence(sequence);
                    self.ready.push_back(message);
                }
                Kind::End(reason) => {
                    self.ready
                        .push_back(end_event(reason, &item.id.to_string()));
                    self.phase = Phase::Done;
                    return;
                }
                Kind::Other => {}
            }
        }
        if self.phase == Phase::CatchingUp && !full {
            self.phase = Phase::Live;
        }
    }

    /// The next message for the response; `None` once the stream is over for
    /// this viewer.
    async fn next(&mut self) -> Option<Message> {
        loop {
            if let Some(message) = self.ready.pop_front() {
                return Some(message);
            }
            let read = match self.phase {
                Phase::Done => {
                    if let Some(connection) = self.connection.take() {
                        self.shared.return_connection(connection);
                    }
                    return None;
                }
                Phase::CatchingUp => self.range(&format!("({}", self.after)).await,
                Phase::Live => self.read_live().await,
            };
            match read {
                Ok(page) => {
                    let full = self.phase == Phase::CatchingUp && self.full(&page);
                    self.take(page, full);
                }
                // The response ends; the viewer resumes with its Last-Event-ID.
                Err(_) => self.phase = Phase::Done,
            }
        }
    }

    /// Waits for entries after the newest one read; finds the stream gone when a
    /// wait ends with none.
    async fn read_live(&mut self) -> Result<Vec<Item>, Error> {
        let shared = self.shared.clone();
        let options = &shared.options;
        let mut connection = match self.connection.take() {
            Some(connection) => connection,
            None => shared.blocking_connection().await?,
        };
        let block = options
            .abandon_after
            .map_or(options.block, |after| options.block.min(after / 2));
        let reply: Result<Value, _> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(options.read_count)
            .arg("BLOCK")
            .arg(ResumeOptions::millis(block))
            .arg("STREAMS")
            .arg(&self.keys.stream)
            .arg(self.after.to_string())
            .query_async(&mut connection)
            .await;
        let reply = reply.inspect_err(|_| shared.forget_idle())?;
        // Nothing was in flight when it is put back: the next read may reuse it.
        self.connection = Some(connection);
        let items = parse_read(reply)?;
        self.see().await;
        if items.is_empty() && !self.exists().await? {
            self.phase = Phase::Done;
        }
        Ok(items)
    }

    async fn exists(&self) -> Result<bool, Error> {
        let mut command = redis::cmd("EXISTS");
        command.arg(&self.keys.stream);
        Ok(matches!(
            self.shared.commands.query(&command).await?,
            Value::Int(1)
        ))
    }

    /// Marks the stream followed, so its producer does not abandon it (when
    /// abandoning is on), at most every quarter of the abandon delay. Best
    /// effort: a viewer whose mark fails goes on reading.
    async fn see(&mut self) {
        let Some(after) = self.shared.options.abandon_after else {
            return;
        };
        if self.seen.is_some_and(|seen| seen.elapsed() < after / 4) {
            return;
        }
        self.seen = Some(Instant::now());
        let mut command = redis::cmd("SET");
        command
            .arg(&self.keys.seen)
            .arg(1)
            .arg("PX")
            .arg(ResumeOptions::millis(after.max(Duration::from_millis(1))));
        let _ = self.shared.commands.query(&command).await;
    }
}
