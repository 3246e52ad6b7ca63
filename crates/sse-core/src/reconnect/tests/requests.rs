//! Requests that must not be sent twice (a `POST`), the resume location, the
//! floor under the server's retry, the attempt limit, and a custom policy.

use super::*;

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
