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
//! [`RedisResumable`] keeps `sse-core`'s resumable streams (a reply that outlives
//! its connection, under a key the application chooses) in Redis, one stream per
//! key: started on one process, attached to, resumed and cancelled from any. See
//! its module's notes on keys, bounds, connections and outages.
//!
//! Pick the runtime with a feature: `tokio` (the default) or `smol`. See
//! [`Backplane`] to start.
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
    AttachError, EndReason, InvalidMessage, RedisProducer, RedisResumable, ResumeMetrics,
    ResumeOptions, SendError, StartError, TrySendError,
};
