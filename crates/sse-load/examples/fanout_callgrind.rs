//! The hub's fan-out in process, for instruction counts: 1 000 clients (or the first
//! argument) connected to a `Hub` with its default settings, 1 000 events of 64 B (or
//! the second argument) broadcast in rounds of 64 (as `benches/fanout.rs` does, below
//! the default `max_lag`, so nobody lags), every client's stream drained after each
//! round, all on one thread (streams polled with a no-op waker, as a runtime polls a
//! woken task), each batch dropped at once.
//!
//! Only `fan_out` (the broadcasts and the draining, not connecting the clients) is
//! measured:
//!
//! ```sh
//! cargo build --release -p sse-load --example fanout_callgrind
//! valgrind --tool=callgrind --toggle-collect='*fan_out*' \
//!     target/release/examples/fanout_callgrind 1000 1000
//! ```
//!
//! Prints the deliveries (events × clients) and the time per delivery (meaningless
//! under valgrind: read its instruction count, `Collected`, over the deliveries).
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use futures_lite::Stream;
use sse_core::{ClientStream, ConnectOptions, Event, Hub, HubConfig};

/// Events broadcast between two drains: below the default `max_lag` (256).
const ROUND: usize = 64;

/// Data that encodes (as `data: <data>\n\n`) into 64 bytes.
fn data() -> String {
    let overhead = Event::new("").encoded_len();
    "0123456789abcdef"
        .chars()
        .cycle()
        .take(64 - overhead)
        .collect()
}

/// Polls `stream` until it would wait; returns how many frames it yielded.
fn drain(stream: &mut ClientStream, cx: &mut Context<'_>) -> usize {
    let mut delivered = 0;
    loop {
        match Pin::new(&mut *stream).poll_next(cx) {
            Poll::Ready(Some(batch)) => delivered += batch.len(),
            Poll::Ready(None) => panic!("a client stream ended"),
            Poll::Pending => return delivered,
        }
    }
}

/// Broadcasts `events` events of `data` in rounds of [`ROUND`], draining every
/// stream after each round. Returns the frames delivered.
#[inline(never)]
fn fan_out(hub: &Hub, streams: &mut [ClientStream], events: usize, data: &str) -> usize {
    let mut cx = Context::from_waker(Waker::noop());
    let mut delivered = 0;
    let mut left = events;
    while left > 0 {
        let round = left.min(ROUND);
        for _ in 0..round {
            hub.broadcast(&Event::new(black_box(data)));
        }
        left -= round;
        for stream in streams.iter_mut() {
            delivered += drain(stream, &mut cx);
        }
    }
    delivered
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut number = |default: usize| args.next().map_or(default, |n| n.parse().unwrap());
    let clients = number(1_000);
    let events = number(1_000);
    let data = data();

    let hub = Hub::new(HubConfig::default());
    let mut streams: Vec<ClientStream> = (0..clients)
        .map(|_| hub.connect(ConnectOptions::new()).expect("connects"))
        .collect();
    // Every client has taken its opening checkpoint and waits, as between events.
    let mut cx = Context::from_waker(Waker::noop());
    for stream in &mut streams {
        drain(stream, &mut cx);
    }

    let start = Instant::now();
    let delivered = fan_out(&hub, &mut streams, events, &data);
    let elapsed = start.elapsed();
    assert_eq!(delivered, events * clients, "every client gets every event");
    println!(
        "{clients} clients, {events} events, {delivered} deliveries, {:.1} ns/delivery",
        elapsed.as_nanos() as f64 / delivered as f64
    );
}
