//! How many connections may be open, from one peer address and in all.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use event_listener::Event;

/// Bounds on open connections: per peer address (an attacker that reopens every
/// connection the server closes holds at most this many; keep it well below the
/// total) and in all (below the process's file-descriptor limit, so that
/// accepting never runs out). Both off by default.
///
/// | limit | default | a connection past it |
/// |---|---|---|
/// | [`per_peer`](Self::per_peer) | none | from an address that has that many open is closed at once |
/// | [`total`](Self::total) | none | waits in the kernel's queue (accepting pauses, [`Connections::room`]) until one closes |
///
/// ```
/// let limits = sse_net::ConnectionLimits::default().per_peer(32).total(10_000);
/// assert_eq!(limits.per_peer, Some(32));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionLimits {
    /// Open connections from one IP address.
    pub per_peer: Option<usize>,
    /// Open connections in all.
    pub total: Option<usize>,
}

impl ConnectionLimits {
    /// Sets [`per_peer`](Self::per_peer).
    #[must_use]
    pub fn per_peer(mut self, limit: impl Into<Option<usize>>) -> Self {
        self.per_peer = limit.into();
        self
    }

    /// Sets [`total`](Self::total).
    #[must_use]
    pub fn total(mut self, limit: impl Into<Option<usize>>) -> Self {
        self.total = limit.into();
        self
    }
}

/// The open connections, counted against [`ConnectionLimits`]: an accept loop
/// asks [`admit`](Self::admit) for each connection and holds the [`Permit`] as
/// long as the connection is open. Cheap to clone (shared counts).
#[derive(Clone, Debug, Default)]
pub struct Connections {
    limits: ConnectionLimits,
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: AtomicUsize,
    /// Told when a connection closes.
    closed: Event,
    /// Only addresses with a connection open: an entry goes with its last one.
    per_peer: Mutex<HashMap<IpAddr, usize>>,
}

/// Why a connection was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refused {
    /// Its address has [`ConnectionLimits::per_peer`] connections open.
    PerPeer,
    /// [`ConnectionLimits::total`] connections are open.
    Total,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refused::PerPeer => "too many connections from this address",
            Refused::Total => "too many connections",
        })
    }
}

impl std::error::Error for Refused {}

impl Connections {
    /// Counts connections against `limits`.
    #[must_use]
    pub fn new(limits: ConnectionLimits) -> Self {
        Connections {
            limits,
            counts: Arc::default(),
        }
    }

    /// How many are open.
    #[must_use]
    pub fn open(&self) -> usize {
        self.counts.total.load(Ordering::Acquire)
    }

    /// Resolves once fewer than [`ConnectionLimits::total`] connections are open:
    /// an accept loop waits here rather than accept connections only to close
    /// them (they wait in the kernel's queue meanwhile, and get in as others
    /// close). Any runtime.
    ///
    /// ```
    /// use sse_net::{ConnectionLimits, Connections};
    ///
    /// let connections = Connections::new(ConnectionLimits::default().total(1));
    /// let permit = connections.admit("192.0.2.1".parse().unwrap()).unwrap();
    /// let closed = std::thread::spawn(move || drop(permit));
    /// futures_lite::future::block_on(connections.room());
    /// assert_eq!(connections.open(), 0);
    /// # closed.join().unwrap();
    /// ```
    pub async fn room(&self) {
        let Some(total) = self.limits.total else {
            return;
        };
        loop {
            let closed = self.counts.closed.listen();
            if self.open() < total {
                return;
            }
            closed.await;
        }
    }

    /// Admits a connection from `peer`, or says which limit it is past.
    ///
    /// ```
    /// use sse_net::{ConnectionLimits, Connections, Refused};
    ///
    /// let connections = Connections::new(ConnectionLimits::default().per_peer(1));
    /// let peer = "192.0.2.1".parse().unwrap();
    /// let first = connections.admit(peer).unwrap();
    /// assert_eq!(connections.admit(peer).unwrap_err(), Refused::PerPeer);
    /// drop(first); // Closed: its room is free again.
    /// assert!(connections.admit(peer).is_ok());
    /// ```
    ///
    /// # Errors
    ///
    /// [`Refused`] when a limit is reached; close the connection then.
    pub fn admit(&self, peer: IpAddr) -> Result<Permit, Refused> {
        let counts = &self.counts;
        let total = self.limits.total.unwrap_or(usize::MAX);
        let taken = counts
            .total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < total).then_some(open + 1)
            });
        if taken.is_err() {
            return Err(Refused::Total);
        }
        // Dropped on a refusal below, which gives the total its place back.
        let mut permit = Permit {
            counts: Arc::clone(counts),
            peer: None,
        };
        let Some(per_peer) = self.limits.per_peer else {
            return Ok(permit);
        };
        let mut peers = counts
            .per_peer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let open = peers.entry(peer).or_insert(0);
        if *open >= per_peer {
            if *open == 0 {
                peers.remove(&peer);
            }
            return Err(Refused::PerPeer);
        }
        *open += 1;
        permit.peer = Some(peer);
        Ok(permit)
    }
}

/// An admitted connection's place: dropping it (the connection closed) frees it.
#[derive(Debug)]
#[must_use = "the connection counts as open only while its permit lives"]
pub struct Permit {
    counts: Arc<Counts>,
    /// Counted per peer too.
    peer: Option<IpAddr>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(peer) = self.peer {
            let mut peers = self
                .counts
                .per_peer
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(open) = peers.get_mut(&peer) {
                *open -= 1;
                if *open == 0 {
                    peers.remove(&peer);
                }
            }
        }
        self.counts.total.fetch_sub(1, Ordering::AcqRel);
        self.counts.closed.notify(usize::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn no_limits_admit_everyone() {
        let connections = Connections::default();
        let permits: Vec<_> = (0..1000)
            .map(|_| connections.admit(ip("::1")).unwrap())
            .collect();
        assert_eq!(connections.open(), 1000);
        drop(permits);
        assert_eq!(connections.open(), 0);
    }

    #[test]
    fn one_address_past_its_limit_is_refused_and_others_are_not() {
        let connections = Connections::new(ConnectionLimits::default().per_peer(2));
        let a = [
            connections.admit(ip("10.0.0.1")).unwrap(),
            connections.admit(ip("10.0.0.1")).unwrap(),
        ];
        assert_eq!(
            connections.admit(ip("10.0.0.1")).unwrap_err(),
            Refused::PerPeer
        );
        let _b = connections.admit(ip("10.0.0.2")).unwrap();
        assert_eq!(connections.open(), 3, "the refused one is not counted");
        drop(a);
        assert!(
            connections
                .counts
                .per_peer
                .lock()
                .unwrap()
                .get(&ip("10.0.0.1"))
                .is_none()
        );
        assert!(connections.admit(ip("10.0.0.1")).is_ok());
    }

    #[test]
    fn the_total_limit_holds_across_addresses_and_frees_on_close() {
        let connections = Connections::new(ConnectionLimits::default().total(2).per_peer(5));
        let first = connections.admit(ip("10.0.0.1")).unwrap();
        let _second = connections.admit(ip("10.0.0.2")).unwrap();
        assert_eq!(
            connections.admit(ip("10.0.0.3")).unwrap_err(),
            Refused::Total
        );
        assert_eq!(connections.open(), 2);
        drop(first);
        assert!(connections.admit(ip("10.0.0.3")).is_ok());
    }

    #[test]
    fn a_per_peer_limit_of_zero_admits_no_one_and_keeps_no_entry() {
        let connections = Connections::new(ConnectionLimits::default().per_peer(0));
        assert_eq!(
            connections.admit(ip("10.0.0.1")).unwrap_err(),
            Refused::PerPeer
        );
        assert!(connections.counts.per_peer.lock().unwrap().is_empty());
        assert_eq!(connections.open(), 0);
    }
}
