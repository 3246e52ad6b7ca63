//! Server-Sent Events without IO.
//!
//! `sse-core` is the part of an SSE server (and client) that does not touch a socket,
//! a timer or a runtime:
//!
//! - the **encoder** turns an [`Event`] or a [`Comment`] into a [`Frame`], the exact
//!   bytes of the `text/event-stream` wire format, into a buffer you own;
//! - the **decoder** ([`Decoder`]) turns bytes, in chunks of any size, back into
//!   events, following the WHATWG `EventSource` processing model to the letter.
//!
//! Framework adapters (`sse-hyper`, `sse-axum`, `sse-warp`, `sse-smol`) move the bytes.
//!
//! ```text
//!   Event ──encode──▶ Frame (Bytes, cloned per client) ──▶ adapter ──▶ socket
//!   socket ──▶ chunks ──▶ Decoder ──▶ Decoded::{Event, Retry, Comment}
//! ```
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
mod http;
mod hub;
mod reconnect;
mod response;
mod scan;

pub use decode::{
    DecodeError, DecodeLimits, Decoded, Decoder, EventStream, EventStreamError, MessageEvent,
};
pub use encode::Frame;
pub use encoded::{EncodedEvent, EncodedEventError};
pub use event::{Comment, Event, EventError};
pub use http::{Accepted, LAST_EVENT_ID, Rejection, last_event_id, response_head};
pub use hub::{
    BATCH_CAPACITY, Batch, ClientInfo, ClientStream, ConnectError, ConnectOptions, ConnectRequest,
    DisconnectReason, DuplicateIdPolicy, Hooks, Hub, HubBuilder, HubConfig, LagPolicy, Metrics,
    NoHooks, ReplayFuture, ReplayRequest, ReplaySource, Replayed, SendError, SendResult,
};
pub use reconnect::{
    Reconnect, ReconnectAction, ReconnectConfig, RetryDelay, StopReason, Verdict, parse_retry_after,
};
pub use response::{
    BoxError, Closed, IntoResponseStream, Message, Receiver, ResponseStream, Sender, TrySendError,
    channel,
};
