//! Per-request streams in process: a stream of 1 000 000 tokens (20-byte events, as
//! an LLM's) turned into the bytes of a response body, polled to the end as hyper
//! would poll it, with nothing to wait for (every token is ready: the flood case).
//!
//! - `sse-axum Sse::from_stream`: our response, as an axum handler returns it;
//! - `axum Sse::new` (the baseline): axum's own SSE response over the same tokens.
//!
//! Both go through `axum::body::Body`, so the difference is the SSE layer alone:
//! axum encodes each event into its own buffer and yields one frame per event;
//! ours encodes every ready token into one reused buffer and yields them as one
//! chunk. Throughput is in tokens. Run with `cargo bench --bench respond`.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use axum::body::Body;
use axum::response::IntoResponse;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_lite::{StreamExt, future, stream};
use http_body_util::BodyExt;
use sse_core::Event;

/// A token: 20 bytes of data.
const TOKEN: &str = "a token of 20 bytes.";
const TOKENS: u64 = 1_000_000;

/// Polls `body` to its end, as a server would; returns the bytes it held.
fn drain(mut body: Body) -> usize {
    future::block_on(async {
        let mut bytes = 0;
        while let Some(frame) = body.frame().await {
            let frame = frame.expect("no body error");
            bytes += frame.data_ref().map_or(0, |data| data.len());
            black_box(frame);
        }
        bytes
    })
}

fn respond(c: &mut Criterion) {
    let mut group = c.benchmark_group("respond/1M tokens");
    group
        .throughput(Throughput::Elements(TOKENS))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10))
        .sample_size(10);
    let tokens = || stream::iter(0..TOKENS);
    let expected = TOKENS as usize * format!("data: {TOKEN}\n\n").len();

    group.bench_function("sse-axum Sse::from_stream", |b| {
        b.iter(|| {
            let events = tokens().map(|_| Event::new(TOKEN));
            let response = sse_axum::Sse::from_stream(events).into_response();
            let (parts, body) = response.into_parts();
            assert_eq!(parts.headers["content-type"], "text/event-stream");
            assert_eq!(drain(body), expected);
        });
    });

    group.bench_function("axum Sse::new (baseline)", |b| {
        b.iter(|| {
            let events = tokens()
                .map(|_| Ok::<_, Infallible>(axum::response::sse::Event::default().data(TOKEN)));
            let body = axum::response::Sse::new(events).into_response().into_body();
            assert_eq!(drain(body), expected);
        });
    });
    group.finish();
}

criterion_group!(benches, respond);
criterion_main!(benches);
