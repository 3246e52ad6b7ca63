//! Several demo processes on one Redis stream (`--redis`), against a real
//! `redis-server` started for each test: every client of every process gets every
//! event in one order, replay works across processes, and Redis restarting loses
//! and repeats nothing.

use serde_json::{Value, json};

use crate::resume::{Random, Read, attach, expected_words, start};
use crate::{Adapter, run};
use sse_testkit::client::Connect;
use sse_testkit::demo::Server;
use sse_testkit::redis::RedisServer;

/// One demo process per adapter, all on `redis`'s stream.
fn start_all(redis: &RedisServer, flags: &[&str]) -> Vec<Server> {
    let url = redis.url();
    let mut all_flags = vec!["--redis", url.as_str(), "--keep-alive", "0"];
    all_flags.extend_from_slice(flags);
    crate::ADAPTERS
        .iter()
        .map(|adapter: &Adapter| adapter.start(&all_flags))
        .collect()
}

fn data(events: &[sse_core::MessageEvent]) -> Vec<&str> {
    events.iter().map(|e| e.data.as_str()).collect()
}

#[test]
fn every_client_of_every_process_gets_every_event_in_one_order() {
    run(async {
        let Some(redis) = RedisServer::start_for_test() else {
            return;
        };
        let servers = start_all(&redis, &[]);
        let mut clients = Vec::new();
        for server in &servers {
            clients.push(Connect::new().open(server).await);
        }
        // Publishers on every process at once.
        let publishers = servers.iter().enumerate().map(|(i, server)| async move {
            for n in 0..10 {
                server.broadcast(&format!("p{i}-{n}")).await;
            }
        });
        futures_util::future::join_all(publishers).await;

        let total = 10 * servers.len();
        let first = clients[0].events(total).await;
        let ids: Vec<(u64, u64)> = first
            .iter()
            .map(|e| {
                let (ms, seq) = e.last_event_id.split_once('-').expect("a stream id");
                (ms.parse().unwrap(), seq.parse().unwrap())
            })
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "stream order: {ids:?}");
        for client in &mut clients[1..] {
            let events = client.events(total).await;
            assert_eq!(events, first);
        }
    });
}

#[test]
fn a_client_reconnecting_to_another_process_gets_exactly_what_it_missed() {
    run(async {
        let Some(redis) = RedisServer::start_for_test() else {
            return;
        };
        // Each process keeps 2 events per log: replay comes from the stream.
        let servers = start_all(&redis, &["--history", "2"]);
        let (first, rest) = servers.split_first().expect("servers");
        let mut client = Connect::new().topic("t").open(first).await;
        first.broadcast("e1").await;
        let last_seen = first.broadcast("e2").await;
        assert_eq!(data(&client.events(2).await), ["e1", "e2"]);
        drop(client);

        let publisher = &rest[0];
        for data in ["e3", "e4"] {
            publisher.broadcast(data).await;
        }
        publisher
            .publish(&json!({"data": "t5", "topic": "t"}))
            .await;
        publisher
            .publish(&json!({"data": "u6", "topic": "u"}))
            .await;
        for data in ["e7", "e8"] {
            publisher.broadcast(data).await;
        }
        for server in &servers {
            server
                .wait_for_stats("8 events relayed", |s| s["redis"]["relayed"] == 8)
                .await;
        }
        for target in &servers {
            let mut back = Connect::new()
                .topic("t")
                .header("last-event-id", &last_seen)
                .open(target)
                .await;
            let missed = back.events(5).await;
            assert_eq!(
                data(&missed),
                ["e3", "e4", "t5", "e7", "e8"],
                "{}",
                target.addr()
            );
        }
        let live = publisher.broadcast("live").await;
        let mut back = Connect::new()
            .header("last-event-id", &live)
            .open(&rest[rest.len() - 1])
            .await;
        publisher.broadcast("after").await;
        assert_eq!(data(&back.events(1).await), ["after"]);
    });
}

#[test]
fn redis_restarting_mid_stream_loses_and_repeats_nothing() {
    run(async {
        let Some(mut redis) = RedisServer::start_for_test() else {
            return;
        };
        let servers = start_all(&redis, &[]);
        let mut clients = Vec::new();
        for server in &servers {
            clients.push(Connect::new().open(server).await);
        }
        for data in ["1", "2", "3"] {
            servers[0].broadcast(data).await;
        }
        for client in &mut clients {
            assert_eq!(data(&client.events(3).await), ["1", "2", "3"]);
        }

        redis.stop();
        let refused = servers[1]
            .post("/publish", json!({"data": "lost"}).to_string())
            .await;
        assert_eq!(refused.status, 503, "{refused:?}");
        assert!(refused.json["error"].is_string());
        for server in &servers {
            let disconnected = |s: &Value| s["redis"]["connected"] == 0;
            server
                .wait_for_stats("redis to be gone", disconnected)
                .await;
        }
        redis.restart().expect("redis-server restarts");
        for server in &servers {
            let connected = |s: &Value| s["redis"]["connected"] == 1;
            server.wait_for_stats("redis to be back", connected).await;
        }

        for (i, server) in servers.iter().enumerate() {
            server.broadcast(&format!("after-{i}")).await;
        }
        let expected: Vec<String> = (0..servers.len()).map(|i| format!("after-{i}")).collect();
        for client in &mut clients {
            let events = client.events(servers.len()).await;
            assert_eq!(data(&events), expected);
        }
        for server in &servers {
            let stats = server.stats().await;
            assert_eq!(stats["redis"]["connection_losses"], 1, "{stats}");
            assert_eq!(stats["redis"]["relayed"], 3 + servers.len(), "{stats}");
        }
    });
}

#[test]
fn an_own_id_is_refused_with_redis_and_nothing_is_sent() {
    run(async {
        let Some(redis) = RedisServer::start_for_test() else {
            return;
        };
        let servers = start_all(&redis, &[]);
        let reply = servers[0]
            .post("/publish", json!({"data": "x", "id": "mine"}).to_string())
            .await;
        assert_eq!(reply.status, 400, "{reply:?}");
        let stats = servers[0].stats().await;
        assert_eq!(stats["redis"]["published"], 0, "{stats}");
    });
}

/// A resumable reply started on one process is resumed on every other, its
/// viewer's connection dropped at 60 random points and each time resumed on the
/// next process with its `Last-Event-ID`: the words are exactly the reply, and it
/// was generated once.
#[test]
fn a_reply_started_on_one_process_resumes_exactly_on_the_others() {
    run(async {
        let Some(redis) = RedisServer::start_for_test() else {
            return;
        };
        let servers = start_all(&redis, &[]);
        const WORDS: u64 = 3_000;
        let request = json!({"words": WORDS, "rate": 2000});
        let (mut viewer, key) = start(&servers[0], &request).await;
        let mut random = Random(0x2545_f491_4f6c_dd1d);
        let mut read = Read::default();
        let mut resume_from = String::new();
        for drop_point in 0..60 {
            for _ in 0..random.below(WORDS / 60) {
                let event = viewer.next_event().await;
                resume_from.clone_from(&event.last_event_id);
                read.take(event);
            }
            drop(viewer);
            let server = &servers[(drop_point + 1) % servers.len()];
            viewer = attach(server, &key, &resume_from)
                .await
                .unwrap_or_else(|status| panic!("resume {drop_point}: {status}"));
        }
        while read.end.is_none() {
            read.take(viewer.next_event().await);
        }
        assert!(read.words == expected_words(WORDS), "the words differ");
        assert_eq!(read.end.as_deref(), Some("done"));
        let end = viewer.last_event_id().to_owned();
        for server in &servers {
            assert_eq!(attach(server, &key, &end).await.err(), Some(204));
        }
        let started: u64 = futures_util::future::join_all(servers.iter().map(Server::stats))
            .await
            .iter()
            .map(|stats| stats["generate"]["started"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(started, 1, "generated once");
    });
}

/// The Stop button on another process: a cancel through one process ends the
/// producer on the process that started the reply and the viewers on all of them.
#[test]
fn a_cancel_on_one_process_stops_the_reply_everywhere() {
    run(async {
        let Some(redis) = RedisServer::start_for_test() else {
            return;
        };
        let servers = start_all(&redis, &[]);
        let request = json!({"words": 1_000_000, "rate": 100});
        let (mut first, key) = start(&servers[0], &request).await;
        let mut others = Vec::new();
        for server in &servers[1..] {
            others.push(attach(server, &key, "").await.expect("live"));
        }
        first.next_event().await;
        let cancel = format!("/generate/{key}/cancel");
        let reply = servers[servers.len() - 1].post(&cancel, "").await;
        assert_eq!(reply.status, 202, "{reply:?}");
        for viewer in std::iter::once(&mut first).chain(&mut others) {
            let events = viewer.until_end().await;
            let last = events.last().expect("the end event");
            assert_eq!((&*last.event_type, &*last.data), ("end", "cancelled"));
        }
        servers[0]
            .wait_for_stats("the producer to stop", |s| {
                s["generate"]["cancelled"] == 1 && s["generate"]["active"] == 0
            })
            .await;
        assert_eq!(attach(&servers[2], &key, "").await.err(), Some(204));
    });
}
