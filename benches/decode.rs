//! Decoding throughput: `sse-core`'s `Decoder` against the `eventsource-stream` crate.
//!
//! Three inputs of about 1 MiB each, made of 64 B, 1 KiB or 64 KiB events (encoded,
//! each with an event type and an increasing id; the larger ones carry text in lines
//! of about 80 characters), fed in 16 KiB chunks as a network read would deliver
//! them. In each group, side by side:
//!
//! - `sse-core`: `Decoder::push` each chunk, then drain the decoded items;
//! - `eventsource-stream`: its `Eventsource` adapter over a stream of the same chunks
//!   (`Result<Bytes, Infallible>`), polled to the end with `futures_lite::future::block_on`.
//!
//! Both count the same events (checked once before timing). Throughput is the input
//! size. Run with `cargo bench --bench decode`.

mod common;

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use eventsource_stream::Eventsource;
use futures_lite::{StreamExt, future};
use sse_core::{DecodeLimits, Decoded, Decoder, Event};

const STREAM_LEN: usize = 1 << 20;
const CHUNK_LEN: usize = 16 * 1024;

/// About [`STREAM_LEN`] bytes of events of about `size` bytes each, and how many
/// events that is.
fn stream(size: usize) -> (Vec<u8>, usize) {
    let lines = size > 100;
    // The fixed part of an event: type, a 7-digit id, one `data:` line, blank line.
    let overhead = "event: update\nid: 1000000\ndata: \n\n".len();
    let per_line = if lines { 80 + 6 } else { usize::MAX };
    let target = size - overhead;
    let data = common::text(target - target / per_line * 6, lines);
    let mut out = Vec::with_capacity(STREAM_LEN + size);
    let mut count = 0;
    while out.len() < STREAM_LEN {
        let id = (1_000_000 + count).to_string();
        Event::new(data.as_str())
            .with_event("update")
            .and_then(|e| e.with_id(id))
            .expect("valid type and id")
            .encode(&mut out);
        count += 1;
    }
    (out, count)
}

fn sse_core(chunks: &[Bytes]) -> usize {
    let limits = DecodeLimits::default()
        .max_line_len(256 * 1024)
        .max_event_len(256 * 1024);
    let mut decoder = Decoder::with_limits(limits);
    let mut events = 0;
    for chunk in chunks {
        decoder.push(chunk).expect("a valid stream");
        for item in &mut decoder {
            if let Decoded::Event(event) = item {
                black_box(&event);
                events += 1;
            }
        }
    }
    events
}

fn eventsource_stream(chunks: &[Bytes]) -> usize {
    let chunks = futures_util::stream::iter(chunks.iter().cloned().map(Ok::<_, Infallible>));
    let mut events = chunks.eventsource();
    future::block_on(async {
        let mut count = 0;
        while let Some(event) = events.next().await {
            black_box(&event.expect("a valid stream"));
            count += 1;
        }
        count
    })
}

fn decode(c: &mut Criterion) {
    for (name, size) in [("64B", 64), ("1KiB", 1024), ("64KiB", 64 * 1024)] {
        let (input, count) = stream(size);
        let chunks: Vec<Bytes> = input
            .chunks(CHUNK_LEN)
            .map(Bytes::copy_from_slice)
            .collect();
        assert_eq!(sse_core(&chunks), count, "sse-core, {name}");
        assert_eq!(
            eventsource_stream(&chunks),
            count,
            "eventsource-stream, {name}"
        );

        let mut group = c.benchmark_group(format!("decode/{name}"));
        group
            .throughput(Throughput::Bytes(input.len() as u64))
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3))
            .sample_size(20);
        group.bench_function("sse-core", |b| b.iter(|| sse_core(black_box(&chunks))));
        group.bench_function("eventsource-stream", |b| {
            b.iter(|| eventsource_stream(black_box(&chunks)));
        });
        group.finish();
    }
}

criterion_group!(benches, decode);
criterion_main!(benches);
