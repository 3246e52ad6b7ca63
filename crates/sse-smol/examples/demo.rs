//! The demo server on smol 2, with sse-smol's own HTTP/1.1 server.
//!
//! `cargo run -p sse-smol --example demo-smol -- --help` lists the flags; then open
//! <http://127.0.0.1:8080/>.

use std::time::Duration;

use async_io::Timer;
use async_net::TcpListener;
use async_signal::{Signal, Signals};
use futures_lite::{StreamExt, future};
use sse_demo::{Answer, Demo, DemoArgs, MAX_BODY, Route};
use sse_smol::{Body, Limits, Server};

fn main() -> std::io::Result<()> {
    let args = DemoArgs::from_env();
    smol::block_on(async {
        let demo = Demo::open_or_exit(&args).await;
        let hub = demo.hub().clone();
        smol::spawn(demo.clone().run(Timer::after)).detach();
        let listener = TcpListener::bind(args.addr).await?;
        println!("listening on http://{}", listener.local_addr()?);

        let mut signals = Signals::new([Signal::Term, Signal::Int])?;
        smol::spawn({
            let hub = hub.clone();
            async move {
                signals.next().await;
                // Every stream gets the farewell event and ends; then the server returns.
                hub.shutdown(Some(&sse_demo::farewell()));
            }
        })
        .detach();

        let timeouts = args.timeouts;
        let limits = Limits::default()
            .max_body(MAX_BODY)
            .head_timeout(timeouts.head)
            .body_timeout(timeouts.body);
        let server = Server::new()
            .events("/events", hub.clone())
            .limits(limits)
            .write_stall(timeouts.write_stall)
            .connection_limits(args.connections)
            .threads(args.threads)
            .handler(move |request| {
                let demo = demo.clone();
                async move {
                    let route = sse_demo::route(request.method(), request.uri().path());
                    let (parts, body) = request.into_parts();
                    if route != Route::Generate {
                        return demo.respond(&parts, &body).await.map(Body::from);
                    }
                    // On its connection's thread when the server has threads of its own.
                    let spawn = |task| sse_smol::spawn(task).detach();
                    match demo.generate(&parts, &body, spawn, Timer::after).await {
                        Answer::Stream(stream, headers) => {
                            let mut response = sse_smol::from_stream(stream);
                            response.headers_mut().extend(headers);
                            response
                        }
                        Answer::Response(response) => response.map(Body::from),
                    }
                }
            });
        // Give clients a few seconds to take the farewell once shutdown began.
        let deadline = async {
            hub.shutting_down().await;
            Timer::after(Duration::from_secs(5)).await;
            Ok(())
        };
        future::or(server.run(listener), deadline).await?;
        println!("shut down");
        Ok(())
    })
}
