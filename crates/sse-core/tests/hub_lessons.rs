//! One test per hub lesson from the Go package this library redesigns (`docs/lessons.md`,
//! 1 to 6, 12 and 13).

mod common;

use std::thread;

use common::*;
use futures_lite::future;
use sse_core::{ConnectOptions, Decoded, Event, Hub, HubConfig, LagPolicy, SendError};

#[test]
fn lesson_01_a_client_can_be_looked_up_by_id() {
    let hub = Hub::default();
    let mut alice = hub
        .connect(ConnectOptions::new().client_id("alice").topic("news"))
        .unwrap();
    let found = hub.client("alice").expect("alice is connected");
    assert_eq!(found.id(), "alice");
    assert_eq!(found.topics().collect::<Vec<_>>(), ["news"]);
    assert_eq!(hub.client("bob"), None);

    hub.send_to("alice", &Event::new("hi alice")).unwrap();
    assert_eq!(drain_data(&mut alice), ["hi alice"]);
    assert_eq!(
        hub.send_to("bob", &Event::new("hi bob")),
        Err(SendError::UnknownClient)
    );
}

#[test]
fn lesson_02_clients_without_an_id_get_unique_ones() {
    let hub = Hub::default();
    let mut streams: Vec<_> = [None, Some(""), None, Some("")]
        .into_iter()
        .map(|id| {
            let mut options = ConnectOptions::new();
            options.client_id = id.map(String::from);
            hub.connect(options).unwrap()
        })
        .collect();
    let mut ids: Vec<String> = streams.iter().map(|s| s.id().to_owned()).collect();
    assert!(ids.iter().all(|id| !id.is_empty()));
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "every client has its own id");
    assert_eq!(hub.metrics().active, 4);

    hub.broadcast(&Event::new("to all four"));
    for stream in &mut streams {
        assert_eq!(drain_data(stream), ["to all four"]);
    }
}

#[test]
fn lesson_03_removing_an_old_connection_never_removes_a_newer_one_with_its_id() {
    let hooks = Recorder::default();
    let hub = Hub::with_hooks(HubConfig::default(), hooks.clone());
    let mut old = hub.connect(ConnectOptions::new().client_id("tab")).unwrap();
    let mut new = hub.connect(ConnectOptions::new().client_id("tab")).unwrap();
    assert!(has_ended(&mut old), "the replaced stream ends");
    drop(old);
    assert!(
        hub.client("tab").is_some(),
        "the newer connection keeps the id"
    );
    hub.send_to("tab", &Event::new("still here")).unwrap();
    assert_eq!(drain_data(&mut new), ["still here"]);
    assert_eq!(
        hooks.calls_starting("disconnect"),
        ["disconnect tab Replaced 1"]
    );
}

#[test]
fn lesson_04_disconnecting_a_client_ends_its_stream_and_frees_its_entry() {
    let hooks = Recorder::default();
    let hub = Hub::with_hooks(HubConfig::default(), hooks.clone());
    let mut stream = hub
        .connect(ConnectOptions::new().client_id("gone"))
        .unwrap();
    assert!(hub.disconnect("gone"));
    assert!(has_ended(&mut stream));
    assert_eq!(hub.client("gone"), None);
    assert_eq!(hub.metrics().active, 0);
    drop(stream);
    assert_eq!(
        hooks.calls_starting("disconnect"),
        ["disconnect gone Removed 0"],
        "the hook ran exactly once, though the stream was also dropped"
    );
    assert!(!hub.disconnect("gone"));
}

#[test]
fn lesson_05_hooks_see_the_count_their_own_change_made() {
    let hooks = Recorder::default();
    let hub = Hub::with_hooks(HubConfig::default(), hooks.clone());
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let hub = hub.clone();
            thread::spawn(move || {
                (0..50)
                    .map(|_| hub.connect(ConnectOptions::new()).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let streams: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let mut counts: Vec<usize> = hooks
        .calls_starting("connect")
        .iter()
        .map(|call| call.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=400).collect::<Vec<_>>(),
        "each count seen once"
    );

    drop(streams);
    let mut counts: Vec<usize> = hooks
        .calls_starting("disconnect")
        .iter()
        .map(|call| call.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, (0..400).collect::<Vec<_>>());
    assert_eq!(hub.metrics().active, 0);
}

#[test]
fn lesson_06_a_slow_or_dead_client_never_stalls_anyone() {
    for policy in [LagPolicy::Disconnect, LagPolicy::DropOldest] {
        let config = HubConfig::default()
            .history(64)
            .max_lag(16)
            .client_queue(4)
            .lag_policy(policy);
        let hub = Hub::new(config);
        let mut fast = hub.connect(ConnectOptions::new()).unwrap();
        let mut slow = hub
            .connect(ConnectOptions::new().client_id("slow"))
            .unwrap();
        // The slow client never reads while 1000 events go out; broadcast never waits.
        let mut received = Vec::new();
        for i in 0..1000 {
            hub.broadcast(&Event::new(i.to_string()));
            if i % 8 == 0 {
                received.extend(drain_data(&mut fast));
            }
            // Its own queue filling up does not block a direct send either.
            let _ = hub.send_to("slow", &Event::new("direct"));
        }
        received.extend(drain_data(&mut fast));
        let expected: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
        assert_eq!(
            received, expected,
            "{policy:?}: the fast client got everything"
        );

        match policy {
            LagPolicy::Disconnect => {
                assert!(has_ended(&mut slow));
                drop(slow);
                assert_eq!(hub.metrics().lag_disconnects, 1);
            }
            _ => {
                let got = drain_data(&mut slow);
                assert!(got.iter().filter(|d| *d != "direct").count() <= 16);
                assert!(hub.metrics().dropped > 0);
            }
        }
    }
}

#[test]
fn lesson_12_the_response_head_is_complete_and_ready_before_any_event() {
    let hub = Hub::default();
    for version in [http::Version::HTTP_11, http::Version::HTTP_2] {
        let (parts, ()) = http::Request::get("/events")
            .version(version)
            .body(())
            .unwrap()
            .into_parts();
        // No event was ever published: the head is there at once, for the adapter to
        // send (and flush) before the first event, so `onopen` fires.
        let accepted = hub.accept(&parts, ConnectOptions::new()).unwrap();
        let head = accepted.head;
        assert_eq!(head.status(), 200);
        assert_eq!(head.version(), version);
        assert_eq!(head.headers()["content-type"], "text/event-stream");
        assert_eq!(head.headers()["cache-control"], "no-cache, no-transform");
        assert_eq!(head.headers()["x-accel-buffering"], "no");
        assert!(head.headers().get("connection").is_none(), "{version:?}");
    }
}

#[test]
fn lesson_13_no_hook_is_needed_and_shutdown_keep_alive_and_replay_exist() {
    // No hooks set: nothing panics.
    let hub = Hub::default();
    let mut stream = hub.connect(ConnectOptions::new()).unwrap();
    let id = hub.broadcast(&Event::new("first"));
    hub.broadcast(&Event::new("second"));
    assert_eq!(drain_data(&mut stream), ["first", "second"]);

    // Keep-alive: a comment after an interval with nothing sent.
    hub.keep_alive_tick();
    hub.keep_alive_tick();
    assert_eq!(
        poll_items(&mut stream),
        Some(Some(vec![Decoded::Comment("keep-alive".into())]))
    );

    // Last-Event-ID: a reconnecting client gets what it missed.
    let mut again = hub
        .connect(ConnectOptions::new().last_event_id(id.to_string()))
        .unwrap();
    assert_eq!(drain_data(&mut again), ["second"]);

    // Shutdown ends every stream, and `closed` completes once they are gone.
    hub.shutdown(None);
    assert!(has_ended(&mut stream) && has_ended(&mut again));
    drop((stream, again));
    future::block_on(hub.closed());
    assert_eq!(hub.metrics().disconnects, 2);
}
