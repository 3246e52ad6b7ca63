//! A job's progress bar, on warp: start a long job, and let any number of
//! watchers follow it until it is done.
//!
//! | request | answer |
//! |---|---|
//! | `POST /jobs` | starts a (simulated) job: 201 `{"id": "1"}` |
//! | `GET /jobs/{id}/progress` | `event: progress` with `{"percent": n}` (where the job is now, then each change), then `event: done`, then the stream ends; 404 `{"error": ...}` for an unknown job |
//!
//! Each watcher gets its own per-request stream that follows the job's state (a
//! `tokio::sync::watch`): one that arrives late starts from where the job is, one
//! that falls behind skips to the newest percent, and the stream ends with the
//! job. (The hub's topics fan one log out to many clients, but a hub stream does
//! not end when its topic is done, and a newcomer would get the topic's history,
//! not the job's state.)
//!
//! Each event's id is its percent (`done` for the last one), so a browser's
//! `EventSource` that reconnects mid-job resumes from the job's state, and one
//! that reconnects after `done` is answered 204 and stops, instead of watching
//! the finished job again every 3 seconds.
//!
//! ```sh
//! cargo run --example progress        # PORT=3000 by default
//! curl -X POST http://127.0.0.1:3000/jobs
//! curl -N http://127.0.0.1:3000/jobs/1/progress
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use sse_core::{Event, Receiver};
use sse_warp::Sse;
use tokio::sync::watch;
use tower_service::Service as _;
use warp::http::StatusCode;
use warp::{Filter, Reply};

/// The jobs, by id: where each one is, in percent.
struct Jobs {
    /// How long each 5 % of a simulated job takes.
    step: Duration,
    next_id: AtomicU64,
    // A real application keeps its jobs in its database, and forgets old ones.
    percent: Mutex<HashMap<String, watch::Receiver<u8>>>,
}

impl Jobs {
    /// Starts a simulated job; its id.
    fn start(&self) -> String {
        let id = (self.next_id.fetch_add(1, Ordering::Relaxed) + 1).to_string();
        let (percent, watched) = watch::channel(0);
        self.percent.lock().unwrap().insert(id.clone(), watched);
        let step = self.step;
        tokio::spawn(async move {
            for done in (5..=100).step_by(5) {
                tokio::time::sleep(step).await; // The work.
                percent.send_replace(done);
            }
        });
        id
    }

    fn watch(&self, id: &str) -> Option<watch::Receiver<u8>> {
        self.percent.lock().unwrap().get(id).cloned()
    }
}

/// The routes; each 5 % of a job takes `step`.
fn app(step: Duration) -> impl Filter<Extract = (impl Reply,), Error = warp::Rejection> + Clone {
    let jobs = Arc::new(Jobs {
        step,
        next_id: AtomicU64::new(0),
        percent: Mutex::default(),
    });
    let jobs = warp::any().map(move || jobs.clone());
    let start = warp::path!("jobs")
        .and(warp::post())
        .and(jobs.clone())
        .map(|jobs: Arc<Jobs>| {
            let id = jobs.start();
            warp::reply::with_status(warp::reply::json(&json!({"id": id})), StatusCode::CREATED)
        });
    let progress = warp::path!("jobs" / String / "progress")
        .and(warp::get())
        .and(jobs)
        .and(sse_warp::last_event_id())
        .map(|id: String, jobs: Arc<Jobs>, last: Option<String>| {
            let Some(job) = jobs.watch(&id) else {
                let error = warp::reply::json(&json!({"error": format!("no job {id:?}")}));
                return warp::reply::with_status(error, StatusCode::NOT_FOUND).into_response();
            };
            if last.as_deref() == Some("done") {
                // It saw the end already: 204 tells an `EventSource` to stop.
                return StatusCode::NO_CONTENT.into_response();
            }
            Sse::from_stream(follow(job)).into_response()
        });
    start.or(progress)
}

/// One watcher's stream: the job's percent now, then each change it sees, then
/// `done`. Stops early if the watcher leaves.
fn follow(mut job: watch::Receiver<u8>) -> Receiver {
    let (sender, receiver) = sse_core::channel(4);
    tokio::spawn(async move {
        loop {
            let percent = *job.borrow_and_update();
            let id = percent.to_string();
            if sender.send(event("progress", id, percent)).await.is_err() {
                return; // The watcher left.
            }
            if percent == 100 {
                let _ = sender.send(event("done", "done".into(), 100)).await;
                return;
            }
            tokio::select! {
                changed = job.changed() => if changed.is_err() { return }, // The job is gone.
                () = sender.closed() => return, // The watcher left.
            }
        }
    });
    receiver
}

/// `event: {name}`, `id: {id}`, `data: {"percent": n}`.
fn event(name: &'static str, id: String, percent: u8) -> Event<'static> {
    let event = Event::json(&json!({"percent": percent})).expect("a JSON value serialises");
    let event = event.with_event(name).and_then(|event| event.with_id(id));
    event.expect("a valid name and id")
}

/// Serves `app` on `listener` until `shutdown`, with every timeout an open port
/// needs (`sse_hyper::serve`; `warp::serve` has none).
async fn serve(
    listener: tokio::net::TcpListener,
    app: impl Filter<Extract = (impl Reply,), Error = warp::Rejection> + Clone + Send + Sync + 'static,
    shutdown: impl Future<Output = ()>,
) {
    let service = warp::service(app);
    let timeouts = sse_hyper::Timeouts::default();
    sse_hyper::serve(listener, timeouts, shutdown, move |request| {
        Box::pin(service.clone().call(request))
    })
    .await;
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::var("PORT").map_or(Ok(3000), |port| port.parse())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("jobs on http://{}", listener.local_addr()?);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve(listener, app(Duration::from_millis(200)), shutdown).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use sse_client::{Event, EventSource, ReconnectConfig};
    use sse_testkit::TIMEOUT;

    use super::*;

    /// The app on a free loopback port; its base URL.
    async fn start() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(serve(
            listener,
            app(Duration::from_millis(5)),
            std::future::pending(),
        ));
        base
    }

    async fn next(watcher: &mut EventSource) -> Event {
        match tokio::time::timeout(TIMEOUT, watcher.next()).await {
            Ok(Some(Ok(event))) => event,
            Ok(other) => panic!("expected an event, got {other:?}"),
            Err(_) => panic!("nothing within {TIMEOUT:?}"),
        }
    }

    /// Follows a job to its end: the percents it saw.
    async fn watch(base: &str, id: &str) -> Vec<u64> {
        let mut watcher = EventSource::builder(format!("{base}/jobs/{id}/progress"))
            .reconnect(ReconnectConfig::default().initial_retry(Duration::from_millis(10)))
            .build()
            .unwrap();
        assert!(matches!(next(&mut watcher).await, Event::Open(_)));
        let mut percents = Vec::new();
        loop {
            let Event::Message(event) = next(&mut watcher).await else {
                panic!("the stream ended before `done`")
            };
            if event.event_type == "done" {
                break;
            }
            assert_eq!(event.event_type, "progress");
            let progress: Value = serde_json::from_str(&event.data).unwrap();
            percents.push(progress["percent"].as_u64().unwrap());
        }
        // Then the stream ends; the client comes back with `Last-Event-ID: done`
        // and is told to stop (204).
        assert!(matches!(
            next(&mut watcher).await,
            Event::Reconnecting { .. }
        ));
        assert!(matches!(next(&mut watcher).await, Event::Closed));
        percents
    }

    #[tokio::test]
    async fn watchers_see_the_percent_rise_to_100_then_done() {
        let base = start().await;
        let http = reqwest::Client::new();
        let started = http.post(format!("{base}/jobs")).send().await.unwrap();
        assert_eq!(started.status(), StatusCode::CREATED);
        let started: Value = serde_json::from_slice(&started.bytes().await.unwrap()).unwrap();
        let id = started["id"].as_str().unwrap();

        // Two watchers of the one job, at once.
        let (first, second) = tokio::join!(watch(&base, id), watch(&base, id));
        for percents in [first, second] {
            assert!(percents.is_sorted_by(|a, b| a < b), "rising: {percents:?}");
            assert_eq!(percents.last(), Some(&100), "{percents:?}");
        }
        // A watcher after the end sees it at once.
        assert_eq!(watch(&base, id).await, [100]);
    }

    #[tokio::test]
    async fn an_unknown_job_is_a_404_with_a_json_error() {
        let base = start().await;
        let response = reqwest::get(format!("{base}/jobs/404/progress"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(body, json!({"error": "no job \"404\""}));
    }
}
