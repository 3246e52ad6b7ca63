//! How a registry of resumable streams behaves: how long ended streams stay,
//! and the bounds on what they hold.

use std::time::Duration;

use crate::HubConfig;

/// The settings of a [`Resumable`](super::Resumable) registry.
///
/// Built from [`Default`] with chained setters:
///
/// ```
/// use std::time::Duration;
/// use sse_core::ResumeConfig;
///
/// let config = ResumeConfig::default()
///     .linger(Duration::from_secs(60))
///     .max_bytes(1 << 20)
///     .abandon_after(Some(Duration::from_secs(600)));
/// assert_eq!(config.max_streams, 10_000);
/// ```
///
/// # What a message costs
///
/// Each message held counts its encoded length plus
/// [`MESSAGE_OVERHEAD`](Self::MESSAGE_OVERHEAD) bytes (its log entry and slot,
/// as the hub counts [`HubConfig::FRAME_OVERHEAD`]) toward
/// [`max_bytes`](Self::max_bytes) and [`budget`](Self::budget), and each stream
/// [`STREAM_OVERHEAD`](Self::STREAM_OVERHEAD) toward the budget, so that many
/// empty streams are bounded too.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ResumeConfig {
    /// How long a stream that ended is kept, so a late resumer gets the rest and
    /// the end; then it is dropped (its key answers `None`). Default 5 minutes.
    pub linger: Duration,
    /// The most bytes one stream holds: past it, its oldest messages go, and a
    /// viewer or resumer that had not read them gets the
    /// [`RESYNC_EVENT`](super::RESYNC_EVENT) first (never a silent gap). The
    /// newest message is always kept. Default 4 MiB.
    pub max_bytes: usize,
    /// The most live streams (started, not ended); more are refused with
    /// [`StartError::AtCapacity`](super::StartError::AtCapacity). Default 10 000.
    pub max_streams: usize,
    /// The most bytes all streams together hold. Past it, the streams that ended
    /// go first, those that ended first before the others; then the oldest
    /// messages of the largest live streams. Default 64 MiB (the hub's
    /// [`HubConfig::history_budget`]).
    pub budget: usize,
    /// Cancel a live stream no viewer has been attached to for this long (its end
    /// reason is [`EndReason::Abandoned`](super::EndReason::Abandoned)), counted
    /// from its start or from its last viewer leaving. Default `None`: a producer
    /// runs until it finishes or is cancelled.
    pub abandon_after: Option<Duration>,
    /// The keep-alive interval of the [`ResponseStream`](crate::ResponseStream)s
    /// [`attach`](super::Resumable::attach) returns (the adapter supplies the
    /// timer). Default 15 s.
    pub keep_alive: Option<Duration>,
    /// A `retry:` hint those responses open with. Default `None`.
    pub retry: Option<Duration>,
}

impl ResumeConfig {
    /// What each message held counts besides its own bytes.
    pub const MESSAGE_OVERHEAD: usize = HubConfig::FRAME_OVERHEAD;

    /// What each stream held counts toward [`budget`](Self::budget) besides its
    /// messages: its entry, its state, its first chunk, and the room left in its
    /// encoding buffer (frames are split off a buffer grown 1 KiB at a time).
    pub const STREAM_OVERHEAD: usize = 1024;
}

impl Default for ResumeConfig {
    fn default() -> Self {
        ResumeConfig {
            linger: Duration::from_secs(5 * 60),
            max_bytes: 4 << 20,
            max_streams: 10_000,
            budget: 64 << 20,
            abandon_after: None,
            keep_alive: Some(Duration::from_secs(15)),
            retry: None,
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $type:ty,)*) => {
        impl ResumeConfig {
            $(
                $(#[$doc])*
                #[must_use]
                pub fn $name(mut self, $name: $type) -> Self {
                    self.$name = $name;
                    self
                }
            )*
        }
    };
}

setters! {
    /// Sets [`linger`](Self::linger).
    linger: Duration,
    /// Sets [`max_bytes`](Self::max_bytes).
    max_bytes: usize,
    /// Sets [`max_streams`](Self::max_streams).
    max_streams: usize,
    /// Sets [`budget`](Self::budget).
    budget: usize,
    /// Sets [`abandon_after`](Self::abandon_after).
    abandon_after: Option<Duration>,
    /// Sets [`keep_alive`](Self::keep_alive).
    keep_alive: Option<Duration>,
    /// Sets [`retry`](Self::retry).
    retry: Option<Duration>,
}
