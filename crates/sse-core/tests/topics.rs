//! What subscriptions may cost: a connection's topics are bounded
//! (`HubConfig::max_topics_per_client`), the logs subscriptions make count toward
//! `HubConfig::max_topics` as publishes' do, and all of it is given back when the
//! subscribers leave, by the hub's count and by a counting allocator.

mod common;

use allocation_counter::measure;
use common::{Recorder, drain_data, position};
use sse_core::{ClientStream, ConnectError, ConnectOptions, Event, Hub, HubConfig};

fn with_topics(prefix: &str, topics: std::ops::Range<usize>) -> ConnectOptions {
    topics.fold(ConnectOptions::new(), |options, i| {
        options.topic(format!("{prefix}-{i}"))
    })
}

#[test]
fn a_connection_over_its_topic_limit_is_refused_before_the_admission_hook() {
    let hooks = Recorder::default();
    let hub = Hub::with_hooks(HubConfig::default().max_topics_per_client(3), hooks.clone());
    let error = hub.connect(with_topics("t", 0..4)).unwrap_err();
    assert_eq!(
        (error.clone(), error.status()),
        (ConnectError::TooManyTopics, http::StatusCode::BAD_REQUEST)
    );
    assert!(hooks.calls().is_empty(), "the hook never saw it");
    assert_eq!(hub.topic_count(), 0, "no log was made");

    // Repeats count once.
    let repeated = with_topics("t", 0..3).topic("t-0").topic("t-2");
    let stream = hub.connect(repeated).unwrap();
    assert_eq!(stream.info().topics().count(), 3);
    assert_eq!(hub.topic_count(), 3);
}

#[test]
fn the_default_limit_is_64_topics() {
    let hub = Hub::default();
    assert_eq!(hub.config().max_topics_per_client, 64);
    assert!(hub.connect(with_topics("t", 0..64)).is_ok());
    assert_eq!(
        hub.connect(with_topics("t", 0..65)).unwrap_err(),
        ConnectError::TooManyTopics
    );
}

#[test]
fn too_many_topics_over_http_is_a_400_with_a_json_error() {
    let hub = Hub::default();
    let query: Vec<String> = (0..3_500).map(|i| format!("topic=t{i}")).collect();
    let uri = format!("/events?{}", query.join("&"));
    let (parts, ()) = http::Request::get(uri).body(()).unwrap().into_parts();
    let options = ConnectOptions::from_parts(&parts, hub.config());
    let response = hub.accept(&parts, options).unwrap_err().into_response();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.body(),
        r#"{"error":"too many topics for one connection"}"#
    );
    assert_eq!(hub.topic_count(), 0);
    assert_eq!(hub.metrics().active, 0);
}

#[test]
fn subscription_logs_count_toward_max_topics_and_a_full_hub_is_503() {
    let hub = Hub::new(
        HubConfig::default()
            .max_topics(100)
            .max_topics_per_client(10),
    );
    let streams: Vec<ClientStream> = (0..10)
        .map(|i| hub.connect(with_topics(&format!("c{i}"), 0..10)).unwrap())
        .collect();
    assert_eq!(hub.topic_count(), 100);
    let error = hub.connect(with_topics("late", 0..1)).unwrap_err();
    assert_eq!(
        (error.clone(), error.status()),
        (
            ConnectError::TopicsFull,
            http::StatusCode::SERVICE_UNAVAILABLE
        )
    );
    assert_eq!(hub.metrics().topics_refused, 1);
    // Topics that have a log take no room: subscribing to them is fine.
    let mut reader = hub.connect(with_topics("c0", 0..10)).unwrap();
    position(&mut reader);
    hub.publish("c0-3", &Event::new("still delivered"));
    assert_eq!(drain_data(&mut reader), ["still delivered"]);
    // A publish to a new topic is not kept either.
    hub.publish("new", &Event::new("nobody reads it"));
    assert_eq!(hub.metrics().topics_refused, 2);

    // Over HTTP: 503 with Retry-After.
    let (parts, ()) = http::Request::get("/events?topic=late")
        .body(())
        .unwrap()
        .into_parts();
    let options = ConnectOptions::from_parts(&parts, hub.config());
    let response = hub.accept(&parts, options).unwrap_err().into_response();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");

    drop(streams);
    assert_eq!(hub.topic_count(), 10, "the logs only `reader` reads");
    assert!(hub.connect(with_topics("late", 0..1)).is_ok(), "room again");
}

/// The issue's flood: many connections with as many topics as they may have,
/// each topic new. The hub's state before, during and after, by its own count
/// (topic logs, history) and by a counting allocator (every byte it allocated
/// for them is freed, the topic slab's and index's included).
#[test]
fn a_topic_flood_is_bounded_and_its_memory_is_given_back() {
    const CONNECTIONS: usize = 200;
    let hub = Hub::default();
    let limit = hub.config().max_topics_per_client;
    let max_topics = hub.config().max_topics;
    let mut during = (0, 0);
    let mut refused = 0;
    let info = measure(|| {
        let mut streams = Vec::new();
        for i in 0..CONNECTIONS {
            match hub.connect(with_topics(&format!("flood{i}"), 0..limit)) {
                Ok(mut stream) => {
                    position(&mut stream);
                    streams.push(stream);
                }
                Err(ConnectError::TopicsFull) => refused += 1,
                Err(other) => panic!("{other}"),
            }
        }
        during = (hub.topic_count(), streams.len());
        drop(streams);
    });
    println!(
        "{CONNECTIONS} connections x {limit} topics: {} logs held at most ({} admitted, \
         {refused} refused), {} bytes at most, {} bytes still held after they left",
        during.0, during.1, info.bytes_max, info.bytes_current
    );
    assert!(during.0 <= max_topics, "{during:?}");
    assert_eq!(during.0, during.1 * limit);
    assert_eq!(refused, CONNECTIONS - max_topics / limit);
    assert_eq!(hub.topic_count(), 0);
    assert_eq!(hub.history_bytes(), 0);
    assert_eq!(hub.metrics().active, 0);
    // What stays: the registry's slab (a few bytes a slot); the topic slab and
    // index are back to nothing.
    assert!(
        info.bytes_current < 64 * 1024,
        "{} bytes still held",
        info.bytes_current
    );
}
