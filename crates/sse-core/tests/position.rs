//! Every hub stream tells its client where it stands at once: an id-only
//! checkpoint after the opening frames, so a client whose connection drops before
//! its first event (on a quiet stream, the common case) reconnects with a
//! `Last-Event-ID` and misses nothing.

mod common;

use common::{drain, drain_data, opening, poll_items, position};
use sse_core::{ConnectOptions, Decoded, Event, Hub, HubConfig};

fn fixed_ids() -> HubConfig {
    HubConfig::default().first_sequence(Some(0))
}

/// Connect, drop before any event, publish, reconnect with the position: every
/// event published in between arrives, once, and nothing else.
fn dropped_before_any_event_resumes_exactly(hub: &Hub) {
    hub.broadcast(&Event::new("before it connected"));
    let mut first = hub
        .connect(ConnectOptions::new().topic("news").client_id("tab"))
        .unwrap();
    let at = position(&mut first);
    drop(first);

    hub.publish("news", &Event::new("missed news"));
    hub.publish("sport", &Event::new("not subscribed"));
    hub.broadcast(&Event::new("missed broadcast"));
    let mut back = hub
        .connect(
            ConnectOptions::new()
                .topic("news")
                .client_id("tab")
                .last_event_id(&at),
        )
        .unwrap();
    assert_eq!(drain_data(&mut back), ["missed news", "missed broadcast"]);
    hub.broadcast(&Event::new("live"));
    assert_eq!(drain_data(&mut back), ["live"]);
    assert_eq!(hub.metrics().replays, 1);
    assert_eq!(hub.metrics().replay_misses, 0);
}

#[test]
fn a_client_dropped_before_any_event_resumes_exactly() {
    dropped_before_any_event_resumes_exactly(&Hub::new(fixed_ids()));
    // Ids from the clock, as by default.
    dropped_before_any_event_resumes_exactly(&Hub::default());
}

#[test]
fn the_checkpoint_follows_the_opening_frames_and_precedes_live_ones() {
    let hub = Hub::new(fixed_ids().client_id_event(Some("client-id".into())));
    hub.broadcast(&Event::new("one"));
    let mut stream = hub.connect(ConnectOptions::new().client_id("c")).unwrap();
    hub.broadcast(&Event::new("two"));
    let batch = futures_lite::future::block_on(futures_lite::StreamExt::next(&mut stream))
        .expect("a batch");
    let frames: Vec<&[u8]> = batch.frames().map(|frame| &frame[..]).collect();
    assert_eq!(
        frames,
        [
            &b"event: client-id\ndata: c\n\n"[..],
            b"id: 1\n\n",
            b"data: two\nid: 2\n\n",
        ]
    );
}

#[test]
fn a_replay_miss_tells_the_client_where_it_stands_now() {
    let hub = Hub::new(fixed_ids());
    hub.broadcast(&Event::new("one"));
    let mut stream = hub
        .connect(ConnectOptions::new().last_event_id("from another run"))
        .unwrap();
    let (at, items) = opening(&mut stream);
    assert!(matches!(&items[..], [Decoded::Event(e)] if e.event_type == "resync"));
    assert_eq!(at, "1");
    drop(stream);
    hub.broadcast(&Event::new("two"));
    let mut back = hub
        .connect(ConnectOptions::new().last_event_id(at))
        .unwrap();
    assert_eq!(drain_data(&mut back), ["two"]);
    assert_eq!(hub.metrics().replay_misses, 1);
}

#[test]
fn a_resumed_client_gets_no_checkpoint_of_its_own() {
    let hub = Hub::new(fixed_ids());
    let first = hub.broadcast(&Event::new("one"));
    let mut stream = hub
        .connect(ConnectOptions::new().last_event_id(first.to_string()))
        .unwrap();
    assert_eq!(
        poll_items(&mut stream),
        None,
        "its Last-Event-ID is its position"
    );
    hub.broadcast(&Event::new("two"));
    let events = drain(&mut stream);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].last_event_id, "2");
}

#[test]
fn a_direct_frame_does_not_move_the_position_past_a_log_frame() {
    let hub = Hub::new(fixed_ids());
    let _target = hub.connect(ConnectOptions::new().client_id("t")).unwrap();
    hub.send_to("t", &Event::new("direct")).unwrap();
    let mut stream = hub.connect(ConnectOptions::new()).unwrap();
    let at = position(&mut stream);
    assert_eq!(
        at, "1",
        "the direct frame's sequence: no log frame after it"
    );
    drop(stream);
    hub.broadcast(&Event::new("after"));
    let mut back = hub
        .connect(ConnectOptions::new().last_event_id(at))
        .unwrap();
    assert_eq!(drain_data(&mut back), ["after"]);
}
