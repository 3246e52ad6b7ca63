//! The request that resumes a stream where the server said
//! ([`RESUME_LOCATION`](sse_core::RESUME_LOCATION)).

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Uri};

use crate::connect::Target;
use crate::endpoint::Endpoint;
use crate::redirect::Hop;

/// The `GET` of a resume location (on the request's origin, which
/// [`Reconnect`](sse_core::Reconnect) checked): the original's connection settings
/// and headers (its `Authorization` included), without its body and the headers
/// that describe it. `None` for a location that is not an `http(s)` URL.
pub(super) fn resume_target(original: &Target, uri: &Uri) -> Option<Target> {
    let hop = original.hop();
    let mut headers = hop.headers.clone();
    for name in [CONTENT_TYPE, CONTENT_LENGTH, CONTENT_ENCODING] {
        headers.remove(name);
    }
    let endpoint = Endpoint::parse(&uri.to_string()).ok()?;
    Some(original.with_hop(Hop {
        endpoint,
        method: Method::GET,
        headers,
        body: Bytes::new(),
    }))
}
