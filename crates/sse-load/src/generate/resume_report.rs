//! The resumable replies' tables: each of our demos' resumable stream against its
//! own plain one from the same run (tokens/s and server CPU per token: what
//! keeping a reply resumable costs), and the resume mode's latency.

use std::fmt::Write as _;

use super::{GenerateOptions, Mode, ModeResult};
use crate::report::rate_text;
use crate::report::{opt, ratio, spread, table_head, time_text};
use crate::server::Kind;
use crate::stats::Spread;

/// What a resumable stream may cost per token against a plain one (issue #20).
const CPU_GOAL: f64 = 1.15;
/// The resume latency's p99 goal on loopback, in ns.
const RESUME_P99_GOAL: f64 = 10e6;

/// The median and spread of one figure over the repetitions.
fn figure(
    results: &[ModeResult],
    kind: Kind,
    clients: usize,
    mode: Mode,
    resumable: bool,
    value: impl Fn(&ModeResult) -> f64,
) -> Option<Spread> {
    Spread::of(
        results
            .iter()
            .filter(|r| {
                r.kind == kind && r.clients == clients && r.mode == mode && r.resumable == resumable
            })
            .map(value),
    )
}

/// Writes the tables of the resumable modes that ran.
pub(crate) fn tables(
    out: &mut String,
    results: &[ModeResult],
    settings: &GenerateOptions,
    servers: &[Kind],
) {
    if results
        .iter()
        .any(|r| r.resumable && r.mode != Mode::Resume)
    {
        cost_table(out, results, settings, servers);
    }
    if results.iter().any(|r| r.mode == Mode::Resume) {
        resume_table(out, results, settings, servers);
    }
}

/// Resumable against plain, flood and paced.
fn cost_table(
    out: &mut String,
    results: &[ModeResult],
    settings: &GenerateOptions,
    servers: &[Kind],
) {
    let _ = writeln!(
        out,
        "### Resumable replies against plain ones\n\n\
         Our demos' `POST /generate` with `\"resumable\": true` (the demos' default: every message numbered and kept in the reply's log for resumers, `stream` first, `end` last) \
         against `\"resumable\": false` (the plain per-request stream above), same server process, same modes. \
         The goal: a resumable stream costs at most {CPU_GOAL}× a plain one's server CPU per token.\n"
    );
    let columns = [
        "N",
        "server",
        "mode",
        "tokens/s plain",
        "tokens/s resumable",
        "ratio",
        "CPU/token plain",
        "CPU/token resumable",
        "CPU ratio",
        "first word p99 plain",
        "first word p99 resumable",
        "replies resumable",
    ];
    table_head(out, &columns, "", &[], &[]);
    for &clients in &settings.clients {
        for &kind in servers {
            for mode in [Mode::Flood, Mode::Paced] {
                let f = |resumable: bool, value: fn(&ModeResult) -> f64| {
                    figure(results, kind, clients, mode, resumable, value)
                };
                let Some(rate) = f(true, |r| r.tokens_per_second) else {
                    continue;
                };
                let cpu = |resumable| f(resumable, |r| r.user_ns + r.system_ns);
                let ratio_cell = |ours, theirs| {
                    let text = ratio(ours, theirs, false);
                    match (ours, theirs) {
                        (Some(ours), Some(theirs))
                            if theirs.median > 0.0 && ours.median / theirs.median > CPU_GOAL =>
                        {
                            format!("**{text}**")
                        }
                        _ => text,
                    }
                };
                let cells = [
                    clients.to_string(),
                    kind.name().to_string(),
                    format!("{mode:?}").to_lowercase(),
                    opt(f(false, |r| r.tokens_per_second), rate_text),
                    spread(rate, rate_text),
                    ratio(Some(rate), f(false, |r| r.tokens_per_second), false),
                    opt(cpu(false), time_text),
                    opt(cpu(true), time_text),
                    ratio_cell(cpu(true), cpu(false)),
                    opt(f(false, |r| r.first_word_p99), time_text),
                    opt(f(true, |r| r.first_word_p99), time_text),
                    opt(f(true, |r| r.completed as f64), |v| format!("{v:.0}")),
                ];
                let _ = writeln!(out, "| {} |", cells.join(" | "));
            }
        }
    }
    out.push('\n');
}

/// The resume mode's latency and cost.
fn resume_table(
    out: &mut String,
    results: &[ModeResult],
    settings: &GenerateOptions,
    servers: &[Kind],
) {
    let period_ms = 1e3 / settings.paced_rate;
    let _ = writeln!(
        out,
        "### Resume: a dropped connection resumed with `Last-Event-ID`\n\n\
         Paced resumable replies (`rate: {}`, {} words), each dropped once by its client after a word chosen at random (it closes the socket), \
         then, after an outage of {} periods ({:.0} ms, so the words it missed are in the reply's log), resumed on a new connection with \
         `GET /generate/{{key}}` and `Last-Event-ID` (the last id it read). **resume** is the time from just before that `connect` to the `read` \
         that brought the first missed word (connect, request, attach, first write); every reply is checked across both connections \
         (each message's id must be the next position: no gap, no duplicate), through `done` and `end: done`. Goal: p99 under {:.0} ms on loopback. \
         Tokens/s and CPU/token include the resumes.\n",
        settings.paced_rate,
        settings.paced_words,
        settings.outage_periods,
        f64::from(settings.outage_periods) * period_ms,
        RESUME_P99_GOAL / 1e6,
    );
    let columns = [
        "N",
        "server",
        "resumes",
        "resume p50",
        "resume p99",
        "tokens/s",
        "CPU/token",
        "CPU vs paced plain",
        "replies",
    ];
    table_head(out, &columns, "", &[], &[]);
    for &clients in &settings.clients {
        for &kind in servers {
            let f = |mode, resumable, value: fn(&ModeResult) -> f64| {
                figure(results, kind, clients, mode, resumable, value)
            };
            let Some(resumes) = f(Mode::Resume, true, |r| r.resumes as f64) else {
                continue;
            };
            let p99 = f(Mode::Resume, true, |r| r.resume_p99);
            let p99_cell = opt(p99, time_text);
            let cells = [
                clients.to_string(),
                kind.name().to_string(),
                spread(resumes, |v| format!("{v:.0}")),
                opt(f(Mode::Resume, true, |r| r.resume_p50), time_text),
                match p99 {
                    Some(p99) if p99.median > RESUME_P99_GOAL => format!("**{p99_cell}**"),
                    _ => p99_cell,
                },
                opt(f(Mode::Resume, true, |r| r.tokens_per_second), rate_text),
                opt(
                    f(Mode::Resume, true, |r| r.user_ns + r.system_ns),
                    time_text,
                ),
                ratio(
                    f(Mode::Resume, true, |r| r.user_ns + r.system_ns),
                    f(Mode::Paced, false, |r| r.user_ns + r.system_ns),
                    false,
                ),
                opt(f(Mode::Resume, true, |r| r.completed as f64), |v| {
                    format!("{v:.0}")
                }),
            ];
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
    }
    out.push('\n');
}
