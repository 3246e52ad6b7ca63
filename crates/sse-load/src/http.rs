//! A small blocking HTTP/1.1 client for the control requests: `POST /publish` and
//! `GET /stats`, over a kept-alive connection (reopened when the server closes it,
//! as `sse-smol`'s server does after every request).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the UNIX epoch: what every event carries as its send time.
pub(crate) fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// One connection to the server under test.
#[derive(Debug)]
pub(crate) struct HttpClient {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    request: Vec<u8>,
    response: Vec<u8>,
}

impl HttpClient {
    pub(crate) fn new(addr: SocketAddr) -> Self {
        HttpClient {
            addr,
            stream: None,
            request: Vec::with_capacity(2048),
            response: Vec::with_capacity(4096),
        }
    }

    /// `POST /publish` with `{"data": data}` (`data` needs no JSON escaping: the
    /// tool only sends digits, spaces and `x`). Returns whether the server took it
    /// (202).
    pub(crate) fn publish(&mut self, data: &str) -> io::Result<bool> {
        let body = format!(r#"{{"data":"{data}"}}"#);
        let (status, _) = self.request("POST", "/publish", body.as_bytes())?;
        Ok(status == 202)
    }

    /// `GET /stats`, parsed.
    pub(crate) fn stats(&mut self) -> io::Result<serde_json::Value> {
        let (status, body) = self.request("GET", "/stats", b"")?;
        if status != 200 {
            return Err(io::Error::other(format!("GET /stats answered {status}")));
        }
        serde_json::from_slice(&body).map_err(io::Error::other)
    }

    /// One request; retried once on a fresh connection if a kept-alive one fails
    /// before answering.
    fn request(&mut self, method: &str, path: &str, body: &[u8]) -> io::Result<(u16, Vec<u8>)> {
        self.request.clear();
        write!(
            self.request,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        )?;
        self.request.extend_from_slice(body);
        let reused = self.stream.is_some();
        match self.exchange() {
            Ok(answer) => Ok(answer),
            Err(_) if reused => {
                self.stream = None;
                self.exchange()
            }
            Err(error) => Err(error),
        }
    }

    fn exchange(&mut self) -> io::Result<(u16, Vec<u8>)> {
        let result = self.exchange_inner();
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    fn exchange_inner(&mut self) -> io::Result<(u16, Vec<u8>)> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(self.addr)?;
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
        }
        let stream = self.stream.as_mut().expect("connected above");
        stream.write_all(&self.request)?;

        // The head.
        self.response.clear();
        let mut scratch = [0u8; 4096];
        let head_end = loop {
            if let Some(end) = find(&self.response, b"\r\n\r\n") {
                break end + 4;
            }
            let n = stream.read(&mut scratch)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.response.extend_from_slice(&scratch[..n]);
        };
        let head = std::str::from_utf8(&self.response[..head_end])
            .map_err(|_| io::Error::other("a response head that is not UTF-8"))?;
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other("no status"))?;
        let mut length = None;
        let mut close = false;
        for line in head.split("\r\n").skip(1) {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(io::Error::other(
                    "chunked control responses are not handled",
                ));
            }
        }

        // The body: `Content-Length` bytes, or until the server closes.
        let mut body = self.response.split_off(head_end);
        match length {
            Some(length) => {
                while body.len() < length {
                    let n = stream.read(&mut scratch)?;
                    if n == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    body.extend_from_slice(&scratch[..n]);
                }
                body.truncate(length);
            }
            None => {
                stream.read_to_end(&mut body)?;
                close = true;
            }
        }
        if close {
            self.stream = None;
        }
        Ok((status, body))
    }
}

pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
