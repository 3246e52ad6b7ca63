//! Where a client stands: the id its opening checkpoint names, so that a
//! reconnect with it as `Last-Event-ID` resumes exactly there (see the hub's
//! positions, in [`Hub`](super::Hub#positions)).
//!
//! Layer 1 of the hub: logs.

use std::sync::Arc;

use bytes::Bytes;

use crate::Frame;

/// The id that names where a client placed now stands, for its opening
/// checkpoint: a reconnect with it as `Last-Event-ID` resumes exactly there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Position {
    /// The newest sequence handed out: this hub's own ids.
    Sequence(u64),
    /// The newest id of the external log a hub relays, which every process that
    /// reads that log (or its replay source) resolves too.
    Relayed(Arc<str>),
}

impl Position {
    /// The id-only frame that moves a client's last event id here.
    pub(crate) fn checkpoint(&self) -> Option<Bytes> {
        let frame = match self {
            Position::Sequence(sequence) => Frame::checkpoint(sequence.to_string()),
            Position::Relayed(id) => Frame::checkpoint(&**id),
        };
        frame.ok().map(Frame::into_bytes)
    }
}

/// Where a hub that relays stands in the external log.
#[derive(Debug)]
pub(crate) enum Relayed {
    /// The id of the newest event relayed, or of the relay mark.
    At(Arc<str>),
    /// The external log restarted and nothing of the new one was relayed yet.
    Restarted,
}
