//! Noticing that the stream was reset or moved back below the reader's position.
//!
//! The reader asks for the entries after its position (`XREAD ... STREAMS key
//! <position>`). If the stream is replaced by one whose ids are below that
//! position (Redis restarted empty, the key deleted, a failover to a replica that
//! was behind, a clock stepped back, entries written with ids ahead of the clock
//! before), `XREAD` returns nothing until the new ids pass it: every entry up to
//! there would be skipped, silently. So the reader checks that the stream is still
//! the one it was following, and starts again from `0-0` when it is not.
//!
//! # How
//!
//! The position is the id of an entry the stream held: the newest one the reader
//! relayed, or the newest one when it started (`0-0`, which every id is after,
//! needs no check). One command, `XREVRANGE key <position> - COUNT 1` (the newest
//! entry at or below the position; O(log n)), tells:
//!
//! - **that very entry**: the same stream;
//! - **an older entry, not that one**: the stream holds entries the reader never
//!   relayed below its position: it moved back, or is a new stream;
//! - **nothing**: every entry is above the position, and `XREAD` reads them all
//!   (and later ones, as Redis ids only grow); unless there is no entry at all
//!   (`XLEN` is 0, as when the key is gone): then the next ones may well get ids
//!   below the position, so the reader restarts (there is nothing to read twice).
//!
//! Trimming (`MAXLEN ~`, `MINID`) removes the oldest entries only, so it never
//! removes the position's entry while keeping older ones: it is not taken for a
//! reset. An entry deleted by hand (`XDEL`) at the reader's exact position is:
//! the stream is then read again from its beginning (events repeat, none is lost).
//! A new stream whose entries are all past the position by the time the reader
//! looks is read on after it, as the same stream: nothing in it is skipped.
//!
//! The check runs after every (re)connection and whenever an `XREAD` returns
//! nothing (every `block` while idle; entries added below the position do not wake
//! an `XREAD` waiting for ids after it, so a moved-back stream looks idle).

use redis::Value;
use redis::aio::MultiplexedConnection;

use crate::entry::{StreamId, parse_entries};
use crate::observe::Error;

/// Whether the stream no longer holds `position` yet holds (or may get) entries
/// below it: the reader must start again from `0-0` (see the module docs).
///
/// # Errors
///
/// When Redis cannot be read.
pub(crate) async fn moved_back(
    connection: &mut MultiplexedConnection,
    stream: &str,
    position: StreamId,
) -> Result<bool, Error> {
    if position == StreamId::default() {
        return Ok(false);
    }
    match newest_up_to(connection, stream, position).await? {
        Some(newest) => Ok(newest != position),
        None => Ok(length(connection, stream).await? == 0),
    }
}

/// The id of the newest entry at or below `position`, if any.
async fn newest_up_to(
    connection: &mut MultiplexedConnection,
    stream: &str,
    position: StreamId,
) -> Result<Option<StreamId>, Error> {
    let reply: Value = redis::cmd("XREVRANGE")
        .arg(stream)
        .arg(position.to_string())
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(connection)
        .await?;
    let entries =
        parse_entries(reply).map_err(|unexpected| Error::UnexpectedReply(unexpected.0))?;
    Ok(entries.first().map(|entry| entry.id))
}

/// How many entries the stream holds (0 when the key does not exist).
async fn length(connection: &mut MultiplexedConnection, stream: &str) -> Result<u64, Error> {
    match redis::cmd("XLEN")
        .arg(stream)
        .query_async(connection)
        .await?
    {
        Value::Int(length) => u64::try_from(length).map_err(|_| Error::UnexpectedReply("a length")),
        _ => Err(Error::UnexpectedReply("a length")),
    }
}
