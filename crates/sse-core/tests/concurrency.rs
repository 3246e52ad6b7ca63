//! The hub under real threads: publishers broadcast, publish to topics and send to
//! single clients while clients connect, read, drop their stream and reconnect with
//! the `Last-Event-ID` they last saw (or are replaced, lag behind and are cut off).
//!
//! Every client must end up with every broadcast and topic event it subscribes to
//! exactly once, in the hub's one order, across all its reconnects; frames sent to it
//! alone (live only) in order, without duplicates. Every wait is bounded: a client
//! left waiting with nothing to read fails the test instead of hanging it.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use futures_lite::Stream;
use sse_core::{
    Batch, ClientInfo, ClientStream, ConnectError, ConnectOptions, Decoded, Decoder,
    DisconnectReason, Event, Hooks, Hub, HubConfig, LagPolicy, SendError,
};

const ROUNDS: u64 = 20;
const CLIENTS: usize = 8;
/// Events each of the three publishers sends per round.
const EVENTS: usize = 1500;
/// The longest a client waits for a frame before the test fails.
const WAIT: Duration = Duration::from_secs(10);
/// The longest a client may take over a round.
const ROUND_LIMIT: Duration = Duration::from_secs(60);
/// The last broadcast of a round: a client has everything once it has this.
const END: &str = "end";

/// Counts connections and disconnects, as hooks see them.
#[derive(Clone, Default)]
struct Counts(Arc<[AtomicU64; 2]>);

impl Counts {
    fn connects(&self) -> u64 {
        self.0[0].load(SeqCst)
    }

    fn disconnects(&self) -> u64 {
        self.0[1].load(SeqCst)
    }
}

impl Hooks for Counts {
    fn on_connect(&self, _client: &ClientInfo, _active: usize) {
        self.0[0].fetch_add(1, SeqCst);
    }

    fn on_disconnect(&self, _client: &ClientInfo, _reason: DisconnectReason, _active: usize) {
        self.0[1].fetch_add(1, SeqCst);
    }
}

/// A waker that unparks the reading thread.
struct Unparker {
    thread: Thread,
    woken: AtomicBool,
}

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, SeqCst);
        self.thread.unpark();
    }
}

/// A client thread's way to wait for its stream.
struct Reader {
    unparker: Arc<Unparker>,
    waker: Waker,
}

impl Reader {
    fn new() -> Self {
        let unparker = Arc::new(Unparker {
            thread: thread::current(),
            woken: AtomicBool::new(false),
        });
        Reader {
            waker: Waker::from(unparker.clone()),
            unparker,
        }
    }

    /// The next batch, or `None` when the stream ended. Fails after [`WAIT`] without
    /// a frame, telling a lost wake-up (a poll now finds frames) from a lost frame.
    fn next(&self, stream: &mut ClientStream) -> Option<Batch> {
        let deadline = Instant::now() + WAIT;
        loop {
            self.unparker.woken.store(false, SeqCst);
            if let Poll::Ready(batch) = poll(stream, &self.waker) {
                return batch;
            }
            while !self.unparker.woken.load(SeqCst) {
                let now = Instant::now();
                if now >= deadline {
                    let diagnosis = match poll(stream, Waker::noop()) {
                        Poll::Ready(Some(_)) => "a lost wake-up: a poll now finds frames",
                        Poll::Ready(None) => "a lost wake-up: the stream has ended",
                        Poll::Pending => "a lost frame: nothing to read either",
                    };
                    panic!(
                        "{}: no frame and no wake for {WAIT:?}: {diagnosis}",
                        stream.id()
                    );
                }
                thread::park_timeout(deadline - now);
            }
        }
    }
}

fn poll(stream: &mut ClientStream, waker: &Waker) -> Poll<Option<Batch>> {
    Pin::new(stream).poll_next(&mut Context::from_waker(waker))
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// Who a client is.
#[derive(Clone, Debug)]
struct Spec {
    id: Option<String>,
    topics: Vec<&'static str>,
}

fn spec(index: usize) -> Spec {
    Spec {
        // Even clients have a fixed id, and get frames sent to them alone.
        id: index.is_multiple_of(2).then(|| format!("c{index}")),
        topics: match index % 4 {
            0 => vec![],
            1 => vec!["a"],
            2 => vec!["b"],
            _ => vec!["a", "b"],
        },
    }
}

/// What one client received over a round, across its connections.
#[derive(Debug, Default)]
struct Received {
    /// Broadcast and topic events: their id (the sequence) and data.
    logged: Vec<(u64, String)>,
    /// Frames sent to it alone (data), and the index in `logged` they came before.
    direct: Vec<(usize, String)>,
    connections: u64,
    ended_by_hub: u64,
    replaced: u64,
}

/// Connects `spec`, resuming after `last_event_id` if given.
fn connect(hub: &Hub, spec: &Spec, last_event_id: Option<&str>) -> ClientStream {
    try_connect(hub, spec, last_event_id).expect("connects")
}

fn try_connect(
    hub: &Hub,
    spec: &Spec,
    last_event_id: Option<&str>,
) -> Result<ClientStream, ConnectError> {
    let mut options = ConnectOptions::new();
    if let Some(id) = &spec.id {
        options = options.client_id(id);
    }
    for topic in &spec.topics {
        options = options.topic(*topic);
    }
    if let Some(last) = last_event_id {
        options = options.last_event_id(last);
    }
    hub.connect(options)
}

/// A client's life over a round: connected before anything is published (`ready`),
/// it reads a few batches, reconnects, and so on until it has the end event.
fn client(hub: &Hub, spec: &Spec, seed: u64, ready: &Barrier) -> Received {
    let reader = Reader::new();
    let mut rng = Rng::new(seed);
    let mut received = Received::default();
    // Connected before the first event: resuming after the first sequence (the
    // hub's "nothing yet") is right until it has seen an event.
    let first_sequence = hub
        .config()
        .first_sequence
        .expect("taken when the hub is made");
    let mut last_event_id = first_sequence.to_string();
    let first = try_connect(hub, spec, None);
    // Wait even if it failed, so publishers never wait for it forever.
    ready.wait();
    let mut stream = first.expect("connects");
    received.connections += 1;
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < ROUND_LIMIT, "{spec:?} takes too long");
        let mut decoder = Decoder::new();
        for _ in 0..=rng.below(8) {
            let Some(batch) = reader.next(&mut stream) else {
                // Lagged, or its queue was full: reconnecting fills the gap.
                received.ended_by_hub += 1;
                break;
            };
            for frame in batch.frames() {
                decoder.push(frame).expect("a valid frame");
            }
            for item in decoder.by_ref() {
                let Decoded::Event(event) = item else {
                    panic!("unexpected {item:?}");
                };
                assert_eq!(event.event_type, "message", "{event:?}: replay missed?");
                if event.data.starts_with("d-") {
                    received.direct.push((received.logged.len(), event.data));
                    continue;
                }
                let sequence = event.last_event_id.parse().expect("an automatic id");
                last_event_id = event.last_event_id;
                let end = event.data == END;
                received.logged.push((sequence, event.data));
                if end {
                    return received;
                }
            }
        }
        // Reconnect: drop the stream first, or (with a fixed id) let the new
        // connection replace it.
        if spec.id.is_some() && rng.below(3) == 0 {
            let mut old = std::mem::replace(&mut stream, connect(hub, spec, Some(&last_event_id)));
            assert!(
                matches!(poll(&mut old, Waker::noop()), Poll::Ready(None)),
                "a replaced stream ends"
            );
            received.replaced += 1;
        } else {
            drop(stream);
            stream = connect(hub, spec, Some(&last_event_id));
        }
        received.connections += 1;
    }
}

/// What the publishers published in a round.
#[derive(Debug, Default)]
struct Published {
    /// Sequence and data of every broadcast.
    broadcast: Vec<(u64, String)>,
    /// Per topic.
    topics: HashMap<&'static str, Vec<(u64, String)>>,
    /// Per client id, the data of every frame queued for it, and its sequence.
    direct: HashMap<String, HashMap<String, u64>>,
}

fn pace(index: usize) {
    if index % 30 == 29 {
        thread::sleep(Duration::from_millis(1));
    }
}

fn round(round: u64, totals: &mut [u64; 6]) {
    let counts = Counts::default();
    // Odd rounds cut slow clients off sooner: more lag disconnects and full queues.
    let (max_lag, client_queue) = if round.is_multiple_of(2) {
        (200, 16)
    } else {
        (8, 2)
    };
    let config = HubConfig::default()
        .history(100_000)
        .max_lag(max_lag)
        .client_queue(client_queue)
        .keep_alive(None);
    let hub = Hub::with_hooks(config, counts.clone());
    let specs: Vec<Spec> = (0..CLIENTS).map(spec).collect();

    // Clients connect, then publishers start.
    let ready = Arc::new(Barrier::new(CLIENTS + 3));
    let clients: Vec<_> = specs
        .iter()
        .enumerate()
        .map(|(index, spec)| {
            let (hub, spec, ready) = (hub.clone(), spec.clone(), ready.clone());
            let seed = round * 100 + index as u64;
            thread::spawn(move || client(&hub, &spec, seed, &ready))
        })
        .collect();

    let broadcaster = {
        let (hub, ready) = (hub.clone(), ready.clone());
        thread::spawn(move || {
            ready.wait();
            (0..EVENTS)
                .map(|i| {
                    let data = format!("g-{i}");
                    pace(i);
                    (hub.broadcast(&Event::new(&data)), data)
                })
                .collect::<Vec<_>>()
        })
    };
    let topic_publisher = {
        let (hub, ready) = (hub.clone(), ready.clone());
        thread::spawn(move || {
            ready.wait();
            let mut topics: HashMap<&'static str, Vec<(u64, String)>> = HashMap::new();
            for i in 0..EVENTS {
                let topic = if i.is_multiple_of(3) { "b" } else { "a" };
                let data = format!("{topic}-{i}");
                pace(i);
                let sequence = hub.publish(topic, &Event::new(&data));
                topics.entry(topic).or_default().push((sequence, data));
            }
            topics
        })
    };
    let sender = {
        let (hub, ready) = (hub.clone(), ready.clone());
        thread::spawn(move || {
            ready.wait();
            let mut direct: HashMap<String, HashMap<String, u64>> = HashMap::new();
            for i in 0..EVENTS {
                // Odd ids are never connected: those sends fail.
                let id = format!("c{}", i % CLIENTS);
                let data = format!("d-{id}-{i}");
                pace(i);
                match hub.send_to(&id, &Event::new(&data)) {
                    Ok(sequence) => {
                        direct.entry(id).or_default().insert(data, sequence);
                    }
                    Err(SendError::UnknownClient | SendError::QueueFull) => {}
                    Err(error) => panic!("send_to {id}: {error}"),
                }
            }
            direct
        })
    };

    let broadcast = broadcaster.join();
    let topics = topic_publisher.join();
    let direct = sender.join();
    let end = hub.broadcast(&Event::new(END));
    let received: Vec<Received> = clients
        .into_iter()
        .map(|client| client.join().expect("a client"))
        .collect();
    let mut published = Published {
        broadcast: broadcast.expect("the broadcaster"),
        topics: topics.expect("the topic publisher"),
        direct: direct.expect("the sender"),
    };
    published.broadcast.push((end, END.into()));

    for (spec, received) in specs.iter().zip(&received) {
        check(&published, spec, received);
    }

    let metrics = hub.metrics();
    assert_eq!(metrics.active, 0);
    assert!(hub.client_ids().is_empty());
    assert_eq!(
        metrics.connects,
        received.iter().map(|r| r.connections).sum::<u64>()
    );
    assert_eq!(metrics.disconnects, metrics.connects);
    assert_eq!(
        (counts.connects(), counts.disconnects()),
        (metrics.connects, metrics.connects)
    );
    assert_eq!(metrics.replay_misses, 0);
    totals[0] += metrics.connects;
    totals[1] += metrics.replays;
    totals[2] += metrics.lag_disconnects;
    totals[3] += received.iter().map(|r| r.direct.len() as u64).sum::<u64>();
    totals[4] += received.iter().map(|r| r.ended_by_hub).sum::<u64>();
    totals[5] += received.iter().map(|r| r.replaced).sum::<u64>();
}

fn check(published: &Published, spec: &Spec, received: &Received) {
    let who = spec.id.as_deref().unwrap_or("a generated id");
    // Everything this client subscribes to, in the hub's order.
    let mut expected: Vec<&(u64, String)> = published.broadcast.iter().collect();
    for topic in &spec.topics {
        expected.extend(&published.topics[topic]);
    }
    expected.sort_by_key(|(sequence, _)| *sequence);
    let sequence_of: HashMap<&str, u64> = expected
        .iter()
        .map(|(sequence, data)| (data.as_str(), *sequence))
        .collect();

    // Each event under the id the hub gave it, and only events subscribed to.
    for (sequence, data) in &received.logged {
        assert_eq!(
            sequence_of.get(data.as_str()),
            Some(sequence),
            "{who} ({:?}) got {data} with id {sequence}",
            spec.topics
        );
    }
    // Every one, once, in order, across reconnects (it connected before the first).
    let expected: Vec<u64> = expected.iter().map(|(sequence, _)| *sequence).collect();
    let got: Vec<u64> = received.logged.iter().map(|(s, _)| *s).collect();
    if got != expected {
        let gap = got.iter().zip(&expected).position(|(g, e)| g != e);
        panic!(
            "{who} ({:?}), {} connections: got {} events, expected {}; first difference \
             at {gap:?}: got {:?}, expected {:?}",
            spec.topics,
            received.connections,
            got.len(),
            expected.len(),
            gap.map(|i| &got[i.saturating_sub(2)..(i + 3).min(got.len())]),
            gap.map(|i| &expected[i.saturating_sub(2)..(i + 3).min(expected.len())]),
        );
    }

    // Frames sent to it alone: only its own, in order, once, and in the same one order
    // as everything else (so every client sees the hub's one total order).
    let none = HashMap::new();
    let sent = spec
        .id
        .as_ref()
        .and_then(|id| published.direct.get(id))
        .unwrap_or(&none);
    let mut previous = 0;
    let mut direct = received.direct.iter().peekable();
    for (index, &(sequence, _)) in received.logged.iter().enumerate() {
        while let Some((_, data)) = direct.next_if(|(before, _)| *before == index) {
            let direct_sequence = *sent
                .get(data)
                .unwrap_or_else(|| panic!("{who} got {data}, not sent to it"));
            assert!(previous < direct_sequence, "{who}: {data} out of order");
            previous = direct_sequence;
        }
        assert!(previous < sequence, "{who}: event {sequence} out of order");
        previous = sequence;
    }
    assert!(direct.next().is_none(), "{who}: a frame after the end");
}

#[test]
fn publishers_and_reconnecting_clients_agree_on_one_order() {
    let started = Instant::now();
    let mut totals = [0; 6];
    for number in 0..ROUNDS {
        round(number, &mut totals);
    }
    let [connects, replays, lag_disconnects, direct, ended, replaced] = totals;
    eprintln!(
        "{ROUNDS} rounds in {:?}: {connects} connections, {replays} replays, \
         {replaced} replaced, {ended} ended by the hub ({lag_disconnects} for lag), \
         {direct} direct frames received",
        started.elapsed()
    );
}

/// More readers wait than the hub wakes in one go (it collects wakers 32 at a time):
/// every one is woken.
#[test]
fn a_broadcast_wakes_every_waiting_reader() {
    struct Count(AtomicU64);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    let hub = Hub::new(HubConfig::default().keep_alive(None));
    let count = Arc::new(Count(AtomicU64::new(0)));
    let waker = Waker::from(count.clone());
    let topic_waker = Waker::from(Arc::new(Count(AtomicU64::new(0))));
    let mut streams: Vec<ClientStream> = (0..100)
        .map(|i| {
            let options = ConnectOptions::new().topic(if i % 2 == 0 { "a" } else { "b" });
            hub.connect(options).expect("connects")
        })
        .collect();
    for stream in &mut streams {
        let checkpoint = poll(stream, &waker);
        assert!(
            matches!(checkpoint, Poll::Ready(Some(_))),
            "the opening checkpoint"
        );
        assert!(poll(stream, &waker).is_pending());
    }
    hub.publish("a", &Event::new("to a"));
    hub.broadcast(&Event::new("to all"));
    // 50 woken by the topic, the other 50 by the broadcast.
    assert_eq!(count.0.load(SeqCst), 100);
    for stream in &mut streams {
        assert!(matches!(poll(stream, &topic_waker), Poll::Ready(Some(_))));
        assert!(poll(stream, &topic_waker).is_pending());
    }
    hub.broadcast(&Event::new("again"));
    assert_eq!(count.0.load(SeqCst), 100, "the old waker is not woken");
    for stream in &mut streams {
        assert!(matches!(poll(stream, &topic_waker), Poll::Ready(Some(_))));
    }
}

/// Large frames are freed as their entry leaves a short history, unless a batch still
/// shares their chunk: readers on other threads that hold their batches a while
/// still read every frame whole, in order, while the publisher evicts.
#[test]
fn large_frames_evicted_while_readers_hold_them_stay_whole() {
    const EVENTS: u64 = 20_000;
    let hub = Hub::new(
        HubConfig::default()
            .history(16)
            .max_lag(15)
            .lag_policy(LagPolicy::DropOldest)
            .keep_alive(None),
    );
    // Over the size that is freed at eviction, each event's number repeated.
    let data = |n: u64| format!("{n:08}").repeat(200);
    let readers: Vec<_> = (0..3)
        .map(|reader| {
            let mut stream = hub.connect(ConnectOptions::new()).expect("connects");
            thread::spawn(move || {
                let mut cx = Context::from_waker(Waker::noop());
                let (mut last, mut frames) = (0, 0);
                let deadline = Instant::now() + ROUND_LIMIT;
                while last < EVENTS {
                    assert!(Instant::now() < deadline, "reader {reader} is stuck");
                    let batch = match Pin::new(&mut stream).poll_next(&mut cx) {
                        Poll::Ready(Some(batch)) => batch,
                        Poll::Ready(None) => panic!("reader {reader}'s stream ended"),
                        Poll::Pending => {
                            thread::yield_now();
                            continue;
                        }
                    };
                    // Hold the batch while the publisher moves on.
                    if frames % 7 == 0 {
                        thread::sleep(Duration::from_micros(50));
                    }
                    for frame in batch.frames() {
                        let text = std::str::from_utf8(frame).expect("utf-8");
                        if frames == 0 && text.starts_with("id: ") {
                            continue; // The opening checkpoint.
                        }
                        let payload = text
                            .strip_prefix("data: ")
                            .and_then(|rest| rest.split('\n').next())
                            .unwrap_or_else(|| panic!("a whole frame, got {text:.40}"));
                        let n: u64 = payload[..8].parse().expect("a number");
                        assert_eq!(payload, data(n), "frame {n} is intact");
                        assert!(n > last, "in order: {n} after {last}");
                        (last, frames) = (n, frames + 1);
                    }
                }
                frames
            })
        })
        .collect();
    for n in 1..=EVENTS {
        hub.broadcast(&Event::new(data(n)));
    }
    for reader in readers {
        let frames = reader.join().expect("the reader read every frame whole");
        assert!(frames > 0);
    }
}
