//! The hub's behaviours, through its public API: ordering, topics, replay, slow
//! clients, limits, hooks, keep-alive, shutdown, and the HTTP layer.

mod common;

use std::time::Duration;

use common::*;
use futures_lite::future;
use sse_core::{
    BATCH_CAPACITY, ConnectError, ConnectOptions, Decoded, DuplicateIdPolicy, Event, Hub,
    HubConfig, LagPolicy, MessageEvent, SendError,
};

/// Settings with fixed ids (1, 2, ...), for tests that name them; by default they
/// start from the clock.
fn fixed_ids() -> HubConfig {
    HubConfig::default().first_sequence(Some(0))
}

fn event(data: &str, id: &str) -> MessageEvent {
    MessageEvent {
        event_type: "message".into(),
        data: data.into(),
        last_event_id: id.into(),
    }
}

#[test]
fn every_client_sees_one_order_across_broadcast_topics_and_direct_frames() {
    let hub = Hub::default();
    let mut both = hub
        .connect(
            ConnectOptions::new()
                .client_id("both")
                .topic("a")
                .topic("b"),
        )
        .unwrap();
    let mut only_a = hub.connect(ConnectOptions::new().topic("a")).unwrap();
    hub.publish("b", &Event::new("b1"));
    hub.broadcast(&Event::new("all1"));
    hub.send_to("both", &Event::new("direct1")).unwrap();
    hub.publish("a", &Event::new("a1"));
    hub.publish("b", &Event::new("b2"));
    hub.publish("c", &Event::new("c1"));
    hub.broadcast(&Event::new("all2"));
    assert_eq!(
        drain_data(&mut both),
        ["b1", "all1", "direct1", "a1", "b2", "all2"]
    );
    assert_eq!(drain_data(&mut only_a), ["all1", "a1", "all2"]);
}

#[test]
fn events_without_an_id_get_their_sequence_and_direct_frames_get_none() {
    let hub = Hub::default();
    let mut stream = hub.connect(ConnectOptions::new().client_id("x")).unwrap();
    let first = hub.broadcast(&Event::new("auto"));
    hub.broadcast(&Event::new("own").with_id("order-7").unwrap());
    hub.send_to("x", &Event::new("direct")).unwrap();
    assert_eq!(
        drain(&mut stream),
        [
            event("auto", &first.to_string()),
            event("own", "order-7"),
            // A browser keeps the last id it saw: the direct frame carries none.
            event("direct", "order-7"),
        ]
    );
}

#[test]
fn a_reconnect_replays_exactly_what_was_missed_by_own_id_or_sequence() {
    let hub = Hub::new(fixed_ids());
    let _keep = hub.connect(ConnectOptions::new().topic("t")).unwrap();
    hub.broadcast(&Event::new("1"));
    let second = hub.broadcast(&Event::new("2").with_id("two").unwrap());
    hub.publish("t", &Event::new("3"));
    hub.publish("u", &Event::new("not subscribed"));
    let fourth = hub.broadcast(&Event::new("4"));
    hub.publish("t", &Event::new("5"));

    let mut by_own_id = hub
        .connect(ConnectOptions::new().topic("t").last_event_id("two"))
        .unwrap();
    assert_eq!(drain_data(&mut by_own_id), ["3", "4", "5"]);
    assert_eq!(second, 2);

    let mut by_sequence = hub
        .connect(ConnectOptions::new().last_event_id(fourth.to_string()))
        .unwrap();
    assert_eq!(drain_data(&mut by_sequence), Vec::<String>::new());
    hub.broadcast(&Event::new("6"));
    assert_eq!(drain_data(&mut by_sequence), ["6"]);
    assert_eq!(hub.metrics().replays, 2);
}

#[test]
fn replay_comes_before_live_frames_published_while_reading() {
    let hub = Hub::new(fixed_ids());
    for i in 0..100 {
        hub.broadcast(&Event::new(i.to_string()));
    }
    let mut stream = hub
        .connect(ConnectOptions::new().last_event_id("50"))
        .unwrap();
    let mut seen = Vec::new();
    // A batch at a time, with new events arriving between batches.
    for i in 100..110 {
        if let Some(Some(items)) = poll_items(&mut stream) {
            seen.extend(items);
        }
        hub.broadcast(&Event::new(i.to_string()));
    }
    seen.extend(drain(&mut stream).into_iter().map(Decoded::Event));
    let data: Vec<String> = seen
        .into_iter()
        .filter_map(|item| match item {
            Decoded::Event(event) => Some(event.data),
            _ => None,
        })
        .collect();
    let expected: Vec<String> = (50..110).map(|i| i.to_string()).collect();
    assert_eq!(data, expected, "no gap, no duplicate");
}

#[test]
fn an_unknown_or_expired_last_event_id_is_a_reported_miss_with_a_resync_event() {
    let hooks = Recorder::default();
    let hub = Hub::with_hooks(fixed_ids().history(4), hooks.clone());
    for i in 1..=10 {
        hub.broadcast(&Event::new(i.to_string()));
    }
    // The log holds 7 to 10: resuming after 6 has no gap.
    let mut fine = hub
        .connect(ConnectOptions::new().last_event_id("6"))
        .unwrap();
    assert_eq!(drain_data(&mut fine), ["7", "8", "9", "10"]);
    for (client, last) in [("expired", "2"), ("unknown", "nope"), ("future", "99")] {
        let mut stream = hub
            .connect(ConnectOptions::new().client_id(client).last_event_id(last))
            .unwrap();
        let items = poll_items(&mut stream).unwrap().unwrap();
        assert_eq!(
            items,
            [Decoded::Event(MessageEvent {
                event_type: "resync".into(),
                data: String::new(),
                last_event_id: String::new(),
            })],
            "{client}: the resync signal, then live events only"
        );
        hub.broadcast(&Event::new("live"));
        assert_eq!(drain_data(&mut stream), ["live"]);
    }
    assert_eq!(hub.metrics().replay_misses, 3);
    assert_eq!(
        hooks.calls_starting("miss"),
        ["miss expired 2", "miss unknown nope", "miss future 99"]
    );
}

#[test]
fn the_resync_event_can_be_turned_off() {
    let hub = Hub::new(HubConfig::default().replay_miss_event(None));
    let mut stream = hub
        .connect(ConnectOptions::new().last_event_id("x"))
        .unwrap();
    let (position, items) = opening(&mut stream);
    assert_eq!(
        items,
        [],
        "no resync event, only where the client stands now"
    );
    let first = hub.config().first_sequence.expect("taken");
    assert_eq!(position, first.to_string());
    assert_eq!(poll_items(&mut stream), None);
    assert_eq!(hub.metrics().replay_misses, 1);
}

#[test]
fn a_lag_disconnected_client_gets_the_gap_from_replay_when_it_reconnects() {
    let config = HubConfig::default().history(100).max_lag(10);
    let hub = Hub::new(config);
    let mut stream = hub.connect(ConnectOptions::new()).unwrap();
    hub.broadcast(&Event::new("0"));
    let seen = drain(&mut stream);
    let last_id = seen[0].last_event_id.clone();
    for i in 1..=30 {
        hub.broadcast(&Event::new(i.to_string()));
    }
    assert!(has_ended(&mut stream), "30 behind with max_lag 10");
    drop(stream);
    assert_eq!(hub.metrics().lag_disconnects, 1);
    let mut again = hub
        .connect(ConnectOptions::new().last_event_id(last_id))
        .unwrap();
    let expected: Vec<String> = (1..=30).map(|i| i.to_string()).collect();
    assert_eq!(drain_data(&mut again), expected, "replay is not lag");
}

#[test]
fn drop_oldest_keeps_the_newest_frames_and_counts_the_rest() {
    let hooks = Recorder::default();
    let config = HubConfig::default()
        .history(100)
        .max_lag(10)
        .lag_policy(LagPolicy::DropOldest);
    let hub = Hub::with_hooks(config, hooks.clone());
    let mut stream = hub.connect(ConnectOptions::new().client_id("s")).unwrap();
    for i in 0..25 {
        hub.broadcast(&Event::new(i.to_string()));
    }
    let expected: Vec<String> = (15..25).map(|i| i.to_string()).collect();
    assert_eq!(drain_data(&mut stream), expected);
    assert_eq!(hub.metrics().dropped, 15);
    assert!(
        hooks
            .calls()
            .contains(&"send s Dropped { frames: 15 }".to_owned())
    );
}

#[test]
fn a_full_client_queue_follows_the_lag_policy() {
    let hub = Hub::new(HubConfig::default().client_queue(2));
    let mut stream = hub.connect(ConnectOptions::new().client_id("d")).unwrap();
    hub.send_to("d", &Event::new("1")).unwrap();
    hub.send_to("d", &Event::new("2")).unwrap();
    assert_eq!(
        hub.send_to("d", &Event::new("3")),
        Err(SendError::QueueFull)
    );
    assert!(has_ended(&mut stream));

    let config = HubConfig::default()
        .client_queue(2)
        .lag_policy(LagPolicy::DropOldest);
    let hub = Hub::new(config);
    let mut stream = hub.connect(ConnectOptions::new().client_id("d")).unwrap();
    for i in 1..=5 {
        hub.send_to("d", &Event::new(i.to_string())).unwrap();
    }
    assert_eq!(drain_data(&mut stream), ["4", "5"]);
    assert_eq!(hub.metrics().dropped, 3);
}

#[test]
fn a_woken_stream_takes_every_ready_frame_up_to_the_batch_capacity() {
    let hub = Hub::default();
    let mut stream = hub.connect(ConnectOptions::new()).unwrap();
    position(&mut stream);
    for i in 0..100 {
        hub.broadcast(&Event::new(i.to_string()));
    }
    let sizes: Vec<usize> = std::iter::from_fn(|| poll_items(&mut stream).flatten())
        .map(|items| items.len())
        .collect();
    assert_eq!(sizes, [BATCH_CAPACITY, BATCH_CAPACITY, BATCH_CAPACITY, 4]);
}

#[test]
fn the_retry_hint_comes_first() {
    let hub = Hub::new(HubConfig::default().retry(Some(Duration::from_millis(2500))));
    let mut stream = hub.connect(ConnectOptions::new()).unwrap();
    assert_eq!(
        poll_items(&mut stream),
        Some(Some(vec![Decoded::Retry(Duration::from_millis(2500))]))
    );
}

#[test]
fn keep_alive_goes_only_to_clients_idle_for_a_whole_interval() {
    let hub = Hub::default();
    let mut idle = hub.connect(ConnectOptions::new()).unwrap();
    let mut busy = hub
        .connect(ConnectOptions::new().client_id("busy"))
        .unwrap();
    position(&mut idle);
    position(&mut busy);
    hub.keep_alive_tick(); // Starts the first interval.
    hub.send_to("busy", &Event::new("x")).unwrap();
    assert_eq!(drain_data(&mut busy), ["x"]);
    hub.keep_alive_tick();
    let comment = Some(Some(vec![Decoded::Comment("keep-alive".into())]));
    assert_eq!(poll_items(&mut idle), comment);
    assert_eq!(poll_items(&mut busy), None);
    hub.keep_alive_tick();
    assert_eq!(poll_items(&mut idle), comment, "one per idle interval");
    assert_eq!(poll_items(&mut busy), comment);
    assert_eq!(hub.metrics().keep_alives, 3);
}

#[test]
fn max_clients_refuses_the_next_and_frees_room_on_disconnect() {
    let hub = Hub::new(HubConfig::default().max_clients(Some(2)));
    let first = hub.connect(ConnectOptions::new()).unwrap();
    let _second = hub.connect(ConnectOptions::new()).unwrap();
    let error = hub.connect(ConnectOptions::new()).unwrap_err();
    assert_eq!(error, ConnectError::AtCapacity);
    assert_eq!(error.status(), 503);
    drop(first);
    assert!(hub.connect(ConnectOptions::new()).is_ok());
    assert_eq!(hub.metrics().refused, 1);
}

#[test]
fn a_duplicate_id_can_be_refused_instead_of_replacing() {
    let hub = Hub::new(HubConfig::default().duplicate_id(DuplicateIdPolicy::RefuseNew));
    let mut first = hub.connect(ConnectOptions::new().client_id("one")).unwrap();
    let error = hub
        .connect(ConnectOptions::new().client_id("one"))
        .unwrap_err();
    assert_eq!(
        (error.clone(), error.status()),
        (ConnectError::DuplicateId, 409.try_into().unwrap())
    );
    assert!(!has_ended(&mut first));
}

#[test]
fn the_admission_hook_can_refuse() {
    let hooks = Recorder::default();
    hooks.refuse.lock().unwrap().push("mallory".into());
    let hub = Hub::with_hooks(HubConfig::default(), hooks.clone());
    match hub.connect(ConnectOptions::new().client_id("mallory")) {
        Err(ConnectError::Refused(refusal)) => {
            assert_eq!(refusal.status(), 401);
            assert_eq!(refusal.message(), "mallory may not connect");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(hub.metrics().active, 0);
    assert!(
        hooks.calls().is_empty(),
        "nothing registered, nothing hooked"
    );
}

#[test]
fn hooks_run_in_a_client_s_order_of_life() {
    let hooks = Recorder::default();
    let hub = Hub::with_hooks(fixed_ids(), hooks.clone());
    let mut stream = hub.connect(ConnectOptions::new().client_id("c")).unwrap();
    hub.broadcast(&Event::new("one"));
    drain(&mut stream);
    hub.broadcast(&Event::new("two"));
    drain(&mut stream);
    drop(stream);
    assert_eq!(
        hooks.calls(),
        [
            "connect c 1",
            "first c",
            // The opening checkpoint (`id: 0`) and the first event.
            "send c Sent { frames: 2, bytes: 24 }",
            "send c Sent { frames: 1, bytes: 17 }",
            "disconnect c Closed 0",
        ]
    );
}

#[test]
fn shutdown_sends_the_final_event_ends_every_stream_and_refuses_newcomers() {
    let hooks = Recorder::default();
    let hub = Hub::with_hooks(HubConfig::default(), hooks.clone());
    let mut a = hub.connect(ConnectOptions::new().client_id("a")).unwrap();
    let mut b = hub
        .connect(ConnectOptions::new().client_id("b").topic("t"))
        .unwrap();
    hub.publish("t", &Event::new("before"));
    hub.shutdown(Some(&Event::new("bye").with_event("shutdown").unwrap()));
    assert_eq!(
        hub.connect(ConnectOptions::new()).unwrap_err(),
        ConnectError::ShuttingDown
    );
    hub.broadcast(&Event::new("after"));
    assert_eq!(drain_data(&mut a), ["bye"]);
    assert_eq!(drain_data(&mut b), ["before", "bye"]);
    assert!(has_ended(&mut a) && has_ended(&mut b));
    let closed = std::thread::spawn({
        let hub = hub.clone();
        move || future::block_on(hub.closed())
    });
    drop((a, b));
    closed.join().unwrap();
    let mut reasons = hooks.calls_starting("disconnect");
    reasons.sort();
    assert_eq!(reasons.len(), 2);
    assert!(reasons.iter().all(|r| r.contains("Shutdown")));
}

#[test]
fn a_topic_log_lives_while_it_has_readers_or_history() {
    let hub = Hub::default();
    let reader = hub.connect(ConnectOptions::new().topic("quiet")).unwrap();
    assert_eq!(hub.topic_count(), 1);
    drop(reader);
    assert_eq!(hub.topic_count(), 0, "no readers, no history: freed");
    let reader = hub.connect(ConnectOptions::new().topic("busy")).unwrap();
    hub.publish("busy", &Event::new("kept for replay"));
    drop(reader);
    assert_eq!(hub.topic_count(), 1);
}

#[test]
fn a_stale_stream_never_touches_the_client_that_reused_its_slot() {
    let hooks = Recorder::default();
    let hub = Hub::with_hooks(HubConfig::default(), hooks.clone());
    for round in 0..100 {
        let old = hub
            .connect(ConnectOptions::new().client_id("slot"))
            .unwrap();
        let mut new = hub
            .connect(ConnectOptions::new().client_id("slot"))
            .unwrap();
        drop(old);
        hub.send_to("slot", &Event::new(round.to_string())).unwrap();
        assert_eq!(drain_data(&mut new), [round.to_string()]);
        assert_eq!(hub.metrics().active, 1);
    }
    assert_eq!(hub.metrics().active, 0);
    assert_eq!(hooks.calls_starting("disconnect").len(), 200);
}

mod http_layer {
    use super::*;

    fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut builder = http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn accept(
        hub: &Hub,
        parts: &http::request::Parts,
    ) -> Result<sse_core::Accepted, sse_core::Rejection> {
        let options = ConnectOptions::from_request(parts, hub.config())
            .with_query(parts.uri.query().unwrap_or_default());
        hub.accept(parts, options)
    }

    #[test]
    fn methods_other_than_get_and_head_are_405() {
        let hub = Hub::default();
        for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
            let rejection = accept(&hub, &request(method, "/events", &[])).unwrap_err();
            let response = rejection.into_response();
            assert_eq!(response.status(), 405);
            assert_eq!(response.headers()["allow"], "GET, HEAD");
            assert_eq!(response.headers()["content-type"], "application/json");
        }
        assert_eq!(hub.metrics().connects, 0);
    }

    #[test]
    fn head_gets_the_head_and_registers_nobody() {
        let hub = Hub::default();
        let accepted = accept(&hub, &request("HEAD", "/events", &[])).unwrap();
        assert!(accepted.stream.is_none());
        assert_eq!(accepted.head.headers()["content-type"], "text/event-stream");
        assert_eq!(hub.metrics().active, 0);
    }

    #[test]
    fn at_capacity_or_shutting_down_is_503_with_retry_after() {
        let hub = Hub::new(
            HubConfig::default()
                .max_clients(Some(1))
                .retry_after(Duration::from_secs(7)),
        );
        let _first = accept(&hub, &request("GET", "/events", &[])).unwrap();
        let response = accept(&hub, &request("GET", "/events", &[]))
            .unwrap_err()
            .into_response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "7");
        assert_eq!(
            response.body(),
            r#"{"error":"too many clients are connected"}"#
        );
        hub.shutdown(None);
        let rejection = accept(&hub, &request("GET", "/events", &[])).unwrap_err();
        assert_eq!(rejection.status(), 503);
    }

    #[test]
    fn the_admission_hook_status_is_the_response_status() {
        let hooks = Recorder::default();
        hooks.refuse.lock().unwrap().push("eve".into());
        let hub = Hub::with_hooks(HubConfig::default(), hooks);
        let rejection =
            accept(&hub, &request("GET", "/events", &[("sse-clientid", "eve")])).unwrap_err();
        assert_eq!(rejection.status(), 401);
        assert_eq!(
            rejection.into_response().body(),
            r#"{"error":"eve may not connect"}"#
        );
    }

    #[test]
    fn client_id_last_event_id_and_topics_come_from_headers_and_query() {
        let hub = Hub::new(
            HubConfig::default().client_id_header(http::HeaderName::from_static("x-client")),
        );
        let first = hub.broadcast(&Event::new("missed"));
        let parts = request(
            "GET",
            "/events?topic=a&topic=b%2Fc&client=ignored",
            &[
                ("x-client", "tab-1"),
                ("last-event-id", &(first - 1).to_string()),
            ],
        );
        let mut stream = accept(&hub, &parts).unwrap().stream.unwrap();
        assert_eq!(stream.id(), "tab-1", "the header wins over the query");
        assert_eq!(stream.info().topics().collect::<Vec<_>>(), ["a", "b/c"]);
        assert_eq!(drain_data(&mut stream), ["missed"]);

        let parts = request("GET", "/events?client=browser&lastEventId=1", &[]);
        let stream = accept(&hub, &parts).unwrap().stream.unwrap();
        assert_eq!(stream.id(), "browser");
    }
}

#[test]
fn a_client_whose_stream_is_not_polled_still_meets_its_lag_policy() {
    // A writer blocked on a client that stopped reading never polls its stream: the
    // tick applies the policy instead.
    let hooks = Recorder::default();
    let hub = Hub::with_hooks(HubConfig::default().max_lag(4), hooks.clone());
    let mut stuck = hub
        .connect(ConnectOptions::new().client_id("stuck"))
        .unwrap();
    let mut waiting = hub.connect(ConnectOptions::new()).unwrap();
    position(&mut waiting);
    assert_eq!(poll_items(&mut waiting), None);
    for i in 0..10 {
        hub.broadcast(&Event::new(i.to_string()));
        drain(&mut waiting);
    }
    hub.keep_alive_tick();
    assert_eq!(hub.metrics().lag_disconnects, 1);
    assert_eq!(hub.metrics().active, 1, "the reading client is not behind");
    assert_eq!(
        hooks.calls_starting("disconnect stuck"),
        ["disconnect stuck Lagged 1"]
    );
    assert!(has_ended(&mut stuck));
    drop(stuck);
    assert_eq!(hooks.calls_starting("disconnect stuck").len(), 1, "once");

    let config = HubConfig::default()
        .max_lag(4)
        .lag_policy(LagPolicy::DropOldest);
    let hub = Hub::new(config);
    let mut stuck = hub.connect(ConnectOptions::new()).unwrap();
    for i in 0..10 {
        hub.broadcast(&Event::new(i.to_string()));
    }
    hub.keep_alive_tick();
    assert_eq!(hub.metrics().dropped, 6);
    assert_eq!(drain_data(&mut stuck), ["6", "7", "8", "9"]);
}
