//! An `EventSource` for Rust: consume Server-Sent Events over HTTP/1.1 or HTTP/2,
//! `http` or `https`, with any method and body, and reconnect exactly as the WHATWG
//! spec says.
//!
//! - [`EventSource`] is a [`Stream`](futures_core::Stream) of [`Event`]s: the
//!   server's messages, and the changes of the connection ([`Event::Open`],
//!   [`Event::Reconnecting`] with the reason and the delay, [`Event::Closed`]).
//! - The bytes go through `sse-core`'s [`Decoder`](sse_core::Decoder) (the WHATWG
//!   processing model to the letter, bounded by [`DecodeLimits`]); the reconnection
//!   policy is `sse-core`'s [`Reconnect`](sse_core::Reconnect): the server's
//!   `retry:` wins, failures back off exponentially with jitter, `204` stops for
//!   good, a wrong content type or a `4xx` fails without retrying, `5xx`, 408, 429
//!   (after `Retry-After`) and network errors retry.
//! - Every reconnection sends `Last-Event-ID`, so a server with replay (like
//!   `sse-core`'s hub) sends exactly what was missed.
//! - An idle watchdog: no bytes for [`Builder::idle_timeout`] means a dead
//!   connection (a keep-alive comment counts as bytes), so it reconnects.
//! - Drop the stream to close the connection.
//!
//! ```text
//!  Builder ─build─▶ EventSource ──poll──▶ Reconnect::poll ─Connect─▶ TCP, TLS, hyper ─▶ response
//!                        ▲                                                               │
//!                        └──── Event::{Open, Message, Reconnecting, Closed} ◀── Decoder ◀┘
//! ```
//!
//! Runtimes: tokio (the `tokio` feature, on by default) or smol (the `smol` feature);
//! `https` through rustls with the ring provider and the webpki roots (the `rustls`
//! feature, on by default).
//!
//! # Examples
//!
//! Stream an LLM-style answer to a `POST`:
//!
//! ```no_run
//! use futures_lite::StreamExt;
//! use http::{Method, header};
//! use sse_client::{Event, EventSource};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut source = EventSource::builder("https://api.example.com/v1/chat/completions")
//!     .method(Method::POST)
//!     .bearer_auth(&std::env::var("API_KEY")?)
//!     .header(header::CONTENT_TYPE, "application/json")
//!     .body(r#"{"model": "m", "stream": true, "messages": [{"role": "user", "content": "Hi"}]}"#)
//!     .build()?;
//! while let Some(item) = source.next().await {
//!     match item? {
//!         Event::Message(event) if event.data == "[DONE]" => break,
//!         Event::Message(event) => println!("{}", event.data),
//!         _ => {}
//!     }
//! }
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

#[cfg(not(any(feature = "tokio", feature = "smol")))]
compile_error!("sse-client needs a runtime: enable its `tokio` or `smol` feature");

mod builder;
mod connect;
mod error;
mod rt;
mod source;

pub use builder::Builder;
pub use error::{BoxError, Error, ReconnectReason};
pub use rt::Runtime;
pub use source::{Event, EventSource, Open};
pub use sse_core::{
    Decision, DecodeError, DecodeLimits, DefaultPolicy, MessageEvent, Outcome, Policy,
    ReconnectConfig, StopReason,
};

/// The README's examples, compiled as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
