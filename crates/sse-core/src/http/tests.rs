use super::*;

#[test]
fn percent_decoding_handles_plus_escapes_and_malformed_input() {
    assert_eq!(percent_decode("plain"), "plain");
    assert_eq!(percent_decode("a+b%20c%2Fd"), "a b c/d");
    assert_eq!(percent_decode("%C3%A9t%C3%A9"), "été");
    assert_eq!(percent_decode("100%"), "100%");
    assert_eq!(percent_decode("%zz%4"), "%zz%4");
    assert_eq!(percent_decode("%FF"), "\u{FFFD}");
}

#[test]
fn query_pairs_skip_empty_parts_and_allow_missing_values() {
    let pairs: Vec<_> = query_pairs("a=1&&b&c=&=d")
        .map(|(n, v)| (n.into_owned(), v.into_owned()))
        .collect();
    let expected = [("a", "1"), ("b", ""), ("c", ""), ("", "d")];
    let expected: Vec<_> = expected
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    assert_eq!(pairs, expected);
}

#[test]
fn json_strings_escape_quotes_backslashes_and_control_characters() {
    assert_eq!(json_string("plain"), r#""plain""#);
    assert_eq!(json_string("a\"b\\c\nd\u{1}é"), r#""a\"b\\c\nd\u0001é""#);
}

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
