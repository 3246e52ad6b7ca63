//! Resumable streams on a real `redis-server` (started per test on a free port):
//! a producer on one process, viewers on others, resuming, cancelling, expiring,
//! and Redis going away.

use std::collections::VecDeque;
use std::time::Duration;

use futures_lite::StreamExt;
use sse_core::{Comment, Decoded, Decoder, Event, Message, ResponseStream};
use sse_redis::{
    AttachError, EndReason, InvalidMessage, RedisProducer, RedisResumable, ResumeOptions,
    SendError, StartError,
};
use sse_testkit::redis::RedisServer;

/// Only a guard against a hang: every wait is for an event.
const TIMEOUT: Duration = Duration::from_secs(20);

fn options(redis: &RedisServer) -> ResumeOptions {
    ResumeOptions::new(redis.url())
        .block(Duration::from_millis(200))
        .backoff(Duration::from_millis(20), Duration::from_millis(200))
}

/// One server process's registry, with its `run` task.
fn process(options: ResumeOptions) -> RedisResumable {
    let streams = RedisResumable::open(options).expect("a valid URL");
    tokio::spawn({
        let streams = streams.clone();
        async move { streams.run(tokio::time::sleep).await }
    });
    streams
}

/// One decoded event: its type, the last event id in force, its data.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    kind: String,
    id: String,
    data: String,
}

/// A viewer's response, decoded as a browser would.
struct Viewer {
    response: ResponseStream,
    decoder: Decoder,
    decoded: VecDeque<Seen>,
}

impl Viewer {
    fn new(response: ResponseStream) -> Self {
        Viewer {
            response,
            decoder: Decoder::new(),
            decoded: VecDeque::new(),
        }
    }

    /// The next event, or `None` when the response ended.
    async fn next(&mut self) -> Option<Seen> {
        loop {
            if let Some(seen) = self.decoded.pop_front() {
                return Some(seen);
            }
            let bytes = tokio::time::timeout(TIMEOUT, self.response.next())
                .await
                .expect("the response goes on or ends")?;
            self.decoder.push(&bytes).expect("valid SSE");
            for item in self.decoder.by_ref() {
                if let Decoded::Event(event) = item {
                    self.decoded.push_back(Seen {
                        kind: event.event_type.into_owned(),
                        id: event.last_event_id,
                        data: event.data,
                    });
                }
            }
        }
    }

    /// Every event until the response ends.
    async fn rest(&mut self) -> Vec<Seen> {
        let mut all = Vec::new();
        while let Some(seen) = self.next().await {
            all.push(seen);
        }
        all
    }
}

async fn attach(streams: &RedisResumable, key: &str, last: Option<&str>) -> Viewer {
    let response = streams
        .attach(key, last)
        .await
        .expect("redis is up")
        .expect("the stream is there");
    Viewer::new(response)
}

async fn start(streams: &RedisResumable, key: &str) -> RedisProducer {
    streams.start(key).await.expect("started")
}

fn data(seen: &[Seen]) -> Vec<&str> {
    seen.iter().map(|seen| seen.data.as_str()).collect()
}

/// A small deterministic generator, so a failure can be replayed.
struct Xorshift(u64);

impl Xorshift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_on_another_process_resume_a_long_stream_exactly() {
    let Some(redis) = RedisServer::start_for_test() else {
        return;
    };
    let a = process(options(&redis));
    let b = process(options(&redis));
    const TOKENS: usize = 10_000;
    let tokens: Vec<String> = (0..TOKENS).map(|i| format!("token {i} ")).collect();
    let producer = start(&a, "reply-1").await;
    let producing = tokio::spawn({
        let tokens = tokens.clone();
        async move {
            // Bursts queued with try_send and written in one round trip, and
            // single sends, as a model's tokens come.
            for (i, token) in tokens.into_iter().enumerate() {
                if i % 7 < 4 {
                    producer.try_send(token).expect("room");
                } else {
                    producer.send(token).await.expect("sent");
                }
                if i % 500 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            producer.finish().await.expect("finished");
        }
    });
    // On process B: drop at random points and resume with the last id seen.
    let mut random = Xorshift(0x9E37_79B9_7F4A_7C15);
    let mut reply = String::new();
    let mut last: Option<String> = None;
    let mut resumes = 0;
    let end = 'viewing: loop {
        let mut viewer = attach(&b, "reply-1", last.as_deref()).await;
        let mut budget = 1 + random.below(1_500);
        while let Some(seen) = viewer.next().await {
            assert_ne!(seen.kind, "resync", "nothing was trimmed");
            last = Some(seen.id.clone());
            if seen.kind == "end" {
                break 'viewing seen;
            }
            reply.push_str(&seen.data);
            budget -= 1;
            if budget == 0 {
                break;
            }
        }
        resumes += 1;
    };
    producing.await.expect("the producer finished");
    assert_eq!(
        reply,
        tokens.concat(),
        "exactly the reply, after {resumes} resumes"
    );
    assert!(resumes >= 5, "dropped at several points: {resumes}");
    assert_eq!(end.data, "done");
    // Read to its end: nothing more to attach to.
    assert!(b.attach("reply-1", Some(&end.id)).await.unwrap().is_none());
    // A viewer from the beginning, on the producer's process, gets all of it.
    let all = attach(&a, "reply-1", None).await.rest().await;
    assert_eq!(all.len(), TOKENS + 1);
    assert_eq!(data(&all[..TOKENS]).concat(), tokens.concat());
    let metrics = a.metrics();
    assert_eq!(metrics.sent, TOKENS as u64);
    assert_eq!(metrics.producers, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_send_concurrently_each_message_once_in_their_order() {
    let Some(redis) = RedisServer::start_for_test() else {
        return;
    };
    let a = process(options(&redis));
    let producer = start(&a, "shared").await;
    let tasks: Vec<_> = ["x", "y", "z"]
        .into_iter()
        .map(|name| {
            let producer = producer.clone();
            tokio::spawn(async move {
                for i in 0..300 {
                    if i % 3 == 0 {
                        producer.try_send(format!("{name}{i}")).expect("room");
                    } else {
                        producer.send(format!("{name}{i}")).await.expect("sent");
                    }
                }
                producer.flush().await.expect("flushed");
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a producer task");
    }
    // One clone dropped: the stream goes on.
    let other = producer.clone();
    drop(producer);
    assert!(!other.is_closed());
    other.send("last").await.unwrap();
    let kept = other.clone();
    other.finish().await.unwrap();
    // Finishing ends it for every clone.
    assert!(matches!(
        kept.send("late").await,
        Err(SendError::Ended(EndReason::Done, Some(_)))
    ));
    let seen = attach(&a, "shared", None).await.rest().await;
    assert_eq!(seen.len(), 902);
    for name in ["x", "y", "z"] {
        let own: Vec<&str> = data(&seen)
            .into_iter()
            .filter(|data| data.starts_with(name))
            .collect();
        let expected: Vec<String> = (0..300).map(|i| format!("{name}{i}")).collect();
        assert_eq!(own, expected, "each clone's messages once, in its order");
    }
    assert_eq!(data(&seen[900..]), ["last", "done"]);
}

#[tokio::test]
async fn a_cancel_anywhere_ends_the_producer_and_every_viewer() {
    let Some(redis) = RedisServer::start_for_test() else {
        return;
    };
    let (a, b, c) = (
        process(options(&redis)),
        process(options(&redis)),
        process(options(&redis)),
    );
    let producer = start(&a, "run-7").await;
    producer.send("first").await.expect("sent");
    let mut on_a = attach(&a, "run-7", None).await;
    let mut on_b = attach(&b, "run-7", None).await;
    for viewer in [&mut on_a, &mut on_b] {
        assert_eq!(viewer.next().await.unwrap().data, "first");
    }
    let closed = producer.closed();
    assert!(c.cancel("run-7").await.expect("redis is up"));
    // Heard on A through its run task.
    tokio::time::timeout(TIMEOUT, closed)
        .await
        .expect("the producer hears the cancel");
    assert!(producer.is_closed());
    match producer.send("unheard").await {
        Err(SendError::Ended(EndReason::Cancelled, Some(message))) => {
            assert_eq!(message, "unheard".into());
        }
        other => panic!("the send fails as cancelled: {other:?}"),
    }
    for viewer in [&mut on_a, &mut on_b] {
        let end = viewer.next().await.expect("the end event");
        assert_eq!((end.kind.as_str(), end.data.as_str()), ("end", "cancelled"));
        assert!(viewer.next().await.is_none(), "then the response ends");
    }
    // Cancelling again does nothing; the key lingers, so it cannot start again.
    assert!(!b.cancel("run-7").await.unwrap());
    assert!(matches!(b.start("run-7").await, Err(StartError::Exists)));
    // A stopped reply is not served again (as in sse-core): 204 for a late viewer.
    assert!(c.attach("run-7", None).await.unwrap().is_none());
    drop(producer);
    assert_eq!(a.metrics().producers, 0);
}

#[tokio::test]
async fn a_cancel_reaches_a_producer_that_writes_without_run() {
    let Some(redis) = RedisServer::start_for_test() else {
        return;
    };
    // No run task: the producer learns it at its next write.
    let a = RedisResumable::open(options(&redis)).unwrap();
    let b = RedisResumable::open(options(&redis)).unwrap();
    let producer = start(&a, "k").await;
    producer.send("one").await.unwrap();
    assert!(b.cancel("k").await.unwrap());
    assert!(matches!(
        producer.send("two").await,
        Err(SendError::Ended(EndReason::Cancelled, _))
    ));
    assert!(producer.is_closed());
    assert!(b.attach("k", None).await.unwrap().is_none());
}

#[tokio::test]
async fn an_ended_stream_lingers_then_expires() {
    let Some(redis) = RedisServer::start_for_test() else {
        return;
    };
    let a = process(options(&redis).linger(Duration::from_millis(300)));
    let b = process(options(&redis));
    let producer = start(&a, "short").await;
    producer.send("only").await.unwrap();
    producer.finish().await.expect("finished");
    let seen = attach(&b, "short", None).await.rest().await;
    assert_eq!(data(&seen), ["only", "done"]);
    // Redis expires it: attach answers none (204), and the key can start again.
    tokio::time::timeout(TIMEOUT, async {
        while b.attach("short", None).await.unwrap().is_some() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the stream expires");
    assert!(
        b.attach("short", Some(&seen[0].id))
            .await
            .unwrap()
            .is_none()
    );
    assert!(b.metrics().attach_misses >= 2);
    start(&b, "short").await.finish().await.unwrap();
}

#[tokio::test]
async fn unknown_keys_invalid_keys_and_ids_are_answered_without_harm() {
    let Some(redis) = RedisServer::start_for_test() else {
        return;
    };
    let a = process(options(&redis).max_streams(2));
    assert!(a.attach("never-started", None).await.unwrap().is_none());
    for bad in [
        "",
        "a b",
        "{tag}",
        "a/b",
        "a:b",
        "..",
        "line\nbreak",
        &"k".repeat(129),
    ] {
        let refused = a.start(bad).await.expect_err("an invalid key");
        assert!(matches!(refused, StartError::InvalidKey), "{bad:?}");
        assert_eq!(refused.status(), 400);
        assert!(a.attach(bad, None).await.unwrap().is_none());
        assert!(!a.cancel(bad).await.unwrap());
    }
    let producer = start(&a, "k1").await;
    producer.send("x").await.unwrap();
    let other = RedisResumable::open(options(&redis)).unwrap();
    let exists = other.start("k1").await.expect_err("on another process too");
    assert!(matches!(exists, StartError::Exists));
    assert_eq!(exists.status(), 409);
    let _second = start(&a, "k2").await;
    let full = a.start("k3").await.expect_err("at capacity");
    assert!(matches!(full, StartError::AtCapacity));
    assert_eq!(full.status(), 503);
    // Foreign, garbage and huge ids: a resync, then everything the stream holds.
    let huge = "9".repeat(10_000);
    for last in ["garbage", "1-0", "99999999999999-0", "\u{0}", huge.as_str()] {
        let mut viewer = attach(&a, "k1", Some(last)).await;
        assert_eq!(viewer.next().await.unwrap().kind, "resync", "{last:?}");
        assert_eq!(viewer.next().await.unwrap().data, "x");
    }
    // A message over the bound is refused, and handed back.
    let big = "x".repeat(2 << 20);
    match producer.send(big.clone()).await {
        Err(SendError::Invalid(InvalidMessage::TooLarge, message)) => {
            assert_eq!(message, big.into());
        }
        other => panic!("too large: {other:?}"),
    }
}

#[tokio::test]
async fn ids_are_positions_and_comments_pass_through() {
    let Some(redis) = RedisServer::start_for_test() else {
        return;
    };
    let a = process(options(&redis));
    let producer = start(&a, "wire").await;
    let own_id = Event::new("mine")
        .with_event("token")
        .unwrap()
        .with_id("7")
        .unwrap();
    producer.try_send(own_id).unwrap();
    producer.try_send(Comment::new("thinking")).unwrap();
    producer
        .try_send(Message::retry(Duration::from_secs(3)))
        .unwrap();
    producer.send("after").await.unwrap();
    producer.finish().await.unwrap();
    let mut response = a.attach("wire", None).await.unwrap().unwrap();
    let mut wire = Vec::new();
    while let Some(bytes) = response.next().await {
        wire.extend_from_slice(&bytes);
    }
    let wire = String::from_utf8(wire).unwrap();
    let frames: Vec<&str> = wire.split_terminator("\n\n").collect();
    assert_eq!(frames.len(), 5, "{wire}");
    let id = |frame: &str| frame.rsplit_once("id: ").map(|(_, id)| id.to_owned());
    let first = id(frames[0]).expect("an entry id");
    assert!(frames[0].starts_with("event: token\n"), "{wire}");
    assert!(frames[0].contains("data: mine\n"), "{wire}");
    assert_ne!(first, "7", "the entry id replaces the event's own");
    assert_eq!(frames[1], ": thinking");
    assert_eq!(frames[2], "retry: 3000");
    let after = id(frames[3]).expect("an entry id");
    assert!(first < after);
    assert!(frames[4].starts_with("event: end\n"), "{wire}");
    // Resuming after the first event gives what follows it, comments included.
    let rest = attach(&a, "wire", Some(&first)).await.rest().await;
    assert_eq!(data(&rest), ["after", "done"]);
}

#[tokio::test]
async fn a_resumer_from_before_what_was_trimmed_gets_a_resync() {
    let Some(redis) = RedisServer::start_for_test() else {
        return;
    };
    // Each event below is 11 bytes as stored ("data: e000\n"): 10 fit.
    let a = process(options(&redis).max_bytes(110));
    let producer = start(&a, "t").await;
    producer.send("e000").await.unwrap();
    let mut early = attach(&a, "t", None).await;
    let first = early.next().await.unwrap();
    assert_eq!(first.data, "e000");
    for i in 1..100 {
        producer.send(format!("e{i:03}")).await.unwrap();
    }
    producer.finish().await.unwrap();
    // What the stream holds fits the bound.
    let all = attach(&a, "t", None).await.rest().await;
    assert_eq!(all[0].kind, "resync", "the start was trimmed");
    let kept = &all[1..all.len() - 1];
    let bytes: usize = kept
        .iter()
        .map(|seen| "data: \n".len() + seen.data.len())
        .sum();
    assert!(bytes <= 110, "{bytes} bytes kept");
    assert_eq!(kept.last().unwrap().data, "e099");
    assert_eq!(kept.len(), 10);
    // A resumer from the first event: resync, then what is kept, then the end.
    let resumed = attach(&a, "t", Some(&first.id)).await.rest().await;
    assert_eq!(resumed[0].kind, "resync");
    assert_eq!(data(&resumed[1..]), data(&all[1..]));
    // The viewer that fell behind while reading: a resync where the gap is.
    let rest = early.rest().await;
    assert_eq!(rest[0].kind, "resync");
    assert_eq!(data(&rest[1..]), data(&all[1..]));
    assert!(a.metrics().resyncs >= 3);
}

#[tokio::test]
async fn a_dropped_producer_finishes_and_an_idle_one_is_abandoned() {
    let Some(redis) = RedisServer::start_for_test() else {
        return;
    };
    let a = process(options(&redis).abandon_after(Duration::from_millis(300)));
    let producer = start(&a, "dropped").await;
    producer.try_send("queued").unwrap();
    let mut viewer = attach(&a, "dropped", None).await;
    drop(producer);
    // run writes what waited, then the end.
    let seen = viewer.rest().await;
    assert_eq!(data(&seen), ["queued", "done"]);
    // Nobody follows this one: abandoned, producer closed, viewers told.
    let idle = start(&a, "idle").await;
    tokio::time::timeout(TIMEOUT, idle.closed())
        .await
        .expect("abandoned");
    assert!(a.attach("idle", None).await.unwrap().is_none());
}

#[tokio::test]
async fn capacity_bounds_viewers_on_a_process() {
    let Some(redis) = RedisServer::start_for_test() else {
        return;
    };
    let a = process(options(&redis).max_viewers(1));
    let producer = start(&a, "k").await;
    producer.send("x").await.unwrap();
    let viewer = attach(&a, "k", None).await;
    let refused = a.attach("k", None).await.expect_err("at capacity");
    assert!(matches!(refused, AttachError::AtCapacity));
    assert_eq!(refused.status(), 503);
    drop(viewer);
    attach(&a, "k", None).await;
}

#[tokio::test]
async fn redis_down_refuses_starts_and_fails_sends_clearly() {
    let Some(mut redis) = RedisServer::start_for_test() else {
        return;
    };
    let options = options(&redis);
    let a = process(options.clone());
    let producer = start(&a, "k").await;
    producer.send("before").await.unwrap();
    redis.stop();
    let refused = a.start("other").await.expect_err("redis is down");
    assert!(matches!(refused, StartError::Unavailable(_)), "{refused:?}");
    assert_eq!(refused.status(), 503);
    assert!(matches!(
        a.attach("k", None).await,
        Err(AttachError::Unavailable(_))
    ));
    assert!(matches!(
        producer.send("during").await,
        Err(SendError::Unavailable(_, None))
    ));
    assert!(a.cancel("k").await.is_err());
    // Back, but empty: the stream is lost, and the producer is told so rather
    // than writing into a new stream.
    redis.restart().expect("redis-server restarts");
    assert!(matches!(
        producer.send("after").await,
        Err(SendError::Lost(_))
    ));
    assert!(producer.is_closed());
    assert!(a.attach("k", None).await.unwrap().is_none());
}

#[tokio::test]
async fn a_redis_that_stalls_loses_nothing_and_repeats_nothing() {
    let Some(redis) = RedisServer::start_for_test() else {
        return;
    };
    let pid = redis.pid().expect("running").to_string();
    let signal = |name: &str| {
        let status = std::process::Command::new("kill")
            .args([name, &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
    };
    let mut options = options(&redis);
    options.response_timeout = Duration::from_millis(300);
    let a = process(options.clone());
    let b = process(options);
    let producer = start(&a, "k").await;
    producer.send("1").await.unwrap();
    let mut viewer = attach(&b, "k", None).await;
    let first = viewer.next().await.unwrap();
    assert_eq!(first.data, "1");
    signal("-STOP");
    // The writes time out: not reported written; they wait in the producer.
    producer.try_send("2").unwrap();
    let failed = producer.send("3").await;
    // The viewer's read times out too: its response ends.
    let ended = viewer.next().await;
    signal("-CONT");
    assert!(
        matches!(failed, Err(SendError::Unavailable(_, None))),
        "{failed:?}"
    );
    assert_eq!(ended, None, "the viewer's response ends while Redis stalls");
    // Redis may or may not have taken them: the next write settles it, once.
    producer.send("4").await.expect("redis is back");
    producer.finish().await.unwrap();
    // The viewer comes back with its Last-Event-ID: exactly the rest.
    let rest = attach(&b, "k", Some(&first.id)).await.rest().await;
    assert_eq!(data(&rest), ["2", "3", "4", "done"]);
    let seen = attach(&a, "k", None).await.rest().await;
    assert_eq!(data(&seen), ["1", "2", "3", "4", "done"]);
}
