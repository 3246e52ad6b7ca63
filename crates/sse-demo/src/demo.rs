//! A demo server's state: its hub, fed by a Redis backplane with `--redis`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::json;
use sse_core::{Hub, ResponseStream};
use sse_redis::{Backplane, RedisOptions};

use crate::generate::{self, Generate, Generations, Task};
use crate::{DemoArgs, Publish, Refusal, Route, Target, accepted, json_response, send_to};

/// The hub a demo's clients stream from and, with `--redis`, the backplane that
/// feeds it: events published on any demo process sharing the Redis stream reach
/// the clients of all of them. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Demo {
    hub: Hub,
    backplane: Option<Backplane>,
    generations: Arc<Generations>,
    /// `/generate`'s keep-alive interval: the hub's.
    keep_alive: Option<Duration>,
}

impl Demo {
    /// The hub from the flags, and the backplane when `--redis` is given.
    ///
    /// # Errors
    ///
    /// When Redis cannot be reached.
    pub async fn open(args: &DemoArgs) -> Result<Demo, sse_redis::Error> {
        let builder = Hub::builder().config(args.config.clone());
        let (hub, backplane) = match &args.redis {
            Some(url) => {
                let backplane = Backplane::open(RedisOptions::new(url.as_str()), builder).await?;
                (backplane.hub().clone(), Some(backplane))
            }
            None => (builder.build(), None),
        };
        Ok(Demo {
            hub,
            backplane,
            generations: Arc::new(Generations::new(args.max_generations)),
            keep_alive: args.config.keep_alive,
        })
    }

    /// [`open`](Self::open), or exits with status 1 and the reason.
    pub async fn open_or_exit(args: &DemoArgs) -> Demo {
        Demo::open(args).await.unwrap_or_else(|e| {
            eprintln!("error: {e}");
            std::process::exit(1);
        })
    }

    /// The hub to stream.
    #[must_use]
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Relays the Redis stream to the hub until it shuts down (returns at once
    /// without `--redis`): spawn it with the runtime's timer.
    pub async fn run_backplane<F: Future>(self, sleep: impl FnMut(Duration) -> F) {
        if let Some(backplane) = &self.backplane {
            backplane.run(sleep).await;
        }
    }

    /// `/generate` ([`Route::Generate`]): a generated reply, word by word, as a
    /// per-request stream (`POST` with JSON `{"prompt"?, "words"?, "rate"?}`, or
    /// `GET ?words=N&rate=R` for an `EventSource`). The producer runs as a task
    /// handed to `spawn`, paced with `sleep`, and stops as soon as the client goes
    /// away (a send fails, or the pause it is in ends with `Sender::closed`). A
    /// `Last-Event-ID` (a checkpoint the reply sent) resumes after it. At most
    /// `--max-generations` producers run at once. The adapter answers with the
    /// stream, or the refusal returned.
    ///
    /// # Errors
    ///
    /// The refusal to answer: 400 or 415 when the request is invalid (a rate
    /// outside 0 or [`MIN_RATE`](crate::MIN_RATE)..=[`MAX_RATE`](crate::MAX_RATE),
    /// more than [`MAX_WORDS`](crate::MAX_WORDS) words), 503 with `Retry-After`
    /// when `--max-generations` replies are being generated.
    pub fn generate<F>(
        &self,
        request: &http::request::Parts,
        body: &[u8],
        spawn: impl FnOnce(Task),
        sleep: impl Fn(Duration) -> F + Send + 'static,
    ) -> Result<ResponseStream, Refusal>
    where
        F: Future + Send,
    {
        let generate = if request.method == Method::GET {
            Generate::from_query(request.uri.query().unwrap_or_default())
        } else {
            crate::require_json(request).and_then(|()| Generate::from_json(body))
        };
        let resume = sse_core::last_event_id(request);
        generate
            .and_then(|generate| {
                generate::start(
                    &generate,
                    resume.as_deref(),
                    &self.generations,
                    self.hub.retry_after(),
                    spawn,
                    sleep,
                )
            })
            .map(|stream| stream.keep_alive(self.keep_alive))
    }

    /// Answers `request` (every route but `/events` and `/generate`, which the
    /// adapter streams): [`respond`](crate::respond), publishing through Redis with
    /// `--redis`. A `POST` whose body is not `application/json` is a 415, so that a
    /// cross-origin form or `text/plain` request (which a browser sends without
    /// asking) cannot publish or disconnect.
    pub async fn respond(
        &self,
        request: &http::request::Parts,
        body: &[u8],
    ) -> http::Response<Bytes> {
        let route = crate::route(&request.method, request.uri.path());
        // The routes that read a JSON body; another route answers 405 or 404 first.
        if matches!(route, Route::Publish | Route::Disconnect)
            && let Err(refusal) = crate::require_json(request)
        {
            return refusal.response();
        }
        match (&self.backplane, route) {
            (Some(backplane), Route::Publish) => publish_through(backplane, body).await,
            (_, Route::Stats) => json_response(StatusCode::OK, &self.stats()),
            (backplane, Route::Metrics) => {
                crate::metrics::prometheus(&self.hub, backplane.as_ref())
            }
            _ => crate::respond(&self.hub, route, body),
        }
    }

    /// `/stats`: the hub's metrics, `/generate`'s, and the backplane's.
    fn stats(&self) -> serde_json::Value {
        let mut stats = crate::stats_json(&self.hub);
        if self.hub.config().trust_client_id {
            // Ids are names the clients chose; issued ones are capabilities and
            // stay private.
            stats["clients"] = json!(self.hub.client_ids());
        }
        stats["generate"] = self.generations.json();
        stats["resident_kib"] = json!(resident_kib());
        if let Some(backplane) = &self.backplane {
            stats["redis"] = crate::figures_json(backplane.metrics().figures());
        }
        stats
    }
}

/// `POST /publish` through the backplane: to everyone or a topic on every process
/// (202 with the stream entry id), to a client of this process (as without Redis);
/// 503 when Redis cannot be reached, and nothing is sent.
async fn publish_through(backplane: &Backplane, body: &[u8]) -> http::Response<Bytes> {
    publish_to_backplane(backplane, body)
        .await
        .unwrap_or_else(Refusal::response)
}

async fn publish_to_backplane(
    backplane: &Backplane,
    body: &[u8],
) -> Result<http::Response<Bytes>, Refusal> {
    let request = Publish::parse(body)?;
    let (event, target) = request.checked()?;
    let published = match target {
        Target::Client(client) => {
            let sequence = send_to(backplane.hub(), client, &event)?;
            return Ok(accepted(&sequence.to_string()));
        }
        _ if request.id.is_some() => {
            let message = "with Redis, the stream entry id is the event's id: leave out \"id\"";
            return Err(Refusal::bad_request(message.into()));
        }
        Target::Topic(topic) => backplane.publish(topic, &event).await,
        Target::Everyone => backplane.broadcast(&event).await,
    };
    let id = published.map_err(|e| Refusal::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    Ok(accepted(&id.to_string()))
}

/// The process's resident memory in KiB (`VmRSS`), where Linux's `/proc` tells it.
fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
