//! Resumable replies: the demos' `POST /generate` starts a reply that outlives its
//! connection; `GET /generate/{key}` resumes it after `Last-Event-ID`;
//! `POST /generate/{key}/cancel` stops it. Read over real HTTP from every adapter.

use serde_json::{Value, json};
use sse_core::MessageEvent;
use sse_demo::word;

use crate::Adapter;
use sse_testkit::client::{Connect, SseClient};
use sse_testkit::demo::Server;

/// A small deterministic generator (xorshift64*), so a failing run can be repeated.
pub(crate) struct Random(pub(crate) u64);

impl Random {
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// Starts a reply: the viewer's stream, and the reply's key from its first
/// (`stream`) event, checked against the `Resume-Location` header.
pub(crate) async fn start(server: &Server, request: &Value) -> (SseClient, String) {
    let mut viewer = Connect::generate(request).open(server).await;
    let location = viewer.header("resume-location").to_owned();
    let first = viewer.next_event().await;
    assert_eq!(first.event_type, "stream", "{first:?}");
    let named: Value = serde_json::from_str(&first.data).expect("JSON");
    let key = named["key"].as_str().expect("a key").to_owned();
    assert_eq!(named["resume"], location);
    assert_eq!(location, format!("/generate/{key}"));
    (viewer, key)
}

/// Attaches to `key` after `last_event_id` (from the start without one).
pub(crate) async fn attach(
    server: &Server,
    key: &str,
    last_event_id: &str,
) -> Result<SseClient, u16> {
    let mut request = Connect::get(&format!("/generate/{key}"));
    if !last_event_id.is_empty() {
        request = request.header("last-event-id", last_event_id);
    }
    request.send(server).await.map_err(|reply| reply.status)
}

/// What one viewer read of a reply: the words (without the opening `stream`
/// event), and whether it saw the end (and its reason).
#[derive(Debug, Default)]
pub(crate) struct Read {
    pub(crate) words: Vec<String>,
    pub(crate) done: Option<Value>,
    pub(crate) end: Option<String>,
}

impl Read {
    pub(crate) fn take(&mut self, event: MessageEvent) {
        match &*event.event_type {
            "stream" => {}
            "message" => self.words.push(event.data),
            "done" => self.done = Some(serde_json::from_str(&event.data).expect("JSON")),
            "end" => self.end = Some(event.data),
            other => panic!("unexpected {other} event: {event:?}"),
        }
    }
}

pub(crate) fn expected_words(n: u64) -> Vec<String> {
    (0..n).map(|n| word(n).to_owned()).collect()
}

/// A 10 000-word reply whose viewer's connection drops at 100 random points, each
/// time resumed by `GET /generate/{key}` with the last id it saw: the words read,
/// put together, are exactly the reply (no gap, no duplicate), the reply was
/// started once, and resuming after its end answers 204.
pub(crate) async fn resume_after_drops_at_random_points_gives_exactly_the_reply(adapter: Adapter) {
    let server = adapter.start(&[]);
    const WORDS: u64 = 10_000;
    // Paced, so most resumes find the reply still being written.
    let request = json!({"words": WORDS, "rate": 5000});
    let (mut viewer, key) = start(&server, &request).await;
    let mut random = Random(0x9e37_79b9_7f4a_7c15 ^ adapter.bin.len() as u64);
    let mut read = Read::default();
    // The id of the last event read, on whichever connection. At most
    // `WORDS / 100 - 1` events are read between two drops: the reply is never
    // over before the last one.
    let mut resume_from = String::new();
    for drop_point in 0..100 {
        for _ in 0..random.below(WORDS / 100) {
            let event = viewer.next_event().await;
            resume_from.clone_from(&event.last_event_id);
            read.take(event);
        }
        drop(viewer);
        viewer = attach(&server, &key, &resume_from)
            .await
            .unwrap_or_else(|status| panic!("resume {drop_point} after {resume_from}: {status}"));
    }
    while read.end.is_none() {
        read.take(viewer.next_event().await);
    }
    assert_eq!(read.words.len() as u64, WORDS);
    assert!(read.words == expected_words(WORDS), "the words differ");
    assert_eq!(read.done, Some(json!({"words": WORDS, "prompt_words": 0})));
    assert_eq!(read.end.as_deref(), Some("done"));
    assert_eq!(
        viewer.until_end().await,
        [],
        "the response ends after `end`"
    );
    let end = viewer.last_event_id().to_owned();
    assert_eq!(attach(&server, &key, &end).await.err(), Some(204));
    let stats = server.stats().await;
    assert_eq!(stats["generate"]["started"], 1, "started once: {stats}");
    assert_eq!(stats["replies"]["started"], 1, "{stats}");
    assert_eq!(stats["replies"]["resumed"], 100, "{stats}");
}

/// Two viewers (a second tab) each get the whole reply, over every protocol.
pub(crate) async fn resume_two_viewers_each_get_the_whole_reply(adapter: Adapter) {
    let server = adapter.start(&[]);
    for &protocol in adapter.protocols() {
        let request = json!({"words": 300, "rate": 1000});
        let (first, key) = start(&server, &request).await;
        let second = Connect::get(&format!("/generate/{key}"))
            .protocol(protocol)
            .open(&server)
            .await;
        for mut viewer in [first, second] {
            let mut read = Read::default();
            for event in viewer.until_end().await {
                read.take(event);
            }
            assert_eq!(read.words, expected_words(300), "{protocol:?}");
            assert_eq!(read.end.as_deref(), Some("done"), "{protocol:?}");
        }
    }
}

/// A viewer that goes away and never comes back does not stop the reply: it is
/// finished for whoever attaches later.
pub(crate) async fn resume_a_viewer_leaving_never_stops_the_reply(adapter: Adapter) {
    let server = adapter.start(&[]);
    let request = json!({"words": 200, "rate": 400});
    let (viewer, key) = start(&server, &request).await;
    drop(viewer);
    server
        .wait_for_stats("the reply to finish", |s| s["generate"]["completed"] == 1)
        .await;
    let mut late = attach(&server, &key, "").await.expect("lingering");
    let mut read = Read::default();
    for event in late.until_end().await {
        read.take(event);
    }
    assert_eq!(read.words, expected_words(200));
    assert_eq!(read.end.as_deref(), Some("done"));
    assert_eq!(server.stats().await["generate"]["cancelled"], 0);
}

/// The Stop button: `POST /generate/{key}/cancel` ends the producer and every
/// viewer with `end: cancelled`; the key then answers 204, and a second cancel 404.
pub(crate) async fn resume_cancel_stops_the_producer_and_every_viewer(adapter: Adapter) {
    let server = adapter.start(&[]);
    let request = json!({"words": 1_000_000, "rate": 100});
    let (mut viewer, key) = start(&server, &request).await;
    let mut other = attach(&server, &key, "").await.expect("live");
    assert_eq!(viewer.next_event().await.data, word(0));
    let cancel = format!("/generate/{key}/cancel");
    let reply = server.post(&cancel, "").await;
    assert_eq!(reply.status, 202, "{reply:?}");
    for viewer in [&mut viewer, &mut other] {
        let events = viewer.until_end().await;
        let last = events.last().expect("the end event");
        assert_eq!((&*last.event_type, &*last.data), ("end", "cancelled"));
    }
    server
        .wait_for_stats("the producer to stop", |s| {
            s["generate"]["cancelled"] == 1 && s["generate"]["active"] == 0
        })
        .await;
    assert_eq!(attach(&server, &key, "").await.err(), Some(204));
    assert_eq!(server.post(&cancel, "").await.status, 404);
}

/// A finished reply lingers for `--linger` seconds, then its key answers 204; an
/// unknown or invalid key answers 204 at once (an `EventSource` stops).
pub(crate) async fn resume_expired_or_unknown_keys_answer_204(adapter: Adapter) {
    let server = adapter.start(&["--linger", "1"]);
    let (mut viewer, key) = start(&server, &json!({"words": 3, "rate": 0})).await;
    viewer.until_end().await;
    assert!(attach(&server, &key, "").await.is_ok(), "still lingering");
    server
        .wait_for_stats("the linger to end", |s| s["replies"]["expired"] == 1)
        .await;
    assert_eq!(attach(&server, &key, "").await.err(), Some(204));
    for unknown in ["reply-unknown", "a%20b", &"k".repeat(200)] {
        assert_eq!(
            attach(&server, unknown, "").await.err(),
            Some(204),
            "{unknown}"
        );
    }
}

/// Replies started and left behind cannot hold the producers forever: one no one
/// watches for `--abandon` seconds is cancelled (its producer stops, its slot
/// among `--max-generations` is free again), and its key then answers 204.
pub(crate) async fn resume_an_unwatched_reply_is_abandoned(adapter: Adapter) {
    let server = adapter.start(&["--abandon", "1", "--max-generations", "1"]);
    // A word every 1 000 s: it would run for hours.
    let request = json!({"words": 10, "rate": 0.001});
    let (viewer, key) = start(&server, &request).await;
    let refused = Connect::generate(&request).send(&server).await;
    assert_eq!(refused.err().map(|reply| reply.status), Some(503));
    drop(viewer);
    let stats = server
        .wait_for_stats("the reply to be abandoned", |s| {
            s["replies"]["abandoned"] == 1 && s["generate"]["active"] == 0
        })
        .await;
    assert_eq!(stats["generate"]["cancelled"], 1, "{stats}");
    assert_eq!(attach(&server, &key, "").await.err(), Some(204));
    let (_again, _) = start(&server, &request).await;
}
