//! Delays: the reconnection delay, backoff on failures with its cap and jitter,
//! the failure limit, and the last event id carried across reconnects.

use super::*;

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
