//! One attempt: TCP (to the server or a proxy), a `CONNECT` tunnel, TLS, the HTTP
//! handshake, the request, the response head; the redirects it follows; the start
//! of an error response's body.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};

use crate::body::Body;
use crate::endpoint::Endpoint;
use crate::error::{BodyPrefix, BoxError, ERROR_BODY_LIMIT, Error};
use crate::redirect::{Chain, Hop};
use crate::rt::{self, Exec, Runtime, Timer};

/// What every attempt of one event source shares.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) runtime: Runtime,
    pub(crate) http2_prior_knowledge: bool,
    pub(crate) connect_timeout: Duration,
    /// How many redirects one attempt follows (0: none).
    pub(crate) redirect_limit: usize,
    #[cfg(feature = "proxy")]
    pub(crate) proxies: Arc<crate::proxy::Proxies>,
    #[cfg(feature = "rustls")]
    pub(crate) tls: Arc<crate::tls::Tls>,
    /// The request the next attempt sends: the one built, or the one redirects led
    /// to (reconnections go where the last redirect chain ended).
    hop: Mutex<Arc<Hop>>,
}

impl Target {
    pub(crate) fn new(
        runtime: Runtime,
        hop: Hop,
        http2_prior_knowledge: bool,
        connect_timeout: Duration,
        redirect_limit: usize,
    ) -> Target {
        Target {
            runtime,
            http2_prior_knowledge,
            connect_timeout,
            redirect_limit,
            #[cfg(feature = "proxy")]
            proxies: Arc::new(crate::proxy::Proxies::from_env()),
            #[cfg(feature = "rustls")]
            tls: Arc::new(crate::tls::Tls::default()),
            hop: Mutex::new(Arc::new(hop)),
        }
    }

    /// The request the next attempt starts with.
    pub(crate) fn hop(&self) -> Arc<Hop> {
        self.hop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The same settings for another request (a resume).
    pub(crate) fn with_hop(&self, hop: Hop) -> Target {
        Target {
            runtime: self.runtime,
            http2_prior_knowledge: self.http2_prior_knowledge,
            connect_timeout: self.connect_timeout,
            redirect_limit: self.redirect_limit,
            #[cfg(feature = "proxy")]
            proxies: self.proxies.clone(),
            #[cfg(feature = "rustls")]
            tls: self.tls.clone(),
            hop: Mutex::new(Arc::new(hop)),
        }
    }

    fn set_hop(&self, hop: Arc<Hop>) {
        *self.hop.lock().unwrap_or_else(PoisonError::into_inner) = hop;
    }
}

/// Drives the connection: polled alongside the response body.
pub(crate) type Driver = Pin<Box<dyn Future<Output = Result<(), hyper::Error>> + Send>>;

/// An open connection: its driver, and the request handle that keeps it open.
pub(crate) struct Connection {
    pub(crate) driver: Option<Driver>,
    _sender: Sender,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Connection")
    }
}

impl Connection {
    /// Polls the driver until it ends (then forgets it).
    pub(crate) fn drive(&mut self, cx: &mut std::task::Context<'_>) {
        // Its error, if any, reaches the body too.
        if let Some(driver) = self.driver.as_mut()
            && driver.as_mut().poll(cx).is_ready()
        {
            self.driver = None;
        }
    }
}

enum Sender {
    H1(#[allow(dead_code)] http1::SendRequest<Full<Bytes>>),
    H2(#[allow(dead_code)] http2::SendRequest<Full<Bytes>>),
}

pub(crate) type Attempt =
    Pin<Box<dyn Future<Output = Result<(Response<Body>, Connection), BoxError>> + Send>>;

/// Connects and sends the request, with `last_event_id` (if not empty), following
/// redirects. An [`Error`] among its errors is fatal; the others are retried.
pub(crate) fn attempt(target: Arc<Target>, last_event_id: String) -> Attempt {
    Box::pin(async move { open(&target, &last_event_id).await })
}

async fn open(
    target: &Target,
    last_event_id: &str,
) -> Result<(Response<Body>, Connection), BoxError> {
    let start = Instant::now();
    let first = target.hop();
    let mut hop = first.clone();
    let mut chain = Chain::new(&hop, target.redirect_limit);
    loop {
        let (response, connection) = exchange(target, &hop, last_event_id).await?;
        match chain.next(&hop, response.status(), response.headers()) {
            Ok(Some(next)) => {
                // This connection is done with; the next request may go anywhere.
                drop((response, connection));
                hop = Arc::new(next);
                continue;
            }
            Ok(None) => {}
            Err(error) => return Err(fatal(Error::Redirect(error))),
        }
        if !Arc::ptr_eq(&hop, &first) {
            target.set_hop(hop);
        }
        let deadline = start + target.connect_timeout / 2;
        return finish(target.runtime, response, connection, deadline).await;
    }
}

/// The response as the stream reads it: a `200`'s body decoded per its
/// `Content-Encoding`; for a status that is not `200` or `204`, the start of the
/// body (up to [`ERROR_BODY_LIMIT`], what arrives by `deadline`) in the extensions,
/// for [`ErrorResponse`](crate::ErrorResponse).
async fn finish(
    runtime: Runtime,
    response: Response<Incoming>,
    mut connection: Connection,
    deadline: Instant,
) -> Result<(Response<Body>, Connection), BoxError> {
    let (mut parts, body) = response.into_parts();
    let encoding = parts.headers.get(header::CONTENT_ENCODING);
    if parts.status == StatusCode::OK {
        // An event stream must be decodable; anything else ends with a content
        // type error whatever its encoding.
        let body = if is_event_stream(&parts.headers) {
            Body::new(body, encoding).map_err(fatal)?
        } else {
            Body::new_or_plain(body, encoding)
        };
        return Ok((Response::from_parts(parts, body), connection));
    }
    // An error body in a coding this build lacks is kept as it came.
    let mut body = Body::new_or_plain(body, encoding);
    if parts.status != StatusCode::NO_CONTENT {
        let prefix = read_prefix(runtime, &mut body, &mut connection, deadline).await;
        parts.extensions.insert(prefix);
    }
    Ok((Response::from_parts(parts, body), connection))
}

/// Whether the response says `Content-Type: text/event-stream` (parameters aside).
fn is_event_stream(headers: &http::HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).is_some_and(|value| {
        let essence = value.as_bytes().split(|&b| b == b';').next();
        essence.is_some_and(|e| e.trim_ascii().eq_ignore_ascii_case(b"text/event-stream"))
    })
}

/// Reads the start of an error body: until it ends, [`ERROR_BODY_LIMIT`] bytes, or
/// `deadline`, whichever comes first.
async fn read_prefix(
    runtime: Runtime,
    body: &mut Body,
    connection: &mut Connection,
    deadline: Instant,
) -> BodyPrefix {
    let mut bytes = BytesMut::new();
    let mut timer = Timer::new(runtime, deadline);
    let truncated = poll_fn(|cx| {
        loop {
            connection.drive(cx);
            match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    let room = ERROR_BODY_LIMIT - bytes.len();
                    bytes.extend_from_slice(&data[..data.len().min(room)]);
                    if data.len() >= room && !(data.len() == room && body.is_end_stream()) {
                        return Poll::Ready(true);
                    }
                }
                Poll::Ready(Some(Err(_)) | None) => return Poll::Ready(false),
                Poll::Pending => return timer.poll(cx).map(|()| true),
            }
        }
    })
    .await;
    BodyPrefix {
        bytes: bytes.freeze(),
        truncated,
    }
}

/// One request to `hop.endpoint` (directly, through a proxy, or a tunnel through
/// one) and its response head.
async fn exchange(
    target: &Target,
    hop: &Hop,
    last_event_id: &str,
) -> Result<(Response<Incoming>, Connection), BoxError> {
    let endpoint = &hop.endpoint;
    #[cfg(feature = "proxy")]
    let route = target.proxies.route(endpoint).map_err(fatal)?;
    #[cfg(feature = "proxy")]
    let (tcp, forward) = match route {
        crate::proxy::Route::Direct => (
            rt::connect_tcp(target.runtime, &endpoint.host, endpoint.port).await?,
            None,
        ),
        crate::proxy::Route::Proxy {
            uri,
            host,
            port,
            auth,
        } => {
            let tcp = rt::connect_tcp(target.runtime, &host, port).await?;
            if endpoint.https {
                (crate::proxy::tunnel(tcp, uri, endpoint, auth).await?, None)
            } else {
                (tcp, Some(auth))
            }
        }
    };
    #[cfg(not(feature = "proxy"))]
    let (tcp, forward): (_, Option<Option<HeaderValue>>) = (
        rt::connect_tcp(target.runtime, &endpoint.host, endpoint.port).await?,
        None,
    );
    let (io, h2) = if endpoint.https {
        tls(target, endpoint, tcp).await?
    } else {
        // A proxy forwarding plain requests speaks HTTP/1.1.
        (
            tcp.into_io(),
            target.http2_prior_knowledge && forward.is_none(),
        )
    };
    // HTTP/2 and a forwarding proxy take the absolute URI; HTTP/1.1 the path.
    let uri = if h2 || forward.is_some() {
        endpoint.uri.clone()
    } else {
        endpoint.path.clone()
    };
    let mut request = Request::builder()
        .method(hop.method.clone())
        .uri(uri)
        .body(Full::new(hop.body.clone()))?;
    let headers = request.headers_mut();
    headers.clone_from(&hop.headers);
    if !h2 {
        headers.insert(header::HOST, endpoint.authority.clone());
    }
    if let Some(Some(auth)) = forward {
        headers.insert(header::PROXY_AUTHORIZATION, auth);
    }
    if let Some(id) = last_event_id_header(last_event_id) {
        headers.insert(sse_core::LAST_EVENT_ID, id);
    }
    let (sender, mut driver, response) = if h2 {
        let (mut sender, connection) = http2::Builder::new(Exec(target.runtime))
            .initial_stream_window_size(1 << 20)
            .initial_connection_window_size(2 << 20)
            .handshake(io)
            .await?;
        let response = sender.send_request(request);
        let driver: Driver = Box::pin(connection);
        (
            Sender::H2(sender),
            Some(driver),
            Box::pin(response) as ResponseFuture,
        )
    } else {
        let (mut sender, connection) = http1::Builder::new().handshake(io).await?;
        let response = sender.send_request(request);
        let driver: Driver = Box::pin(connection);
        (
            Sender::H1(sender),
            Some(driver),
            Box::pin(response) as ResponseFuture,
        )
    };
    let mut response = response;
    let response = poll_fn(|cx| {
        if let Some(d) = driver.as_mut()
            && let Poll::Ready(result) = d.as_mut().poll(cx)
        {
            driver = None;
            result?;
        }
        response.as_mut().poll(cx)
    })
    .await?;
    let connection = Connection {
        driver,
        _sender: sender,
    };
    Ok((response, connection))
}

type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<Response<Incoming>, hyper::Error>> + Send>>;

/// An error that ends the stream instead of being retried (the stream looks for an
/// [`Error`] in an attempt's error).
fn fatal(error: Error) -> BoxError {
    Box::new(error)
}

/// `Last-Event-ID` for `id`, sent as its UTF-8 bytes (as browsers send it); `None`
/// for an empty id, or one with a control character, which no header value may
/// hold: then the request goes without it, so the server starts afresh, instead of
/// an attempt that can never be sent.
pub(crate) fn last_event_id_header(id: &str) -> Option<HeaderValue> {
    if id.is_empty() {
        return None;
    }
    HeaderValue::from_bytes(id.as_bytes()).ok()
}

#[cfg(feature = "rustls")]
async fn tls(
    target: &Target,
    endpoint: &Endpoint,
    tcp: rt::Tcp,
) -> Result<(rt::BoxIo, bool), BoxError> {
    let config = target.tls.config().map_err(fatal)?;
    let name = rustls_pki_types::ServerName::try_from(endpoint.host.clone())?;
    Ok(tcp.into_tls(config, name).await?)
}

#[cfg(not(feature = "rustls"))]
async fn tls(_: &Target, _: &Endpoint, _: rt::Tcp) -> Result<(rt::BoxIo, bool), BoxError> {
    Err(fatal(Error::Config(
        "https needs the `rustls` feature of sse-client".into(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_goes_as_its_bytes_unless_a_header_cannot_hold_it() {
        assert_eq!(last_event_id_header("42").unwrap(), "42");
        assert_eq!(
            last_event_id_header("café").unwrap().as_bytes(),
            "café".as_bytes()
        );
        assert!(last_event_id_header("").is_none());
        assert!(last_event_id_header("a\u{1}b").is_none());
        assert!(last_event_id_header("a\u{7f}").is_none());
    }
}
