//! What the hub and the decoder allocate, counted by a counting global allocator.
//!
//! `allocation-counter` installs a global allocator that counts, per thread, the
//! allocations made inside [`measure`] (and the bytes still live when it returns), so
//! the tests here can run in parallel and see only their own allocations. The hub does
//! all its work on the calling thread (publishing, waking, reading), so nothing it
//! allocates escapes the count.
//!
//! What the design asks for (the figures in the README), each proved here:
//!
//! - broadcasting M events to N clients that drain them allocates O(M), not O(N*M):
//!   the same count for 10 and for 1 000 clients, a small constant per event (the
//!   frame's buffer, and a history chunk per 16 events), after a warm-up that lets
//!   the log, the waiting list and the registry reach their steady capacity;
//! - a stream that waits (is polled to `Pending`, over and over, with a real waker)
//!   allocates nothing;
//! - the hub's own state per idle client is under 1 KiB;
//! - connecting and disconnecting 10 000 clients leaves no growth;
//! - decoding allocates only what it hands out: an event's data, once however many
//!   lines it has, and its id;
//! - a per-request stream (a channel into a `ResponseStream`) allocates nothing per
//!   token beyond the token's own data, once its buffer is warm, and nothing per
//!   chunk either when the writer holds several chunks before it flushes.
//!
//! The figures are printed; `cargo test -p sse-core --test allocations -- --nocapture`
//! shows them.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use allocation_counter::{AllocationInfo, measure};
use futures_lite::Stream;
use sse_core::{
    ClientStream, ConnectOptions, Decoded, Decoder, Event, Hub, HubConfig, ResponseStream, channel,
};

/// A real waker (an `Arc` inside, so cloning it is a reference count) that counts
/// its wakes.
#[derive(Default)]
struct CountingWaker {
    wakes: AtomicUsize,
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::Relaxed);
    }
}

fn real_waker() -> (Arc<CountingWaker>, Waker) {
    let counter = Arc::new(CountingWaker::default());
    (counter.clone(), Waker::from(counter))
}

/// Polls `stream` until it would wait; returns how many frames it yielded.
fn drain(stream: &mut ClientStream, cx: &mut Context<'_>) -> usize {
    let mut frames = 0;
    loop {
        match Pin::new(&mut *stream).poll_next(cx) {
            Poll::Ready(Some(batch)) => frames += batch.len(),
            Poll::Ready(None) => panic!("the stream ended"),
            Poll::Pending => return frames,
        }
    }
}

/// `n` clients with no id and no topics, each polled once so it waits.
fn connect_waiting(hub: &Hub, n: usize, cx: &mut Context<'_>) -> Vec<ClientStream> {
    let mut streams: Vec<ClientStream> = (0..n)
        .map(|_| hub.connect(ConnectOptions::new()).expect("connects"))
        .collect();
    for stream in &mut streams {
        assert_eq!(drain(stream, cx), 1, "the opening checkpoint");
    }
    streams
}

/// Events per round: every client drains after each round.
const ROUND: usize = 16;

/// Broadcasts `rounds * ROUND` events to `streams`, draining every client after each
/// round. Returns the frames delivered.
fn broadcast_rounds(
    hub: &Hub,
    streams: &mut [ClientStream],
    cx: &mut Context<'_>,
    rounds: usize,
) -> usize {
    let mut delivered = 0;
    for _ in 0..rounds {
        for _ in 0..ROUND {
            hub.broadcast(&Event::new("tick"));
        }
        for stream in streams.iter_mut() {
            delivered += drain(stream, cx);
        }
    }
    delivered
}

/// What broadcasting `rounds * ROUND` events to `n` draining clients allocates, after
/// a warm-up that fills the history (so eviction runs) and grows every collection
/// to its steady capacity.
fn broadcast_allocations(n: usize, rounds: usize) -> AllocationInfo {
    let hub = Hub::new(HubConfig::default());
    let (wakes, waker) = real_waker();
    let mut cx = Context::from_waker(&waker);
    let mut streams = connect_waiting(&hub, n, &mut cx);
    let warm_up = hub.config().history.div_ceil(ROUND) + 2;
    assert_eq!(
        broadcast_rounds(&hub, &mut streams, &mut cx, warm_up),
        warm_up * ROUND * n
    );

    let mut delivered = 0;
    let info = measure(|| {
        delivered = broadcast_rounds(&hub, &mut streams, &mut cx, rounds);
    });
    assert_eq!(
        delivered,
        rounds * ROUND * n,
        "every client got every event"
    );
    // Each round woke every client once: wakers were really used.
    assert_eq!(wakes.wakes.load(Ordering::Relaxed), (warm_up + rounds) * n);
    info
}

#[test]
fn broadcast_allocates_per_event_not_per_client() {
    let rounds = 32;
    let events = rounds * ROUND;
    let few = broadcast_allocations(10, rounds);
    let many = broadcast_allocations(1000, rounds);
    println!(
        "{events} broadcasts: {} allocations to 10 clients, {} to 1000 ({:.2} per event)",
        few.count_total,
        many.count_total,
        many.count_total as f64 / events as f64
    );
    assert_eq!(
        few.count_total, many.count_total,
        "allocations depend on the number of clients: {few:?} vs {many:?}"
    );
    let frames_and_chunks = events + events.div_ceil(16);
    assert!(
        many.count_total <= frames_and_chunks as u64,
        "more than a frame per event and a chunk per 16: {many:?}"
    );
    // Nothing is kept beyond the history, which was already full.
    assert_eq!(many.count_current, 0, "{many:?}");
}

#[test]
fn idle_waits_allocate_nothing() {
    let hub = Hub::new(HubConfig::default());
    let (_wakes, waker) = real_waker();
    let mut cx = Context::from_waker(&waker);
    let mut streams = connect_waiting(&hub, 100, &mut cx);
    // One wake and read first, so each client's waker slot has been emptied and
    // refilled once.
    broadcast_rounds(&hub, &mut streams, &mut cx, 1);

    let info = measure(|| {
        for _ in 0..100 {
            for stream in &mut streams {
                assert_eq!(drain(stream, &mut cx), 0);
            }
        }
    });
    println!("10 000 idle polls: {} allocations", info.count_total);
    assert_eq!(info.count_total, 0, "{info:?}");

    // A fresh waker each time (a task that moved) is cloned into the hub: a
    // reference count, still no allocation.
    let others: Vec<Waker> = (0..10).map(|_| real_waker().1).collect();
    let info = measure(|| {
        for waker in others.iter().cycle().take(1000) {
            let mut cx = Context::from_waker(waker);
            assert_eq!(drain(&mut streams[0], &mut cx), 0);
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
}

/// Bytes the hub holds per idle client: `connect` (with `options(i)`) and one poll
/// to `Pending`, for `n` clients, counting the heap bytes still live afterwards plus
/// the stream itself (which lives in the caller's connection).
fn bytes_per_idle_client(n: usize, options: impl Fn(usize) -> ConnectOptions) -> f64 {
    let hub = Hub::new(HubConfig::default());
    let (_wakes, waker) = real_waker();
    let mut cx = Context::from_waker(&waker);
    let mut streams: Vec<ClientStream> = Vec::with_capacity(n);
    let info = measure(|| {
        for i in 0..n {
            let mut stream = hub.connect(options(i)).expect("connects");
            assert_eq!(drain(&mut stream, &mut cx), 1, "the opening checkpoint");
            streams.push(stream);
        }
    });
    assert_eq!(hub.metrics().active, n);
    let live = info.bytes_current as f64 + (n * size_of::<ClientStream>()) as f64;
    live / n as f64
}

#[test]
fn idle_client_memory_is_under_1_kib() {
    const N: usize = 10_000;
    let plain = bytes_per_idle_client(N, |_| ConnectOptions::new());
    let shared_topic = bytes_per_idle_client(N, |_| ConnectOptions::new().topic("news"));
    let own_topic = bytes_per_idle_client(N, |i| ConnectOptions::new().topic(format!("user-{i}")));
    let named = bytes_per_idle_client(N, |i| {
        ConnectOptions::new().client_id(format!("a-browser-tab-{i:08}"))
    });
    println!(
        "bytes per idle client (hub state + a {} B stream): no topic {plain:.0}, \
         one shared topic {shared_topic:.0}, a topic of its own {own_topic:.0}, \
         a 22-byte id {named:.0}",
        size_of::<ClientStream>()
    );
    for (case, bytes) in [
        ("no topic", plain),
        ("one shared topic", shared_topic),
        ("a topic of its own", own_topic),
        ("a given id", named),
    ] {
        assert!(bytes < 1024.0, "{case}: {bytes:.0} bytes per idle client");
    }
}

/// `n` clients connect with generated ids, wait once, and go away, one at a time.
fn churn(hub: &Hub, n: usize, cx: &mut Context<'_>) {
    for _ in 0..n {
        let mut stream = hub.connect(ConnectOptions::new()).expect("connects");
        assert_eq!(drain(&mut stream, cx), 1, "the opening checkpoint");
    }
}

#[test]
fn connect_disconnect_cycles_leave_no_growth() {
    const N: usize = 10_000;
    // Frames are sized exactly, so ids with one more digit would make the history
    // a few bytes bigger: every id here has seven.
    let hub = Hub::new(HubConfig::default().first_sequence(Some(1_000_000)));
    let (_wakes, waker) = real_waker();
    let mut cx = Context::from_waker(&waker);
    // Some clients stay connected throughout, and events flow now and then.
    let mut resident = connect_waiting(&hub, 10, &mut cx);
    // The history is full from the start, so new frames only replace old ones.
    let fill = hub.config().history.div_ceil(ROUND) + 1;
    broadcast_rounds(&hub, &mut resident, &mut cx, fill);
    let cycle = |cx: &mut Context<'_>, resident: &mut [ClientStream]| {
        for _ in 0..10 {
            churn(&hub, N / 10, cx);
            broadcast_rounds(&hub, resident, cx, 1);
        }
    };
    cycle(&mut cx, &mut resident);
    let info = measure(|| cycle(&mut cx, &mut resident));
    println!(
        "{N} connect/disconnect cycles: {} allocations, {} bytes and {} blocks still live",
        info.count_total, info.bytes_current, info.count_current
    );
    assert_eq!(info.bytes_current, 0, "{info:?}");
    assert_eq!(info.count_current, 0, "{info:?}");
    assert_eq!(hub.metrics().active, 10);
}

/// Clients that wait and go away while nothing is broadcast (a hub used only with
/// `publish` and `send_to`, say) must leave nothing behind either.
#[test]
fn churn_without_broadcasts_leaves_no_growth() {
    const N: usize = 10_000;
    let hub = Hub::new(HubConfig::default());
    let (_wakes, waker) = real_waker();
    let mut cx = Context::from_waker(&waker);
    churn(&hub, N, &mut cx);
    let info = measure(|| churn(&hub, N, &mut cx));
    assert_eq!(info.bytes_current, 0, "{info:?}");
    assert_eq!(info.count_current, 0, "{info:?}");
}

/// A decoded event owns its data and its id, and nothing else: the default type is
/// borrowed, multi-line data is gathered in one allocation (sized from the previous
/// event's), and the decoder's own buffers are reused.
#[test]
fn decoding_allocates_an_events_data_and_id_only() {
    let line = "a line of text".repeat(4) + "\n";
    let data = line.repeat(20);
    let mut stream = Vec::new();
    for id in 1000..1100 {
        let event = Event::new(data.trim_end()).with_id(id.to_string());
        event.expect("a valid id").encode(&mut stream);
    }
    let (warm_up, measured) = stream.split_at(stream.len() / 10);
    /// Decodes `input` in pieces that split lines, as network reads do; returns
    /// the events.
    fn decode(decoder: &mut Decoder, input: &[u8]) -> u64 {
        let mut events = 0;
        for piece in input.chunks(700) {
            decoder.push(piece).expect("a valid stream");
            for item in &mut *decoder {
                assert!(matches!(item, Decoded::Event(e) if e.data.lines().count() == 20));
                events += 1;
            }
        }
        events
    }
    let mut decoder = Decoder::new();
    assert!(decode(&mut decoder, warm_up) > 0);
    let mut decoded = 0;
    let info = measure(|| decoded = decode(&mut decoder, measured));
    println!(
        "{decoded} events decoded: {} allocations ({:.2} per event)",
        info.count_total,
        info.count_total as f64 / decoded as f64
    );
    assert!(decoded >= 80, "{decoded}");
    assert_eq!(info.count_total, 2 * decoded, "{info:?}");
}

/// Tokens sent through a channel and taken into response chunks, the chunks written
/// (dropped) as a writer that keeps up would: the channel's slots and the response's
/// buffer are reused, so a `&'static str` token costs no allocation at all, and an
/// owned one its `String` only.
#[test]
fn per_request_tokens_allocate_nothing_of_their_own() {
    let (sender, receiver) = channel(64);
    let mut response = ResponseStream::from(receiver);
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    let mut round = |owned: bool| {
        let mut bytes = 0;
        for _ in 0..50 {
            for _ in 0..64 {
                let sent = if owned {
                    sender.try_send(String::from("token"))
                } else {
                    sender.try_send("token")
                };
                sent.expect("room");
            }
            while let Poll::Ready(Some(chunk)) = Pin::new(&mut response).poll_next(&mut cx) {
                bytes += chunk.len();
            }
        }
        bytes
    };
    round(false); // Warm-up: the buffer reaches its size.
    let mut bytes = 0;
    let info = measure(|| bytes = round(false));
    println!("3 200 static tokens: {} allocations", info.count_total);
    assert_eq!(bytes, 3_200 * "data: token\n\n".len());
    assert_eq!(info.count_total, 0, "{info:?}");
    let info = measure(|| bytes = round(true));
    println!("3 200 owned tokens: {} allocations", info.count_total);
    assert_eq!(info.count_total, 3_200, "{info:?}");
}

/// A writer that holds the chunks until the response is `Pending` (hyper queues
/// them until it flushes), with several batches taken before it flushes (the
/// producer, on another thread, filled the channel again in between): the
/// buffer's room is reused once the held chunks are written, so the owned tokens
/// cost their `String`s and nothing else, however the batches fall.
#[test]
fn held_chunks_cost_no_allocation_per_batch() {
    let (sender, receiver) = channel(32);
    let mut response = ResponseStream::from(receiver);
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    let token = "a token of 20 bytes.";
    let mut held = Vec::with_capacity(4);
    let mut round = || {
        let mut bytes = 0;
        for _ in 0..100 {
            // Four batches of 32 before the writer flushes.
            for _ in 0..4 {
                for _ in 0..32 {
                    sender.try_send(String::from(token)).expect("room");
                }
                match Pin::new(&mut response).poll_next(&mut cx) {
                    Poll::Ready(Some(chunk)) => {
                        bytes += chunk.len();
                        held.push(chunk);
                    }
                    other => panic!("expected a chunk, got {other:?}"),
                }
            }
            assert!(Pin::new(&mut response).poll_next(&mut cx).is_pending());
            held.clear(); // Written: the writer flushed.
        }
        bytes
    };
    round(); // Warm-up: the channel's queues and the buffer reach their size.
    let mut bytes = 0;
    let info = measure(|| bytes = round());
    println!(
        "12 800 owned tokens, 4 batches per flush: {} allocations",
        info.count_total
    );
    assert_eq!(bytes, 12_800 * format!("data: {token}\n\n").len());
    assert_eq!(info.count_total, 12_800, "{info:?}");
}
