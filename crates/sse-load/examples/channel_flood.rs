//! The per-request path in process, for instruction counts: `String` tokens of 20 B
//! (1 000 000, or the first argument) from a producer through `sse_core::channel(32)`
//! into a `ResponseStream`, both on one thread, the chunks held until the response is
//! `Pending` (as hyper's write queue holds them until it flushes), then dropped.
//!
//! ```sh
//! cargo build --release -p sse-load --example channel_flood
//! valgrind --tool=callgrind target/release/examples/channel_flood 100000
//! ```
//!
//! Prints the tokens, the chunks and the time per token (meaningless under
//! valgrind: read its instruction count, over the tokens).
use std::pin::Pin;
use std::task::Poll;
use std::time::Instant;

use futures_lite::{Stream, future};
use sse_core::{ResponseStream, channel};

const TOKEN: &str = "a token of 20 bytes.";

fn main() {
    let tokens: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |n| n.parse().unwrap());
    let (sender, receiver) = channel(32);
    let mut response = ResponseStream::from(receiver);
    let start = Instant::now();
    let producer = async move {
        for _ in 0..tokens {
            if sender.send(String::from(TOKEN)).await.is_err() {
                return;
            }
        }
    };
    let consumer = async move {
        let mut bytes = 0;
        let mut held = Vec::new();
        let mut chunks = 0;
        future::poll_fn(|cx| {
            loop {
                match Pin::new(&mut response).poll_next(cx) {
                    Poll::Ready(Some(chunk)) => {
                        bytes += chunk.len();
                        chunks += 1;
                        held.push(chunk);
                    }
                    Poll::Ready(None) => return Poll::Ready(()),
                    Poll::Pending => {
                        held.clear();
                        return Poll::Pending;
                    }
                }
            }
        })
        .await;
        (bytes, chunks)
    };
    let ((), (bytes, chunks)) = future::block_on(future::zip(producer, consumer));
    let elapsed = start.elapsed();
    assert_eq!(bytes, tokens * (TOKEN.len() + 8));
    println!(
        "{tokens} tokens, {chunks} chunks, {:.1} ns/token",
        elapsed.as_nanos() as f64 / tokens as f64
    );
}
