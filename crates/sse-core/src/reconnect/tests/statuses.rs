//! Responses: which statuses and content types connect, retry or stop, and
//! `Retry-After`, honoured, capped and parsed.

use super::*;

#[test]
fn connects_at_once_then_waits_for_the_outcome() {
    let clock = Clock::new();
    let mut r = Reconnect::new(ReconnectConfig::default(), 1);
    assert_eq!(r.poll_timeout(), None);
    assert_eq!(r.poll(clock.now()), ReconnectAction::Connect);
    assert_eq!(r.poll(clock.now()), ReconnectAction::InProgress);
    assert_eq!(
        r.on_response(clock.now(), clock.wall(), StatusCode::OK, &stream_headers()),
        Verdict::Stream
    );
    assert_eq!(r.poll(clock.now()), ReconnectAction::InProgress);
}

#[test]
fn an_event_stream_content_type_may_have_parameters_and_any_case() {
    for content_type in [
        "text/event-stream",
        "Text/Event-Stream",
        "text/event-stream; charset=utf-8",
        " text/event-stream ;x=y",
    ] {
        let clock = Clock::new();
        let mut r = Reconnect::new(ReconnectConfig::default(), 1);
        let verdict = respond(&mut r, &clock, 200, &headers(content_type));
        assert_eq!(verdict, Verdict::Stream, "{content_type}");
    }
}

#[test]
fn a_wrong_or_missing_content_type_stops_without_retrying() {
    for content_type in ["text/plain", "text/event-streams", "application/json", ""] {
        let clock = Clock::new();
        let mut r = Reconnect::new(ReconnectConfig::default(), 1);
        let verdict = respond(&mut r, &clock, 200, &headers(content_type));
        let expected = HeaderValue::from_str(content_type).unwrap();
        assert_eq!(
            verdict,
            Verdict::Stop(StopReason::ContentType(Some(expected)))
        );
        assert_eq!(r.poll(clock.now()), ReconnectAction::Stopped);
    }
    let clock = Clock::new();
    let mut r = Reconnect::new(ReconnectConfig::default(), 1);
    let verdict = respond(&mut r, &clock, 200, &HeaderMap::new());
    assert_eq!(verdict, Verdict::Stop(StopReason::ContentType(None)));
}

#[test]
fn no_content_stops_for_good() {
    let mut clock = Clock::new();
    let mut r = Reconnect::new(ReconnectConfig::default(), 1);
    assert_eq!(
        respond(&mut r, &clock, 204, &HeaderMap::new()),
        Verdict::Stop(StopReason::NoContent)
    );
    clock.elapsed += Duration::from_secs(86_400);
    assert_eq!(r.poll(clock.now()), ReconnectAction::Stopped);
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn client_errors_and_other_statuses_stop_without_retrying() {
    for code in [
        201, 202, 206, 301, 302, 304, 307, 400, 401, 403, 404, 405, 406, 410, 415, 418, 499,
    ] {
        let clock = Clock::new();
        let mut r = Reconnect::new(ReconnectConfig::default(), 1);
        let verdict = respond(&mut r, &clock, code, &stream_headers());
        assert_eq!(verdict, Verdict::Stop(StopReason::Status(status(code))));
        assert_eq!(r.poll(clock.now()), ReconnectAction::Stopped, "{code}");
    }
}

#[test]
fn server_errors_timeouts_and_too_many_requests_retry() {
    for code in [408, 429, 500, 502, 503, 504, 599] {
        let mut clock = Clock::new();
        let mut r = Reconnect::new(no_jitter(), 1);
        let retry = delay_of(respond(&mut r, &clock, code, &stream_headers()));
        assert_eq!(retry.delay, 2 * SECOND, "{code}");
        assert_eq!(retry.at, clock.now() + 2 * SECOND);
        assert_eq!(r.poll(clock.now()), ReconnectAction::Wait(retry.at));
        assert_eq!(r.poll_timeout(), Some(retry.at));
        clock.elapsed += 2 * SECOND - Duration::from_nanos(1);
        assert_eq!(r.poll(clock.now()), ReconnectAction::Wait(retry.at));
        clock.advance_to(retry.at);
        assert_eq!(r.poll(clock.now()), ReconnectAction::Connect);
    }
}

#[test]
fn retry_after_in_seconds_is_honoured_when_longer_than_the_backoff() {
    let clock = Clock::new();
    let mut r = Reconnect::new(no_jitter(), 1);
    let mut h = HeaderMap::new();
    h.insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
    let retry = delay_of(respond(&mut r, &clock, 503, &h));
    assert_eq!(retry.delay, Duration::from_secs(30));

    // Shorter than the backoff: the backoff wins (it is still "after" 1 s).
    let mut r = Reconnect::new(no_jitter().initial_retry(Duration::from_secs(5)), 1);
    h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    let retry = delay_of(respond(&mut r, &clock, 429, &h));
    assert_eq!(retry.delay, Duration::from_secs(10));
}

#[test]
fn retry_after_as_a_date_is_a_delay_from_the_wall_clock() {
    let clock = Clock::new(); // wall: 784_111_000, the date is 784_111_777.
    let mut r = Reconnect::new(no_jitter(), 1);
    let mut h = HeaderMap::new();
    let date = "Sun, 06 Nov 1994 08:49:37 GMT";
    h.insert(header::RETRY_AFTER, HeaderValue::from_static(date));
    let retry = delay_of(respond(&mut r, &clock, 503, &h));
    assert_eq!(retry.delay, Duration::from_secs(777));
}

#[test]
fn retry_after_is_capped() {
    let clock = Clock::new();
    let config = no_jitter().max_retry_after(Duration::from_secs(100));
    let mut r = Reconnect::new(config, 1);
    let mut h = HeaderMap::new();
    h.insert(
        header::RETRY_AFTER,
        HeaderValue::from_static("99999999999999999999999"),
    );
    let retry = delay_of(respond(&mut r, &clock, 503, &h));
    assert_eq!(retry.delay, Duration::from_secs(100));
}

#[test]
fn an_unreadable_retry_after_is_ignored() {
    let clock = Clock::new();
    let mut r = Reconnect::new(no_jitter(), 1);
    let mut h = HeaderMap::new();
    h.insert(header::RETRY_AFTER, HeaderValue::from_static("-5"));
    assert_eq!(delay_of(respond(&mut r, &clock, 503, &h)).delay, 2 * SECOND);
}

#[test]
fn retry_after_parsing() {
    let now = UNIX_EPOCH + Duration::from_secs(784_111_777);
    let parse = |v: &str| parse_retry_after(v.as_bytes(), now);
    assert_eq!(parse("0"), Some(Duration::ZERO));
    assert_eq!(parse(" 12 "), Some(Duration::from_secs(12)));
    assert_eq!(parse("Sun, 06 Nov 1994 08:49:37 GMT"), Some(Duration::ZERO));
    assert_eq!(
        parse("Sun, 06 Nov 1994 08:50:37 GMT"),
        Some(Duration::from_secs(60))
    );
    // In the past: now.
    assert_eq!(parse("Sat, 05 Nov 1994 08:49:37 GMT"), Some(Duration::ZERO));
    // 2000-03-01 (after a leap day), 951868800.
    assert_eq!(
        parse_retry_after(b"Wed, 01 Mar 2000 00:00:00 GMT", UNIX_EPOCH),
        Some(Duration::from_secs(951_868_800))
    );
    for bad in [
        "",
        "1.5",
        "-1",
        "soon",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 36 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 25:49:37 GMT",
        "Sun, 0a Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1969 08:49:37 GMT",
    ] {
        assert_eq!(parse(bad), None, "{bad:?}");
    }
}
