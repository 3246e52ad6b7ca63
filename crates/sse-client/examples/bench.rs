//! Client throughput over loopback: one server thread streams N events as fast as
//! the socket takes them; each client (on a current-thread tokio runtime of its own
//! thread, so all its work is on that thread) reads them. Reported per client and
//! event size: events/s, client CPU per event (the thread's CPU time from
//! `/proc/thread-self/schedstat`), and heap allocations per event (counted on the
//! client thread), medians of several runs, with ratios to `reqwest-eventsource`.
//! Then the same stream gzip-compressed (`Content-Encoding: gzip`, a sync flush
//! every 1000 events), for the clients that decode it.
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
/// `size` data bytes (with an id), then is closed; gzip-compressed if `gzip`
/// (compressed once, up front, so that the server keeps up).
fn server(events: usize, size: usize, gzip: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // 1000 events, written again and again.
    let data = "x".repeat(size);
    let mut block = Vec::new();
    for i in 0..1000 {
        block.extend_from_slice(format!("id: {i}\ndata: {data}\n\n").as_bytes());
    }
    let (response_head, blocks): (&[u8], Vec<Vec<u8>>) = if gzip {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut blocks = Vec::new();
        for _ in 0..events / 1000 {
            encoder.write_all(&block).unwrap();
            encoder.flush().unwrap();
            blocks.push(std::mem::take(encoder.get_mut()));
        }
        blocks.push(encoder.finish().unwrap());
        (
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: gzip\r\nconnection: close\r\n\r\n",
            blocks,
        )
    } else {
        (
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n",
            vec![block; events / 1000],
        )
    };
    let blocks = std::sync::Arc::new(blocks);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let blocks = blocks.clone();
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
                let _ = stream.write_all(response_head);
                for block in blocks.iter() {
                    if stream.write_all(block).is_err() {
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
    // reqwest (0.12, reqwest-eventsource's) is built with `gzip` here: its default
    // client asks for gzip and decodes it.
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
    type Client = fn(String, usize) -> std::pin::Pin<Box<dyn std::future::Future<Output = usize>>>;
    let sse: (&str, Client) = ("sse-client", |u, n| Box::pin(sse_client(u, n)));
    let reqwest: (&str, Client) = ("reqwest-eventsource", |u, n| {
        Box::pin(reqwest_eventsource(u, n))
    });
    let launchdarkly: (&str, Client) = ("eventsource-client", |u, n| {
        Box::pin(eventsource_client(u, n))
    });
    for gzip in [false, true] {
        for size in [64, 1024] {
            let addr = server(events, size, gzip);
            let url = format!("http://{addr}/events");
            // eventsource-client does not decode compressed bodies.
            let clients = if gzip {
                vec![sse, reqwest]
            } else {
                vec![sse, reqwest, launchdarkly]
            };
            let mut results = Vec::new();
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
            let data = if gzip {
                format!("{size} B gzip")
            } else {
                format!("{size} B")
            };
            for (name, rate, cpu, allocations) in results {
                println!(
                    "| {data} | {name} | {rate:.0} | {cpu:.0} | {:.0} | {allocations:.2} | {:.2}x |",
                    1e9 / cpu,
                    baseline / cpu
                );
            }
        }
    }
}
