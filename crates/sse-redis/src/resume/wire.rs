//! What viewers are sent besides the producer's events: the end event and the
//! resync event, as `sse-core`'s hub sends them.

use std::fmt;

use sse_core::{Event, Message};

/// Why a resumable stream ended: the `data` of its final `event: end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EndReason {
    /// The producer finished (or was dropped).
    Done,
    /// The stream was cancelled, on this process or another.
    Cancelled,
    /// No viewer followed it for the abandon delay.
    Abandoned,
}

impl EndReason {
    /// The word sent as the end event's data: `done`, `cancelled`, `abandoned`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Done => "done",
            EndReason::Cancelled => "cancelled",
            EndReason::Abandoned => "abandoned",
        }
    }

    /// The reason written as `word`, if it is one.
    pub(crate) fn parse(word: &str) -> Option<EndReason> {
        [EndReason::Done, EndReason::Cancelled, EndReason::Abandoned]
            .into_iter()
            .find(|reason| reason.as_str() == word)
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The final event, `event: end` with the reason as data, and the end entry's
/// id: a viewer reconnecting with it learns the stream is over (204), instead of
/// being sent the end again.
pub(crate) fn end_event(reason: &str, id: &str) -> Message {
    let reason = EndReason::parse(reason).unwrap_or(EndReason::Done);
    Event::new(reason.as_str())
        .with_event("end")
        .and_then(|event| event.with_id(id.to_owned()))
        .expect("a fixed event type and a stream id are valid")
        .into()
}

/// `event: resync`, without an id: the viewer missed events that are gone (or
/// named a position this stream never had); what follows is everything the
/// stream still holds.
pub(crate) fn resync_event() -> Message {
    Event::new("")
        .with_event("resync")
        .expect("a fixed event type is valid")
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_and_resync_events_on_the_wire() {
        let end = end_event("cancelled", "17-3").to_frame();
        assert_eq!(end.as_bytes(), "event: end\nid: 17-3\ndata: cancelled\n\n");
        assert_eq!(
            resync_event().to_frame().as_bytes(),
            "event: resync\ndata: \n\n"
        );
        for reason in [EndReason::Done, EndReason::Cancelled, EndReason::Abandoned] {
            assert_eq!(EndReason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(EndReason::parse("other"), None);
    }
}
