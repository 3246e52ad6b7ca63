use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use proptest::prelude::*;

use super::*;
use crate::Decoder;

const SECOND: Duration = Duration::from_secs(1);

/// A fake clock: a fixed origin plus whatever the test advanced.
struct Clock {
    origin: Instant,
    elapsed: Duration,
}

impl Clock {
    fn new() -> Self {
        Clock {
            origin: Instant::now(),
            elapsed: Duration::ZERO,
        }
    }
    fn now(&self) -> Instant {
        self.origin + self.elapsed
    }
    fn wall(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(784_111_000) + self.elapsed
    }
    fn advance_to(&mut self, at: Instant) {
        self.elapsed = at - self.origin;
    }
}

fn headers(content_type: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap(),
    );
    headers
}

fn stream_headers() -> HeaderMap {
    headers("text/event-stream")
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap()
}

fn no_jitter() -> ReconnectConfig {
    ReconnectConfig::default()
        .initial_retry(SECOND)
        .max_backoff(Duration::from_secs(60))
        .jitter(false)
}

/// Connects (asserting the machine says to) and gets a `code` response.
fn respond<P: Policy>(
    r: &mut Reconnect<P>,
    clock: &Clock,
    code: u16,
    headers: &HeaderMap,
) -> Verdict {
    assert_eq!(r.poll(clock.now()), ReconnectAction::Connect);
    r.on_response(clock.now(), clock.wall(), status(code), headers)
}

/// A dispatched event with this id.
fn event(id: &str) -> Decoded {
    Decoded::Event(MessageEvent {
        event_type: "message".into(),
        data: "x".to_owned(),
        last_event_id: id.to_owned(),
    })
}

fn delay_of(verdict: Verdict) -> RetryDelay {
    match verdict {
        Verdict::Retry(retry) => retry,
        other => panic!("expected a retry, got {other:?}"),
    }
}

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
fn the_end_of_an_open_stream_waits_the_reconnection_delay_exactly() {
    let mut clock = Clock::new();
    let mut r = Reconnect::new(ReconnectConfig::default(), 7); // jitter on
    assert_eq!(
        respond(&mut r, &clock, 200, &stream_headers()),
        Verdict::Stream
    );
    r.on_decoded(&event("1"));
    let retry = delay_of(r.on_stream_end(clock.now()));
    assert_eq!(retry.delay, Duration::from_secs(3)); // The initial retry.
    clock.advance_to(retry.at);
    assert_eq!(
        respond(&mut r, &clock, 200, &stream_headers()),
        Verdict::Stream
    );
    // The server's `retry:` wins.
    r.on_decoded(&Decoded::Retry(Duration::from_millis(750)));
    r.on_decoded(&event("2"));
    assert_eq!(r.retry(), Duration::from_millis(750));
    let retry = delay_of(r.on_stream_end(clock.now()));
    assert_eq!(retry.delay, Duration::from_millis(750));
}

#[test]
fn failures_back_off_exponentially_up_to_the_cap_and_reset_on_success() {
    let mut clock = Clock::new();
    let mut r = Reconnect::new(no_jitter(), 1);
    let mut delays = Vec::new();
    for _ in 0..10 {
        assert_eq!(r.poll(clock.now()), ReconnectAction::Connect);
        let retry = delay_of(r.on_connect_error(clock.now()));
        delays.push(retry.delay.as_secs());
        clock.advance_to(retry.at);
    }
    assert_eq!(delays, [2, 4, 8, 16, 32, 60, 60, 60, 60, 60]);
    assert_eq!(r.failures(), 10);
    assert_eq!(
        respond(&mut r, &clock, 200, &stream_headers()),
        Verdict::Stream
    );
    // Opening is not enough: the first event ends the run of failures.
    assert_eq!(r.failures(), 10);
    r.on_decoded(&event("1"));
    assert_eq!(r.failures(), 0);
    let retry = delay_of(r.on_stream_end(clock.now()));
    assert_eq!(retry.delay, SECOND);
    clock.advance_to(retry.at);
    assert_eq!(r.poll(clock.now()), ReconnectAction::Connect);
    assert_eq!(delay_of(r.on_connect_error(clock.now())).delay, 2 * SECOND);
}

#[test]
fn a_server_retry_longer_than_the_cap_still_wins() {
    let clock = Clock::new();
    let mut r = Reconnect::new(no_jitter().max_backoff(Duration::from_secs(5)), 1);
    r.on_retry(Duration::from_secs(20));
    assert_eq!(r.poll(clock.now()), ReconnectAction::Connect);
    assert_eq!(
        delay_of(r.on_connect_error(clock.now())).delay,
        Duration::from_secs(20)
    );
}

#[test]
fn a_zero_retry_still_backs_off_on_failures() {
    let mut clock = Clock::new();
    let mut r = Reconnect::new(no_jitter().min_retry(Duration::ZERO), 1);
    r.on_retry(Duration::ZERO);
    let mut delays = Vec::new();
    for _ in 0..4 {
        assert_eq!(r.poll(clock.now()), ReconnectAction::Connect);
        let retry = delay_of(r.on_connect_error(clock.now()));
        delays.push(retry.delay.as_millis());
        clock.advance_to(retry.at);
    }
    assert_eq!(delays, [2, 4, 8, 16]);
}

#[test]
fn jitter_stays_in_the_upper_half_and_above_the_retry() {
    let mut clock = Clock::new();
    let config = ReconnectConfig::default().initial_retry(SECOND);
    let mut r = Reconnect::new(config.clone(), 99);
    let mut seen = std::collections::HashSet::new();
    for n in 1..=12u32 {
        assert_eq!(r.poll(clock.now()), ReconnectAction::Connect);
        let retry = delay_of(r.on_connect_error(clock.now()));
        let full = (SECOND * 2u32.pow(n.min(20))).min(Duration::from_secs(60));
        assert!(retry.delay <= full, "{n}: {:?} > {full:?}", retry.delay);
        assert!(
            retry.delay >= (full / 2).max(SECOND),
            "{n}: {:?}",
            retry.delay
        );
        seen.insert(retry.delay);
        clock.advance_to(retry.at);
    }
    assert!(seen.len() > 6, "jitter varies: {seen:?}");
    // The same seed gives the same delays.
    let run = |seed| {
        let clock = Clock::new();
        let mut r = Reconnect::new(config.clone(), seed);
        let _ = r.poll(clock.now());
        delay_of(r.on_connect_error(clock.now())).delay
    };
    assert_eq!(run(5), run(5));
}

#[test]
fn gives_up_after_max_failures() {
    let mut clock = Clock::new();
    let mut r = Reconnect::new(no_jitter().max_failures(Some(3)), 1);
    for _ in 0..3 {
        let retry = delay_of(respond(&mut r, &clock, 500, &HeaderMap::new()));
        clock.advance_to(retry.at);
    }
    assert_eq!(r.poll(clock.now()), ReconnectAction::Connect);
    assert_eq!(
        r.on_connect_error(clock.now()),
        Verdict::Stop(StopReason::GaveUp { failures: 4 })
    );
    assert_eq!(r.poll(clock.now()), ReconnectAction::Stopped);
    assert_eq!(
        r.on_stream_end(clock.now()),
        Verdict::Stop(StopReason::GaveUp { failures: 4 })
    );
}

#[test]
fn max_failures_zero_never_retries_a_failure_but_resumes_an_ended_stream() {
    let mut clock = Clock::new();
    let mut r = Reconnect::new(no_jitter().max_failures(Some(0)), 1);
    assert_eq!(
        respond(&mut r, &clock, 200, &stream_headers()),
        Verdict::Stream
    );
    r.on_decoded(&event("1"));
    let retry = delay_of(r.on_stream_end(clock.now()));
    clock.advance_to(retry.at);
    assert_eq!(r.poll(clock.now()), ReconnectAction::Connect);
    assert!(matches!(
        r.on_connect_error(clock.now()),
        Verdict::Stop(StopReason::GaveUp { failures: 1 })
    ));
}

#[test]
fn the_last_event_id_follows_events_and_can_be_set() {
    let mut r = Reconnect::new(ReconnectConfig::default(), 1);
    assert_eq!(r.last_event_id(), "");
    r.set_last_event_id("start");
    assert_eq!(r.last_event_id(), "start");
    let mut decoder = Decoder::new();
    decoder
        .push(b"id: 1\ndata: a\n\n: note\ndata: b\n\nid\ndata: c\n\n")
        .unwrap();
    let mut ids = Vec::new();
    for item in &mut decoder {
        r.on_decoded(&item);
        ids.push(r.last_event_id().to_owned());
    }
    assert_eq!(ids, ["1", "1", "1", ""]);
}

#[test]
fn a_stream_end_before_any_response_counts_as_a_failure() {
    let clock = Clock::new();
    let mut r = Reconnect::new(no_jitter(), 1);
    assert_eq!(r.poll(clock.now()), ReconnectAction::Connect);
    assert_eq!(delay_of(r.on_stream_end(clock.now())).delay, 2 * SECOND);
    assert_eq!(r.failures(), 1);
}

#[test]
fn stop_now_stops() {
    let clock = Clock::new();
    let mut r = Reconnect::new(ReconnectConfig::default(), 1);
    r.stop_now();
    assert_eq!(r.poll(clock.now()), ReconnectAction::Stopped);
}

#[test]
fn huge_delays_do_not_overflow() {
    let clock = Clock::new();
    let config = ReconnectConfig::default().max_retry(Duration::MAX);
    let mut r = Reconnect::new(config, 1);
    r.on_retry(Duration::from_millis(u64::MAX));
    assert_eq!(r.retry(), Duration::from_millis(u64::MAX));
    for _ in 0..40 {
        let _ = r.poll(clock.now());
        let retry = delay_of(r.on_connect_error(clock.now()));
        assert!(retry.at >= clock.now());
    }
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

fn post(uri: &str) -> Reconnect {
    let mut r = Reconnect::new(no_jitter(), 1);
    r.set_request(&Method::POST, &uri.parse().unwrap());
    r
}

fn resumable_headers(location: &str) -> HeaderMap {
    let mut h = stream_headers();
    h.insert(
        crate::RESUME_LOCATION,
        HeaderValue::from_str(location).unwrap(),
    );
    h
}

#[test]
fn the_server_retry_is_held_between_the_floor_and_the_cap() {
    let mut r = Reconnect::new(ReconnectConfig::default(), 1);
    r.on_retry(Duration::ZERO);
    assert_eq!(r.retry(), Duration::from_millis(500));
    r.on_retry(Duration::from_millis(99_999_999_999_999));
    assert_eq!(r.retry(), Duration::from_secs(600));
    r.on_retry(Duration::from_millis(1234));
    assert_eq!(r.retry(), Duration::from_millis(1234));
    // Both settable; crossed, the floor wins; the client's own initial delay is not
    // bound by them.
    let config = ReconnectConfig::default()
        .initial_retry(Duration::from_millis(10))
        .min_retry(Duration::from_secs(2))
        .max_retry(Duration::from_secs(1));
    let mut r = Reconnect::new(config, 1);
    assert_eq!(r.retry(), Duration::from_millis(10));
    r.on_retry(Duration::from_secs(5));
    assert_eq!(r.retry(), Duration::from_secs(2));
}

#[test]
fn retry_zero_then_close_reconnects_at_most_twice_a_second() {
    let mut clock = Clock::new();
    let mut r = Reconnect::new(ReconnectConfig::default(), 3);
    let start = clock.now();
    let mut connects = 0u32;
    while clock.now() < start + 10 * SECOND {
        assert_eq!(
            respond(&mut r, &clock, 200, &stream_headers()),
            Verdict::Stream
        );
        connects += 1;
        r.on_decoded(&Decoded::Retry(Duration::ZERO));
        r.on_decoded(&event("1"));
        let retry = delay_of(r.on_stream_end(clock.now()));
        assert_eq!(retry.delay, Duration::from_millis(500));
        clock.advance_to(retry.at);
    }
    assert_eq!(connects, 20);
}

#[test]
fn a_stream_that_ends_before_any_event_is_a_failure() {
    let mut clock = Clock::new();
    let mut r = Reconnect::new(no_jitter().max_failures(Some(3)), 1);
    let mut delays = Vec::new();
    for _ in 0..3 {
        assert_eq!(
            respond(&mut r, &clock, 200, &stream_headers()),
            Verdict::Stream
        );
        // A comment and a retry are no event.
        r.on_decoded(&Decoded::Comment("hi".to_owned()));
        let retry = delay_of(r.on_stream_end(clock.now()));
        delays.push(retry.delay.as_secs());
        clock.advance_to(retry.at);
    }
    assert_eq!(delays, [2, 4, 8]);
    assert_eq!(r.failures(), 3);
    assert_eq!(
        respond(&mut r, &clock, 200, &stream_headers()),
        Verdict::Stream
    );
    assert_eq!(
        r.on_stream_broken(clock.now()),
        Verdict::Stop(StopReason::GaveUp { failures: 4 })
    );
}

#[test]
fn max_attempts_is_a_hard_limit() {
    let mut clock = Clock::new();
    let always = |_: &Outcome<'_>, _: Decision| Decision::Retry(Duration::ZERO);
    let config = no_jitter().max_attempts(Some(3));
    let mut r = Reconnect::with_policy(config, 1, always);
    for _ in 0..2 {
        assert_eq!(r.poll(clock.now()), ReconnectAction::Connect);
        let retry = delay_of(r.on_connect_error(clock.now()));
        clock.advance_to(retry.at);
    }
    assert_eq!(r.poll(clock.now()), ReconnectAction::Connect);
    assert_eq!(r.attempts(), 3);
    assert_eq!(
        r.on_connect_error(clock.now()),
        Verdict::Stop(StopReason::Attempts { attempts: 3 })
    );
    assert_eq!(r.poll(clock.now()), ReconnectAction::Stopped);

    // One attempt: a stream that delivered events is not connected again either.
    let mut r = Reconnect::new(no_jitter().max_attempts(Some(1)), 1);
    assert_eq!(
        respond(&mut r, &clock, 200, &stream_headers()),
        Verdict::Stream
    );
    r.on_decoded(&event("1"));
    assert_eq!(
        r.on_stream_end(clock.now()),
        Verdict::Stop(StopReason::Attempts { attempts: 1 })
    );
}

#[test]
fn a_post_is_never_sent_again_after_a_clean_end() {
    let clock = Clock::new();
    for events in [0, 3] {
        let mut r = post("http://h/generate");
        assert_eq!(
            respond(&mut r, &clock, 200, &stream_headers()),
            Verdict::Stream
        );
        for n in 0..events {
            r.on_decoded(&event(&n.to_string()));
        }
        assert_eq!(
            r.on_stream_end(clock.now()),
            Verdict::Stop(StopReason::Ended)
        );
        assert_eq!(r.poll(clock.now()), ReconnectAction::Stopped);
    }
    // Whatever the method's name: only GET and HEAD come back.
    for method in [Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS] {
        let mut r = Reconnect::new(no_jitter(), 1);
        r.set_request(&method, &"http://h/".parse().unwrap());
        let _ = respond(&mut r, &clock, 200, &stream_headers());
        r.on_decoded(&event("1"));
        assert_eq!(
            r.on_stream_end(clock.now()),
            Verdict::Stop(StopReason::Ended)
        );
    }
    let mut r = Reconnect::new(no_jitter(), 1);
    r.set_request(&Method::HEAD, &"http://h/".parse().unwrap());
    let _ = respond(&mut r, &clock, 200, &stream_headers());
    r.on_decoded(&event("1"));
    assert!(matches!(r.on_stream_end(clock.now()), Verdict::Retry(_)));
}

#[test]
fn a_broken_post_stops_unless_resent_on_opt_in() {
    let mut clock = Clock::new();
    let mut r = post("http://h/generate");
    let _ = respond(&mut r, &clock, 200, &stream_headers());
    r.on_decoded(&event("1"));
    assert_eq!(
        r.on_stream_broken(clock.now()),
        Verdict::Stop(StopReason::NotResent)
    );
    assert_eq!(r.resume_at(), None);

    let mut r = Reconnect::new(no_jitter().resend_broken(true), 1);
    r.set_request(&Method::POST, &"http://h/generate".parse().unwrap());
    let _ = respond(&mut r, &clock, 200, &stream_headers());
    r.on_decoded(&event("1"));
    let retry = delay_of(r.on_stream_broken(clock.now()));
    assert_eq!(retry.delay, SECOND);
    assert_eq!(r.resume_at(), None, "the request itself again");
    clock.advance_to(retry.at);
    // Even on opt-in, a clean end is final.
    let _ = respond(&mut r, &clock, 200, &stream_headers());
    r.on_decoded(&event("2"));
    assert_eq!(
        r.on_stream_end(clock.now()),
        Verdict::Stop(StopReason::Ended)
    );
}

#[test]
fn a_failure_before_the_stream_opened_is_retried_for_a_post_too() {
    let mut clock = Clock::new();
    let mut r = post("http://h/generate");
    assert_eq!(r.poll(clock.now()), ReconnectAction::Connect);
    let retry = delay_of(r.on_connect_error(clock.now()));
    clock.advance_to(retry.at);
    let retry = delay_of(respond(&mut r, &clock, 503, &HeaderMap::new()));
    clock.advance_to(retry.at);
    assert_eq!(
        respond(&mut r, &clock, 200, &stream_headers()),
        Verdict::Stream
    );
}

#[test]
fn a_broken_post_resumes_by_get_at_the_location_it_named() {
    let mut clock = Clock::new();
    let mut r = post("http://h:8080/v1/generate");
    let verdict = respond(&mut r, &clock, 200, &resumable_headers("runs/r1?x=1"));
    assert_eq!(verdict, Verdict::Stream);
    r.on_decoded(&event("5"));
    let retry = delay_of(r.on_stream_broken(clock.now()));
    assert_eq!(retry.delay, SECOND);
    let at = r.resume_at().unwrap().to_string();
    assert_eq!(at, "http://h:8080/v1/runs/r1?x=1");
    assert_eq!(r.last_event_id(), "5");
    clock.advance_to(retry.at);
    // The resumed stream names no location: the one named stands; it breaks again
    // before any event (a failure, backed off) and resumes there again.
    let _ = respond(&mut r, &clock, 200, &stream_headers());
    let retry = delay_of(r.on_stream_broken(clock.now()));
    assert_eq!(retry.delay, 2 * SECOND);
    assert_eq!(r.resume_at().unwrap().to_string(), at);
    clock.advance_to(retry.at);
    // A later one names another place on the same origin: it wins.
    let _ = respond(&mut r, &clock, 200, &resumable_headers("/v2/runs/r1"));
    r.on_decoded(&event("6"));
    let retry = delay_of(r.on_stream_broken(clock.now()));
    assert_eq!(
        r.resume_at().unwrap().to_string(),
        "http://h:8080/v2/runs/r1"
    );
    clock.advance_to(retry.at);
    // The resumed stream ends cleanly: the answer is complete, nothing is sent.
    let _ = respond(&mut r, &clock, 200, &stream_headers());
    r.on_decoded(&event("7"));
    assert_eq!(
        r.on_stream_end(clock.now()),
        Verdict::Stop(StopReason::Ended)
    );
}

#[test]
fn a_resume_location_on_another_origin_is_ignored() {
    let clock = Clock::new();
    let mut r = post("http://h/generate");
    let _ = respond(
        &mut r,
        &clock,
        200,
        &resumable_headers("http://evil.example/steal"),
    );
    r.on_decoded(&event("1"));
    assert_eq!(r.resume_at(), None);
    assert_eq!(
        r.on_stream_broken(clock.now()),
        Verdict::Stop(StopReason::NotResent)
    );
    // Without the request's URI there is no base: ignored too.
    let mut r = Reconnect::new(no_jitter(), 1);
    let _ = respond(&mut r, &clock, 200, &resumable_headers("/runs/1"));
    assert_eq!(r.resume_at(), None);
}

#[test]
fn a_policy_sees_each_outcome_with_the_default_and_has_the_last_word() {
    let mut clock = Clock::new();
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let log = seen.clone();
    let policy = move |outcome: &Outcome<'_>, default: Decision| {
        let described = match outcome {
            Outcome::Response { status, .. } => format!("response {}", status.as_u16()),
            Outcome::ConnectError => "connect error".to_owned(),
            Outcome::StreamEnd { clean, events } => format!("end clean={clean} events={events}"),
        };
        log.borrow_mut().push((described, default.clone()));
        match outcome {
            // Retry a 401 at once (a token was refreshed meanwhile).
            Outcome::Response { status, .. } if status.as_u16() == 401 => {
                Decision::Retry(Duration::ZERO)
            }
            // Never reconnect after a stream.
            Outcome::StreamEnd { .. } => Decision::Stop(StopReason::Policy),
            _ => default,
        }
    };
    let mut r = Reconnect::with_policy(no_jitter(), 1, policy);
    let retry = delay_of(respond(&mut r, &clock, 401, &HeaderMap::new()));
    assert_eq!(retry.delay, Duration::ZERO);
    clock.advance_to(retry.at);
    assert_eq!(r.poll(clock.now()), ReconnectAction::Connect);
    let retry = delay_of(r.on_connect_error(clock.now()));
    clock.advance_to(retry.at);
    let _ = respond(&mut r, &clock, 200, &stream_headers());
    r.on_decoded(&event("1"));
    r.on_decoded(&event("2"));
    assert_eq!(
        r.on_stream_end(clock.now()),
        Verdict::Stop(StopReason::Policy)
    );
    assert_eq!(
        *seen.borrow(),
        [
            (
                "response 401".to_owned(),
                Decision::Stop(StopReason::Status(status(401)))
            ),
            ("connect error".to_owned(), Decision::Retry(4 * SECOND)),
            (
                "end clean=true events=2".to_owned(),
                Decision::Retry(SECOND)
            ),
        ]
    );
}

/// One thing that can happen to a client.
#[derive(Clone, Debug)]
enum Op {
    /// Let this many milliseconds pass, then poll.
    Advance(u16),
    Response {
        code: u16,
        event_stream: bool,
        retry_after: Option<u8>,
        resume: bool,
    },
    ConnectError,
    StreamEnd,
    StreamBroken,
    Event,
    Retry(u64),
    Id(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<u16>().prop_map(Op::Advance),
        3 => (
            prop_oneof![Just(200u16), Just(204), Just(404), Just(408), Just(429), Just(500), Just(503), 100u16..600],
            any::<bool>(),
            proptest::option::of(any::<u8>()),
            any::<bool>(),
        )
            .prop_map(|(code, event_stream, retry_after, resume)| Op::Response { code, event_stream, retry_after, resume }),
        2 => Just(Op::ConnectError),
        2 => Just(Op::StreamEnd),
        2 => Just(Op::StreamBroken),
        2 => Just(Op::Event),
        1 => prop_oneof![0u64..100_000, Just(u64::MAX)].prop_map(Op::Retry),
        1 => any::<u8>().prop_map(Op::Id),
    ]
}

proptest! {
    /// Any sequence of outcomes on a fake clock, for a GET or a POST: no panic;
    /// `Connect` only when due and never past the attempt limit; every delay within
    /// its bounds; the server's retry within the floor and the cap; a POST never
    /// comes back after a clean end, nor after a broken one without a resume
    /// location or the opt-in; a stop is for good; the id is the last one set.
    #[test]
    fn any_sequence_keeps_the_invariants(
        seed in any::<u64>(),
        jitter in any::<bool>(),
        get in any::<bool>(),
        resend_broken in any::<bool>(),
        max_failures in proptest::option::of(0u32..6),
        max_attempts in proptest::option::of(1u32..8),
        ops in proptest::collection::vec(op(), 0..80),
    ) {
        let config = ReconnectConfig::default()
            .initial_retry(Duration::from_millis(300))
            .min_retry(Duration::from_millis(100))
            .max_retry(Duration::from_secs(5))
            .max_backoff(Duration::from_secs(10))
            .jitter(jitter)
            .max_failures(max_failures)
            .max_attempts(max_attempts)
            .max_retry_after(Duration::from_secs(100))
            .resend_broken(resend_broken);
        let mut r = Reconnect::new(config, seed);
        let method = if get { Method::GET } else { Method::POST };
        r.set_request(&method, &"http://h/generate".parse().unwrap());
        let mut clock = Clock::new();
        let mut due: Option<Instant> = Some(clock.now());
        let mut stopped = false;
        let mut last_id = String::new();
        let mut open = false;
        let mut events = 0u64;
        let mut connects = 0u32;
        let mut resume = false;
        for op in ops {
            let before = r.retry();
            let failures = r.failures();
            let verdict = match op {
                Op::Advance(ms) => {
                    clock.elapsed += Duration::from_millis(u64::from(ms));
                    let action = r.poll(clock.now());
                    match action {
                        ReconnectAction::Connect => {
                            prop_assert!(!stopped);
                            prop_assert!(due.is_some_and(|at| at <= clock.now()));
                            connects += 1;
                            prop_assert!(max_attempts.is_none_or(|max| connects <= max));
                            prop_assert_eq!(r.attempts(), connects);
                            due = None;
                        }
                        ReconnectAction::Wait(at) => {
                            prop_assert_eq!(Some(at), due);
                            prop_assert!(at > clock.now());
                        }
                        ReconnectAction::InProgress => prop_assert!(due.is_none() && !stopped),
                        ReconnectAction::Stopped => prop_assert!(stopped),
                    }
                    None
                }
                Op::Response { code, event_stream, retry_after, resume: named } => {
                    let mut h = if event_stream { stream_headers() } else { headers("text/html") };
                    if let Some(seconds) = retry_after {
                        h.insert(header::RETRY_AFTER, HeaderValue::from(u16::from(seconds)));
                    }
                    if named {
                        h.insert(crate::RESUME_LOCATION, HeaderValue::from_static("/runs/1"));
                    }
                    let verdict = r.on_response(clock.now(), clock.wall(), status(code), &h);
                    if stopped {
                        prop_assert!(matches!(verdict, Verdict::Stop(_)));
                        continue;
                    }
                    match (&verdict, code) {
                        (Verdict::Stream, 200) => prop_assert!(event_stream),
                        (Verdict::Stop(StopReason::ContentType(_)), 200) => prop_assert!(!event_stream),
                        (Verdict::Stop(StopReason::NoContent), 204) => {}
                        (Verdict::Retry(retry), 408 | 429 | 500..=599) => {
                            if let Some(seconds) = retry_after {
                                prop_assert!(retry.delay >= Duration::from_secs(u64::from(seconds).min(100)));
                            }
                        }
                        (Verdict::Stop(StopReason::GaveUp { .. } | StopReason::Attempts { .. }), 408 | 429 | 500..=599) => {}
                        (Verdict::Stop(StopReason::Status(s)), _) => {
                            prop_assert_eq!(s.as_u16(), code);
                            prop_assert!(!matches!(code, 200 | 204 | 408 | 429 | 500..=599));
                        }
                        (verdict, code) => prop_assert!(false, "{code} gave {verdict:?}"),
                    }
                    open = verdict == Verdict::Stream;
                    if open {
                        prop_assert_eq!(r.failures(), failures);
                        events = 0;
                        resume |= named;
                        due = None;
                    }
                    Some(verdict)
                }
                Op::ConnectError => {
                    open = false;
                    Some(r.on_connect_error(clock.now()))
                }
                Op::StreamEnd | Op::StreamBroken => {
                    let clean = matches!(op, Op::StreamEnd);
                    let was_open = open && !stopped;
                    open = false;
                    let verdict = if clean {
                        r.on_stream_end(clock.now())
                    } else {
                        r.on_stream_broken(clock.now())
                    };
                    if was_open {
                        let comes_back = get || (!clean && (resume || resend_broken));
                        if !comes_back {
                            prop_assert!(matches!(verdict, Verdict::Stop(_)), "{verdict:?}");
                        }
                        if events > 0 {
                            let limited = max_attempts.is_some_and(|max| connects >= max);
                            if comes_back && !limited {
                                prop_assert_eq!(&verdict, &Verdict::Retry(RetryDelay {
                                    delay: before,
                                    at: clock.now() + before,
                                }));
                            }
                        } else if let Verdict::Retry(_) = verdict {
                            prop_assert_eq!(r.failures(), failures + 1);
                        }
                    }
                    Some(verdict)
                }
                Op::Event => {
                    let event = MessageEvent {
                        event_type: "message".into(),
                        data: String::new(),
                        last_event_id: last_id.clone(),
                    };
                    r.on_event(&event);
                    if open && !stopped {
                        events += 1;
                        prop_assert_eq!(r.failures(), 0);
                    }
                    None
                }
                Op::Retry(ms) => {
                    r.on_retry(Duration::from_millis(ms));
                    let retry = r.retry();
                    prop_assert!(retry >= Duration::from_millis(100) && retry <= Duration::from_secs(5));
                    None
                }
                Op::Id(n) => {
                    last_id = n.to_string();
                    r.set_last_event_id(&last_id);
                    None
                }
            };
            match verdict {
                Some(Verdict::Retry(retry)) => {
                    prop_assert!(!stopped);
                    prop_assert!(max_attempts.is_none_or(|max| connects < max));
                    prop_assert_eq!(retry.at, clock.now() + retry.delay);
                    prop_assert!(retry.delay >= before);
                    if r.failures() > failures {
                        // A failure: within the backoff's bounds, or a Retry-After.
                        prop_assert!(
                            retry.delay <= Duration::from_secs(100).max(before).max(Duration::from_secs(10))
                        );
                        if let Some(max) = max_failures {
                            prop_assert!(r.failures() <= max);
                        }
                    }
                    prop_assert_eq!(r.resume_at().is_some(), resume);
                    due = Some(retry.at);
                }
                Some(Verdict::Stop(_)) => {
                    stopped = true;
                    due = None;
                }
                Some(Verdict::Stream) | None => {}
            }
            if stopped {
                prop_assert_eq!(r.poll(clock.now()), ReconnectAction::Stopped);
            }
            prop_assert_eq!(r.last_event_id(), last_id.as_str());
        }
    }
}
