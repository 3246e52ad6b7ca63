//! One load run: the broadcast scenario (every server, every N, every size, every
//! repetition), then the per-request one ([`crate::generate`]).

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::Options;
use crate::client::Clients;
use crate::http::{HttpClient, now_ns};
use crate::report::{MemoryResult, PhaseResult, Report, RunResult};
use crate::server::{self, Deployment, Kind, PerfRecord, ProcSample, ServerConfig};
use crate::writes::{PERF_ATTACH, WriteCount};

/// The send time and phase every event's data starts with: `{ns:020} {phase:03} `.
pub(crate) const STAMP_LEN: usize = 25;
/// Events published with no client connected, to learn how many write calls the
/// server makes per `POST` (subtracted from the deliveries' writes).
const CALIBRATION_POSTS: u64 = 50;
/// The fixed-rate phase never asks for more events per second than this (one
/// publishing connection, waiting for each answer).
const MAX_FIXED_EVENTS_PER_SECOND: u64 = 1000;
/// After the calibration `POST`s, time for the servers to finish what they do
/// for them (with Redis: each process relays them), so their writes are counted.
const CALIBRATION_SETTLE: Duration = Duration::from_millis(50);
/// Once publishing ends, how long deliveries may keep arriving.
const DRAIN_QUIET: Duration = Duration::from_millis(500);
const DRAIN_MAX: Duration = Duration::from_secs(10);

/// Runs every scenario asked for; prints the report. Returns false when a
/// fixed-rate phase lost deliveries, a per-request reply failed its check, or a
/// run failed.
pub(crate) fn run(options: &Options) -> io::Result<bool> {
    let broadcast: Vec<Kind> = if options.broadcast {
        options
            .servers
            .iter()
            .copied()
            .filter(|kind| kind.serves_events())
            .collect()
    } else {
        Vec::new()
    };
    let per_request = if options.per_request {
        crate::generate::servers(options)
    } else {
        Vec::new()
    };
    let all: Vec<Kind> = broadcast.iter().chain(&per_request).copied().collect();
    let examples = if options.build {
        server::build_demos(&all)?
    } else {
        std::env::current_exe()?
            .parent()
            .map(|dir| dir.join("examples"))
            .ok_or_else(|| io::Error::other("no exe dir"))?
    };
    let config = ServerConfig {
        history: options.history,
        max_lag: options.max_lag,
        policy: options.policy.clone(),
        keep_alive: 0,
        examples,
    };
    let mut markdown = String::new();
    let mut passed = true;
    if !broadcast.is_empty() {
        let options = Options {
            servers: broadcast,
            ..options.clone()
        };
        let (report, ok) = run_broadcast(&options, &config)?;
        markdown.push_str(&report);
        passed &= ok;
    }
    if !per_request.is_empty() {
        let report = crate::generate::run(options, &config);
        if !markdown.is_empty() {
            markdown.push('\n');
        }
        markdown.push_str(&report.markdown());
        passed &= report.passed();
    }
    print!("{markdown}");
    if let Some(out) = &options.out {
        std::fs::write(out, &markdown)?;
    }
    Ok(passed)
}

/// The broadcast scenario: its report, and whether it passed.
fn run_broadcast(options: &Options, config: &ServerConfig) -> io::Result<(String, bool)> {
    if let Some(dir) = &options.perf {
        std::fs::create_dir_all(dir)?;
    }
    let mut report = Report::new(options);
    let started = Instant::now();
    for rep in 0..options.reps {
        for &clients in &options.clients {
            for &kind in &options.servers {
                eprintln!(
                    "[{:>5.0}s] rep {}/{} N={clients} {}",
                    started.elapsed().as_secs_f64(),
                    rep + 1,
                    options.reps,
                    kind.name()
                );
                match run_server(kind, clients, rep, options, config) {
                    Ok((memory, runs)) => {
                        report.memory.push(memory);
                        report.runs.extend(runs);
                    }
                    Err(error) => {
                        let message =
                            format!("{} N={clients} rep {}: {error}", kind.name(), rep + 1);
                        eprintln!("  FAILED: {message}");
                        report.failures.push(message);
                    }
                }
            }
        }
    }
    report.elapsed = started.elapsed();
    let markdown = report.markdown();
    let lost = report.fixed_rate_losses();
    for loss in &lost {
        eprintln!("LOSS at fixed rate: {loss}");
    }
    Ok((markdown, lost.is_empty() && report.failures.is_empty()))
}

/// The event data: the stamp, padded with `x` to `size` bytes.
fn event_data(phase: usize, size: usize) -> String {
    let mut data = format!("{:020} {:03} ", now_ns(), phase % 1000);
    data.extend(std::iter::repeat_n('x', size.saturating_sub(data.len())));
    data
}

/// One server (one process, or the Redis rows' processes): connect, measure
/// memory, then both phases for every size.
fn run_server(
    kind: Kind,
    clients: usize,
    rep: usize,
    options: &Options,
    config: &ServerConfig,
) -> io::Result<(MemoryResult, Vec<RunResult>)> {
    let server = Deployment::start(kind, config)?;
    let mut http = HttpClient::new(server.publish_addr());
    let count_writes = WriteCount::available();
    let writes_per_post = calibrate(&server, &mut http, count_writes)?;

    let rss_before = server.rss_kib()?;
    let load = Clients::start(&server.addrs(), clients, options.client_threads)?;
    load.wait_streaming(clients, Duration::from_secs(60))?;
    std::thread::sleep(Duration::from_millis(300));
    let rss_after = server.rss_kib()?;
    let memory = MemoryResult {
        kind,
        clients,
        bytes_per_connection: (rss_after as f64 - rss_before as f64) * 1024.0 / clients as f64,
    };
    eprintln!(
        "  {clients} streaming; {:.0} B per connection",
        memory.bytes_per_connection
    );

    let mut runs = Vec::new();
    let mut phase = 1;
    let sizes: &[usize] = if options.idle_only {
        &[]
    } else {
        &options.sizes
    };
    for &size in sizes {
        let warm = phase;
        let measured = Measure {
            server: &server,
            load: &load,
            writes_per_post,
            count_writes,
        };
        // Warm-up: every client gets a few events of this size first.
        for _ in 0..5 {
            http.publish(&event_data(warm, size))?;
            std::thread::sleep(Duration::from_millis(10));
        }
        let target = 5 * alive(&load) as u64;
        let deadline = Instant::now() + Duration::from_secs(10);
        while load.deliveries(warm) < target && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }

        let events_per_second =
            (options.rate / clients as u64).clamp(1, MAX_FIXED_EVENTS_PER_SECOND);
        let fixed = measured.phase(&mut http, phase + 1, None, |http| {
            publish_fixed(http, events_per_second, options.seconds, phase + 1, size)
        })?;
        let perf = match &options.perf {
            Some(dir) if rep == 0 => Some(PerfRecord::start(
                &server.pids(),
                &dir.join(format!("{}-{clients}-{size}.data", kind.key())),
            )?),
            _ => None,
        };
        let full = measured.phase(&mut http, phase + 2, perf, |_| {
            publish_full(
                server.publish_addr(),
                options.publishers,
                options.seconds,
                phase + 2,
                size,
            )
        })?;
        eprintln!(
            "  {size} B: fixed {} ev/s p99 {:.2} ms missing {}; full {:.0} k deliveries/s ({:.1}% delivered) p99 {:.1} ms",
            events_per_second,
            fixed.p99_ns / 1e6,
            fixed.expected.saturating_sub(fixed.delivered),
            full.deliveries_per_second / 1e3,
            100.0 * full.delivered as f64 / full.expected.max(1) as f64,
            full.p99_ns / 1e6,
        );
        runs.push(RunResult {
            kind,
            clients,
            size,
            fixed,
            full,
            events_per_second,
        });
        phase += 3;
    }
    if load.malformed() > 0 {
        return Err(io::Error::other(format!(
            "{} events without a send time",
            load.malformed()
        )));
    }
    // The server goes first, so the TIME_WAIT sockets are its own (its port changes
    // every run) and the load's ports are free for the next run.
    drop(server);
    drop(load);
    Ok((memory, runs))
}

/// Publishes a few events with no client connected; returns how many write calls
/// (all server processes together) answering one `POST` takes.
fn calibrate(server: &Deployment, http: &mut HttpClient, count_writes: bool) -> io::Result<f64> {
    let writes = Writes::start(server, count_writes)?;
    for _ in 0..CALIBRATION_POSTS {
        http.publish(&event_data(0, 64))?;
    }
    std::thread::sleep(CALIBRATION_SETTLE);
    Ok(writes.stop(server)? as f64 / CALIBRATION_POSTS as f64)
}

/// A server's write system calls from now on: every kind, counted by `perf`
/// where it can (see [`WriteCount`]), else `syscw`, which misses `send*`.
struct Writes {
    count: Option<WriteCount>,
    syscw: u64,
}

impl Writes {
    fn start(server: &Deployment, count_writes: bool) -> io::Result<Writes> {
        let count = count_writes
            .then(|| WriteCount::start(&server.pids()))
            .flatten();
        if count.is_some() {
            std::thread::sleep(PERF_ATTACH);
        }
        let syscw = server.sample()?.syscw;
        Ok(Writes { count, syscw })
    }

    fn stop(self, server: &Deployment) -> io::Result<u64> {
        let syscw = server.sample()?.syscw - self.syscw;
        Ok(self.count.and_then(WriteCount::stop).unwrap_or(syscw))
    }
}

fn alive(load: &Clients) -> usize {
    load.streaming().saturating_sub(load.closed())
}

struct Measure<'a> {
    server: &'a Deployment,
    load: &'a Clients,
    writes_per_post: f64,
    count_writes: bool,
}

/// Counters from `/stats`: ours have `dropped` and `lag_disconnects`; the
/// baselines, `lagged` (frames skipped by lagging receivers).
#[derive(Clone, Copy, Debug, Default)]
struct ServerCounters {
    dropped: u64,
    lag_disconnects: u64,
}

/// The counters of every server process, summed: `publisher` asks the first
/// (it is connected to it), a fresh connection each of the others.
fn counters(publisher: &mut HttpClient, server: &Deployment) -> io::Result<ServerCounters> {
    let mut total = process_counters(publisher)?;
    for &addr in &server.addrs()[1..] {
        let other = process_counters(&mut HttpClient::new(addr))?;
        total.dropped += other.dropped;
        total.lag_disconnects += other.lag_disconnects;
    }
    Ok(total)
}

fn process_counters(http: &mut HttpClient) -> io::Result<ServerCounters> {
    let stats = http.stats()?;
    let get = |name: &str| {
        stats
            .get(name)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    Ok(ServerCounters {
        dropped: get("dropped") + get("lagged"),
        lag_disconnects: get("lag_disconnects"),
    })
}

impl Measure<'_> {
    /// Publishes with `publish` (which returns how many events the server took),
    /// waits for the deliveries, and measures.
    fn phase(
        &self,
        http: &mut HttpClient,
        phase: usize,
        perf: Option<PerfRecord>,
        publish: impl FnOnce(&mut HttpClient) -> io::Result<u64>,
    ) -> io::Result<PhaseResult> {
        let alive = alive(self.load) as u64;
        let closed_before = self.load.closed();
        let counters_before = counters(http, self.server)?;
        let writes = Writes::start(self.server, self.count_writes)?;
        let server_before = self.server.sample()?;
        let redis_before = self.server.redis_sample()?;
        let load_before = server::sample("self")?;
        let busy_before = server::machine_busy()?;
        let start_ns = now_ns();
        let started = Instant::now();

        let published = publish(http)?;
        let expected = published * alive;
        let mut last = 0;
        let mut last_change = Instant::now();
        let deadline = Instant::now() + DRAIN_MAX;
        loop {
            let delivered = self.load.deliveries(phase);
            if delivered >= expected || Instant::now() > deadline {
                break;
            }
            if delivered != last {
                last = delivered;
                last_change = Instant::now();
            } else if last_change.elapsed() > DRAIN_QUIET {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(perf);
        let wall = started.elapsed().as_secs_f64();
        let writes = writes.stop(self.server)?;

        let server_after = self.server.sample()?;
        let redis_after = self.server.redis_sample()?;
        let load_after = server::sample("self")?;
        let busy_after = server::machine_busy()?;
        let counters_after = counters(http, self.server)?;
        let stats = self.load.phase(phase);
        let delivered = stats.deliveries.max(1) as f64;
        let ticks = server::clock_ticks() as f64;
        let per_delivery =
            |before: u64, after: u64| (after - before) as f64 * 1e9 / ticks / delivered;
        let cpu = |before: &ProcSample, after: &ProcSample| {
            (
                per_delivery(before.utime, after.utime),
                per_delivery(before.stime, after.stime),
            )
        };
        let (user_ns, system_ns) = cpu(&server_before, &server_after);
        let (load_user, load_system) = cpu(&load_before, &load_after);
        let writes = writes as f64 - self.writes_per_post * published as f64;
        let server_ticks = server_after.ticks() - server_before.ticks();
        let load_ticks = load_after.ticks() - load_before.ticks();
        let redis_ticks = match (redis_before, redis_after) {
            (Some(before), Some(after)) => Some(after.ticks() - before.ticks()),
            _ => None,
        };
        let seconds = (stats.last_ns.saturating_sub(start_ns)) as f64 / 1e9;
        Ok(PhaseResult {
            published,
            expected,
            delivered: stats.deliveries,
            deliveries_per_second: if seconds > 0.0 {
                stats.deliveries as f64 / seconds
            } else {
                f64::NAN
            },
            p50_ns: stats.latency.quantile(0.50) as f64,
            p99_ns: stats.latency.quantile(0.99) as f64,
            user_ns,
            system_ns,
            load_ns: load_user + load_system,
            redis_ns: redis_ticks.map_or(f64::NAN, |t| t as f64 * 1e9 / ticks / delivered),
            server_cores: server_ticks as f64 / ticks / wall,
            load_cores: load_ticks as f64 / ticks / wall,
            other_cores: (busy_after - busy_before)
                .saturating_sub(server_ticks + load_ticks + redis_ticks.unwrap_or(0))
                as f64
                / ticks
                / wall,
            deliveries_per_write: if writes >= 1.0 {
                stats.deliveries as f64 / writes
            } else {
                f64::NAN
            },
            drops: counters_after.dropped - counters_before.dropped,
            lag_disconnects: counters_after.lag_disconnects - counters_before.lag_disconnects,
            closed: (self.load.closed() - closed_before) as u64,
        })
    }
}

/// Publishes `rate` events per second for `seconds`, on schedule (open loop: a
/// late answer does not delay the next event's send time more than it must).
fn publish_fixed(
    http: &mut HttpClient,
    rate: u64,
    seconds: f64,
    phase: usize,
    size: usize,
) -> io::Result<u64> {
    let count = ((rate as f64 * seconds).round() as u64).max(1);
    let start = Instant::now();
    let mut accepted = 0;
    for k in 0..count {
        let due = start + Duration::from_secs_f64(k as f64 / rate as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        accepted += u64::from(http.publish(&event_data(phase, size))?);
    }
    Ok(accepted)
}

/// Publishes as fast as `publishers` connections can for `seconds`, each waiting
/// for its answer before the next (closed loop).
fn publish_full(
    addr: SocketAddr,
    publishers: usize,
    seconds: f64,
    phase: usize,
    size: usize,
) -> io::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..publishers)
            .map(|_| {
                scope.spawn(move || -> io::Result<u64> {
                    let mut http = HttpClient::new(addr);
                    let mut accepted = 0;
                    while Instant::now() < deadline {
                        accepted += u64::from(http.publish(&event_data(phase, size))?);
                    }
                    Ok(accepted)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|thread| {
                thread
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("publisher panicked")))
            })
            .sum()
    })
}
