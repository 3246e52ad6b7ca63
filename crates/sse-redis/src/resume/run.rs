//! The per-process task: cancels heard from other processes, the live streams'
//! heartbeat (and abandoning), dropped producers finished.

use std::future::Future;
use std::sync::PoisonError;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use futures_lite::{FutureExt, StreamExt};

use super::options::ResumeOptions;
use super::registry::{Closure, RedisResumable};
use super::scripts::{Outcome, TOUCH};
use crate::observe::Error;
use sse_core::EndReason;

/// What woke the task.
enum Wake {
    /// A cancel announced (the key), or `None`: the subscription was lost.
    Cancelled(Option<String>),
    Heartbeat,
    Orphaned,
}

impl RedisResumable {
    /// This process's background work, until the future is dropped. Spawn it
    /// once per process with your runtime's timer: `streams.run(tokio::time::sleep)`
    /// on tokio, `streams.run(async_io::Timer::after)` on smol. It:
    ///
    /// - hears cancels from every process (`SUBSCRIBE {prefix}:cancelled`, one
    ///   connection) and closes this process's producer of that key at once;
    /// - every third of [`live_ttl`](crate::ResumeOptions#structfield.live_ttl)
    ///   (and every half of `abandon_after`), checks each live stream of this
    ///   process in Redis, in one round trip each: keeps it from expiring, ends
    ///   it as `abandoned` when no viewer has followed it for `abandon_after`, and
    ///   closes its producer when it ended or was lost meanwhile (so a cancel
    ///   announced while this process was disconnected is not missed);
    /// - finishes producers dropped unfinished (what waits, then the end entry).
    ///
    /// When Redis cannot be reached it retries with a doubling backoff.
    pub async fn run<F: Future>(&self, mut sleep: impl FnMut(Duration) -> F) {
        let options = &self.shared.options;
        let mut backoff = options.min_backoff;
        loop {
            let _lost = self.watch(&mut sleep, &mut backoff).await;
            self.shared.commands.forget();
            self.shared.forget_idle();
            sleep(backoff).await;
            backoff = (backoff * 2).min(options.max_backoff);
        }
    }

    fn heartbeat_interval(&self) -> Duration {
        let options = &self.shared.options;
        let beat = options.live_ttl / 3;
        options
            .abandon_after
            .map_or(beat, |after| beat.min(after / 2))
            .max(Duration::from_millis(1))
    }

    /// Subscribes, then serves until the subscription or a heartbeat fails.
    async fn watch<F: Future>(
        &self,
        sleep: &mut impl FnMut(Duration) -> F,
        backoff: &mut Duration,
    ) -> Error {
        let shared = &self.shared;
        let mut pubsub = match shared.commands.client.get_async_pubsub().await {
            Ok(pubsub) => pubsub,
            Err(error) => return error.into(),
        };
        if let Err(error) = pubsub.subscribe(&shared.channel).await {
            return error.into();
        }
        let mut messages = pubsub.into_on_message();
        *backoff = shared.options.min_backoff;
        let interval = self.heartbeat_interval();
        let mut next_beat = Instant::now();
        loop {
            let listener = shared.orphaned.listen();
            let wake = if Instant::now() >= next_beat {
                Wake::Heartbeat
            } else if shared.orphans_new.swap(false, Relaxed) {
                Wake::Orphaned
            } else {
                let wait = next_beat.saturating_duration_since(Instant::now());
                let message = async {
                    let message = messages.next().await;
                    Wake::Cancelled(message.map(|message| {
                        String::from_utf8_lossy(message.get_payload_bytes()).into_owned()
                    }))
                };
                let beat = async {
                    sleep(wait).await;
                    Wake::Heartbeat
                };
                let orphaned = async {
                    listener.await;
                    Wake::Orphaned
                };
                message.or(beat).or(orphaned).await
            };
            match wake {
                Wake::Cancelled(None) => {
                    return Error::UnexpectedReply("the cancel subscription to stay open");
                }
                Wake::Cancelled(Some(key)) => {
                    shared.close_local(&key, Closure::Ended(EndReason::Cancelled));
                }
                Wake::Heartbeat => {
                    if let Err(error) = self.heartbeat().await {
                        return error;
                    }
                    self.finish_orphans().await;
                    next_beat = Instant::now() + interval;
                }
                Wake::Orphaned => self.finish_orphans().await,
            }
        }
    }

    /// Checks every live stream of this process (see [`run`](Self::run)).
    async fn heartbeat(&self) -> Result<(), Error> {
        let shared = &self.shared;
        let options = &shared.options;
        for link in shared.links() {
            if link.closure().is_some() || !link.started.load(Relaxed) {
                continue;
            }
            let args = vec![
                link.token.clone().into_bytes(),
                ResumeOptions::millis(options.live_ttl)
                    .to_string()
                    .into_bytes(),
                if options.abandon_after.is_some() {
                    "1"
                } else {
                    "0"
                }
                .into(),
                ResumeOptions::millis(options.linger)
                    .to_string()
                    .into_bytes(),
            ];
            let keys = [link.keys.stream.as_str(), link.keys.seen.as_str()];
            let reply = TOUCH.run(&shared.commands, &keys, args).await?;
            link.learn(&Outcome::parse(&reply)?);
        }
        Ok(())
    }

    /// Finishes the producers dropped unfinished; those Redis could not take yet
    /// wait for the next heartbeat.
    async fn finish_orphans(&self) {
        let shared = &self.shared;
        let orphans = std::mem::take(
            &mut *shared
                .orphans
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let mut waiting = Vec::new();
        for producer in orphans {
            match producer.finish().await {
                Err(super::errors::SendError::Unavailable(..)) => waiting.push(producer),
                _ => shared.unregister(&producer.link),
            }
        }
        shared
            .orphans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(waiting);
    }
}
