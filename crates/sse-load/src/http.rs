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

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Where a streaming connection of the load clients is.
pub(crate) enum Stage {
    /// Waiting for the socket to connect (and be writable) to send the request.
    Connecting,
    /// Request written; reading the response head.
    Head(Vec<u8>),
    Body,
    /// Done with: no more requests.
    Closed,
}

/// What a streaming response's head says about its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StreamHead {
    /// The body is chunked (hyper's HTTP/1.1 streaming bodies).
    pub(crate) chunked: bool,
    /// The server keeps the connection for another request.
    pub(crate) keep_alive: bool,
}

/// Adds `input` to the response head read so far: `Ok(None)` while it is not
/// whole, then what it says and the body bytes that came after it. An error when
/// the head passes 16 KiB, or the answer is not a `200` event stream.
pub(crate) fn read_head(
    head: &mut Vec<u8>,
    input: &[u8],
) -> Result<Option<(StreamHead, Vec<u8>)>, String> {
    head.extend_from_slice(input);
    let Some(end) = find(head, b"\r\n\r\n") else {
        return if head.len() > 16 * 1024 {
            Err("a response head over 16 KiB".into())
        } else {
            Ok(None)
        };
    };
    let text = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
    if !text.starts_with("http/1.1 200") || !text.contains("text/event-stream") {
        let status = text.lines().next().unwrap_or_default().to_string();
        return Err(format!("answered {status:?}"));
    }
    let stream_head = StreamHead {
        chunked: text.contains("transfer-encoding: chunked"),
        keep_alive: !text.contains("connection: close"),
    };
    Ok(Some((stream_head, head[end + 4..].to_vec())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
transfer-encoding: chunked\r\n\r\n";

    #[test]
    fn a_head_split_anywhere_is_read_whole_with_the_body_after_it() {
        let response = [HEAD, b"5\r\nhello"].concat();
        for split in 1..=response.len() {
            let mut head = Vec::new();
            let first = read_head(&mut head, &response[..split]).expect("a 200 stream");
            let (stream_head, body) = match first {
                Some(whole) => {
                    assert!(split >= HEAD.len(), "whole at {split}");
                    whole
                }
                None => {
                    assert!(split < HEAD.len(), "not whole at {split}");
                    read_head(&mut head, &response[split..])
                        .expect("a 200 stream")
                        .expect("whole")
                }
            };
            let end = if split >= HEAD.len() {
                split
            } else {
                response.len()
            };
            assert_eq!(body, &response[HEAD.len()..end], "split {split}");
            let expected = StreamHead {
                chunked: true,
                keep_alive: true,
            };
            assert_eq!(stream_head, expected);
        }
    }

    #[test]
    fn another_answer_or_an_endless_head_is_an_error() {
        let mut head = Vec::new();
        let error = read_head(&mut head, b"HTTP/1.1 503 Service Unavailable\r\n\r\n");
        assert_eq!(
            error,
            Err("answered \"http/1.1 503 service unavailable\"".into())
        );
        let mut head = Vec::new();
        assert_eq!(read_head(&mut head, &[b'x'; 16 * 1024]), Ok(None));
        assert!(read_head(&mut head, b"x").is_err());
    }
}
