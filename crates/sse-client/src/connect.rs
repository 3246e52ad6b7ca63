//! One attempt: TCP, TLS, the HTTP handshake, the request, the response head.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};

use crate::error::BoxError;
use crate::rt::{self, Exec, Runtime};

/// What every attempt of one event source shares.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) runtime: Runtime,
    pub(crate) https: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// For the `Host` header (HTTP/1.1).
    pub(crate) authority: HeaderValue,
    /// The absolute URI (HTTP/2) and the origin-form target (HTTP/1.1).
    pub(crate) uri: Uri,
    pub(crate) path: Uri,
    pub(crate) method: Method,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) http2_prior_knowledge: bool,
    pub(crate) connect_timeout: Duration,
    #[cfg(feature = "rustls")]
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
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
    Pin<Box<dyn Future<Output = Result<(Response<Incoming>, Connection), BoxError>> + Send>>;

/// Connects and sends the request, with `last_event_id` (if not empty).
pub(crate) fn attempt(target: Arc<Target>, last_event_id: String) -> Attempt {
    Box::pin(async move { open(&target, &last_event_id).await })
}

async fn open(
    target: &Target,
    last_event_id: &str,
) -> Result<(Response<Incoming>, Connection), BoxError> {
    let tcp = rt::connect_tcp(target.runtime, &target.host, target.port).await?;
    let (io, h2) = if target.https {
        tls(target, tcp).await?
    } else {
        (tcp.into_io(), target.http2_prior_knowledge)
    };
    let mut request = Request::builder()
        .method(target.method.clone())
        .uri(if h2 {
            target.uri.clone()
        } else {
            target.path.clone()
        })
        .body(Full::new(target.body.clone()))?;
    let headers = request.headers_mut();
    headers.clone_from(&target.headers);
    if !h2 {
        headers.insert(header::HOST, target.authority.clone());
    }
    if !last_event_id.is_empty() {
        headers.insert(
            sse_core::LAST_EVENT_ID,
            HeaderValue::from_str(last_event_id)?,
        );
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

#[cfg(feature = "rustls")]
async fn tls(target: &Target, tcp: rt::Tcp) -> Result<(rt::BoxIo, bool), BoxError> {
    let config = target.tls.clone().ok_or("https without TLS settings")?;
    let name = rustls_pki_types::ServerName::try_from(target.host.clone())?;
    Ok(tcp.into_tls(config, name).await?)
}

#[cfg(not(feature = "rustls"))]
async fn tls(_: &Target, _: rt::Tcp) -> Result<(rt::BoxIo, bool), BoxError> {
    Err("https needs the `rustls` feature of sse-client".into())
}
