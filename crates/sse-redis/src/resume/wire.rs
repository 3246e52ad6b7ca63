//! What viewers are sent besides the producer's events: the end event and the
//! resync event, as `sse-core`'s resumable streams send them.

use sse_core::{END_EVENT, EndReason, Event, Message, RESYNC_EVENT};

/// The final event, `event: end` with the reason as data, and the end entry's
/// id: a viewer reconnecting with it learns the stream is over (204), instead of
/// being sent the end again.
pub(crate) fn end_event(reason: EndReason, id: &str) -> Message {
    Event::new(reason.as_str())
        .with_event(END_EVENT)
        .and_then(|event| event.with_id(id.to_owned()))
        .expect("a fixed event type and a stream id are valid")
        .into()
}

/// `event: resync`, without an id: the viewer missed events that are gone (or
/// named a position this stream never had); what follows is everything the
/// stream still holds.
pub(crate) fn resync_event() -> Message {
    Event::new("")
        .with_event(RESYNC_EVENT)
        .expect("a fixed event type is valid")
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_and_resync_events_on_the_wire() {
        let end = end_event(EndReason::Cancelled, "17-3").to_frame();
        assert_eq!(end.as_bytes(), "event: end\nid: 17-3\ndata: cancelled\n\n");
        assert_eq!(
            resync_event().to_frame().as_bytes(),
            "event: resync\ndata: \n\n"
        );
    }
}
