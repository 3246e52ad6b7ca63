//! `GET /metrics`: the hub's and the backplane's figures, and the histograms
//! streams record as they go, in the Prometheus text format, through the
//! `metrics` facade to `metrics-exporter-prometheus`, as an application would
//! with any exporter.

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use http::header;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sse_core::Hub;
use sse_redis::Backplane;

/// The process's recorder, for the histograms: every stream records its samples
/// as it goes, so they need the one recorder, installed before the first stream.
static HISTOGRAMS: OnceLock<PrometheusHandle> = OnceLock::new();

/// How often the histograms' samples are folded into their buckets (as
/// `metrics-exporter-prometheus` does when it installs itself).
pub(crate) const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Installs the Prometheus recorder for the process, once, with `sse-core`'s
/// suggested buckets. Where another recorder was installed first, the histograms
/// go there and `/metrics` shows the figures alone.
pub(crate) fn install() -> &'static PrometheusHandle {
    HISTOGRAMS.get_or_init(|| {
        let mut builder = PrometheusBuilder::new();
        for histogram in sse_core::HISTOGRAMS {
            let name = Matcher::Full(histogram.name.to_owned());
            builder = builder
                .set_buckets_for_metric(name, histogram.buckets)
                .expect("sse-core's buckets are not empty");
        }
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_ok() {
            sse_core::describe_histograms();
        }
        handle
    })
}

/// Renders the figures of `hub` (and `backplane`) as Prometheus text, `sse_*`
/// and `sse_redis_*`, then the histograms recorded so far.
pub(crate) fn prometheus(hub: &Hub, backplane: Option<&Backplane>) -> http::Response<Bytes> {
    // The figures are a snapshot of this hub: a recorder of their own per request
    // (the process's would keep the largest count any hub in it ever reported).
    let figures = PrometheusBuilder::new().build_recorder();
    let snapshot = figures.handle();
    metrics::with_local_recorder(&figures, || {
        sse_core::record_figures("sse", hub.metrics().figures());
        if let Some(backplane) = backplane {
            sse_core::record_figures("sse_redis", backplane.metrics().figures());
        }
    });
    let text = snapshot.render() + &install().render();
    let mut response = http::Response::new(Bytes::from(text));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}
