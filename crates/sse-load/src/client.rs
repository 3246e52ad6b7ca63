//! The load: N raw HTTP/1.1 `GET /events` connections, spread over a few threads,
//! each with its own `epoll` (mio) and no async runtime, so the client side costs
//! as little as it can: one `read` per wake-up into a per-thread buffer (64 KiB),
//! HTTP chunked framing undone in place, then `sse_core::Decoder`.
//!
//! Every event's data starts with its send time (nanoseconds since the UNIX epoch,
//! 20 digits) and a phase number (3 digits); the latency of an event is the clock at
//! the `read` that brought it minus its send time, recorded per phase.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use sse_core::{DecodeLimits, Decoded, Decoder};

use crate::chunked::Dechunker;
use crate::http::{Stage, now_ns, read_head};
use crate::stats::Histogram;

/// Connections a thread has opened but not yet seen answered, at most: a bound on
/// the connect burst, so the server's accept backlog never overflows.
const MAX_CONNECTING: usize = 128;
const READ_BUFFER: usize = 64 * 1024;
/// The most input pushed to a decoder before its events are taken out.
const DECODE_PIECE: usize = 4 * 1024;
const REQUEST: &[u8] =
    b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";

/// What the clients saw in one phase.
#[derive(Clone, Debug)]
pub(crate) struct PhaseStats {
    pub(crate) deliveries: u64,
    pub(crate) latency: Histogram,
    /// The wall clock (ns since the epoch) at the last delivery.
    pub(crate) last_ns: u64,
}

impl PhaseStats {
    fn new() -> Self {
        PhaseStats {
            deliveries: 0,
            latency: Histogram::new(),
            last_ns: 0,
        }
    }

    fn merge(&mut self, other: &PhaseStats) {
        self.deliveries += other.deliveries;
        self.latency.merge(&other.latency);
        self.last_ns = self.last_ns.max(other.last_ns);
    }
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    /// Connections answered with 200 and streaming.
    streaming: AtomicUsize,
    /// Connections that failed or ended (after or before streaming).
    closed: AtomicUsize,
    /// Events whose data did not carry a send time.
    malformed: AtomicUsize,
    /// Per thread, per phase.
    phases: Vec<Mutex<Vec<PhaseStats>>>,
}

/// The client connections, running until dropped.
#[derive(Debug)]
pub(crate) struct Clients {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Clients {
    /// Opens `count` connections over `threads` threads, spread evenly over
    /// `addrs` (connection k goes to `addrs[k % addrs.len()]`).
    pub(crate) fn start(addrs: &[SocketAddr], count: usize, threads: usize) -> io::Result<Self> {
        let threads = threads.clamp(1, count.max(1));
        let shared = Arc::new(Shared {
            phases: (0..threads).map(|_| Mutex::new(Vec::new())).collect(),
            ..Shared::default()
        });
        let mut handles = Vec::with_capacity(threads);
        for (thread, targets) in Targets::split(addrs, count, threads)
            .into_iter()
            .enumerate()
        {
            let shared = shared.clone();
            let poll = Poll::new()?;
            handles.push(
                std::thread::Builder::new()
                    .name(format!("load-{thread}"))
                    .spawn(move || run(&targets, thread, poll, &shared))?,
            );
        }
        Ok(Clients {
            shared,
            threads: handles,
        })
    }

    /// Waits until `count` connections stream; fails when some closed or `timeout`
    /// passed.
    pub(crate) fn wait_streaming(&self, count: usize, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let (streaming, closed) = (self.streaming(), self.closed());
            if streaming >= count {
                return Ok(());
            }
            if closed > 0 || Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "{streaming} of {count} connections streaming, {closed} failed or closed"
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub(crate) fn streaming(&self) -> usize {
        self.shared.streaming.load(Relaxed)
    }

    pub(crate) fn closed(&self) -> usize {
        self.shared.closed.load(Relaxed)
    }

    pub(crate) fn malformed(&self) -> usize {
        self.shared.malformed.load(Relaxed)
    }

    /// What every thread saw in `phase` so far.
    pub(crate) fn phase(&self, phase: usize) -> PhaseStats {
        let mut total = PhaseStats::new();
        for thread in &self.shared.phases {
            let phases = thread.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(stats) = phases.get(phase) {
                total.merge(stats);
            }
        }
        total
    }

    /// Deliveries in `phase` so far (cheaper than [`phase`](Self::phase)).
    pub(crate) fn deliveries(&self, phase: usize) -> u64 {
        self.shared
            .phases
            .iter()
            .map(|thread| {
                let phases = thread.lock().unwrap_or_else(PoisonError::into_inner);
                phases.get(phase).map_or(0, |stats| stats.deliveries)
            })
            .sum()
    }
}

impl Drop for Clients {
    fn drop(&mut self) {
        self.shared.stop.store(true, Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

struct Connection {
    stream: TcpStream,
    stage: Stage,
    /// `Some` when the body is chunked (hyper's HTTP/1.1 streaming bodies).
    chunks: Option<Dechunker>,
    decoder: Decoder,
}

/// The connections one thread opens: `share` of them, numbered from `first`
/// among all the threads', each to the address its number picks.
struct Targets {
    addrs: Vec<SocketAddr>,
    first: usize,
    share: usize,
}

impl Targets {
    /// `count` connections over `threads` threads, numbered in turn.
    fn split(addrs: &[SocketAddr], count: usize, threads: usize) -> Vec<Targets> {
        let mut first = 0;
        (0..threads)
            .map(|thread| {
                let share = count / threads + usize::from(thread < count % threads);
                first += share;
                Targets {
                    addrs: addrs.to_vec(),
                    first: first - share,
                    share,
                }
            })
            .collect()
    }

    /// Where the thread's `k`th connection goes.
    fn addr(&self, k: usize) -> SocketAddr {
        self.addrs[(self.first + k) % self.addrs.len()]
    }
}

fn run(targets: &Targets, thread: usize, mut poll: Poll, shared: &Shared) {
    let share = targets.share;
    let mut events = Events::with_capacity(1024);
    let mut connections: Vec<Connection> = Vec::with_capacity(share);
    let mut opened = 0;
    let mut connecting = 0;
    let mut buffer = vec![0u8; READ_BUFFER];
    let mut ready = Vec::with_capacity(256);
    while !shared.stop.load(Relaxed) {
        while opened < share && connecting < MAX_CONNECTING {
            let addr = targets.addr(opened);
            opened += 1;
            let token = Token(connections.len());
            let registered = TcpStream::connect(addr).and_then(|mut stream| {
                poll.registry()
                    .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                    .map(|()| stream)
            });
            match registered {
                Ok(stream) => {
                    connecting += 1;
                    connections.push(Connection {
                        stream,
                        stage: Stage::Connecting,
                        chunks: None,
                        decoder: Decoder::with_limits(DecodeLimits::default()),
                    });
                }
                Err(_) => {
                    shared.closed.fetch_add(1, Relaxed);
                }
            }
        }
        if poll
            .poll(&mut events, Some(Duration::from_millis(20)))
            .is_err()
        {
            continue;
        }
        for event in &events {
            let Some(connection) = connections.get_mut(event.token().0) else {
                continue;
            };
            if matches!(connection.stage, Stage::Closed) {
                continue;
            }
            let was_connecting = matches!(connection.stage, Stage::Connecting | Stage::Head(_));
            if event.is_writable() && matches!(connection.stage, Stage::Connecting) {
                match connection.stream.write(REQUEST) {
                    Ok(n) if n == REQUEST.len() => connection.stage = Stage::Head(Vec::new()),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
                    _ => connection.stage = Stage::Closed,
                }
            }
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                read(connection, &mut buffer, &mut ready, shared);
                if !ready.is_empty() {
                    record(&ready, &shared.phases[thread]);
                    ready.clear();
                }
            }
            let now_connecting = matches!(connection.stage, Stage::Connecting | Stage::Head(_));
            if was_connecting && !now_connecting {
                connecting -= 1;
                if matches!(connection.stage, Stage::Body) {
                    shared.streaming.fetch_add(1, Relaxed);
                }
            }
            if matches!(connection.stage, Stage::Closed) {
                // Counted once: a closed connection's events are skipped above.
                let _ = poll.registry().deregister(&mut connection.stream);
                let _ = connection.stream.shutdown(std::net::Shutdown::Both);
                connection.decoder = Decoder::new();
                shared.closed.fetch_add(1, Relaxed);
            }
        }
    }
}

/// (phase, latency ns, wall clock ns) of each event read.
type Ready = Vec<(usize, u64, u64)>;

/// Reads what the socket has: one `read` when it returns less than the buffer
/// (the socket is drained: with edge-triggered `epoll` a later arrival wakes us
/// again), more while it fills the buffer.
fn read(connection: &mut Connection, buffer: &mut [u8], ready: &mut Ready, shared: &Shared) {
    loop {
        if matches!(connection.stage, Stage::Closed | Stage::Connecting) {
            return;
        }
        let n = match connection.stream.read(buffer) {
            Ok(0) => {
                connection.stage = Stage::Closed;
                return;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                connection.stage = Stage::Closed;
                return;
            }
        };
        let now = now_ns();
        let mut input = &buffer[..n];
        if let Stage::Head(head) = &mut connection.stage {
            let (stream_head, rest) = match read_head(head, input) {
                Ok(Some(whole)) => whole,
                Ok(None) if n < buffer.len() => return,
                Ok(None) => continue,
                Err(_) => {
                    connection.stage = Stage::Closed;
                    return;
                }
            };
            connection.chunks = stream_head.chunked.then(Dechunker::default);
            connection.stage = Stage::Body;
            if !feed(connection, &rest, now, ready, shared) {
                connection.stage = Stage::Closed;
                return;
            }
            input = &[];
        }
        if !feed(connection, input, now, ready, shared) {
            connection.stage = Stage::Closed;
            return;
        }
        if n < buffer.len() {
            return;
        }
    }
}

/// Decodes body bytes; returns false on a framing or decoding error.
fn feed(
    connection: &mut Connection,
    input: &[u8],
    now: u64,
    ready: &mut Ready,
    shared: &Shared,
) -> bool {
    if input.is_empty() {
        return true;
    }
    let decoder = &mut connection.decoder;
    // A read can bring dozens of events: they are decoded a few at a time, each
    // piece's taken out before the next is pushed, so each event's data is freed
    // before the next one's is allocated and the allocator stays on its fast path.
    let mut decode = |data: &[u8]| {
        data.chunks(DECODE_PIECE)
            .all(|piece| decode_piece(decoder, piece, now, ready, shared))
    };
    match &mut connection.chunks {
        Some(chunks) => chunks.feed(input, decode),
        None => decode(input),
    }
}

/// Pushes `piece` to `decoder` and records the events it completes; false when
/// it does not decode.
fn decode_piece(
    decoder: &mut Decoder,
    piece: &[u8],
    now: u64,
    ready: &mut Ready,
    shared: &Shared,
) -> bool {
    let ok = decoder.push(piece).is_ok();
    for item in &mut *decoder {
        // Published events are `message`s; the demos' own (`client-id` first on
        // every stream) carry no send time.
        if let Decoded::Event(event) = item
            && event.event_type == "message"
        {
            match parse_stamp(event.data.as_bytes()) {
                Some((sent, phase)) => ready.push((phase, now.saturating_sub(sent), now)),
                None => {
                    shared.malformed.fetch_add(1, Relaxed);
                }
            }
        }
    }
    ok
}

/// The send time and phase an event's data starts with: `{ns:020} {phase:03} `.
pub(crate) fn parse_stamp(data: &[u8]) -> Option<(u64, usize)> {
    let digits = |bytes: &[u8]| -> Option<u64> {
        bytes.iter().try_fold(0u64, |acc, &b| {
            b.is_ascii_digit()
                .then(|| acc.wrapping_mul(10) + u64::from(b - b'0'))
        })
    };
    if data.len() < 24 || data[20] != b' ' {
        return None;
    }
    Some((digits(&data[..20])?, digits(&data[21..24])? as usize))
}

fn record(ready: &Ready, phases: &Mutex<Vec<PhaseStats>>) {
    let mut phases = phases.lock().unwrap_or_else(PoisonError::into_inner);
    for &(phase, latency, now) in ready {
        while phases.len() <= phase {
            phases.push(PhaseStats::new());
        }
        let stats = &mut phases[phase];
        stats.deliveries += 1;
        stats.latency.record(latency);
        stats.last_ns = stats.last_ns.max(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_connections_evenly_over_the_servers() {
        let addrs: Vec<SocketAddr> = (1..=2)
            .map(|port| SocketAddr::from(([127, 0, 0, 1], port)))
            .collect();
        for (count, threads) in [(10, 2), (11, 2), (1000, 3), (7, 1)] {
            let mut per_server = [0; 2];
            for targets in Targets::split(&addrs, count, threads) {
                for k in 0..targets.share {
                    per_server[usize::from(targets.addr(k).port() - 1)] += 1;
                }
            }
            assert_eq!(per_server[0] + per_server[1], count);
            assert_eq!(per_server[0], count.div_ceil(2), "{count} over {threads}");
        }
    }

    #[test]
    fn reads_the_stamp() {
        assert_eq!(parse_stamp(b"00000000000000000042 007 xxxx"), Some((42, 7)));
        assert_eq!(parse_stamp(b"0000000000000000004x 007 "), None);
        assert_eq!(parse_stamp(b"short"), None);
    }
}
