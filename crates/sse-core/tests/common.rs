//! Helpers shared by the hub's integration tests.
#![allow(dead_code, unreachable_pub)]

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
