//! Any sequence of outcomes on a fake clock keeps the invariants (a property test).

use super::*;

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
