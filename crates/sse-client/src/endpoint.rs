//! [`Endpoint`]: where a request goes, taken from a URL, with the URL's credentials
//! set apart (they become `Authorization: Basic`, never part of `Host` or
//! `:authority`).

use base64::Engine as _;
use http::{HeaderValue, Uri};
use url::Url;

/// A parsed `http(s)` URL, in the forms a request needs.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// The URL without credentials or fragment (for redirects and loop detection).
    pub(crate) url: Url,
    pub(crate) https: bool,
    /// The host to connect to (an IPv6 address without brackets).
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `host[:port]`, for `Host` (HTTP/1.1) and `CONNECT`.
    pub(crate) authority: HeaderValue,
    /// The absolute URI: HTTP/2's `:scheme`/`:authority`/`:path`, or the target of a
    /// request through an HTTP proxy.
    pub(crate) uri: Uri,
    /// The origin-form target (`/path?query`), for HTTP/1.1.
    pub(crate) path: Uri,
    /// `Authorization: Basic` from the URL's user and password, if it had any.
    pub(crate) credentials: Option<HeaderValue>,
}

impl Endpoint {
    /// Parses an absolute URL.
    pub(crate) fn parse(input: &str) -> Result<Endpoint, String> {
        let url = Url::parse(input).map_err(|e| format!("{input:?}: {e}"))?;
        Endpoint::from_url(url)
    }

    /// The endpoint of `url`, which must be `http` or `https` with a host.
    pub(crate) fn from_url(mut url: Url) -> Result<Endpoint, String> {
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            _ => return Err(format!("{:?}: not an http(s) URL", url.as_str())),
        };
        let credentials = basic_credentials(&url);
        // Neither is ever sent: credentials go in `Authorization`, fragments stay local.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.set_fragment(None);
        let host = match url.host() {
            Some(url::Host::Ipv6(address)) => address.to_string(),
            Some(host) => host.to_string(),
            None => return Err(format!("{:?}: no host", url.as_str())),
        };
        let port = url
            .port_or_known_default()
            .unwrap_or(if https { 443 } else { 80 });
        let host_part = url.host_str().unwrap_or_default();
        let authority = match url.port() {
            Some(port) => format!("{host_part}:{port}"),
            None => host_part.to_owned(),
        };
        let path = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let invalid = |e: &dyn std::fmt::Display| format!("{:?}: {e}", url.as_str());
        let uri: Uri = format!("{}://{authority}{path}", url.scheme())
            .parse()
            .map_err(|e| invalid(&e))?;
        let path: Uri = path.parse().map_err(|e| invalid(&e))?;
        let authority = HeaderValue::from_str(&authority).map_err(|e| invalid(&e))?;
        Ok(Endpoint {
            url,
            https,
            host,
            port,
            authority,
            uri,
            path,
            credentials,
        })
    }

    /// Whether `other` has the same origin (scheme, host, port): headers that carry
    /// credentials go only there.
    pub(crate) fn same_origin(&self, other: &Endpoint) -> bool {
        self.https == other.https && self.host == other.host && self.port == other.port
    }
}

/// `Basic base64(user:password)` from the URL's percent-decoded user and password,
/// marked sensitive.
fn basic_credentials(url: &Url) -> Option<HeaderValue> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |s: &str| percent_encoding::percent_decode_str(s).collect::<Vec<u8>>();
    let mut pair = decode(url.username());
    pair.push(b':');
    pair.extend(decode(url.password().unwrap_or_default()));
    Some(basic(&pair))
}

/// `Basic base64(pair)`, marked sensitive (not shown by `Debug`).
pub(crate) fn basic(pair: &[u8]) -> HeaderValue {
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    let mut value =
        HeaderValue::try_from(format!("Basic {encoded}")).expect("base64 is a header value");
    value.set_sensitive(true);
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_authority_and_become_basic() {
        let endpoint =
            Endpoint::parse("https://us%40er:p%3Ass@example.com:8443/a?b=c#frag").unwrap();
        assert_eq!(endpoint.authority, "example.com:8443");
        assert_eq!(endpoint.uri, "https://example.com:8443/a?b=c");
        assert_eq!(endpoint.path, "/a?b=c");
        assert_eq!(endpoint.url.as_str(), "https://example.com:8443/a?b=c");
        // base64("us@er:p:ss")
        assert_eq!(endpoint.credentials.unwrap(), "Basic dXNAZXI6cDpzcw==");
    }

    #[test]
    fn ipv6_hosts_and_default_ports() {
        let endpoint = Endpoint::parse("http://[::1]/events").unwrap();
        assert_eq!((endpoint.host.as_str(), endpoint.port), ("::1", 80));
        assert_eq!(endpoint.authority, "[::1]");
        assert!(endpoint.credentials.is_none());
    }

    #[test]
    fn other_schemes_and_relative_urls_are_refused() {
        assert!(Endpoint::parse("ftp://example.com/").is_err());
        assert!(Endpoint::parse("/events").is_err());
        assert!(Endpoint::parse("mailto:a@b").is_err());
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let a = Endpoint::parse("http://a.test/x").unwrap();
        assert!(a.same_origin(&Endpoint::parse("http://a.test:80/y").unwrap()));
        assert!(!a.same_origin(&Endpoint::parse("https://a.test/x").unwrap()));
        assert!(!a.same_origin(&Endpoint::parse("http://a.test:81/x").unwrap()));
        assert!(!a.same_origin(&Endpoint::parse("http://b.test/x").unwrap()));
    }
}
