//! The per-request scenario's results, as Markdown: a table per mode, medians of
//! the repetitions, ratios against actix-web-lab's `Sse` from the same run.

use std::fmt::Write as _;
use std::time::Duration;

use super::{GenerateOptions, KEEP_ALIVE_SECONDS, Mode, ModeResult, StreamBaseline};
use crate::Options;
use crate::report::{
    cpu_model, kernel, opt, rate_text, ratio, spread, table_head, time_text, today,
};
use crate::server::{Kind, cpus};
use crate::stats::Spread;

/// Everything the scenario measured.
#[derive(Debug)]
pub(crate) struct GenerateReport {
    command_line: String,
    reps: usize,
    client_threads: usize,
    settings: GenerateOptions,
    servers: Vec<Kind>,
    /// Whether `perf` counted the writes (otherwise `syscw`).
    perf: bool,
    pub(crate) results: Vec<ModeResult>,
    pub(crate) failures: Vec<String>,
    pub(crate) elapsed: Duration,
}

impl GenerateReport {
    pub(crate) fn new(options: &Options, servers: &[Kind], perf: bool) -> Self {
        GenerateReport {
            command_line: options.command_line.clone(),
            reps: options.reps,
            client_threads: options.client_threads,
            settings: options.generate.clone(),
            servers: servers.to_vec(),
            perf,
            results: Vec::new(),
            failures: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    /// Records a failed run (and says so on stderr).
    pub(crate) fn fail(&mut self, failure: String) {
        eprintln!("  FAILED: {failure}");
        self.failures.push(failure);
    }

    /// Whether every run completed with every reply whole.
    pub(crate) fn passed(&self) -> bool {
        self.failures.is_empty() && self.results.iter().all(|r| r.failed == 0)
    }

    fn spread(
        &self,
        kind: Kind,
        clients: usize,
        mode: Mode,
        figure: impl Fn(&ModeResult) -> f64,
    ) -> Option<Spread> {
        Spread::of(
            self.results
                .iter()
                .filter(|r| {
                    r.kind == kind && r.clients == clients && r.mode == mode && !r.resumable
                })
                .map(figure),
        )
    }

    pub(crate) fn markdown(&self) -> String {
        let s = &self.settings;
        let mut out = String::new();
        let _ = writeln!(out, "## Per-request streams over loopback\n");
        let _ = writeln!(
            out,
            "Machine: {} CPUs ({}), Linux {}; {}. Command: `{}` ({} repetitions, {:.0} s in all).\n",
            cpus(),
            cpu_model(),
            kernel(),
            today(),
            self.command_line,
            self.reps,
            self.elapsed.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "N concurrent `POST /generate` streams (HTTP/1.1, {} load threads with their own epoll), each asking for a reply and, when it ends, \
             for the next (on the same connection when the server keeps it alive; `sse-smol` closes it, so its clients reconnect). \
             Ours: the demo servers (`sse_core::channel(64)` fed by a spawned producer, answered with the adapter's per-request stream), \
             with `--keep-alive {KEEP_ALIVE_SECONDS}`. \
             Baselines, each with a `tokio::sync::mpsc::channel(64)` fed by a spawned producer the same way, a `String` per word as ours, and `TCP_NODELAY` as ours: \
             `actix-sse-stream`, actix-web 4 with actix-web-lab's `Sse::from_infallible_receiver(rx).with_retry_duration(1 s).with_keep_alive(15 s)` \
             (it has no id-only frame, so each checkpoint's id rides on the next event: the same last event id at every event); \
             `axum-sse-stream`, axum 0.8's `Sse::new(stream).keep_alive(KeepAlive::default())` with the same frames as ours (retry hint, comment, words, id-only checkpoints, `done`). \
             Ratios compare with `actix-sse-stream`. \
             After a warm-up of {} s, each mode is measured for {} s; then the requests stop and every reply under way ends, and every reply is checked whole. \
             Each cell: median (min–max) of the repetitions; ratios compare medians.\n",
            self.client_threads, s.warm_up, s.seconds
        );
        if !self.perf {
            let _ = writeln!(
                out,
                "Note: `perf` could not count syscalls here, so **tokens/write** comes from `syscw`, which misses `send` (what `sse-smol`'s per-request writer calls): its figure is too high.\n"
            );
        }
        self.flood_table(&mut out);
        self.paced_table(&mut out);
        super::resume_report::tables(&mut out, &self.results, s, &self.servers);
        out.push_str(NOTES);
        if !self.failures.is_empty() {
            let _ = writeln!(out, "\n**Failed runs:**\n");
            for failure in &self.failures {
                let _ = writeln!(out, "- {failure}");
            }
        }
        out
    }

    /// What the ratios compare with: the leader, actix-web-lab.
    fn baseline(&self) -> Kind {
        Kind::StreamBaseline(StreamBaseline::Actix)
    }

    fn flood_table(&self, out: &mut String) {
        let s = &self.settings;
        let _ = writeln!(
            out,
            "### Flood: `rate: 0`, {} words a reply, as fast as each stream is read\n",
            s.flood_words
        );
        let base = self.baseline();
        let name = base.name();
        let columns = [
            "N".to_string(),
            "server".into(),
            "tokens/s".into(),
            format!("vs {name}"),
            "server CPU/token (user + sys)".into(),
            format!("CPU vs {name}"),
            "tokens/write".into(),
            "first word p50".into(),
            "first word p99".into(),
            format!("p99 vs {name}"),
            "replies".into(),
            "server cores".into(),
            "load CPU/token".into(),
            "load cores".into(),
            "other cores".into(),
        ];
        head(out, &columns);
        let mode = Mode::Flood;
        for &clients in &s.clients {
            for &kind in &self.servers {
                let f = |figure: fn(&ModeResult) -> f64| self.spread(kind, clients, mode, figure);
                let b = |figure: fn(&ModeResult) -> f64| self.spread(base, clients, mode, figure);
                let same = kind == base;
                let Some(rate) = f(|r| r.tokens_per_second) else {
                    continue;
                };
                let cpu = f(|r| r.user_ns + r.system_ns);
                let cells = [
                    clients.to_string(),
                    kind.name().to_string(),
                    spread(rate, rate_text),
                    ratio(Some(rate), b(|r| r.tokens_per_second), same),
                    cpu_cell(f(|r| r.user_ns), f(|r| r.system_ns), cpu),
                    ratio(cpu, b(|r| r.user_ns + r.system_ns), same),
                    opt(f(|r| r.tokens_per_write), |v| format!("{v:.1}")),
                    opt(f(|r| r.first_word_p50), time_text),
                    opt(f(|r| r.first_word_p99), time_text),
                    ratio(f(|r| r.first_word_p99), b(|r| r.first_word_p99), same),
                    opt(f(|r| r.completed as f64), |v| format!("{v:.0}")),
                    opt(f(|r| r.server_cores), |v| format!("{v:.2}")),
                    opt(f(|r| r.load_ns), time_text),
                    opt(f(|r| r.load_cores), |v| format!("{v:.2}")),
                    opt(f(|r| r.other_cores), |v| format!("{v:.2}")),
                ];
                let _ = writeln!(out, "| {} |", cells.join(" | "));
            }
        }
        out.push('\n');
    }

    fn paced_table(&self, out: &mut String) {
        let s = &self.settings;
        let _ = writeln!(
            out,
            "### Paced: `rate: {}` words/s per stream, {} words a reply\n",
            s.paced_rate, s.paced_words
        );
        let base = self.baseline();
        let name = base.name();
        let columns = [
            "N".to_string(),
            "server".into(),
            "tokens/s".into(),
            "server CPU/token (user + sys)".into(),
            format!("CPU vs {name}"),
            "tokens/write".into(),
            "first word p99".into(),
            "token delay p99".into(),
            format!("vs {name}"),
            "token jitter p99".into(),
            format!("vs {name}"),
            "replies".into(),
            "server cores".into(),
            "load CPU/token".into(),
        ];
        head(out, &columns);
        let mode = Mode::Paced;
        for &clients in &s.clients {
            for &kind in &self.servers {
                let f = |figure: fn(&ModeResult) -> f64| self.spread(kind, clients, mode, figure);
                let b = |figure: fn(&ModeResult) -> f64| self.spread(base, clients, mode, figure);
                let same = kind == base;
                let Some(rate) = f(|r| r.tokens_per_second) else {
                    continue;
                };
                let cpu = f(|r| r.user_ns + r.system_ns);
                let cells = [
                    clients.to_string(),
                    kind.name().to_string(),
                    spread(rate, rate_text),
                    cpu_cell(f(|r| r.user_ns), f(|r| r.system_ns), cpu),
                    ratio(cpu, b(|r| r.user_ns + r.system_ns), same),
                    opt(f(|r| r.tokens_per_write), |v| format!("{v:.2}")),
                    opt(f(|r| r.first_word_p99), time_text),
                    opt(f(|r| r.schedule_p99), time_text),
                    ratio(f(|r| r.schedule_p99), b(|r| r.schedule_p99), same),
                    opt(f(|r| r.jitter_p99), time_text),
                    ratio(f(|r| r.jitter_p99), b(|r| r.jitter_p99), same),
                    opt(f(|r| r.completed as f64), |v| format!("{v:.0}")),
                    opt(f(|r| r.server_cores), |v| format!("{v:.2}")),
                    opt(f(|r| r.load_ns), time_text),
                ];
                let _ = writeln!(out, "| {} |", cells.join(" | "));
            }
        }
        out.push('\n');
    }
}

/// A table head: every column right-aligned but the server's name.
fn head(out: &mut String, columns: &[String]) {
    let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
    table_head(out, &columns, "", &[], &[]);
}

/// `user + sys`, the medians, with the spread of their sum.
fn cpu_cell(user: Option<Spread>, system: Option<Spread>, total: Option<Spread>) -> String {
    match (user, system, total) {
        (Some(u), Some(s), Some(t)) => format!(
            "{} + {} = {}",
            time_text(u.median),
            time_text(s.median),
            spread(t, time_text)
        ),
        _ => "–".into(),
    }
}

const NOTES: &str = "\
What the figures are:
- **tokens/s**: words the clients decoded during the measured window, over its length (all N streams together).
- **server CPU/token**: the server process's user and system CPU time (`/proc/PID/stat`) over the window, divided by the words delivered in it; it includes accepting and parsing the requests and spawning the producers. The sum's spread is in parentheses.
- **tokens/write**: words per write system call of the server: `perf stat -e 'syscalls:sys_enter_{write,writev,sendto,sendmsg}' -p PID` from the warm-up to the window's end, over the words that arrived meanwhile (response heads and every frame included). Not `syscw` of `/proc/PID/io`: it misses `send`, which is what Rust's `TcpStream::write` calls, and so every write of `sse-smol`'s per-request writer.
- **first word**: from the clock just before the client wrote its request to the clock at the `read` that brought word 0, for the requests sent during the window (paced: word 0 comes one period, 20 ms at 50 words/s, after the request, by the contract).
- **token delay** (paced): for word k of a reply, its arrival − (word 0's arrival + k / rate), clamped at 0. The words carry no send time (the contract fixes their text), so this measures against the schedule, and it includes the producer's own drift: it sleeps 1/rate before each word, and each sleep overshoots by the timer's granularity (tokio rounds up to the millisecond), which adds up over a reply.
- **token jitter** (paced): each gap between two consecutive words of a reply less that reply's median gap, clamped at 0: a word delivered late stands out, the producer's steady drift does not.
- **replies**: replies that came whole, in order, and ended with `done` (the window's and those that ended after it); any other fails the run.
- **server cores**, **load cores**: CPU time over wall time during the window (2 cores in all are shared by both processes); **other cores**: what the rest of the machine used meanwhile (noise); **load CPU/token**: the load tool's own CPU time per word.
";
