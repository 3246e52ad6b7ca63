//! Model checks of the hub's lock, wake-ups and removal with loom: every interleaving
//! of a reader registering its waker and publishers waking it, and of a stream going
//! away while others publish to it, disconnect or replace it.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p sse-core --test loom --release
//! ```
//!
//! Every model is explored exhaustively but the largest, explored up to 4 preemptions;
//! `LOOM_MAX_PREEMPTIONS` sets a bound for all.
#![cfg(loom)]

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_lite::Stream;
use loom::sync::atomic::AtomicUsize;
use loom::sync::atomic::Ordering::SeqCst;
use loom::thread;
use sse_core::{
    Batch, ClientInfo, ClientStream, ConnectOptions, Decoded, Decoder, DisconnectReason, Event,
    Hooks, Hub, HubConfig, LagPolicy, SendError,
};

/// Runs `f` under every interleaving loom explores: all of them, or with
/// `Some(bound)` those with at most `bound` preemptions (for the larger models).
/// `LOOM_MAX_PREEMPTIONS` overrides both.
fn model_bounded(bound: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = bound;
    }
    builder.check(f);
}

/// Runs `f` under every interleaving.
fn model(f: impl Fn() + Sync + Send + 'static) {
    model_bounded(None, f);
}

/// Keep-alive off, and ids from 0 (the models resume from ids they count).
fn config() -> HubConfig {
    HubConfig::default()
        .keep_alive(None)
        .first_sequence(Some(0))
}

/// A waker that counts its wakes.
struct Flag {
    wakes: AtomicUsize,
}

impl Flag {
    fn new() -> Arc<Self> {
        Arc::new(Flag {
            wakes: AtomicUsize::new(0),
        })
    }

    fn wakes(&self) -> usize {
        self.wakes.load(SeqCst)
    }
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
    }
}

/// The `(data, last event id)` of every event in a batch.
fn events(batch: &Batch) -> Vec<(String, String)> {
    let mut decoder = Decoder::new();
    for frame in batch.frames() {
        decoder.push(frame).expect("a valid frame");
    }
    decoder
        .filter_map(|item| match item {
            Decoded::Event(event) => Some((event.data, event.last_event_id)),
            _ => None,
        })
        .collect()
}

/// Takes what every new stream opens with, before the model's threads start: a
/// batch with no event (its checkpoint, an id-only frame).
trait Opened {
    fn opened(self) -> Self;
}

impl Opened for ClientStream {
    fn opened(mut self) -> Self {
        match poll(&mut self, Waker::noop()) {
            Poll::Ready(Some(batch)) => assert_eq!(events(&batch), [], "only the checkpoint"),
            other => panic!("a new stream opens with its checkpoint, not {other:?}"),
        }
        self
    }
}

fn poll(stream: &mut ClientStream, waker: &Waker) -> Poll<Option<Batch>> {
    Pin::new(stream).poll_next(&mut Context::from_waker(waker))
}

fn is_pending(stream: &mut ClientStream) -> bool {
    poll(stream, Waker::noop()).is_pending()
}

/// Hooks that count disconnects.
#[derive(Clone)]
struct Disconnects(Arc<AtomicUsize>);

impl Disconnects {
    fn new() -> Self {
        Disconnects(Arc::new(AtomicUsize::new(0)))
    }

    fn count(&self) -> usize {
        self.0.load(SeqCst)
    }
}

impl Hooks for Disconnects {
    fn on_disconnect(&self, _client: &ClientInfo, _reason: DisconnectReason, _active: usize) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// (a) A reader polls while a broadcast happens: either its poll takes the frame, or
/// it returned `Pending` and the broadcast woke it, and the next poll takes it.
#[test]
fn no_lost_wake_up() {
    model(|| {
        let hub = Hub::new(config());
        let mut stream = hub
            .connect(ConnectOptions::new())
            .expect("connects")
            .opened();
        let publisher = {
            let hub = hub.clone();
            thread::spawn(move || hub.broadcast(&Event::new("x")))
        };
        let flag = Flag::new();
        let waker = Waker::from(flag.clone());
        let first = poll(&mut stream, &waker);
        let sequence = publisher.join().expect("the publisher");
        let batch = match first {
            Poll::Ready(batch) => batch.expect("the stream goes on"),
            Poll::Pending => {
                assert_eq!(
                    flag.wakes(),
                    1,
                    "pending, and the broadcast did not wake it"
                );
                match poll(&mut stream, &waker) {
                    Poll::Ready(Some(batch)) => batch,
                    other => panic!("woken, then {other:?}"),
                }
            }
        };
        assert_eq!(events(&batch), [("x".into(), sequence.to_string())]);
        assert!(is_pending(&mut stream));
    });
}

/// (a) The same when the reader waits on a topic and polls again with a new waker
/// (a task that moved) while the event is published: the newest waker is woken.
#[test]
fn no_lost_wake_up_with_a_new_waker() {
    model(|| {
        let hub = Hub::new(config());
        let mut stream = hub
            .connect(ConnectOptions::new().topic("a"))
            .expect("connects")
            .opened();
        let old = Flag::new();
        assert!(poll(&mut stream, &Waker::from(old.clone())).is_pending());
        let publisher = {
            let hub = hub.clone();
            thread::spawn(move || hub.publish("a", &Event::new("t")))
        };
        let new = Flag::new();
        let waker = Waker::from(new.clone());
        let first = poll(&mut stream, &waker);
        let sequence = publisher.join().expect("the publisher");
        let batch = match first {
            Poll::Ready(batch) => batch.expect("the stream goes on"),
            Poll::Pending => {
                assert_eq!(
                    new.wakes(),
                    1,
                    "pending, and the newest waker was not woken"
                );
                match poll(&mut stream, &waker) {
                    Poll::Ready(Some(batch)) => batch,
                    other => panic!("woken, then {other:?}"),
                }
            }
        };
        assert_eq!(events(&batch), [("t".into(), sequence.to_string())]);
        assert!(is_pending(&mut stream));
    });
}

/// A waker that unparks a loom thread.
struct Unparker(thread::Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Reads, parking the loom thread while the stream is pending (a lost wake-up is a
/// deadlock, which loom reports), until `count` events arrived; returns their data
/// and ids.
fn read_events(stream: &mut ClientStream, count: usize) -> Vec<(String, String)> {
    let waker = Waker::from(Arc::new(Unparker(thread::current())));
    let mut seen = Vec::new();
    while seen.len() < count {
        match poll(stream, &waker) {
            Poll::Ready(batch) => seen.extend(events(&batch.expect("the stream goes on"))),
            Poll::Pending => thread::park(),
        }
    }
    seen
}

/// (b) A broadcast and a topic publish race; the reader, subscribed to the topic,
/// gets both, once each, in sequence order.
#[test]
fn two_publishers_one_order() {
    model(|| {
        let hub = Hub::new(config());
        let mut stream = hub
            .connect(ConnectOptions::new().topic("a"))
            .expect("connects")
            .opened();
        let broadcaster = {
            let hub = hub.clone();
            thread::spawn(move || hub.broadcast(&Event::new("g")))
        };
        let topic_publisher = {
            let hub = hub.clone();
            thread::spawn(move || hub.publish("a", &Event::new("t")))
        };
        let seen = read_events(&mut stream, 2);
        let g = broadcaster.join().expect("the broadcaster");
        let t = topic_publisher.join().expect("the topic publisher");
        let mut expected = [("g".to_string(), g), ("t".to_string(), t)];
        expected.sort_by_key(|(_, sequence)| *sequence);
        let expected = expected.map(|(data, sequence)| (data, sequence.to_string()));
        assert_eq!(seen, expected);
        assert!(is_pending(&mut stream));
    });
}

/// (b) A broadcast and a frame sent to the reader alone race: both arrive, once
/// each, in sequence order.
#[test]
fn broadcast_and_send_to_one_order() {
    model(|| {
        let hub = Hub::new(config());
        let mut stream = hub
            .connect(ConnectOptions::new().client_id("c"))
            .expect("connects")
            .opened();
        let broadcaster = {
            let hub = hub.clone();
            thread::spawn(move || hub.broadcast(&Event::new("g")))
        };
        let sender = {
            let hub = hub.clone();
            thread::spawn(move || hub.send_to("c", &Event::new("d")).expect("c is connected"))
        };
        let seen: Vec<String> = read_events(&mut stream, 2)
            .into_iter()
            .map(|(data, _)| data)
            .collect();
        let g = broadcaster.join().expect("the broadcaster");
        let d = sender.join().expect("the sender");
        let expected = if g < d { ["g", "d"] } else { ["d", "g"] };
        assert_eq!(seen, expected);
        assert!(is_pending(&mut stream));
    });
}

/// (b) Three publishers race, one event each, two of them to a topic's log and to
/// the reader's own queue; it reads while they publish, and gets all three, once
/// each, in sequence order.
#[test]
fn three_sources_one_order() {
    // Exhaustive takes minutes; 4 preemptions, seconds.
    model_bounded(Some(4), || {
        let hub = Hub::new(config());
        let mut stream = hub
            .connect(ConnectOptions::new().client_id("c").topic("a"))
            .expect("connects")
            .opened();
        let publishers = [
            {
                let hub = hub.clone();
                thread::spawn(move || hub.broadcast(&Event::new("g")))
            },
            {
                let hub = hub.clone();
                thread::spawn(move || hub.publish("a", &Event::new("t")))
            },
            {
                let hub = hub.clone();
                thread::spawn(move || hub.send_to("c", &Event::new("d")).expect("c is connected"))
            },
        ];
        let seen: Vec<String> = read_events(&mut stream, 3)
            .into_iter()
            .map(|(data, _)| data)
            .collect();
        let mut expected: Vec<(u64, &str)> = publishers
            .into_iter()
            .map(|publisher| publisher.join().expect("a publisher"))
            .zip(["g", "t", "d"])
            .collect();
        expected.sort_unstable();
        let expected: Vec<&str> = expected.into_iter().map(|(_, data)| data).collect();
        assert_eq!(seen, expected);
        assert!(is_pending(&mut stream));
    });
}

/// (b) A reader too slow for `max_lag` is cut off while a publisher goes on; it
/// reconnects with the last id it saw, and replay, racing the publisher, fills the
/// gap: every event once, in order.
#[test]
fn lagged_reader_resumes_without_gap_or_duplicate() {
    model(|| {
        let hub = Hub::new(config().history(3).max_lag(1));
        let mut stream = hub
            .connect(ConnectOptions::new())
            .expect("connects")
            .opened();
        let publisher = {
            let hub = hub.clone();
            thread::spawn(move || ["1", "2", "3"].map(|data| hub.broadcast(&Event::new(data))))
        };
        let waker = Waker::from(Arc::new(Unparker(thread::current())));
        let mut seen: Vec<(String, String)> = Vec::new();
        while seen.len() < 3 {
            match poll(&mut stream, &waker) {
                Poll::Ready(Some(batch)) => seen.extend(events(&batch)),
                Poll::Ready(None) => {
                    let last = seen.last().map_or("0", |(_, id)| id.as_str());
                    let options = ConnectOptions::new().last_event_id(last);
                    stream = hub.connect(options).expect("reconnects");
                }
                Poll::Pending => thread::park(),
            }
        }
        let sequences = publisher.join().expect("the publisher");
        let expected: Vec<(String, String)> = ["1", "2", "3"]
            .iter()
            .zip(sequences)
            .map(|(data, sequence)| (data.to_string(), sequence.to_string()))
            .collect();
        assert_eq!(seen, expected);
        assert_eq!(hub.metrics().replay_misses, 0);
        assert!(is_pending(&mut stream));
    });
}

/// (e) `hub/chunk.rs`, the crate's one `unsafe` module, under loom's cells and
/// atomics: a reader holds a run of a chunk (its batch) and reads it on its thread
/// while a publisher fills the same chunk and evicts its oldest frames, which are
/// large, so the log frees them at once whenever no batch shares the chunk. Loom
/// checks every interleaving: no slot is read while written or after it is freed,
/// and the run reads whole.
#[test]
fn a_held_run_reads_whole_while_its_chunk_fills_and_evicts() {
    model_bounded(Some(3), || {
        let large = |tag: char| tag.to_string().repeat(1100);
        // Skipped ahead rather than ended when the publisher gets there first.
        let config = config()
            .history(2)
            .max_lag(1)
            .lag_policy(LagPolicy::DropOldest);
        let hub = Hub::new(config);
        let mut stream = hub
            .connect(ConnectOptions::new())
            .expect("connects")
            .opened();
        hub.broadcast(&Event::new(large('a')));
        let publisher = {
            let hub = hub.clone();
            thread::spawn(move || {
                hub.broadcast(&Event::new(large('b')));
                hub.broadcast(&Event::new(large('c')));
            })
        };
        let Poll::Ready(Some(batch)) = poll(&mut stream, Waker::noop()) else {
            panic!("the first event is ready");
        };
        let seen = events(&batch);
        drop(batch);
        assert!(!seen.is_empty());
        let mut last = 0;
        for (data, id) in seen {
            let id: usize = id.parse().expect("a sequence");
            assert!(id > last, "in order");
            assert_eq!(data, large(['a', 'b', 'c'][id - 1]), "event {id} whole");
            last = id;
        }
        publisher.join().expect("the publisher");
    });
}

/// The end state of every race in (c): the hooks ran `expected` times, nobody is
/// counted, and the id reaches nobody.
fn assert_all_gone(hub: &Hub, hooks: &Disconnects, expected: usize) {
    assert_eq!(hooks.count(), expected, "disconnect hooks");
    assert_eq!(hub.metrics().active, 0);
    assert_eq!(hub.metrics().disconnects, expected as u64);
    assert!(hub.client("c").is_none());
    assert_eq!(
        hub.send_to("c", &Event::new("late")),
        Err(SendError::UnknownClient)
    );
}

/// (c) A waiting stream is dropped while a broadcast and a send to it happen.
#[test]
fn drop_races_broadcast_and_send_to() {
    model(|| {
        let hooks = Disconnects::new();
        let hub = Hub::with_hooks(config(), hooks.clone());
        let mut stream = hub
            .connect(ConnectOptions::new().client_id("c"))
            .expect("connects")
            .opened();
        let flag = Flag::new();
        assert!(poll(&mut stream, &Waker::from(flag)).is_pending());
        let dropper = thread::spawn(move || drop(stream));
        let publisher = {
            let hub = hub.clone();
            thread::spawn(move || {
                hub.broadcast(&Event::new("g"));
                match hub.send_to("c", &Event::new("d")) {
                    Ok(_) | Err(SendError::UnknownClient) => {}
                    Err(error) => panic!("send_to: {error:?}"),
                }
            })
        };
        dropper.join().expect("the dropper");
        publisher.join().expect("the publisher");
        assert_all_gone(&hub, &hooks, 1);
    });
}

/// (c) A stream polls, then is dropped, while the application disconnects it.
#[test]
fn drop_races_disconnect() {
    model(|| {
        let hooks = Disconnects::new();
        let hub = Hub::with_hooks(config(), hooks.clone());
        let mut stream = hub
            .connect(ConnectOptions::new().client_id("c"))
            .expect("connects")
            .opened();
        let reader = thread::spawn(move || {
            match poll(&mut stream, Waker::noop()) {
                Poll::Pending | Poll::Ready(None) => {}
                Poll::Ready(Some(batch)) => panic!("nothing was sent, got {batch:?}"),
            }
            drop(stream);
        });
        let disconnector = {
            let hub = hub.clone();
            thread::spawn(move || {
                hub.disconnect("c");
            })
        };
        reader.join().expect("the reader");
        disconnector.join().expect("the disconnector");
        assert_all_gone(&hub, &hooks, 1);
    });
}

/// (c) A stream polls, then is dropped, while a new connection takes its id (and is
/// dropped in turn): one hook per connection.
#[test]
fn drop_races_replacement() {
    model(|| {
        let hooks = Disconnects::new();
        let hub = Hub::with_hooks(config(), hooks.clone());
        let mut stream = hub
            .connect(ConnectOptions::new().client_id("c"))
            .expect("connects")
            .opened();
        let reader = thread::spawn(move || {
            match poll(&mut stream, Waker::noop()) {
                Poll::Pending | Poll::Ready(None) => {}
                Poll::Ready(Some(batch)) => panic!("nothing was sent, got {batch:?}"),
            }
            drop(stream);
        });
        let replacer = {
            let hub = hub.clone();
            thread::spawn(move || {
                let stream = hub.connect(ConnectOptions::new().client_id("c"));
                drop(stream.expect("replaces"));
            })
        };
        reader.join().expect("the reader");
        replacer.join().expect("the replacer");
        assert_all_gone(&hub, &hooks, 2);
    });
}

/// (c) A waiting stream is dropped while the hub shuts down.
#[test]
fn drop_races_shutdown() {
    model(|| {
        let hooks = Disconnects::new();
        let hub = Hub::with_hooks(config(), hooks.clone());
        let mut stream = hub
            .connect(ConnectOptions::new().client_id("c"))
            .expect("connects")
            .opened();
        assert!(is_pending(&mut stream));
        let dropper = thread::spawn(move || drop(stream));
        let stopper = {
            let hub = hub.clone();
            thread::spawn(move || hub.shutdown(None))
        };
        dropper.join().expect("the dropper");
        stopper.join().expect("the stopper");
        assert_eq!(hooks.count(), 1, "disconnect hooks");
        assert_eq!(hub.metrics().active, 0);
        assert!(hub.client("c").is_none());
    });
}
