//! Figures for resumable streams on Redis, each against a baseline from the same
//! run on the same `redis-server` (started on a free loopback port): a producer's
//! `send` per token and `try_send` in bursts of 16, against the backplane's
//! `broadcast` per event (one `XADD` round trip); and a viewer's resume (attach
//! after an id, first missed token) against a 204 answer (one `XRANGE`).
//!
//! ```text
//! cargo run --release -p sse-redis --example resume_figures
//! ```

use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use sse_core::{Event, Hub};
use sse_redis::{Backplane, RedisOptions, RedisResumable, ResumeOptions};
use sse_testkit::redis::RedisServer;

/// Events per round of the write figures.
const EVENTS: usize = 20_000;
/// Resumes measured.
const RESUMES: usize = 1_000;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let redis = RedisServer::start()?;
    let backplane = Backplane::open(RedisOptions::new(redis.url()), Hub::builder()).await?;
    let streams = RedisResumable::open(ResumeOptions::new(redis.url()))?;
    let per_event = |elapsed: Duration| elapsed.as_secs_f64() * 1e6 / EVENTS as f64;
    for round in 0..3 {
        let started = Instant::now();
        for i in 0..EVENTS {
            backplane
                .broadcast(&Event::new(format!("token {i}")))
                .await?;
        }
        let broadcast = per_event(started.elapsed());

        let producer = streams.start(&format!("send-{round}")).await?;
        let started = Instant::now();
        for i in 0..EVENTS {
            producer.send(format!("token {i}")).await?;
        }
        let send = per_event(started.elapsed());
        producer.finish().await?;

        let producer = streams.start(&format!("burst-{round}")).await?;
        let started = Instant::now();
        for i in 0..EVENTS {
            if i % 16 == 15 {
                producer.send(format!("token {i}")).await?;
            } else {
                producer.try_send(format!("token {i}"))?;
            }
        }
        producer.flush().await?;
        let burst = per_event(started.elapsed());
        producer.finish().await?;
        println!(
            "round {round}: broadcast {broadcast:.1} us/event; send {send:.1} us/token ({:.2}x); \
             try_send in bursts of 16 {burst:.1} us/token ({:.2}x)",
            send / broadcast,
            burst / broadcast,
        );
    }

    // A stream to resume in, and the ids of its events.
    let producer = streams.start("resume").await?;
    for i in 0..2_000 {
        producer.try_send(format!("token {i}"))?;
        if i % 64 == 63 {
            producer.flush().await?;
        }
    }
    producer.flush().await?;
    let mut whole = streams.attach("resume", None).await?.ok_or("the stream")?;
    let mut text = String::new();
    while text.matches("id: ").count() < 2_000 {
        text.push_str(std::str::from_utf8(&whole.next().await.ok_or("more")?)?);
    }
    drop(whole);
    let ids: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .collect();

    let mut resume = Vec::with_capacity(RESUMES);
    let mut miss = Vec::with_capacity(RESUMES);
    for k in 0..RESUMES {
        let id = ids[(k * 7) % (ids.len() - 1)];
        let started = Instant::now();
        let mut viewer = streams
            .attach("resume", Some(id))
            .await?
            .ok_or("the stream")?;
        viewer.next().await.ok_or("the first missed token")?;
        resume.push(started.elapsed());
        drop(viewer);
        let started = Instant::now();
        let none = streams.attach("unknown", None).await?;
        miss.push(started.elapsed());
        assert!(none.is_none());
    }
    resume.sort();
    miss.sort();
    let ms = |sorted: &[Duration], q: f64| {
        sorted[((sorted.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3
    };
    println!(
        "resume to the first missed token: p50 {:.3} ms, p99 {:.3} ms; \
         a 204 answer (one XRANGE): p50 {:.3} ms, p99 {:.3} ms; p99 ratio {:.2}x",
        ms(&resume, 0.5),
        ms(&resume, 0.99),
        ms(&miss, 0.5),
        ms(&miss, 0.99),
        ms(&resume, 0.99) / ms(&miss, 0.99),
    );
    producer.finish().await?;
    Ok(())
}
