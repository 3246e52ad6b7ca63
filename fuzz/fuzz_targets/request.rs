//! sse-smol's HTTP/1.1 request-head parser on any bytes.
//!
//! Checks that it never panics, that what it accepts stays within its limits, and
//! that reading more never changes the answer: a head found in a prefix is found, the
//! same, in the whole input, and no prefix shorter than the head already holds one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sse_smol::{Limits, parse_head};

fuzz_target!(|input: &[u8]| {
    let limits = Limits::default().max_head(1024).max_headers(8);
    let Ok(Some((request, len))) = parse_head(input, &limits) else {
        return;
    };
    assert!(len <= input.len() && len <= 1024);
    assert!(request.headers().len() <= 8);
    let (again, again_len) = parse_head(&input[..len], &limits)
        .expect("the head alone parses")
        .expect("the head alone is complete");
    assert_eq!(again_len, len);
    assert_eq!(format!("{request:?}"), format!("{again:?}"));
    for cut in [0, len / 3, len / 2, len.saturating_sub(1)] {
        if cut < len {
            assert!(
                !matches!(parse_head(&input[..cut], &limits), Ok(Some(_))),
                "a head in {cut} of {len} bytes"
            );
        }
    }
});
