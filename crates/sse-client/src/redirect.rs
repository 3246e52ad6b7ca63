//! Redirects, as the WHATWG fetch spec's "HTTP-redirect fetch" follows them (and
//! reqwest's `redirect::Policy` by default): 301, 302, 303, 307 and 308 with a
//! `Location`, resolved against the current URL; `POST` becomes `GET` on 301 and
//! 302, anything but `GET`/`HEAD` becomes `GET` on 303, and then the body and its
//! headers are dropped; `Authorization`, `Cookie` and `Proxy-Authorization` are
//! dropped when the origin changes; a limit (20 by default) and a loop ends the
//! chain with [`RedirectError`].

use http::header::{self, HeaderMap, HeaderName};
use http::{Method, StatusCode};

use crate::endpoint::Endpoint;
use crate::error::RedirectError;

/// The request one attempt sends: the URL's [`Endpoint`], the method, the headers
/// (the URL's credentials among them) and the body. Redirects change it.
#[derive(Debug, Clone)]
pub(crate) struct Hop {
    pub(crate) endpoint: Endpoint,
    pub(crate) method: Method,
    pub(crate) headers: HeaderMap,
    pub(crate) body: bytes::Bytes,
}

/// The headers that describe a body: dropped with it when a redirect turns the
/// request into a `GET` (fetch's "request-body-header names", and the length).
const BODY_HEADERS: [HeaderName; 5] = [
    header::CONTENT_ENCODING,
    header::CONTENT_LANGUAGE,
    header::CONTENT_LOCATION,
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
];

/// The headers that carry credentials: sent only to the origin they were set for.
const CREDENTIAL_HEADERS: [HeaderName; 4] = [
    header::AUTHORIZATION,
    header::COOKIE,
    header::PROXY_AUTHORIZATION,
    header::WWW_AUTHENTICATE,
];

/// Where a redirect chain has been: the URLs visited, for the limit and loops.
#[derive(Debug)]
pub(crate) struct Chain {
    visited: Vec<url::Url>,
    limit: usize,
}

impl Chain {
    /// A chain that starts at `hop` and follows at most `limit` redirects.
    pub(crate) fn new(hop: &Hop, limit: usize) -> Chain {
        Chain {
            visited: vec![hop.endpoint.url.clone()],
            limit,
        }
    }

    /// The request that follows a response of `status` with `headers` to `hop`:
    /// `None` when it is not a redirect to follow (not a redirect status, no
    /// `Location`, or following is off), the next hop, or why the chain ends.
    pub(crate) fn next(
        &mut self,
        hop: &Hop,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Result<Option<Hop>, RedirectError> {
        if self.limit == 0 || !is_redirect(status) {
            return Ok(None);
        }
        let Some(location) = headers.get(header::LOCATION) else {
            return Ok(None);
        };
        let location_text = String::from_utf8_lossy(location.as_bytes());
        let bad_location = || RedirectError::Location {
            location: location_text.chars().take(200).collect(),
        };
        let url = hop
            .endpoint
            .url
            .join(&location_text)
            .map_err(|_| bad_location())?;
        let endpoint = Endpoint::from_url(url).map_err(|_| bad_location())?;
        if self.visited.len() > self.limit {
            return Err(RedirectError::TooMany { limit: self.limit });
        }
        if self.visited.contains(&endpoint.url) {
            return Err(RedirectError::Loop {
                url: endpoint.url.to_string(),
            });
        }
        self.visited.push(endpoint.url.clone());
        let mut next = Hop {
            endpoint,
            method: hop.method.clone(),
            headers: hop.headers.clone(),
            body: hop.body.clone(),
        };
        let post_to_get = matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
            && next.method == Method::POST;
        let see_other = status == StatusCode::SEE_OTHER
            && next.method != Method::GET
            && next.method != Method::HEAD;
        if post_to_get || see_other {
            next.method = Method::GET;
            next.body = bytes::Bytes::new();
            for name in &BODY_HEADERS {
                next.headers.remove(name);
            }
        }
        if !hop.endpoint.same_origin(&next.endpoint) {
            for name in &CREDENTIAL_HEADERS {
                next.headers.remove(name);
            }
        }
        if let Some(credentials) = next.endpoint.credentials.clone() {
            next.headers.insert(header::AUTHORIZATION, credentials);
        }
        Ok(Some(next))
    }
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn hop(url: &str, method: Method) -> Hop {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Hop {
            endpoint: Endpoint::parse(url).unwrap(),
            method,
            headers,
            body: bytes::Bytes::from_static(b"{}"),
        }
    }

    fn location(to: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::LOCATION, HeaderValue::from_str(to).unwrap());
        headers
    }

    #[test]
    fn post_becomes_get_on_301_302_303_and_keeps_its_body_on_307_308() {
        for (status, becomes_get) in [
            (301, true),
            (302, true),
            (303, true),
            (307, false),
            (308, false),
        ] {
            let start = hop("http://a.test/x", Method::POST);
            let mut chain = Chain::new(&start, 20);
            let status = StatusCode::from_u16(status).unwrap();
            let next = chain
                .next(&start, status, &location("/y"))
                .unwrap()
                .unwrap();
            assert_eq!(next.endpoint.url.as_str(), "http://a.test/y");
            assert_eq!(next.method == Method::GET, becomes_get, "{status}");
            assert_eq!(next.body.is_empty(), becomes_get, "{status}");
            assert_eq!(
                next.headers.contains_key(header::CONTENT_TYPE),
                !becomes_get
            );
            // Same origin: the credentials stay.
            assert!(next.headers.contains_key(header::AUTHORIZATION));
        }
    }

    #[test]
    fn a_put_becomes_get_only_on_303() {
        let start = hop("http://a.test/x", Method::PUT);
        let mut chain = Chain::new(&start, 20);
        let next = chain
            .next(&start, StatusCode::FOUND, &location("/y"))
            .unwrap()
            .unwrap();
        assert_eq!(next.method, Method::PUT);
        let next = chain
            .next(&next, StatusCode::SEE_OTHER, &location("/z"))
            .unwrap()
            .unwrap();
        assert_eq!(next.method, Method::GET);
    }

    #[test]
    fn another_origin_gets_no_credentials_unless_its_url_has_some() {
        let start = hop("http://a.test/x", Method::GET);
        let mut chain = Chain::new(&start, 20);
        let next = chain
            .next(&start, StatusCode::FOUND, &location("http://b.test/y"))
            .unwrap()
            .unwrap();
        assert!(!next.headers.contains_key(header::AUTHORIZATION));
        let next = chain
            .next(&next, StatusCode::FOUND, &location("https://u:p@c.test/z"))
            .unwrap()
            .unwrap();
        assert_eq!(next.headers[header::AUTHORIZATION], "Basic dTpw");
        assert_eq!(next.endpoint.authority, "c.test");
    }

    #[test]
    fn loops_and_the_limit_end_the_chain() {
        let start = hop("http://a.test/x", Method::GET);
        let mut chain = Chain::new(&start, 20);
        let b = chain
            .next(&start, StatusCode::FOUND, &location("/b"))
            .unwrap()
            .unwrap();
        let error = chain
            .next(&b, StatusCode::FOUND, &location("/x"))
            .unwrap_err();
        assert!(matches!(error, RedirectError::Loop { .. }), "{error:?}");

        let mut chain = Chain::new(&start, 3);
        let mut current = start.clone();
        for n in 0..3 {
            current = chain
                .next(
                    &current,
                    StatusCode::TEMPORARY_REDIRECT,
                    &location(&format!("/{n}")),
                )
                .unwrap()
                .unwrap();
        }
        let error = chain
            .next(&current, StatusCode::TEMPORARY_REDIRECT, &location("/3"))
            .unwrap_err();
        assert!(
            matches!(error, RedirectError::TooMany { limit: 3 }),
            "{error:?}"
        );
    }

    #[test]
    fn no_location_another_status_or_a_zero_limit_is_not_followed() {
        let start = hop("http://a.test/x", Method::GET);
        let mut chain = Chain::new(&start, 20);
        assert!(
            chain
                .next(&start, StatusCode::FOUND, &HeaderMap::new())
                .unwrap()
                .is_none()
        );
        assert!(
            chain
                .next(&start, StatusCode::NOT_MODIFIED, &location("/y"))
                .unwrap()
                .is_none()
        );
        let mut off = Chain::new(&start, 0);
        assert!(
            off.next(&start, StatusCode::FOUND, &location("/y"))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_location_that_is_not_http_is_an_error() {
        let start = hop("http://a.test/x", Method::GET);
        let mut chain = Chain::new(&start, 20);
        for to in ["ftp://a.test/", "http://", "javascript:alert(1)"] {
            let error = chain
                .next(&start, StatusCode::FOUND, &location(to))
                .unwrap_err();
            assert!(
                matches!(error, RedirectError::Location { .. }),
                "{to}: {error:?}"
            );
        }
    }
}
