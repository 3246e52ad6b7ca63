//! The histograms an operator looks at first, recorded through the [`metrics`]
//! crate's facade (feature `metrics`), so any exporter installed serves them:
//! time to first event, stream duration, frames per write. Without the feature a
//! stream's [`Observed`] is empty and costs nothing.

#[cfg(feature = "metrics")]
use std::time::Instant;

/// A histogram `sse-core` records, with the buckets suggested for it (for an
/// exporter that needs them set, as Prometheus's does).
///
/// ```
/// for histogram in sse_core::HISTOGRAMS {
///     assert!(histogram.name.starts_with("sse_"));
///     assert!(histogram.buckets.windows(2).all(|pair| pair[0] < pair[1]));
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct HistogramSpec {
    /// Its name, with its unit (Prometheus conventions).
    pub name: &'static str,
    /// What it measures.
    pub help: &'static str,
    /// Upper bounds of the buckets suggested, ascending.
    pub buckets: &'static [f64],
}

/// Time from a per-request stream's start (when it was made, as its response
/// was) to its first message, in seconds: the wait for an LLM's first token, say. Label `stream`:
/// `response`.
pub const TIME_TO_FIRST_EVENT: HistogramSpec = HistogramSpec {
    name: "sse_time_to_first_event_seconds",
    help: "Time from a per-request stream's start to its first message.",
    buckets: &[
        0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ],
};

/// How long streams lasted, in seconds, recorded when one ends. Label `stream`:
/// `hub` (a hub client) or `response` (a per-request stream).
pub const STREAM_DURATION: HistogramSpec = HistogramSpec {
    name: "sse_stream_duration_seconds",
    help: "How long streams lasted, from their start to their end.",
    buckets: &[0.1, 1.0, 10.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0],
};

/// Frames (messages, for a per-request stream) handed to a writer at once: one
/// write and one flush each. Label `stream`: `hub` or `response`.
pub const FRAMES_PER_WRITE: HistogramSpec = HistogramSpec {
    name: "sse_frames_per_write",
    help: "Frames handed to a writer at once, for one write and one flush.",
    buckets: &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0],
};

/// Every histogram `sse-core` records (feature `metrics`).
pub const HISTOGRAMS: &[HistogramSpec] = &[TIME_TO_FIRST_EVENT, STREAM_DURATION, FRAMES_PER_WRITE];

/// Describes [`HISTOGRAMS`] to the installed recorder (their help and unit).
/// Feature `metrics`.
#[cfg(feature = "metrics")]
pub fn describe_histograms() {
    for histogram in HISTOGRAMS {
        metrics::describe_histogram!(histogram.name, histogram.help);
    }
}

/// A per-request stream's samples: its writes as they go, its first message and
/// its duration. Its histograms are registered once, when the stream starts, so a
/// write costs one sample, not a lookup; boxed, so a stream grows by a pointer.
#[cfg(feature = "metrics")]
pub(crate) struct Observed(Box<Samples>);

#[cfg(feature = "metrics")]
struct Samples {
    started: Instant,
    /// Until the first message.
    waiting: bool,
    /// Frames in the chunk being made.
    frames: usize,
    writes: metrics::Histogram,
}

#[cfg(feature = "metrics")]
impl Observed {
    pub(crate) fn new() -> Self {
        Observed(Box::new(Samples {
            started: Instant::now(),
            waiting: true,
            frames: 0,
            writes: metrics::histogram!(FRAMES_PER_WRITE.name, "stream" => "response"),
        }))
    }

    /// A frame that is not a message (an opening hint, a keep-alive) joined the
    /// chunk being made.
    pub(crate) fn frame(&mut self) {
        self.0.frames += 1;
    }

    /// A message joined the chunk being made: the first one is timed.
    pub(crate) fn message(&mut self) {
        let samples = &mut *self.0;
        samples.frames += 1;
        if std::mem::take(&mut samples.waiting) {
            let waited = samples.started.elapsed().as_secs_f64();
            metrics::histogram!(TIME_TO_FIRST_EVENT.name, "stream" => "response").record(waited);
        }
    }

    /// The chunk being made went to the writer.
    pub(crate) fn written(&mut self) {
        let frames = std::mem::take(&mut self.0.frames);
        self.0.writes.record(frames as f64);
    }
}

#[cfg(feature = "metrics")]
impl Drop for Observed {
    fn drop(&mut self) {
        let lasted = self.0.started.elapsed().as_secs_f64();
        metrics::histogram!(STREAM_DURATION.name, "stream" => "response").record(lasted);
    }
}

/// A hub's histograms, registered when the hub is made (install the recorder
/// before), shared by its clients: a client holds only when it started
/// ([`Started`]).
#[cfg(feature = "metrics")]
#[derive(Debug)]
pub(crate) struct HubHistograms {
    writes: metrics::Histogram,
    durations: metrics::Histogram,
}

#[cfg(feature = "metrics")]
impl Default for HubHistograms {
    fn default() -> Self {
        HubHistograms {
            writes: metrics::histogram!(FRAMES_PER_WRITE.name, "stream" => "hub"),
            durations: metrics::histogram!(STREAM_DURATION.name, "stream" => "hub"),
        }
    }
}

#[cfg(feature = "metrics")]
impl HubHistograms {
    /// A client's batch of `frames` went to its writer.
    pub(crate) fn write(&self, frames: usize) {
        self.writes.record(frames as f64);
    }

    /// A client that started at `started` ended.
    pub(crate) fn ended(&self, started: Started) {
        self.durations.record(started.elapsed_secs());
    }
}

/// When a hub client started, in milliseconds since the process's first, as a
/// `u32` (wrapping: a duration under 49 days is exact), so that it fits beside a
/// client's flags and the client grows by nothing.
#[cfg(feature = "metrics")]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Started(u32);

#[cfg(feature = "metrics")]
impl Started {
    pub(crate) fn now() -> Self {
        Started(Self::millis())
    }

    fn elapsed_secs(self) -> f64 {
        f64::from(Self::millis().wrapping_sub(self.0)) / 1000.0
    }

    /// Milliseconds since the first call, wrapping.
    fn millis() -> u32 {
        static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        // Truncated on purpose: only differences are read, wrapping.
        EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u32
    }
}

/// Without the `metrics` feature: nothing, at no cost.
#[cfg(not(feature = "metrics"))]
pub(crate) struct Observed;

#[cfg(not(feature = "metrics"))]
impl Observed {
    #[inline]
    pub(crate) fn new() -> Self {
        Observed
    }

    #[inline]
    pub(crate) fn frame(&mut self) {}

    #[inline]
    pub(crate) fn message(&mut self) {}

    #[inline]
    pub(crate) fn written(&mut self) {}
}

/// Without the `metrics` feature: nothing, at no cost.
#[cfg(not(feature = "metrics"))]
#[derive(Debug, Default)]
pub(crate) struct HubHistograms;

#[cfg(not(feature = "metrics"))]
impl HubHistograms {
    #[inline]
    pub(crate) fn write(&self, _frames: usize) {}

    #[inline]
    pub(crate) fn ended(&self, _started: Started) {}
}

/// Without the `metrics` feature: nothing, at no cost.
#[cfg(not(feature = "metrics"))]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Started;

#[cfg(not(feature = "metrics"))]
impl Started {
    #[inline]
    pub(crate) fn now() -> Self {
        Started
    }
}
