//! [`Builder`]: the request and the settings of an [`EventSource`].

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use sse_core::{DecodeLimits, Policy, ReconnectConfig};

use crate::connect::Target;
use crate::endpoint::{self, Endpoint};
use crate::error::Error;
use crate::redirect::Hop;
use crate::rt::Runtime;
use crate::source::{BoxPolicy, EventSource};

/// Builds an [`EventSource`]: the request (method, headers, body, initial
/// `Last-Event-ID`) and the settings (reconnection, limits, timeouts, redirects,
/// proxies, TLS, runtime).
///
/// ```
/// use std::time::Duration;
/// use sse_client::EventSource;
/// use sse_client::http::{Method, header};
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
    runtime: Runtime,
    seed: Option<u64>,
    redirect_limit: usize,
    /// An explicit proxy (`Some(url)`), or none at all (`Some("")`); `None` reads
    /// the environment.
    #[cfg(feature = "proxy")]
    proxy: Option<String>,
    #[cfg(feature = "rustls")]
    tls: crate::tls::Tls,
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
        if let Some(codings) = crate::body::accept_encoding() {
            headers.insert(header::ACCEPT_ENCODING, codings);
        }
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
            runtime: Runtime::default(),
            seed: None,
            redirect_limit: 20,
            #[cfg(feature = "proxy")]
            proxy: None,
            #[cfg(feature = "rustls")]
            tls: crate::tls::Tls::default(),
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

    /// Sets a request header (replacing those of the same name): `Authorization`, a
    /// `Content-Type` for the body, an API version. `Accept: text/event-stream`,
    /// `Cache-Control: no-cache` and, with a compression feature on,
    /// `Accept-Encoding` are set by default and may be replaced. To send a name
    /// more than once, see [`header_append`](Self::header_append).
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

    /// Adds a request header, keeping those of the same name (a header sent more
    /// than once, as `Cookie` or `Forwarded` may be).
    ///
    /// ```
    /// let source = sse_client::EventSource::builder("http://127.0.0.1:8080/events")
    ///     .header_append("x-tag", "a")
    ///     .header_append("x-tag", "b")
    ///     .build()?;
    /// # Ok::<(), sse_client::Error>(())
    /// ```
    pub fn header_append<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        match (name.try_into(), value.try_into()) {
            (Ok(name), Ok(value)) => {
                self.headers.append(name, value);
            }
            _ => self.fail("an invalid header name or value"),
        }
        self
    }

    /// `Authorization: Basic` with this user and password, marked sensitive (not
    /// shown by `Debug`). Credentials in the URL (`https://user:pass@host/`) do the
    /// same, unless an `Authorization` header is set. Either is sent only to the
    /// origin it was set for: a redirect to another drops it.
    pub fn basic_auth(mut self, user: &str, password: Option<&str>) -> Self {
        let mut pair = format!("{user}:");
        if let Some(password) = password {
            pair.push_str(password);
        }
        self.headers
            .insert(header::AUTHORIZATION, endpoint::basic(pair.as_bytes()));
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

    /// A JSON request body, with `Content-Type: application/json` (the `json`
    /// feature).
    ///
    /// ```
    /// let source = sse_client::EventSource::builder("https://api.example.com/v1/chat")
    ///     .method(sse_client::http::Method::POST)
    ///     .json(&serde_json::json!({"stream": true, "messages": []}))
    ///     .build()?;
    /// # Ok::<(), sse_client::Error>(())
    /// ```
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => {
                self.body = body.into();
                self.headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
            }
            Err(e) => self.fail(&format!("a JSON body: {e}")),
        }
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
    #[cfg_attr(not(feature = "rustls"), allow(unused_mut, unused_variables))]
    pub fn http1_only(mut self, on: bool) -> Self {
        #[cfg(feature = "rustls")]
        {
            self.tls.http1_only = on;
        }
        self
    }

    /// How many redirects in a row one connection follows (default 20, as browsers
    /// and reqwest; 0 follows none, so a `3xx` ends the stream with
    /// [`Error::Status`]). Redirects follow the fetch spec: 301, 302, 303, 307 and
    /// 308; `POST` becomes `GET` on 301 and 302, anything but `GET`/`HEAD` on 303
    /// (the body dropped); credentials are dropped when the origin changes; a loop
    /// or too many end the stream with [`Error::Redirect`]. Reconnections go where
    /// the last chain ended.
    pub fn redirect_limit(mut self, limit: usize) -> Self {
        self.redirect_limit = limit;
        self
    }

    /// Sends every request through this HTTP proxy (`http://[user:pass@]host:port`;
    /// credentials become `Proxy-Authorization: Basic`) instead of the environment's:
    /// `https` through a `CONNECT` tunnel, `http` with the absolute URL. The `proxy`
    /// feature (on by default).
    ///
    /// Without this or [`no_proxy`](Self::no_proxy), the environment decides as for
    /// curl: `HTTPS_PROXY`/`https_proxy`, `HTTP_PROXY`/`http_proxy`, `ALL_PROXY`,
    /// with `NO_PROXY` exceptions, read when [`build`](Self::build) runs.
    #[cfg(feature = "proxy")]
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        let url = url.into();
        if url.is_empty() {
            self.fail("an empty proxy URL");
        }
        self.proxy = Some(url);
        self
    }

    /// Connects directly, whatever the environment's proxy variables say.
    #[cfg(feature = "proxy")]
    pub fn no_proxy(mut self) -> Self {
        self.proxy = Some(String::new());
        self
    }

    /// Trusts this root certificate (DER) besides the built-in roots: a private CA,
    /// or a test server's self-signed certificate.
    #[cfg(feature = "rustls")]
    pub fn add_root_certificate(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.tls
            .roots
            .push(rustls_pki_types::CertificateDer::from(der.into()));
        self
    }

    /// Whether to trust the bundled webpki roots (Mozilla's list, default on).
    #[cfg(feature = "rustls")]
    pub fn tls_built_in_webpki_roots(mut self, on: bool) -> Self {
        self.tls.webpki_roots = on;
        self
    }

    /// Whether to trust the operating system's root certificates (the
    /// `native-roots` feature; on when the feature is): a corporate CA installed on
    /// the machine, beside or instead of the bundled roots. They are loaded once,
    /// on the first `https` connection.
    #[cfg(feature = "native-roots")]
    pub fn tls_built_in_native_roots(mut self, on: bool) -> Self {
        self.tls.native_roots = on;
        self
    }

    /// Uses this rustls configuration for `https://` as it is (roots, client
    /// certificates, ALPN: set `alpn_protocols` to `h2` and `http/1.1` for HTTP/2).
    #[cfg(feature = "rustls")]
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls.config = Some(config);
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
    /// header, proxy or root certificate, or an `https` URL without the `rustls`
    /// feature.
    pub fn build(self) -> Result<EventSource, Error> {
        if let Some(message) = self.error {
            return Err(Error::Config(message));
        }
        let endpoint = Endpoint::parse(&self.uri).map_err(Error::Config)?;
        if !self.last_event_id.is_empty()
            && crate::connect::last_event_id_header(&self.last_event_id).is_none()
        {
            return Err(Error::Config(
                "a Last-Event-ID that is not a header value".into(),
            ));
        }
        #[cfg(feature = "rustls")]
        if endpoint.https {
            // Found now rather than at the first connection.
            self.tls.config()?;
        }
        #[cfg(not(feature = "rustls"))]
        if endpoint.https {
            return Err(Error::Config("https needs the `rustls` feature".into()));
        }
        let mut headers = self.headers;
        if let Some(credentials) = endpoint.credentials.clone() {
            headers.entry(header::AUTHORIZATION).or_insert(credentials);
        }
        let hop = Hop {
            endpoint,
            method: self.method,
            headers,
            body: self.body,
        };
        #[cfg_attr(not(any(feature = "proxy", feature = "rustls")), allow(unused_mut))]
        let mut target = Target::new(
            self.runtime,
            hop,
            self.http2_prior_knowledge,
            self.connect_timeout,
            self.redirect_limit,
        );
        #[cfg(feature = "proxy")]
        match self.proxy.as_deref() {
            None => {}
            Some("") => target.proxies = Arc::new(crate::proxy::Proxies::none()),
            Some(url) => {
                target.proxies = Arc::new(crate::proxy::Proxies::all(url).map_err(Error::Config)?);
            }
        }
        #[cfg(feature = "rustls")]
        {
            target.tls = Arc::new(self.tls);
        }
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
