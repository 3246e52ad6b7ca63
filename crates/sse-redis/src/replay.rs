//! Replay from the stream: what a reconnecting client missed, read with `XRANGE`.

use std::sync::Arc;

use sse_core::{ReplayFuture, ReplayRequest, ReplaySource, Replayed};

use crate::backplane::Shared;
use crate::entry::{StreamId, parse_entries};
use crate::observe::Counters;

/// The hub's [`ReplaySource`]: the Redis stream.
pub(crate) struct RedisReplay {
    shared: Arc<Shared>,
}

impl RedisReplay {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        RedisReplay { shared }
    }
}

impl ReplaySource for RedisReplay {
    fn replay(&self, request: ReplayRequest) -> ReplayFuture {
        let shared = self.shared.clone();
        Box::pin(async move {
            let replayed = replay(&shared, &request).await;
            let counter = match replayed {
                Some(_) => &shared.counters.replays,
                None => &shared.counters.replay_misses,
            };
            Counters::add(counter, 1);
            replayed
        })
    }
}

/// The entries after `request.last_event_id` for the client, in pages, once the
/// reader has relayed the newest one read; `None` when that id is not in the stream
/// (trimmed, never written, or not a stream id), when the client missed more than
/// the replay limit, or when Redis cannot be read.
async fn replay(shared: &Shared, request: &ReplayRequest) -> Option<Replayed> {
    let last: StreamId = request.last_event_id.parse().ok()?;
    // Taken before reading: a reset found after this makes what is read suspect.
    let resets = shared.position().resets;
    let topics: Vec<&str> = request.client.topics().collect();
    let options = &shared.options;
    let page = options.read_count.max(2);
    let mut frames = Vec::new();
    let mut through = last;
    // The first page starts at `last` itself: finding it proves nothing is missing.
    let mut start = last.to_string();
    let mut first_page = true;
    loop {
        let mut command = redis::cmd("XRANGE");
        command
            .arg(&options.stream)
            .arg(&start)
            .arg("+")
            .arg("COUNT")
            .arg(page);
        let entries = parse_entries(shared.command(&command).await.ok()?).ok()?;
        let full = entries.len() == page;
        let mut entries = entries.into_iter().peekable();
        if std::mem::take(&mut first_page) && entries.next_if(|e| e.id == last).is_none() {
            return None;
        }
        for entry in entries {
            through = entry.id;
            let Ok(event) = entry.event else { continue };
            if entry
                .topic
                .as_deref()
                .is_some_and(|topic| !topics.contains(&topic))
            {
                continue;
            }
            if frames.len() == options.replay_limit {
                return None;
            }
            frames.push(event.to_frame(&entry.id.to_string()).ok()?);
        }
        if !full {
            break;
        }
        start = format!("({through}");
    }
    // The stream goes on from the hub's logs after `through`: it must be there.
    shared
        .relayed_through(through, resets)
        .await
        .then(|| Replayed::new(frames, through.to_string()))
}
