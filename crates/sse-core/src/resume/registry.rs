//! The registry's state: the streams by key, the ended ones in the order their
//! linger ends, the unwatched ones in the order they would be abandoned, and the
//! budget across all of them.
//!
//! Locks: the registry's, then a stream's, never the other way round (producers
//! and viewers take a stream's lock alone, and the registry's after letting it go).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use super::StartError;
use super::config::ResumeConfig;
use super::metrics::Counters;
use super::stream::{Stream, WakeList};
use super::wire::EndReason;

#[derive(Debug, Default)]
pub(crate) struct Registry {
    streams: HashMap<Arc<str>, Held>,
    /// Tells streams that reused a key apart in the queues below.
    next_id: u64,
    /// Ended streams, in the order they ended (so their lingers end in that
    /// order too), each with when its linger ends.
    lingering: VecDeque<(Instant, Arc<str>, u64)>,
    /// Live streams with no viewer, by when they are abandoned (with
    /// [`ResumeConfig::abandon_after`]); one entry per stream at most.
    unwatched: BTreeMap<(Instant, u64), Arc<str>>,
}

#[derive(Debug)]
struct Held {
    stream: Arc<Stream>,
    id: u64,
    /// Since when no viewer watches it (a live stream, with `abandon_after`).
    unwatched_since: Option<Instant>,
    /// Whether it has an entry in `unwatched`.
    queued: bool,
}

impl Registry {
    /// Registers a new live stream under `key`.
    pub(crate) fn start(
        &mut self,
        key: &str,
        now: Instant,
        config: &ResumeConfig,
        counters: &Counters,
    ) -> Result<Arc<Stream>, StartError> {
        self.expire(now, config, counters);
        if self.streams.contains_key(key) {
            return Err(StartError::Exists);
        }
        if counters.live.load(Relaxed) >= config.max_streams {
            return Err(StartError::AtCapacity);
        }
        let key: Arc<str> = key.into();
        let stream = Arc::new(Stream::new(key.clone(), config.max_bytes));
        let id = self.next_id;
        self.next_id += 1;
        let mut held = Held {
            stream: stream.clone(),
            id,
            unwatched_since: None,
            queued: false,
        };
        if let Some(after) = config.abandon_after {
            held.unwatched_since = Some(now);
            held.queued = true;
            self.unwatched.insert((now + after, id), key.clone());
        }
        self.streams.insert(key, held);
        counters.live.fetch_add(1, Relaxed);
        Counters::add(&counters.started, 1);
        if counters.add_bytes(ResumeConfig::STREAM_OVERHEAD as isize) {
            self.enforce_budget(config, counters);
        }
        Ok(stream)
    }

    /// The stream under `key`, if it is live or lingering.
    pub(crate) fn get(&self, key: &str) -> Option<&Arc<Stream>> {
        self.streams.get(key).map(|held| &held.stream)
    }

    /// Every stream held.
    pub(crate) fn streams(&self) -> impl Iterator<Item = &Arc<Stream>> {
        self.streams.values().map(|held| &held.stream)
    }

    /// Notes that a viewer is attached to `stream`: it is watched.
    pub(crate) fn watched(&mut self, stream: &Stream) {
        if let Some(held) = self.streams.get_mut(&*stream.key) {
            held.unwatched_since = None;
        }
    }

    /// Notes that `stream`'s last viewer left at `now`: its abandon clock starts.
    pub(crate) fn unwatched(&mut self, stream: &Arc<Stream>, now: Instant, config: &ResumeConfig) {
        let Some(after) = config.abandon_after else {
            return;
        };
        let Some(held) = self.streams.get_mut(&*stream.key) else {
            return;
        };
        if !Arc::ptr_eq(&held.stream, stream) || stream.has_ended() {
            return;
        }
        held.unwatched_since = Some(now);
        if !std::mem::replace(&mut held.queued, true) {
            self.unwatched
                .insert((now + after, held.id), held.stream.key.clone());
        }
    }

    /// Ends the live stream under `key` for `reason`; whether there was one.
    pub(crate) fn cancel(
        &mut self,
        key: &str,
        reason: EndReason,
        now: Instant,
        config: &ResumeConfig,
        counters: &Counters,
    ) -> bool {
        let Some(stream) = self.get(key).cloned() else {
            return false;
        };
        let mut wakers = WakeList::default();
        let Some(mut more) = stream.end(reason, &mut wakers) else {
            return false;
        };
        wakers.wake_all();
        while more {
            more = stream.take_more_wakers(&mut wakers);
            wakers.wake_all();
        }
        self.ended(&stream, reason, now, config, counters);
        true
    }

    /// Moves a stream that just ended (its `end` returned `Some`) to the
    /// lingering ones, and counts it.
    pub(crate) fn ended(
        &mut self,
        stream: &Arc<Stream>,
        reason: EndReason,
        now: Instant,
        config: &ResumeConfig,
        counters: &Counters,
    ) {
        let Some(held) = self.streams.get(&*stream.key) else {
            return;
        };
        if !Arc::ptr_eq(&held.stream, stream) {
            return;
        }
        self.lingering
            .push_back((now + config.linger, stream.key.clone(), held.id));
        counters.live.fetch_sub(1, Relaxed);
        counters.lingering.fetch_add(1, Relaxed);
        let counter = match reason {
            EndReason::Done => &counters.finished,
            EndReason::Cancelled => &counters.cancelled,
            EndReason::Abandoned => &counters.abandoned,
        };
        Counters::add(counter, 1);
    }

    /// Drops the lingering streams whose linger is over and abandons the streams
    /// unwatched for [`ResumeConfig::abandon_after`]; returns when it next has
    /// something to do.
    pub(crate) fn expire(
        &mut self,
        now: Instant,
        config: &ResumeConfig,
        counters: &Counters,
    ) -> Option<Instant> {
        while let Some((&(at, id), _)) = self.unwatched.first_key_value() {
            if at > now {
                break;
            }
            let Some(key) = self.unwatched.remove(&(at, id)) else {
                break;
            };
            self.check_abandoned(&key, id, now, config, counters);
        }
        while let Some(&(at, ..)) = self.lingering.front() {
            if at > now {
                break;
            }
            if let Some((_, key, id)) = self.lingering.pop_front()
                && self.remove(&key, id, counters)
            {
                Counters::add(&counters.expired, 1);
            }
        }
        let linger = self.lingering.front().map(|&(at, ..)| at);
        let abandon = self.unwatched.first_key_value().map(|(&(at, _), _)| at);
        linger.into_iter().chain(abandon).min()
    }

    /// Abandons the stream `id` under `key` if it has been unwatched long enough;
    /// queues it again if it was watched meanwhile and is unwatched again.
    fn check_abandoned(
        &mut self,
        key: &Arc<str>,
        id: u64,
        now: Instant,
        config: &ResumeConfig,
        counters: &Counters,
    ) {
        let Some(after) = config.abandon_after else {
            return;
        };
        let Some(held) = self.streams.get_mut(key).filter(|held| held.id == id) else {
            return;
        };
        held.queued = false;
        let Some(since) = held.unwatched_since else {
            return;
        };
        if held.stream.has_ended() {
            return;
        }
        if since + after > now {
            held.queued = true;
            self.unwatched.insert((since + after, id), key.clone());
            return;
        }
        self.cancel(key, EndReason::Abandoned, now, config, counters);
    }

    /// Drops the ended stream `id` under `key`, and its messages (viewers still
    /// reading it get the resync event, then its end); whether it was held.
    fn remove(&mut self, key: &str, id: u64, counters: &Counters) -> bool {
        if self.streams.get(key).is_none_or(|held| held.id != id) {
            return false;
        }
        let Some(held) = self.streams.remove(key) else {
            return false;
        };
        let (freed, messages) = held.stream.shrink_to(0);
        Counters::add(&counters.messages_evicted, messages);
        counters.add_bytes(-((freed + ResumeConfig::STREAM_OVERHEAD) as isize));
        counters.lingering.fetch_sub(1, Relaxed);
        true
    }

    /// Brings the bytes held back under [`ResumeConfig::budget`]: the ended
    /// streams go first, those that ended first before the others; then the
    /// largest live streams lose their oldest messages, down to one level that
    /// leaves an eighth of the budget free, so this runs once per that many
    /// bytes appended rather than at each message.
    pub(crate) fn enforce_budget(&mut self, config: &ResumeConfig, counters: &Counters) {
        let budget = config.budget;
        while counters.bytes() > budget {
            let Some((_, key, id)) = self.lingering.pop_front() else {
                break;
            };
            if self.remove(&key, id, counters) {
                Counters::add(&counters.evicted, 1);
            }
        }
        if counters.bytes() > budget {
            let target = budget - budget / 8;
            let mut live: Vec<(usize, &Arc<Stream>)> = self
                .streams
                .values()
                .filter(|held| !held.stream.has_ended())
                .map(|held| (held.stream.cost(), &held.stream))
                .collect();
            live.sort_unstable_by_key(|&(cost, _)| std::cmp::Reverse(cost));
            let costs: Vec<usize> = live.iter().map(|(cost, _)| *cost).collect();
            let level = water_level(&costs, target).max(ResumeConfig::STREAM_OVERHEAD + 1);
            for (cost, stream) in live {
                if cost <= level {
                    break;
                }
                let (freed, messages) = stream.shrink_to(level);
                Counters::add(&counters.messages_evicted, messages);
                counters.add_bytes(-(freed as isize));
            }
        }
        let threshold = budget.max(counters.bytes().saturating_add(budget / 8));
        counters.threshold.store(threshold, Relaxed);
    }
}

/// The level `l` such that capping every cost of `costs` (largest first) at `l`
/// brings their sum to at most `target` (0 when even that cannot).
fn water_level(costs: &[usize], target: usize) -> usize {
    let mut rest: usize = costs.iter().sum();
    if rest <= target {
        return usize::MAX;
    }
    for (capped, &cost) in costs.iter().enumerate() {
        // The `capped` largest are at `cost` or above; `rest` is the sum of the others.
        rest -= cost;
        let above = capped + 1;
        let next = costs.get(above).copied().unwrap_or(0);
        // Capping the `above` largest at `next` sums to `rest + above * next`.
        if rest + above * next <= target {
            return (target - rest) / above;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_water_level_caps_the_largest_first() {
        assert_eq!(water_level(&[10, 5, 1], 100), usize::MAX);
        // 10 and 5 capped at 4: 4 + 4 + 1 = 9.
        assert_eq!(water_level(&[10, 5, 1], 9), 4);
        // Only 10 capped, at 7: 7 + 5 + 1 = 13.
        assert_eq!(water_level(&[10, 5, 1], 13), 7);
        assert_eq!(water_level(&[10, 10], 5), 2);
        assert_eq!(water_level(&[3], 0), 0);
    }
}
