//! A client's own bounded queue: the frames sent to it alone
//! ([`Hub::send_to`](super::Hub::send_to)), each with its sequence, and what a full
//! queue does under the lag policy; `client.rs` holds one per client that was ever
//! sent a frame of its own.
//!
//! Layer 1 of the hub: logs.

use bytes::Bytes;

use super::config::LagPolicy;

/// A frame addressed to one client alone, with its sequence.
pub(crate) type Direct = (u64, Bytes);

/// A client's own bounded queue.
#[derive(Debug)]
pub(crate) struct DirectQueue {
    sender: async_channel::Sender<Direct>,
    receiver: async_channel::Receiver<Direct>,
    /// A frame taken from the queue but not yet delivered (merging needs to look at
    /// the head of the queue).
    peeked: Option<Direct>,
}

/// A frame refused because the client's queue is full, under
/// [`LagPolicy::Disconnect`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct QueueFull;

impl DirectQueue {
    pub(crate) fn new(capacity: usize) -> Box<Self> {
        let (sender, receiver) = async_channel::bounded(capacity);
        Box::new(DirectQueue {
            sender,
            receiver,
            peeked: None,
        })
    }

    /// Queues `frame`; when the queue is full, drops its oldest frame (the peeked
    /// one first, being the oldest) under [`LagPolicy::DropOldest`] and returns
    /// `true`, or refuses the frame under [`LagPolicy::Disconnect`].
    pub(crate) fn send(&mut self, frame: Direct, policy: LagPolicy) -> Result<bool, QueueFull> {
        let Err(full) = self.sender.try_send(frame) else {
            return Ok(false);
        };
        match policy {
            LagPolicy::Disconnect => Err(QueueFull),
            LagPolicy::DropOldest => {
                // The oldest frame goes: the peeked one, whose place the queue's
                // head takes, or else the queue's head. Either way one frame left
                // the queue, so there is room now.
                let head = self.receiver.try_recv().ok();
                if self.peeked.is_some() {
                    self.peeked = head;
                }
                let _ = self.sender.try_send(full.into_inner());
                Ok(true)
            }
        }
    }

    /// The head of the queue, taken out to be looked at.
    pub(crate) fn peek(&mut self) -> Option<&Direct> {
        if self.peeked.is_none() {
            self.peeked = self.receiver.try_recv().ok();
        }
        self.peeked.as_ref()
    }

    /// Takes the frame [`peek`](Self::peek) looked at.
    pub(crate) fn take_peeked(&mut self) -> Option<Direct> {
        self.peeked.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_its_oldest_frame() {
        let frame = |n: u8| Bytes::from(vec![n]);
        let mut queue = DirectQueue::new(2);
        assert_eq!(queue.send((1, frame(1)), LagPolicy::DropOldest), Ok(false));
        assert_eq!(queue.send((2, frame(2)), LagPolicy::DropOldest), Ok(false));
        assert_eq!(queue.send((3, frame(3)), LagPolicy::DropOldest), Ok(true));
        let mut left = Vec::new();
        while queue.peek().is_some() {
            left.extend(queue.take_peeked().map(|(sequence, _)| sequence));
        }
        assert_eq!(left, [2, 3]);
    }

    #[test]
    fn a_full_queue_drops_a_peeked_frame_first_and_keeps_the_new_one() {
        let frame = |n: u8| Bytes::from(vec![n]);
        let mut queue = DirectQueue::new(2);
        assert_eq!(queue.send((1, frame(1)), LagPolicy::DropOldest), Ok(false));
        assert_eq!(queue.send((2, frame(2)), LagPolicy::DropOldest), Ok(false));
        assert_eq!(queue.peek().map(|(sequence, _)| *sequence), Some(1));
        // Frame 1 is peeked, out of the queue: there is room for one more.
        assert_eq!(queue.send((3, frame(3)), LagPolicy::DropOldest), Ok(false));
        assert_eq!(queue.send((4, frame(4)), LagPolicy::DropOldest), Ok(true));
        assert_eq!(queue.peek().map(|(sequence, _)| *sequence), Some(2));
        let mut left = Vec::new();
        while queue.peek().is_some() {
            left.extend(queue.take_peeked().map(|(sequence, _)| sequence));
        }
        assert_eq!(left, [2, 3, 4], "1, the oldest, dropped; 4 kept");
    }
}
