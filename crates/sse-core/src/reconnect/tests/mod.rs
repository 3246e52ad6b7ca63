//! `Reconnect`'s tests: the fake clock and the helpers every group shares, then
//! one module per group.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use proptest::prelude::*;

use super::*;
use crate::Decoder;

mod backoff;
mod model;
mod requests;
mod statuses;

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
