//! Fan-out in process: the hub against `tokio::sync::broadcast` and the clone floor.
//!
//! One group per number of clients N (1, 100, 1 000, 10 000) and event size (64 B and
//! 1 KiB encoded), named `fanout/<size>/clients=<N>`. One iteration publishes
//! [`K`] events, then drains every client completely, all on one thread (clients are
//! polled with a no-op waker, the way a runtime polls a woken task). Throughput is
//! the number of deliveries, `K * N`, so the report reads in deliveries per second.
//!
//! Every event is a fresh frame, as a real server encodes each event anew: every
//! approach encodes `Event::new(data)` once per event into a new allocation (the
//! baselines with [`Event::to_frame`], the hub inside [`Hub::broadcast`], which also
//! writes an `id: <sequence>` line, about 10 more bytes). Reusing one `Bytes` for all
//! events would make every receiver fight over one reference count and flatter the
//! baselines.
//!
//! In each group:
//!
//! - `floor`: per event, encode the frame, clone it N times (into a reused `Vec`,
//!   as if each client held it) and drop the clones: what any fan-out must at least do;
//! - `tokio_broadcast`: a `tokio::sync::broadcast::channel(1024)` with N receivers;
//!   send `K` frames, then each receiver drains with `try_recv` (synchronous, no
//!   waker ever registered: the best case, which no async server gets);
//! - `tokio_broadcast_stream`: the same channel read the way an async server reads
//!   it (as axum users do): each receiver wrapped in `tokio_stream`'s
//!   `BroadcastStream` and polled until `Pending`, so it waits, and is woken, like
//!   the hub's streams;
//! - `hub`: a [`Hub`] with N connected [`ClientStream`]s; `broadcast` `K` times, then
//!   poll each stream until `Pending`, counting the frames of each batch and dropping it.
//!
//! Read the ratios within a group: `hub / tokio_broadcast` should be at least 1 (the
//! design's target) and `floor / hub` at most 3. `K` = 64 stays far below the hub's
//! default `max_lag` (256) and tokio's capacity (1024), so nobody lags; each approach
//! is checked once per setup, outside the timed loop, to deliver exactly `K * N` frames.
//!
//! Run with `cargo bench --bench fanout`; pass a criterion filter (a regex) to run a
//! subset, e.g. `cargo bench --bench fanout -- 'clients=1000/'` or `-- '64B/.*hub'`.

use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use futures_lite::Stream;
use sse_core::{ClientStream, ConnectOptions, Event, Hub, HubConfig};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

/// Events published per iteration.
const K: usize = 64;

/// Client counts.
const CLIENTS: [usize; 4] = [1, 100, 1_000, 10_000];

/// Event sizes (the encoded frame, without the hub's `id:` line).
const SIZES: [(&str, usize); 2] = [("64B", 64), ("1KiB", 1024)];

/// Data that encodes (as `data: <data>\n\n`) into exactly `size` bytes.
fn data_for(size: usize) -> String {
    let overhead = Event::new("").encoded_len();
    "0123456789abcdef"
        .chars()
        .cycle()
        .take(size - overhead)
        .collect()
}

/// A fresh frame for one event: encoded anew into a new allocation.
fn fresh_frame(data: &str) -> Bytes {
    Event::new(data).to_frame().into_bytes()
}

fn floor(group: &mut BenchmarkGroup<'_, WallTime>, data: &str, n: usize) {
    group.bench_function("floor", |b| {
        let mut clones: Vec<Bytes> = Vec::with_capacity(n);
        let mut run = || {
            let mut delivered = 0;
            for _ in 0..K {
                let frame = fresh_frame(black_box(data));
                clones.extend(std::iter::repeat_n(&frame, n).cloned());
                delivered += clones.len();
                clones.clear();
            }
            delivered
        };
        assert_eq!(run(), K * n, "floor: every client gets every frame");
        b.iter(run);
    });
}

/// Sends [`K`] fresh frames on a tokio broadcast channel.
fn send_fresh_frames(sender: &broadcast::Sender<Bytes>, data: &str) {
    for _ in 0..K {
        sender
            .send(fresh_frame(black_box(data)))
            .expect("receivers exist");
    }
}

fn tokio_broadcast(group: &mut BenchmarkGroup<'_, WallTime>, data: &str, n: usize) {
    group.bench_function("tokio_broadcast", |b| {
        let (sender, _) = broadcast::channel::<Bytes>(1024);
        let mut receivers: Vec<_> = (0..n).map(|_| sender.subscribe()).collect();
        let mut run = || {
            send_fresh_frames(&sender, data);
            let mut delivered = 0;
            for receiver in &mut receivers {
                while let Ok(frame) = receiver.try_recv() {
                    delivered += 1;
                    drop(frame);
                }
            }
            delivered
        };
        assert_eq!(run(), K * n, "tokio: every receiver gets every frame");
        b.iter(run);
    });
}

fn tokio_broadcast_stream(group: &mut BenchmarkGroup<'_, WallTime>, data: &str, n: usize) {
    group.bench_function("tokio_broadcast_stream", |b| {
        let (sender, _) = broadcast::channel::<Bytes>(1024);
        let mut streams: Vec<_> = (0..n)
            .map(|_| BroadcastStream::new(sender.subscribe()))
            .collect();
        let mut cx = Context::from_waker(Waker::noop());
        let mut run = || {
            send_fresh_frames(&sender, data);
            let mut delivered = 0;
            for stream in &mut streams {
                while let Poll::Ready(Some(frame)) = Pin::new(&mut *stream).poll_next(&mut cx) {
                    delivered += 1;
                    drop(frame.expect("nobody lags"));
                }
            }
            delivered
        };
        assert_eq!(run(), K * n, "tokio: every stream gets every frame");
        b.iter(run);
    });
}

/// Polls `stream` until it would wait; returns how many frames it yielded.
fn drain(stream: &mut ClientStream, cx: &mut Context<'_>) -> usize {
    let mut delivered = 0;
    loop {
        match Pin::new(&mut *stream).poll_next(cx) {
            Poll::Ready(Some(batch)) => delivered += batch.len(),
            Poll::Ready(None) => panic!("a client stream ended during the bench"),
            Poll::Pending => return delivered,
        }
    }
}

fn hub(group: &mut BenchmarkGroup<'_, WallTime>, data: &str, n: usize) {
    group.bench_function("hub", |b| {
        let hub = Hub::new(HubConfig::default());
        let mut streams: Vec<ClientStream> = (0..n)
            .map(|_| hub.connect(ConnectOptions::new()).expect("connects"))
            .collect();
        let mut cx = Context::from_waker(Waker::noop());
        // Every client waits, as it would between events.
        for stream in &mut streams {
            drain(stream, &mut cx);
        }
        let mut run = || {
            for _ in 0..K {
                hub.broadcast(&Event::new(black_box(data)));
            }
            streams
                .iter_mut()
                .map(|stream| drain(stream, &mut cx))
                .sum::<usize>()
        };
        assert_eq!(run(), K * n, "hub: every client gets every frame");
        b.iter(run);
    });
}

fn fanout(c: &mut Criterion) {
    for (name, size) in SIZES {
        let data = data_for(size);
        for n in CLIENTS {
            let mut group = c.benchmark_group(format!("fanout/{name}/clients={n}"));
            group
                .throughput(Throughput::Elements((K * n) as u64))
                .warm_up_time(Duration::from_secs(1))
                .measurement_time(Duration::from_secs(3))
                .sample_size(20);
            floor(&mut group, &data, n);
            tokio_broadcast(&mut group, &data, n);
            tokio_broadcast_stream(&mut group, &data, n);
            hub(&mut group, &data, n);
            group.finish();
        }
    }
}

criterion_group!(benches, fanout);
criterion_main!(benches);
