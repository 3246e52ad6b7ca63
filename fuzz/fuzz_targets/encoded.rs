//! Bytes read back from a backplane's log (`EncodedEvent::from_bytes`): whatever is
//! accepted, framed with an id, must decode as one frame carrying exactly that id,
//! the accepted fields and nothing else; whatever is refused must really break a
//! rule.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sse_core::{Decoded, Decoder, EncodedEvent};

const ID: &str = "1700000000000-7";

fuzz_target!(|data: &[u8]| {
    let Ok(event) = EncodedEvent::from_bytes(data.to_vec()) else {
        let text = std::str::from_utf8(data);
        let breaks_a_rule = text.map_or(true, |text| {
            text.contains('\r')
                || !(text.is_empty() || text.ends_with('\n'))
                || text
                    .split_terminator('\n')
                    .any(|line| line.is_empty() || line == "id" || line.starts_with("id:"))
        });
        assert!(breaks_a_rule, "refused valid bytes: {data:?}");
        return;
    };
    let frame = event.to_frame(ID).expect("a valid id");
    assert!(frame.as_bytes().ends_with(b"\n\n"));
    assert_eq!(
        frame.as_bytes().windows(2).filter(|w| w == b"\n\n").count(),
        1
    );

    let mut decoder = Decoder::new();
    decoder
        .push(frame.as_bytes())
        .expect("within the default limits");
    for item in decoder.by_ref() {
        if let Decoded::Event(message) = item {
            assert_eq!(message.last_event_id, ID);
        }
    }
    assert_eq!(decoder.last_event_id(), ID);
});
