//! Client throughput over loopback: one server thread streams N events as fast as
//! the socket takes them; each client (on a current-thread tokio runtime of its own
//! thread, so all its work is on that thread) reads them. Reported per client and
//! event size: events/s, client CPU per event (the thread's CPU time from
//! `/proc/thread-self/schedstat`), and heap allocations per event (counted on the
//! client thread), medians of several runs, with ratios to `reqwest-eventsource`.
//!
//! ```sh
//! cargo run --release -p sse-client --example bench            # 1 000 000 events, 5 runs
//! cargo run --release -p sse-client --example bench -- 200000 3  # events, runs
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use futures_lite::StreamExt;

/// One measured run.
#[derive(Clone, Copy, Debug)]
struct Run {
    wall: Duration,
    cpu: Duration,
    allocations: u64,
}

/// A server on a thread of its own: every connection gets `events` events of
/// `size` data bytes (with an id), then is closed.
fn server(events: usize, size: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // 1000 events, written again and again.
    let data = "x".repeat(size);
    let mut block = Vec::new();
    for i in 0..1000 {
        block.extend_from_slice(format!("id: {i}\ndata: {data}\n\n").as_bytes());
    }
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let block = block.clone();
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8];
                while !head.ends_with(b"\r\n\r\n") {
                    if stream.read(&mut byte).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let _ = stream.set_nodelay(true);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n",
                );
                for _ in 0..events / 1000 {
                    if stream.write_all(&block).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// This thread's CPU time so far.
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let nanos = stat
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(nanos)
}

/// Runs `client` (which must read `events` events from `url`) on a fresh thread.
fn measure<F, Fut>(client: F) -> Run
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = usize>,
{
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let cpu = thread_cpu();
        let start = Instant::now();
        let mut read = 0;
        let info = allocation_counter::measure(|| read = runtime.block_on(client()));
        let run = Run {
            wall: start.elapsed(),
            cpu: thread_cpu() - cpu,
            allocations: info.count_total,
        };
        assert!(read > 0);
        run
    })
    .join()
    .unwrap()
}

async fn sse_client(url: String, events: usize) -> usize {
    let mut source = sse_client::EventSource::builder(url)
        .idle_timeout(None)
        .build()
        .unwrap();
    let mut read = 0;
    while let Some(item) = source.next().await {
        if let sse_client::Event::Message(event) = item.unwrap() {
            std::hint::black_box(&event);
            read += 1;
            if read == events {
                break;
            }
        }
    }
    read
}

async fn reqwest_eventsource(url: String, events: usize) -> usize {
    let mut source = reqwest_eventsource::EventSource::get(url);
    let mut read = 0;
    while let Some(item) = source.next().await {
        if let reqwest_eventsource::Event::Message(event) = item.unwrap() {
            std::hint::black_box(&event);
            read += 1;
            if read == events {
                break;
            }
        }
    }
    source.close();
    read
}

async fn eventsource_client(url: String, events: usize) -> usize {
    use eventsource_client::Client as _;
    let client = eventsource_client::ClientBuilder::for_url(&url)
        .unwrap()
        .build_http();
    let mut stream = client.stream();
    let mut read = 0;
    while let Some(item) = stream.next().await {
        if let eventsource_client::SSE::Event(event) = item.unwrap() {
            std::hint::black_box(&event);
            read += 1;
            if read == events {
                break;
            }
        }
    }
    read
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let events: usize = args.next().map_or(1_000_000, |n| n.parse().unwrap());
    let runs: usize = args.next().map_or(5, |n| n.parse().unwrap());
    println!("{events} events per run, median of {runs} runs, one client at a time\n");
    println!(
        "| data | client | events/s | CPU ns/event | events per CPU-second | allocations/event | vs reqwest-eventsource (events per CPU-s) |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for size in [64, 1024] {
        let addr = server(events, size);
        let url = format!("http://{addr}/events");
        let mut results = Vec::new();
        type Client =
            fn(String, usize) -> std::pin::Pin<Box<dyn std::future::Future<Output = usize>>>;
        let clients: [(&str, Client); 3] = [
            ("sse-client", |u, n| Box::pin(sse_client(u, n))),
            ("reqwest-eventsource", |u, n| {
                Box::pin(reqwest_eventsource(u, n))
            }),
            ("eventsource-client", |u, n| {
                Box::pin(eventsource_client(u, n))
            }),
        ];
        for (name, client) in clients {
            let mut rate = Vec::new();
            let mut cpu = Vec::new();
            let mut allocations = Vec::new();
            for _ in 0..runs {
                let url = url.clone();
                let run = measure(move || client(url, events));
                rate.push(events as f64 / run.wall.as_secs_f64());
                cpu.push(run.cpu.as_nanos() as f64 / events as f64);
                allocations.push(run.allocations as f64 / events as f64);
            }
            results.push((name, median(rate), median(cpu), median(allocations)));
        }
        let baseline = results[1].2;
        for (name, rate, cpu, allocations) in results {
            println!(
                "| {size} B | {name} | {rate:.0} | {cpu:.0} | {:.0} | {allocations:.2} | {:.2}x |",
                1e9 / cpu,
                baseline / cpu
            );
        }
    }
}
