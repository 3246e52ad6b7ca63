//! The WHATWG processing model through a real socket: every case is served as a
//! response body over loopback, read by the client, and compared with what a
//! conforming `EventSource` dispatches. Then every seed of the decoder's fuzz corpus
//! (`fuzz/corpus/decode`), written in the chunks its plan says, must give what
//! `sse_core::Decoder` gives on the whole input.
#![cfg(feature = "tokio")]

use std::time::Duration;

use sse_client::{DecodeLimits, Error, Event, EventSource, ReconnectConfig};
use sse_core::{Decoded, Decoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const TIMEOUT: Duration = Duration::from_secs(15);

/// What the client saw of one stream: the events as `(type, data, last id)`, the
/// reconnection delay in force at the end, and the error that ended it, if any.
#[derive(Debug, PartialEq)]
struct Outcome {
    events: Vec<(String, String, String)>,
    retry: Duration,
    error: Option<String>,
}

/// Serves `chunks` (each written and flushed alone) as one `text/event-stream`
/// body, then answers the reconnection with `204`, and collects what the client saw.
async fn through_socket(chunks: Vec<Vec<u8>>, limits: DecodeLimits) -> Outcome {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        for n in 0..2 {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).await.unwrap() == 1 {
                head.push(byte[0]);
            }
            if n == 1 {
                let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await;
                return;
            }
            let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n";
            let _ = stream.write_all(head).await;
            for chunk in &chunks {
                if stream.write_all(chunk).await.is_err() || stream.flush().await.is_err() {
                    return;
                }
                tokio::task::yield_now().await;
            }
            // Closing ends the body (no length, no chunking: read to EOF).
        }
    });
    let mut source = EventSource::builder(format!("http://{addr}/"))
        .reconnect(
            // The server's `retry:` unbounded: this compares it with the decoder's.
            ReconnectConfig::default()
                .initial_retry(Duration::from_millis(1))
                .min_retry(Duration::ZERO)
                .max_retry(Duration::MAX)
                .jitter(false),
        )
        .limits(limits)
        .build()
        .unwrap();
    let mut outcome = Outcome {
        events: Vec::new(),
        retry: Duration::ZERO,
        error: None,
    };
    loop {
        let item = tokio::time::timeout(TIMEOUT, source.next())
            .await
            .expect("an item in time");
        match item {
            Some(Ok(Event::Message(e))) => {
                outcome
                    .events
                    .push((e.event_type.into_owned(), e.data, e.last_event_id))
            }
            Some(Ok(Event::Reconnecting { .. })) => outcome.retry = source.retry(),
            Some(Ok(Event::Closed)) | None => break,
            Some(Ok(_)) => {}
            Some(Err(Error::Decode(error))) => {
                outcome.retry = source.retry();
                outcome.error = Some(error.to_string());
            }
            Some(Err(other)) => panic!("unexpected error {other}"),
        }
    }
    server.abort();
    outcome
}

fn events(list: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    list.iter()
        .map(|(t, d, i)| ((*t).to_owned(), (*d).to_owned(), (*i).to_owned()))
        .collect()
}

/// The WHATWG cases: input, and the events a conforming client dispatches.
#[allow(clippy::type_complexity)]
fn cases() -> Vec<(
    &'static str,
    &'static [u8],
    Vec<(&'static str, &'static str, &'static str)>,
)> {
    vec![
        ("plain", b"data: hello\n\n", vec![("message", "hello", "")]),
        (
            "one BOM stripped",
            b"\xEF\xBB\xBFdata: a\n\n",
            vec![("message", "a", "")],
        ),
        (
            "a second BOM is part of the field name",
            b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\ndata: y\n\n",
            vec![("message", "y", "")],
        ),
        (
            "CR, LF and CRLF end lines",
            b"data: a\rdata: b\r\ndata: c\n\r\n",
            vec![("message", "a\nb\nc", "")],
        ),
        (
            "LF then CR is two line ends",
            b"data: a\n\rdata: b\n\n",
            vec![("message", "a", ""), ("message", "b", "")],
        ),
        (
            "comments",
            b": hi\ndata: x\n:\n\n",
            vec![("message", "x", "")],
        ),
        (
            "a field without colon",
            b"data\n\ndata\ndata\n\n",
            vec![("message", "", ""), ("message", "\n", "")],
        ),
        (
            "one leading space stripped",
            b"data:  two\n\ndata:none\n\n",
            vec![("message", " two", ""), ("message", "none", "")],
        ),
        (
            "colons in the value",
            b"data: a:b: c\n\n",
            vec![("message", "a:b: c", "")],
        ),
        (
            "unknown fields ignored, names case-sensitive",
            b"foo: bar\nDATA: up\ndata: ok\n\n",
            vec![("message", "ok", "")],
        ),
        (
            "event sets the type of the next event only",
            b"event: add\ndata: 1\n\ndata: 2\n\nevent:\ndata: 3\n\n",
            vec![("add", "1", ""), ("message", "2", ""), ("message", "3", "")],
        ),
        (
            "an id with NUL is ignored",
            b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n",
            vec![("message", "a", "1"), ("message", "b", "1")],
        ),
        (
            "an empty id resets",
            b"id: 1\ndata: a\n\nid\ndata: b\n\n",
            vec![("message", "a", "1"), ("message", "b", "")],
        ),
        (
            "the id persists, set even without data",
            b"id: 5\n\ndata: x\n\nid: 6\ndata: y\n\ndata: z\n\n",
            vec![
                ("message", "x", "5"),
                ("message", "y", "6"),
                ("message", "z", "6"),
            ],
        ),
        (
            "an id after the data belongs to the event",
            b"data: a\nid: 9\n\n",
            vec![("message", "a", "9")],
        ),
        (
            "no data dispatches nothing",
            b"event: e\n\nid: 1\n\n",
            vec![],
        ),
        (
            "an unterminated final event is discarded",
            b"data: done\n\ndata: never",
            vec![("message", "done", "")],
        ),
        (
            "invalid UTF-8 becomes U+FFFD",
            b"data: \xFF\xFE ok\n\n",
            vec![("message", "\u{FFFD}\u{FFFD} ok", "")],
        ),
        (
            "multi-line data keeps empty lines",
            b"data: a\ndata:\ndata: b\n\n",
            vec![("message", "a\n\nb", "")],
        ),
    ]
}

#[tokio::test]
async fn every_whatwg_case_whole_and_byte_by_byte() {
    for (name, input, expected) in cases() {
        for bytewise in [false, true] {
            let chunks = if bytewise {
                input.iter().map(|b| vec![*b]).collect()
            } else {
                vec![input.to_vec()]
            };
            let outcome = through_socket(chunks, DecodeLimits::default()).await;
            assert_eq!(
                outcome.events,
                events(&expected),
                "{name} (bytewise: {bytewise})"
            );
            assert_eq!(outcome.error, None, "{name}");
        }
    }
}

#[tokio::test]
async fn retry_is_taken_only_when_all_digits() {
    let outcome = through_socket(
        vec![b"retry: 1500\nretry: 12a\nretry:\nretry: -1\ndata: x\n\n".to_vec()],
        DecodeLimits::default(),
    )
    .await;
    assert_eq!(outcome.retry, Duration::from_millis(1500));
    assert_eq!(outcome.events, events(&[("message", "x", "")]));
}

/// The fuzz targets' limits (`fuzz/fuzz_targets/decode.rs`).
fn fuzz_limits() -> DecodeLimits {
    DecodeLimits::default()
        .max_line_len(4096)
        .max_event_len(16 * 1024)
}

/// A corpus seed: `n`, `n` chunk lengths, then the payload (see `sse_fuzz::Plan`).
fn chunks_of(seed: &[u8]) -> (Vec<Vec<u8>>, &[u8]) {
    let count = usize::from(seed.first().copied().unwrap_or(0) % 32);
    let count = count.min(seed.len().saturating_sub(1));
    let lens: Vec<usize> = seed[1..=count].iter().map(|&l| usize::from(l)).collect();
    let payload = &seed[1 + count..];
    let mut chunks = Vec::new();
    let mut rest = payload;
    let mut i = 0;
    while !rest.is_empty() {
        let len = if lens.is_empty() {
            1
        } else {
            lens[i % lens.len()]
        };
        i += 1;
        if len == 0 {
            if i > 10_000 {
                chunks.push(rest.to_vec());
                break;
            }
            continue; // An empty write is no write on a socket.
        }
        let (chunk, tail) = rest.split_at(len.min(rest.len()));
        chunks.push(chunk.to_vec());
        rest = tail;
    }
    (chunks, payload)
}

/// What the decoder gives on the whole payload: the reference.
fn reference(payload: &[u8]) -> Outcome {
    let mut decoder = Decoder::with_limits(fuzz_limits());
    let mut outcome = Outcome {
        events: Vec::new(),
        retry: Duration::from_millis(1),
        error: None,
    };
    let result = decoder.push(payload);
    for item in &mut decoder {
        match item {
            Decoded::Event(e) => {
                outcome
                    .events
                    .push((e.event_type.into_owned(), e.data, e.last_event_id));
            }
            Decoded::Retry(retry) => outcome.retry = retry,
            _ => {}
        }
    }
    outcome.error = result.err().map(|e| e.to_string());
    outcome
}

#[tokio::test]
async fn every_fuzz_corpus_seed_gives_what_the_decoder_gives() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/decode");
    let mut seeds: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|entry| entry.unwrap().path())
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 10, "the corpus has its seeds");
    for path in seeds {
        let seed = std::fs::read(&path).unwrap();
        let (chunks, payload) = chunks_of(&seed);
        let expected = reference(payload);
        let outcome = through_socket(chunks, fuzz_limits()).await;
        assert_eq!(outcome, expected, "{}", path.display());
    }
}
