//! Per-request streams: the demos' `/generate` (a generated reply, word by word,
//! through a channel from a producer task), read over real HTTP. These are the
//! plain streams (`"resumable": false`), whose producer stops with its response;
//! `resume.rs` has the resumable ones.

use std::time::Duration;

use serde_json::{Value, json};
use sse_core::{Decoded, MessageEvent};
use sse_demo::{CHECKPOINT_EVERY, word};

use crate::Adapter;
use sse_testkit::client::{Connect, Protocol, SseClient};

/// Reads a reply up to its `done` event: the words, and the id the last checkpoint
/// moved the client's last event id to.
async fn read_reply(client: &mut SseClient) -> (Vec<String>, String, Value) {
    let mut words = Vec::new();
    loop {
        let event: MessageEvent = client.next_event().await;
        if event.event_type == "done" {
            let done = serde_json::from_str(&event.data).expect("JSON");
            return (words, event.last_event_id, done);
        }
        assert_eq!(event.event_type, "message", "{event:?}");
        words.push(event.data);
    }
}

fn expected_words(range: std::ops::Range<u64>) -> Vec<String> {
    range.map(|n| word(n).to_owned()).collect()
}

/// 10 000 words, made as fast as they are read, arrive complete and in order over
/// every protocol, each reply opening with the retry hint; then the response ends.
pub(crate) async fn generate_streams_every_word_in_order(adapter: Adapter) {
    let server = adapter.start(&[]);
    for &protocol in adapter.protocols() {
        let request = json!({"prompt": "tell me", "words": 10_000, "rate": 0, "resumable": false});
        let mut client = Connect::generate(&request)
            .protocol(protocol)
            .open(&server)
            .await;
        assert_eq!(client.header("content-type"), "text/event-stream");
        assert_eq!(
            client.next().await,
            Some(Decoded::Retry(Duration::from_secs(1))),
            "{protocol:?}"
        );
        let (words, last_id, done) = read_reply(&mut client).await;
        assert_eq!(words.len(), 10_000, "{protocol:?}");
        assert_eq!(words, expected_words(0..10_000), "{protocol:?}");
        assert_eq!(last_id, "10000", "the last checkpoint is the id");
        assert_eq!(done, json!({"words": 10_000, "prompt_words": 2}));
        assert_eq!(
            client.until_end().await,
            [],
            "{protocol:?}: the stream ends"
        );
    }
    let stats = server
        .wait_for_stats("the producers to finish", |s| {
            s["generate"]["completed"] == adapter.protocols().len()
        })
        .await;
    assert_eq!(stats["generate"]["cancelled"], 0, "{stats}");
}

/// Words spaced in time (200 a second) arrive one by one, each as soon as it is
/// made, and the checkpoints move the last event id without an event of their own.
pub(crate) async fn generate_spaced_words_arrive_as_made(adapter: Adapter) {
    let server = adapter.start(&[]);
    let words = CHECKPOINT_EVERY + 20;
    let request = json!({"words": words, "rate": 200, "resumable": false});
    let mut client = Connect::generate(&request).open(&server).await;
    let mut seen = Vec::new();
    for n in 0..words {
        let event = client.next_event().await;
        let checkpoint = if n + 1 > CHECKPOINT_EVERY {
            CHECKPOINT_EVERY.to_string()
        } else {
            String::new()
        };
        assert_eq!(event.last_event_id, checkpoint, "word {n}");
        seen.push(event.data);
    }
    assert_eq!(seen, expected_words(0..words));
    let (rest, last_id, _) = read_reply(&mut client).await;
    assert_eq!((rest.len(), last_id), (0, words.to_string()));
}

/// An idle per-request stream gets keep-alive comments (`--keep-alive 1`), after
/// its opening retry hint and comment.
pub(crate) async fn generate_idle_stream_gets_keep_alive(adapter: Adapter) {
    let server = adapter.start(&["--keep-alive", "1"]);
    // One word every 20 s: idle for much longer than the interval.
    let request = json!({"words": 2, "rate": 0.05, "resumable": false});
    let mut client = Connect::generate(&request).open(&server).await;
    assert_eq!(
        client.next().await,
        Some(Decoded::Retry(Duration::from_secs(1)))
    );
    assert_eq!(
        client.next().await,
        Some(Decoded::Comment("generating".into()))
    );
    assert_eq!(
        client.next().await,
        Some(Decoded::Comment("keep-alive".into()))
    );
    assert_eq!(
        client.next().await,
        Some(Decoded::Comment("keep-alive".into()))
    );
}

/// A client that goes away mid-reply: the producer's next send fails, so it stops
/// (counted as cancelled), and the response's stream is dropped.
pub(crate) async fn generate_stops_when_the_client_goes_away(adapter: Adapter) {
    let server = adapter.start(&[]);
    for &protocol in adapter.protocols() {
        let request = json!({"words": 1_000_000, "rate": 1000, "resumable": false});
        let mut client = Connect::generate(&request)
            .protocol(protocol)
            .open(&server)
            .await;
        assert_eq!(client.next_event().await.data, word(0));
        drop(client);
    }
    let n = adapter.protocols().len();
    server
        .wait_for_stats("every producer to stop", |s| {
            s["generate"]["cancelled"] == n && s["generate"]["active"] == 0
        })
        .await;
}

/// `HEAD` on a per-request stream gets the head alone, and the producer the
/// handler started for it stops at once (its stream is dropped unread), over every
/// protocol.
pub(crate) async fn generate_head_gets_the_head_alone(adapter: Adapter) {
    let server = adapter.start(&[]);
    for &protocol in adapter.protocols() {
        let url = server.url("/generate?words=1000000&rate=1000");
        let response = protocol.client().head(url).send().await.expect("HEAD");
        assert_eq!(response.status(), 200, "{protocol:?}");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let body = response.bytes().await.expect("the (empty) body");
        assert!(body.is_empty(), "{protocol:?}: {body:?}");
    }
    let n = adapter.protocols().len();
    server
        .wait_for_stats("every producer to stop", |s| {
            s["generate"]["cancelled"] == n && s["generate"]["active"] == 0
        })
        .await;
}

/// A fallible stream that fails: what came before arrives, then the application's
/// `error` event, then the response ends cleanly (no transport error).
pub(crate) async fn generate_failure_ends_the_response_cleanly(adapter: Adapter) {
    let server = adapter.start(&[]);
    for &protocol in adapter.protocols() {
        let request = json!({"words": 100, "fail_after": 30, "rate": 0});
        let mut client = Connect::generate(&request)
            .protocol(protocol)
            .open(&server)
            .await;
        let events = client.until_end().await;
        let (error, words) = events.split_last().expect("events");
        let words: Vec<String> = words.iter().map(|e| e.data.clone()).collect();
        assert_eq!(words, expected_words(0..30), "{protocol:?}");
        assert_eq!(
            (&*error.event_type, &*error.data),
            ("error", "the generator failed")
        );
    }
}

/// A reconnecting client's `Last-Event-ID` (a checkpoint) reaches the handler,
/// which resumes after it.
pub(crate) async fn generate_resumes_after_last_event_id(adapter: Adapter) {
    let server = adapter.start(&[]);
    let request = json!({"words": 205, "rate": 0, "resumable": false});
    let mut client = Connect::generate(&request)
        .header("last-event-id", "200")
        .open(&server)
        .await;
    let resumed = client.next_event().await;
    assert_eq!((&*resumed.event_type, &*resumed.data), ("resumed", "200"));
    let (words, last_id, _) = read_reply(&mut client).await;
    assert_eq!(words, expected_words(200..205));
    assert_eq!(last_id, "205");
}

/// Invalid requests are a 400 with a JSON error, and start nothing.
pub(crate) async fn generate_invalid_request_is_400(adapter: Adapter) {
    let server = adapter.start(&[]);
    for body in [
        json!({"words": -1}),
        json!({"rate": 1e9}),
        json!({"nope": 1}),
    ] {
        let reply = Connect::generate(&body)
            .send(&server)
            .await
            .expect_err("refused");
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
        assert!(reply.json["error"].is_string(), "{reply:?}");
    }
    let stats = server.stats().await;
    assert_eq!(stats["generate"]["started"], 0, "{stats}");
}

/// A positive rate too small to pace by (the pause for 1e-20 words a second is
/// beyond what a `Duration` holds: turned into one, it would panic and drop the
/// connection with no answer) is a 400 with a JSON error, by `POST` and by `GET`,
/// and the server goes on.
pub(crate) async fn generate_a_tiny_rate_is_400_not_a_panic(adapter: Adapter) {
    let server = adapter.start(&[]);
    for rate in ["1e-20", "5e-324", "0.0009"] {
        let body: Value =
            serde_json::from_str(&format!(r#"{{"words": 10, "rate": {rate}}}"#)).expect("JSON");
        let reply = Connect::generate(&body)
            .send(&server)
            .await
            .expect_err("refused");
        reply.assert_json_error(400, &format!("POST rate {rate}"));
        let url = server.url(&format!("/generate?words=10&rate={rate}"));
        let response = Protocol::Http1
            .client()
            .get(&url)
            .send()
            .await
            .expect("an answer, not a dropped connection");
        let reply = sse_testkit::demo::Reply::read(response).await;
        reply.assert_json_error(400, &format!("GET rate {rate}"));
    }
    let stats = server.stats().await;
    assert_eq!(stats["generate"]["started"], 0, "{stats}");
    // The slowest rate allowed is served.
    let request = json!({"words": 1, "rate": sse_demo::MIN_RATE});
    let mut client = Connect::generate(&request).open(&server).await;
    assert_eq!(
        client.next().await,
        Some(Decoded::Retry(Duration::from_secs(1)))
    );
}

/// The issue's case: clients that open a paced reply (a word every 1 000 s) and
/// leave at once. Each producer waits in its pause with `Sender::closed`, so every
/// one stops as soon as its client is gone, long before its next word.
pub(crate) async fn generate_paced_producers_stop_when_their_clients_leave(adapter: Adapter) {
    const CLIENTS: usize = 300;
    // All from one address: more than the demo lets one address open by default.
    let server = adapter.start(&["--max-connections-per-peer", "0"]);
    let request = json!({"words": 10, "rate": 0.001, "resumable": false});
    let mut clients = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        clients.push(Connect::generate(&request).open(&server).await);
    }
    server
        .wait_for_stats("every producer to start", |s| {
            s["generate"]["active"] == CLIENTS
        })
        .await;
    drop(clients);
    let stats = server
        .wait_for_stats("every producer to stop", |s| s["generate"]["active"] == 0)
        .await;
    assert_eq!(stats["generate"]["cancelled"], CLIENTS, "{stats}");
    assert_eq!(stats["generate"]["completed"], 0, "{stats}");
}

/// At most `--max-generations` replies run at once: the next is a 503 with
/// `Retry-After` and a JSON error, and once one ends there is room again.
pub(crate) async fn generate_beyond_the_limit_is_503_with_retry_after(adapter: Adapter) {
    let server = adapter.start(&["--max-generations", "3"]);
    let request = json!({"words": 10, "rate": 0.001, "resumable": false});
    let mut running = Vec::new();
    for _ in 0..3 {
        running.push(Connect::generate(&request).open(&server).await);
    }
    let reply = Connect::generate(&request)
        .send(&server)
        .await
        .expect_err("refused");
    reply.assert_json_error(503, "a fourth generation");
    assert_eq!(reply.header("retry-after"), "5", "{reply:?}");
    let stats = server.stats().await;
    assert_eq!(stats["generate"]["refused"], 1, "{stats}");

    running.pop();
    server
        .wait_for_stats("a producer to stop", |s| s["generate"]["active"] == 2)
        .await;
    let mut again = Connect::generate(&request).open(&server).await;
    assert_eq!(
        again.next().await,
        Some(Decoded::Retry(Duration::from_secs(1)))
    );
}
