//! Metrics as figures an exporter can walk: the snapshot types are declared once,
//! with [`figures!`](crate::figures), and everything else (the demos' `/stats`, the
//! `metrics` facade) reads them through [`Figure`]s.

/// One figure of a metrics snapshot: its name, what it measures (the field's doc),
/// whether it only grows, and its value now.
///
/// ```
/// let metrics = sse_core::Hub::default().metrics();
/// let active = metrics.figures().find(|f| f.name == "active").unwrap();
/// assert_eq!((active.kind, active.value), (sse_core::FigureKind::Gauge, 0));
/// assert_eq!(active.help, "Clients connected now.");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Figure {
    /// The field's name (`snake_case`).
    pub name: &'static str,
    /// What it measures.
    pub help: &'static str,
    /// A counter only grows; a gauge goes up and down.
    pub kind: FigureKind,
    /// Its value (a flag is 0 or 1).
    pub value: u64,
}

impl Figure {
    #[doc(hidden)]
    pub const fn new(name: &'static str, help: &'static str, kind: FigureKind, value: u64) -> Self {
        Figure {
            name,
            help,
            kind,
            value,
        }
    }
}

/// Whether a [`Figure`] only grows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FigureKind {
    /// Counts since the start: only grows.
    Counter,
    /// A level now: goes up and down.
    Gauge,
}

/// Declares a metrics snapshot struct and its `figures()` from one list of fields,
/// each `/// doc` `name: type = Counter | Gauge`: the one place a metric is spelled.
/// Used by `sse-core`'s [`Metrics`](crate::Metrics) and `sse-redis`'s
/// `BackplaneMetrics`.
#[doc(hidden)]
#[macro_export]
macro_rules! figures {
    (
        $(#[$attribute:meta])*
        pub struct $snapshot:ident {
            $($(#[doc = $doc:literal])* pub $name:ident: $type:ty = $kind:ident,)*
        }
    ) => {
        $(#[$attribute])*
        pub struct $snapshot {
            $($(#[doc = $doc])* pub $name: $type,)*
        }

        impl $snapshot {
            /// Every figure, in the order declared, for exporters (see
            /// [`Figure`]($crate::Figure)).
            pub fn figures(&self) -> impl Iterator<Item = $crate::Figure> + use<> {
                [$($crate::Figure::new(
                    stringify!($name),
                    concat!($($doc),*).trim_ascii(),
                    $crate::FigureKind::$kind,
                    self.$name as u64,
                ),)*]
                .into_iter()
            }
        }
    };
}

impl Figure {
    /// Its name as an exporter reports it, after Prometheus's conventions:
    /// `{prefix}_{name}`, and a counter's ends in `_total`.
    ///
    /// ```
    /// let metrics = sse_core::Hub::default().metrics();
    /// let names: Vec<String> = metrics.figures().map(|f| f.metric_name("sse")).collect();
    /// assert!(names.contains(&"sse_active".to_owned()));
    /// assert!(names.contains(&"sse_connects_total".to_owned()));
    /// ```
    #[must_use]
    pub fn metric_name(&self, prefix: &str) -> String {
        match self.kind {
            FigureKind::Counter => format!("{prefix}_{}_total", self.name),
            FigureKind::Gauge => format!("{prefix}_{}", self.name),
        }
    }
}

/// Reports `figures` through the [`metrics`] crate's facade, each named by
/// [`Figure::metric_name`] (a counter's absolute value, or a gauge), described
/// once with its help; any exporter installed (Prometheus, StatsD, ...) then
/// serves them. Call it whenever the exporter is about to read (before rendering
/// `/metrics`, or on a timer). The histograms streams record as they go are
/// [`HISTOGRAMS`](crate::HISTOGRAMS). Feature `metrics`.
///
/// ```
/// let hub = sse_core::Hub::default();
/// sse_core::record_figures("sse", hub.metrics().figures());
/// ```
#[cfg(feature = "metrics")]
pub fn record_figures(prefix: &str, figures: impl IntoIterator<Item = Figure>) {
    for figure in figures {
        let name = figure.metric_name(prefix);
        match figure.kind {
            FigureKind::Counter => {
                metrics::describe_counter!(name.clone(), figure.help);
                metrics::counter!(name).absolute(figure.value);
            }
            FigureKind::Gauge => {
                metrics::describe_gauge!(name.clone(), figure.help);
                metrics::gauge!(name).set(figure.value as f64);
            }
        }
    }
}
