//! The demo's request parsing on any bytes: `GET /generate`'s query, `POST
//! /generate`'s and `POST /publish`'s JSON bodies, through `sse_demo::Demo` as the
//! demo servers call it.
//!
//! Checks that every number a request carries is range-checked before use: the
//! answer is a stream or a refusal (a 4xx, or a 503 with `Retry-After`, with a JSON
//! error), never a panic (a rate of 1e-20 once panicked in
//! `Duration::from_secs_f64`).
//!
//! The first byte picks the route, the rest is the query or the body.
#![no_main]

use std::sync::OnceLock;

use futures_lite::future;
use libfuzzer_sys::fuzz_target;
use sse_demo::{Demo, DemoArgs, Refusal};

/// One demo for the whole run, as a server has (no Redis).
fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        let args = DemoArgs::parse(Vec::new())
            .expect("no flags are valid flags")
            .expect("not --help");
        future::block_on(Demo::open(&args)).expect("no Redis needed")
    })
}

fn post(path: &str) -> http::request::Parts {
    let request = http::Request::post(path).header("content-type", "application/json");
    request.body(()).expect("a valid request").into_parts().0
}

/// A refusal is a 4xx or a 503 with `Retry-After`, with a JSON error.
fn check_refusal(refusal: Refusal) {
    check_error(&refusal.response());
}

fn check_error(response: &http::Response<bytes::Bytes>) {
    let status = response.status();
    assert!(
        status.is_client_error() || status == http::StatusCode::SERVICE_UNAVAILABLE,
        "{status}"
    );
    if status == http::StatusCode::SERVICE_UNAVAILABLE {
        assert!(response.headers().contains_key(http::header::RETRY_AFTER));
    }
    let body: serde_json::Value = serde_json::from_slice(response.body()).expect("JSON");
    assert!(body["error"].is_string(), "{body}");
}

/// Starts a generation, dropping its producer unrun (its place is given back).
fn generate(request: &http::request::Parts, body: &[u8]) {
    let answer = demo().generate(request, body, drop, |_| std::future::pending::<()>());
    if let Err(refusal) = answer {
        check_refusal(refusal);
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&route, rest)) = input.split_first() else {
        return;
    };
    match route % 3 {
        0 => {
            // As a server would have parsed it: only a URI the http crate accepts.
            let query = String::from_utf8_lossy(rest);
            let Ok(request) = http::Request::get(format!("/generate?{query}")).body(()) else {
                return;
            };
            generate(&request.into_parts().0, b"");
        }
        1 => generate(&post("/generate"), rest),
        _ => {
            let response = future::block_on(demo().respond(&post("/publish"), rest));
            if response.status() != http::StatusCode::ACCEPTED {
                check_error(&response);
            }
        }
    }
});
