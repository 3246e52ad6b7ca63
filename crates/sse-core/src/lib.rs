//! Server-Sent Events without IO.
//!
//! `sse-core` is the part of an SSE server (and client) that does not touch a socket,
//! a timer or a runtime. Its parts:
//!
//! | part | what it does |
//! |---|---|
//! | the **encoder** ([`Event`], [`Comment`], [`Frame`]) | turns events, comments, retry hints and id checkpoints into the exact bytes of the `text/event-stream` format, refusing values that would forge fields |
//! | the **decoder** ([`Decoder`], [`EventStream`]) | turns bytes, in chunks of any size, back into events, following the WHATWG `EventSource` processing model to the letter, within limits |
//! | **per-request streams** ([`ResponseStream`], [`channel`], [`Message`]) | one response, your own events (an LLM's tokens, a job's progress): every ready message in one write, keep-alive, clean ends |
//! | the **hub** ([`Hub`], [`ClientStream`], [`Batch`]) | clients and fan-out: broadcast, topics, one client; replay after `Last-Event-ID`; slow clients, keep-alive, hooks, limits, shutdown, [`Metrics`] |
//! | **HTTP** ([`Hub::accept`], [`ConnectOptions::from_parts`], [`response_head`], [`Rejection`]) | what every adapter would otherwise repeat, on the `http` crate's types |
//! | **resumable streams** ([`Resumable`], [`Producer`], [`ResumeConfig`]) | a reply that outlives its connection: started under a key, detached from any connection, resumed after `Last-Event-ID` by any number of viewers, cancelled with the Stop button |
//! | **relaying** ([`EncodedEvent`], [`Hub::relay`], [`ReplaySource`]) | events whose ids an external log (Redis Streams) gives |
//!
//! Framework adapters (`sse-hyper`, `sse-axum`, `sse-warp`, `sse-smol`) move the bytes
//! and supply the timer. How a frame travels:
//!
//! ```text
//!  hub:          Event ──encode──▶ frame (Bytes) ──append──▶ Log (chunks, shared)
//!                  Hub::broadcast / publish / send_to          │ wakes waiting readers
//!                                                              ▼
//!                ClientStream ──takes every ready frame──▶ Batch (runs of chunks, one Buf)
//!  per request:  your Stream / channel ──▶ ResponseStream ──encode──▶ Bytes (all ready messages)
//!                                                              ▼
//!                adapter body / writer (one write per batch, flush when Pending) ──▶ socket
//!  client side:  socket ──▶ chunks ──▶ Decoder ──▶ Decoded::{Event, Retry, Comment}
//! ```
//!
//! The hub's own module documentation follows a frame file by file, and says how a
//! client waits.
//!
//! # Names
//!
//! One idea has one name, on every adapter, in its framework's idiom; a new entry
//! point follows these:
//!
//! | idea | name |
//! |---|---|
//! | the response, whether it streams a hub client, your own events or a refusal | one type per adapter: the framework's own (`http::Response<Body>` on hyper and smol), or `Sse` where the framework has a response trait (axum's `IntoResponse`, warp's `Reply`) |
//! | your own stream (a [`channel`]'s receiver, any stream of messages, a [`ResponseStream`] you configured or collected from a list) as that response | `from_stream` |
//! | a hub client as the response, reading what the request asks for | `respond` |
//! | the same, with the [`ConnectOptions`] you chose | `connect` (as [`Hub::connect`]) |
//! | a ready-made hub endpoint (handler, filter, route) | `events` |
//! | the `Last-Event-ID` a reconnecting client sent | `last_event_id` ([`last_event_id`]; axum's extractor is `LastEventId`) |
//! | how often idle streams get a comment; the client's reconnection delay | `keep_alive`, `retry`: set on [`HubConfig`], [`ResponseStream`] or [`ResumeConfig`], never on an adapter |
//! | an accept loop and its bounds | `Server` on hyper and smol (`connection_limits`, `threads`, then `run`; hyper's also `timeouts`, smol's `limits` and `write_stall`); `serve` is hyper's shorthand |
//! | background work on your runtime's timer | `run(sleep)` ([`Resumable::run`], `RedisResumable::run`); the hub's keep-alive is [`Hub::run_keep_alive`] |
//!
//! Verbs answer a request (`respond`, `connect`, `attach`), `from_*` converts into
//! a response, and a setting is named after what it sets, the same wherever it is
//! set.
//!
//! # Examples
//!
//! ```
//! use sse_core::{Decoded, Decoder, Event};
//!
//! let frame = Event::new("hello\nworld").with_event("greeting")?.to_frame();
//! assert_eq!(frame.as_bytes(), "event: greeting\ndata: hello\ndata: world\n\n");
//!
//! let mut decoder = Decoder::new();
//! decoder.push(frame.as_bytes())?;
//! let Some(Decoded::Event(event)) = decoder.next() else { panic!("an event") };
//! assert_eq!(event.event_type, "greeting");
//! assert_eq!(event.data, "hello\nworld");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
// Everywhere but `hub::chunk`, which proves its use sound.
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod decode;
mod encode;
mod encoded;
mod event;
mod figures;
mod http;
mod hub;
mod observe;
mod reconnect;
mod request;
mod response;
mod resume;
mod scan;

pub use decode::{
    DecodeError, DecodeLimits, Decoded, Decoder, EventStream, EventStreamError, MessageEvent,
};
pub use encode::Frame;
pub use encoded::{EncodedEvent, EncodedEventError};
pub use event::{Comment, Event, EventError};
#[cfg(feature = "metrics")]
pub use figures::record_figures;
pub use figures::{Figure, FigureKind};
pub use http::{Accepted, RESUME_LOCATION, response_head};
pub use hub::{
    BATCH_CAPACITY, Batch, ClientInfo, ClientStream, ConnectError, ConnectOptions, ConnectRequest,
    DisconnectReason, DuplicateIdPolicy, Hooks, Hub, HubBuilder, HubConfig, LagPolicy, Metrics,
    NoHooks, ReplayFuture, ReplayRequest, ReplaySource, Replayed, SendError, SendResult,
};
#[cfg(feature = "metrics")]
pub use observe::describe_histograms;
pub use observe::{
    FRAMES_PER_WRITE, HISTOGRAMS, HistogramSpec, STREAM_DURATION, TIME_TO_FIRST_EVENT,
};
pub use reconnect::{
    Decision, DefaultPolicy, Outcome, Policy, Reconnect, ReconnectAction, ReconnectConfig,
    RetryDelay, StopReason, Verdict, parse_retry_after,
};
pub use request::{LAST_EVENT_ID, Rejection, last_event_id};
pub use response::{
    BoxError, Closed, IntoResponseStream, Message, Receiver, ResponseStream, Sender, TrySendError,
    channel,
};
pub use resume::{
    END_EVENT, EndReason, MAX_KEY_LEN, Producer, RESYNC_EVENT, Resumable, ResumeConfig,
    ResumeMetrics, StartError, UnknownEndReason, is_valid_key,
};
