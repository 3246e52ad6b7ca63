//! `sse-load`: end-to-end load over loopback, our demo servers side by side with
//! axum's own SSE, in one run.
//!
//! ```text
//! cargo run --release -p sse-load                   # the full run (~14 min on 2 cores)
//! cargo run --release -p sse-load -- --quick        # a smoke run (CI): N=10, 64 B, 1 rep
//! cargo run --release -p sse-load -- --help         # every flag
//! ```
//!
//! For each server, number of clients N and repetition, the tool starts the server
//! in its own process on 127.0.0.1 (our four demo servers, built first with cargo;
//! the two baselines through this binary's `serve` subcommand), opens N raw HTTP/1.1
//! `GET /events` connections from its own process, and publishes with
//! `POST /publish` for each event size: first at a fixed rate (latency and cost when
//! not overloaded: every delivery must arrive, or the tool exits non-zero), then at
//! full speed (throughput under overload). The Redis row (`axum-redis`, in `all`
//! when `redis-server` is installed) runs two processes of a demo server relaying
//! through a `redis-server` the tool starts, with the clients split between them.
//! Then the per-request scenario (`--scenario generate`, in `all`): N concurrent
//! `POST /generate` streams against our demos and axum's own `Sse::new(stream)`,
//! flooding (`rate: 0`) and paced, every reply checked whole.
//! It prints a Markdown report on stdout; progress goes to stderr. See
//! `crates/sse-load/README.md` for what each figure means and how it is measured.
#![forbid(unsafe_code)]

mod actix;
mod baseline;
mod chunked;
mod client;
mod generate;
mod http;
mod report;
mod run;
mod server;
mod stats;
mod writes;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use generate::GenerateOptions;
use server::Kind;

const USAGE: &str = "\
sse-load: our SSE demo servers against axum's and actix-web-lab's SSE, end to end
over loopback.

Usage:
  sse-load [OPTIONS]            run the load and print a Markdown report
  sse-load serve axum-sse|axum-bytes|actix-sse|hyper-floor|axum-sse-stream|actix-sse-stream
                [--addr ADDR] [--capacity N]
                                serve a baseline (the load run starts these itself)

Options:
  --quick                 smoke run: N=10, 64 B, 1 rep, short phases; per-request
                          streams N=10 for 0.4 s a mode (exit 1 on loss, a
                          reordered word or a reply without done)
  --scenario S            broadcast (GET /events, publish), generate (per-request
                          POST /generate streams), idle (broadcast's memory per
                          idle connection only: N streams open, nothing
                          published), or all [default: all]
  --servers LIST          all, ours, baselines, redis, or names: hyper,axum,warp,
                          smol, axum-redis, axum-sse,axum-bytes,actix-sse,
                          hyper-floor (not in all: axum-bytes on hyper's bare
                          HTTP/1 connection, the floor of memory per idle
                          stream) [default: all]; the per-request scenario always runs
                          both of its baselines (axum-sse-stream, actix-sse-stream);
                          X-redis (also hyper-, warp-, smol-redis; `redis`: the
                          four) is two processes of demo X relaying through a
                          redis-server the tool starts, skipped with a note when
                          redis-server is not installed
  --clients LIST          numbers of connections [default: 100,1000,10000]
  --sizes LIST            event data sizes in bytes, at least 25 [default: 64,1024]
  --reps N                repetitions [default: 3]
  --seconds S             length of each publishing phase [default: 2]
  --rate R                fixed-rate phase: deliveries per second, i.e. R/N events
                          per second (at most 1000 events/s) [default: 20000]
  --publishers P          full-speed phase: publishing connections [default: 16]
  --client-threads T      load threads, each with its own epoll [default: 2]
  --history N             our hub's history per log [default: 1024]
  --max-lag N             our hub's max lag, and the baselines' broadcast capacity
                          [default: 256]
  --policy P              our lag policy: drop-oldest (like broadcast's Lagged) or
                          disconnect [default: drop-oldest]
  --variant LABEL=PATH    also run the demo server binary PATH, labelled LABEL, as
                          ours are (repeatable): to measure a change side by side
  --gen-clients LIST      generate: numbers of concurrent streams [default: 100,1000]
  --gen-seconds S         generate: measured window of each mode [default: 3]
  --gen-words W           generate: words per reply when flooding [default: 1000]
  --gen-rate R            generate: paced words per second per stream, replies of
                          one second [default: 50]
  --gen-plain-only        generate: plain replies only (\"resumable\": false);
                          otherwise our demos also run resumable ones (flood,
                          paced, and resume: each reply dropped once mid-reply
                          and resumed with Last-Event-ID)
  --gen-outage P          generate, resume: a dropped connection waits P paced
                          periods before it resumes [default: 3]
  --no-build              do not run cargo to build the demo servers
  --out FILE              also write the report to FILE
  --perf DIR              perf record -g each server during its full-speed phases
  -h, --help              print this";

/// What the flags say.
#[derive(Clone, Debug)]
struct Options {
    servers: Vec<Kind>,
    clients: Vec<usize>,
    sizes: Vec<usize>,
    reps: usize,
    seconds: f64,
    rate: u64,
    publishers: usize,
    client_threads: usize,
    history: usize,
    max_lag: usize,
    policy: String,
    build: bool,
    out: Option<PathBuf>,
    perf: Option<PathBuf>,
    quick: bool,
    /// Which scenarios run.
    broadcast: bool,
    per_request: bool,
    /// Broadcast measures memory only (`--scenario idle`): no publishing phase.
    idle_only: bool,
    /// The per-request scenario's settings.
    generate: GenerateOptions,
    command_line: String,
    /// Said in the report's head: what was left out and why.
    notes: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            servers: Kind::ALL.to_vec(),
            clients: vec![100, 1000, 10_000],
            sizes: vec![64, 1024],
            reps: 3,
            seconds: 2.0,
            rate: 20_000,
            publishers: 16,
            client_threads: 2,
            history: 1024,
            max_lag: 256,
            policy: "drop-oldest".into(),
            build: true,
            out: None,
            perf: None,
            quick: false,
            broadcast: true,
            per_request: true,
            idle_only: false,
            generate: GenerateOptions::full(),
            command_line: String::new(),
            notes: Vec::new(),
        }
    }
}

fn list<T: std::str::FromStr>(flag: &str, value: &str) -> Result<Vec<T>, String> {
    value
        .split(',')
        .map(|v| {
            v.trim()
                .parse()
                .map_err(|_| format!("{flag}: bad value {v:?}"))
        })
        .collect()
}

fn one<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("{flag}: bad value {value:?}"))
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut options = Options {
        command_line: std::iter::once("sse-load")
            .chain(args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        ..Options::default()
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .map(String::as_str)
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--quick" => {
                options.quick = true;
                options.clients = vec![10];
                options.sizes = vec![64];
                options.reps = 1;
                options.seconds = 0.4;
                options.generate = GenerateOptions::quick();
            }
            "--scenario" => {
                let scenario = value()?;
                options.idle_only = scenario == "idle";
                (options.broadcast, options.per_request) = match scenario {
                    "broadcast" | "idle" => (true, false),
                    "generate" => (false, true),
                    "all" => (true, true),
                    other => return Err(format!("--scenario: unknown scenario {other:?}")),
                };
            }
            "--gen-clients" => options.generate.clients = list(flag, value()?)?,
            "--gen-seconds" => options.generate.seconds = one(flag, value()?)?,
            "--gen-words" => options.generate.flood_words = one(flag, value()?)?,
            "--gen-plain-only" => options.generate.resumable = false,
            "--gen-outage" => options.generate.outage_periods = one(flag, value()?)?,
            "--gen-rate" => {
                let rate: f64 = one(flag, value()?)?;
                if !(1.0..=1000.0).contains(&rate) {
                    return Err("--gen-rate: from 1 to 1000 words per second".into());
                }
                options.generate.paced_rate = rate;
                options.generate.paced_words = rate.round() as u64;
            }
            "--servers" => {
                options.servers = match value()? {
                    "all" => Kind::ALL.to_vec(),
                    "ours" => Kind::ALL.into_iter().filter(|k| k.is_ours()).collect(),
                    "baselines" => Kind::ALL.into_iter().filter(|k| !k.is_ours()).collect(),
                    "redis" => Kind::REDIS.to_vec(),
                    names => names
                        .split(',')
                        .map(|n| Kind::parse(n).ok_or_else(|| format!("unknown server {n:?}")))
                        .collect::<Result<_, _>>()?,
                };
            }
            "--clients" => options.clients = list(flag, value()?)?,
            "--sizes" => options.sizes = list(flag, value()?)?,
            "--reps" => options.reps = one(flag, value()?)?,
            "--seconds" => options.seconds = one(flag, value()?)?,
            "--rate" => options.rate = one(flag, value()?)?,
            "--publishers" => options.publishers = one(flag, value()?)?,
            "--client-threads" => options.client_threads = one(flag, value()?)?,
            "--history" => options.history = one(flag, value()?)?,
            "--max-lag" => options.max_lag = one(flag, value()?)?,
            "--policy" => {
                options.policy = match value()? {
                    p @ ("drop-oldest" | "disconnect") => p.to_string(),
                    other => return Err(format!("--policy: unknown policy {other:?}")),
                };
            }
            "--variant" => {
                let spec = value()?;
                let kind = Kind::variant(spec).ok_or_else(|| format!("--variant: bad {spec:?}"))?;
                options.servers.push(kind);
            }
            "--no-build" => options.build = false,
            "--out" => options.out = Some(value()?.into()),
            "--perf" => options.perf = Some(value()?.into()),
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    if options.sizes.iter().any(|&s| s < run::STAMP_LEN) {
        return Err(format!("--sizes: at least {} bytes", run::STAMP_LEN));
    }
    if options.clients.contains(&0)
        || options.generate.clients.contains(&0)
        || options.reps == 0
        || options.servers.is_empty()
    {
        return Err("nothing to run".into());
    }
    if !(options.seconds > 0.0 && options.seconds < 600.0) {
        return Err("--seconds: between 0 and 600".into());
    }
    if !(options.generate.seconds > 0.0 && options.generate.seconds < 600.0) {
        return Err("--gen-seconds: between 0 and 600".into());
    }
    if !(1..=1_000_000).contains(&options.generate.flood_words) {
        return Err("--gen-words: from 1 to 1000000".into());
    }
    options.publishers = options.publishers.clamp(1, 16);
    options.client_threads = options.client_threads.clamp(1, 64);
    Ok(Some(options))
}

/// Leaves out the Redis rows when `redis-server` cannot be run, with a note.
fn skip_redis_if_missing(options: &mut Options) {
    if !options.servers.iter().any(|kind| kind.is_redis())
        || sse_testkit::redis::RedisServer::available()
    {
        return;
    }
    let skipped: Vec<&str> = options
        .servers
        .iter()
        .filter(|kind| kind.is_redis())
        .map(|kind| kind.key())
        .collect();
    let note = format!(
        "redis-server is not installed (the Debian package redis-server): skipped {}.",
        skipped.join(", ")
    );
    eprintln!("note: {note}");
    options.notes.push(note);
    options.servers.retain(|kind| !kind.is_redis());
}

/// `serve BASELINE [--addr ADDR] [--capacity N]`.
fn serve(args: &[String]) -> Result<(), String> {
    let name = args.first().map(String::as_str);
    let baseline = Kind::ALL
        .into_iter()
        .chain(Kind::EXTRA)
        .chain(Kind::STREAM_BASELINES)
        .find(|kind| !kind.is_ours() && Some(kind.key()) == name)
        .ok_or_else(|| format!("serve: unknown baseline {name:?}"))?;
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 8080));
    let mut capacity = 256;
    let mut rest = args[1..].iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => addr = one(flag, value)?,
            "--capacity" => capacity = one::<usize>(flag, value)?.max(1),
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    let served = match baseline {
        Kind::Baseline(baseline) => baseline::serve(baseline, addr, capacity),
        Kind::StreamBaseline(baseline) => baseline.serve(addr),
        other => return Err(format!("serve: {} is not a baseline", other.name())),
    };
    served.map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        return match serve(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::from(2)
            }
        };
    }
    let mut options = match parse(&args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    skip_redis_if_missing(&mut options);
    if options.servers.is_empty() {
        eprintln!("error: nothing to run");
        return ExitCode::from(2);
    }
    match run::run(&options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
