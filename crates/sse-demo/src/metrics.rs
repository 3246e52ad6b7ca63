//! `GET /metrics`: the hub's and the backplane's figures in the Prometheus text
//! format, reported through the `metrics` facade (`sse_core::record_figures`) to
//! `metrics-exporter-prometheus`, as an application would with any exporter.

use bytes::Bytes;
use http::header;
use metrics_exporter_prometheus::PrometheusBuilder;
use sse_core::Hub;
use sse_redis::Backplane;

/// Renders the figures of `hub` (and `backplane`) as Prometheus text: `sse_*`
/// and `sse_redis_*`.
pub(crate) fn prometheus(hub: &Hub, backplane: Option<&Backplane>) -> http::Response<Bytes> {
    // A recorder of its own, not the process-wide one: a snapshot per request.
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        sse_core::record_figures("sse", hub.metrics().figures());
        if let Some(backplane) = backplane {
            sse_core::record_figures("sse_redis", backplane.metrics().figures());
        }
    });
    let mut response = http::Response::new(Bytes::from(handle.render()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}
