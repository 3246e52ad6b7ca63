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
