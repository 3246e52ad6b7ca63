//! A demo server's state: its hub, fed by a Redis backplane with `--redis`.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use serde_json::json;
use sse_core::Hub;
use sse_redis::{Backplane, RedisOptions};

use crate::{DemoArgs, Publish, Refusal, Route, Target, accepted, json_response, send_to};

/// The hub a demo's clients stream from and, with `--redis`, the backplane that
/// feeds it: events published on any demo process sharing the Redis stream reach
/// the clients of all of them. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Demo {
    hub: Hub,
    backplane: Option<Backplane>,
}

impl Demo {
    /// The hub from the flags, and the backplane when `--redis` is given.
    ///
    /// # Errors
    ///
    /// When Redis cannot be reached.
    pub async fn open(args: &DemoArgs) -> Result<Demo, sse_redis::Error> {
        let hub = Hub::builder().config(args.config.clone());
        let Some(url) = &args.redis else {
            return Ok(Demo {
                hub: hub.build(),
                backplane: None,
            });
        };
        let backplane = Backplane::open(RedisOptions::new(url.as_str()), hub).await?;
        Ok(Demo {
            hub: backplane.hub().clone(),
            backplane: Some(backplane),
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

    /// [`respond`](crate::respond), publishing through Redis with `--redis`.
    pub async fn respond(&self, route: Route, body: &[u8]) -> http::Response<Bytes> {
        match (&self.backplane, route) {
            (Some(backplane), Route::Publish) => publish_through(backplane, body).await,
            (Some(backplane), Route::Stats) => {
                let mut stats = crate::stats_json(&self.hub);
                let m = backplane.metrics();
                stats["redis"] = json!({
                    "connected": m.connected,
                    "published": m.published,
                    "publish_errors": m.publish_errors,
                    "relayed": m.relayed,
                    "invalid_entries": m.invalid_entries,
                    "connection_losses": m.connection_losses,
                    "reconnects": m.reconnects,
                    "resets": m.resets,
                    "replays": m.replays,
                    "replay_misses": m.replay_misses,
                });
                json_response(StatusCode::OK, &stats)
            }
            _ => crate::respond(&self.hub, route, body),
        }
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
    let id = published.map_err(|e| Refusal {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: e.to_string(),
    })?;
    Ok(accepted(&id.to_string()))
}
