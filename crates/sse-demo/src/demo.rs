//! A demo server's state: its hub, fed by a Redis backplane with `--redis`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_lite::future;
use http::{Method, StatusCode};
use serde_json::json;
use sse_core::{Hub, Resumable};
use sse_redis::{Backplane, RedisOptions, RedisResumable, ResumeOptions};

use crate::generate::{self, Generate, Generations, Task};
use crate::replies::{Action, Answer, Replies, Streams};
use crate::{DemoArgs, Publish, Refusal, Route, Target, accepted, json_response, send_to};

/// The hub a demo's clients stream from and, with `--redis`, the backplane that
/// feeds it: events published on any demo process sharing the Redis stream reach
/// the clients of all of them. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Demo {
    hub: Hub,
    backplane: Option<Backplane>,
    generations: Arc<Generations>,
    replies: Arc<Replies>,
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
        // Before the first stream, which records histograms as it goes.
        crate::metrics::install();
        let builder = Hub::builder().config(args.config.clone());
        let replies = &args.replies;
        let (hub, backplane, streams) = match &args.redis {
            Some(url) => {
                let backplane = Backplane::open(RedisOptions::new(url.as_str()), builder).await?;
                let options = ResumeOptions::new(url.as_str())
                    .linger(replies.linger)
                    .abandon_after(replies.abandon_after);
                let streams = Streams::Redis(RedisResumable::open(options)?);
                (backplane.hub().clone(), Some(backplane), streams)
            }
            None => {
                let streams = Streams::Local(Resumable::new(replies.clone()));
                (builder.build(), None, streams)
            }
        };
        Ok(Demo {
            hub,
            backplane,
            generations: Arc::new(Generations::new(args.max_generations)),
            replies: Arc::new(Replies::new(streams)),
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

    /// The demo's work in the background until the hub shuts down: relays the
    /// Redis stream to the hub (with `--redis`), expires the resumable replies
    /// whose linger is over, and folds the histograms' samples in (so they take no
    /// more room however long no one reads `/metrics`). Spawn it with the
    /// runtime's timer.
    pub async fn run<F: Future>(self, sleep: impl Fn(Duration) -> F) {
        let relay = async {
            match &self.backplane {
                Some(backplane) => backplane.run(&sleep).await,
                None => future::pending().await,
            }
        };
        let expire = async {
            match &self.replies.streams {
                // Redis expires replies itself; `run` hears cancels from other
                // processes, keeps this process's replies alive and abandons them.
                Streams::Redis(streams) => streams.run(&sleep).await,
                Streams::Local(streams) => streams.run(&sleep).await,
            }
        };
        let histograms = async {
            loop {
                sleep(crate::metrics::UPKEEP_EVERY).await;
                crate::metrics::install().run_upkeep();
            }
        };
        let work = future::or(relay, future::or(expire, histograms));
        future::or(self.hub.shutting_down(), work).await;
    }

    /// `/generate` and below ([`Route::Generate`]): a generated reply, word by
    /// word, as a per-request stream. `POST /generate` (JSON `{"prompt"?,
    /// "words"?, "rate"?, "resumable"?}`) starts a resumable reply that outlives
    /// its connection (see [`replies`](crate::replies)): `GET /generate/{key}`
    /// resumes it after the request's `Last-Event-ID`, `POST
    /// /generate/{key}/cancel` stops it. `GET /generate?words=N&rate=R` (for an
    /// `EventSource`) and `"resumable": false` stream a plain reply instead, whose
    /// producer stops as soon as its client goes away, and which a `Last-Event-ID`
    /// (a checkpoint it sent) regenerates after. The producer runs as a task handed
    /// to `spawn`, paced with `sleep`.
    ///
    /// At most `--max-generations` producers run at once, resumable or not.
    ///
    /// The adapter serves [`Answer::Stream`] through its per-request entry point
    /// with the headers given, and sends [`Answer::Response`] as it is: 400 or 415
    /// when the request is invalid (a rate outside 0 or
    /// [`MIN_RATE`](crate::MIN_RATE)..=[`MAX_RATE`](crate::MAX_RATE), more than
    /// [`MAX_WORDS`](crate::MAX_WORDS) words), 503 with `Retry-After` when
    /// `--max-generations` replies are being generated, 204 for a reply that is
    /// gone.
    pub async fn generate<F>(
        &self,
        request: &http::request::Parts,
        body: &[u8],
        spawn: impl FnOnce(Task),
        sleep: impl Fn(Duration) -> F + Send + 'static,
    ) -> Answer
    where
        F: Future + Send,
    {
        let last_event_id = sse_core::last_event_id(request);
        let retry_after = self.hub.retry_after();
        let generate = match Action::parse(request.uri.path()) {
            Some(Action::Attach(key)) => {
                let last_event_id = last_event_id.as_deref();
                let answer = self.replies.attach(key, last_event_id, retry_after).await;
                return self.keep_alive(answer);
            }
            Some(Action::Cancel(key)) => return self.replies.cancel(key, retry_after).await,
            None if request.method == Method::GET || request.method == Method::HEAD => {
                Generate::from_query(request.uri.query().unwrap_or_default())
            }
            None => crate::require_json(request).and_then(|()| Generate::from_json(body)),
        };
        let generations = &self.generations;
        let answer = match generate {
            Ok(generate) if generate.is_resumable() => {
                let replies = &self.replies;
                generate::start_resumable(
                    &generate,
                    replies,
                    generations,
                    retry_after,
                    spawn,
                    sleep,
                )
                .await
            }
            Ok(generate) => {
                let resume = last_event_id.as_deref();
                generate::start(&generate, resume, generations, retry_after, spawn, sleep)
                    .map(|stream| Answer::Stream(stream, http::HeaderMap::new()))
            }
            Err(refusal) => Err(refusal),
        };
        let answer = answer.unwrap_or_else(Answer::from);
        self.keep_alive(answer)
    }

    /// A stream answered gets the hub's keep-alive interval.
    fn keep_alive(&self, answer: Answer) -> Answer {
        match answer {
            Answer::Stream(stream, headers) => {
                Answer::Stream(stream.keep_alive(self.keep_alive), headers)
            }
            response => response,
        }
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
        stats["replies"] = self.replies.stats();
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
