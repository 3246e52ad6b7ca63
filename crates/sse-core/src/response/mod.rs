//! Per-request streams: one response, your own events (an LLM's tokens, a job's
//! progress, an MCP call), beside the hub's fan-out.
//!
//! | item | what it is |
//! |---|---|
//! | [`Message`] | what such a stream carries: an event, a comment, a retry hint, an id checkpoint, a frame |
//! | [`ResponseStream`] | your stream of messages as the bytes of one response: batching, keep-alive, opening frames, clean ends |
//! | [`channel`] | a [`Sender`] for producers (backpressure; fails once the client is gone) and the [`Receiver`] to respond with |
//! | [`IntoResponseStream`] | what every adapter accepts: a response stream, a receiver, any stream of messages |
//!
//! Nothing here does IO or names a runtime: the adapters write the bytes, flush
//! when the stream is `Pending`, and supply the timer for keep-alive.
//!
//! ```text
//!   producer ──Sender::send──▶ channel ──Receiver──▶ ResponseStream ──Bytes──▶ adapter ──▶ socket
//!   (or any Stream of messages) ──────────────────────▲
//! ```

mod channel;
mod message;
mod stream;
#[cfg(test)]
mod tests;

pub use channel::{Closed, Receiver, Sender, TrySendError, channel};
pub(crate) use message::Kind;
pub use message::Message;
pub use stream::{BoxError, IntoResponseStream, ResponseStream};
