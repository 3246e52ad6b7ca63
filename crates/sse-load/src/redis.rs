//! A `redis-server` of the tool's own, for the Redis rows: on a free port of
//! 127.0.0.1, without persistence, killed when dropped.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary, looked up on `PATH` (the Debian package installs `/usr/bin/redis-server`).
const BINARY: &str = "redis-server";
/// How long a fresh server may take to answer `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `redis-server` can be run here.
pub(crate) fn available() -> bool {
    Command::new(BINARY)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A running `redis-server`; killed (SIGKILL) and reaped when dropped.
#[derive(Debug)]
pub(crate) struct RedisServer {
    child: Child,
    pub(crate) pid: u32,
    addr: SocketAddr,
}

impl RedisServer {
    /// Starts one on a free port and waits until it answers `PING`.
    pub(crate) fn start() -> io::Result<RedisServer> {
        let addr = free_port()?;
        let child = Command::new(BINARY)
            .args(["--bind", "127.0.0.1", "--port", &addr.port().to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| io::Error::other(format!("starting {BINARY}: {e}")))?;
        let server = RedisServer {
            pid: child.id(),
            child,
            addr,
        };
        server.wait_ready()?;
        Ok(server)
    }

    /// `redis://127.0.0.1:PORT/`, for the demos' `--redis`.
    pub(crate) fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    fn wait_ready(&self) -> io::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if ping(self.addr).unwrap_or(false) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(io::Error::other(format!(
            "{BINARY} on {} did not answer PING",
            self.addr
        )))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on now (the OS's pick; free again once the probe closes).
fn free_port() -> io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// Whether the server at `addr` answers `PING` with `+PONG`.
fn ping(addr: SocketAddr) -> io::Result<bool> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    stream.write_all(b"PING\r\n")?;
    let mut answer = [0u8; 7];
    stream.read_exact(&mut answer)?;
    Ok(&answer == b"+PONG\r\n")
}
