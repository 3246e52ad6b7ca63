//! The client registry's entries: what the hub keeps per connected client.

use std::task::Waker;

use bytes::Bytes;

use super::hooks::{ClientInfo, DisconnectReason};
use super::log::Cursor;

/// A client's place in the registry: a slab index plus the generation of the entry,
/// so a key kept after its client left never reaches a newer client in the same slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey {
    pub(crate) index: usize,
    pub(crate) generation: u64,
}

/// Frames addressed to this client alone, each with its sequence.
pub(crate) type Direct = (u64, Bytes);

#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) generation: u64,
    pub(crate) info: ClientInfo,
    /// Its place in the broadcast log.
    pub(crate) broadcast: LogCursor,
    /// Its place in each topic's log, by the log's index in the hub's topic slab.
    pub(crate) topics: Box<[(usize, LogCursor)]>,
    /// Its own queue, made on the first frame sent to it alone (boxed: most
    /// clients never get one).
    pub(crate) direct: Option<Box<DirectQueue>>,
    /// Set while the stream waits for something to read.
    pub(crate) waker: Option<Waker>,
    pub(crate) end: End,
    /// Nothing was delivered since the last keep-alive tick.
    pub(crate) idle: bool,
    /// A keep-alive comment is owed.
    pub(crate) keep_alive_due: bool,
    /// Its stream waits for the replay source; its cursors are placed when it
    /// resumes.
    pub(crate) awaiting_replay: bool,
}

/// A client's own bounded queue.
#[derive(Debug)]
pub(crate) struct DirectQueue {
    pub(crate) sender: async_channel::Sender<Direct>,
    pub(crate) receiver: async_channel::Receiver<Direct>,
    /// A frame taken from the queue but not yet delivered (merging needs to look at
    /// the head of the queue).
    pub(crate) peeked: Option<Direct>,
}

impl DirectQueue {
    pub(crate) fn new(capacity: usize) -> Box<Self> {
        let (sender, receiver) = async_channel::bounded(capacity);
        Box::new(DirectQueue {
            sender,
            receiver,
            peeked: None,
        })
    }

    /// The head of the queue, taken out to be looked at.
    pub(crate) fn peek(&mut self) -> Option<&Direct> {
        if self.peeked.is_none() {
            self.peeked = self.receiver.try_recv().ok();
        }
        self.peeked.as_ref()
    }
}

/// A reader's cursor in one log, and whether it is on the log's waiting list.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LogCursor {
    pub(crate) cursor: Cursor,
    pub(crate) listed: bool,
}

impl LogCursor {
    pub(crate) fn new(cursor: Cursor) -> Self {
        LogCursor {
            cursor,
            listed: false,
        }
    }
}

/// Whether, and when, a client's stream ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    Open,
    /// After every frame up to this sequence (a graceful shutdown).
    After(u64, DisconnectReason),
    /// At once.
    Now(DisconnectReason),
}

impl Client {
    /// Ends the stream at once, unless it is already ending; returns the waker to wake.
    pub(crate) fn end_now(&mut self, reason: DisconnectReason) -> Option<Waker> {
        if !matches!(self.end, End::Now(_)) {
            self.end = End::Now(reason);
        }
        self.waker.take()
    }
}
