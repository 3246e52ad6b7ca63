//! `sse_smol::Server` without a hub: a handler for every request, answering with
//! whole bodies, streams and lists of messages; `HEAD` gets the head alone.

use std::net::SocketAddr;

use bytes::Bytes;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use sse_core::{Event, ResponseStream, channel};
use sse_smol::Server;

/// Serves `server` on a fresh port in the background; its address.
async fn start(server: Server) -> SocketAddr {
    let listener = async_net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    smol::spawn(server.run(listener)).detach();
    addr
}

/// Sends `request` (a whole HTTP/1.1 request) and reads until the server closes.
async fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut tcp = async_net::TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.expect("read");
    answer
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n")
}

#[test]
fn a_server_without_a_hub_answers_every_request_with_its_handler() {
    smol::block_on(async {
        let server = Server::new().handler(|request| async move {
            match request.uri().path() {
                "/list" => {
                    let steps = [Event::new("one"), Event::new("two")];
                    sse_smol::from_stream(steps.into_iter().collect::<ResponseStream>())
                }
                "/stream" => {
                    let (sender, receiver) = channel(4);
                    smol::spawn(async move {
                        for word in ["a", "b", "c"] {
                            let _ = sender.send(word).await;
                        }
                    })
                    .detach();
                    sse_smol::from_stream(ResponseStream::from(receiver).keep_alive(None))
                }
                _ => http::Response::new(Bytes::from_static(b"page")).map(Into::into),
            }
        });
        let addr = start(server).await;

        let list = exchange(addr, &get("/list")).await;
        assert!(list.starts_with("HTTP/1.1 200 OK\r\n"), "{list}");
        assert!(
            list.contains("content-type: text/event-stream\r\n"),
            "{list}"
        );
        assert!(
            list.ends_with("\r\n\r\ndata: one\n\ndata: two\n\n"),
            "{list}"
        );

        let stream = exchange(addr, &get("/stream")).await;
        assert!(
            stream.ends_with("\r\n\r\ndata: a\n\ndata: b\n\ndata: c\n\n"),
            "{stream}"
        );

        let page = exchange(addr, &get("/")).await;
        assert!(page.contains("content-length: 4\r\n"), "{page}");
        assert!(page.ends_with("\r\n\r\npage"), "{page}");
    });
}

#[test]
fn without_a_handler_everything_is_404() {
    smol::block_on(async {
        let addr = start(Server::new()).await;
        let answer = exchange(addr, &get("/events")).await;
        assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{answer}");
        assert!(answer.ends_with(r#"{"error":"not found"}"#), "{answer}");
    });
}

#[test]
fn head_gets_the_head_alone_and_the_stream_is_dropped_unread() {
    smol::block_on(async {
        let (dropped_sender, dropped) = async_channel::bounded::<()>(1);
        let server = Server::new().handler({
            move |request| {
                let dropped = dropped_sender.clone();
                async move {
                    if request.uri().path() == "/page" {
                        return http::Response::new(Bytes::from_static(b"a page")).map(Into::into);
                    }
                    let (sender, receiver) = channel(1);
                    smol::spawn(async move {
                        // Completes once the response's stream is dropped.
                        sender.closed().await;
                        let _ = dropped.send(()).await;
                    })
                    .detach();
                    sse_smol::from_stream(receiver)
                }
            }
        });
        let addr = start(server).await;
        let head = exchange(addr, "HEAD /stream HTTP/1.1\r\nhost: test\r\n\r\n").await;
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.ends_with("\r\n\r\n"), "the head alone: {head}");
        dropped
            .recv()
            .await
            .expect("the producer saw its stream dropped");

        let page = exchange(addr, "HEAD /page HTTP/1.1\r\nhost: test\r\n\r\n").await;
        assert!(page.contains("content-length: 6\r\n"), "{page}");
        assert!(page.ends_with("\r\n\r\n"), "the head alone: {page}");
    });
}
