//! What a hostile client tries, and what it gets: nothing of anyone else's.

use serde_json::json;

use crate::Adapter;
use sse_testkit::client::Connect;

/// By default the hub issues every client's id (told in the `sse-clientid` header
/// and the demo's `client-id` event): a client that claims another's id, by header
/// or `client=`, gets an id of its own; the first keeps its stream and the messages
/// sent to its id, and `/stats` lists no ids.
pub(crate) async fn a_claimed_client_id_takes_nothing_over(adapter: Adapter) {
    let server = adapter.start_issuing_ids(&[]);
    let mut victim = Connect::new().client("victim").open(&server).await;
    let victim_id = victim.header("sse-clientid").to_owned();
    assert!(victim_id.starts_with("client-"), "{victim_id:?}");
    assert_ne!(victim_id, "victim", "the id is issued, not taken");

    let mut attacker = Connect::new()
        .header("sse-clientid", &victim_id)
        .client(&victim_id)
        .open(&server)
        .await;
    let attacker_id = attacker.header("sse-clientid").to_owned();
    assert_ne!(attacker_id, victim_id);

    let direct = json!({ "data": "for the victim", "client": victim_id });
    server.publish(&direct).await;
    server.broadcast("marker").await;
    assert_eq!(
        victim.data_until("marker").await,
        ["for the victim", "marker"]
    );
    assert_eq!(attacker.data_until("marker").await, ["marker"]);
    assert_eq!(
        victim.id.as_deref(),
        Some(&*victim_id),
        "announced as in the header"
    );
    assert_eq!(attacker.id.as_deref(), Some(&*attacker_id));

    let stats = server.stats().await;
    assert_eq!(stats["active"], 2, "nobody was replaced: {stats}");
    assert!(
        stats.get("clients").is_none(),
        "issued ids stay private: {stats}"
    );
}

/// A cross-origin page can `POST` `text/plain` or a form without asking the
/// server first: such a body is refused with 415, and nothing is published or
/// disconnected.
pub(crate) async fn a_post_that_is_not_json_is_415_and_does_nothing(adapter: Adapter) {
    let server = adapter.start(&[]);
    let mut client = Connect::new().client("reader").open(&server).await;
    for (path, body) in [
        ("/publish", json!({ "data": "forged" })),
        ("/disconnect", json!({ "client": "reader" })),
        ("/generate", json!({ "words": 1 })),
    ] {
        for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
            let reply = server.post_as(path, content_type, body.to_string()).await;
            assert_eq!(reply.status, 415, "{path} as {content_type}: {reply:?}");
            assert!(reply.json["error"].is_string(), "{reply:?}");
        }
    }
    server.broadcast("marker").await;
    assert_eq!(client.data_until("marker").await, ["marker"]);
    let stats = server.stats().await;
    assert_eq!(stats["published"], 1, "{stats}");
    assert_eq!(stats["generate"]["started"], 0, "{stats}");
}

/// `/events` with `topics` distinct topics named `{prefix}-{i}`.
fn with_topics(prefix: &str, topics: usize) -> Connect {
    (0..topics).fold(Connect::new(), |connect, i| {
        connect.topic(&format!("{prefix}-{i}"))
    })
}

/// One request may not subscribe to more than 64 topics (each would cost the hub
/// a topic log): 65 are a 400 with a JSON error, and the 3 500 (a 55 KB
/// head) are refused too, by the hub or by the head limit; nothing is registered.
pub(crate) async fn too_many_topics_on_one_connection_is_400(adapter: Adapter) {
    let server = adapter.start(&[]);
    for &protocol in adapter.protocols() {
        let reply = with_topics("t", 65)
            .protocol(protocol)
            .send(&server)
            .await
            .expect_err("refused");
        reply.assert_json_error(400, "65 topics");
    }
    let reply = with_topics("flood", 3_500)
        .send(&server)
        .await
        .expect_err("refused");
    assert!(
        (400..500).contains(&reply.status),
        "3 500 topics: {reply:?}"
    );
    let mut allowed = with_topics("t", 64).open(&server).await;
    server.broadcast("marker").await;
    assert_eq!(allowed.data_until("marker").await, ["marker"]);
    let stats = server.stats().await;
    assert_eq!(
        (&stats["active"], &stats["topics"]),
        (&json!(1), &json!(64)),
        "{stats}"
    );
}

/// The flood: 200 connections, each with as many new topics as it may
/// have. The logs they make count toward `max_topics` (10 000): past it a
/// connection is a 503 with `Retry-After`; once they close, every log is freed
/// (`/stats`' `topics` back to 0). The demo's resident memory before, during and
/// after is printed (`-- --nocapture`).
pub(crate) async fn a_topic_flood_is_held_to_max_topics_and_given_back(adapter: Adapter) {
    const CONNECTIONS: usize = 200;
    const PER_CONNECTION: usize = 64;
    const MAX_TOPICS: usize = 10_000;
    let server = adapter.start(&[]);
    let before = server.stats().await;
    let mut open = Vec::new();
    let mut refused = 0;
    for i in 0..CONNECTIONS {
        match with_topics(&format!("f{i}"), PER_CONNECTION)
            .send(&server)
            .await
        {
            Ok(client) => open.push(client),
            Err(reply) => {
                reply.assert_json_error(503, "past max_topics");
                assert_eq!(reply.header("retry-after"), "5", "{reply:?}");
                refused += 1;
            }
        }
    }
    let admitted = MAX_TOPICS / PER_CONNECTION;
    assert_eq!((open.len(), refused), (admitted, CONNECTIONS - admitted));
    let during = server
        .wait_for_stats("every admitted client", |s| s["active"] == admitted)
        .await;
    assert_eq!(during["topics"], admitted * PER_CONNECTION, "{during}");
    assert_eq!(during["topics_refused"], CONNECTIONS - admitted, "{during}");

    drop(open);
    let after = server
        .wait_for_stats("every log freed", |s| s["active"] == 0 && s["topics"] == 0)
        .await;
    println!(
        "{adapter:?}: {CONNECTIONS} connections x {PER_CONNECTION} topics: resident {} KiB \
         before, {} KiB during ({} logs), {} KiB after",
        before["resident_kib"], during["resident_kib"], during["topics"], after["resident_kib"]
    );
    // Still serving.
    let mut client = Connect::new().topic("f0-0").open(&server).await;
    server
        .publish(&json!({ "data": "after", "topic": "f0-0" }))
        .await;
    assert_eq!(client.next_event().await.data, "after");
}
