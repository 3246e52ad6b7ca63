//! `/generate` as resumable streams: a reply that outlives its connection.
//!
//! | request | answer |
//! |---|---|
//! | `POST /generate` | starts a reply under a fresh key, detached from the connection, and streams it: a `Resume-Location: /generate/{key}` header, then a first `stream` event `{"key", "resume"}` |
//! | `GET /generate/{key}` | the reply after the request's `Last-Event-ID` (all of it without one), then live, then its `end` event; 204 for a key that is unknown, expired, cancelled, or already read to its end |
//! | `POST /generate/{key}/cancel` | stops it (the Stop button): 202, or 404 when no live reply has that key |
//!
//! Every event's id is its position in the reply, so a viewer whose connection
//! broke (or whose page reloaded) resumes exactly where it was, from any demo
//! process sharing Redis with `--redis`.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::json;
use sse_core::{Producer, RESUME_LOCATION, ResponseStream, Resumable};
use sse_redis::{RedisProducer, RedisResumable};

use crate::{Refusal, json_response};

/// What `/generate` answers: a stream for the adapter to serve (with the headers
/// to add to its head), or a plain response (a refusal, a 204, a cancel's 202).
#[derive(Debug)]
pub enum Answer {
    /// Serve this stream through the adapter's per-request entry point, with
    /// these headers added to the head.
    Stream(ResponseStream, HeaderMap),
    /// Send this response as it is.
    Response(http::Response<Bytes>),
}

impl From<Refusal> for Answer {
    fn from(refusal: Refusal) -> Self {
        Answer::Response(refusal.response())
    }
}

/// What a path under `/generate/` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action<'a> {
    /// `/generate/{key}`: attach.
    Attach(&'a str),
    /// `/generate/{key}/cancel`: stop it.
    Cancel(&'a str),
}

impl<'a> Action<'a> {
    /// Reads a path below `/generate/`; `None` when it is neither form.
    pub(crate) fn parse(path: &'a str) -> Option<Action<'a>> {
        let rest = path.strip_prefix("/generate/")?;
        match rest.split_once('/') {
            None if !rest.is_empty() => Some(Action::Attach(rest)),
            Some((key, "cancel")) if !key.is_empty() => Some(Action::Cancel(key)),
            _ => None,
        }
    }
}

/// Where the replies are kept: in this process, or in Redis (`--redis`), where
/// any demo process sharing it serves any reply.
#[derive(Clone, Debug)]
pub(crate) enum Streams {
    Local(Resumable),
    Redis(RedisResumable),
}

/// A reply's producer, on either.
#[derive(Debug)]
pub(crate) enum ReplyProducer {
    Local(Producer),
    Redis(RedisProducer),
}

/// The demo's resumable replies and the keys it gives them.
#[derive(Debug)]
pub(crate) struct Replies {
    pub(crate) streams: Streams,
    keys: RandomState,
    next_key: AtomicU64,
}

impl Replies {
    pub(crate) fn new(streams: Streams) -> Self {
        Replies {
            streams,
            keys: RandomState::new(),
            next_key: AtomicU64::new(0),
        }
    }

    /// Starts a reply under `key`, or the refusal (503 with `Retry-After` at
    /// capacity or when Redis is down).
    pub(crate) async fn start(
        &self,
        key: &str,
        retry_after: Duration,
    ) -> Result<ReplyProducer, Refusal> {
        let refused = |status: StatusCode, message: String| match status {
            StatusCode::SERVICE_UNAVAILABLE => Refusal::unavailable(message, retry_after),
            status => Refusal {
                status,
                message,
                retry_after: None,
            },
        };
        match &self.streams {
            Streams::Local(streams) => streams
                .start(key)
                .map(ReplyProducer::Local)
                .map_err(|e| refused(e.status(), e.to_string())),
            Streams::Redis(streams) => streams
                .start(key)
                .await
                .map(ReplyProducer::Redis)
                .map_err(|e| refused(e.status(), e.to_string())),
        }
    }

    /// A viewer of `key` after `last_event_id`; `Ok(None)` when it is gone.
    async fn viewer(
        &self,
        key: &str,
        last_event_id: Option<&str>,
        retry_after: Duration,
    ) -> Result<Option<ResponseStream>, Refusal> {
        match &self.streams {
            Streams::Local(streams) => Ok(streams.attach(key, last_event_id)),
            Streams::Redis(streams) => streams
                .attach(key, last_event_id)
                .await
                .map_err(|e| Refusal::unavailable(e.to_string(), retry_after)),
        }
    }

    /// The first viewer of a reply just started; 503 if it is already gone (Redis
    /// lost it in between).
    pub(crate) async fn first_viewer(
        &self,
        key: &str,
        retry_after: Duration,
    ) -> Result<ResponseStream, Refusal> {
        let viewer = self.viewer(key, None, retry_after).await?;
        viewer.ok_or_else(|| Refusal::unavailable("the reply was lost".into(), retry_after))
    }

    /// Its figures, for `/stats`.
    pub(crate) fn stats(&self) -> serde_json::Value {
        match &self.streams {
            Streams::Local(streams) => crate::figures_json(streams.metrics().figures()),
            Streams::Redis(streams) => crate::figures_json(streams.metrics().figures()),
        }
    }

    /// A fresh key no one can guess (whoever knows a key can read and cancel its
    /// reply): 128 bits of SipHash, keyed by the OS's randomness, over a counter.
    pub(crate) fn new_key(&self) -> String {
        let number = self.next_key.fetch_add(1, Relaxed);
        let [high, low] = [0u8, 1].map(|half| self.keys.hash_one((number, half)));
        format!("reply-{high:016x}{low:016x}")
    }

    /// Attaches a viewer after `last_event_id`, or 204 (503 when Redis is down).
    pub(crate) async fn attach(
        &self,
        key: &str,
        last_event_id: Option<&str>,
        retry_after: Duration,
    ) -> Answer {
        match self.viewer(key, last_event_id, retry_after).await {
            Ok(Some(stream)) => Answer::Stream(stream, HeaderMap::new()),
            Ok(None) => Answer::Response(no_content()),
            Err(refusal) => refusal.into(),
        }
    }

    /// Cancels a live reply: 202, or 404 (503 when Redis is down).
    pub(crate) async fn cancel(&self, key: &str, retry_after: Duration) -> Answer {
        let cancelled = match &self.streams {
            Streams::Local(streams) => streams.cancel(key),
            Streams::Redis(streams) => match streams.cancel(key).await {
                Ok(cancelled) => cancelled,
                Err(e) => return Refusal::unavailable(e.to_string(), retry_after).into(),
            },
        };
        if cancelled {
            Answer::Response(json_response(
                StatusCode::ACCEPTED,
                &json!({ "cancelled": key }),
            ))
        } else {
            Answer::Response(crate::error(
                StatusCode::NOT_FOUND,
                "no live reply has this key",
            ))
        }
    }
}

/// Where a reply is resumed: `/generate/{key}`.
pub(crate) fn location(key: &str) -> String {
    format!("/generate/{key}")
}

/// The headers of the response that starts a reply: where to resume it.
pub(crate) fn resume_headers(key: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let location = HeaderValue::try_from(location(key)).expect("keys are URL-safe");
    headers.insert(RESUME_LOCATION, location);
    headers
}

/// 204: the reply is gone or was read to its end, so an `EventSource` stops.
fn no_content() -> http::Response<Bytes> {
    let mut response = http::Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_below_generate() {
        assert_eq!(Action::parse("/generate/k1"), Some(Action::Attach("k1")));
        assert_eq!(
            Action::parse("/generate/k1/cancel"),
            Some(Action::Cancel("k1"))
        );
        for path in [
            "/generate/",
            "/generate//cancel",
            "/generate/k1/other",
            "/generate/k1/cancel/x",
            "/generates/k1",
        ] {
            assert_eq!(Action::parse(path), None, "{path}");
        }
    }

    #[test]
    fn keys_are_valid_and_distinct() {
        let replies = Replies::new(Streams::Local(Resumable::default()));
        let first = replies.new_key();
        assert!(sse_core::is_valid_key(&first), "{first}");
        assert_ne!(first, replies.new_key());
        assert_eq!(resume_headers(&first)["resume-location"], location(&first));
    }
}
