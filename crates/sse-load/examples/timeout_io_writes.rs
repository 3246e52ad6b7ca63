//! What `sse_hyper::TimeoutIo` costs a write, for instruction counts: 64-byte writes
//! (20 000, or the second argument) to a loopback TCP connection whose far end a
//! thread drains, each followed by a read that would wait (as hyper polls its read
//! side after every flush of a streaming response), through a bare `TcpStream`
//! (`bare`) or a `TimeoutIo` watching its peer (`timeout`), as `sse_hyper::serve`
//! wraps every connection.
//!
//! ```sh
//! cargo build --release -p sse-load --example timeout_io_writes
//! valgrind --tool=callgrind target/release/examples/timeout_io_writes bare
//! valgrind --tool=callgrind target/release/examples/timeout_io_writes timeout
//! ```
//!
//! The difference of the two instruction counts over the writes is the timeouts'
//! bookkeeping per write, in user space (the system calls are the same).
use std::future::poll_fn;
use std::io::Read;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

async fn drive<T: AsyncRead + AsyncWrite + Unpin>(io: &mut T, writes: usize) {
    let frame = [b'x'; 64];
    let mut buf = [0; 64];
    for _ in 0..writes {
        let mut written = 0;
        while written < frame.len() {
            written += poll_fn(|cx| Pin::new(&mut *io).poll_write(cx, &frame[written..]))
                .await
                .expect("write");
        }
        poll_fn(|cx| {
            let mut read = ReadBuf::new(&mut buf);
            let _ = Pin::new(&mut *io).poll_read(cx, &mut read);
            Poll::Ready(())
        })
        .await;
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let wrapped = match args.next().as_deref() {
        Some("bare") | None => false,
        Some("timeout") => true,
        Some(other) => panic!("bare or timeout, not {other:?}"),
    };
    let writes: usize = args.next().map_or(20_000, |n| n.parse().unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut far, _) = listener.accept().unwrap();
            let mut buf = vec![0; 64 * 1024];
            while far.read(&mut buf).is_ok_and(|n| n > 0) {}
        });
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        if wrapped {
            let io =
                sse_hyper::TimeoutIo::new(tcp, Duration::from_secs(60), Duration::from_secs(30));
            #[cfg(unix)]
            let io = io.watch_peer();
            let mut io = io;
            drive(&mut io, writes).await;
        } else {
            let mut tcp = tcp;
            drive(&mut tcp, writes).await;
        }
    });
    println!("{writes} writes");
}
