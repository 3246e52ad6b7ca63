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

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let redis = RedisServer::start().expect("redis-server starts");
    let backplane = Backplane::open(RedisOptions::new(redis.url()), Hub::builder())
        .await
        .unwrap();
    let streams = RedisResumable::open(ResumeOptions::new(redis.url())).unwrap();
    const N: usize = 20_000;
    for round in 0..3 {
        let t = Instant::now();
        for i in 0..N {
            backplane
                .broadcast(&Event::new(format!("token {i}")))
                .await
                .unwrap();
        }
        let base = t.elapsed();
        let p = streams.start(&format!("a{round}")).await.unwrap();
        let t = Instant::now();
        for i in 0..N {
            p.send(format!("token {i}")).await.unwrap();
        }
        let single = t.elapsed();
        p.finish().await.unwrap();
        let p = streams.start(&format!("b{round}")).await.unwrap();
        let t = Instant::now();
        for i in 0..N {
            if i % 16 == 15 {
                p.send(format!("token {i}")).await.unwrap();
            } else {
                p.try_send(format!("token {i}")).unwrap();
            }
        }
        p.flush().await.unwrap();
        let batched = t.elapsed();
        p.finish().await.unwrap();
        println!(
            "round {round}: broadcast {:.1} us/event; send {:.1} us/token ({:.2}x); try_send x16 {:.1} us/token ({:.2}x)",
            base.as_secs_f64() * 1e6 / N as f64,
            single.as_secs_f64() * 1e6 / N as f64,
            single.as_secs_f64() / base.as_secs_f64(),
            batched.as_secs_f64() * 1e6 / N as f64,
            batched.as_secs_f64() / base.as_secs_f64(),
        );
    }
    // Resume latency: attach after id k, first message; against attach to an unknown key.
    let p = streams.start("r").await.unwrap();
    for i in 0..2000 {
        p.try_send(format!("token {i}")).unwrap();
        if i % 64 == 63 {
            p.flush().await.unwrap();
        }
    }
    p.flush().await.unwrap();
    let mut all = streams.attach("r", None).await.unwrap().unwrap();
    let mut ids = Vec::new();
    let mut text = String::new();
    while ids.len() < 2000 {
        text.push_str(std::str::from_utf8(&all.next().await.unwrap()).unwrap());
        ids = text
            .lines()
            .filter_map(|l| l.strip_prefix("id: "))
            .map(String::from)
            .collect();
    }
    drop(all);
    let mut resume = Vec::new();
    let mut miss = Vec::new();
    for k in 0..1000 {
        let id = &ids[(k * 7) % 1999];
        let t = Instant::now();
        let mut r = streams.attach("r", Some(id)).await.unwrap().unwrap();
        let first = r.next().await.unwrap();
        resume.push(t.elapsed());
        assert!(!first.is_empty());
        drop(r);
        let t = Instant::now();
        assert!(streams.attach("unknown", None).await.unwrap().is_none());
        miss.push(t.elapsed());
    }
    resume.sort();
    miss.sort();
    let q = |v: &[Duration], f: f64| v[((v.len() as f64 - 1.0) * f) as usize].as_secs_f64() * 1e3;
    println!(
        "resume to first missed token: p50 {:.3} ms p99 {:.3} ms; 204 answer (one XRANGE): p50 {:.3} ms p99 {:.3} ms; ratio p99 {:.2}x",
        q(&resume, 0.5),
        q(&resume, 0.99),
        q(&miss, 0.5),
        q(&miss, 0.99),
        q(&resume, 0.99) / q(&miss, 0.99)
    );
    p.finish().await.unwrap();
}
