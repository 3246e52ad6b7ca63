//! Resumable streams through their public API: viewers, resumes, cancel, linger,
//! abandon and the byte bounds, read back through the decoder as a browser would.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use allocation_counter::measure;
use futures_lite::{Stream, StreamExt, future};
use sse_core::{
    Comment, Decoded, Decoder, EndReason, Event, Message, MessageEvent, Producer, ResponseStream,
    Resumable, ResumeConfig, StartError, TrySendError,
};

/// A viewer as a browser sees it: the response, decoded.
struct View {
    response: ResponseStream,
    decoder: Decoder,
    ended: bool,
}

impl View {
    fn attach(streams: &Resumable, key: &str, last_event_id: Option<&str>) -> Option<View> {
        Some(View {
            response: streams.attach(key, last_event_id)?,
            decoder: Decoder::new(),
            ended: false,
        })
    }

    /// Every event ready now, until the response would wait or ends.
    fn ready(&mut self) -> Vec<MessageEvent> {
        let mut events = Vec::new();
        while !self.ended {
            match future::block_on(future::poll_once(self.response.next())) {
                None => break,
                Some(None) => self.ended = true,
                Some(Some(bytes)) => self.decoder.push(&bytes).expect("valid frames"),
            }
            events.extend(self.decoder.by_ref().filter_map(|item| match item {
                Decoded::Event(event) => Some(event),
                _ => None,
            }));
        }
        events
    }

    /// Every event to the end of the response, waiting for them.
    fn read_to_end(mut self) -> Vec<MessageEvent> {
        let mut events = Vec::new();
        while let Some(bytes) = future::block_on(self.response.next()) {
            self.decoder.push(&bytes).expect("valid frames");
            events.extend(self.decoder.by_ref().filter_map(|item| match item {
                Decoded::Event(event) => Some(event),
                _ => None,
            }));
        }
        events
    }
}

fn config() -> ResumeConfig {
    ResumeConfig::default().keep_alive(None)
}

fn data(events: &[MessageEvent]) -> Vec<&str> {
    events.iter().map(|e| e.data.as_str()).collect()
}

/// The events that are not the stream's own (`end`, `resync`).
fn messages(events: &[MessageEvent]) -> Vec<&str> {
    events
        .iter()
        .filter(|e| e.event_type != "end" && e.event_type != "resync")
        .map(|e| e.data.as_str())
        .collect()
}

fn end_of(events: &[MessageEvent]) -> Option<&str> {
    let last = events.last()?;
    (last.event_type == "end").then_some(last.data.as_str())
}

fn send_all(producer: &Producer, tokens: impl IntoIterator<Item = String>) {
    for token in tokens {
        producer.try_send(token).expect("never full, not closed");
    }
}

#[test]
fn two_viewers_each_get_the_whole_stream() {
    let streams = Resumable::new(config());
    let producer = streams.start("two").expect("started");
    let mut first = View::attach(&streams, "two", None).expect("live");
    send_all(&producer, ["a", "b"].map(String::from));
    assert_eq!(data(&first.ready()), ["a", "b"]);
    // The second tab opens late: it gets everything from the start.
    let mut second = View::attach(&streams, "two", None).expect("live");
    send_all(&producer, ["c".to_owned()]);
    assert_eq!(data(&first.ready()), ["c"]);
    assert_eq!(data(&second.ready()), ["a", "b", "c"]);
    producer.finish();
    for view in [first, second] {
        let rest = view.read_to_end();
        assert_eq!(end_of(&rest), Some("done"));
        assert_eq!(rest.last().map(|e| e.last_event_id.as_str()), Some("4"));
    }
    assert_eq!(streams.metrics().attached, 2);
}

#[test]
fn ids_are_positions_that_replace_the_messages_own() {
    let streams = Resumable::new(config());
    let producer = streams.start("ids").expect("started");
    let mut view = View::attach(&streams, "ids", None).expect("live");
    producer
        .try_send(Event::new("x").with_id("own").unwrap())
        .unwrap();
    producer.try_send(Comment::new("a comment")).unwrap();
    producer
        .try_send(Message::retry(Duration::from_secs(1)))
        .unwrap();
    producer
        .try_send(Message::checkpoint("cp").unwrap())
        .unwrap();
    producer
        .try_send(Event::new("y").with_event("token").unwrap())
        .unwrap();
    let events = view.ready();
    let ids: Vec<&str> = events.iter().map(|e| e.last_event_id.as_str()).collect();
    // The comment (2), the hint (3) and the checkpoint (4) take positions too.
    assert_eq!(ids, ["1", "5"]);
    assert_eq!(events[1].event_type, "token");
    // Resuming after the checkpoint gets only what followed it.
    let mut resumed = View::attach(&streams, "ids", Some("4")).expect("live");
    assert_eq!(data(&resumed.ready()), ["y"]);
    assert_eq!(streams.metrics().resumed, 1);
}

#[test]
fn a_viewer_that_never_reads_does_not_hold_the_producer_back() {
    let max_bytes = 64 * 1024;
    let streams = Resumable::new(config().max_bytes(max_bytes));
    let producer = streams.start("stuck").expect("started");
    // Attached, never polled: a tab in the background, a socket that takes nothing.
    let stuck = streams.attach("stuck", None).expect("live");
    for n in 0..100_000 {
        producer
            .try_send(format!("token {n}"))
            .expect("never waits, never full");
        assert!(
            streams.metrics().bytes as usize <= max_bytes + 4096,
            "bounded"
        );
    }
    let mut fresh = View::attach(&streams, "stuck", Some("99990")).expect("live");
    let tail: Vec<String> = (99_990..100_000).map(|n| format!("token {n}")).collect();
    assert_eq!(data(&fresh.ready()), tail);
    drop(stuck);
    assert!(
        !producer.is_closed(),
        "a viewer leaving never cancels the producer"
    );
}

#[test]
fn cancel_mid_stream_ends_the_producer_and_every_viewer() {
    let streams = Resumable::new(config());
    let producer = streams.start("stop").expect("started");
    let mut view = View::attach(&streams, "stop", None).expect("live");
    send_all(&producer, ["one", "two"].map(String::from));
    assert_eq!(data(&view.ready()), ["one", "two"]);
    send_all(&producer, ["three".to_owned()]);
    let closed = producer.closed();
    assert!(streams.cancel("stop"));
    future::block_on(closed);
    assert!(producer.is_closed());
    let refused = future::block_on(producer.send("four")).expect_err("cancelled");
    assert_eq!(refused.into_inner(), Message::from("four"));
    assert!(matches!(
        producer.try_send("five"),
        Err(TrySendError::Closed(_))
    ));
    // What was sent before the cancel, then the end saying why.
    let rest = view.read_to_end();
    assert_eq!(data(&rest), ["three", "cancelled"]);
    assert_eq!(end_of(&rest), Some(EndReason::Cancelled.as_str()));
    // Cancelled: no one attaches any more (204), a second cancel does nothing.
    assert!(streams.attach("stop", None).is_none());
    assert!(streams.attach("stop", Some("1")).is_none());
    assert!(!streams.cancel("stop"));
    let metrics = streams.metrics();
    assert_eq!(
        (metrics.cancelled, metrics.live, metrics.lingering),
        (1, 0, 1)
    );
}

#[test]
fn an_ended_stream_lingers_then_is_gone() {
    let linger = Duration::from_secs(60);
    let streams = Resumable::new(config().linger(linger));
    let producer = streams.start("late").expect("started");
    send_all(&producer, ["a", "b"].map(String::from));
    let started = Instant::now();
    drop(producer); // Every clone gone: the stream is done.
    let events = View::attach(&streams, "late", Some("1"))
        .expect("lingering")
        .read_to_end();
    assert_eq!(data(&events), ["b", "done"]);
    // Read to its end: nothing more for that viewer.
    assert!(streams.attach("late", Some("3")).is_none());
    assert_eq!(streams.start("late").err(), Some(StartError::Exists));
    let next = streams.expire(started).expect("the linger's end");
    assert!(next >= started + linger);
    assert!(streams.attach("late", None).is_some(), "not yet over");
    assert_eq!(streams.expire(next + linger), None);
    assert!(streams.attach("late", None).is_none());
    assert!(streams.attach("late", Some("1")).is_none());
    let metrics = streams.metrics();
    assert_eq!(
        (metrics.expired, metrics.lingering, metrics.bytes),
        (1, 0, 0)
    );
    // The key is free again.
    streams.start("late").expect("started anew");
}

#[test]
fn unknown_and_invalid_keys() {
    let streams = Resumable::new(config().max_streams(1));
    assert!(streams.attach("never-started", None).is_none());
    assert!(streams.attach("never-started", Some("1")).is_none());
    assert!(!streams.cancel("never-started"));
    for key in ["", "a/b", "a b", "x\ny", &"k".repeat(129)] {
        let error = streams.start(key).expect_err("invalid");
        assert_eq!(error, StartError::InvalidKey);
        assert_eq!(error.status(), http::StatusCode::BAD_REQUEST);
        assert!(streams.attach(key, None).is_none());
    }
    let _live = streams.start("only").expect("started");
    assert_eq!(streams.start("only").err(), Some(StartError::Exists));
    let full = streams.start("second").expect_err("at capacity");
    assert_eq!(
        (full, full.status().as_u16()),
        (StartError::AtCapacity, 503)
    );
}

#[test]
fn a_producer_faster_than_the_byte_bound_leaves_no_silent_gap() {
    let max_bytes = 16 * 1024;
    let streams = Resumable::new(config().max_bytes(max_bytes));
    let producer = streams.start("fast").expect("started");
    let mut live = View::attach(&streams, "fast", None).expect("live");
    send_all(&producer, ["first".to_owned()]);
    assert_eq!(data(&live.ready()), ["first"]);
    send_all(&producer, (1..=10_000).map(|n| format!("token {n}")));
    producer.finish();
    assert!(streams.metrics().messages_evicted > 0);
    // The viewer that fell behind, and a resumer from before what was evicted,
    // each get a resync, then the newest messages in order to the end.
    for view in [
        live,
        View::attach(&streams, "fast", Some("1")).expect("lingering"),
    ] {
        let events = view.read_to_end();
        assert_eq!(events[0].event_type, "resync");
        assert_eq!(events[0].data, "");
        let rest = messages(&events[1..]);
        let first: usize = rest[0]["token ".len()..].parse().unwrap();
        let expected: Vec<String> = (first..=10_000).map(|n| format!("token {n}")).collect();
        assert_eq!(rest, expected);
        assert_eq!(end_of(&events), Some("done"));
    }
    // An id the stream never issued is a resync too.
    for id in ["99999", "not-a-position", "0"] {
        let events = View::attach(&streams, "fast", Some(id))
            .expect("lingering")
            .read_to_end();
        assert_eq!(events[0].event_type, "resync", "{id}");
    }
}

#[test]
fn a_thousand_abandoned_streams_stay_within_the_budget() {
    let budget = 4 << 20;
    let abandon = Duration::from_secs(600);
    let linger = Duration::from_secs(60);
    let streams = Resumable::new(
        config()
            .budget(budget)
            .abandon_after(Some(abandon))
            .linger(linger),
    );
    let started = Instant::now();
    let producers: Vec<Producer> = (0..1_000)
        .map(|n| streams.start(&format!("run-{n}")).expect("started"))
        .collect();
    // Each produces its reply for no one.
    for round in 0..50 {
        for producer in &producers {
            producer
                .try_send(format!("token {round} of a reply no one reads"))
                .unwrap();
        }
        assert!(
            streams.metrics().bytes as usize <= budget + budget / 8,
            "round {round}"
        );
    }
    assert!(streams.metrics().messages_evicted > 0);
    // One is watched: it is not abandoned.
    let watched = View::attach(&streams, "run-7", None).expect("live");
    let next = streams.expire(started).expect("abandon deadlines");
    assert!(next >= started + abandon);
    streams.expire(started + abandon + Duration::from_secs(1));
    let metrics = streams.metrics();
    assert_eq!((metrics.abandoned, metrics.live), (999, 1));
    assert!(producers[0].is_closed() && !producers[7].is_closed());
    assert!(streams.attach("run-0", None).is_none(), "abandoned: 204");
    // Once the watcher leaves, the clock starts again for that one.
    drop(watched);
    streams.expire(Instant::now() + abandon / 2);
    assert!(
        !producers[7].is_closed(),
        "its clock started when it was left"
    );
    streams.expire(Instant::now() + abandon + Duration::from_secs(1));
    assert!(producers[7].is_closed());
    streams.expire(Instant::now() + abandon + linger + Duration::from_secs(2));
    let metrics = streams.metrics();
    assert_eq!(
        (metrics.abandoned, metrics.live, metrics.lingering),
        (1_000, 0, 0)
    );
    assert_eq!(metrics.bytes, 0);
}

#[test]
fn the_budget_drops_ended_streams_before_live_messages() {
    let budget = 256 * 1024;
    let streams = Resumable::new(config().budget(budget));
    let token = "x".repeat(100);
    for n in 0..4 {
        let producer = streams.start(&format!("done-{n}")).expect("started");
        send_all(&producer, (0..200).map(|_| token.clone()));
    }
    assert_eq!(streams.metrics().lingering, 4);
    let live = streams.start("live").expect("started");
    send_all(&live, (0..1_000).map(|_| token.clone()));
    let metrics = streams.metrics();
    assert!(metrics.evicted >= 1, "ended streams went first");
    assert!(
        streams.attach("done-0", None).is_none(),
        "the oldest ended first"
    );
    assert!(metrics.bytes as usize <= budget);
    send_all(&live, (0..2_000).map(|_| token.clone()));
    let metrics = streams.metrics();
    assert_eq!(metrics.lingering, 0);
    assert!(metrics.bytes as usize <= budget);
    // The live stream lost its oldest messages: its viewer is told.
    let mut view = View::attach(&streams, "live", None).expect("live");
    assert_eq!(view.ready()[0].event_type, "resync");
}

#[test]
fn dropping_the_registry_cancels_its_streams() {
    let streams = Resumable::new(config());
    let producer = streams.start("orphan").expect("started");
    let view = View::attach(&streams, "orphan", None).expect("live");
    producer.try_send("a").unwrap();
    drop(streams);
    future::block_on(producer.closed());
    assert!(producer.try_send("b").is_err());
    assert_eq!(data(&view.read_to_end()), ["a", "cancelled"]);
}

#[test]
fn a_viewer_is_woken_by_a_producer_on_another_thread() {
    let streams = Resumable::new(config());
    let producer = streams.start("threads").expect("started");
    let view = View::attach(&streams, "threads", None).expect("live");
    let sender = std::thread::spawn(move || {
        for n in 0..1_000 {
            future::block_on(producer.send(format!("{n}"))).expect("live");
            if n % 100 == 0 {
                std::thread::yield_now();
            }
        }
    });
    let events = view.read_to_end();
    sender.join().expect("sent");
    let expected: Vec<String> = (0..1_000).map(|n| n.to_string()).collect();
    assert_eq!(messages(&events), expected);
    assert_eq!(end_of(&events), Some("done"));
}

/// A small, seeded generator: the same points on every run.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn dropping_and_resuming_at_a_hundred_points_gives_exactly_the_reply() {
    const TOKENS: u64 = 10_000;
    let streams = Resumable::new(config());
    let producer = streams.start("reply").expect("started");
    let reply: Vec<String> = (0..TOKENS).map(|n| format!("t{n} ")).collect();
    let sent = reply.clone();
    let sender = std::thread::spawn(move || {
        for (n, token) in sent.into_iter().enumerate() {
            future::block_on(producer.send(token)).expect("never cancelled");
            if n % 64 == 0 {
                std::thread::yield_now();
            }
        }
    });
    // Drop after a random number of bytes (mid-frame too: the decoder keeps only
    // whole events, as a browser does), 100 times, then read to the end.
    let mut random = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut got: Vec<String> = Vec::new();
    let mut last_event_id: Option<String> = None;
    let mut drops = 0;
    'attach: loop {
        let mut view = View::attach(&streams, "reply", last_event_id.as_deref()).expect("held");
        let mut quota = if drops < 100 {
            1 + random.below(2_000) as usize
        } else {
            usize::MAX
        };
        while let Some(bytes) = future::block_on(view.response.next()) {
            let kept = &bytes[..bytes.len().min(quota)];
            quota -= kept.len();
            view.decoder.push(kept).expect("valid");
            for item in view.decoder.by_ref() {
                let Decoded::Event(event) = item else {
                    continue;
                };
                assert_ne!(event.event_type, "resync", "no gap");
                last_event_id = Some(event.last_event_id.clone());
                if event.event_type == "end" {
                    assert_eq!(event.data, "done");
                    break 'attach;
                }
                got.push(event.data);
            }
            if quota == 0 {
                break;
            }
        }
        drops += 1;
    }
    sender.join().expect("sent");
    assert_eq!(drops, 100);
    assert_eq!(got, reply, "no gap, no duplicate");
    assert!(
        streams.attach("reply", last_event_id.as_deref()).is_none(),
        "read to its end"
    );
    assert_eq!(streams.metrics().resumed, drops);
}

/// A real waker (an `Arc` inside) that counts its wakes.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Polls `response` until it waits; returns the bytes it yielded.
fn poll_ready(response: &mut ResponseStream, cx: &mut Context<'_>) -> usize {
    let mut bytes = 0;
    while let Poll::Ready(Some(chunk)) = Pin::new(&mut *response).poll_next(cx) {
        bytes += chunk.len();
    }
    bytes
}

#[test]
fn a_token_allocates_its_frame_and_an_idle_wake_nothing() {
    const TOKEN: &str = "a token of 20 bytes.";
    let streams = Resumable::new(config());
    let producer = streams.start("counted").expect("started");
    let mut response = streams.attach("counted", None).expect("live");
    let wakes = Arc::new(CountingWaker::default());
    let waker = Waker::from(wakes.clone());
    let mut cx = Context::from_waker(&waker);
    let mut send_and_read = |tokens: usize| {
        let mut bytes = 0;
        for _ in 0..tokens {
            producer.try_send(TOKEN).expect("live");
            bytes += poll_ready(&mut response, &mut cx);
        }
        bytes
    };
    // Warm-up: the log's ring and the response's buffer reach their capacity.
    send_and_read(4_096);
    let tokens = 1_600;
    let mut bytes = 0;
    let info = measure(|| bytes = send_and_read(tokens));
    assert_eq!(
        bytes,
        tokens * "data: a token of 20 bytes.\nid: 1234\n\n".len()
    );
    // Woken for every token but the first, sent before it first waited.
    assert_eq!(wakes.0.load(Ordering::Relaxed), 4_096 + tokens - 1);
    println!("{tokens} tokens: {} allocations", info.count_total);
    // Frames are split off a shared encoding buffer and kept in chunks of 16:
    // a few allocations per buffer's worth of frames and per chunk, none per
    // token, per viewer or per wake.
    assert!(info.count_total <= tokens as u64 / 4, "{info:?}");

    // Waiting, over and over, with the same waker or another task's.
    let others: Vec<Waker> = (0..10)
        .map(|_| Waker::from(Arc::new(CountingWaker::default())))
        .collect();
    let info = measure(|| {
        for waker in others.iter().cycle().take(1_000) {
            let mut cx = Context::from_waker(waker);
            assert_eq!(poll_ready(&mut response, &mut cx), 0);
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
}

#[test]
fn viewers_on_other_threads_see_a_cancel_after_a_whole_prefix() {
    let streams = Resumable::new(config());
    let producer = streams.start("race").expect("started");
    let viewers: Vec<_> = (0..4)
        .map(|_| {
            let view = View::attach(&streams, "race", None).expect("live");
            std::thread::spawn(move || view.read_to_end())
        })
        .collect();
    let sender = std::thread::spawn(move || {
        let mut sent = 0_u32;
        while future::block_on(producer.send(sent.to_string())).is_ok() {
            sent += 1;
        }
        sent
    });
    // Cancel once the viewers have something to read.
    while streams.metrics().bytes < 64 * 1024 {
        std::thread::yield_now();
    }
    assert!(streams.cancel("race"));
    let sent = sender.join().expect("the producer stopped");
    for viewer in viewers {
        let events = viewer.join().expect("the viewer ended");
        assert_eq!(end_of(&events), Some("cancelled"));
        let expected: Vec<String> = (0..sent).map(|n| n.to_string()).collect();
        assert_eq!(messages(&events), expected, "every message sent, in order");
    }
}

/// Runs `streams.run` with a timer that records each wait and sleeps it (a second
/// is only recorded), for `waits` waits; returns them.
fn run_for(streams: &Resumable, waits: usize) -> Vec<Duration> {
    let asked = std::cell::RefCell::new(Vec::new());
    let sleep = |wait: Duration| {
        asked.borrow_mut().push(wait);
        if wait < Duration::from_secs(1) {
            std::thread::sleep(wait);
        }
        future::yield_now()
    };
    future::block_on(future::or(streams.run(sleep), async {
        while asked.borrow().len() < waits {
            future::yield_now().await;
        }
    }));
    asked.into_inner()
}

#[test]
fn run_looks_again_every_second_at_most() {
    let streams = Resumable::new(ResumeConfig::default().linger(Duration::from_secs(60)));
    streams.start("run-5").unwrap().finish();
    assert_eq!(run_for(&streams, 3), [Duration::from_secs(1); 3]);
    assert_eq!(streams.metrics().lingering, 1, "its linger is not over");
}

#[test]
fn run_expires_a_stream_once_its_linger_is_over() {
    let linger = Duration::from_millis(5);
    let streams = Resumable::new(ResumeConfig::default().linger(linger));
    streams.start("run-6").unwrap().finish();
    let waits = run_for(&streams, 2);
    // It slept until the linger's end, not a whole second (unless the linger was
    // over by its first look), then had nothing left to wait for.
    assert!(
        waits[0] <= linger || waits[0] == Duration::from_secs(1),
        "{waits:?}"
    );
    assert_eq!(waits[1], Duration::from_secs(1), "{waits:?}");
    let metrics = streams.metrics();
    assert_eq!((metrics.lingering, metrics.expired), (0, 1));
}
