//! The cases, each an `async fn(Adapter)` run once per adapter by `adapter_tests!`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use sse_core::Decoded;

use crate::Adapter;
use sse_testkit::client::{Connect, Protocol, RawClient, SseClient};
use sse_testkit::demo::{Server, TIMEOUT};

/// The head comes before any event, with the SSE headers, over every protocol.
pub(crate) async fn response_head(adapter: Adapter) {
    let server = adapter.start(&[]);
    for &protocol in adapter.protocols() {
        // Nothing is published: `open` returning means the head was flushed on its own.
        let mut client = Connect::new().protocol(protocol).open(&server).await;
        let content_type = client.header("content-type");
        assert!(
            content_type.starts_with("text/event-stream"),
            "{protocol:?}: content-type {content_type:?}"
        );
        assert_eq!(
            client.header("cache-control"),
            "no-cache, no-transform",
            "{protocol:?}"
        );
        assert_eq!(client.header("x-accel-buffering"), "no", "{protocol:?}");
        if protocol == Protocol::Http2 {
            assert!(
                client.headers.get("connection").is_none(),
                "a connection header over HTTP/2: {:?}",
                client.headers
            );
        }
        let data = format!("first event over {protocol:?}");
        let id = server.broadcast(&data).await;
        let event = client.next_event().await;
        assert_eq!(
            (event.data, event.last_event_id),
            (data, id),
            "{protocol:?}"
        );
    }
}

/// Events arrive in the order they were published, each with its sequence as id.
pub(crate) async fn events_arrive_in_order(adapter: Adapter) {
    const EVENTS: usize = 50;
    let server = adapter.start(&[]);
    for &protocol in adapter.protocols() {
        let mut client = Connect::new().protocol(protocol).open(&server).await;
        let mut ids = Vec::new();
        for i in 0..EVENTS {
            ids.push(server.broadcast(&format!("event {i}")).await);
        }
        let sequences: Vec<u64> = ids.iter().map(|id| id.parse().expect("a number")).collect();
        assert!(sequences.windows(2).all(|w| w[0] < w[1]), "ids {ids:?}");
        for (i, event) in client.events(EVENTS).await.into_iter().enumerate() {
            assert_eq!(event.event_type, "message", "{protocol:?}");
            assert_eq!(event.data, format!("event {i}"), "{protocol:?}");
            assert_eq!(event.last_event_id, ids[i], "{protocol:?}");
        }
    }
}

/// Data with every kind of line break, and non-ASCII text, arrives as the browser's
/// model says: lines joined with `\n`, nothing else changed.
pub(crate) async fn multi_line_and_unicode_data_intact(adapter: Adapter) {
    let inputs = [
        "line 1\nline 2",
        "line 1\r\nline 2",
        "line 1\rline 2",
        "mixed\r\n\r\n\n\r and a blank line in between",
        "trailing line break\n",
        "\nleading line break",
        "",
        " leading space",
        "  two leading spaces, trailing space ",
        "data: looks like a field\nevent: forged\nid: forged",
        ": looks like a comment",
        "ünïcödé — 日本語 — 🦀🚀 — \u{feff}BOM inside — Ω≈ç√",
        "tab\tand NUL-free control \u{7}",
    ];
    let server = adapter.start(&[]);
    for &protocol in adapter.protocols() {
        let mut client = Connect::new().protocol(protocol).open(&server).await;
        for data in inputs {
            server.broadcast(data).await;
        }
        for (data, event) in inputs.iter().zip(client.events(inputs.len()).await) {
            let expected = data.replace("\r\n", "\n").replace('\r', "\n");
            assert_eq!(event.data, expected, "{protocol:?}: sent {data:?}");
            assert_eq!(event.event_type, "message", "{protocol:?}: sent {data:?}");
        }
    }
}

/// A named event type, an event's own id, and a `retry` hint reach the client.
pub(crate) async fn named_event_own_id_and_retry(adapter: Adapter) {
    let server = adapter.start(&[]);
    for &protocol in adapter.protocols() {
        let mut client = Connect::new().protocol(protocol).open(&server).await;
        let own = format!("msg-{protocol:?}");
        let id = server
            .publish(&json!({ "data": "hello", "event": "chat", "id": own }))
            .await;
        assert_eq!(id, own, "the reply carries the event's own id");
        let event = client.next_event().await;
        assert_eq!((&*event.event_type, event.data.as_str()), ("chat", "hello"));
        assert_eq!(event.last_event_id, own);

        // Without an id of its own, an event carries its sequence.
        let sequence = server.broadcast("plain").await;
        let event = client.next_event().await;
        assert_eq!(event.event_type, "message");
        assert_eq!(event.last_event_id, sequence);
        assert!(sequence.parse::<u64>().is_ok(), "sequence {sequence:?}");

        server
            .publish(&json!({ "data": "with retry", "retry": 1500 }))
            .await;
        assert_eq!(
            client.next().await,
            Some(Decoded::Retry(Duration::from_millis(1500))),
            "{protocol:?}"
        );
        assert_eq!(client.next_event().await.data, "with retry");
    }
}

/// A frame sent to one client (named by `client=` or by the `sse-clientid` header)
/// reaches it alone, live, with no automatic id.
pub(crate) async fn targeted_send_reaches_only_that_client(adapter: Adapter) {
    let server = adapter.start(&[]);
    let protocol = adapter.newest_protocol();
    let mut alice = Connect::new().client("alice").open(&server).await;
    let mut bob = Connect::new()
        .protocol(protocol)
        .header("sse-clientid", "bob")
        .open(&server)
        .await;
    let mut anonymous = Connect::new().open(&server).await;
    server.wait_for_client("alice").await;
    server.wait_for_client("bob").await;

    server
        .publish(&json!({ "data": "for alice", "client": "alice" }))
        .await;
    server
        .publish(&json!({ "data": "for bob", "client": "bob", "event": "private" }))
        .await;
    let end = server.broadcast("end").await;

    let first = alice.next_event().await;
    assert_eq!(first.data, "for alice");
    assert_eq!(
        first.last_event_id, "",
        "a targeted frame has no automatic id"
    );
    assert_eq!(alice.data_until("end").await, ["end"]);
    let first = bob.next_event().await;
    assert_eq!(
        (&*first.event_type, first.data.as_str()),
        ("private", "for bob")
    );
    assert_eq!(
        first.last_event_id, "",
        "a targeted frame has no automatic id"
    );
    let last = bob.next_event().await;
    assert_eq!((last.data.as_str(), last.last_event_id), ("end", end));
    assert_eq!(anonymous.data_until("end").await, ["end"]);
}

/// A topic's events reach its subscribers only; broadcasts reach everyone.
pub(crate) async fn topics_reach_only_subscribers(adapter: Adapter) {
    let server = adapter.start(&[]);
    let mut news = Connect::new().topic("news").open(&server).await;
    let mut sports = Connect::new()
        .protocol(adapter.newest_protocol())
        .topic("sports")
        .open(&server)
        .await;
    let mut both = Connect::new()
        .topic("news")
        .topic("sports")
        .open(&server)
        .await;
    let mut none = Connect::new().open(&server).await;
    server
        .wait_for_stats("4 clients", |s| s["active"] == 4)
        .await;

    server
        .publish(&json!({ "data": "news 1", "topic": "news" }))
        .await;
    server
        .publish(&json!({ "data": "sports 1", "topic": "sports" }))
        .await;
    server.broadcast("everyone").await;
    server
        .publish(&json!({ "data": "news 2", "topic": "news" }))
        .await;
    server
        .publish(&json!({ "data": "nobody's", "topic": "weather" }))
        .await;
    server.broadcast("end").await;

    assert_eq!(
        news.data_until("end").await,
        ["news 1", "everyone", "news 2", "end"]
    );
    assert_eq!(
        sports.data_until("end").await,
        ["sports 1", "everyone", "end"]
    );
    assert_eq!(
        both.data_until("end").await,
        ["news 1", "sports 1", "everyone", "news 2", "end"]
    );
    assert_eq!(none.data_until("end").await, ["everyone", "end"]);
}

/// A client that reconnects with `Last-Event-ID` (a sequence, then an event's own id)
/// gets exactly what it missed, from the global log and its topic's, in order: what
/// was in flight when it left and what was published while it was away.
pub(crate) async fn reconnect_with_last_event_id_replays_exactly_the_missed_events(
    adapter: Adapter,
) {
    let server = adapter.start(&["--history", "64"]);
    for (round, &protocol) in adapter.protocols().iter().enumerate() {
        let id = format!("replayer-{round}");
        let connect = || Connect::new().protocol(protocol).client(&id).topic("t");
        let mut client = connect().open(&server).await;
        server.wait_for_client(&id).await;
        let server = &server;
        let publish = |data: &str, topic: Option<&str>, own: Option<&str>| {
            let mut body = json!({ "data": data });
            if let Some(topic) = topic {
                body["topic"] = topic.into();
            }
            if let Some(own) = own {
                body["id"] = own.into();
            }
            async move { server.publish(&body).await }
        };
        let own = format!("own-{round}");
        publish("g1", None, None).await;
        publish("t1", Some("t"), None).await;
        publish("g2", None, None).await;
        publish("t2", Some("t"), Some(&own)).await;
        publish("g3", None, None).await;
        // Read three; the other two were sent and are lost with the connection.
        assert_eq!(
            client
                .events(3)
                .await
                .iter()
                .map(|e| e.data.as_str())
                .collect::<Vec<_>>(),
            ["g1", "t1", "g2"]
        );
        let last = client.last_event_id().to_owned();
        drop(client);
        server
            .wait_for_stats("the client to leave", |s| s["active"] == 0)
            .await;
        // While it is away.
        publish("t3", Some("t"), None).await;
        publish("other topic", Some("u"), None).await;
        publish("g4", None, None).await;

        // By sequence: from just after g2.
        let mut client = connect().header("last-event-id", &last).open(server).await;
        publish("live 1", None, None).await;
        let events = client.events(5).await;
        let data: Vec<_> = events.iter().map(|e| e.data.as_str()).collect();
        assert_eq!(data, ["t2", "g3", "t3", "g4", "live 1"], "{protocol:?}");
        assert_eq!(events[0].last_event_id, own, "t2 keeps its own id");
        let ids: Vec<u64> = events[1..]
            .iter()
            .map(|e| e.last_event_id.parse().expect("a sequence"))
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids {ids:?}");
        drop(client);
        server
            .wait_for_stats("the client to leave", |s| s["active"] == 0)
            .await;

        // By an event's own id: from just after t2.
        let mut client = connect().header("last-event-id", &own).open(server).await;
        publish("live 2", None, None).await;
        let data: Vec<_> = client.events(5).await.into_iter().map(|e| e.data).collect();
        assert_eq!(data, ["g3", "t3", "g4", "live 1", "live 2"], "{protocol:?}");
    }
    let stats = server.stats().await;
    let rounds = adapter.protocols().len() as u64;
    assert!(stats["replays"].as_u64() >= Some(2 * rounds), "{stats}");
    assert_eq!(stats["replay_misses"], 0, "{stats}");
}

/// Ids differ per run of the server: a client that reconnects to a restarted
/// server (same port, new process) with the `Last-Event-ID` of the previous run gets
/// the `resync` event, then live events, even when the new run has already
/// published more events than the old one had (with ids counted from 0 in every run,
/// it would have resumed inside the new run, silently skipping its first events).
pub(crate) async fn reconnect_to_a_restarted_server_with_an_old_id_gets_resync_not_a_skip(
    adapter: Adapter,
) {
    let mut server = adapter.start(&[]);
    let addr = server.addr();
    let mut client = Connect::new().open(&server).await;
    let mut last = String::new();
    for i in 0..3 {
        last = server.broadcast(&format!("old run {i}")).await;
    }
    let events = client.events(3).await;
    assert_eq!(events[2].last_event_id, last);
    drop(client);
    server.terminate();
    let status = server.wait_exit(TIMEOUT).await;
    assert!(status.success(), "the old run exited with {status}");
    drop(server);

    let server = adapter.start_on(addr, &[]);
    assert_eq!(server.addr(), addr, "restarted on the same port");
    let mut new_ids = Vec::new();
    for i in 0..5 {
        new_ids.push(server.broadcast(&format!("new run {i}")).await);
    }
    let old: u64 = last.parse().expect("a sequence");
    let first_new: u64 = new_ids[0].parse().expect("a sequence");
    assert!(first_new > old, "new run's ids {new_ids:?} after {last}");

    let mut client = Connect::new()
        .header("last-event-id", &last)
        .open(&server)
        .await;
    server.broadcast("live").await;
    let first = client.next_event().await;
    assert_eq!(
        (&*first.event_type, first.data.as_str()),
        ("resync", ""),
        "the first thing after an id of the old run"
    );
    let next = client.next_event().await;
    assert_eq!(
        next.data, "live",
        "live events only, nothing skipped silently"
    );
    let stats = server.stats().await;
    assert_eq!(stats["replay_misses"], 1, "{stats}");
}

/// `POST /events` is a 405 with `allow: GET, HEAD` and a JSON error.
pub(crate) async fn post_events_is_405_with_allow(adapter: Adapter) {
    let server = adapter.start(&[]);
    let reply = server.post("/events", "{}").await;
    reply.assert_json_error(405, "POST /events");
    assert_eq!(reply.header("allow"), "GET, HEAD", "{reply:?}");
    assert_eq!(server.stats().await["connects"], 0);
}

/// At `--max-clients 1` a second client gets a 503 with `retry-after`; once the
/// first leaves, there is room again.
pub(crate) async fn max_clients_answers_503_with_retry_after(adapter: Adapter) {
    let server = adapter.start(&["--max-clients", "1"]);
    let first = Connect::new().client("first").open(&server).await;
    for &protocol in adapter.protocols() {
        let Err(reply) = Connect::new().protocol(protocol).send(&server).await else {
            panic!("{protocol:?}: a second client was admitted at --max-clients 1");
        };
        reply.assert_json_error(503, "GET /events at capacity");
        let retry_after = reply.header("retry-after");
        assert!(
            retry_after.parse::<u64>().is_ok(),
            "{protocol:?}: retry-after {retry_after:?}"
        );
    }
    let stats = server.stats().await;
    assert_eq!(stats["active"], 1, "{stats}");
    assert_eq!(stats["refused"], adapter.protocols().len(), "{stats}");

    drop(first);
    server
        .wait_for_stats("the first client to leave", |s| s["active"] == 0)
        .await;
    let mut second = Connect::new().open(&server).await;
    server.broadcast("welcome").await;
    assert_eq!(second.next_event().await.data, "welcome");
}

/// An idle stream gets `: keep-alive` comments (`--keep-alive 1`: within two
/// seconds; the bound here is generous, a loaded runner is slow).
pub(crate) async fn keep_alive_comment_on_idle_stream(adapter: Adapter) {
    let server = adapter.start(&["--keep-alive", "1"]);
    let mut client = Connect::new().open(&server).await;
    match client.next_within(Duration::from_secs(10)).await {
        Ok(Some(Decoded::Comment(comment))) => assert_eq!(comment, "keep-alive"),
        other => panic!("expected a keep-alive comment within 10 s, got {other:?}"),
    }
    let stats = server.stats().await;
    assert!(stats["keep_alives"].as_u64() >= Some(1), "{stats}");
    // The stream still works after it.
    server.broadcast("after the keep-alive").await;
    assert_eq!(client.next_event().await.data, "after the keep-alive");
}

/// A client that goes away is removed promptly, and its disconnect is counted once.
pub(crate) async fn disconnected_client_is_removed_promptly_and_once(adapter: Adapter) {
    let server = adapter.start(&[]);
    // Stays connected throughout: what it receives marks how far the server got.
    let mut watcher = Connect::new().client("watcher").open(&server).await;
    let mut expected = 0;
    for &protocol in adapter.protocols() {
        let id = format!("leaver-{protocol:?}");
        let mut client = Connect::new()
            .protocol(protocol)
            .client(&id)
            .open(&server)
            .await;
        server.wait_for_client(&id).await;
        server.broadcast("hello").await;
        assert_eq!(client.next_event().await.data, "hello");
        drop(client);
        expected += 1;
        let stats = server
            .wait_for_stats(&format!("{protocol:?} client to be removed"), |s| {
                s["active"] == 1 && s["disconnects"].as_u64() >= Some(expected)
            })
            .await;
        assert_eq!(stats["disconnects"], expected, "{stats}");
        assert_eq!(stats["clients"], json!(["watcher"]), "{stats}");
        // And it stays at once: nothing removes it a second time, by the time a
        // broadcast after it has reached the watcher.
        let marker = format!("after {protocol:?}");
        server.broadcast(&marker).await;
        assert!(watcher.data_until(&marker).await.ends_with(&[marker]));
        let stats = server.stats().await;
        assert_eq!(stats["disconnects"], expected, "{stats}");
        assert_eq!(stats["connects"], expected + 1, "{stats}");
    }

    // Ended by the server (`POST /disconnect`): the stream ends, counted once too.
    let mut client = Connect::new().client("kicked").open(&server).await;
    server.wait_for_client("kicked").await;
    let reply = server.disconnect("kicked").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(client.until_end().await, []);
    expected += 1;
    let stats = server
        .wait_for_stats("the kicked client to be removed", |s| s["active"] == 1)
        .await;
    assert_eq!(stats["disconnects"], expected, "{stats}");
    server
        .disconnect("kicked")
        .await
        .assert_json_error(404, "disconnect an unknown client");
}

/// Large events for the slow-client cases: enough that a client that does not read
/// fills the kernel's socket buffers and the server's, and falls far behind.
const SLOW_EVENTS: usize = 200;
/// Just under the demo's 64 KiB body limit once wrapped in JSON.
const SLOW_EVENT_SIZE: usize = 60_000;

/// The slow-client setting, after the flood.
struct Flooded {
    server: Server,
    /// A client that read every event, in order, as they came.
    fast: SseClient,
    /// A client that has not read anything yet.
    slow: RawClient,
}

/// Starts a demo with `--max-lag 16 --history 512 --policy <policy>`, connects a
/// fast client and a slow one (a raw socket that does not read), and publishes
/// [`SLOW_EVENTS`] large events, while the fast client reads them all, in order
/// (checked here): the slow client never holds anyone up.
async fn flood(adapter: Adapter, policy: &str) -> Flooded {
    let server = adapter.start(&[
        "--max-lag",
        "16",
        "--history",
        "512",
        "--policy",
        policy,
        "--keep-alive",
        "0",
    ]);
    let mut fast = Connect::new().client("fast").open(&server).await;
    server.wait_for_client("fast").await;
    let slow = RawClient::connect(&server, "slow").await;

    let received = Arc::new(AtomicUsize::new(0));
    let reader = tokio::spawn({
        let received = received.clone();
        async move {
            let mut last = 0;
            for i in 0..SLOW_EVENTS {
                let event = fast.next_event().await;
                assert_eq!(slow_index(&event), i, "the fast client's event {i}");
                assert_eq!(event.data.len(), SLOW_EVENT_SIZE, "event {i}");
                let id: u64 = event.last_event_id.parse().expect("a sequence id");
                assert!(id > last, "fast client: id {id} after {last}");
                last = id;
                received.store(i + 1, Ordering::Release);
            }
            fast
        }
    });
    let padding = "x".repeat(SLOW_EVENT_SIZE - 7);
    let deadline = Instant::now() + 4 * TIMEOUT;
    for i in 0..SLOW_EVENTS {
        // The fast client must not fall behind: at most 8 events in flight to it.
        while i > received.load(Ordering::Acquire) + 8 {
            assert!(
                Instant::now() < deadline && !reader.is_finished(),
                "the fast client stalled after {} events",
                received.load(Ordering::Acquire)
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        server
            .publish(&json!({ "data": format!("{i:06} {padding}") }))
            .await;
    }
    let fast = tokio::time::timeout(TIMEOUT, reader)
        .await
        .expect("the fast client got every event in time")
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()));
    Flooded { server, fast, slow }
}

/// The index a flood event carries at the start of its data.
fn slow_index(event: &sse_core::MessageEvent) -> usize {
    event
        .data
        .get(..6)
        .and_then(|index| index.parse().ok())
        .unwrap_or_else(|| panic!("not a flood event: {:?}", event.data.get(..16)))
}

/// `--policy disconnect`: while a client that does not read falls behind, another
/// gets every event in order; when the slow one reads again it gets what was
/// already on its way, in order, and then its stream ends: it was disconnected for
/// lagging (and its browser would reconnect with `Last-Event-ID`).
pub(crate) async fn slow_client_is_disconnected_and_others_get_everything(adapter: Adapter) {
    let Flooded {
        server,
        fast,
        mut slow,
    } = flood(adapter, "disconnect").await;
    let mut got = Vec::new();
    while let Some(event) = slow.next_event().await {
        got.push(slow_index(&event));
    }
    assert!(
        !got.is_empty() && got.len() < SLOW_EVENTS,
        "slow client got {got:?}"
    );
    assert!(
        got.iter().enumerate().all(|(i, &index)| i == index),
        "slow client got {got:?}"
    );
    let stats = server
        .wait_for_stats("the lag disconnect", |s| {
            s["lag_disconnects"].as_u64() >= Some(1)
        })
        .await;
    assert_eq!(stats["lag_disconnects"], 1, "only the slow client: {stats}");
    assert_eq!(stats["clients"], json!(["fast"]), "{stats}");
    drop(fast);
}

/// `--policy drop-oldest`: as above, but the slow client, once it reads again, is
/// skipped ahead: it gets what was on its way, then the newest events, in order,
/// with the ones in between dropped and counted.
pub(crate) async fn slow_client_drops_oldest_and_others_get_everything(adapter: Adapter) {
    let Flooded {
        server,
        fast,
        mut slow,
    } = flood(adapter, "drop-oldest").await;
    let mut got = Vec::new();
    while got.last() != Some(&(SLOW_EVENTS - 1)) {
        let event = slow
            .next_event()
            .await
            .expect("the slow client stays connected");
        got.push(slow_index(&event));
    }
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "slow client got {got:?}"
    );
    assert!(got.len() < SLOW_EVENTS, "nothing was dropped: {got:?}");
    let stats = server.stats().await;
    let dropped = stats["dropped"].as_u64().unwrap_or_default();
    assert_eq!(dropped as usize, SLOW_EVENTS - got.len(), "{stats}");
    assert_eq!(stats["lag_disconnects"], 0, "{stats}");
    assert_eq!(stats["active"], 2, "{stats}");
    drop(fast);
}

/// The policy applies to a client that never reads again, too: the hub should not
/// wait for the client's stream to be polled (its writer is blocked on a full
/// socket, so it never is). Ignored until sse-core applies the lag policy without
/// the stream being polled.
pub(crate) async fn slow_client_that_never_reads_is_handled_by_its_policy(adapter: Adapter) {
    for (policy, stat) in [
        ("disconnect", "lag_disconnects"),
        ("drop-oldest", "dropped"),
    ] {
        let Flooded { server, fast, slow } = flood(adapter, policy).await;
        server
            .wait_for_stats(
                &format!("--policy {policy} to act on a client that never reads"),
                |s| s[stat].as_u64() > Some(0),
            )
            .await;
        drop((fast, slow));
    }
}

/// Invalid input to `/publish` is a 4xx with a JSON error, and sends nothing.
pub(crate) async fn invalid_publish_is_rejected_and_sends_nothing(adapter: Adapter) {
    let server = adapter.start(&[]);
    let mut client = Connect::new()
        .client("watcher")
        .topic("t")
        .open(&server)
        .await;
    server.wait_for_client("watcher").await;
    let too_large = json!({ "data": "x".repeat(sse_demo::MAX_BODY) }).to_string();
    let invalid: [(&str, String); 15] = [
        ("not JSON", "{".into()),
        // `id:` with nothing resets every receiving browser's last event id.
        ("an empty id", r#"{"data": "x", "id": ""}"#.into()),
        ("not an object", "[1, 2]".into()),
        ("no data", "{}".into()),
        ("data not a string", r#"{"data": 5}"#.into()),
        ("an unknown field", r#"{"data": "x", "bogus": true}"#.into()),
        (
            "LF in the event type",
            r#"{"data": "x", "event": "a\nb"}"#.into(),
        ),
        (
            "CR in the event type",
            r#"{"data": "x", "event": "a\rb"}"#.into(),
        ),
        ("CRLF in the id", r#"{"data": "x", "id": "1\r\n2"}"#.into()),
        ("NUL in the id", r#"{"data": "x", "id": "a\u0000b"}"#.into()),
        ("a negative retry", r#"{"data": "x", "retry": -1}"#.into()),
        (
            "an unknown client",
            r#"{"data": "x", "client": "nobody"}"#.into(),
        ),
        (
            "a topic and a client",
            r#"{"data": "x", "topic": "t", "client": "watcher"}"#.into(),
        ),
        ("a body over the limit", too_large),
        ("an empty body", String::new()),
    ];
    for (what, body) in invalid {
        let reply = server.post("/publish", body).await;
        assert!(
            (400..500).contains(&reply.status),
            "{what}: status {}: {}",
            reply.status,
            reply.body
        );
        reply.assert_json_error(reply.status, what);
    }
    let stats = server.stats().await;
    assert_eq!(stats["published"], 0, "{stats}");
    // Nothing arrived before the next valid event.
    server.broadcast("the first valid event").await;
    let event = client.next_event().await;
    assert_eq!(event.data, "the first valid event");
}

/// SIGTERM: every open stream gets the `shutdown` event and ends, and the process
/// exits with status 0 within a few seconds.
pub(crate) async fn graceful_shutdown_sends_shutdown_ends_streams_and_exits_0(adapter: Adapter) {
    let mut server = adapter.start(&[]);
    let mut clients: Vec<(String, SseClient)> = Vec::new();
    for &protocol in adapter.protocols() {
        let plain = Connect::new().protocol(protocol).open(&server).await;
        clients.push((format!("{protocol:?} plain"), plain));
        let topic = Connect::new()
            .protocol(protocol)
            .client(&format!("named-{protocol:?}"))
            .topic("t")
            .open(&server)
            .await;
        clients.push((format!("{protocol:?} with id and topic"), topic));
    }
    let count = clients.len();
    server
        .wait_for_stats("every client", |s| s["active"] == count)
        .await;

    server.terminate();
    let signalled = Instant::now();
    let ends: Vec<_> = clients
        .into_iter()
        .map(|(name, mut client)| tokio::spawn(async move { (name, client.until_end().await) }))
        .collect();
    for end in ends {
        let (name, events) = end
            .await
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()));
        let seen: Vec<_> = events
            .iter()
            .map(|e| (&*e.event_type, e.data.as_str()))
            .collect();
        assert_eq!(seen.len(), 1, "{name}: {seen:?}");
        assert_eq!(seen[0].0, "shutdown", "{name}: {seen:?}");
    }
    let status = server.wait_exit(TIMEOUT).await;
    assert!(status.success(), "exit status {status}");
    // Streams end at once, not when the 5 s grace period runs out (generous: a
    // loaded runner is slow to exit).
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "shutting down took {:?}",
        signalled.elapsed()
    );
    let stdout = server.stdout_lines();
    assert!(
        stdout.iter().any(|line| line == "shut down"),
        "stdout after SIGTERM: {stdout:?}"
    );
}

/// With its file descriptors used up by streaming clients, a server cannot accept
/// more, but it must not stop: once clients leave, it accepts again and serves old
/// and new clients alike (a failed `accept` pauses accepting, nothing more).
pub(crate) async fn running_out_of_file_descriptors_pauses_accepting_only(adapter: Adapter) {
    const FILES: u32 = 64;
    let server = adapter.start_with_file_limit(&[], FILES);
    let mut clients = Vec::new();
    // Connect until the server has no descriptor left for one more.
    for _ in 0..FILES {
        let attempt = Connect::new().send(&server);
        match tokio::time::timeout(Duration::from_millis(500), attempt).await {
            Ok(Ok(client)) => clients.push(client),
            _ => break,
        }
    }
    assert!(
        clients.len() < FILES as usize,
        "all {FILES} clients connected: the limit did not apply"
    );
    assert!(
        clients.len() > 8,
        "only {} clients connected",
        clients.len()
    );
    // Clients leave; new ones get in, and those that stayed are still served.
    clients.truncate(clients.len() - 8);
    let mut late = Connect::new().open(&server).await;
    let id = server.broadcast("after").await;
    assert_eq!(late.next_event().await.last_event_id, id);
    for client in &mut clients {
        assert_eq!(client.next_event().await.last_event_id, id);
    }
}

/// Opens `/events?topic=news` over `protocol` and reads up to its opening
/// checkpoint (an id-only frame, which `SseClient` does not surface): returns the
/// position it names, and the open response (to drop, as a lost connection).
async fn open_at_position(server: &Server, protocol: Protocol) -> (String, reqwest::Response) {
    let url = server.url("/events?topic=news");
    let mut response = tokio::time::timeout(TIMEOUT, protocol.client().get(&url).send())
        .await
        .expect("a response head in time")
        .expect("a response");
    assert_eq!(response.status(), 200);
    let mut decoder = sse_core::Decoder::new();
    while decoder.last_event_id().is_empty() {
        let chunk = tokio::time::timeout(TIMEOUT, response.chunk())
            .await
            .expect("the checkpoint in time")
            .expect("a readable stream")
            .expect("the stream open until its checkpoint");
        decoder.push(&chunk).expect("valid frames");
        for item in decoder.by_ref() {
            assert!(
                !matches!(&item, Decoded::Event(e) if e.event_type == "message"),
                "no event was published: {item:?}"
            );
        }
    }
    (decoder.last_event_id().to_owned(), response)
}

/// A client whose connection drops before its first event (on a quiet stream,
/// the usual case) was told its position at once: reconnecting with it as
/// `Last-Event-ID`, it gets exactly what was published meanwhile, once, over
/// every protocol.
pub(crate) async fn dropped_before_any_event_resumes_from_its_position(adapter: Adapter) {
    let server = adapter.start(&[]);
    for &protocol in adapter.protocols() {
        let (position, response) = open_at_position(&server, protocol).await;
        assert!(
            position.parse::<u64>().is_ok(),
            "{protocol:?}: {position:?}"
        );
        drop(response);
        server
            .wait_for_stats("the dropped client to be removed", |s| s["active"] == 0)
            .await;

        let missed = format!("missed news over {protocol:?}");
        server
            .publish(&json!({ "data": missed, "topic": "news" }))
            .await;
        server
            .publish(&json!({ "data": "not subscribed", "topic": "sport" }))
            .await;
        server.broadcast("missed broadcast").await;
        let mut back = Connect::new()
            .protocol(protocol)
            .topic("news")
            .header("last-event-id", &position)
            .open(&server)
            .await;
        server.broadcast("marker").await;
        assert_eq!(
            back.data_until("marker").await,
            [missed.as_str(), "missed broadcast", "marker"],
            "{protocol:?}"
        );
    }
    let stats = server.stats().await;
    assert_eq!(stats["replay_misses"], 0, "{stats}");
}
