//! The request that resumes a stream where the server said
//! ([`RESUME_LOCATION`](sse_core::RESUME_LOCATION)).

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Uri};

use crate::connect::Target;

/// The `GET` of a resume location (on the request's origin, which
/// [`Reconnect`](sse_core::Reconnect) checked): the original's connection settings
/// and headers (its `Authorization` included), without its body and the headers
/// that describe it.
pub(super) fn resume_target(original: &Target, uri: &Uri) -> Target {
    let mut headers = original.headers.clone();
    for name in [CONTENT_TYPE, CONTENT_LENGTH, CONTENT_ENCODING] {
        headers.remove(name);
    }
    let path = uri
        .path_and_query()
        .cloned()
        .map_or_else(Uri::default, |path| {
            Uri::builder()
                .path_and_query(path)
                .build()
                .unwrap_or_default()
        });
    Target {
        method: Method::GET,
        uri: uri.clone(),
        path,
        headers,
        body: Bytes::new(),
        ..original.clone()
    }
}
