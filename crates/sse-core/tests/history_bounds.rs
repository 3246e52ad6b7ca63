//! The bounds on the hub's history across topics, and ids that differ per run.
//!
//! - All logs together stay within `HubConfig::history_budget`, by the hub's own
//!   accounting and by a counting allocator, and what is evicted is reused;
//! - topic logs no one reads expire after `idle_topic_lifetime`;
//! - at most `max_topics` topic logs are held;
//! - readers that lose frames to the budget meet the lag policy, and a client that
//!   resumes from before what was evicted, expired or not kept gets a replay miss;
//! - automatic ids start from the clock, so an id of an earlier run (or one not
//!   reached yet) is a replay miss, never a position in this run.

mod common;

use std::time::{Duration, Instant, SystemTime};

use allocation_counter::measure;
use common::*;
use sse_core::{
    ConnectError, ConnectOptions, Decoded, Event, Hub, HubConfig, LagPolicy, MessageEvent,
};

/// Settings with fixed ids (1, 2, ...).
fn fixed_ids() -> HubConfig {
    HubConfig::default().first_sequence(Some(0))
}

/// The resync event a replay miss starts with.
fn resync() -> Decoded {
    Decoded::Event(MessageEvent {
        event_type: "resync".into(),
        data: String::new(),
        last_event_id: String::new(),
    })
}

/// Publishes one event of `size` bytes to each of `count` topics named
/// `{prefix}-{i}`, which nobody reads.
fn publish_to_unread_topics(hub: &Hub, prefix: &str, count: usize, data: &str) {
    for i in 0..count {
        hub.publish(&format!("{prefix}-{i}"), &Event::new(data));
    }
}

#[test]
fn unread_topics_stay_within_the_history_budget_and_what_is_evicted_is_reused() {
    const TOPICS: usize = 3_000;
    let hub = Hub::default();
    let budget = hub.config().history_budget;
    assert_eq!(budget, 64 << 20, "the default");
    let data = "x".repeat(60_000);
    // Frames, history entries, chunks and topic logs: what the 3 000 topics may
    // cost beyond the budget's frames (a topic log and its index are well under
    // 1 KiB), plus one frame kept beyond the budget.
    let slack = TOPICS * 1024 + 2 * data.len();

    let first = measure(|| publish_to_unread_topics(&hub, "a", TOPICS, &data));
    println!(
        "{TOPICS} unread topics x 60 KB: {} bytes held, {} at most, {} by the hub's count",
        first.bytes_current,
        first.bytes_max,
        hub.history_bytes()
    );
    assert!(hub.history_bytes() <= budget, "{}", hub.history_bytes());
    let held = usize::try_from(first.bytes_current).expect("it grew");
    assert!(held <= budget + slack, "{first:?}");
    assert!(
        usize::try_from(first.bytes_max).unwrap() <= budget + slack,
        "{first:?}"
    );
    let metrics = hub.metrics();
    assert!(hub.topic_count() < TOPICS / 2, "{}", hub.topic_count());
    assert_eq!(metrics.evicted as usize, TOPICS - hub.topic_count());
    assert_eq!(metrics.published, TOPICS as u64);

    // As many again, to new topics: the memory evicted is reused, none is added.
    let second = measure(|| publish_to_unread_topics(&hub, "b", TOPICS, &data));
    println!(
        "{TOPICS} more: {} bytes more held, {} at most",
        second.bytes_current, second.bytes_max
    );
    assert!(hub.history_bytes() <= budget);
    assert!(
        second.bytes_current <= 256 * 1024,
        "publishing more grew memory: {second:?}"
    );
    assert!(
        usize::try_from(second.bytes_max).unwrap() <= 2 * data.len() + 256 * 1024,
        "{second:?}"
    );
}

#[test]
fn frames_are_evicted_from_unread_topics_first_oldest_first() {
    let frame_cost = |data: &str| {
        let hub = Hub::new(fixed_ids());
        hub.broadcast(&Event::new(data));
        hub.history_bytes()
    };
    let data = "y".repeat(1000);
    let cost = frame_cost(&data);
    // Room for three frames.
    let hub = Hub::new(fixed_ids().history_budget(3 * cost + cost / 2));
    let mut reader = hub.connect(ConnectOptions::new().topic("read")).unwrap();
    hub.publish("read", &Event::new(&*data));
    hub.publish("u1", &Event::new(&*data));
    hub.publish("u2", &Event::new(&*data));
    hub.publish("u3", &Event::new(&*data));
    // `u1`, the oldest unread topic, went; the topic read by a client stayed.
    assert_eq!(hub.metrics().evicted, 1);
    assert_eq!(hub.topic_count(), 3);
    assert!(hub.history_bytes() <= 3 * cost + cost / 2);
    assert_eq!(drain_data(&mut reader), [data]);
    assert_eq!(hub.metrics().lag_disconnects, 0);
    // Its event had an id that is no longer held: resuming from before it is a miss.
    let mut late = hub
        .connect(ConnectOptions::new().topic("u1").last_event_id("1"))
        .unwrap();
    assert_eq!(poll_items(&mut late), Some(Some(vec![resync()])));
}

#[test]
fn a_reader_that_loses_unread_frames_to_the_budget_meets_the_lag_policy() {
    let data = "z".repeat(1000);
    for policy in [LagPolicy::Disconnect, LagPolicy::DropOldest] {
        let config = fixed_ids()
            .history_budget(3 * (1000 + HubConfig::FRAME_OVERHEAD + 20))
            .lag_policy(policy);
        let hub = Hub::new(config);
        let mut reader = hub.connect(ConnectOptions::new().topic("t")).unwrap();
        for i in 0..5 {
            hub.publish("t", &Event::new(format!("{i}{data}")));
        }
        assert_eq!(hub.metrics().evicted, 2, "{policy:?}");
        match policy {
            LagPolicy::Disconnect => {
                assert!(has_ended(&mut reader));
                assert_eq!(hub.metrics().lag_disconnects, 1);
            }
            _ => {
                let first: Vec<char> = drain_data(&mut reader)
                    .iter()
                    .filter_map(|data| data.chars().next())
                    .collect();
                assert_eq!(first, ['2', '3', '4']);
                assert_eq!(hub.metrics().dropped, 2);
            }
        }
    }
}

#[test]
fn topic_logs_no_one_reads_expire_after_their_idle_lifetime() {
    let hub = Hub::new(fixed_ids());
    let lifetime = hub.config().idle_topic_lifetime;
    assert_eq!(lifetime, Duration::from_secs(300), "the default");
    hub.publish("unread", &Event::new("kept a while"));
    let reader = hub.connect(ConnectOptions::new().topic("read")).unwrap();
    hub.publish("read", &Event::new("kept while read"));
    assert_eq!(hub.expire_idle_topics(Instant::now()), 0);
    assert_eq!(hub.topic_count(), 2);

    let later = Instant::now() + lifetime;
    assert_eq!(hub.expire_idle_topics(later), 1, "only the unread one");
    assert_eq!(hub.topic_count(), 1);
    // Its last reader gone, the other is idle from then on.
    drop(reader);
    assert_eq!(hub.expire_idle_topics(Instant::now()), 0);
    assert_eq!(hub.expire_idle_topics(Instant::now() + lifetime), 1);
    assert_eq!((hub.topic_count(), hub.history_bytes()), (0, 0));
    assert_eq!(hub.metrics().topics_expired, 2);

    // A client that resumes an expired topic from before what it held is told.
    let mut back = hub
        .connect(ConnectOptions::new().topic("read").last_event_id("1"))
        .unwrap();
    assert_eq!(poll_items(&mut back), Some(Some(vec![resync()])));
    assert_eq!(hub.metrics().replay_misses, 1);
}

#[test]
fn idle_topics_expire_on_the_keep_alive_tick_and_on_publishes_to_unread_topics() {
    let hub = Hub::new(fixed_ids().idle_topic_lifetime(Duration::ZERO));
    hub.publish("a", &Event::new("1"));
    hub.publish("b", &Event::new("2"));
    assert_eq!(hub.topic_count(), 1, "publishing to `b` freed `a`");
    hub.keep_alive_tick();
    assert_eq!(hub.topic_count(), 0);
    assert_eq!(hub.metrics().topics_expired, 2);
}

#[test]
fn the_topic_cap_holds_for_publishes_and_subscriptions_alike() {
    let hub = Hub::new(fixed_ids().max_topics(3));
    let mut reader = hub.connect(ConnectOptions::new().topic("s")).unwrap();
    hub.publish("a", &Event::new("a1"));
    hub.publish("b", &Event::new("b1"));
    let refused = hub.publish("c", &Event::new("not kept"));
    assert_eq!(hub.topic_count(), 3);
    assert_eq!(hub.metrics().topics_refused, 1);
    // Topics that have a log are published to as before.
    hub.publish("s", &Event::new("s1"));
    hub.publish("a", &Event::new("a2"));
    assert_eq!(drain_data(&mut reader), ["s1"]);
    assert_eq!(hub.topic_count(), 3);
    assert_eq!(hub.metrics().topics_refused, 1);

    // Subscribing to a topic without a log at the cap is refused too (503), and
    // a topic that has one is still open to subscribers.
    let before = (refused - 1).to_string();
    let resume_c = || {
        ConnectOptions::new()
            .topic("c")
            .last_event_id(before.clone())
    };
    assert_eq!(
        hub.connect(resume_c()).unwrap_err(),
        ConnectError::TopicsFull
    );
    assert_eq!(hub.metrics().topics_refused, 2);
    let mut second = hub.connect(ConnectOptions::new().topic("a")).unwrap();
    assert!(!position(&mut second).is_empty());
    assert_eq!(hub.topic_count(), 3);

    // Once the logs no one reads expire, there is room: a client resuming `c`
    // from before the event not kept gets a replay miss.
    drop(second);
    let later = Instant::now() + hub.config().idle_topic_lifetime;
    assert_eq!(hub.expire_idle_topics(later), 2, "a and b");
    let mut late = hub.connect(resume_c()).unwrap();
    assert_eq!(poll_items(&mut late), Some(Some(vec![resync()])));
    hub.publish("c", &Event::new("c2"));
    assert_eq!(drain_data(&mut late), ["c2"]);
    assert_eq!(hub.topic_count(), 2, "s and c");
}

/// Microseconds since the Unix epoch.
fn clock_micros() -> u64 {
    let since = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    u64::try_from(since.as_micros()).unwrap()
}

#[test]
fn ids_start_from_the_clock_so_an_earlier_run_s_id_is_a_replay_miss() {
    let before = clock_micros();
    let first_run = Hub::default();
    let first_sequence = first_run.config().first_sequence.unwrap();
    assert!(first_sequence >= before, "{first_sequence} < {before}");
    let mut last = 0;
    for i in 0..30 {
        last = first_run.broadcast(&Event::new(i.to_string()));
    }
    assert_eq!(last, first_sequence + 30);
    drop(first_run);
    // The process restarts: a later microsecond.
    while clock_micros() <= last {
        std::hint::spin_loop();
    }
    let hooks = Recorder::default();
    let second_run = Hub::with_hooks(HubConfig::default(), hooks.clone());
    let newest = second_run.broadcast(&Event::new("new run"));
    assert!(newest > last, "{newest} <= {last}");
    // Ids from the earlier run (its newest, and a small one from a run with fixed
    // ids), and one this run has not reached: each a miss, then live events only.
    for stale in [last, 30, newest + 1_000] {
        let mut stream = second_run
            .connect(ConnectOptions::new().last_event_id(stale.to_string()))
            .unwrap();
        assert_eq!(
            poll_items(&mut stream),
            Some(Some(vec![resync()])),
            "Last-Event-ID {stale}"
        );
        second_run.broadcast(&Event::new("live"));
        assert_eq!(drain_data(&mut stream), ["live"]);
    }
    assert_eq!(second_run.metrics().replay_misses, 3);
    assert_eq!(hooks.calls_starting("miss").len(), 3);
    // This run's own ids still resume.
    let mut resumed = second_run
        .connect(ConnectOptions::new().last_event_id(newest.to_string()))
        .unwrap();
    assert_eq!(drain_data(&mut resumed), ["live", "live", "live"]);
}

#[test]
fn a_fixed_first_sequence_is_kept() {
    let hub = Hub::new(HubConfig::default().first_sequence(Some(41)));
    assert_eq!(hub.config().first_sequence, Some(41));
    assert_eq!(hub.broadcast(&Event::new("x")), 42);
    assert_eq!(hub.metrics().published, 1);
}
