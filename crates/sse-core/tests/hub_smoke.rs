mod common;
use common::*;
use sse_core::{ConnectOptions, Event, Hub};

#[test]
fn smoke() {
    let hub = Hub::default();
    let mut a = hub.connect(ConnectOptions::new().client_id("a").topic("t")).unwrap();
    let mut b = hub.connect(ConnectOptions::new()).unwrap();
    assert_eq!(poll_items(&mut a), None);
    hub.broadcast(&Event::new("one"));
    hub.publish("t", &Event::new("two"));
    hub.send_to("a", &Event::new("three")).unwrap();
    hub.broadcast(&Event::new("four"));
    assert_eq!(drain_data(&mut a), ["one", "two", "three", "four"]);
    assert_eq!(drain_data(&mut b), ["one", "four"]);
    let mut c = hub.connect(ConnectOptions::new().topic("t").last_event_id("1")).unwrap();
    assert_eq!(drain_data(&mut c), ["two", "four"]);
    hub.shutdown(Some(&Event::new("bye")));
    assert_eq!(drain_data(&mut a), ["bye"]);
    assert!(has_ended(&mut a));
    drop(b);
    drop(c);
    futures_lite::future::block_on(hub.closed());
    println!("{:?}", hub.metrics());
}
