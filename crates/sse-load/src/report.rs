//! The results, as Markdown ready for the README's performance section.

use std::fmt::Write as _;
use std::time::Duration;

use crate::Options;
use crate::server::{Kind, cpus};
use crate::stats::Spread;

/// What one phase measured.
#[derive(Clone, Debug)]
pub(crate) struct PhaseResult {
    /// Events the server took (202).
    pub(crate) published: u64,
    /// `published` × the connections streaming when the phase began.
    pub(crate) expected: u64,
    /// Events the clients decoded.
    pub(crate) delivered: u64,
    /// `delivered` over the time from the first publish to the last delivery.
    pub(crate) deliveries_per_second: f64,
    pub(crate) p50_ns: f64,
    pub(crate) p99_ns: f64,
    /// Server CPU time per delivery.
    pub(crate) user_ns: f64,
    pub(crate) system_ns: f64,
    /// The load tool's own CPU time per delivery (clients and publishers).
    pub(crate) load_ns: f64,
    /// `redis-server`'s CPU time per delivery (NaN without Redis).
    pub(crate) redis_ns: f64,
    /// CPU time over wall time, from the first publish to the end of the drain.
    pub(crate) server_cores: f64,
    pub(crate) load_cores: f64,
    /// Everything else the machine ran meanwhile (noise).
    pub(crate) other_cores: f64,
    pub(crate) deliveries_per_write: f64,
    /// Frames skipped for lagging clients (ours: `dropped`; baselines: `Lagged`).
    pub(crate) drops: u64,
    pub(crate) lag_disconnects: u64,
    /// Connections that ended during the phase.
    pub(crate) closed: u64,
}

/// One server, N and size, in one repetition.
#[derive(Clone, Debug)]
pub(crate) struct RunResult {
    pub(crate) kind: Kind,
    pub(crate) clients: usize,
    pub(crate) size: usize,
    pub(crate) events_per_second: u64,
    pub(crate) fixed: PhaseResult,
    pub(crate) full: PhaseResult,
}

#[derive(Clone, Debug)]
pub(crate) struct MemoryResult {
    pub(crate) kind: Kind,
    pub(crate) clients: usize,
    pub(crate) bytes_per_connection: f64,
}

#[derive(Debug)]
pub(crate) struct Report {
    options: Options,
    pub(crate) runs: Vec<RunResult>,
    pub(crate) memory: Vec<MemoryResult>,
    pub(crate) failures: Vec<String>,
    pub(crate) elapsed: Duration,
}

impl Report {
    pub(crate) fn new(options: &Options) -> Self {
        Report {
            options: options.clone(),
            runs: Vec::new(),
            memory: Vec::new(),
            failures: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    /// Fixed-rate phases that lost deliveries or connections, described.
    pub(crate) fn fixed_rate_losses(&self) -> Vec<String> {
        self.runs
            .iter()
            .filter(|r| {
                r.fixed.delivered < r.fixed.expected || r.fixed.closed > 0 || r.fixed.published == 0
            })
            .map(|r| {
                format!(
                    "{} N={} {} B: {} of {} deliveries, {} connections closed",
                    r.kind.name(),
                    r.clients,
                    r.size,
                    r.fixed.delivered,
                    r.fixed.expected,
                    r.fixed.closed
                )
            })
            .collect()
    }

    fn spread(
        &self,
        kind: Kind,
        clients: usize,
        size: usize,
        figure: impl Fn(&RunResult) -> f64,
    ) -> Option<Spread> {
        Spread::of(
            self.runs
                .iter()
                .filter(|r| r.kind == kind && r.clients == clients && r.size == size)
                .map(figure),
        )
    }

    /// Whether the run has Redis rows (and so a column for `redis-server`'s CPU).
    fn has_redis(&self) -> bool {
        self.options.servers.iter().any(|kind| kind.is_redis())
    }

    fn baselines(&self) -> Vec<Kind> {
        self.options
            .servers
            .iter()
            .copied()
            .filter(|k| !k.is_ours())
            .collect()
    }

    pub(crate) fn markdown(&self) -> String {
        let mut out = String::new();
        let o = &self.options;
        let _ = writeln!(out, "## End to end over loopback\n");
        let _ = writeln!(
            out,
            "Machine: {} CPUs ({}), Linux {}; {}. Command: `{}` ({} repetitions, {:.0} s in all).\n",
            cpus(),
            cpu_model(),
            kernel(),
            today(),
            o.command_line,
            o.reps,
            self.elapsed.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "Server and load run as separate processes on 127.0.0.1 (HTTP/1.1, {} load threads with their own epoll). \
             Ours: the adapters' demo servers with `--keep-alive 0 --history {} --max-lag {} --policy {}`. \
             Baselines: axum 0.8 with `tokio::sync::broadcast` of capacity {} (= our max lag): \
             `axum-sse` is `Sse` over `BroadcastStream<String>` mapped to `Event::default().data(s)`; \
             `axum-bytes` broadcasts a frame encoded once as `Bytes` and streams it as the body. \
             Each cell: median (min–max) of the repetitions; ratios compare medians.\n",
            o.client_threads, o.history, o.max_lag, o.policy, o.max_lag
        );
        if self.has_redis() {
            let _ = writeln!(out, "{REDIS_SETUP}\n");
        }
        for note in &o.notes {
            let _ = writeln!(out, "Note: {note}\n");
        }

        if !o.idle_only {
            self.full_speed_table(&mut out);
            self.fixed_rate_table(&mut out);
        }
        self.memory_table(&mut out);
        if o.idle_only {
            // Only the memory step ran: only its figure is explained.
            out.push_str("What the figures are:\n");
            for line in NOTES
                .lines()
                .filter(|line| line.contains("memory per connection"))
            {
                let _ = writeln!(out, "{line}");
            }
        } else {
            out.push_str(NOTES);
        }
        if self.has_redis() {
            out.push_str(REDIS_NOTES);
        }
        if !self.failures.is_empty() {
            let _ = writeln!(out, "\n**Failed runs:**\n");
            for failure in &self.failures {
                let _ = writeln!(out, "- {failure}");
            }
        }
        let losses = self.fixed_rate_losses();
        if !losses.is_empty() {
            let _ = writeln!(out, "\n**Deliveries lost at fixed rate:**\n");
            for loss in losses {
                let _ = writeln!(out, "- {loss}");
            }
        }
        out
    }

    fn full_speed_table(&self, out: &mut String) {
        let o = &self.options;
        let baselines = self.baselines();
        let _ = writeln!(
            out,
            "### Full speed ({} publishing connections, {} s): throughput under overload\n",
            o.publishers, o.seconds
        );
        let mut trailing = vec!["p50", "p99", "server CPU/delivery (user + sys)"];
        if self.has_redis() {
            trailing.push("redis CPU/delivery");
        }
        trailing.extend([
            "deliveries/write",
            "delivered",
            "drops",
            "lag disc.",
            "server cores",
            "load CPU/delivery",
            "load cores",
            "other cores",
        ]);
        table_head(
            out,
            &["N", "size", "server", "deliveries/s"],
            "vs",
            &baselines,
            &trailing,
        );
        for &clients in &o.clients {
            for &size in &o.sizes {
                for &kind in &o.servers {
                    let f =
                        |figure: fn(&RunResult) -> f64| self.spread(kind, clients, size, figure);
                    let Some(rate) = f(|r| r.full.deliveries_per_second) else {
                        continue;
                    };
                    let mut row = format!(
                        "| {clients} | {} | {} | {} |",
                        size_name(size),
                        kind.name(),
                        spread(rate, rate_text)
                    );
                    for &baseline in &baselines {
                        let theirs =
                            self.spread(baseline, clients, size, |r| r.full.deliveries_per_second);
                        let _ = write!(row, " {} |", ratio(Some(rate), theirs, kind == baseline));
                    }
                    let mut cells = vec![
                        opt(f(|r| r.full.p50_ns), time_text),
                        opt(f(|r| r.full.p99_ns), time_text),
                        cpu_text(f(|r| r.full.user_ns), f(|r| r.full.system_ns)),
                    ];
                    if self.has_redis() {
                        cells.push(opt(f(|r| r.full.redis_ns), time_text));
                    }
                    cells.extend([
                        opt(f(|r| r.full.deliveries_per_write), |v| format!("{v:.1}")),
                        opt(
                            f(|r| r.full.delivered as f64 / r.full.expected.max(1) as f64),
                            |v| format!("{:.1}%", v * 100.0),
                        ),
                        opt(f(|r| r.full.drops as f64), count_text),
                        opt(f(|r| r.full.lag_disconnects as f64), count_text),
                        opt(f(|r| r.full.server_cores), |v| format!("{v:.2}")),
                        opt(f(|r| r.full.load_ns), time_text),
                        opt(f(|r| r.full.load_cores), |v| format!("{v:.2}")),
                        opt(f(|r| r.full.other_cores), |v| format!("{v:.2}")),
                    ]);
                    let _ = writeln!(out, "{row} {} |", cells.join(" | "));
                }
            }
        }
        out.push('\n');
    }

    fn fixed_rate_table(&self, out: &mut String) {
        let o = &self.options;
        let baselines = self.baselines();
        let _ = writeln!(
            out,
            "### Fixed rate ({} deliveries/s = {}/N events/s, at most 1000 events/s; {} s): latency and cost, not overloaded\n",
            o.rate, o.rate, o.seconds
        );
        let mut trailing = vec!["server CPU/delivery (user + sys)"];
        if self.has_redis() {
            trailing.push("redis CPU/delivery");
        }
        trailing.extend(["deliveries/write", "missing"]);
        table_head(
            out,
            &["N", "size", "server", "events/s", "p50", "p99"],
            "p99 vs",
            &baselines,
            &trailing,
        );
        for &clients in &o.clients {
            for &size in &o.sizes {
                for &kind in &o.servers {
                    let f =
                        |figure: fn(&RunResult) -> f64| self.spread(kind, clients, size, figure);
                    let Some(p99) = f(|r| r.fixed.p99_ns) else {
                        continue;
                    };
                    let mut row = format!(
                        "| {clients} | {} | {} | {} | {} | {} |",
                        size_name(size),
                        kind.name(),
                        opt(f(|r| r.events_per_second as f64), |v| format!("{v:.0}")),
                        opt(f(|r| r.fixed.p50_ns), time_text),
                        spread(p99, time_text),
                    );
                    for &baseline in &baselines {
                        let theirs = self.spread(baseline, clients, size, |r| r.fixed.p99_ns);
                        let _ = write!(row, " {} |", ratio(Some(p99), theirs, kind == baseline));
                    }
                    let missing = self
                        .runs
                        .iter()
                        .filter(|r| r.kind == kind && r.clients == clients && r.size == size)
                        .map(|r| r.fixed.expected.saturating_sub(r.fixed.delivered))
                        .sum::<u64>();
                    let mut cells =
                        vec![cpu_text(f(|r| r.fixed.user_ns), f(|r| r.fixed.system_ns))];
                    if self.has_redis() {
                        cells.push(opt(f(|r| r.fixed.redis_ns), time_text));
                    }
                    cells.extend([
                        opt(f(|r| r.fixed.deliveries_per_write), |v| format!("{v:.1}")),
                        missing.to_string(),
                    ]);
                    let _ = writeln!(out, "{row} {} |", cells.join(" | "));
                }
            }
        }
        out.push('\n');
    }

    fn memory_table(&self, out: &mut String) {
        let o = &self.options;
        let baselines = self.baselines();
        let _ = writeln!(out, "### Resident memory per idle connection\n");
        let mut head = String::from("| server |");
        let mut rule = String::from("|---|");
        for clients in &o.clients {
            let _ = write!(head, " N = {clients} |");
            rule.push_str("---:|");
        }
        let largest = o.clients.iter().copied().max().unwrap_or(0);
        for baseline in &baselines {
            let _ = write!(head, " vs {} (N = {largest}) |", baseline.name());
            rule.push_str("---:|");
        }
        let _ = writeln!(out, "{head}\n{rule}");
        let memory = |kind: Kind, clients: usize| {
            Spread::of(
                self.memory
                    .iter()
                    .filter(|m| m.kind == kind && m.clients == clients)
                    .map(|m| m.bytes_per_connection),
            )
        };
        for &kind in &o.servers {
            let mut row = format!("| {} |", kind.name());
            for &clients in &o.clients {
                let _ = write!(row, " {} |", opt(memory(kind, clients), bytes_text));
            }
            for &baseline in &baselines {
                let ratio = ratio(
                    memory(kind, largest),
                    memory(baseline, largest),
                    kind == baseline,
                );
                let _ = write!(row, " {ratio} |");
            }
            let _ = writeln!(out, "{row}");
        }
        out.push('\n');
    }
}

const NOTES: &str = "\
What the figures are:
- **deliveries/s**: events decoded by the clients, over the time from the first publish to the last delivery. At full speed the publishers outrun every server, so this is the most a server delivers; at a fixed rate it is the rate.
- **p50, p99**: latency of each delivery, from the publisher's clock just before it sent the `POST` (carried in the event) to the clock at the client's `read` that brought it (same machine, same clock). At full speed it is mostly queueing.
- **server CPU/delivery**: the server process's user and system CPU time (`/proc/PID/stat`) over the phase, divided by the deliveries; includes handling the `POST`s.
- **deliveries/write**: deliveries per write system call of the server (`perf stat -e 'syscalls:sys_enter_{write,writev,sendto,sendmsg}'` over the phase; where `perf` cannot count them, `syscw` of `/proc/PID/io`, which misses `send*`, what actix-web writes with), less the writes that answering `POST`s takes (measured before the clients connect, per server).
- **delivered**: deliveries over events published × clients; **drops**: frames skipped for clients that fell more than the max lag behind (ours: `dropped` in `/stats`; baselines: the sum of `RecvError::Lagged(n)`); **lag disc.**: clients disconnected for lagging (`lag_disconnects`; only under `--policy disconnect`).
- **server cores**, **load cores**: CPU time over wall time during the phase (2 cores in all are shared by both processes); **other cores**: what the rest of the machine used meanwhile (noise: it should be near 0).
- **load CPU/delivery**: the load tool's own CPU time (its client threads and publishers) per delivery: it must stay below the server's, or the load is the bottleneck.
- **missing** (fixed rate): deliveries that never arrived; anything but 0 fails the run.
- **memory per connection**: (server `VmRSS` with N idle streaming connections − `VmRSS` before they connected) / N.
";

/// How the Redis rows run, for the report's head.
const REDIS_SETUP: &str = "\
Redis rows (`sse-X ×2 + redis`): a `redis-server` of the tool's own (`--save \"\" --appendonly no`) and two processes of the demo server with `--redis`; \
the clients are split evenly between the two, the publishing goes to the first: \
`POST /publish` is an `XADD`, and each process reads the stream (`XREAD BLOCK`) and fans every event out to its own clients. \
Latency is end to end across both processes; server CPU, deliveries/write and memory are both processes' together; `redis-server`'s CPU is its own column.";

const REDIS_NOTES: &str = "\
- **Redis rows**: latency includes the `XADD`, the `XREAD` that brings the entry back, and the fan-out, for the clients of either process. \
**server CPU/delivery**, **server cores**, **deliveries/write** and **memory per connection** sum both demo processes; **redis CPU/delivery** is `redis-server`'s CPU time over the phase per delivery (outside **other cores**). \
The write calls a `POST` takes are measured as for the others, here with both processes relaying each calibration event alone; at full speed they relay in batches, so the relays' `XREAD` writes are slightly over-subtracted.
";

/// Writes a Markdown table head: the `leading` columns, one `"{label} {baseline}"`
/// column per baseline, then the `trailing` ones; every column right-aligned but
/// the server's name.
pub(crate) fn table_head(
    out: &mut String,
    leading: &[&str],
    label: &str,
    baselines: &[Kind],
    trailing: &[&str],
) {
    let columns: Vec<String> = leading
        .iter()
        .map(|c| c.to_string())
        .chain(baselines.iter().map(|b| format!("{label} {}", b.name())))
        .chain(trailing.iter().map(|c| c.to_string()))
        .collect();
    let rule: Vec<&str> = columns
        .iter()
        .map(|c| if c == "server" { "---" } else { "---:" })
        .collect();
    let _ = writeln!(out, "| {} |\n|{}|", columns.join(" | "), rule.join("|"));
}

pub(crate) fn spread(s: Spread, text: impl Fn(f64) -> String) -> String {
    if (s.max - s.min).abs() <= f64::EPSILON * s.median.abs() {
        text(s.median)
    } else {
        format!("{} ({}–{})", text(s.median), text(s.min), text(s.max))
    }
}

pub(crate) fn opt(s: Option<Spread>, text: impl Fn(f64) -> String) -> String {
    s.map_or_else(|| "–".into(), |s| spread(s, text))
}

pub(crate) fn ratio(ours: Option<Spread>, theirs: Option<Spread>, same: bool) -> String {
    if same {
        return "1".into();
    }
    match (ours, theirs) {
        (Some(ours), Some(theirs)) if theirs.median > 0.0 => {
            format!("{:.2}×", ours.median / theirs.median)
        }
        _ => "–".into(),
    }
}

pub(crate) fn cpu_text(user: Option<Spread>, system: Option<Spread>) -> String {
    match (user, system) {
        (Some(u), Some(s)) => format!("{} + {}", time_text(u.median), time_text(s.median)),
        _ => "–".into(),
    }
}

fn size_name(size: usize) -> String {
    if size.is_multiple_of(1024) {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

pub(crate) fn rate_text(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0} k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

pub(crate) fn time_text(ns: f64) -> String {
    if ns.is_nan() {
        "–".into()
    } else if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.1} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

pub(crate) fn count_text(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1} M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0} k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn bytes_text(v: f64) -> String {
    format!("{:.1} KiB", v / 1024.0)
}

pub(crate) fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

pub(crate) fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "?".into(), |s| s.trim().to_string())
}

/// Today's date (UTC), from the system clock.
pub(crate) fn today() -> String {
    let days = (crate::http::now_ns() / 1_000_000_000 / 86_400) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
