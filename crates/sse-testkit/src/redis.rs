//! A throwaway `redis-server` (Debian's package `redis-server`; `.ci/run` installs
//! it) on a free loopback port, with no persistence, killed when the guard drops:
//! for the tests ([`RedisServer::start_for_test`]) and the load tool
//! ([`RedisServer::start`]).

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary, looked up on `PATH` (the Debian package installs `/usr/bin/redis-server`).
const BINARY: &str = "redis-server";
/// How long a fresh server may take to answer `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `redis-server`.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
}

impl RedisServer {
    /// Whether `redis-server` can be run here.
    #[must_use]
    pub fn available() -> bool {
        Command::new(BINARY)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }

    /// Starts one on a free port and waits until it answers `PING`.
    ///
    /// # Errors
    ///
    /// When no port is free, `redis-server` cannot be started, or it does not
    /// answer within 10 s.
    pub fn start() -> io::Result<RedisServer> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut server = RedisServer { child: None, port };
        server.restart()?;
        Ok(server)
    }

    /// [`start`](Self::start) for a test: `None` (the test is skipped, and says
    /// so) when `redis-server` is not installed and this is not CI (the `CI`
    /// environment variable), where it fails instead.
    ///
    /// # Panics
    ///
    /// When it is missing under CI, or does not come up.
    #[must_use]
    pub fn start_for_test() -> Option<RedisServer> {
        if !RedisServer::available() {
            let message = "redis-server not found: install it with \
                           `apt-get install -y --no-install-recommends redis-server`";
            assert!(std::env::var_os("CI").is_none(), "{message}");
            eprintln!("\n!!!!!!!!\n!!!!!!!! SKIPPED a Redis test: {message}\n!!!!!!!!\n");
            return None;
        }
        Some(RedisServer::start().unwrap_or_else(|e| panic!("{e}")))
    }

    /// `redis://127.0.0.1:PORT/`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The process id, while it runs.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server (its data goes with it: there is no persistence).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server if it runs, then starts a new, empty one on the same port
    /// and waits until it answers `PING`.
    ///
    /// # Errors
    ///
    /// When `redis-server` cannot be started or does not answer within 10 s.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        let child = Command::new(BINARY)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| io::Error::other(format!("starting {BINARY}: {e}")))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.answers_ping() {
            if Instant::now() >= deadline {
                return Err(io::Error::other(format!(
                    "{BINARY} on port {} did not answer PING",
                    self.port
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut reply = [0; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
