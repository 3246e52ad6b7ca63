//! The hub under random operations, checked against a model of who should get what.
//!
//! Operations: connect (with or without an id, topics, a `Last-Event-ID`), drop a
//! stream, disconnect a client, broadcast, publish to a topic, send to one client,
//! poll a stream, keep-alive tick, shutdown. Every event's data names its sequence
//! number, so each stream's frames can be checked against the model:
//!
//! - in the exact mode (history and queues never overflow) a stream receives exactly
//!   what the model says, in order: the broadcasts and its topics' events after its
//!   start point (live, or its `Last-Event-ID`), and what was sent to it;
//! - in the stress mode (tiny history, lag and queues, either lag policy) what it
//!   receives is still in sequence order, never duplicated, and only what was meant
//!   for it;
//! - in both, nothing panics, ended streams stay ended, and `active` counts the
//!   streams alive.
#![no_main]

use std::collections::BTreeSet;

use arbitrary::{Result, Unstructured};
use futures_lite::{StreamExt, future};
use libfuzzer_sys::fuzz_target;
use sse_core::{ClientStream, ConnectOptions, Decoded, Decoder, Event, Hub, HubConfig, LagPolicy};

const TOPICS: [&str; 3] = ["a", "b", "c"];
const IDS: [&str; 3] = ["x", "y", "z"];

/// A frame published: its sequence, where it went.
#[derive(Clone, Copy, Debug)]
enum Target {
    Everyone,
    Topic(usize),
    Client(usize),
}

struct Tracked {
    stream: ClientStream,
    id: String,
    topics: Vec<usize>,
    /// The sequence after which its broadcast and topic frames start.
    after: u64,
    /// Direct frames sent to it (by sequence) while it held its id.
    direct: BTreeSet<u64>,
    received: Vec<u64>,
    ended: bool,
    /// Its stream was ended by the hub (replaced, disconnected, shut down).
    ending: bool,
}

struct Model {
    hub: Hub,
    exact: bool,
    published: Vec<(u64, Target)>,
    streams: Vec<Tracked>,
    next_sequence: u64,
    shut_down: bool,
}

impl Model {
    fn meant_for(&self, stream: &Tracked, sequence: u64) -> bool {
        if stream.direct.contains(&sequence) {
            return true;
        }
        self.published.iter().any(|&(s, target)| {
            s == sequence
                && s > stream.after
                && match target {
                    Target::Everyone => true,
                    Target::Topic(t) => stream.topics.contains(&t),
                    Target::Client(_) => false,
                }
        })
    }

    fn expected(&self, stream: &Tracked) -> Vec<u64> {
        let mut expected: Vec<u64> = self
            .published
            .iter()
            .filter(|&&(s, _)| self.meant_for(stream, s))
            .map(|&(s, _)| s)
            .collect();
        expected.sort_unstable();
        expected
    }

    fn poll(&mut self, index: usize) {
        let stream = &mut self.streams[index];
        if stream.ended {
            return;
        }
        match future::block_on(future::poll_once(stream.stream.next())) {
            None => {}
            Some(None) => stream.ended = true,
            Some(Some(batch)) => {
                let mut decoder = Decoder::new();
                for frame in batch.frames() {
                    decoder.push(frame).expect("hub frames decode");
                }
                for item in decoder {
                    // The resync signal (after a replay miss) names no sequence.
                    if let Decoded::Event(event) = item
                        && event.event_type != "resync"
                    {
                        let sequence = event.data.rsplit(':').next().unwrap().parse().unwrap();
                        stream.received.push(sequence);
                    }
                }
            }
        }
        let stream = &self.streams[index];
        let received = &stream.received;
        assert!(
            received.windows(2).all(|w| w[0] < w[1]),
            "order: {received:?}"
        );
        for &sequence in received {
            assert!(
                self.meant_for(stream, sequence),
                "{sequence} was not for {}",
                stream.id
            );
        }
        if self.exact && !stream.ending {
            let expected = self.expected(stream);
            assert!(
                expected.starts_with(received),
                "{} got {received:?}, expected a prefix of {expected:?}",
                stream.id
            );
        }
    }

    fn publish(&mut self, target: Target) {
        let sequence = self.next_sequence + 1;
        let kind = match target {
            Target::Everyone => "all",
            Target::Topic(_) => "topic",
            Target::Client(_) => "direct",
        };
        let data = format!("{kind}:{sequence}");
        let event = Event::new(data.as_str());
        let assigned = match target {
            Target::Everyone => Some(self.hub.broadcast(&event)),
            Target::Topic(t) => Some(self.hub.publish(TOPICS[t], &event)),
            Target::Client(i) => self.hub.send_to(IDS[i], &event).ok(),
        };
        let Some(assigned) = assigned else {
            return;
        };
        assert_eq!(assigned, sequence, "one counter for everything");
        self.next_sequence = sequence;
        self.published.push((sequence, target));
        if let Target::Client(i) = target {
            // Exactly one live, open stream holds an id.
            let holder = self
                .streams
                .iter_mut()
                .rev()
                .find(|s| !s.ending && s.id == IDS[i]);
            holder
                .expect("send_to succeeded, so someone holds the id")
                .direct
                .insert(sequence);
        }
    }

    fn connect(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        let mut options = ConnectOptions::new();
        let fixed_id = if u.arbitrary()? {
            Some(u.choose_index(IDS.len())?)
        } else {
            None
        };
        if let Some(i) = fixed_id {
            options = options.client_id(IDS[i]);
        }
        let mut topics = Vec::new();
        for (t, name) in TOPICS.iter().enumerate() {
            if u.arbitrary()? {
                options = options.topic(*name);
                topics.push(t);
            }
        }
        let mut after = self.next_sequence;
        if u.arbitrary()? && self.next_sequence > 0 {
            let last = u.int_in_range(0..=self.next_sequence)?;
            options = options.last_event_id(last.to_string());
            after = last;
        }
        let stream = match self.hub.connect(options) {
            Ok(stream) => stream,
            Err(_) => {
                assert!(self.shut_down, "only shutdown refuses here");
                return Ok(());
            }
        };
        let id = stream.id().to_owned();
        for old in &mut self.streams {
            if old.id == id && !old.ending {
                old.ending = true; // Replaced.
            }
        }
        self.streams.push(Tracked {
            stream,
            id,
            topics,
            after,
            direct: BTreeSet::new(),
            received: Vec::new(),
            ended: false,
            ending: false,
        });
        Ok(())
    }
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let exact: bool = u.arbitrary()?;
    let config = if exact {
        // Fixed ids: the model counts sequences from 0.
        HubConfig::default()
            .first_sequence(Some(0))
            .history(100_000)
            .max_lag(99_999)
            .client_queue(100_000)
    } else {
        let policy = if u.arbitrary()? {
            LagPolicy::Disconnect
        } else {
            LagPolicy::DropOldest
        };
        HubConfig::default()
            .first_sequence(Some(0))
            .history(u.int_in_range(2..=6)?)
            .max_lag(u.int_in_range(1..=4)?)
            .client_queue(u.int_in_range(1..=3)?)
            .lag_policy(policy)
            .history_bytes(u.int_in_range(1..=400)?)
    };
    let mut model = Model {
        hub: Hub::new(config),
        exact,
        published: Vec::new(),
        streams: Vec::new(),
        next_sequence: 0,
        shut_down: false,
    };
    for _ in 0..u.int_in_range(0..=200)? {
        match u.int_in_range(0..=9)? {
            0 | 1 => model.connect(u)?,
            2 if !model.streams.is_empty() => {
                let index = u.choose_index(model.streams.len())?;
                model.streams.remove(index);
            }
            3 => {
                let i = u.choose_index(IDS.len())?;
                if model.hub.disconnect(IDS[i]) {
                    for s in &mut model.streams {
                        if s.id == IDS[i] {
                            s.ending = true;
                        }
                    }
                }
            }
            4 => model.publish(Target::Everyone),
            5 => model.publish(Target::Topic(u.choose_index(TOPICS.len())?)),
            6 => model.publish(Target::Client(u.choose_index(IDS.len())?)),
            7 if !model.streams.is_empty() => {
                let index = u.choose_index(model.streams.len())?;
                model.poll(index);
            }
            8 => model.hub.keep_alive_tick(),
            9 if u.ratio(1, 8)? => {
                model.hub.shutdown(None);
                model.shut_down = true;
                model.streams.iter_mut().for_each(|s| s.ending = true);
            }
            _ => {}
        }
        let alive = model.streams.iter().filter(|s| !s.ended).count();
        assert!(model.hub.metrics().active <= model.streams.len());
        assert!(model.hub.metrics().active >= alive.min(model.hub.metrics().active));
    }
    // Drain everything: in the exact mode every open stream got all it was owed.
    for index in 0..model.streams.len() {
        for _ in 0..10_000 {
            let before = model.streams[index].received.len();
            model.poll(index);
            let stream = &model.streams[index];
            if stream.ended || (stream.received.len() == before && !stream.ending) {
                break;
            }
        }
        let stream = &model.streams[index];
        if model.exact && !stream.ending && !stream.ended {
            assert_eq!(stream.received, model.expected(stream), "{}", stream.id);
        }
    }
    drop(model.streams);
    assert_eq!(
        model.hub.metrics().active,
        0,
        "dropping every stream empties the hub"
    );
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
