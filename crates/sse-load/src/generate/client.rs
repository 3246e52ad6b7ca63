//! The per-request load: N connections, each with one `POST /generate` stream at a
//! time, spread over a few threads with their own `epoll` (mio), as the
//! broadcast clients are. When a reply ends, its connection sends the next request
//! at once (on the same connection when the server keeps it alive, on a new one
//! when the response ended with the connection, as `sse-smol`'s do), until told to
//! stop; so N streams stay open for as long as a phase lasts.
//!
//! Every reply is decoded with `sse_core::Decoder` and checked
//! (`check::StreamCheck`): a lost, extra or reordered word, a wrong checkpoint, or a
//! reply that ends without `done` is a failure. For the requests sent while
//! measuring, the clients record the time to the first word (the clock just before
//! the request is written to the clock at the `read` that brought word 0) and, when
//! paced, each word's arrival against the reply's schedule.
//!
//! Asked for resumable replies, the clients check their framing
//! ([`ResumableCheck`](super::resumable::ResumableCheck): the `stream` event,
//! every message's position as its id, `done`, then `end`). Asked to resume too, each connection drops once mid-reply
//! (after a word chosen at random), waits out an outage, then asks for the rest
//! with `GET /generate/{key}` and its `Last-Event-ID` on a new connection, and
//! records the time from starting that reconnect to the `read` that brought the
//! first word it missed; the check goes on across both connections, so a gap or
//! a duplicate fails the reply.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use sse_core::{Decoded, Decoder};

use super::check::Item;
use super::resumable::ReplyCheck;
use crate::chunked::Dechunker;
use crate::http::{Stage, read_head};
use crate::stats::Histogram;

/// Connections a thread is opening at once, at most (as for the broadcast load).
const MAX_CONNECTING: usize = 128;
const READ_BUFFER: usize = 64 * 1024;
/// The longest wait for socket events before the thread looks at its flags.
const POLL_TIMEOUT: Duration = Duration::from_millis(20);
/// The failures described in full; the rest are only counted.
const MAX_DESCRIBED: usize = 8;

/// What every request asks for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ask {
    /// Words per reply.
    pub(crate) words: u64,
    /// Words per second; 0: as fast as the client reads.
    pub(crate) rate: f64,
    /// A resumable reply (the demos' default), or a plain per-request stream.
    pub(crate) resumable: bool,
    /// Resumable only: drop each reply's connection once, mid-reply, and resume
    /// it after this outage.
    pub(crate) resume: Option<Duration>,
}

impl Ask {
    fn request(self) -> Vec<u8> {
        let body = format!(
            r#"{{"prompt":"Tell me about Server-Sent Events","words":{},"rate":{},"resumable":{}}}"#,
            self.words, self.rate, self.resumable
        );
        format!(
            "POST /generate HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }
}

/// What the clients measured and checked.
#[derive(Clone, Debug)]
pub(crate) struct Tally {
    /// Request written → first word, for measured requests (ns).
    pub(crate) first_word: Histogram,
    /// Paced: word `k`'s arrival − (word 0's arrival + k / rate), clamped at 0 (ns).
    pub(crate) schedule_delay: Histogram,
    /// Paced: each gap between two words less the reply's median gap, clamped at 0
    /// (ns).
    pub(crate) jitter: Histogram,
    /// Resuming: the reconnect's start → the first missed word, for measured
    /// replies (ns).
    pub(crate) resume: Histogram,
    /// Replies resumed on a new connection (window and drain).
    pub(crate) resumes: u64,
    /// Replies that came whole and in order.
    pub(crate) completed: u64,
    /// Replies that failed their check or their connection.
    pub(crate) failed: u64,
    /// The first few failures, described.
    pub(crate) failures: Vec<String>,
}

impl Tally {
    fn new() -> Self {
        Tally {
            first_word: Histogram::new(),
            schedule_delay: Histogram::new(),
            jitter: Histogram::new(),
            resume: Histogram::new(),
            resumes: 0,
            completed: 0,
            failed: 0,
            failures: Vec::new(),
        }
    }

    fn merge(&mut self, other: &Tally) {
        self.first_word.merge(&other.first_word);
        self.schedule_delay.merge(&other.schedule_delay);
        self.jitter.merge(&other.jitter);
        self.resume.merge(&other.resume);
        self.resumes += other.resumes;
        self.completed += other.completed;
        self.failed += other.failed;
        for failure in &other.failures {
            if self.failures.len() < MAX_DESCRIBED {
                self.failures.push(failure.clone());
            }
        }
    }

    fn fail(&mut self, failure: String) {
        self.failed += 1;
        if self.failures.len() < MAX_DESCRIBED {
            self.failures.push(failure);
        }
    }
}

#[derive(Debug)]
struct Shared {
    /// The threads end.
    stop: AtomicBool,
    /// Connections send a new request when a reply ends.
    issuing: AtomicBool,
    /// Requests sent now are measured.
    measuring: AtomicBool,
    /// Words received, by every request.
    tokens: AtomicU64,
    /// Connections that have received a word.
    streaming: AtomicUsize,
    /// Requests begun and not yet ended.
    active: AtomicUsize,
    /// Per thread.
    tallies: Vec<Mutex<Tally>>,
}

/// The connections, running until [`finish`](Self::finish)ed or dropped.
#[derive(Debug)]
pub(crate) struct GenerateClients {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl GenerateClients {
    /// Opens `count` connections to `addr` over `threads` threads, each asking
    /// for `ask`.
    pub(crate) fn start(
        addr: SocketAddr,
        count: usize,
        threads: usize,
        ask: Ask,
    ) -> io::Result<Self> {
        let threads = threads.clamp(1, count.max(1));
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            issuing: AtomicBool::new(true),
            measuring: AtomicBool::new(false),
            tokens: AtomicU64::new(0),
            streaming: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            tallies: (0..threads).map(|_| Mutex::new(Tally::new())).collect(),
        });
        let mut handles = Vec::with_capacity(threads);
        for thread in 0..threads {
            let share = count / threads + usize::from(thread < count % threads);
            let shared = shared.clone();
            let poll = Poll::new()?;
            let load = Load {
                addr,
                ask,
                request: ask.request(),
                thread,
                shared,
            };
            handles.push(
                std::thread::Builder::new()
                    .name(format!("generate-{thread}"))
                    .spawn(move || load.run(share, poll))?,
            );
        }
        Ok(GenerateClients {
            shared,
            threads: handles,
        })
    }

    /// Waits until every connection has received a word; fails when replies failed
    /// or `timeout` passed.
    pub(crate) fn wait_streaming(&self, count: usize, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let streaming = self.shared.streaming.load(Relaxed);
            if streaming >= count {
                return Ok(());
            }
            let failed = self.failed();
            if failed > 0 || Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "{streaming} of {count} connections streaming, {failed} replies failed{}",
                    self.first_failure()
                        .map_or_else(String::new, |f| format!(" (first: {f})"))
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts or stops measuring the requests sent from now on.
    pub(crate) fn measure(&self, on: bool) {
        self.shared.measuring.store(on, Relaxed);
    }

    /// Words received so far.
    pub(crate) fn tokens(&self) -> u64 {
        self.shared.tokens.load(Relaxed)
    }

    /// Stops sending new requests and waits (at most `timeout`) for the ones under
    /// way to end; returns whether they all did.
    pub(crate) fn drain(&self, timeout: Duration) -> bool {
        self.shared.issuing.store(false, Relaxed);
        let deadline = Instant::now() + timeout;
        while self.shared.active.load(Relaxed) > 0 {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    fn failed(&self) -> u64 {
        self.shared
            .tallies
            .iter()
            .map(|tally| tally.lock().unwrap_or_else(PoisonError::into_inner).failed)
            .sum()
    }

    fn first_failure(&self) -> Option<String> {
        self.shared.tallies.iter().find_map(|tally| {
            let tally = tally.lock().unwrap_or_else(PoisonError::into_inner);
            tally.failures.first().cloned()
        })
    }

    /// Stops the threads and returns what they measured.
    pub(crate) fn finish(mut self) -> Tally {
        self.stop();
        let mut total = Tally::new();
        for tally in &self.shared.tallies {
            total.merge(&tally.lock().unwrap_or_else(PoisonError::into_inner));
        }
        total
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for GenerateClients {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One connection and the reply under way on it.
struct Connection {
    stream: TcpStream,
    stage: Stage,
    /// `Some` when the body is chunked (hyper's HTTP/1.1 streaming bodies).
    chunks: Option<Dechunker>,
    /// Whether the server keeps the connection for another request.
    keep_alive: bool,
    decoder: Decoder,
    check: ReplyCheck,
    /// Resuming: drop the connection once this many words came.
    drop_after: Option<u64>,
    /// Resuming: when the reconnect started, until the first missed word.
    reconnecting: Option<Instant>,
    /// Just before the request was written.
    sent: Instant,
    /// Whether this reply is measured.
    measured: bool,
    /// When word 0 arrived.
    first_word: Option<Instant>,
    /// Paced and measured: each word's arrival, in ns after word 0's.
    arrivals: Vec<u64>,
    /// Whether it ever received a word (counted once in `streaming`).
    streamed: bool,
}

/// One thread's share of the load.
struct Load {
    addr: SocketAddr,
    ask: Ask,
    request: Vec<u8>,
    thread: usize,
    shared: Arc<Shared>,
}

/// One thread's dropped connections waiting out their outage: when each
/// reconnects, in order (the outage is the same for all), and the state of the
/// drop points' generator.
struct Outages {
    due: VecDeque<(Instant, usize)>,
    random: u64,
}

impl Outages {
    /// A drop point for a reply of `words` words: after 1 to `words - 2` of them,
    /// so a word is always missed (xorshift64*, the same every run).
    fn drop_point(&mut self, words: u64) -> Option<u64> {
        if words < 3 {
            return None;
        }
        self.random ^= self.random >> 12;
        self.random ^= self.random << 25;
        self.random ^= self.random >> 27;
        Some(1 + self.random.wrapping_mul(0x2545_f491_4f6c_dd1d) % (words - 2))
    }
}

impl Load {
    fn run(&self, share: usize, mut poll: Poll) {
        let mut events = Events::with_capacity(1024);
        let mut connections: Vec<Connection> = Vec::with_capacity(share);
        let mut buffer = vec![0u8; READ_BUFFER];
        let mut outages = Outages {
            due: VecDeque::new(),
            random: 0x9e37_79b9_7f4a_7c15 ^ self.thread as u64,
        };
        while !self.shared.stop.load(Relaxed) {
            let opening = if connections.len() < share {
                let connecting = connections
                    .iter()
                    .filter(|c| matches!(c.stage, Stage::Connecting | Stage::Head(_)))
                    .count();
                (share - connections.len()).min(MAX_CONNECTING.saturating_sub(connecting))
            } else {
                0
            };
            for _ in 0..opening {
                let token = Token(connections.len());
                match self.connect(&poll, token) {
                    Ok(stream) => {
                        self.shared.active.fetch_add(1, Relaxed);
                        let drop_after = self.drop_point(&mut outages);
                        connections.push(self.connection(stream, drop_after));
                    }
                    Err(error) => self.tally(|t| t.fail(format!("connect: {error}"))),
                }
            }
            let now = Instant::now();
            while let Some(&(at, index)) = outages.due.front()
                && at <= now
            {
                outages.due.pop_front();
                self.reconnect(&mut connections[index], &poll, Token(index));
            }
            let timeout = outages.due.front().map_or(POLL_TIMEOUT, |&(at, _)| {
                at.saturating_duration_since(now).min(POLL_TIMEOUT)
            });
            if poll.poll(&mut events, Some(timeout)).is_err() {
                continue;
            }
            for event in &events {
                let token = event.token();
                let Some(connection) = connections.get_mut(token.0) else {
                    continue;
                };
                let closed = event.is_read_closed() || event.is_error();
                if (event.is_writable() || closed) && matches!(connection.stage, Stage::Connecting)
                {
                    self.send(connection);
                }
                if event.is_readable() || closed {
                    self.read(connection, &mut buffer, &poll, token, closed, &mut outages);
                }
            }
        }
    }

    fn connect(&self, poll: &Poll, token: Token) -> io::Result<TcpStream> {
        let mut stream = TcpStream::connect(self.addr)?;
        poll.registry()
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
        Ok(stream)
    }

    /// Where the next reply drops its connection, when resuming.
    fn drop_point(&self, outages: &mut Outages) -> Option<u64> {
        self.ask
            .resume
            .and_then(|_| outages.drop_point(self.ask.words))
    }

    fn connection(&self, stream: TcpStream, drop_after: Option<u64>) -> Connection {
        Connection {
            stream,
            stage: Stage::Connecting,
            chunks: None,
            keep_alive: false,
            decoder: Decoder::new(),
            check: ReplyCheck::new(self.ask.words, self.ask.resumable),
            drop_after,
            reconnecting: None,
            sent: Instant::now(),
            measured: false,
            first_word: None,
            arrivals: Vec::new(),
            streamed: false,
        }
    }

    fn tally(&self, f: impl FnOnce(&mut Tally)) {
        f(&mut self.shared.tallies[self.thread]
            .lock()
            .unwrap_or_else(PoisonError::into_inner));
    }

    /// Writes the request (it fits any socket buffer: one `write`). A connection
    /// still connecting waits for its writable event.
    /// A resumed reply's `GET` goes out even while draining: its reply is under
    /// way.
    fn send(&self, connection: &mut Connection) {
        let resume = connection.reconnecting.is_some();
        if !resume && !self.shared.issuing.load(Relaxed) {
            self.end(connection, None);
            return;
        }
        let resume_request;
        let request = match connection.check.resumable() {
            Some(check) if resume => {
                resume_request = format!(
                    "GET /generate/{} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\
                     Last-Event-ID: {}\r\n\r\n",
                    check.key().unwrap_or_default(),
                    check.last_event_id()
                );
                resume_request.as_bytes()
            }
            _ => &self.request,
        };
        if !resume {
            connection.sent = Instant::now();
        }
        match connection.stream.write(request) {
            Ok(n) if n == request.len() => {
                if !resume {
                    connection.measured = self.shared.measuring.load(Relaxed);
                }
                connection.stage = Stage::Head(Vec::new());
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected
                ) => {}
            Ok(_) => self.end(connection, Some("request: a short write".into())),
            Err(e) => self.end(connection, Some(format!("request: {e}"))),
        }
    }

    /// Ends the request under way: a failure when `failure` says so (and the
    /// connection is closed for good).
    fn end(&self, connection: &mut Connection, failure: Option<String>) {
        if let Some(failure) = failure {
            self.tally(|t| t.fail(failure));
        }
        connection.stage = Stage::Closed;
        self.shared.active.fetch_sub(1, Relaxed);
    }

    /// Reads what the socket has, decoding and checking it; ends, renews or
    /// reconnects the request as the reply ends. One `read` when it returns less
    /// than the buffer (the socket is drained: with edge-triggered `epoll` a later
    /// arrival wakes us again), unless the peer `closed`: then up to the end.
    fn read(
        &self,
        connection: &mut Connection,
        buffer: &mut [u8],
        poll: &Poll,
        token: Token,
        closed: bool,
        outages: &mut Outages,
    ) {
        loop {
            if matches!(connection.stage, Stage::Closed | Stage::Connecting) {
                return;
            }
            let n = match connection.stream.read(buffer) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.end(connection, Some(format!("read: {e}")));
                    return;
                }
            };
            if n == 0 {
                // The end of a close-delimited body is the end of the reply.
                let whole = matches!(connection.stage, Stage::Body) && connection.chunks.is_none();
                let failure = if whole {
                    connection.check.finish().err()
                } else {
                    Some("the connection closed mid-response".into())
                };
                self.reply_ended(connection, failure, poll, token, outages);
                return;
            }
            let now = Instant::now();
            if let Err(failure) = self.input(connection, &buffer[..n], now) {
                self.end(connection, Some(failure));
                return;
            }
            if self.drop_due(connection) {
                self.drop_connection(connection, poll, token, outages);
                return;
            }
            if connection.chunks.as_ref().is_some_and(Dechunker::is_done) {
                let failure = connection.check.finish().err();
                self.reply_ended(connection, failure, poll, token, outages);
                return;
            }
            if n < buffer.len() && !closed {
                return;
            }
        }
    }

    /// Takes `input` (head or body bytes).
    fn input(&self, connection: &mut Connection, input: &[u8], now: Instant) -> Result<(), String> {
        let mut rest = Vec::new();
        let was_head = matches!(connection.stage, Stage::Head(_));
        if let Stage::Head(head) = &mut connection.stage {
            let Some((stream_head, body)) = read_head(head, input)? else {
                return Ok(());
            };
            connection.chunks = stream_head.chunked.then(Dechunker::default);
            connection.keep_alive = stream_head.keep_alive;
            rest = body;
            connection.stage = Stage::Body;
        }
        let input: &[u8] = if was_head { &rest } else { input };
        let mut words = 0;
        let Connection {
            chunks,
            decoder,
            check,
            ..
        } = connection;
        let mut decode = |data: &[u8]| {
            let ok = decoder.push(data).is_ok();
            for item in &mut *decoder {
                match item {
                    Decoded::Retry(retry) => check.retry(retry),
                    Decoded::Comment(text) => check.comment(&text),
                    Decoded::Event(event) => {
                        words += u64::from(check.event(&event) == Item::Word);
                    }
                    _ => {}
                }
            }
            ok
        };
        let decoded = match chunks {
            Some(chunks) => chunks.feed(input, &mut decode),
            None => decode(input),
        };
        if !decoded {
            return Err("the body does not decode".into());
        }
        if let Some(error) = connection.check.error() {
            return Err(error.to_string());
        }
        if words > 0 {
            self.words_arrived(connection, words, now);
        }
        Ok(())
    }

    /// Whether the reply's connection is to drop now: its drop point has come and
    /// a word is still to come.
    fn drop_due(&self, connection: &mut Connection) -> bool {
        let Some(after) = connection.drop_after else {
            return false;
        };
        connection
            .check
            .resumable()
            .is_some_and(|check| check.received() >= after && check.received() < self.ask.words)
    }

    /// Drops the connection mid-reply (what the server sees as the client gone:
    /// a FIN) and queues its reconnect after the outage.
    fn drop_connection(
        &self,
        connection: &mut Connection,
        poll: &Poll,
        token: Token,
        outages: &mut Outages,
    ) {
        let _ = poll.registry().deregister(&mut connection.stream);
        let _ = connection.stream.shutdown(Shutdown::Both);
        connection.drop_after = None;
        connection.decoder = Decoder::new();
        connection.chunks = None;
        connection.stage = Stage::Connecting;
        if let Some(check) = connection.check.resumable() {
            check.resumed();
        }
        let outage = self.ask.resume.unwrap_or_default();
        outages.due.push_back((Instant::now() + outage, token.0));
    }

    /// After its outage, a dropped reply reconnects (its `GET` goes out once the
    /// socket is writable); the resume latency runs from here.
    fn reconnect(&self, connection: &mut Connection, poll: &Poll, token: Token) {
        connection.reconnecting = Some(Instant::now());
        match self.connect(poll, token) {
            // Dropping the old socket closes it.
            Ok(stream) => connection.stream = stream,
            Err(error) => self.end(connection, Some(format!("resume: connect: {error}"))),
        }
    }

    /// Counts and times `words` words that arrived at `now`.
    fn words_arrived(&self, connection: &mut Connection, words: u64, now: Instant) {
        self.shared.tokens.fetch_add(words, Relaxed);
        if let Some(started) = connection.reconnecting.take() {
            let measured = connection.measured;
            let waited = now.duration_since(started).as_nanos() as u64;
            self.tally(|t| {
                t.resumes += 1;
                if measured {
                    t.resume.record(waited);
                }
            });
        }
        if !connection.streamed {
            connection.streamed = true;
            self.shared.streaming.fetch_add(1, Relaxed);
        }
        let first = *connection.first_word.get_or_insert_with(|| {
            if connection.measured {
                let waited = now.duration_since(connection.sent).as_nanos() as u64;
                self.tally(|t| t.first_word.record(waited));
            }
            now
        });
        if connection.measured && self.paced() {
            let at = now.duration_since(first).as_nanos() as u64;
            connection
                .arrivals
                .extend(std::iter::repeat_n(at, words as usize));
        }
    }

    /// The reply on `connection` ended (a failure when `failure` says so): counts it
    /// and sends the next request, on the same connection when the server keeps it,
    /// on a new one otherwise, unless the load is draining.
    fn reply_ended(
        &self,
        connection: &mut Connection,
        failure: Option<String>,
        poll: &Poll,
        token: Token,
        outages: &mut Outages,
    ) {
        if failure.is_some() {
            self.end(connection, failure);
            return;
        }
        let timings = (connection.measured && self.paced())
            .then(|| paced_timings(&connection.arrivals, self.ask.rate));
        self.tally(|t| {
            t.completed += 1;
            if let Some((delays, jitters)) = timings {
                delays.iter().for_each(|&d| t.schedule_delay.record(d));
                jitters.iter().for_each(|&j| t.jitter.record(j));
            }
        });
        self.shared.active.fetch_sub(1, Relaxed);
        if !self.shared.issuing.load(Relaxed) {
            connection.stage = Stage::Closed;
            return;
        }
        self.shared.active.fetch_add(1, Relaxed);
        connection.decoder = Decoder::new();
        connection.check = ReplyCheck::new(self.ask.words, self.ask.resumable);
        connection.drop_after = self.drop_point(outages);
        connection.reconnecting = None;
        connection.chunks = None;
        connection.first_word = None;
        connection.arrivals.clear();
        connection.stage = Stage::Connecting;
        if connection.keep_alive {
            self.send(connection);
            return;
        }
        match self.connect(poll, token) {
            // Dropping the old socket closes it (and takes it out of the poll).
            Ok(stream) => connection.stream = stream,
            Err(error) => self.end(connection, Some(format!("reconnect: {error}"))),
        }
    }
}

impl Load {
    /// Whether the replies are paced and timed against their schedule (a
    /// resumed one is not: its outage would count as lateness).
    fn paced(&self) -> bool {
        self.ask.rate > 0.0 && self.ask.resume.is_none()
    }
}

/// For a paced reply whose words arrived at `arrivals` (ns after word 0): each
/// word's delay against the schedule word 0 set (`k / rate` after it), and each
/// gap's excess over the reply's median gap; both clamped at 0, words 1 on.
fn paced_timings(arrivals: &[u64], rate: f64) -> (Vec<u64>, Vec<u64>) {
    let period = 1e9 / rate;
    let delays = arrivals
        .iter()
        .enumerate()
        .skip(1)
        .map(|(k, &at)| (at as f64 - k as f64 * period).max(0.0) as u64)
        .collect();
    let gaps: Vec<u64> = arrivals
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .collect();
    let mut sorted = gaps.clone();
    sorted.sort_unstable();
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0);
    let jitters = gaps.iter().map(|gap| gap.saturating_sub(median)).collect();
    (delays, jitters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paced_timings_measure_against_the_schedule_and_the_median_gap() {
        let ms = 1_000_000;
        // 50 words/s: due every 20 ms; word 2 is 5 ms late.
        let (delays, jitters) = paced_timings(&[0, 20 * ms, 45 * ms, 60 * ms], 50.0);
        assert_eq!(delays, [0, 5 * ms, 0]);
        assert_eq!(jitters, [0, 5 * ms, 0]);
        // A producer that drifts 1 ms a word: late against the schedule, no jitter.
        let (delays, jitters) = paced_timings(&[0, 21 * ms, 42 * ms], 50.0);
        assert_eq!(delays, [ms, 2 * ms]);
        assert_eq!(jitters, [0, 0]);
        assert_eq!(paced_timings(&[0], 50.0), (vec![], vec![]));
    }

    #[test]
    fn the_request_is_the_contract() {
        let request = Ask {
            words: 1000,
            rate: 0.0,
            resumable: false,
            resume: None,
        }
        .request();
        let text = String::from_utf8(request).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("POST /generate HTTP/1.1\r\n"));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["words"], 1000);
        assert_eq!(body["rate"], 0.0);
        assert_eq!(body["resumable"], false);
    }
}
