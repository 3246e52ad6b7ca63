//! Encoding throughput: `sse-core` against a `memcpy` of the same bytes.
//!
//! One group per event size (64 B, 1 KiB, 64 KiB encoded, with an event type and an
//! id; the larger ones carry text in lines of about 80 characters). In each group:
//!
//! - `memcpy`: copy the already encoded bytes into a reused buffer (the floor);
//! - `sse-core encode`: encode into a reused `BytesMut` (clear, then encode);
//! - `to_frame`: encode into a fresh, exactly sized frame (one allocation).
//!
//! Throughput is the encoded size, so the report reads in bytes per second and the
//! ratio to `memcpy` is the cost of encoding. Run with `cargo bench --bench encode`.

mod common;

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sse_core::Event;

/// An event carrying `data`, with a type and an id, as a real server sends them.
fn event(data: &str) -> Event<'_> {
    Event::new(data)
        .with_event("update")
        .and_then(|e| e.with_id("1234567"))
        .expect("valid type and id")
}

/// Data that makes the encoded event about `size` bytes long.
fn data_for(size: usize) -> String {
    let lines = size > 100;
    let overhead = event("").encoded_len();
    // Each line break adds a `data: ` prefix (6 bytes) to the frame.
    let per_line = if lines { 80 + 6 } else { usize::MAX };
    let target = size - overhead;
    common::text(target - target / per_line * 6, lines)
}

fn encode(c: &mut Criterion) {
    for (name, size) in [("64B", 64), ("1KiB", 1024), ("64KiB", 64 * 1024)] {
        let data = data_for(size);
        let event = event(&data);
        let len = event.encoded_len();
        let encoded = event.to_frame();

        let mut group = c.benchmark_group(format!("encode/{name}"));
        group
            .throughput(Throughput::Bytes(len as u64))
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .sample_size(50);

        let mut copy = Vec::with_capacity(len);
        group.bench_function("memcpy", |b| {
            b.iter(|| {
                copy.clear();
                copy.extend_from_slice(black_box(encoded.as_bytes()));
                black_box(&copy);
            });
        });

        let mut buf = BytesMut::with_capacity(len);
        group.bench_function("sse-core encode", |b| {
            b.iter(|| {
                buf.clear();
                black_box(&event).encode(&mut buf);
                black_box(&buf);
            });
        });

        group.bench_function("to_frame", |b| {
            b.iter(|| black_box(black_box(&event).to_frame()));
        });
        group.finish();
    }
}

criterion_group!(benches, encode);
criterion_main!(benches);
