//! The server under test: which one, building it, running it in its own process
//! (killed when dropped), and what `/proc` says about it.

use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::baseline::Baseline;

/// A server the tool can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// One of our demo servers (`examples/demo.rs` of an adapter crate).
    Ours(&'static str),
    /// A baseline, run by this tool's `serve` subcommand.
    Baseline(Baseline),
    /// A demo server binary given on the command line (`--variant LABEL=PATH`), run
    /// as ours are: to measure a change side by side with the original.
    Variant {
        label: &'static str,
        path: &'static str,
    },
}

impl Kind {
    pub(crate) const ALL: [Kind; 6] = [
        Kind::Ours("hyper"),
        Kind::Ours("axum"),
        Kind::Ours("warp"),
        Kind::Ours("smol"),
        Kind::Baseline(Baseline::AxumSse),
        Kind::Baseline(Baseline::AxumBytes),
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Ours(adapter) => match adapter {
                "hyper" => "sse-hyper",
                "axum" => "sse-axum",
                "warp" => "sse-warp",
                _ => "sse-smol",
            },
            Kind::Baseline(Baseline::AxumSse) => "axum-sse",
            Kind::Baseline(Baseline::AxumBytes) => "axum-bytes",
            Kind::Variant { label, .. } => label,
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Kind> {
        let name = name.trim();
        Kind::ALL
            .into_iter()
            .find(|kind| kind.name() == name || kind.name().strip_prefix("sse-") == Some(name))
    }

    pub(crate) fn is_ours(self) -> bool {
        !matches!(self, Kind::Baseline(_))
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
    let ours: Vec<&str> = kinds
        .iter()
        .filter_map(|kind| match kind {
            Kind::Ours(adapter) => Some(*adapter),
            Kind::Baseline(_) | Kind::Variant { .. } => None,
        })
        .collect();
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

/// A running server; killed (SIGKILL) and reaped when dropped.
#[derive(Debug)]
pub(crate) struct Server {
    child: Child,
    pub(crate) pid: u32,
    pub(crate) addr: SocketAddr,
}

impl Server {
    pub(crate) fn spawn(kind: Kind, config: &ServerConfig) -> io::Result<Server> {
        let mut command = match kind {
            Kind::Ours(_) | Kind::Variant { .. } => {
                let (binary, smol) = match kind {
                    Kind::Variant { path, .. } => (PathBuf::from(path), path.contains("smol")),
                    Kind::Ours(adapter) => (
                        config.examples.join(format!("demo-{adapter}")),
                        adapter == "smol",
                    ),
                    Kind::Baseline(_) => unreachable!("matched above"),
                };
                let mut command = Command::new(binary);
                command
                    .args(["--addr", "127.0.0.1:0", "--keep-alive", "0"])
                    .args(["--history", &config.history.to_string()])
                    .args(["--max-lag", &config.max_lag.to_string()])
                    .args(["--policy", &config.policy]);
                if smol {
                    // smol's global executor runs on one thread unless told otherwise;
                    // give it as many as tokio's multi-threaded runtime takes.
                    command.env("SMOL_THREADS", cpus().to_string());
                }
                command
            }
            Kind::Baseline(baseline) => {
                let mut command = Command::new(std::env::current_exe()?);
                let variant = match baseline {
                    Baseline::AxumSse => "axum-sse",
                    Baseline::AxumBytes => "axum-bytes",
                };
                command
                    .args(["serve", variant, "--addr", "127.0.0.1:0"])
                    .args(["--capacity", &config.max_lag.to_string()]);
                command
            }
        };
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

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
    pub(crate) fn start(pid: u32, output: &Path) -> io::Result<PerfRecord> {
        let child = Command::new("perf")
            .args(["record", "-F", "999", "-g", "-p", &pid.to_string(), "-o"])
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
