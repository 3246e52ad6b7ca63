//! How the hub's parts name each other without holding each other: a client by its
//! [`ClientKey`] (the registry's), a log by its [`LogRef`] (the logs'). Plain
//! values, so the logs' waiting lists and eviction order can hold them.
//!
//! Layer 0 of the hub: words.

/// A client's place in the registry: a slab index plus the generation of the entry,
/// so a key kept after its client left never reaches a newer client in the same slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey {
    /// The client's slot in the slab.
    pub(crate) index: usize,
    /// The generation of the entry in that slot.
    pub(crate) generation: u64,
}

/// Which log: the broadcast log, or a topic's by its index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LogRef {
    /// The log every client reads.
    Broadcast,
    /// A topic's log, by its index in the topic slab.
    Topic(usize),
}
