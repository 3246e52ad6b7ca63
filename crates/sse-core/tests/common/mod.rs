//! Helpers shared by the hub's integration tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

use futures_lite::{StreamExt, future};
use sse_core::{ClientStream, Decoded, Decoder, MessageEvent};

/// What a client stream has ready now, decoded: `None` if it is pending, `Some(None)`
/// if it ended.
pub fn poll_items(stream: &mut ClientStream) -> Option<Option<Vec<Decoded>>> {
    let batch = future::block_on(future::poll_once(stream.next()))?;
    Some(batch.map(|batch| {
        let mut decoder = Decoder::new();
        for frame in batch.frames() {
            decoder.push(frame).expect("valid frames");
        }
        decoder.collect()
    }))
}

/// The position a new stream opens with: the id of its opening checkpoint (an
/// id-only frame, after any opening events, which are returned too).
pub fn opening(stream: &mut ClientStream) -> (String, Vec<Decoded>) {
    let batch = future::block_on(future::poll_once(stream.next()))
        .expect("the opening frames are ready")
        .expect("the stream is open");
    let mut decoder = Decoder::new();
    for frame in batch.frames() {
        decoder.push(frame).expect("valid frames");
    }
    let items = decoder.by_ref().collect();
    (decoder.last_event_id().to_owned(), items)
}

/// The position a new stream opens with, when it opens with nothing else.
pub fn position(stream: &mut ClientStream) -> String {
    let (position, items) = opening(stream);
    assert_eq!(items, [], "only the checkpoint");
    position
}

/// Every event a stream has ready now (across batches), until it would wait or ends.
pub fn drain(stream: &mut ClientStream) -> Vec<MessageEvent> {
    let mut events = Vec::new();
    while let Some(Some(items)) = poll_items(stream) {
        events.extend(items.into_iter().filter_map(|item| match item {
            Decoded::Event(event) => Some(event),
            _ => None,
        }));
    }
    events
}

/// The data of every event a stream has ready now.
pub fn drain_data(stream: &mut ClientStream) -> Vec<String> {
    drain(stream).into_iter().map(|e| e.data).collect()
}

/// Whether the stream has ended (it yields `None` now).
pub fn has_ended(stream: &mut ClientStream) -> bool {
    loop {
        match poll_items(stream) {
            Some(None) => return true,
            Some(Some(_)) => continue,
            None => return false,
        }
    }
}

use std::sync::{Arc, Mutex};

use sse_core::{ClientInfo, ConnectRequest, DisconnectReason, Hooks, Rejection, SendResult};

/// Hooks that write down every call, in order.
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    pub calls: Arc<Mutex<Vec<String>>>,
    /// Client ids the admission hook refuses.
    pub refuse: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    pub fn calls_starting(&self, prefix: &str) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| c.starts_with(prefix))
            .collect()
    }

    fn record(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }
}

impl Hooks for Recorder {
    fn admit(&self, request: &ConnectRequest<'_>) -> Result<(), Rejection> {
        let id = request.client_id.unwrap_or_default();
        if self.refuse.lock().unwrap().iter().any(|r| r == id) {
            return Err(Rejection::unauthorized(format!("{id} may not connect")));
        }
        Ok(())
    }

    fn on_connect(&self, client: &ClientInfo, active: usize) {
        self.record(format!("connect {} {active}", client.id()));
    }

    fn on_disconnect(&self, client: &ClientInfo, reason: DisconnectReason, active: usize) {
        self.record(format!("disconnect {} {reason:?} {active}", client.id()));
    }

    fn before_first_send(&self, client: &ClientInfo) {
        self.record(format!("first {}", client.id()));
    }

    fn on_send(&self, client: &ClientInfo, result: SendResult) {
        self.record(format!("send {} {result:?}", client.id()));
    }

    fn on_replay_miss(&self, client: &ClientInfo, last_event_id: &str) {
        self.record(format!("miss {} {last_event_id}", client.id()));
    }
}
