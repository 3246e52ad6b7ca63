//! A demo server in a child process, killed when the guard drops, and the plain HTTP
//! calls the tests make to it (`/publish`, `/disconnect`, `/stats`).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::Protocol;

/// How long anything the tests wait for may take before the test fails: generous for
/// a loaded 2-core machine running debug builds, but bounded, so nothing hangs.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// One adapter's demo server binary, and whether it speaks HTTP/2 with prior
/// knowledge (h2c). Made with [`adapter!`](crate::adapter), in the root package's
/// tests, where cargo says where the binaries are.
#[derive(Clone, Copy, Debug)]
pub struct Adapter {
    /// The demo binary.
    pub bin: &'static str,
    /// Whether it speaks h2c (the HTTP/2 cases run over both protocols then).
    pub h2: bool,
    /// Flags every start of the demo gets before the test's own (say, `--threads 2`).
    pub flags: &'static [&'static str],
}

/// The flag that makes a demo take the client id a request asks for
/// (`?client=alice`), as the tests that name their clients need; the default is a
/// deployment's, where the hub issues every id.
const NAMED_CLIENTS: &str = "--trust-client-id";

impl Adapter {
    /// The same demo, started with `flags` first every time: one adapter's cases
    /// run again in another configuration.
    #[must_use]
    pub const fn with_flags(self, flags: &'static [&'static str]) -> Adapter {
        Adapter { flags, ..self }
    }

    /// `flags` after the adapter's own.
    fn flags<'a>(self, flags: &[&'a str]) -> Vec<&'a str> {
        let mut all = self.flags.to_vec();
        all.extend_from_slice(flags);
        all
    }

    /// `flags` after the adapter's own and [`NAMED_CLIENTS`].
    fn named<'a>(self, flags: &[&'a str]) -> Vec<&'a str> {
        let mut all = self.flags(&[NAMED_CLIENTS]);
        all.extend_from_slice(flags);
        all
    }

    /// Starts its demo with `flags` (besides `--addr 127.0.0.1:0`), taking the
    /// client ids requests name.
    pub fn start(self, flags: &[&str]) -> Server {
        Server::start(self.bin, &self.named(flags))
    }

    /// Starts its demo with `flags` as a deployment would: the hub issues every
    /// client's id.
    pub fn start_issuing_ids(self, flags: &[&str]) -> Server {
        Server::start(self.bin, &self.flags(flags))
    }

    /// Starts its demo on `addr` (a restarted server, on the port of the previous
    /// one) with `flags`, taking named ids: the demo takes the last `--addr` it is
    /// given.
    pub fn start_on(self, addr: SocketAddr, flags: &[&str]) -> Server {
        let addr = addr.to_string();
        let mut all = self.named(flags);
        all.extend(["--addr", &addr]);
        Server::start(self.bin, &all)
    }

    /// Starts its demo with at most `files` open file descriptors, taking named ids.
    pub fn start_with_file_limit(self, flags: &[&str], files: u32) -> Server {
        Server::start_with_file_limit(self.bin, &self.named(flags), files)
    }

    /// The protocols its clients can use: HTTP/1.1, and HTTP/2 where it speaks h2c.
    pub fn protocols(self) -> &'static [Protocol] {
        if self.h2 {
            &[Protocol::Http1, Protocol::Http2]
        } else {
            &[Protocol::Http1]
        }
    }

    /// The newest protocol it speaks.
    pub fn newest_protocol(self) -> Protocol {
        if self.h2 {
            Protocol::Http2
        } else {
            Protocol::Http1
        }
    }
}

/// An adapter's demo as an [`Adapter`]: `adapter!(hyper)`, `axum`, `warp` or
/// `smol`. A macro because only the root package's tests know where cargo put the
/// demo binaries (`env!("CARGO_BIN_EXE_demo-…")`, read where this expands); which
/// of them speak h2c is said here, once.
#[macro_export]
macro_rules! adapter {
    (hyper) => {
        $crate::adapter!(@demo "demo-hyper", true)
    };
    (axum) => {
        $crate::adapter!(@demo "demo-axum", true)
    };
    (warp) => {
        $crate::adapter!(@demo "demo-warp", true)
    };
    (smol) => {
        $crate::adapter!(@demo "demo-smol", false)
    };
    (@demo $bin:literal, $h2:expr) => {
        $crate::demo::Adapter {
            bin: env!(concat!("CARGO_BIN_EXE_", $bin)),
            h2: $h2,
            flags: &[],
        }
    };
}

/// Runs a test case on a runtime of its own (two workers: readers and publishers
/// of one test run side by side, as they would across machines).
pub fn run(case: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(case);
}

/// A running demo server. Dropping it kills the process (SIGKILL) if it still runs,
/// and reaps it, so no server outlives its test, even one that failed.
#[derive(Debug)]
pub struct Server {
    child: Child,
    addr: SocketAddr,
    /// The server's stdout, line by line, after the `listening on` line.
    stdout: mpsc::Receiver<String>,
    http: reqwest::Client,
}

impl Server {
    /// Starts the demo binary `bin` on `127.0.0.1:0` with `flags`, and waits until it
    /// says where it listens.
    pub fn start(bin: &str, flags: &[&str]) -> Server {
        Server::spawn(Command::new(bin), bin, flags)
    }

    /// [`start`](Self::start), with at most `files` open file descriptors (sockets
    /// included) for the server process.
    pub fn start_with_file_limit(bin: &str, flags: &[&str], files: u32) -> Server {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -n {files} && exec \"$0\" \"$@\""))
            .arg(bin);
        Server::spawn(command, bin, flags)
    }

    fn spawn(mut command: Command, bin: &str, flags: &[&str]) -> Server {
        let mut child = command
            .args(["--addr", "127.0.0.1:0"])
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (lines_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        // From here on the guard owns the child: a failure below kills it.
        let mut server = Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stdout: lines,
            http: reqwest::Client::builder()
                .http1_only()
                .no_proxy()
                .connect_timeout(TIMEOUT)
                .timeout(TIMEOUT)
                .build()
                .expect("an HTTP client"),
        };
        let line = server
            .stdout
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|e| panic!("{bin} printed no `listening on` line: {e}"));
        let addr = line
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("{bin}: unexpected first line {line:?}"));
        server.addr = addr
            .parse()
            .unwrap_or_else(|e| panic!("{bin}: bad address in {line:?}: {e}"));
        server
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `POST path` with `body` as is (`content-type: application/json`).
    pub async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> Reply {
        self.post_as(path, "application/json", body).await
    }

    /// `POST path` with `body` as is, as `content_type`.
    pub async fn post_as(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let response = self
            .http
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        Reply::read(response).await
    }

    /// `POST /publish` with `body`; panics unless it answers 202 `{"id": ".."}`, and
    /// returns that id.
    pub async fn publish(&self, body: &Value) -> String {
        let reply = self.post("/publish", body.to_string()).await;
        assert_eq!(reply.status, 202, "POST /publish {body}: {reply:?}");
        match &reply.json["id"] {
            Value::String(id) => id.clone(),
            other => panic!("POST /publish {body}: id {other} is not a string"),
        }
    }

    /// `POST /publish {"data": data}`, to everyone; returns the event's id.
    pub async fn broadcast(&self, data: &str) -> String {
        self.publish(&serde_json::json!({ "data": data })).await
    }

    /// `POST /disconnect {"client": client}`.
    pub async fn disconnect(&self, client: &str) -> Reply {
        let body = serde_json::json!({ "client": client });
        self.post("/disconnect", body.to_string()).await
    }

    /// `GET /stats`.
    pub async fn stats(&self) -> Value {
        let response = self
            .http
            .get(self.url("/stats"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET /stats: {e}"));
        let reply = Reply::read(response).await;
        assert_eq!(reply.status, 200, "GET /stats: {reply:?}");
        reply.json
    }

    /// Polls `/stats` until `done` holds (returns those stats) or [`TIMEOUT`] passes
    /// (panics, naming `what` and showing the last stats).
    pub async fn wait_for_stats(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_stats_within(TIMEOUT, what, done).await
    }

    /// [`wait_for_stats`](Self::wait_for_stats) with a timeout of your choice.
    pub async fn wait_for_stats_within(
        &self,
        timeout: Duration,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let stats = self.stats().await;
            if done(&stats) {
                return stats;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; stats: {stats}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls `/stats` until `client` is connected.
    pub async fn wait_for_client(&self, client: &str) -> Value {
        self.wait_for_client_within(TIMEOUT, client).await
    }

    /// [`wait_for_client`](Self::wait_for_client) with a timeout of your choice.
    pub async fn wait_for_client_within(&self, timeout: Duration, client: &str) -> Value {
        let what = format!("client {client:?} to connect");
        self.wait_for_stats_within(timeout, &what, |stats| {
            let clients = stats["clients"].as_array();
            clients.is_some_and(|ids| ids.iter().any(|id| id == client))
        })
        .await
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill(1)");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Waits until the process exits, at most `timeout` (panics then).
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Every line the server printed on stdout after `listening on`, so far (waits
    /// a moment for the end of the output once the process has exited).
    pub fn stdout_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Ok(line) = self.stdout.recv_timeout(Duration::from_millis(200)) {
            lines.push(line);
        }
        lines
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A whole, non-streaming answer.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body, as text.
    pub body: String,
    /// The body as JSON, or `null` when it is not JSON.
    pub json: Value,
}

impl Reply {
    /// Reads a whole response.
    ///
    /// # Panics
    ///
    /// When the body cannot be read.
    pub async fn read(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.expect("a response body");
        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            json,
        }
    }

    /// The value of header `name`, or `""`.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }

    /// Panics unless this is a 4xx with a JSON `{"error": "<message>"}` body.
    #[track_caller]
    pub fn assert_json_error(&self, status: u16, what: &str) {
        assert_eq!(self.status, status, "{what}: {self:?}");
        assert!(
            self.header("content-type").starts_with("application/json"),
            "{what}: not JSON: {self:?}"
        );
        assert!(
            self.json["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}: no JSON error message: {self:?}"
        );
    }
}
