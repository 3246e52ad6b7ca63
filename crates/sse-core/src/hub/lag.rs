//! The lag policy: what happens to a reader too far behind, in one place.
//!
//! Layer 1 of the hub: logs.

use super::config::{HubConfig, LagPolicy};
use super::log::{Cursor, Log};

/// Where one cursor stands against the policy.
enum Lag {
    /// Within `max_lag`.
    None,
    /// Skipped ahead past this many frames (`DropOldest`).
    Dropped(u64),
    /// Too far behind: the client must go (`Disconnect`).
    TooFar,
}

/// Applies the lag policy to each of a client's cursors (with the log each is
/// in): how many frames it skipped, or `None` when the client must go (the caller
/// ends it, as lagged).
#[inline]
pub(crate) fn apply_lag_policy<'a>(
    cursors: impl Iterator<Item = (&'a Log, &'a mut Cursor)>,
    config: &HubConfig,
) -> Option<u64> {
    let mut dropped = 0;
    for (log, cursor) in cursors {
        match check_lag(log, cursor, config) {
            Lag::None => {}
            Lag::Dropped(frames) => dropped += frames,
            Lag::TooFar => return None,
        }
    }
    Some(dropped)
}

/// Applies the lag policy to one cursor: lag counts from where its live traffic
/// started, and a cursor behind the oldest entry held has lost frames already.
#[inline]
fn check_lag(log: &Log, cursor: &mut Cursor, config: &HubConfig) -> Lag {
    let max_lag = config.max_lag as u64;
    let lag = log.end().saturating_sub(cursor.next.max(cursor.live_from));
    if lag <= max_lag && cursor.next >= log.start() {
        return Lag::None;
    }
    match config.lag_policy {
        LagPolicy::Disconnect => Lag::TooFar,
        LagPolicy::DropOldest => {
            let skip_to = cursor
                .next
                .max(log.start())
                .max(log.end().saturating_sub(max_lag));
            let dropped = skip_to - cursor.next;
            cursor.next = skip_to;
            Lag::Dropped(dropped)
        }
    }
}
