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
//! chunk. Throughput is in tokens.
//!
//! A second group measures the channel a producer feeds (`sse_core::channel` against
//! `tokio::sync::mpsc`, into the same response).
//!
//! `respond/resumable` compares a resumable stream (`Resumable::start`, one viewer
//! attached and draining) with a plain per-request stream (`channel`, the
//! baseline) over the same 10 000 tokens (a long reply), sent in bursts of 1 (a
//! token per wake, as a paced model sends them) or 32 (tokens ready faster than
//! the response is polled), the response polled until it waits after each burst.
//! Run with `cargo bench --bench respond`.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use axum::body::Body;
use axum::response::IntoResponse;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_lite::{StreamExt, future, stream};
use http_body_util::BodyExt;
use sse_core::{Event, ResponseStream, Resumable, ResumeConfig, channel};

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

/// Tokens in one reply, for the resumable group.
const REPLY: u64 = 10_000;

/// Polls `response` until it waits; returns the bytes it yielded.
fn poll_ready(response: &mut ResponseStream) -> usize {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut bytes = 0;
    while let std::task::Poll::Ready(Some(chunk)) =
        futures_lite::Stream::poll_next(std::pin::Pin::new(&mut *response), &mut cx)
    {
        bytes += chunk.len();
        black_box(chunk);
    }
    bytes
}

fn resumable(c: &mut Criterion) {
    let mut group = c.benchmark_group("respond/resumable");
    group
        .throughput(Throughput::Elements(REPLY))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(20);
    for burst in [1, 32] {
        group.bench_function(format!("channel, bursts of {burst} (baseline)"), |b| {
            b.iter(|| {
                let (sender, receiver) = channel(burst);
                let mut response = ResponseStream::from(receiver).keep_alive(None);
                let mut bytes = 0;
                for _ in 0..REPLY / burst as u64 {
                    for _ in 0..burst {
                        sender.try_send(Event::new(TOKEN)).expect("room");
                    }
                    bytes += poll_ready(&mut response);
                }
                drop(sender);
                bytes + poll_ready(&mut response)
            });
        });
        group.bench_function(format!("resumable, bursts of {burst}"), |b| {
            b.iter(|| {
                let streams = Resumable::new(ResumeConfig::default().keep_alive(None));
                let producer = streams.start("reply").expect("started");
                let mut response = streams.attach("reply", None).expect("live");
                let mut bytes = 0;
                for _ in 0..REPLY / burst as u64 {
                    for _ in 0..burst {
                        producer.try_send(Event::new(TOKEN)).expect("live");
                    }
                    bytes += poll_ready(&mut response);
                }
                producer.finish();
                bytes + poll_ready(&mut response)
            });
        });
    }
    group.finish();
}

/// Tokens a producer sends through a channel in [`channel`].
const CHANNEL_TOKENS: usize = 100_000;

/// Drives a producer and the response it feeds on one thread, as a runtime's
/// worker would: the producer sends `String` tokens (as a detokenizer hands them
/// out) into a channel of 32; the response's chunks are held until it is `Pending`
/// (as hyper's write queue holds them until it flushes), then dropped. Returns
/// the bytes of the response.
fn produce_and_respond<F>(producer: F, mut response: sse_core::ResponseStream) -> usize
where
    F: std::future::Future<Output = ()>,
{
    let respond = async move {
        let mut bytes = 0;
        let mut held = Vec::new();
        future::poll_fn(|cx| {
            loop {
                match std::pin::Pin::new(&mut response).poll_next(cx) {
                    std::task::Poll::Ready(Some(chunk)) => {
                        bytes += chunk.len();
                        held.push(chunk);
                    }
                    std::task::Poll::Ready(None) => return std::task::Poll::Ready(()),
                    std::task::Poll::Pending => {
                        held.clear();
                        return std::task::Poll::Pending;
                    }
                }
            }
        })
        .await;
        bytes
    };
    future::block_on(future::zip(producer, respond)).1
}

/// The per-request path a user writes: a producer feeding `sse_core::channel(32)`,
/// the receiver as the response, against the same response fed by a
/// `tokio::sync::mpsc::channel(32)` (the channel actix-web-lab's
/// `Sse::from_receiver` and most axum handlers use): the difference is the channel.
fn channels(c: &mut Criterion) {
    let mut group = c.benchmark_group("respond/100k String tokens through a channel of 32");
    group
        .throughput(Throughput::Elements(CHANNEL_TOKENS as u64))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(10);
    let expected = CHANNEL_TOKENS * format!("data: {TOKEN}\n\n").len();

    group.bench_function("sse_core::channel", |b| {
        b.iter(|| {
            let (sender, receiver) = sse_core::channel(32);
            let producer = async move {
                for _ in 0..CHANNEL_TOKENS {
                    sender
                        .send(String::from(TOKEN))
                        .await
                        .expect("the response is there");
                }
            };
            let response = sse_core::ResponseStream::from(receiver);
            assert_eq!(produce_and_respond(producer, response), expected);
        });
    });

    group.bench_function("tokio::sync::mpsc (baseline)", |b| {
        b.iter(|| {
            let (sender, mut receiver) = tokio::sync::mpsc::channel::<String>(32);
            let producer = async move {
                for _ in 0..CHANNEL_TOKENS {
                    sender
                        .send(String::from(TOKEN))
                        .await
                        .expect("the response is there");
                }
            };
            let tokens = stream::poll_fn(move |cx| receiver.poll_recv(cx));
            let response = sse_core::ResponseStream::new(tokens);
            assert_eq!(produce_and_respond(producer, response), expected);
        });
    });
    group.finish();
}

criterion_group!(benches, respond, channels, resumable);
criterion_main!(benches);
