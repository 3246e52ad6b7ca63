use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::io::Cursor;
use proptest::prelude::*;

use super::*;

fn read(input: &[u8], limits: &Limits) -> Result<http::Request<Bytes>, RequestError> {
    smol::block_on(read_request(&mut Cursor::new(input.to_vec()), limits))
}

fn status(input: &[u8]) -> Option<StatusCode> {
    read(input, &Limits::default())
        .err()
        .and_then(|e| e.status())
}

/// A reader that hands out its input a few bytes at a time.
struct Trickle<'a>(&'a [u8], usize);

impl AsyncRead for Trickle<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        let n = self.1.min(buf.len()).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Poll::Ready(Ok(n))
    }
}

/// A peer that connects and sends nothing.
struct Silent;

impl AsyncRead for Silent {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Pending
    }
}

#[test]
fn reads_a_request_with_its_body() {
    let request = read(
        b"POST /publish?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(request.method(), http::Method::POST);
    assert_eq!(request.uri().query(), Some("x=1"));
    assert_eq!(request.headers()["host"], "a");
    assert_eq!(request.body(), "hello");
}

#[test]
fn reads_the_same_request_however_it_trickles_in() {
    let input = b"GET /events HTTP/1.1\r\nLast-Event-ID: 7\r\nsse-clientid: me\r\n\r\n";
    for step in 1..8 {
        let request =
            smol::block_on(read_request(&mut Trickle(input, step), &Limits::default())).unwrap();
        assert_eq!(request.headers()["last-event-id"], "7");
        assert_eq!(request.version(), Version::HTTP_11);
    }
}

#[test]
fn malformed_requests_are_400() {
    for input in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: \x01\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
        b"GET / HTTP/1.1\r\nContent-Length: +1\r\n\r\nx",
    ] {
        assert_eq!(
            status(input),
            Some(StatusCode::BAD_REQUEST),
            "{}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn oversized_heads_and_bodies_are_refused() {
    let long = [b"GET /", &[b'a'; 9000][..], b" HTTP/1.1\r\n\r\n"].concat();
    assert_eq!(
        status(&long),
        Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
    );
    let many = [b"GET / HTTP/1.1\r\n", &b"A: b\r\n".repeat(33)[..], b"\r\n"].concat();
    assert_eq!(
        status(&many),
        Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
    );
    let big_body = b"POST / HTTP/1.1\r\nContent-Length: 65537\r\n\r\n";
    assert_eq!(status(big_body), Some(StatusCode::PAYLOAD_TOO_LARGE));
    let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(status(chunked), Some(StatusCode::LENGTH_REQUIRED));
}

#[test]
fn a_silent_peer_times_out_with_408() {
    let limits = Limits::default().head_timeout(Duration::from_millis(50));
    let error = smol::block_on(read_request(&mut Silent, &limits)).unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::REQUEST_TIMEOUT));
}

#[test]
fn a_peer_that_closes_early_gets_no_answer() {
    for input in [
        &b""[..],
        b"GET / HTTP/1.1\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nshort",
    ] {
        let error = read(input, &Limits::default()).unwrap_err();
        assert!(matches!(error, RequestError::Closed), "{error}");
        assert_eq!(error.status(), None);
    }
}

proptest! {
    #[test]
    fn parsing_never_panics_and_respects_the_limits(input in prop::collection::vec(any::<u8>(), 0..600)) {
        let limits = Limits::default().max_head(256).max_headers(4);
        if let Ok(Some((request, len))) = parse_head(&input, &limits) {
            prop_assert!(len <= 256 && len <= input.len());
            prop_assert!(request.headers().len() <= 4);
        }
    }

    #[test]
    fn trickled_and_whole_reads_agree(
        path in "/[a-z]{0,10}",
        headers in prop::collection::vec(("[a-z]{1,8}", "[ -~]{0,12}"), 0..6),
        step in 1usize..16,
    ) {
        let mut input = format!("GET {path} HTTP/1.1\r\n");
        for (name, value) in &headers {
            input.push_str(&format!("{name}: {value}\r\n"));
        }
        input.push_str("\r\n");
        let whole = read(input.as_bytes(), &Limits::default()).map(|r| format!("{r:?}"));
        let trickled = smol::block_on(read_request(&mut Trickle(input.as_bytes(), step), &Limits::default()))
            .map(|r| format!("{r:?}"));
        prop_assert_eq!(whole.ok(), trickled.ok());
    }
}
