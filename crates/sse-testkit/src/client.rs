//! An SSE client for the tests: reqwest over HTTP/1.1 or HTTP/2 with prior knowledge,
//! decoded by `sse_core`'s `EventStream`. Every wait is bounded by [`TIMEOUT`].

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use reqwest::header::HeaderMap;
use sse_core::{Decoded, EventStream, MessageEvent};

use crate::demo::{Reply, Server, TIMEOUT};

/// Which HTTP version a client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1.
    Http1,
    /// HTTP/2 over cleartext with prior knowledge (h2c).
    Http2,
}

impl Protocol {
    /// A fresh client (its own connections) for this protocol.
    pub fn client(self) -> reqwest::Client {
        let builder = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(TIMEOUT);
        let builder = match self {
            Protocol::Http1 => builder.http1_only(),
            Protocol::Http2 => builder.http2_prior_knowledge(),
        };
        builder.build().expect("an HTTP client")
    }

    /// The version a response must come with.
    pub fn version(self) -> reqwest::Version {
        match self {
            Protocol::Http1 => reqwest::Version::HTTP_11,
            Protocol::Http2 => reqwest::Version::HTTP_2,
        }
    }
}

type Chunks = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// The event type by which the demos tell a client its id, first on every stream:
/// the clients here take it aside ([`SseClient::id`]) rather than hand it out.
const CLIENT_ID_EVENT: &str = "client-id";

/// What to ask `/events` (or another streaming route) for.
#[derive(Clone, Debug)]
pub struct Connect {
    protocol: Protocol,
    path: String,
    query: String,
    headers: Vec<(&'static str, String)>,
    /// A JSON body to `POST`; `GET` without one.
    body: Option<String>,
}

impl Default for Connect {
    fn default() -> Self {
        Connect::new()
    }
}

impl Connect {
    /// `GET /events` over HTTP/1.1, no query, no headers.
    pub fn new() -> Connect {
        Connect {
            protocol: Protocol::Http1,
            path: "/events".into(),
            query: String::new(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// `GET path`: another streaming route (a resumable reply's
    /// `/generate/{key}`, say).
    pub fn get(path: &str) -> Connect {
        Connect {
            path: path.into(),
            ..Connect::new()
        }
    }

    /// `POST /generate` with `body` (JSON): a per-request stream.
    pub fn generate(body: &serde_json::Value) -> Connect {
        Connect {
            path: "/generate".into(),
            body: Some(body.to_string()),
            ..Connect::new()
        }
    }

    /// Speaks `protocol` (HTTP/1.1 by default).
    pub fn protocol(mut self, protocol: Protocol) -> Connect {
        self.protocol = protocol;
        self
    }

    /// Adds `name=value` to the query (values here need no escaping).
    pub fn query(mut self, name: &str, value: &str) -> Connect {
        self.query
            .push_str(if self.query.is_empty() { "?" } else { "&" });
        self.query.push_str(&format!("{name}={value}"));
        self
    }

    /// The id as browsers give it: `client=`.
    pub fn client(self, id: &str) -> Connect {
        self.query("client", id)
    }

    /// Subscribes to `topic`.
    pub fn topic(self, topic: &str) -> Connect {
        self.query("topic", topic)
    }

    /// Adds a request header.
    pub fn header(mut self, name: &'static str, value: &str) -> Connect {
        self.headers.push((name, value.to_owned()));
        self
    }

    /// Sends the request and waits for the response head; panics unless it is a 200.
    pub async fn open(self, server: &Server) -> SseClient {
        let path = self.path.clone();
        match self.send(server).await {
            Ok(client) => client,
            Err(reply) => panic!("{path} was refused: {reply:?}"),
        }
    }

    /// Sends the request and waits for the response head: the stream when it is a
    /// 200, else the whole answer.
    pub async fn send(self, server: &Server) -> Result<SseClient, Reply> {
        let url = server.url(&format!("{}{}", self.path, self.query));
        let client = self.protocol.client();
        let mut request = match &self.body {
            Some(body) => client
                .post(&url)
                .header("content-type", "application/json")
                .body(body.clone()),
            None => client.get(&url),
        };
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        let response = tokio::time::timeout(TIMEOUT, request.send())
            .await
            .unwrap_or_else(|_| panic!("GET {url}: no response head within {TIMEOUT:?}"))
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        if response.status() != 200 {
            return Err(Reply::read(response).await);
        }
        let version = response.version();
        assert_eq!(version, self.protocol.version(), "GET {url}");
        let headers = response.headers().clone();
        let chunks: Chunks = Box::pin(response.bytes_stream());
        Ok(SseClient {
            headers,
            events: EventStream::new(chunks),
            last_event_id: String::new(),
            id: None,
        })
    }
}

/// An open event stream.
pub struct SseClient {
    /// The response head's headers.
    pub headers: HeaderMap,
    events: EventStream<Chunks>,
    /// The id of the last event returned (not the decoder's, which may be ahead: it
    /// has seen the events it decoded but not yet handed out).
    last_event_id: String,
    /// The client id the server announced ([`CLIENT_ID_EVENT`]).
    pub id: Option<String>,
}

impl std::fmt::Debug for SseClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseClient")
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl SseClient {
    /// The value of response header `name`, or `""`.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }

    /// The next decoded item within `timeout` (`Err` when none came); `Ok(None)` when
    /// the stream ended. Panics on a transport or decode error.
    pub async fn next_within(&mut self, timeout: Duration) -> Result<Option<Decoded>, ()> {
        loop {
            match tokio::time::timeout(timeout, self.events.next()).await {
                Err(_) => return Err(()),
                Ok(None) => return Ok(None),
                Ok(Some(Ok(Decoded::Event(event)))) if event.event_type == CLIENT_ID_EVENT => {
                    self.id = Some(event.data);
                }
                Ok(Some(Ok(item))) => return Ok(Some(item)),
                Ok(Some(Err(e))) => panic!("the event stream failed: {e}"),
            }
        }
    }

    /// The next decoded item (`None` when the stream ended); panics after [`TIMEOUT`].
    pub async fn next(&mut self) -> Option<Decoded> {
        self.next_within(TIMEOUT)
            .await
            .unwrap_or_else(|()| panic!("nothing arrived within {TIMEOUT:?}"))
    }

    /// The next event, skipping comments and `retry:`; panics if the stream ends.
    pub async fn next_event(&mut self) -> MessageEvent {
        loop {
            match self.next().await {
                Some(Decoded::Event(event)) => {
                    self.last_event_id.clone_from(&event.last_event_id);
                    return event;
                }
                Some(_) => {}
                None => panic!("the stream ended where an event was expected"),
            }
        }
    }

    /// The next `n` events.
    pub async fn events(&mut self, n: usize) -> Vec<MessageEvent> {
        let mut events = Vec::with_capacity(n);
        for _ in 0..n {
            events.push(self.next_event().await);
        }
        events
    }

    /// The data of every event up to and including the one whose data is `marker`.
    pub async fn data_until(&mut self, marker: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let event = self.next_event().await;
            let done = event.data == marker;
            seen.push(event.data);
            if done {
                return seen;
            }
        }
    }

    /// Reads until the stream ends; returns the events it still carried.
    pub async fn until_end(&mut self) -> Vec<MessageEvent> {
        let mut events = Vec::new();
        while let Some(item) = self.next().await {
            if let Decoded::Event(event) = item {
                events.push(event);
            }
        }
        events
    }

    /// The id to send back as `Last-Event-ID`: that of the last event returned.
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }
}

/// A client on a raw TCP socket with a small receive buffer, for the slow-client
/// cases: it sends its request and reads only when told to, taking the HTTP/1.1
/// body (chunked, or delimited by the connection's end) apart itself.
#[derive(Debug)]
pub struct RawClient {
    stream: tokio::net::TcpStream,
    /// Bytes read and not parsed yet.
    buffer: Vec<u8>,
    body: Body,
    decoder: sse_core::Decoder,
}

/// Where the chunked body parser stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    Head,
    /// No chunked encoding: the body ends with the connection.
    UntilClose,
    ChunkSize,
    Data(usize),
    DataEnd,
    Ended,
}

impl RawClient {
    /// Connects with `SO_RCVBUF` 4 KiB and sends `GET /events` as client `id`; returns
    /// once the server has registered it. Reads nothing.
    pub async fn connect(server: &Server, id: &str) -> RawClient {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let stream = tokio::time::timeout(TIMEOUT, socket.connect(server.addr()))
            .await
            .expect("connect in time")
            .expect("connect");
        let request = format!(
            "GET /events HTTP/1.1\r\nhost: {}\r\naccept: text/event-stream\r\nsse-clientid: {id}\r\n\r\n",
            server.addr()
        );
        let mut written = 0;
        while written < request.len() {
            tokio::time::timeout(TIMEOUT, stream.writable())
                .await
                .expect("writable in time")
                .expect("writable");
            match stream.try_write(&request.as_bytes()[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("write the request: {e}"),
            }
        }
        server.wait_for_client(id).await;
        RawClient {
            stream,
            buffer: Vec::new(),
            body: Body::Head,
            decoder: sse_core::Decoder::new(),
        }
    }

    /// The next event; `None` when the body ended. Panics after [`TIMEOUT`] without
    /// one.
    pub async fn next_event(&mut self) -> Option<MessageEvent> {
        loop {
            for item in self.decoder.by_ref() {
                if let Decoded::Event(event) = item
                    && event.event_type != CLIENT_ID_EVENT
                {
                    return Some(event);
                }
            }
            if self.body == Body::Ended {
                return None;
            }
            self.read().await;
            self.parse();
        }
    }

    /// Reads (and throws away) everything until the server closes the connection;
    /// `Err` when it is still open after `within`.
    ///
    /// # Errors
    ///
    /// When the connection is still open after `within`.
    pub async fn read_until_closed(mut self, within: Duration) -> Result<usize, ()> {
        use tokio::io::AsyncReadExt;
        let mut chunk = vec![0; 64 * 1024];
        let mut total = self.buffer.len();
        let read_all = async {
            loop {
                match self.stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return total,
                    Ok(n) => total += n,
                }
            }
        };
        tokio::time::timeout(within, read_all).await.map_err(|_| ())
    }

    async fn read(&mut self) {
        let mut chunk = [0; 64 * 1024];
        loop {
            tokio::time::timeout(TIMEOUT, self.stream.readable())
                .await
                .unwrap_or_else(|_| panic!("nothing to read within {TIMEOUT:?}"))
                .expect("readable");
            match self.stream.try_read(&mut chunk) {
                Ok(0) if self.body == Body::UntilClose => {
                    self.body = Body::Ended;
                    return;
                }
                Ok(0) => panic!("the connection closed in the middle of the body"),
                Ok(n) => {
                    self.buffer.extend_from_slice(&chunk[..n]);
                    return;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// Moves what the buffer holds of the body into the decoder.
    fn parse(&mut self) {
        loop {
            match self.body {
                Body::Head => {
                    let Some(end) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                        return;
                    };
                    let head = String::from_utf8_lossy(&self.buffer[..end]).to_lowercase();
                    assert!(head.starts_with("http/1.1 200"), "head: {head}");
                    assert!(!head.contains("content-length"), "head: {head}");
                    self.buffer.drain(..end + 4);
                    self.body = if head.contains("transfer-encoding: chunked") {
                        Body::ChunkSize
                    } else {
                        Body::UntilClose
                    };
                }
                Body::UntilClose => {
                    self.decoder.push(&self.buffer).expect("a decodable stream");
                    self.buffer.clear();
                    return;
                }
                Body::ChunkSize => {
                    let Some(end) = self.buffer.windows(2).position(|w| w == b"\r\n") else {
                        return;
                    };
                    let line = std::str::from_utf8(&self.buffer[..end]).expect("a size line");
                    let size = line.split(';').next().unwrap_or_default().trim();
                    let size = usize::from_str_radix(size, 16).expect("a hex chunk size");
                    self.buffer.drain(..end + 2);
                    self.body = if size == 0 {
                        Body::Ended
                    } else {
                        Body::Data(size)
                    };
                }
                Body::Data(left) => {
                    if self.buffer.is_empty() {
                        return;
                    }
                    let take = left.min(self.buffer.len());
                    self.decoder
                        .push(&self.buffer[..take])
                        .expect("a decodable stream");
                    self.buffer.drain(..take);
                    self.body = match left - take {
                        0 => Body::DataEnd,
                        left => Body::Data(left),
                    };
                }
                Body::DataEnd => {
                    if self.buffer.len() < 2 {
                        return;
                    }
                    assert_eq!(&self.buffer[..2], b"\r\n", "chunk end");
                    self.buffer.drain(..2);
                    self.body = Body::ChunkSize;
                }
                Body::Ended => return,
            }
        }
    }
}
