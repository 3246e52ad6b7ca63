//! Resumable streams across processes: a reply that outlives its connection,
//! started on one process, attached to and resumed on any other.
//!
//! ```text
//!  process A: RedisProducer::send ──EVALSHA (XADD)──▶ ┌──────────────────────┐
//!                                                     │ {prefix}:{key}       │ ◀─XRANGE── viewer on B (what it missed)
//!  process C: RedisResumable::cancel ──end entry────▶ │ one Redis stream     │ ◀─XREAD BLOCK── viewer on B (live)
//!               └──PUBLISH {prefix}:cancelled──▶ run on A closes the producer
//! ```
//!
//! # In Redis
//!
//! - **One Redis stream per key**, `{prefix}:{key}`: the application's key is the
//!   hash tag, so Redis Cluster spreads streams over its slots and keeps a
//!   stream's companion key (`{prefix}:{key}:seen`, for abandoning) on the same
//!   slot. Entries: a start entry (`s`: the producer's token), one entry per event
//!   (`p` the token, `n` its sequence number, `e` the encoded event), and an end
//!   entry (`x`: `done`, `cancelled` or `abandoned`).
//! - **The SSE id of every event is its entry id** (`1700000000000-3`), so a
//!   `Last-Event-ID` resumes exactly, on any process. The end event carries the
//!   end entry's id: reconnecting with it answers 204.
//! - **Writes are Lua scripts** (atomic on the stream's slot) that look at the
//!   newest entry first: nothing is appended after an end entry (a cancel wins at
//!   once), nothing is appended to a stream that is gone or another producer's
//!   (the producer learns its stream is lost), and an entry already written (a
//!   retry after a lost reply) is not written again.
//! - **Bounds**: the producer knows the size of every event it wrote, so it trims
//!   exactly: each `XADD` carries `MINID <id>`, the oldest entry that keeps the
//!   stream within [`max_bytes`](crate::ResumeOptions#structfield.max_bytes) of
//!   encoded events (their `event:`/`data:`/`retry:` lines; not the ids, nor Redis's
//!   own overhead per entry, roughly 40 bytes) and
//!   [`max_entries`](crate::ResumeOptions#structfield.max_entries) events. A
//!   viewer that resumes from before what was trimmed, or that falls behind it
//!   while reading (the sequence numbers jump), gets `event: resync`, then what
//!   the stream holds: never a silent gap.
//! - **Expiry**: a live stream's key expires
//!   [`live_ttl`](crate::ResumeOptions#structfield.live_ttl) after its producer
//!   was last heard of (each write, and [`RedisResumable::run`]'s heartbeat), so
//!   the stream of a process that died goes away; the end entry sets the expiry
//!   to [`linger`](crate::ResumeOptions#structfield.linger). An expired key is an
//!   unknown key: 204.
//!
//! # Connections
//!
//! Per process: one multiplexed connection for every command that does not block
//! (the producers' writes pipeline on it, the viewers' `XRANGE`), one pub/sub
//! connection in `run`, and one blocking connection per viewer that has caught
//! up, for its `XREAD BLOCK` (a blocked connection serves nobody else). Viewers
//! are bounded by [`max_viewers`](crate::ResumeOptions#structfield.max_viewers)
//! (beyond it, attaching answers 503), and up to
//! [`idle_connections`](crate::ResumeOptions#structfield.idle_connections) are
//! kept for the next viewers. One blocking reader per process for every key would
//! need all keys on one slot, which a cluster does not give.
//!
//! # When Redis is down
//!
//! - `start` fails with [`StartError::Unavailable`] (503): nothing was started.
//! - A producer's `send` fails with [`SendError::Unavailable`]; the message
//!   waits in the producer and is written first, once, by its next write that
//!   gets through (bounded by
//!   [`max_pending`](crate::ResumeOptions#structfield.max_pending)). A success is
//!   never reported for an entry Redis does not hold. If Redis comes back without
//!   the stream (restarted empty), the producer's next write fails with
//!   [`SendError::Lost`] instead of writing into a new, unrelated stream.
//! - A viewer's read fails: its response ends, and the client reconnects with its
//!   `Last-Event-ID`; `attach` answers 503 ([`AttachError::Unavailable`]) until
//!   Redis is back, then resumes exactly after that id.
//! - `run` reconnects with backoff, then checks every live stream of its process,
//!   so a cancel announced meanwhile still reaches the producer.

mod entries;
mod errors;
mod key;
mod metrics;
mod options;
mod producer;
mod registry;
mod run;
mod scripts;
mod viewer;
mod wire;

pub use errors::{AttachError, InvalidMessage, SendError, StartError, TrySendError};
pub use metrics::ResumeMetrics;
pub use options::ResumeOptions;
pub use producer::RedisProducer;
pub use registry::RedisResumable;
pub use wire::EndReason;
