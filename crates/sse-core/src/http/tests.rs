use http::header::HeaderValue;

use super::*;

#[test]
fn header_values_are_read_lossily_and_empty_ones_ignored() {
    let mut request = http::Request::get("/").body(()).unwrap();
    let headers = request.headers_mut();
    headers.insert("sse-clientid", HeaderValue::from_static(""));
    headers.insert(LAST_EVENT_ID, HeaderValue::from_bytes(b"caf\xE9").unwrap());
    let (parts, ()) = request.into_parts();
    let options = ConnectOptions::from_request(&parts, &HubConfig::default());
    assert_eq!(options.client_id, None);
    assert_eq!(options.last_event_id.as_deref(), Some("caf\u{FFFD}"));
}
