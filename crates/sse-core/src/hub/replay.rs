//! Replay from outside the hub: the seam for a backplane whose log is longer, or
//! older, than the hub's own history.
//!
//! Layer 0 of the hub: words.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use super::hooks::ClientInfo;
use crate::Frame;

/// Where a hub looks for the events a reconnecting client missed when its own
/// history does not hold its `Last-Event-ID`, or no longer holds everything after
/// it in each log the client reads: a backplane's log (see `sse-redis`).
///
/// The hub stays sans-IO: it asks for a future when the client connects, and the
/// client's stream polls it before anything else, so the fetch runs on the
/// adapter's runtime. Meanwhile the client is registered (it can be disconnected,
/// and shutdown ends it), and everything relayed after the replay's end reaches it
/// live, in order.
pub trait ReplaySource: Send + Sync + 'static {
    /// Fetches the frames after `request.last_event_id` that `request.client` is
    /// subscribed to (broadcasts and its topics), oldest first.
    ///
    /// The future must resolve to [`Replayed`] only once the hub has relayed (with
    /// [`Hub::relay`](super::Hub::relay)) or marked
    /// ([`Hub::mark_relayed`](super::Hub::mark_relayed)) the event named by
    /// [`Replayed::through`]: the stream goes on from there with the hub's own logs,
    /// so nothing is missed or sent twice. `None` means the id is unknown or too old
    /// (or the log cannot be read): the client gets a replay miss, as with the hub's
    /// own history.
    fn replay(&self, request: ReplayRequest) -> ReplayFuture;
}

/// The future a [`ReplaySource`] returns.
pub type ReplayFuture = Pin<Box<dyn Future<Output = Option<Replayed>> + Send>>;

/// What a reconnecting client asks a [`ReplaySource`] for.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ReplayRequest {
    /// The id it last received.
    pub last_event_id: String,
    /// The client, with its topics.
    pub client: ClientInfo,
}

/// What a [`ReplaySource`] found.
#[non_exhaustive]
pub struct Replayed {
    /// The missed frames for this client, oldest first.
    pub frames: Vec<Frame>,
    /// The id of the newest event looked at (sent or not, as other clients' topics
    /// are skipped), or the `Last-Event-ID` when there was nothing newer: the stream
    /// resumes after it, and tells the client so with a checkpoint of this id after
    /// the frames.
    pub through: String,
}

impl Replayed {
    /// The frames, then the hub's logs after `through`.
    #[must_use]
    pub fn new(frames: Vec<Frame>, through: String) -> Self {
        Replayed { frames, through }
    }
}

impl fmt::Debug for Replayed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replayed")
            .field("frames", &self.frames.len())
            .field("through", &self.through)
            .finish()
    }
}
