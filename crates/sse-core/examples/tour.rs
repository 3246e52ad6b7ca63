//! A tour of `sse-core` without a server: encode events, fan them out through a hub,
//! read the bytes a client would receive, and decode them as a browser would.
//!
//! Run it with `cargo run -p sse-core --example tour`.

use std::time::Duration;

use bytes::Buf;

use futures_lite::{StreamExt, future};
use sse_core::{ConnectOptions, Decoder, Event, Hub, HubConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. The encoder: what goes on the wire.
    let event = Event::new("first line\nsecond line")
        .with_event("greeting")?
        .with_retry(Duration::from_secs(3));
    println!("An event, encoded:\n{}", show(event.to_frame().as_bytes()));
    match Event::new("x").with_event("bad\nid: forged") {
        Err(error) => println!("A line break in the type is refused: {error}\n"),
        Ok(_) => unreachable!("refused above"),
    }

    // 2. The hub: one encode per event, every client in one order, replay on
    //    reconnect.
    let hub = Hub::new(HubConfig::default().history(100));
    let mut alice = hub.connect(ConnectOptions::new().client_id("alice").topic("news"))?;
    hub.broadcast(&Event::new("hello, everyone"));
    let news_id = hub.publish("news", &Event::new("news for subscribers"));
    hub.send_to("alice", &Event::new("a word for alice alone"))?;

    let mut batch = future::block_on(alice.next()).expect("alice has frames");
    let bytes = batch.copy_to_bytes(batch.remaining());
    println!("What alice's connection carries:\n{}", show(&bytes));

    // 3. The decoder: what a browser makes of those bytes.
    let mut decoder = Decoder::new();
    decoder.push(&bytes)?;
    for item in decoder.by_ref() {
        println!("decoded: {item:?}");
    }

    // 4. A client that reconnects with the last id it saw gets what it missed.
    drop(alice);
    hub.broadcast(&Event::new("sent while alice was away"));
    let mut alice = hub.connect(
        ConnectOptions::new()
            .client_id("alice")
            .topic("news")
            .last_event_id(news_id.to_string()),
    )?;
    let mut batch = future::block_on(alice.next()).expect("replayed frames");
    println!(
        "\nAfter reconnecting with Last-Event-ID {news_id}:\n{}",
        show(&batch.copy_to_bytes(batch.remaining()))
    );
    println!("{:#?}", hub.metrics());
    Ok(())
}

/// The bytes, with line ends made visible.
fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|line| format!("    {line}⏎\n"))
        .collect()
}
