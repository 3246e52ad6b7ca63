//! A Redis Streams backplane for `sse-core`'s hub: run several server processes
//! behind a load balancer, and every client, on any of them, gets every event
//! published on any of them, in one order, with replay after reconnecting to
//! another.
//!
//! ```text
//!  process A: Backplane::broadcast ──XADD──▶ ┌──────────────┐ ──XREAD──▶ hub A ──▶ clients of A
//!  process B: Backplane::publish   ──XADD──▶ │ Redis stream │ ──XREAD──▶ hub B ──▶ clients of B
//!                                            └──────────────┘ ◀─XRANGE── replay after Last-Event-ID
//! ```
//!
//! - One stream holds every event, broadcasts and topics alike (the topic is a
//!   field), so the stream's order is the one order every client sees, and one
//!   `XREAD` per process follows it all, new topics included. Its entry ids
//!   (`1700000000000-0`) are the events' SSE ids. (A stream per topic would need
//!   every process to merge streams whose ids do not order across streams, and to
//!   discover new ones; reading it measured 812 k entries/s with 16 streams per
//!   `XREAD` against 645 k/s for one stream, both far above what a process fans out.)
//! - Each process's hub keeps its in-memory history; a `Last-Event-ID` older than
//!   that is replayed from the stream, as far back as `MAXLEN ~` keeps it. Older
//!   still is a replay miss, reported as the hub reports its own.
//! - A lost connection is retried with backoff; the reader resumes after the last
//!   entry it relayed. Publishing while Redis is down fails with an error: nothing
//!   is half-sent.
//!
//! # When the stream is reset or moves back
//!
//! Redis may come back without the stream or behind it: restarted without
//! persistence, failed over to a replica that lagged, or after entries were written
//! with ids ahead of the clock. New entries then get ids below the reader's
//! position, and reading "after the last entry relayed" would skip them all,
//! silently, until the ids pass it. Instead:
//!
//! - The reader checks, after every (re)connection and whenever a read finds
//!   nothing new (at least every [`RedisOptions::block`](RedisOptions#structfield.block) while idle), that the
//!   stream still holds the entry it relayed last (`XREVRANGE key <it> - COUNT 1`:
//!   if the newest entry at or below it is another one, or the stream is empty,
//!   the stream is not the one it was reading). Trimming removes the oldest
//!   entries only, so it is never taken for a reset.
//! - When it is not, the reader reads the new stream from its beginning (`0-0`),
//!   so every event in it, those added while it was finding out included, reaches
//!   the clients, and reports it: [`BackplaneMetrics::resets`],
//!   [`BackplaneHooks::on_reset`]. Entries the new stream shares with the old one
//!   (a replica's copy) are relayed again: clients may see those twice, never miss
//!   one.
//! - The hub forgets the old stream's ids
//!   ([`Hub::restart_relay`](sse_core::Hub::restart_relay)), and Redis no longer
//!   holds them: a client reconnecting with one gets the replay-miss signal
//!   (`resync`), on every process alike, and never a resume as if it had seen
//!   everything up to there.
//! - Limits: events accepted by the old Redis but never read before it went are
//!   lost with it (the reset is reported, so the application can tell clients to
//!   resync). Clients connected across the reset are not signalled; they go on
//!   with the new stream's events. A new stream whose ids are all above the
//!   reader's position by the time it looks is read on as the same stream (nothing
//!   in it is skipped), without a report. Between the reset and the reader finding
//!   it (a reconnection, or one `block`), a replay from the new stream may send a
//!   reconnecting client some events twice.
//!
//! # Resumable streams
//!
//! [`RedisResumable`] keeps resumable streams (a reply that outlives its
//! connection, under a key the application chooses: a run or conversation id) in
//! Redis, so a stream started on one process is attached to, resumed and
//! cancelled from any other. [`RedisProducer`] writes it; a viewer is a
//! `ResponseStream` every adapter serves.
//!
//! ```text
//!  process A: RedisProducer::send ──EVALSHA (XADD)──▶ ┌──────────────────────┐
//!                                                     │ {prefix}:{key}       │ ◀─XRANGE── viewer on B (what it missed)
//!  process C: RedisResumable::cancel ──end entry────▶ │ one Redis stream     │ ◀─XREAD BLOCK── viewer on B (live)
//!               └──PUBLISH {prefix}:cancelled──▶ run on A closes the producer
//! ```
//!
//! ## In Redis
//!
//! - **One Redis stream per key**, `{prefix}:{key}`: the application's key is the
//!   hash tag, so Redis Cluster spreads streams over its slots and keeps a
//!   stream's companion key (`{prefix}:{key}:seen`, for abandoning) on the same
//!   slot. Entries: a start entry (`s`: the producer's token), one entry per
//!   message (`p` the token, `n` its sequence number, and `e` an event's fields
//!   or `c` a comment or retry hint, whole), and an end entry (`x`: `done`,
//!   `cancelled` or `abandoned`).
//! - **The SSE id of every event is its entry id** (`1700000000000-3`), replacing
//!   any id of its own, so a `Last-Event-ID` resumes exactly, on any process;
//!   comments and retry hints go without an id, as in `sse-core`'s resumable
//!   streams (whose `end` and `resync` events these are too). The end event
//!   carries the end entry's id: reconnecting with it answers 204.
//! - **Writes are Lua scripts** (atomic on the stream's slot) that look at the
//!   newest entry first: nothing is appended after an end entry (a cancel wins at
//!   once), nothing is appended to a stream that is gone or another producer's
//!   (the producer learns its stream is lost), and an entry already written (a
//!   retry after a lost reply) is not written again.
//! - **Bounds**: the producer knows the size of every event it wrote, so it trims
//!   exactly: each `XADD` carries `MINID <id>`, the oldest entry that keeps the
//!   stream within [`max_bytes`](ResumeOptions#structfield.max_bytes) of
//!   encoded events (their `event:`/`data:`/`retry:` lines; not the ids, nor the
//!   token and sequence number every entry carries, about 25 bytes, nor Redis's
//!   own overhead per entry) and
//!   [`max_entries`](ResumeOptions#structfield.max_entries) events. A
//!   viewer that resumes from before what was trimmed, or that falls behind it
//!   while reading (the sequence numbers jump), gets `event: resync`, then what
//!   the stream holds: never a silent gap.
//! - **Expiry**: a live stream's key expires
//!   [`live_ttl`](ResumeOptions#structfield.live_ttl) after its producer
//!   was last heard of (each write, and [`RedisResumable::run`]'s heartbeat), so
//!   the stream of a process that died goes away; the end entry sets the expiry
//!   to [`linger`](ResumeOptions#structfield.linger). An expired key is an
//!   unknown key: 204.
//!
//! ## Connections
//!
//! Per process: one multiplexed connection for every command that does not block
//! (the producers' writes pipeline on it, the viewers' `XRANGE`), one pub/sub
//! connection in `run`, and one blocking connection per viewer that has caught
//! up, for its `XREAD BLOCK` (a blocked connection serves nobody else). Viewers
//! are bounded by [`max_viewers`](ResumeOptions#structfield.max_viewers)
//! (beyond it, attaching answers 503), and up to
//! [`idle_connections`](ResumeOptions#structfield.idle_connections) are
//! kept for the next viewers. One blocking reader per process for every key would
//! need all keys on one slot, which a cluster does not give.
//!
//! ## When Redis is down
//!
//! - `start` fails with [`StartError::Unavailable`] (503): nothing was started.
//! - A producer's `send` fails with [`SendError::Unavailable`]; the message
//!   waits in the producer and is written first, once, by its next write that
//!   gets through (bounded by
//!   [`max_pending`](ResumeOptions#structfield.max_pending)). A success is
//!   never reported for an entry Redis does not hold. If Redis comes back without
//!   the stream (restarted empty), the producer's next write fails with
//!   [`SendError::Lost`] instead of writing into a new, unrelated stream.
//! - A viewer's read fails: its response ends, and the client reconnects with its
//!   `Last-Event-ID`; `attach` answers 503 ([`AttachError::Unavailable`]) until
//!   Redis is back, then resumes exactly after that id.
//! - `run` reconnects with backoff, then checks every live stream of its process,
//!   so a cancel announced meanwhile still reaches the producer.
//!
//! Pick the runtime with a feature: `tokio` (the default) or `smol`. See
//! [`Backplane`] or [`RedisResumable`] to start.
#![forbid(unsafe_code)]

#[cfg(not(any(feature = "tokio", feature = "smol")))]
compile_error!("sse-redis needs a runtime: enable its `tokio` or `smol` feature");

mod backplane;
mod entry;
mod observe;
mod options;
mod reader;
mod replay;
mod reset;
mod resume;

pub use backplane::Backplane;
pub use entry::{InvalidEntry, InvalidStreamId, StreamId};
pub use observe::{BackplaneHooks, BackplaneMetrics, Error, NoBackplaneHooks};
pub use options::RedisOptions;
pub use resume::{
    AttachError, InvalidMessage, RedisProducer, RedisResumable, RedisResumeMetrics, ResumeOptions,
    SendError, StartError, TrySendError,
};
/// Why a resumable stream ended: `sse-core`'s, the same on the wire.
pub use sse_core::EndReason;
