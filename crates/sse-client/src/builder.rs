//! [`Builder`]: the request and the settings of an [`EventSource`].

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Uri};
use sse_core::{DecodeLimits, Policy, ReconnectConfig};

use crate::connect::Target;
use crate::error::Error;
use crate::rt::Runtime;
use crate::source::{BoxPolicy, EventSource};

/// Builds an [`EventSource`]: the request (method, headers, body, initial
/// `Last-Event-ID`) and the settings (reconnection, limits, timeouts, TLS, runtime).
///
/// ```
/// use std::time::Duration;
/// use http::{Method, header};
/// use sse_client::EventSource;
///
/// let source = EventSource::builder("https://api.example.com/v1/chat")
///     .method(Method::POST)
///     .bearer_auth("sk-secret")
///     .header(header::CONTENT_TYPE, "application/json")
///     .body(r#"{"stream": true}"#)
///     .idle_timeout(Some(Duration::from_secs(30)))
///     .build()?;
/// # Ok::<(), sse_client::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until you call `build`"]
pub struct Builder {
    uri: String,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
    last_event_id: String,
    reconnect: ReconnectConfig,
    policy: Option<BoxPolicy>,
    limits: DecodeLimits,
    idle_timeout: Option<Duration>,
    connect_timeout: Duration,
    http2_prior_knowledge: bool,
    http1_only: bool,
    runtime: Runtime,
    seed: Option<u64>,
    #[cfg(feature = "rustls")]
    roots: Vec<rustls_pki_types::CertificateDer<'static>>,
    #[cfg(feature = "rustls")]
    tls_config: Option<Arc<rustls::ClientConfig>>,
    /// The first invalid setting, reported by `build`.
    error: Option<String>,
}

impl Builder {
    /// A `GET` of `uri` (`http://` or `https://`) with the default settings.
    pub fn new(uri: impl Into<String>) -> Builder {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        Builder {
            uri: uri.into(),
            method: Method::GET,
            headers,
            body: Bytes::new(),
            last_event_id: String::new(),
            reconnect: ReconnectConfig::default(),
            policy: None,
            limits: DecodeLimits::default(),
            idle_timeout: Some(Duration::from_secs(60)),
            connect_timeout: Duration::from_secs(30),
            http2_prior_knowledge: false,
            http1_only: false,
            runtime: Runtime::default(),
            seed: None,
            #[cfg(feature = "rustls")]
            roots: Vec::new(),
            #[cfg(feature = "rustls")]
            tls_config: None,
            error: None,
        }
    }

    /// The request method (default `GET`). LLM and MCP APIs stream the answer to a
    /// `POST`: set its [`body`](Self::body) too. A `GET` is sent again, with
    /// `Last-Event-ID`, whenever its stream ends; another method never after a clean
    /// end, and after a broken stream only as a `GET` of the resume location the
    /// server named, or on opt-in
    /// ([`ReconnectConfig::resend_broken`](sse_core::ReconnectConfig::resend_broken)).
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Adds a request header (replacing one of the same name): `Authorization`, a
    /// `Content-Type` for the body, an API version. `Accept: text/event-stream` and
    /// `Cache-Control: no-cache` are set by default and may be replaced.
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        match (name.try_into(), value.try_into()) {
            (Ok(name), Ok(value)) => {
                self.headers.insert(name, value);
            }
            _ => self.fail("an invalid header name or value"),
        }
        self
    }

    /// `Authorization: Bearer <token>`, marked sensitive (not shown by `Debug`).
    pub fn bearer_auth(mut self, token: &str) -> Self {
        match HeaderValue::from_str(&format!("Bearer {token}")) {
            Ok(mut value) => {
                value.set_sensitive(true);
                self.headers.insert(header::AUTHORIZATION, value);
            }
            Err(_) => self.fail("an invalid bearer token"),
        }
        self
    }

    /// The request body (default none), sent with the request: not with a resume
    /// `GET`.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// The `Last-Event-ID` of the first request: resume a stream from a previous run.
    /// Later requests send the last id the server set.
    pub fn last_event_id(mut self, id: impl Into<String>) -> Self {
        self.last_event_id = id.into();
        self
    }

    /// The reconnection policy: initial delay, backoff cap, jitter, how many failures
    /// to tolerate. See [`ReconnectConfig`].
    pub fn reconnect(mut self, config: ReconnectConfig) -> Self {
        self.reconnect = config;
        self
    }

    /// The decoder's bounds (default 1 MiB a line, 4 MiB an event): an event over
    /// them ends the stream with [`Error::Decode`] instead of growing memory.
    pub fn limits(mut self, limits: DecodeLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The idle watchdog: when no bytes at all (not even a keep-alive comment) arrive
    /// for this long, the connection is taken for dead and the client reconnects.
    /// Default 60 s; `None` turns it off. Set it above the server's keep-alive
    /// interval.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// How long an attempt may take to connect and get the response head (default
    /// 30 s); then it counts as a failure and is retried.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Speak HTTP/2 over plain `http://` without upgrading (h2c with prior
    /// knowledge). Over `https://` HTTP/2 is chosen by ALPN when the server offers it.
    pub fn http2_prior_knowledge(mut self, on: bool) -> Self {
        self.http2_prior_knowledge = on;
        self
    }

    /// Over `https://`, offer only HTTP/1.1 in ALPN.
    pub fn http1_only(mut self, on: bool) -> Self {
        self.http1_only = on;
        self
    }

    /// Trusts this root certificate (DER) besides the built-in web roots: a private
    /// CA, or a test server's self-signed certificate.
    #[cfg(feature = "rustls")]
    pub fn add_root_certificate(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.roots
            .push(rustls_pki_types::CertificateDer::from(der.into()));
        self
    }

    /// Uses this rustls configuration for `https://` as it is (roots, client
    /// certificates, ALPN: set `alpn_protocols` to `h2` and `http/1.1` for HTTP/2).
    #[cfg(feature = "rustls")]
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls_config = Some(config);
        self
    }

    /// The runtime that drives sockets and timers (default: tokio when its feature
    /// is on).
    pub fn runtime(mut self, runtime: Runtime) -> Self {
        self.runtime = runtime;
        self
    }

    /// Seeds the backoff jitter (default: a random seed per source).
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    fn fail(&mut self, message: &str) {
        self.error.get_or_insert_with(|| message.to_owned());
    }

    /// Checks the settings and returns the source. It connects when first polled.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a URL that is not absolute `http`/`https`, an invalid
    /// header, or an `https` URL without the `rustls` feature.
    pub fn build(self) -> Result<EventSource, Error> {
        if let Some(message) = self.error {
            return Err(Error::Config(message));
        }
        let config = |message: String| Error::Config(message);
        let uri: Uri = self
            .uri
            .parse()
            .map_err(|e| config(format!("{:?}: {e}", self.uri)))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(config(format!("{:?}: not an http(s) URL", self.uri))),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| config(format!("{:?}: no host", self.uri)))?;
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .to_owned();
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let authority = HeaderValue::from_str(authority.as_str())
            .map_err(|e| config(format!("{:?}: {e}", self.uri)))?;
        let path = uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse::<Uri>()
            .map_err(|e| config(format!("{:?}: {e}", self.uri)))?;
        if !self.last_event_id.is_empty() && HeaderValue::from_str(&self.last_event_id).is_err() {
            return Err(config("a Last-Event-ID that is not a header value".into()));
        }
        #[cfg(feature = "rustls")]
        let tls = if https {
            Some(match self.tls_config {
                Some(tls) => tls,
                None => tls_config(self.roots, self.http1_only)?,
            })
        } else {
            None
        };
        #[cfg(not(feature = "rustls"))]
        if https {
            return Err(config("https needs the `rustls` feature".into()));
        }
        let target = Target {
            runtime: self.runtime,
            https,
            host,
            port,
            authority,
            uri,
            path,
            method: self.method,
            headers: self.headers,
            body: self.body,
            http2_prior_knowledge: self.http2_prior_knowledge,
            connect_timeout: self.connect_timeout,
            #[cfg(feature = "rustls")]
            tls,
        };
        let seed = self.seed.unwrap_or_else(|| {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_usize(std::ptr::from_ref(&target) as usize);
            hasher.finish()
        });
        Ok(EventSource::from_parts(
            Arc::new(target),
            self.reconnect,
            seed,
            self.limits,
            self.idle_timeout,
            &self.last_event_id,
        )
        .with_policy(self.policy))
    }
}

#[cfg(feature = "rustls")]
fn tls_config(
    extra: Vec<rustls_pki_types::CertificateDer<'static>>,
    http1_only: bool,
) -> Result<Arc<rustls::ClientConfig>, Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in extra {
        roots
            .add(cert)
            .map_err(|e| Error::Config(format!("a root certificate: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = if http1_only {
        vec![b"http/1.1".to_vec()]
    } else {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    };
    Ok(Arc::new(config))
}

/// The reconnection policy.
impl Builder {
    /// Decides what each outcome means with `policy` instead of the default rules
    /// (it gets their decision and may change it; see [`Policy`]): never reconnect,
    /// reconnect only after network errors, retry a `401` after refreshing a token.
    /// [`ReconnectConfig::max_attempts`] still holds.
    ///
    /// ```
    /// use sse_client::{Decision, EventSource, Outcome, StopReason};
    ///
    /// // Reconnect only when the network failed, never after a status or a clean end.
    /// let source = EventSource::builder("http://127.0.0.1:8080/events")
    ///     .policy(|outcome: &Outcome<'_>, default: Decision| match outcome {
    ///         Outcome::ConnectError | Outcome::StreamEnd { clean: false, .. } => default,
    ///         _ => match default {
    ///             Decision::Retry(_) => Decision::Stop(StopReason::Policy),
    ///             stop => stop,
    ///         },
    ///     })
    ///     .build()?;
    /// # Ok::<(), sse_client::Error>(())
    /// ```
    pub fn policy(mut self, policy: impl Policy + Send + 'static) -> Self {
        self.policy = Some(BoxPolicy(Box::new(policy)));
        self
    }
}
