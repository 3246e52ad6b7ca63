//! The backplane against a real `redis-server` (started per test on a free port):
//! several processes' hubs, one order, replay from the stream, Redis going away.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::StreamExt;
use sse_core::{ClientStream, ConnectOptions, Decoded, Decoder, Event, Hub, HubConfig};
use sse_redis::{
    Backplane, BackplaneHooks, Error, InvalidEntry, NoBackplaneHooks, RedisOptions, StreamId,
};
use sse_testkit::redis::RedisServer;

/// Hooks that write down every call.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Recorder {
    fn calls(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl BackplaneHooks for Recorder {
    fn on_connection_lost(&self, _error: &Error) {
        self.0.lock().unwrap().push("lost".into());
    }

    fn on_reconnected(&self) {
        self.0.lock().unwrap().push("reconnected".into());
    }

    fn on_invalid_entry(&self, _id: StreamId, reason: InvalidEntry) {
        self.0.lock().unwrap().push(format!("invalid: {reason}"));
    }

    fn on_reset(&self, relayed: StreamId) {
        self.0
            .lock()
            .unwrap()
            .push(format!("reset after {relayed}"));
    }
}

const TIMEOUT: Duration = Duration::from_secs(10);

/// A backplane (one server process's worth), its reader running.
async fn open(redis: &RedisServer, history: usize) -> Backplane {
    open_with_hooks(redis, history, NoBackplaneHooks).await
}

async fn open_with_hooks(
    redis: &RedisServer,
    history: usize,
    hooks: impl BackplaneHooks,
) -> Backplane {
    let options = RedisOptions::new(redis.url())
        .block(Duration::from_millis(200))
        .backoff(Duration::from_millis(20), Duration::from_millis(200));
    let hub = Hub::builder().config(HubConfig::default().history(history));
    let backplane = Backplane::open_with_hooks(options, hub, hooks)
        .await
        .expect("redis is up");
    tokio::spawn({
        let backplane = backplane.clone();
        async move { backplane.run(tokio::time::sleep).await }
    });
    backplane
}

fn connect(backplane: &Backplane, options: ConnectOptions) -> ClientStream {
    backplane.hub().connect(options).expect("connected")
}

/// What a stream delivers, decoded: `(event type, id, data)`.
async fn next_items(stream: &mut ClientStream, n: usize) -> Vec<(String, String, String)> {
    let mut events = Vec::new();
    let mut decoder = Decoder::new();
    while events.len() < n {
        let batch = tokio::time::timeout(TIMEOUT, stream.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} events: {events:?}", events.len()))
            .expect("the stream goes on");
        for frame in batch.frames() {
            decoder.push(frame).expect("valid frames");
        }
        events.extend(decoder.by_ref().filter_map(|item| match item {
            Decoded::Event(e) => Some((e.event_type.into_owned(), e.last_event_id, e.data)),
            _ => None,
        }));
    }
    assert_eq!(events.len(), n, "more events than expected: {events:?}");
    events
}

/// The next `n` events of `stream`, as `(id, data)`.
async fn next_events(stream: &mut ClientStream, n: usize) -> Vec<(String, String)> {
    let items = next_items(stream, n).await;
    items.into_iter().map(|(_, id, data)| (id, data)).collect()
}

fn data(events: &[(String, String)]) -> Vec<&str> {
    events.iter().map(|(_, data)| data.as_str()).collect()
}

async fn broadcast_all(backplane: &Backplane, data: &[&str]) -> Vec<StreamId> {
    let mut ids = Vec::new();
    for d in data {
        ids.push(
            backplane
                .broadcast(&Event::new(*d))
                .await
                .expect("published"),
        );
    }
    ids
}

async fn wait_until(condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn every_process_relays_every_event_in_one_order() {
    let Some(redis) = RedisServer::start_for_test() else {
        return;
    };
    let (a, b, c) = (
        open(&redis, 64).await,
        open(&redis, 64).await,
        open(&redis, 64).await,
    );
    let mut on_a = connect(&a, ConnectOptions::new());
    let mut on_b = connect(&b, ConnectOptions::new());
    let mut on_c = connect(&c, ConnectOptions::new());
    // Publishers on every process at once: the stream decides the one order.
    let publish = |backplane: Backplane, name: &'static str| async move {
        for n in 0..20 {
            let event = Event::new(format!("{name}{n}"));
            backplane.broadcast(&event).await.expect("published");
        }
    };
    tokio::join!(
        publish(a.clone(), "a"),
        publish(b.clone(), "b"),
        publish(c.clone(), "c")
    );
    let seen_a = next_events(&mut on_a, 60).await;
    assert_eq!(seen_a, next_events(&mut on_b, 60).await);
    assert_eq!(seen_a, next_events(&mut on_c, 60).await);
    let ids: Vec<StreamId> = seen_a.iter().map(|(id, _)| id.parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "stream order: {ids:?}");
    assert_eq!(a.metrics().relayed, 60);
    assert_eq!(a.metrics().published, 20);
}

#[tokio::test]
async fn the_entry_id_is_the_event_id_and_own_ids_are_refused() {
    let Some(redis) = RedisServer::start_for_test() else {
        return;
    };
    let a = open(&redis, 64).await;
    let mut client = connect(&a, ConnectOptions::new());
    let id = a.broadcast(&Event::new("x")).await.unwrap();
    assert_eq!(
        next_events(&mut client, 1).await,
        [(id.to_string(), "x".into())]
    );
    let own = Event::new("y").with_id("mine").unwrap();
    assert!(matches!(a.broadcast(&own).await, Err(Error::EventHasId)));
}

#[tokio::test]
async fn topics_reach_their_subscribers_on_every_process() {
    let Some(redis) = RedisServer::start_for_test() else {
        return;
    };
    let (a, b) = (open(&redis, 64).await, open(&redis, 64).await);
    let mut news_on_b = connect(&b, ConnectOptions::new().topic("news"));
    let mut plain_on_b = connect(&b, ConnectOptions::new());
    a.publish("news", &Event::new("n1")).await.unwrap();
    a.publish("sport", &Event::new("s1")).await.unwrap();
    a.broadcast(&Event::new("all")).await.unwrap();
    assert_eq!(data(&next_events(&mut news_on_b, 2).await), ["n1", "all"]);
    assert_eq!(data(&next_events(&mut plain_on_b, 1).await), ["all"]);
}

#[tokio::test]
async fn a_client_reconnecting_to_another_process_gets_exactly_what_it_missed() {
    let Some(redis) = RedisServer::start_for_test() else {
        return;
    };
    // B keeps only 2 events per log in memory: the rest must come from the stream.
    let (a, b) = (open(&redis, 64).await, open(&redis, 2).await);
    let mut on_a = connect(&a, ConnectOptions::new().topic("news"));
    broadcast_all(&a, &["e1", "e2"]).await;
    let seen = next_events(&mut on_a, 2).await;
    drop(on_a);
    broadcast_all(&a, &["e3", "e4"]).await;
    a.publish("news", &Event::new("n5")).await.unwrap();
    a.publish("sport", &Event::new("s6")).await.unwrap();
    broadcast_all(&a, &["e7", "e8"]).await;
    wait_until(|| b.metrics().relayed == 8).await;

    let last = &seen[1].0;
    let mut back = connect(&b, ConnectOptions::new().topic("news").last_event_id(last));
    let live = a.broadcast(&Event::new("live")).await.unwrap();
    let replayed = next_events(&mut back, 6).await;
    assert_eq!(data(&replayed), ["e3", "e4", "n5", "e7", "e8", "live"]);
    assert_eq!(replayed[5].0, live.to_string());
    assert_eq!(b.metrics().replays, 1);
    assert_eq!(b.hub().metrics().replays, 1);
}

#[tokio::test]
async fn an_id_the_stream_no_longer_holds_is_a_replay_miss() {
    let Some(redis) = RedisServer::start_for_test() else {
        return;
    };
    let a = open(&redis, 2).await;
    broadcast_all(&a, &["e1", "e2", "e3"]).await;
    wait_until(|| a.metrics().relayed == 3).await;
    let mut client = connect(&a, ConnectOptions::new().last_event_id("1-0"));
    a.broadcast(&Event::new("live")).await.unwrap();
    let items = next_items(&mut client, 2).await;
    assert_eq!(items[0].0, "resync");
    assert_eq!(items[1].2, "live");
    assert_eq!(a.metrics().replay_misses, 1);
    assert_eq!(a.hub().metrics().replay_misses, 1);
}

#[tokio::test]
async fn redis_going_away_loses_nothing_and_repeats_nothing_once_it_is_back() {
    let Some(mut redis) = RedisServer::start_for_test() else {
        return;
    };
    let hooks = Recorder::default();
    let a = open_with_hooks(&redis, 64, hooks.clone()).await;
    let b = open(&redis, 64).await;
    let mut on_a = connect(&a, ConnectOptions::new());
    let mut on_b = connect(&b, ConnectOptions::new());
    let seen_ids = broadcast_all(&a, &["1", "2", "3"]).await;
    assert_eq!(data(&next_events(&mut on_b, 3).await), ["1", "2", "3"]);

    redis.stop();
    let refused = a.broadcast(&Event::new("lost")).await;
    assert!(matches!(refused, Err(Error::Redis(_))), "{refused:?}");
    wait_until(|| !a.metrics().connected && !b.metrics().connected).await;
    redis.restart().expect("redis-server restarts");
    wait_until(|| a.metrics().connected && b.metrics().connected).await;

    broadcast_all(&b, &["4", "5"]).await;
    assert_eq!(
        data(&next_events(&mut on_a, 5).await),
        ["1", "2", "3", "4", "5"]
    );
    assert_eq!(data(&next_events(&mut on_b, 2).await), ["4", "5"]);
    for backplane in [&a, &b] {
        let metrics = backplane.metrics();
        assert_eq!((metrics.connection_losses, metrics.reconnects), (1, 1));
        assert_eq!(metrics.relayed, 5);
    }
    assert_eq!(a.metrics().publish_errors, 1);
    // Redis came back empty: a reset, found before reading on.
    let reset = format!("reset after {}", seen_ids[2]);
    assert_eq!(
        hooks.calls(),
        ["lost", reset.as_str(), "reconnected"],
        "once per outage"
    );
    assert_eq!((a.metrics().resets, b.metrics().resets), (1, 1));
    // Nothing else is pending for either client.
    broadcast_all(&a, &["6"]).await;
    assert_eq!(data(&next_events(&mut on_a, 1).await), ["6"]);
    assert_eq!(data(&next_events(&mut on_b, 1).await), ["6"]);
}

#[tokio::test]
async fn entries_not_written_by_the_backplane_are_skipped_and_counted() {
    let Some(redis) = RedisServer::start_for_test() else {
        return;
    };
    let hooks = Recorder::default();
    let a = open_with_hooks(&redis, 64, hooks.clone()).await;
    let mut client = connect(&a, ConnectOptions::new());
    let raw = redis::Client::open(redis.url()).unwrap();
    let mut raw = raw.get_multiplexed_async_connection().await.unwrap();
    let entries: [&[&str]; 3] = [
        &["e", "data: a\n\ndata: forged\n"],
        &["x", "y"],
        &["e", "data: ok\n"],
    ];
    for fields in entries {
        let mut command = redis::cmd("XADD");
        command.arg("sse:events").arg("*").arg(fields);
        let _: String = command.query_async(&mut raw).await.unwrap();
    }
    assert_eq!(data(&next_events(&mut client, 1).await), ["ok"]);
    assert_eq!(a.metrics().invalid_entries, 2);
    assert_eq!(
        hooks.calls(),
        [
            "invalid: the entry's event is invalid: encoded event contains a blank line",
            "invalid: the entry has no event field",
        ]
    );
}

/// Far ahead of the clock: entries added by `XADD *` get ids below it.
const AHEAD: &str = "99999999999999-0";

/// A plain connection to `redis`, as another writer of the stream has.
async fn raw_connection(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(redis.url()).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

/// Appends an event with the entry id `id`, as the backplane would, to the stream.
async fn xadd(connection: &mut redis::aio::MultiplexedConnection, id: &str, data: &str) {
    let mut command = redis::cmd("XADD");
    command
        .arg("sse:events")
        .arg(id)
        .arg("e")
        .arg(format!("data: {data}\n"));
    let added: String = command.query_async(connection).await.unwrap();
    assert_eq!(added, id);
}

/// Broadcasts `data` through `backplane`, trying again while Redis is coming back
/// (a refused publish is not one that must arrive). Returns its id.
async fn broadcast_until_accepted(backplane: &Backplane, data: &str) -> StreamId {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        match backplane.broadcast(&Event::new(data)).await {
            Ok(id) => return id,
            Err(error) => assert!(
                tokio::time::Instant::now() < deadline,
                "never accepted: {error}"
            ),
        }
        tokio::task::yield_now().await;
    }
}

/// A client connecting with `last` gets the replay-miss signal, then what is
/// published next.
async fn assert_resync(backplane: &Backplane, last: &str) {
    let mut client = connect(backplane, ConnectOptions::new().last_event_id(last));
    broadcast_until_accepted(backplane, "next").await;
    let items = next_items(&mut client, 2).await;
    assert_eq!(items[0].0, "resync", "{last}: {items:?}");
    assert_eq!(items[1].2, "next", "{last}: {items:?}");
}

#[tokio::test]
async fn redis_restarting_empty_below_the_readers_position_skips_nothing() {
    let Some(mut redis) = RedisServer::start_for_test() else {
        return;
    };
    let hooks = Recorder::default();
    let a = open_with_hooks(&redis, 64, hooks.clone()).await;
    let mut on_a = connect(&a, ConnectOptions::new());
    // An entry with an id ahead of the clock (written so, or by a clock that was
    // ahead): the reader's position is now above every id `XADD *` gives.
    xadd(&mut raw_connection(&redis).await, AHEAD, "ahead").await;
    assert_eq!(
        next_events(&mut on_a, 1).await,
        [(AHEAD.into(), "ahead".into())]
    );
    // B starts there: its position (and relay mark) is the entry ahead.
    let b = open(&redis, 64).await;
    let mut on_b = connect(&b, ConnectOptions::new());

    redis.restart().expect("redis-server restarts");
    // Published as soon as Redis takes them, whether or not the readers have
    // noticed the reset yet: every one must arrive.
    let mut published = Vec::new();
    for n in 0..5 {
        let data = format!("after-{n}");
        let id = broadcast_until_accepted(&a, &data).await;
        assert!(id < AHEAD.parse().unwrap(), "{id}");
        published.push((id.to_string(), data));
    }
    assert_eq!(next_events(&mut on_a, 5).await, published);
    assert_eq!(next_events(&mut on_b, 5).await, published);
    // A relayed the entry ahead too; B started after it.
    for (backplane, relayed) in [(&a, 6), (&b, 5)] {
        assert_eq!(backplane.metrics().resets, 1);
        assert_eq!(backplane.metrics().relayed, relayed);
    }
    assert!(
        hooks.calls().contains(&format!("reset after {AHEAD}")),
        "{:?}",
        hooks.calls()
    );

    // The old stream's id is above the new stream's newest: unknown, on A whose
    // history holds it as on B whose relay mark it was; never "seen it all".
    assert_resync(&a, AHEAD).await;
    assert_resync(&b, AHEAD).await;
    assert_eq!(a.metrics().replay_misses, 1);
    assert_eq!(b.hub().metrics().replay_misses, 1);
    // Ids of the new stream replay as usual.
    let mut back = connect(&b, ConnectOptions::new().last_event_id(&published[3].0));
    let next = next_events(&mut back, 3).await;
    assert_eq!(data(&next), ["after-4", "next", "next"]);
}

#[tokio::test]
async fn a_stream_moved_back_under_a_connected_reader_is_read_from_its_beginning() {
    let Some(redis) = RedisServer::start_for_test() else {
        return;
    };
    let hooks = Recorder::default();
    let a = open_with_hooks(&redis, 64, hooks.clone()).await;
    let mut client = connect(&a, ConnectOptions::new());
    let mut raw = raw_connection(&redis).await;
    xadd(&mut raw, "1-0", "kept").await;
    xadd(&mut raw, AHEAD, "ahead").await;
    assert_eq!(data(&next_events(&mut client, 2).await), ["kept", "ahead"]);

    // A failover to a replica that was behind, as the reader (still connected)
    // sees it: the stream holds `1-0` but not the entry it relayed last.
    let _: () = redis::cmd("DEL")
        .arg("sse:events")
        .query_async(&mut raw)
        .await
        .unwrap();
    xadd(&mut raw, "1-0", "kept").await;
    let id = a.broadcast(&Event::new("new")).await.unwrap();
    assert!(id < AHEAD.parse().unwrap(), "{id}");

    // From the new stream's beginning: what it shares with the old one comes again.
    let events = next_events(&mut client, 2).await;
    assert_eq!(
        events,
        [
            ("1-0".into(), "kept".into()),
            (id.to_string(), "new".into())
        ]
    );
    assert_eq!(a.metrics().resets, 1);
    assert_eq!(a.metrics().connection_losses, 0);
    assert_eq!(hooks.calls(), [format!("reset after {AHEAD}")]);
    assert_resync(&a, AHEAD).await;
}
