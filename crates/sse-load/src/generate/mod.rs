//! The per-request scenario: N concurrent `POST /generate` streams against every
//! demo server, actix-web-lab's `Sse::from_infallible_receiver` ([`actix`], the
//! leader the ratios compare with) and axum's own `Sse::new(stream)`
//! ([`baseline`]), in two modes:
//!
//! - **flood**: `rate: 0`, replies of `--gen-words` words the producer sends as
//!   fast as the response takes them (a bounded channel: backpressure). The most
//!   tokens per second a server delivers, and what each costs.
//! - **paced**: `rate: --gen-rate` words per second per stream, replies of one
//!   second: what a token's delivery adds to its schedule when nothing is
//!   overloaded.
//!
//! For each repetition, N and server: the server starts in its own process; for
//! each mode, N connections stream replies back to back ([`client`]), a warm-up
//! passes, then for `--gen-seconds` the tool counts the words that arrive and
//! samples the server's CPU time and write calls (`/proc`) at both ends; then it
//! stops sending requests and lets every reply under way finish. Every reply is
//! checked whole ([`check`]): one lost, extra or reordered word, or a reply that
//! does not end with `done`, fails the run.
//!
//! Our demos' replies are resumable by default; the modes above ask for plain
//! ones (`"resumable": false`), which every server serves. Against our demos the
//! same two modes then run with resumable replies ([`resumable`]'s check), and a
//! third, **resume**: paced resumable replies whose connections each drop once
//! mid-reply and resume with `GET /generate/{key}` and `Last-Event-ID` after an
//! outage, timing the reconnect to the first missed word ([`resume_report`]).

pub(crate) mod actix;
pub(crate) mod baseline;
mod check;
mod client;
mod report;
mod request;
mod resumable;
mod resume_report;
mod words;

use std::io;
use std::time::{Duration, Instant};

use crate::Options;
use crate::server::{self, Deployment, Kind, ProcSample, ServerConfig};
use crate::writes::{PERF_ATTACH, WriteCount};
use client::{Ask, GenerateClients, Tally};
pub(crate) use report::GenerateReport;

/// Once requests stop, how long the replies under way may take to end.
const DRAIN_MAX: Duration = Duration::from_secs(30);
/// After `perf stat` starts, time for it to attach before the words it sees
/// writing are counted.
/// How long every connection may take to receive its first word.
const START_MAX: Duration = Duration::from_secs(60);
/// The keep-alive our demos run with here: `KeepAlive::default()`'s 15 s, so
/// both sides keep the same idle timer (neither fires in a run).
pub(crate) const KEEP_ALIVE_SECONDS: u64 = 15;

/// The scenario's settings (from the flags).
#[derive(Clone, Debug)]
pub(crate) struct GenerateOptions {
    /// Numbers of concurrent streams.
    pub(crate) clients: Vec<usize>,
    /// The measured window of each mode.
    pub(crate) seconds: f64,
    /// Before it, once every stream has its first word.
    pub(crate) warm_up: f64,
    /// Words per flood reply.
    pub(crate) flood_words: u64,
    /// Paced: words per second per stream.
    pub(crate) paced_rate: f64,
    /// Words per paced reply.
    pub(crate) paced_words: u64,
    /// Also run resumable replies against our demos (flood, paced, resume).
    pub(crate) resumable: bool,
    /// Of those, only the resume mode (`--quick`: it checks the resumable
    /// framing and resuming in a second a server).
    pub(crate) resume_only: bool,
    /// Resume mode: how long a dropped connection waits before it reconnects,
    /// in paced periods (so the words it missed are there when it asks).
    pub(crate) outage_periods: u32,
}

impl GenerateOptions {
    /// The full run: N = 100 and 1 000, 3 s a mode.
    pub(crate) fn full() -> Self {
        GenerateOptions {
            clients: vec![100, 1000],
            seconds: 3.0,
            warm_up: 0.5,
            flood_words: 1000,
            paced_rate: 50.0,
            paced_words: 50,
            resumable: true,
            resume_only: false,
            outage_periods: 3,
        }
    }

    /// `--quick`: N = 10, a fraction of a second a mode.
    pub(crate) fn quick() -> Self {
        GenerateOptions {
            clients: vec![10],
            seconds: 0.4,
            warm_up: 0.1,
            flood_words: 250,
            paced_rate: 50.0,
            paced_words: 10,
            resumable: true,
            resume_only: true,
            outage_periods: 3,
        }
    }

    fn ask(&self, mode: Mode, resumable: bool) -> Ask {
        let (words, rate) = match mode {
            Mode::Flood => (self.flood_words, 0.0),
            Mode::Paced | Mode::Resume => (self.paced_words, self.paced_rate),
        };
        let outage = Duration::from_secs_f64(f64::from(self.outage_periods) / self.paced_rate);
        Ask {
            words,
            rate,
            resumable,
            resume: (mode == Mode::Resume).then_some(outage),
        }
    }
}

/// How replies are paced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `rate: 0`.
    Flood,
    /// `rate: --gen-rate`.
    Paced,
    /// Paced resumable replies, each dropped once mid-reply and resumed.
    Resume,
}

/// What one mode measured for one server, N and repetition.
#[derive(Clone, Debug)]
pub(crate) struct ModeResult {
    pub(crate) kind: Kind,
    pub(crate) clients: usize,
    pub(crate) mode: Mode,
    /// Resumable replies (otherwise plain ones).
    pub(crate) resumable: bool,
    /// Words that arrived in the window, per second.
    pub(crate) tokens_per_second: f64,
    /// Server CPU time per word (ns).
    pub(crate) user_ns: f64,
    pub(crate) system_ns: f64,
    /// Words per server write call.
    pub(crate) tokens_per_write: f64,
    pub(crate) first_word_p50: f64,
    pub(crate) first_word_p99: f64,
    /// Paced: p99 of word delays against the schedule, and of gaps over the
    /// median gap (NaN when flooding).
    pub(crate) schedule_p99: f64,
    pub(crate) jitter_p99: f64,
    /// Resume: the reconnect's start → the first missed word, p50 and p99 (NaN
    /// otherwise), and how many replies resumed.
    pub(crate) resume_p50: f64,
    pub(crate) resume_p99: f64,
    pub(crate) resumes: u64,
    /// Replies that came whole (window and drain).
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    pub(crate) load_ns: f64,
    pub(crate) server_cores: f64,
    pub(crate) load_cores: f64,
    pub(crate) other_cores: f64,
}

/// A per-request baseline: a framework's own SSE response, served by `sse-load
/// serve KEY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StreamBaseline {
    /// axum's `Sse::new(stream)` ([`baseline`]).
    Axum,
    /// actix-web-lab's `Sse::from_infallible_receiver` ([`actix`]).
    Actix,
}

impl StreamBaseline {
    /// Its name: the report's label and what `serve` takes.
    pub(crate) fn key(self) -> &'static str {
        match self {
            StreamBaseline::Axum => "axum-sse-stream",
            StreamBaseline::Actix => "actix-sse-stream",
        }
    }

    /// Serves it on `addr` until killed.
    pub(crate) fn serve(self, addr: std::net::SocketAddr) -> io::Result<()> {
        match self {
            StreamBaseline::Axum => baseline::serve(addr),
            StreamBaseline::Actix => actix::serve(addr),
        }
    }
}

/// The servers the scenario runs: ours (and variants) from `--servers`, then both
/// baselines (the ratios compare with actix-web-lab's).
pub(crate) fn servers(options: &Options) -> Vec<Kind> {
    options
        .servers
        .iter()
        .copied()
        .filter(|kind| kind.serves_generate() && !Kind::STREAM_BASELINES.contains(kind))
        .chain(Kind::STREAM_BASELINES)
        .collect()
}

/// Runs the scenario for every repetition, N and server; failures are in the
/// report.
pub(crate) fn run(options: &Options, config: &ServerConfig) -> GenerateReport {
    let settings = &options.generate;
    let servers = servers(options);
    let config = ServerConfig {
        keep_alive: KEEP_ALIVE_SECONDS,
        ..config.clone()
    };
    let perf = WriteCount::available();
    if !perf {
        eprintln!("note: perf cannot count syscalls here: tokens/write from syscw (no send*)");
    }
    let mut report = GenerateReport::new(options, &servers, perf);
    let started = Instant::now();
    for rep in 0..options.reps {
        for &clients in &settings.clients {
            for &kind in &servers {
                eprintln!(
                    "[{:>5.0}s] generate: rep {}/{} N={clients} {}",
                    started.elapsed().as_secs_f64(),
                    rep + 1,
                    options.reps,
                    kind.name()
                );
                let server = match Deployment::start(kind, &config) {
                    Ok(server) => server,
                    Err(error) => {
                        report.fail(format!(
                            "{} N={clients} rep {}: {error}",
                            kind.name(),
                            rep + 1
                        ));
                        continue;
                    }
                };
                let plain = [(Mode::Flood, false), (Mode::Paced, false)];
                let resumable = [
                    (Mode::Flood, true),
                    (Mode::Paced, true),
                    (Mode::Resume, true),
                ];
                let resumable = match (settings.resumable && kind.is_ours(), settings.resume_only) {
                    (false, _) => &[][..],
                    (true, false) => &resumable[..],
                    (true, true) => &resumable[2..],
                };
                for &(mode, resumable) in plain.iter().chain(resumable) {
                    match run_mode(&server, kind, clients, mode, resumable, options, perf) {
                        Ok(result) => report.results.push(result),
                        Err(error) => report.fail(format!(
                            "{} N={clients} {mode:?}{} rep {}: {error}",
                            kind.name(),
                            if resumable { " resumable" } else { "" },
                            rep + 1
                        )),
                    }
                }
            }
        }
    }
    report.elapsed = started.elapsed();
    report
}

/// One mode against a running server.
fn run_mode(
    server: &Deployment,
    kind: Kind,
    clients: usize,
    mode: Mode,
    resumable: bool,
    options: &Options,
    perf: bool,
) -> io::Result<ModeResult> {
    let settings = &options.generate;
    let load = GenerateClients::start(
        server.publish_addr(),
        clients,
        options.client_threads,
        settings.ask(mode, resumable),
    )?;
    load.wait_streaming(clients, START_MAX)?;
    // Writes are counted by perf from the warm-up to the window's end, with the
    // words that arrived meanwhile.
    let counter = perf.then(|| WriteCount::start(&server.pids())).flatten();
    let warm_up = Duration::from_secs_f64(settings.warm_up);
    std::thread::sleep(PERF_ATTACH.min(warm_up));
    let counted_from = load.tokens();
    std::thread::sleep(warm_up.saturating_sub(PERF_ATTACH));

    let before = Sample::take(server, &load)?;
    load.measure(true);
    std::thread::sleep(Duration::from_secs_f64(settings.seconds));
    load.measure(false);
    let after = Sample::take(server, &load)?;
    let perf_writes = counter
        .and_then(WriteCount::stop)
        .map(|writes| (after.tokens.saturating_sub(counted_from), writes));
    let drained = load.drain(DRAIN_MAX);
    let tally = load.finish();
    if !drained {
        return Err(io::Error::other(format!(
            "replies still under way {} s after the requests stopped",
            DRAIN_MAX.as_secs()
        )));
    }
    let mut result = measure(kind, clients, mode, &before, &after, &tally);
    result.resumable = resumable;
    match perf_writes {
        Some((tokens, writes)) if writes > 0 => {
            result.tokens_per_write = tokens as f64 / writes as f64;
        }
        _ if perf => result.tokens_per_write = f64::NAN,
        _ => {}
    }
    eprintln!(
        "  {mode:?}{}: {:.0} k tokens/s, {:.2} µs CPU/token, {:.1} tokens/write, first word p99 {:.2} ms{}; {} replies, {} failed",
        if resumable { " resumable" } else { "" },
        result.tokens_per_second / 1e3,
        (result.user_ns + result.system_ns) / 1e3,
        result.tokens_per_write,
        result.first_word_p99 / 1e6,
        if mode == Mode::Paced {
            format!(
                ", delay p99 {:.2} ms, jitter p99 {:.2} ms",
                result.schedule_p99 / 1e6,
                result.jitter_p99 / 1e6
            )
        } else if mode == Mode::Resume {
            format!(
                ", {} resumed, resume p50 {:.2} ms, p99 {:.2} ms",
                result.resumes,
                result.resume_p50 / 1e6,
                result.resume_p99 / 1e6
            )
        } else {
            String::new()
        },
        result.completed,
        result.failed,
    );
    if tally.failed > 0 {
        return Err(io::Error::other(format!(
            "{} of {} replies failed: {}",
            tally.failed,
            tally.failed + tally.completed,
            tally.failures.join("; ")
        )));
    }
    if mode == Mode::Resume && tally.resumes == 0 {
        return Err(io::Error::other("no reply resumed"));
    }
    if tally.completed == 0 {
        return Err(io::Error::other("no reply completed"));
    }
    Ok(result)
}

/// Counters at one end of the window.
struct Sample {
    server: ProcSample,
    load: ProcSample,
    busy: u64,
    tokens: u64,
    at: Instant,
}

impl Sample {
    fn take(server: &Deployment, load: &GenerateClients) -> io::Result<Sample> {
        Ok(Sample {
            server: server.sample()?,
            load: server::sample("self")?,
            busy: server::machine_busy()?,
            tokens: load.tokens(),
            at: Instant::now(),
        })
    }
}

fn measure(
    kind: Kind,
    clients: usize,
    mode: Mode,
    before: &Sample,
    after: &Sample,
    tally: &Tally,
) -> ModeResult {
    let tokens = after.tokens.saturating_sub(before.tokens);
    let per_token = tokens.max(1) as f64;
    let wall = after.at.duration_since(before.at).as_secs_f64();
    let ticks = server::clock_ticks() as f64;
    let ns_per_token =
        |before: u64, after: u64| after.saturating_sub(before) as f64 * 1e9 / ticks / per_token;
    let server_ticks = after.server.ticks().saturating_sub(before.server.ticks());
    let load_ticks = after.load.ticks().saturating_sub(before.load.ticks());
    let writes = after.server.syscw.saturating_sub(before.server.syscw);
    let paced = |histogram: &crate::stats::Histogram| match mode {
        Mode::Paced => histogram.quantile(0.99) as f64,
        Mode::Flood | Mode::Resume => f64::NAN,
    };
    let resume = |q: f64| match mode {
        Mode::Resume => tally.resume.quantile(q) as f64,
        Mode::Flood | Mode::Paced => f64::NAN,
    };
    ModeResult {
        kind,
        clients,
        mode,
        resumable: false,
        tokens_per_second: tokens as f64 / wall,
        user_ns: ns_per_token(before.server.utime, after.server.utime),
        system_ns: ns_per_token(before.server.stime, after.server.stime),
        tokens_per_write: if writes > 0 {
            tokens as f64 / writes as f64
        } else {
            f64::NAN
        },
        first_word_p50: tally.first_word.quantile(0.50) as f64,
        first_word_p99: tally.first_word.quantile(0.99) as f64,
        schedule_p99: paced(&tally.schedule_delay),
        jitter_p99: paced(&tally.jitter),
        resume_p50: resume(0.50),
        resume_p99: resume(0.99),
        resumes: tally.resumes,
        completed: tally.completed,
        failed: tally.failed,
        load_ns: ns_per_token(before.load.ticks(), after.load.ticks()),
        server_cores: server_ticks as f64 / ticks / wall,
        load_cores: load_ticks as f64 / ticks / wall,
        other_cores: after
            .busy
            .saturating_sub(before.busy)
            .saturating_sub(server_ticks + load_ticks) as f64
            / ticks
            / wall,
    }
}
