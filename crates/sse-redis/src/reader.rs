//! The reader: the stream, relayed to the hub in order, across lost connections.

use std::future::Future;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures_lite::future;
use redis::Value;
use redis::aio::MultiplexedConnection;

use crate::backplane::Backplane;
use crate::entry::{Entry, StreamId, parse_read};
use crate::observe::{Counters, Error};
use crate::reset::moved_back;

impl Backplane {
    /// Reads the stream and relays every entry to the hub, in order, until the hub
    /// shuts down. Spawn it once per process, with your runtime's timer:
    /// `backplane.run(tokio::time::sleep)` on tokio,
    /// `backplane.run(async_io::Timer::after)` on smol.
    ///
    /// When the connection fails, it retries with a doubling backoff (see
    /// [`RedisOptions::backoff`](crate::RedisOptions::backoff)), reports it
    /// ([`BackplaneMetrics`](crate::BackplaneMetrics),
    /// [`BackplaneHooks`](crate::BackplaneHooks)), and resumes after the last
    /// entry it relayed: nothing is skipped or relayed twice. Meanwhile the hub keeps
    /// serving what it already has.
    ///
    /// When the stream was reset or moved back below that entry (Redis restarted
    /// empty, a failover to a replica that was behind), which it checks after
    /// connecting and whenever a read finds nothing new, it starts again from the
    /// new stream's beginning (entries it shares with the old one come again) and
    /// reports it (`resets`, [`on_reset`](crate::BackplaneHooks::on_reset)); a
    /// client reconnecting with an id of the old stream then gets a replay miss.
    pub async fn run<F: Future>(&self, mut sleep: impl FnMut(Duration) -> F) {
        let options = &self.shared.options;
        let mut backoff = options.min_backoff;
        loop {
            let read = async { Some(self.read(&mut backoff).await) };
            let stop = async {
                self.hub.shutting_down().await;
                None
            };
            let Some(error) = future::or(read, stop).await else {
                return;
            };
            self.lost(&error);
            let wait = async {
                sleep(backoff).await;
                false
            };
            let stop = async {
                self.hub.shutting_down().await;
                true
            };
            if future::or(wait, stop).await {
                return;
            }
            backoff = (backoff * 2).min(options.max_backoff);
        }
    }

    /// Connects and relays until something fails.
    async fn read(&self, backoff: &mut Duration) -> Error {
        let shared = &self.shared;
        let config = shared.connection_config(shared.options.block);
        let mut connection = match shared
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(connection) => connection,
            Err(error) => return error.into(),
        };
        *backoff = shared.options.min_backoff;
        // Checked before reporting the connection: once connected, the reader reads
        // from a position the stream holds.
        let mut after = shared.position().relayed;
        after = match self.restart_if_moved_back(&mut connection, after).await {
            Ok(after) => after,
            Err(error) => return error,
        };
        self.connected();
        loop {
            let reply: Value = match redis::cmd("XREAD")
                .arg("COUNT")
                .arg(shared.options.read_count)
                .arg("BLOCK")
                .arg(shared.options.block.as_millis().max(1) as u64)
                .arg("STREAMS")
                .arg(&shared.options.stream)
                .arg(after.to_string())
                .query_async(&mut connection)
                .await
            {
                Ok(reply) => reply,
                Err(error) => return error.into(),
            };
            let entries = match parse_read(reply) {
                Ok(entries) => entries,
                Err(unexpected) => return Error::UnexpectedReply(unexpected.0),
            };
            let Some(newest) = entries.last().map(|entry| entry.id) else {
                // Nothing new: the stream may have moved back below `after`.
                after = match self.restart_if_moved_back(&mut connection, after).await {
                    Ok(after) => after,
                    Err(error) => return error,
                };
                continue;
            };
            for entry in entries {
                self.relay(entry);
            }
            after = newest;
            shared.set_position(|position| position.relayed = newest);
        }
    }

    /// Checks that the stream still holds `after` (see [`crate::reset`]): returns
    /// it if so; else reports the reset and returns `0-0`, so the whole new stream
    /// is read, entries added since the check included.
    async fn restart_if_moved_back(
        &self,
        connection: &mut MultiplexedConnection,
        after: StreamId,
    ) -> Result<StreamId, Error> {
        if !moved_back(connection, &self.shared.options.stream, after).await? {
            return Ok(after);
        }
        self.reset(after);
        Ok(StreamId::default())
    }

    /// The stream no longer holds `relayed`: forgets the old stream's ids in the
    /// hub (a client reconnecting with one is a replay miss, not a resume after
    /// it), moves the position back to `0-0` (ending replays that wait for the old
    /// stream), and reports it.
    fn reset(&self, relayed: StreamId) {
        let shared = &self.shared;
        self.hub.restart_relay();
        shared.set_position(|position| {
            position.relayed = StreamId::default();
            position.resets += 1;
        });
        Counters::add(&shared.counters.resets, 1);
        shared.hooks.on_reset(relayed);
    }

    /// Hands one entry to the hub, or reports why it cannot.
    fn relay(&self, entry: Entry) {
        let shared = &self.shared;
        match entry.event {
            Ok(event) => {
                let id = entry.id.to_string();
                let relayed = self.hub.relay(entry.topic.as_deref(), &event, &id);
                debug_assert!(relayed.is_ok(), "a stream id is a valid event id");
                Counters::add(&shared.counters.relayed, 1);
            }
            Err(reason) => {
                Counters::add(&shared.counters.invalid_entries, 1);
                shared.hooks.on_invalid_entry(entry.id, reason);
            }
        }
    }

    fn connected(&self) {
        let shared = &self.shared;
        let was_reading = shared.counters.connected.swap(true, Relaxed);
        shared.set_position(|position| position.reading = true);
        if !was_reading {
            Counters::add(&shared.counters.reconnects, 1);
            shared.hooks.on_reconnected();
        }
    }

    fn lost(&self, error: &Error) {
        let shared = &self.shared;
        let was_reading = shared.counters.connected.swap(false, Relaxed);
        shared.set_position(|position| position.reading = false);
        shared.forget_connection();
        if was_reading {
            Counters::add(&shared.counters.connection_losses, 1);
            shared.hooks.on_connection_lost(error);
        }
    }
}
