//! Counting a server's write system calls of every kind with `perf stat`.
//!
//! `syscw` of `/proc/PID/io` counts `write` and `writev` but not `send`, `sendto` or
//! `sendmsg`, and Rust's `std::net::TcpStream::write` is a `send` (with
//! `MSG_NOSIGNAL`): a writer that writes one buffer at a time through it (as
//! `sse-smol` writes a per-request stream, or actix-web writes everything) would go
//! uncounted. So where `perf` can count the syscall tracepoints, both scenarios count
//! all four.

use std::io::Read;
use std::process::{Child, Command, Stdio};

/// The tracepoints counted.
const EVENTS: &str = "syscalls:sys_enter_write,syscalls:sys_enter_writev,\
                      syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg";

/// How long `perf stat` takes to attach, waited for before what it should count.
pub(crate) const PERF_ATTACH: std::time::Duration = std::time::Duration::from_millis(100);

/// `perf stat` attached to some processes, counting their writes until
/// [`stop`](Self::stop)ped.
#[derive(Debug)]
pub(crate) struct WriteCount(Child);

impl WriteCount {
    /// Attaches to `pids`; `None` when `perf` cannot be run.
    pub(crate) fn start(pids: &[u32]) -> Option<WriteCount> {
        let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
        Command::new("perf")
            .args(["stat", "-x", ",", "-e", EVENTS, "-p", &pids.join(",")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .ok()
            .map(WriteCount)
    }

    /// Stops counting (SIGINT: perf prints its counts) and returns the total, or
    /// `None` when perf could not count (no permission, no tracepoints).
    pub(crate) fn stop(mut self) -> Option<u64> {
        let interrupted = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status()
            .is_ok_and(|status| status.success());
        let mut output = String::new();
        let read = self
            .0
            .stderr
            .take()
            .map(|mut stderr| stderr.read_to_string(&mut output));
        let _ = self.0.wait();
        match (interrupted, read) {
            (true, Some(Ok(_))) => total(&output),
            _ => None,
        }
    }

    /// Whether `perf` counts syscall tracepoints here: one short trial.
    pub(crate) fn available() -> bool {
        let Ok(output) = Command::new("perf")
            .args(["stat", "-x", ",", "-e", EVENTS, "--", "true"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .output()
        else {
            return false;
        };
        output.status.success() && total(&String::from_utf8_lossy(&output.stderr)).is_some()
    }
}

impl Drop for WriteCount {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The sum of the counts in `perf stat -x ,` output (`count,unit,event,...` lines);
/// `None` unless all four events were counted.
fn total(output: &str) -> Option<u64> {
    let mut sum = 0;
    let mut counted = 0;
    for line in output.lines() {
        let mut fields = line.split(',');
        let (Some(count), Some(event)) = (fields.next(), fields.nth(1)) else {
            continue;
        };
        if event.starts_with("syscalls:sys_enter_") {
            sum += count.trim().parse::<u64>().ok()?;
            counted += 1;
        }
    }
    (counted == 4).then_some(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_perfs_csv() {
        let output = "\
10,,syscalls:sys_enter_write,3000,100.00,,
2,,syscalls:sys_enter_writev,3000,100.00,,
0,,syscalls:sys_enter_sendto,3000,100.00,,
5,,syscalls:sys_enter_sendmsg,3000,100.00,,
";
        assert_eq!(total(output), Some(17));
        assert_eq!(total("<not counted>,,syscalls:sys_enter_write,0,0,,"), None);
        assert_eq!(total(""), None);
    }
}
