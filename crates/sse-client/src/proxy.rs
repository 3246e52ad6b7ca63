//! Proxies (the `proxy` feature): which requests go through one, by `hyper-util`'s
//! [`Matcher`] (curl's rules for `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and
//! `NO_PROXY`, or one proxy given to the builder), and the two ways through: `http`
//! requests are sent to the proxy with their absolute URL and `Proxy-Authorization`,
//! `https` ones through an HTTP `CONNECT` tunnel (`hyper-util`'s [`Tunnel`]) with TLS
//! end to end inside it.

use std::task::{Context, Poll};

use http::{HeaderValue, Uri};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::Matcher;
use tower_service::Service as _;

use crate::endpoint::Endpoint;
use crate::error::{BoxError, Error};
use crate::rt::Tcp;

/// The proxy settings of an event source.
#[derive(Debug)]
pub(crate) struct Proxies {
    matcher: Option<Matcher>,
}

/// How one request reaches its endpoint.
#[derive(Debug)]
pub(crate) enum Route {
    Direct,
    /// Through the proxy at `host:port`: a `CONNECT` tunnel for `https`, the
    /// absolute URL for `http`.
    Proxy {
        uri: Uri,
        host: String,
        port: u16,
        /// `Proxy-Authorization`, from the proxy URL's credentials.
        auth: Option<HeaderValue>,
    },
}

impl Proxies {
    /// The environment's proxies, read now.
    pub(crate) fn from_env() -> Proxies {
        Proxies {
            matcher: Some(Matcher::from_env()),
        }
    }

    /// No proxy at all.
    pub(crate) fn none() -> Proxies {
        Proxies { matcher: None }
    }

    /// Every request through `url` (credentials in it become
    /// `Proxy-Authorization: Basic`).
    pub(crate) fn all(url: &str) -> Result<Proxies, String> {
        let endpoint = Endpoint::parse(url).map_err(|e| format!("the proxy {e}"))?;
        if endpoint.https {
            return Err(format!(
                "the proxy {url:?}: only http:// proxies are supported (https goes through CONNECT inside them)"
            ));
        }
        Ok(Proxies {
            matcher: Some(Matcher::builder().all(url.to_owned()).build()),
        })
    }

    /// The route to `endpoint`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a proxy this client does not speak (`https://` or
    /// SOCKS proxies).
    pub(crate) fn route(&self, endpoint: &Endpoint) -> Result<Route, Error> {
        let Some(intercept) = self
            .matcher
            .as_ref()
            .and_then(|m| m.intercept(&endpoint.uri))
        else {
            return Ok(Route::Direct);
        };
        let uri = intercept.uri().clone();
        if uri.scheme_str() != Some("http") {
            return Err(Error::Config(format!(
                "the proxy {uri}: only http:// proxies are supported"
            )));
        }
        let host = uri.host().unwrap_or_default();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .to_owned();
        let port = uri.port_u16().unwrap_or(80);
        let auth = intercept.basic_auth().cloned().map(|mut value| {
            value.set_sensitive(true);
            value
        });
        Ok(Route::Proxy {
            uri,
            host,
            port,
            auth,
        })
    }
}

/// Opens a `CONNECT` tunnel to `endpoint` over `tcp`, a connection to the proxy at
/// `proxy`; returns the same connection, now a pipe to the endpoint.
pub(crate) async fn tunnel(
    tcp: Tcp,
    proxy: Uri,
    endpoint: &Endpoint,
    auth: Option<HeaderValue>,
) -> Result<Tcp, BoxError> {
    let mut tunnel = Tunnel::new(proxy, Connected(Some(tcp)));
    if let Some(auth) = auth {
        tunnel = tunnel.with_auth(auth);
    }
    // The tunnel takes host and port from this URI (the brackets of an IPv6
    // address included, as `CONNECT` wants them).
    let target: Uri = format!("https://{}:{}/", authority_host(endpoint), endpoint.port).parse()?;
    Ok(tunnel.call(target).await?)
}

/// The host as an authority spells it: IPv6 addresses in brackets.
fn authority_host(endpoint: &Endpoint) -> String {
    if endpoint.host.contains(':') {
        format!("[{}]", endpoint.host)
    } else {
        endpoint.host.clone()
    }
}

/// A "connector" that hands the tunnel the connection already made to the proxy.
struct Connected(Option<Tcp>);

impl tower_service::Service<Uri> for Connected {
    type Response = Tcp;
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<Tcp, std::io::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), std::io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        std::future::ready(
            self.0
                .take()
                .ok_or_else(|| std::io::Error::other("the proxy connection was used")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_proxy_routes_everything_with_its_credentials() {
        let proxies = Proxies::all("http://user:pass@127.0.0.1:3128").unwrap();
        for url in ["http://example.com/events", "https://example.com/events"] {
            let route = proxies.route(&Endpoint::parse(url).unwrap()).unwrap();
            let Route::Proxy {
                host, port, auth, ..
            } = route
            else {
                panic!("{url}: {route:?}")
            };
            assert_eq!((host.as_str(), port), ("127.0.0.1", 3128));
            // base64("user:pass")
            assert_eq!(auth.unwrap(), "Basic dXNlcjpwYXNz");
        }
    }

    #[test]
    fn no_proxy_goes_direct_and_https_proxies_are_refused() {
        let direct = Proxies::none();
        let endpoint = Endpoint::parse("http://example.com/").unwrap();
        assert!(matches!(direct.route(&endpoint), Ok(Route::Direct)));
        assert!(Proxies::all("https://proxy.test:443").is_err());
        assert!(Proxies::all("not a url").is_err());
    }
}
