//! The server under test: which one, building it, running it in its own process
//! (or, for the Redis rows, two processes and a `redis-server`; killed when
//! dropped), and what `/proc` says about it.

use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::baseline::Baseline;
use crate::generate::StreamBaseline;
use sse_testkit::redis::RedisServer;

/// How many demo processes share the Redis stream in a [`Kind::Redis`] run.
const REDIS_PROCESSES: usize = 2;

/// A server the tool can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// One of our demo servers (`examples/demo.rs` of an adapter crate).
    Ours(&'static str),
    /// One of our demo servers in [`REDIS_PROCESSES`] processes publishing and
    /// relaying through a Redis stream (`--redis`) on a `redis-server` of the
    /// tool's own: the clients are split between the processes, the publishing
    /// goes to the first.
    Redis(&'static str),
    /// A baseline, run by this tool's `serve` subcommand.
    Baseline(Baseline),
    /// A per-request scenario's baseline (`axum-sse-stream`, `actix-sse-stream`):
    /// a framework's own SSE response on `POST /generate`, run by `serve`.
    StreamBaseline(StreamBaseline),
    /// A demo server binary given on the command line (`--variant LABEL=PATH`), run
    /// as ours are: to measure a change side by side with the original.
    Variant {
        label: &'static str,
        path: &'static str,
    },
}

impl Kind {
    /// `--servers all`, the default: our four, one Redis row, the baselines.
    pub(crate) const ALL: [Kind; 8] = [
        Kind::Ours("hyper"),
        Kind::Ours("axum"),
        Kind::Ours("warp"),
        Kind::Ours("smol"),
        Kind::Redis("axum"),
        Kind::Baseline(Baseline::AxumSse),
        Kind::Baseline(Baseline::AxumBytes),
        Kind::Baseline(Baseline::ActixSse),
    ];

    /// The per-request scenario's baselines, which it always runs: actix-web-lab's
    /// (the leader, which the ratios compare with) and axum's.
    pub(crate) const STREAM_BASELINES: [Kind; 2] = [
        Kind::StreamBaseline(StreamBaseline::Axum),
        Kind::StreamBaseline(StreamBaseline::Actix),
    ];

    /// Rows only asked for by name, not in [`ALL`](Self::ALL): `hyper-floor`.
    pub(crate) const EXTRA: [Kind; 1] = [Kind::Baseline(Baseline::HyperFloor)];

    /// Every Redis row (`--servers redis`); only `axum-redis` is in
    /// [`ALL`](Self::ALL).
    pub(crate) const REDIS: [Kind; 4] = [
        Kind::Redis("hyper"),
        Kind::Redis("axum"),
        Kind::Redis("warp"),
        Kind::Redis("smol"),
    ];

    /// The row's label in the report.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Ours(adapter) => match adapter {
                "hyper" => "sse-hyper",
                "axum" => "sse-axum",
                "warp" => "sse-warp",
                _ => "sse-smol",
            },
            Kind::Redis(adapter) => match adapter {
                "hyper" => "sse-hyper ×2 + redis",
                "axum" => "sse-axum ×2 + redis",
                "warp" => "sse-warp ×2 + redis",
                _ => "sse-smol ×2 + redis",
            },
            Kind::Baseline(baseline) => baseline.key(),
            Kind::StreamBaseline(baseline) => baseline.key(),
            Kind::Variant { label, .. } => label,
        }
    }

    /// The name `--servers` takes (and `--perf` files are named after).
    pub(crate) fn key(self) -> &'static str {
        match self {
            Kind::Ours(adapter) => adapter,
            Kind::Redis(adapter) => match adapter {
                "hyper" => "hyper-redis",
                "axum" => "axum-redis",
                "warp" => "warp-redis",
                _ => "smol-redis",
            },
            Kind::Baseline(_) | Kind::StreamBaseline(_) | Kind::Variant { .. } => self.name(),
        }
    }

    /// A known server by its key (`axum`, `axum-redis`) or label (`sse-axum`).
    pub(crate) fn parse(name: &str) -> Option<Kind> {
        let name = name.trim();
        Kind::ALL
            .into_iter()
            .chain(Kind::REDIS)
            .chain(Kind::EXTRA)
            .chain(Kind::STREAM_BASELINES)
            .find(|kind| kind.key() == name || kind.name() == name)
    }

    pub(crate) fn is_ours(self) -> bool {
        !matches!(self, Kind::Baseline(_) | Kind::StreamBaseline(_))
    }

    /// Whether it serves `POST /generate` (the per-request scenario): our demos,
    /// variants of them, and the stream baselines.
    pub(crate) fn serves_generate(self) -> bool {
        matches!(
            self,
            Kind::Ours(_) | Kind::Variant { .. } | Kind::StreamBaseline(_)
        )
    }

    /// Whether it serves `GET /events` (the broadcast scenario).
    pub(crate) fn serves_events(self) -> bool {
        !matches!(self, Kind::StreamBaseline(_))
    }

    pub(crate) fn is_redis(self) -> bool {
        matches!(self, Kind::Redis(_))
    }

    /// `LABEL=PATH`, for `--variant`.
    pub(crate) fn variant(spec: &str) -> Option<Kind> {
        let (label, path) = spec.split_once('=')?;
        Some(Kind::Variant {
            label: Box::leak(label.to_string().into_boxed_str()),
            path: Box::leak(path.to_string().into_boxed_str()),
        })
    }
}

/// How every server is configured for a run.
#[derive(Clone, Debug)]
pub(crate) struct ServerConfig {
    /// Our hub's history (per log).
    pub(crate) history: usize,
    /// Our hub's `max_lag`, and the baselines' broadcast capacity.
    pub(crate) max_lag: usize,
    /// Our hub's lag policy: `drop-oldest` or `disconnect`.
    pub(crate) policy: String,
    /// Our demos' `--keep-alive` (seconds; 0: none).
    pub(crate) keep_alive: u64,
    /// Where the demo binaries are (`<target>/<profile>/examples`).
    pub(crate) examples: PathBuf,
}

/// Builds the demo servers of `kinds` (a no-op when they are fresh) with the cargo
/// that runs this tool, in the target directory and profile this binary lives in.
/// Returns where the binaries are.
pub(crate) fn build_demos(kinds: &[Kind]) -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe.parent().ok_or_else(|| io::Error::other("no exe dir"))?;
    let target_dir = profile_dir
        .parent()
        .ok_or_else(|| io::Error::other("no target dir"))?;
    let examples = profile_dir.join("examples");
    let mut ours: Vec<&str> = kinds
        .iter()
        .filter_map(|kind| match kind {
            Kind::Ours(adapter) | Kind::Redis(adapter) => Some(*adapter),
            Kind::Baseline(_) | Kind::StreamBaseline(_) | Kind::Variant { .. } => None,
        })
        .collect();
    ours.sort_unstable();
    ours.dedup();
    if ours.is_empty() {
        return Ok(examples);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command.arg("build");
    // The demos' profile is this tool's: release for measurements, debug for a smoke
    // run that reuses what `cargo test` built.
    if profile_dir
        .file_name()
        .is_some_and(|name| name == "release")
    {
        command.arg("--release");
    }
    command
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir);
    for adapter in &ours {
        command
            .arg("-p")
            .arg(format!("sse-{adapter}"))
            .arg("--example")
            .arg(format!("demo-{adapter}"));
    }
    eprintln!("building the demo servers: {command:?}");
    let status = command.status()?;
    if !status.success() {
        return Err(io::Error::other(format!("building the demos: {status}")));
    }
    Ok(examples)
}

/// A running server process; killed (SIGKILL) and reaped when dropped.
#[derive(Debug)]
struct Server {
    child: Child,
    pid: u32,
    addr: SocketAddr,
}

impl Server {
    /// Starts one process of `kind`; ours relay through the Redis at `redis`
    /// (`--redis URL`) when given.
    fn spawn(kind: Kind, config: &ServerConfig, redis: Option<&str>) -> io::Result<Server> {
        let mut command = server_command(kind, config)?;
        if let Some(url) = redis {
            command.args(["--redis", url]);
        }
        command.stdin(Stdio::null()).stdout(Stdio::piped());
        let mut child = command.spawn()?;
        let pid = child.id();
        let stdout = child.stdout.take().expect("piped");
        let (sender, receiver) = mpsc::channel();
        // Reads the address, then drains stdout until the server exits.
        std::thread::spawn(move || {
            let mut sender = Some(sender);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("listening on http://")
                    && let Some(sender) = sender.take()
                {
                    let _ = sender.send(addr.trim().to_string());
                }
            }
        });
        let mut server = Server {
            child,
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let addr = receiver
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| io::Error::other(format!("{} did not start", kind.name())))?;
        server.addr = addr
            .parse()
            .map_err(|_| io::Error::other(format!("bad address {addr:?}")))?;
        Ok(server)
    }
}

/// The command that starts one process of `kind`.
fn server_command(kind: Kind, config: &ServerConfig) -> io::Result<Command> {
    Ok(match kind {
        Kind::Ours(adapter) | Kind::Redis(adapter) => {
            let mut command = demo_command(
                &config.examples.join(format!("demo-{adapter}")),
                adapter == "smol",
                config,
            );
            // Every load client connects from 127.0.0.1: no per-address limit
            // (builds given with `--variant` may predate the flag).
            command.args(["--max-connections-per-peer", "0"]);
            command
        }
        Kind::Variant { path, .. } => {
            let mut command = demo_command(Path::new(path), path.contains("smol"), config);
            // As ours, when the build knows the flag (its `--help` says).
            let help = Command::new(path).arg("--help").output()?;
            if String::from_utf8_lossy(&help.stdout).contains("--max-connections-per-peer") {
                command.args(["--max-connections-per-peer", "0"]);
            }
            command
        }
        Kind::Baseline(baseline) => {
            let mut command = Command::new(std::env::current_exe()?);
            command
                .args(["serve", baseline.key(), "--addr", "127.0.0.1:0"])
                .args(["--capacity", &config.max_lag.to_string()]);
            command
        }
        Kind::StreamBaseline(baseline) => {
            let mut command = Command::new(std::env::current_exe()?);
            command.args(["serve", baseline.key(), "--addr", "127.0.0.1:0"]);
            command
        }
    })
}

/// One of our demo servers with the run's hub settings.
fn demo_command(binary: &Path, smol: bool, config: &ServerConfig) -> Command {
    let mut command = Command::new(binary);
    command
        .args(["--addr", "127.0.0.1:0"])
        .args(["--keep-alive", &config.keep_alive.to_string()])
        .args(["--history", &config.history.to_string()])
        .args(["--max-lag", &config.max_lag.to_string()])
        .args(["--policy", &config.policy]);
    if smol {
        // smol's global executor runs on one thread unless told otherwise; give it
        // as many as tokio's multi-threaded runtime takes.
        command.env("SMOL_THREADS", cpus().to_string());
    }
    command
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Everything one run of a [`Kind`] starts: one server process, or for
/// [`Kind::Redis`] a `redis-server` and the demo processes relaying through it.
/// Killed when dropped, the servers first.
#[derive(Debug)]
pub(crate) struct Deployment {
    /// The server processes: the first takes the publishing.
    servers: Vec<Server>,
    redis: Option<RedisServer>,
}

impl Deployment {
    pub(crate) fn start(kind: Kind, config: &ServerConfig) -> io::Result<Deployment> {
        if !kind.is_redis() {
            return Ok(Deployment {
                servers: vec![Server::spawn(kind, config, None)?],
                redis: None,
            });
        }
        let redis = RedisServer::start()?;
        let url = redis.url();
        let servers = (0..REDIS_PROCESSES)
            .map(|_| Server::spawn(kind, config, Some(&url)))
            .collect::<io::Result<_>>()?;
        Ok(Deployment {
            servers,
            redis: Some(redis),
        })
    }

    /// Where to publish: the first server.
    pub(crate) fn publish_addr(&self) -> SocketAddr {
        self.servers[0].addr
    }

    /// Every server's address, for the clients to be spread over.
    pub(crate) fn addrs(&self) -> Vec<SocketAddr> {
        self.servers.iter().map(|server| server.addr).collect()
    }

    pub(crate) fn pids(&self) -> Vec<u32> {
        self.servers.iter().map(|server| server.pid).collect()
    }

    /// CPU time and writes of the server processes, summed (not `redis-server`'s).
    pub(crate) fn sample(&self) -> io::Result<ProcSample> {
        self.servers
            .iter()
            .map(|server| sample(&server.pid.to_string()))
            .sum()
    }

    /// `redis-server`'s CPU time, when there is one.
    pub(crate) fn redis_sample(&self) -> io::Result<Option<ProcSample>> {
        self.redis
            .as_ref()
            .and_then(RedisServer::pid)
            .map(|pid| sample(&pid.to_string()))
            .transpose()
    }

    /// Resident memory of the server processes, summed, in KiB.
    pub(crate) fn rss_kib(&self) -> io::Result<u64> {
        self.servers.iter().map(|server| rss_kib(server.pid)).sum()
    }
}

/// CPU time and write system calls of a process, from `/proc`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ProcSample {
    /// User and system time, in clock ticks.
    pub(crate) utime: u64,
    pub(crate) stime: u64,
    /// `syscw` from `/proc/PID/io`: `write`/`writev`/`pwrite*` calls (not `send*`).
    pub(crate) syscw: u64,
}

impl ProcSample {
    /// User plus system time, in clock ticks.
    pub(crate) fn ticks(&self) -> u64 {
        self.utime + self.stime
    }
}

impl std::iter::Sum for ProcSample {
    fn sum<I: Iterator<Item = ProcSample>>(samples: I) -> ProcSample {
        samples.fold(ProcSample::default(), |total, s| ProcSample {
            utime: total.utime + s.utime,
            stime: total.stime + s.stime,
            syscw: total.syscw + s.syscw,
        })
    }
}

/// `pid` is a number, or `self`.
pub(crate) fn sample(pid: &str) -> io::Result<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces), from field 3 on.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| io::Error::other("bad /proc stat"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| -> io::Result<u64> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| io::Error::other("bad /proc stat field"))
    };
    let io = std::fs::read_to_string(format!("/proc/{pid}/io"))?;
    let syscw = io
        .lines()
        .find_map(|line| line.strip_prefix("syscw:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| io::Error::other("no syscw in /proc/PID/io"))?;
    Ok(ProcSample {
        utime: field(14)?,
        stime: field(15)?,
        syscw,
    })
}

/// Busy CPU time of the whole machine, in clock ticks (`/proc/stat`: all but idle
/// and iowait).
pub(crate) fn machine_busy() -> io::Result<u64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let cpu = stat
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("cpu "))
        .ok_or_else(|| io::Error::other("bad /proc/stat"))?;
    let fields: Vec<u64> = cpu
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    Ok(fields.iter().take(8).sum::<u64>()
        - fields.get(3).unwrap_or(&0)
        - fields.get(4).unwrap_or(&0))
}

/// Resident memory in KiB (`VmRSS`).
pub(crate) fn rss_kib(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| io::Error::other("no VmRSS"))
}

/// Clock ticks per second for `/proc/PID/stat` times.
pub(crate) fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

pub(crate) fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// `perf record -g` attached to a process, stopped (SIGINT) when dropped.
#[derive(Debug)]
pub(crate) struct PerfRecord(Child);

impl PerfRecord {
    pub(crate) fn start(pids: &[u32], output: &Path) -> io::Result<PerfRecord> {
        let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
        let child = Command::new("perf")
            .args(["record", "-F", "999", "-g", "-p", &pids.join(","), "-o"])
            .arg(output)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        // perf needs a moment to attach.
        std::thread::sleep(Duration::from_millis(300));
        Ok(PerfRecord(child))
    }
}

impl Drop for PerfRecord {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}
