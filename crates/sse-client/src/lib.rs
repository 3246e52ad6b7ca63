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
//! # Transport
//!
//! - Redirects as the fetch spec follows them ([`Builder::redirect_limit`]);
//!   reconnections go where the last chain ended.
//! - Proxies from `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY`/`NO_PROXY`, or
//!   [`Builder::proxy`]; `https` through a `CONNECT` tunnel.
//! - Compressed bodies (`gzip`, `deflate`, `br`, `zstd`) decoded as they stream, so
//!   events still arrive one by one; an encoding the build cannot decode ends the
//!   stream with [`Error::ContentEncoding`].
//! - Credentials in the URL become `Authorization: Basic` (never part of `Host`);
//!   [`Builder::basic_auth`], [`Builder::bearer_auth`], [`Builder::header_append`].
//! - A status that is not retried ends the stream with [`Error::Status`], which
//!   carries the headers and the start of the body ([`ErrorResponse`]).
//! - An `id` no header value can hold (a control character) is shown to the user as
//!   it came, and reconnections go without `Last-Event-ID` rather than fail.
//!
//! # Cargo features
//!
//! | feature | default | what |
//! | --- | --- | --- |
//! | `tokio` | on | run on tokio |
//! | `smol` | | run on smol (or any executor with `async-io`'s reactor) |
//! | `rustls` | on | `https` through rustls (ring), with the bundled webpki roots |
//! | `proxy` | on | proxies from the environment and [`Builder::proxy`] (`hyper-util`) |
//! | `native-roots` | | also trust the OS's roots (`rustls-native-certs`) |
//! | `gzip`, `deflate`, `brotli`, `zstd` | | decode those `Content-Encoding`s (`async-compression`); each one on adds it to `Accept-Encoding` |
//! | `json` | | [`Builder::json`] (`serde_json`) |
//!
//! The defaults follow reqwest's: the environment's proxies are honoured, compression
//! and the OS store are opt-in. With a feature off, its code is not compiled; with
//! one on but unused (no proxy variable, an uncompressed body), a connection pays a
//! lookup, and an event nothing.
//!
//! # Examples
//!
//! Stream an LLM-style answer to a `POST` (only `sse-client` and the runtime as
//! dependencies):
//!
//! ```no_run
//! use sse_client::http::{Method, header};
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

mod body;
mod builder;
mod connect;
#[cfg(feature = "__decompress")]
mod decompress;
mod endpoint;
mod error;
#[cfg(feature = "proxy")]
mod proxy;
mod recv;
mod redirect;
mod rt;
mod source;
#[cfg(feature = "rustls")]
mod tls;

pub use builder::Builder;
pub use error::{BoxError, Error, ErrorResponse, ReconnectReason, RedirectError};
/// The `http` crate, whose types the API uses ([`Method`](http::Method),
/// [`HeaderMap`](http::HeaderMap), [`StatusCode`](http::StatusCode)): no need to
/// depend on it separately.
pub use http;
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
