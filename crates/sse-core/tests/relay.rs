//! The backplane seam: events relayed with an external log's ids, the relay mark,
//! and replay from a [`ReplaySource`] when the hub's own history falls short.

mod common;

use std::sync::{Arc, Mutex};

use common::{Recorder, drain, drain_data, has_ended, poll_items, position};
use sse_core::{
    ConnectOptions, EncodedEvent, Event, Hub, HubConfig, ReplayFuture, ReplayRequest, ReplaySource,
    Replayed,
};

/// One entry of the external log: its id, its topic, the event.
type Entry = (String, Option<String>, EncodedEvent);

/// An external log, as a backplane keeps it: ids `1-0`, `2-0`, ... with topics.
#[derive(Clone, Default)]
struct ExternalLog {
    entries: Arc<Mutex<Vec<Entry>>>,
    requests: Arc<Mutex<Vec<ReplayRequest>>>,
    /// While set, fetches wait until the test sends on it (or drops it).
    gate: Option<async_channel::Receiver<()>>,
}

impl ExternalLog {
    /// Appends to the log and relays to `hub`, as a backplane's reader does.
    fn append(&self, hub: &Hub, topic: Option<&str>, data: &str) -> String {
        let mut entries = self.entries.lock().unwrap();
        let id = format!("{}-0", entries.len() + 1);
        let event = EncodedEvent::new(&Event::new(data));
        hub.relay(topic, &event, &id).expect("a valid id");
        entries.push((id.clone(), topic.map(String::from), event));
        id
    }
}

impl ReplaySource for ExternalLog {
    fn replay(&self, request: ReplayRequest) -> ReplayFuture {
        self.requests.lock().unwrap().push(request.clone());
        let log = self.clone();
        Box::pin(async move {
            if let Some(gate) = &log.gate {
                let _ = gate.recv().await;
            }
            let entries = log.entries.lock().unwrap();
            let start = entries
                .iter()
                .position(|(id, _, _)| *id == request.last_event_id)?;
            let topics: Vec<&str> = request.client.topics().collect();
            let frames = entries[start + 1..]
                .iter()
                .filter(|(_, topic, _)| topic.as_deref().is_none_or(|t| topics.contains(&t)))
                .map(|(id, _, event)| event.to_frame(id).expect("a valid id"))
                .collect();
            let through = entries.last().map(|(id, _, _)| id.clone())?;
            Some(Replayed::new(frames, through))
        })
    }
}

fn small_history() -> HubConfig {
    HubConfig::default().history(2)
}

/// A hub keeping 2 events per log, replaying the rest from `log`.
fn hub_replaying_from(log: &ExternalLog) -> Hub {
    Hub::builder()
        .config(small_history())
        .replay_source(log.clone())
        .build()
}

fn resume(last: &str) -> ConnectOptions {
    ConnectOptions::new().last_event_id(last)
}

#[test]
fn relayed_events_carry_the_external_id_and_replay_by_it() {
    let hub = Hub::default();
    let log = ExternalLog::default();
    let mut live = hub.connect(ConnectOptions::new()).unwrap();
    for data in ["a", "b", "c"] {
        log.append(&hub, None, data);
    }
    let ids: Vec<String> = drain(&mut live)
        .into_iter()
        .map(|e| e.last_event_id)
        .collect();
    assert_eq!(ids, ["1-0", "2-0", "3-0"]);

    let mut back = hub.connect(resume("1-0")).unwrap();
    assert_eq!(drain_data(&mut back), ["b", "c"]);
    assert_eq!(hub.metrics().replays, 1);
}

#[test]
fn a_broken_relay_id_is_refused_and_nothing_is_sent() {
    let hub = Hub::default();
    let mut client = hub.connect(ConnectOptions::new()).unwrap();
    position(&mut client);
    let event = EncodedEvent::new(&Event::new("x"));
    assert!(hub.relay(None, &event, "1\n2").is_err());
    assert!(hub.mark_relayed("a\0").is_err());
    assert_eq!(poll_items(&mut client), None);
    assert_eq!(hub.metrics().published, 0);
}

#[test]
fn the_relay_mark_resumes_with_what_is_relayed_next() {
    let hub = Hub::default();
    let log = ExternalLog::default();
    hub.mark_relayed("0-5").unwrap();
    let mut client = hub.connect(resume("0-5")).unwrap();
    log.append(&hub, None, "first relayed");
    assert_eq!(drain_data(&mut client), ["first relayed"]);
    assert_eq!(hub.metrics().replay_misses, 0);
}

#[test]
fn an_id_past_the_history_is_replayed_by_the_source_then_the_logs_follow() {
    let log = ExternalLog::default();
    let hub = hub_replaying_from(&log);
    for data in ["a", "b", "c", "d"] {
        log.append(&hub, None, data);
    }
    let mut client = hub.connect(resume("1-0")).unwrap();
    log.append(&hub, None, "e");
    assert_eq!(drain_data(&mut client), ["b", "c", "d", "e"]);
    log.append(&hub, None, "f");
    assert_eq!(drain_data(&mut client), ["f"]);
    let metrics = hub.metrics();
    assert_eq!((metrics.replays, metrics.replay_misses), (1, 0));
}

#[test]
fn events_relayed_while_the_source_fetches_are_neither_lost_nor_repeated() {
    let (open, gate) = async_channel::bounded(1);
    let log = ExternalLog {
        gate: Some(gate),
        ..ExternalLog::default()
    };
    let hub = hub_replaying_from(&log);
    for data in ["a", "b", "c"] {
        log.append(&hub, None, data);
    }
    let mut client = hub.connect(resume("1-0")).unwrap();
    assert_eq!(poll_items(&mut client), None, "waits for the fetch");
    // Relayed after the client connected, before the fetch reads the log: the fetch
    // returns them, and the stream must not send them again from the hub's logs.
    log.append(&hub, None, "d");
    log.append(&hub, None, "e");
    open.try_send(()).unwrap();
    log.append(&hub, None, "f");
    assert_eq!(drain_data(&mut client), ["b", "c", "d", "e", "f"]);
}

#[test]
fn a_long_replay_comes_in_batches_before_anything_live() {
    let log = ExternalLog::default();
    let hub = hub_replaying_from(&log);
    let data: Vec<String> = (0..100).map(|n| n.to_string()).collect();
    for d in &data {
        log.append(&hub, None, d);
    }
    let mut client = hub.connect(resume("1-0")).unwrap();
    log.append(&hub, None, "live");
    let mut expected = data[1..].to_vec();
    expected.push("live".into());
    assert_eq!(drain_data(&mut client), expected);
}

#[test]
fn the_source_is_asked_only_for_what_the_history_does_not_hold() {
    let log = ExternalLog::default();
    let hub = Hub::builder().replay_source(log.clone()).build();
    log.append(&hub, None, "a");
    log.append(&hub, None, "b");
    let mut client = hub.connect(resume("1-0")).unwrap();
    assert_eq!(drain_data(&mut client), ["b"]);
    assert!(log.requests.lock().unwrap().is_empty());
}

#[test]
fn the_source_sees_the_topics_and_replays_only_those() {
    let log = ExternalLog::default();
    let hub = hub_replaying_from(&log);
    log.append(&hub, None, "start");
    log.append(&hub, Some("news"), "news 1");
    log.append(&hub, Some("sport"), "sport 1");
    log.append(&hub, None, "everyone");
    log.append(&hub, Some("sport"), "sport 2");
    log.append(&hub, None, "everyone again");
    let mut client = hub
        .connect(resume("1-0").topic("news").client_id("reader"))
        .unwrap();
    log.append(&hub, Some("news"), "news 2");
    log.append(&hub, Some("sport"), "sport 3");
    assert_eq!(
        drain_data(&mut client),
        ["news 1", "everyone", "everyone again", "news 2"]
    );
    let requests = log.requests.lock().unwrap();
    assert_eq!(requests[0].client.id(), "reader");
    assert_eq!(requests[0].client.topics().collect::<Vec<_>>(), ["news"]);
}

#[test]
fn a_source_miss_is_reported_and_the_client_goes_live_after_the_resync_event() {
    let log = ExternalLog::default();
    let recorder = Recorder::default();
    let hub = Hub::builder()
        .config(small_history())
        .hooks(recorder.clone())
        .replay_source(log.clone())
        .build();
    log.append(&hub, None, "a");
    let mut client = hub.connect(resume("9-9").client_id("c")).unwrap();
    log.append(&hub, None, "b");
    let events = drain(&mut client);
    let kinds: Vec<&str> = events.iter().map(|e| &*e.event_type).collect();
    assert_eq!(kinds, ["resync", "message"]);
    assert_eq!(events[1].data, "b");
    assert_eq!(hub.metrics().replay_misses, 1);
    assert_eq!(recorder.calls_starting("miss"), ["miss c 9-9"]);
}

#[test]
fn a_client_waiting_for_the_source_can_be_disconnected_or_shut_down() {
    let (_open, gate) = async_channel::bounded::<()>(1);
    let log = ExternalLog {
        gate: Some(gate),
        ..ExternalLog::default()
    };
    let hub = hub_replaying_from(&log);
    log.append(&hub, None, "a");
    let mut first = hub.connect(resume("0-1").client_id("first")).unwrap();
    let mut second = hub.connect(resume("0-1").client_id("second")).unwrap();
    assert_eq!(poll_items(&mut first), None);
    assert_eq!(poll_items(&mut second), None);
    hub.keep_alive_tick();
    hub.keep_alive_tick();
    assert_eq!(poll_items(&mut first), None, "no keep-alive while waiting");

    assert!(hub.disconnect("first"));
    assert!(has_ended(&mut first));
    hub.shutdown(None);
    assert!(has_ended(&mut second));
    assert_eq!(hub.metrics().active, 0);
}

#[test]
fn after_the_log_restarts_its_old_ids_are_replay_misses_not_resumes() {
    let hub = Hub::default();
    let old = ExternalLog::default();
    hub.mark_relayed("0-5").unwrap();
    old.append(&hub, None, "old a");
    old.append(&hub, None, "old b");
    let mut live = hub.connect(ConnectOptions::new()).unwrap();

    // The log is recreated: its ids start again, below those relayed.
    hub.restart_relay();
    let new = ExternalLog::default();
    new.append(&hub, None, "new a");
    assert_eq!(drain_data(&mut live), ["new a"], "live clients go on");

    // `2-0` and the mark name events of the old log: unknown now, so a miss.
    for last in ["2-0", "0-5"] {
        let mut back = hub.connect(resume(last)).unwrap();
        new.append(&hub, None, "after");
        let events = drain(&mut back);
        let kinds: Vec<&str> = events.iter().map(|e| &*e.event_type).collect();
        assert_eq!(kinds, ["resync", "message"], "{last}");
        assert_eq!(events[1].data, "after");
    }
    assert_eq!(hub.metrics().replay_misses, 2);

    // Ids relayed since the restart resume as usual.
    let mut resumed = hub.connect(resume("1-0")).unwrap();
    assert_eq!(drain_data(&mut resumed), ["after", "after"]);
}

#[test]
fn after_the_log_restarts_its_old_ids_are_asked_of_the_source() {
    let (_open, gate) = async_channel::bounded::<()>(1);
    let log = ExternalLog {
        gate: Some(gate),
        ..ExternalLog::default()
    };
    let hub = Hub::builder().replay_source(log.clone()).build();
    log.append(&hub, None, "a");
    let mut before = hub.connect(resume("1-0")).unwrap();
    assert_eq!(
        drain_data(&mut before),
        [] as [&str; 0],
        "resumed from the history"
    );
    hub.restart_relay();
    let mut client = hub.connect(resume("1-0")).unwrap();
    assert_eq!(poll_items(&mut client), None, "waits for the source");
    assert_eq!(log.requests.lock().unwrap().len(), 1);
}

/// A hub that relays names positions with the external log's ids (its own
/// sequences mean nothing to another process reading the same log): a client
/// that connects and drops before any event resumes by the newest relayed id (or
/// the relay mark), here or on any hub whose replay source reads that log.
#[test]
fn a_relaying_hub_tells_a_new_client_its_position_by_the_external_id() {
    let log = ExternalLog::default();
    let hub = hub_replaying_from(&log);
    hub.mark_relayed("0-0").unwrap();
    let mut early = hub.connect(ConnectOptions::new()).unwrap();
    assert_eq!(position(&mut early), "0-0", "the relay mark");
    log.append(&hub, None, "a");
    let mut client = hub.connect(ConnectOptions::new().topic("news")).unwrap();
    let at = position(&mut client);
    assert_eq!(at, "1-0", "the newest relayed id");
    drop(client);

    log.append(&hub, Some("news"), "missed");
    log.append(&hub, Some("other"), "not for it");
    let mut back = hub.connect(resume(&at).topic("news")).unwrap();
    assert_eq!(drain_data(&mut back), ["missed"]);

    // Another process's hub, its history short of `1-0`: its replay source
    // (the same log) fills the gap, then it tells where the replay looked up to.
    let other = hub_replaying_from(&log);
    other.mark_relayed("3-0").unwrap();
    let mut elsewhere = other.connect(resume(&at).topic("news")).unwrap();
    let mut got = Vec::new();
    let mut ids = Vec::new();
    while let Some(Some(items)) = poll_items(&mut elsewhere) {
        for item in items {
            if let sse_core::Decoded::Event(event) = item {
                got.push(event.data);
                ids.push(event.last_event_id);
            }
        }
    }
    assert_eq!(got, ["missed"]);
    log.append(&other, None, "live");
    let live = drain(&mut elsewhere);
    assert_eq!(live[0].data, "live");
    assert_eq!(ids, ["2-0"]);

    // After the external log restarted, nothing names a position until the new
    // log's first event: no checkpoint rather than a wrong one.
    hub.restart_relay();
    let mut after_reset = hub.connect(ConnectOptions::new()).unwrap();
    assert_eq!(poll_items(&mut after_reset), None);
}
