use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use futures_lite::{StreamExt, future, stream};
use proptest::prelude::*;

use super::*;
use crate::{Comment, Decoded, Decoder, Event};

/// Polls once, with a waker that does nothing.
fn poll(response: &mut ResponseStream) -> Poll<Option<Bytes>> {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    std::pin::Pin::new(response).poll_next(&mut cx)
}

fn text(chunk: Poll<Option<Bytes>>) -> String {
    match chunk {
        Poll::Ready(Some(bytes)) => String::from_utf8(bytes.to_vec()).expect("utf-8"),
        other => panic!("expected a chunk, got {other:?}"),
    }
}

#[test]
fn takes_every_ready_message_in_one_chunk_then_is_pending() {
    let (sender, receiver) = channel(8);
    let mut response = ResponseStream::from(receiver);
    assert_eq!(poll(&mut response), Poll::Pending, "nothing ready yet");
    for token in ["a", "b", "c"] {
        sender.try_send(token).expect("room");
    }
    assert_eq!(
        text(poll(&mut response)),
        "data: a\n\ndata: b\n\ndata: c\n\n"
    );
    assert_eq!(
        poll(&mut response),
        Poll::Pending,
        "a ready token never waits"
    );
    sender.try_send("d").expect("room");
    drop(sender);
    assert_eq!(text(poll(&mut response)), "data: d\n\n");
    assert_eq!(poll(&mut response), Poll::Ready(None));
}

#[test]
fn opens_with_the_retry_hint_then_the_comment() {
    let mut response = ResponseStream::new(stream::pending::<Message>())
        .retry(Duration::from_secs(3))
        .open(Comment::new("open"));
    assert_eq!(text(poll(&mut response)), "retry: 3000\n\n: open\n\n");
    assert_eq!(poll(&mut response), Poll::Pending);
}

#[test]
fn a_chunk_stops_at_max_batch() {
    // 12 bytes each: two fit in 24, not in 20.
    let words = stream::iter(["aaaa", "bbbb", "cccc"]);
    let mut response = ResponseStream::new(words).max_batch(24);
    assert_eq!(text(poll(&mut response)), "data: aaaa\n\ndata: bbbb\n\n");
    assert_eq!(text(poll(&mut response)), "data: cccc\n\n");
    assert_eq!(poll(&mut response), Poll::Ready(None));

    let words = stream::iter(["aaaa", "bbbb", "cccc"]);
    let mut response = ResponseStream::new(words).max_batch(20);
    for word in ["aaaa", "bbbb", "cccc"] {
        assert_eq!(text(poll(&mut response)), format!("data: {word}\n\n"));
    }
    assert_eq!(poll(&mut response), Poll::Ready(None));
}

#[test]
fn a_message_over_max_batch_is_a_chunk_of_its_own() {
    let big = "x".repeat(100_000);
    let expected_big = format!("data: {big}\n\n");
    let messages = || vec!["small".to_owned(), big.clone(), "after".to_owned()];

    // From any stream.
    let mut response = ResponseStream::new(stream::iter(messages())).max_batch(64 * 1024);
    assert_eq!(text(poll(&mut response)), "data: small\n\n");
    assert_eq!(text(poll(&mut response)), expected_big);
    assert_eq!(text(poll(&mut response)), "data: after\n\n");
    assert_eq!(poll(&mut response), Poll::Ready(None));

    // From a channel, all three ready at once.
    let (sender, receiver) = channel(8);
    for message in messages() {
        sender.try_send(message).expect("room");
    }
    drop(sender);
    let mut response = ResponseStream::new(receiver).max_batch(64 * 1024);
    assert_eq!(text(poll(&mut response)), "data: small\n\n");
    assert_eq!(text(poll(&mut response)), expected_big);
    assert_eq!(text(poll(&mut response)), "data: after\n\n");
    assert_eq!(poll(&mut response), Poll::Ready(None));
}

#[test]
fn any_list_of_messages_is_a_response() {
    let steps = vec![Event::new("one"), Event::new("two")];
    let mut response: ResponseStream = steps.into_iter().collect();
    assert_eq!(text(poll(&mut response)), "data: one\n\ndata: two\n\n");
    assert_eq!(poll(&mut response), Poll::Ready(None));

    let borrowed = String::from("borrowed");
    let mut response =
        ResponseStream::from_iter([Event::new(borrowed.as_str()), Event::new("static")]);
    drop(borrowed);
    assert_eq!(
        text(poll(&mut response)),
        "data: borrowed\n\ndata: static\n\n"
    );
}

#[test]
fn an_error_ends_the_response_after_what_came_before() {
    let steps = stream::iter([Ok("one"), Err("broken"), Ok("never")]);
    let mut response = ResponseStream::try_new(steps);
    assert_eq!(text(poll(&mut response)), "data: one\n\n");
    assert_eq!(poll(&mut response), Poll::Ready(None));
    assert_eq!(poll(&mut response), Poll::Ready(None), "stays ended");

    let seen = Arc::new(Mutex::new(None));
    let steps = stream::iter([
        Ok::<_, std::io::Error>("one"),
        Err(std::io::ErrorKind::Other.into()),
    ]);
    let mut response = ResponseStream::try_new(steps).on_error({
        let seen = seen.clone();
        move |error| {
            *seen.lock().unwrap() = Some(error.to_string());
            Some(Comment::new("failed").into())
        }
    });
    assert_eq!(text(poll(&mut response)), "data: one\n\n: failed\n\n");
    assert_eq!(seen.lock().unwrap().as_deref(), Some("other error"));
    assert_eq!(poll(&mut response), Poll::Ready(None));
}

#[test]
fn sends_a_keep_alive_once_idle_for_the_interval() {
    // A timer that blocks for the duration, so the poll that arms it finds the
    // interval passed.
    let mut response = ResponseStream::new(stream::pending::<Message>())
        .keep_alive(Duration::from_millis(5))
        .timer(|duration| {
            std::thread::sleep(duration);
            future::ready(())
        });
    assert_eq!(text(poll(&mut response)), ": keep-alive\n\n");
    assert_eq!(text(poll(&mut response)), ": keep-alive\n\n");
}

#[test]
fn the_timer_waits_what_is_left_of_the_interval_after_a_message() {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let (sender, receiver) = channel(1);
    let mut response = ResponseStream::from(receiver)
        .keep_alive(Duration::from_secs(3600))
        .timer({
            let asked = asked.clone();
            move |duration| {
                asked.lock().unwrap().push(duration);
                future::pending::<()>()
            }
        });
    sender.try_send("x").expect("room");
    assert_eq!(text(poll(&mut response)), "data: x\n\n");
    assert_eq!(poll(&mut response), Poll::Pending);
    assert_eq!(poll(&mut response), Poll::Pending);
    let asked = asked.lock().unwrap();
    assert_eq!(asked.len(), 1, "armed once, not per poll");
    assert!(asked[0] <= Duration::from_secs(3600) && asked[0] > Duration::from_secs(3500));
}

#[test]
fn without_a_timer_or_an_interval_no_keep_alive_is_sent() {
    let mut response = ResponseStream::new(stream::pending::<Message>()).keep_alive(None);
    assert_eq!(poll(&mut response), Poll::Pending);
    let mut response = ResponseStream::new(stream::pending::<Message>());
    assert_eq!(poll(&mut response), Poll::Pending);
}

/// A stream that reports when it is dropped.
struct Watched {
    dropped: Arc<Mutex<bool>>,
}

impl Stream for Watched {
    type Item = Message;
    fn poll_next(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Message>> {
        Poll::Pending
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        *self.dropped.lock().unwrap() = true;
    }
}

#[test]
fn dropping_the_response_drops_the_stream_and_closes_the_channel() {
    let dropped = Arc::new(Mutex::new(false));
    let mut response = ResponseStream::new(Watched {
        dropped: dropped.clone(),
    });
    assert_eq!(poll(&mut response), Poll::Pending);
    drop(response);
    assert!(*dropped.lock().unwrap());

    let (sender, receiver) = channel(1);
    let response = receiver.into_response_stream();
    assert!(!sender.is_closed());
    drop(response);
    assert!(sender.is_closed());
}

#[test]
fn an_ended_stream_is_dropped_at_once() {
    let dropped = Arc::new(Mutex::new(false));
    let watched = Watched {
        dropped: dropped.clone(),
    };
    let ending = stream::once(Message::from("last")).chain(stream::poll_fn(move |_| {
        let _keep = &watched;
        Poll::Ready(None)
    }));
    let mut response = ResponseStream::new(ending);
    assert_eq!(text(poll(&mut response)), "data: last\n\n");
    assert!(*dropped.lock().unwrap(), "dropped while the response lives");
}

fn event_strategy() -> impl Strategy<Value = Event<'static>> {
    let text = "[a-z \\r\\n:é]{0,12}";
    (
        text,
        proptest::option::of("[a-z é:]{0,6}"),
        proptest::option::of("[a-z0-9 ]{0,6}"),
    )
        .prop_map(|(data, kind, id)| {
            let mut event = Event::new(data);
            if let Some(kind) = kind {
                event = event.with_event(kind).expect("no line break");
            }
            if let Some(id) = id {
                event = event.with_id(id).expect("no line break");
            }
            event
        })
}

proptest! {
    #[test]
    fn encodes_exactly_as_the_encoder_and_decodes_back(
        events in prop::collection::vec(event_strategy(), 0..20),
        max_batch in 1usize..200,
    ) {
        let expected: Vec<u8> = events.iter().flat_map(|e| e.to_frame().into_bytes()).collect();
        let mut response = ResponseStream::new(stream::iter(events.clone())).max_batch(max_batch);
        let largest = events.iter().map(|e| e.to_frame().len()).max().unwrap_or(0);
        let body: Vec<u8> = future::block_on(async {
            let mut body = Vec::new();
            while let Some(chunk) = response.next().await {
                // Within the limit, or one message larger than it.
                assert!(chunk.len() <= max_batch.max(largest), "{} > {max_batch}", chunk.len());
                body.extend_from_slice(&chunk);
            }
            body
        });
        prop_assert_eq!(&body, &expected);
        let mut decoder = Decoder::new();
        decoder.push(&body).expect("within limits");
        let decoded: Vec<String> = std::iter::from_fn(|| decoder.next())
            .filter_map(|d| match d { Decoded::Event(e) => Some(e.data), _ => None })
            .collect();
        let sent: Vec<String> = events.iter().map(|e| e.data().replace("\r\n", "\n").replace('\r', "\n")).collect();
        prop_assert_eq!(decoded, sent);
    }
}
