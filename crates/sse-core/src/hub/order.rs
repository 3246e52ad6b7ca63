//! The order in which the hub-wide history budget evicts: which log loses its
//! oldest frames first.
//!
//! Logs with history are kept in two lists, each ordered by their last publish
//! (oldest first): topic logs that no client reads, then the others (the broadcast
//! log and the topics clients read). When a publish takes the history beyond
//! [`HubConfig::history_budget`](super::HubConfig::history_budget), the hub evicts
//! the oldest frames of the first log of the first list, then of the next, and so
//! on: history that nobody is reading, and that nobody published to for longest,
//! goes first. The lists are linked through the logs themselves (a log is in at
//! most one), so moving a log to the end on each publish costs a few stores, and
//! no allocation: publishing stays O(1), and each frame is evicted at most once.
//!
//! A log joins a list when it is published to, moves between the lists when its
//! first reader comes or its last one leaves, and leaves them when it is emptied
//! or freed.
//!
//! Layer 1 of the hub: logs. It sees a log only through [`Linked`] (which `log.rs`
//! implements), so it imports nothing from `log.rs`, which holds its [`Links`].

use slab::Slab;

use super::keys::LogRef;

/// A log as the eviction order sees it: which list it belongs in, and its
/// [`Links`], which the log holds and only the order writes.
pub(crate) trait Linked {
    /// Whether it is a topic's log that no client reads.
    fn is_unread_topic(&self) -> bool;

    /// Its neighbours in its list.
    fn links_mut(&mut self) -> &mut Links;
}

/// Which list a log is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tier {
    /// Topic logs no client reads: evicted first, and freed when idle.
    Unread = 0,
    /// The broadcast log and the topic logs clients read.
    Read = 1,
}

impl Tier {
    /// Both, in the order they are evicted from.
    pub(crate) const EVICTION_ORDER: [Tier; 2] = [Tier::Unread, Tier::Read];

    /// The list `log` belongs in.
    #[inline]
    pub(crate) fn of(log: &impl Linked) -> Tier {
        if log.is_unread_topic() {
            Tier::Unread
        } else {
            Tier::Read
        }
    }
}

/// A log's neighbours in its list.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Links {
    /// The list it is in, if any.
    tier: Option<Tier>,
    /// The log published to just before it (toward the oldest).
    older: Option<LogRef>,
    /// The log published to just after it (toward the newest).
    newer: Option<LogRef>,
}

/// The two lists' ends.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Order {
    oldest: [Option<LogRef>; 2],
    newest: [Option<LogRef>; 2],
}

/// The log `log_ref` names, if it exists.
#[inline]
pub(crate) fn log_mut<'a, L>(
    broadcast: &'a mut L,
    topics: &'a mut Slab<L>,
    log_ref: LogRef,
) -> Option<&'a mut L> {
    match log_ref {
        LogRef::Broadcast => Some(broadcast),
        LogRef::Topic(index) => topics.get_mut(index),
    }
}

impl Order {
    /// The log of `tier` published to longest ago.
    pub(crate) fn oldest(&self, tier: Tier) -> Option<LogRef> {
        self.oldest[tier as usize]
    }

    /// Puts `log_ref` at the newest end of the list it belongs in now (moving it
    /// from where it was). O(1); nothing when it is there already.
    pub(crate) fn touch<L: Linked>(
        &mut self,
        broadcast: &mut L,
        topics: &mut Slab<L>,
        log_ref: LogRef,
    ) {
        let Some(log) = log_mut(broadcast, topics, log_ref) else {
            return;
        };
        let tier = Tier::of(log);
        if log.links_mut().tier == Some(tier) && self.newest[tier as usize] == Some(log_ref) {
            return;
        }
        self.remove(broadcast, topics, log_ref);
        let newest = self.newest[tier as usize];
        if let Some(log) = log_mut(broadcast, topics, log_ref) {
            *log.links_mut() = Links {
                tier: Some(tier),
                older: newest,
                newer: None,
            };
        }
        match newest.and_then(|newest| log_mut(broadcast, topics, newest)) {
            Some(newest) => newest.links_mut().newer = Some(log_ref),
            None => self.oldest[tier as usize] = Some(log_ref),
        }
        self.newest[tier as usize] = Some(log_ref);
    }

    /// Takes `log_ref` out of its list, if it is in one. O(1).
    pub(crate) fn remove<L: Linked>(
        &mut self,
        broadcast: &mut L,
        topics: &mut Slab<L>,
        log_ref: LogRef,
    ) {
        let Some(log) = log_mut(broadcast, topics, log_ref) else {
            return;
        };
        let Links { tier, older, newer } = std::mem::take(log.links_mut());
        let Some(tier) = tier else {
            return;
        };
        match older.and_then(|older| log_mut(broadcast, topics, older)) {
            Some(older) => older.links_mut().newer = newer,
            None => self.oldest[tier as usize] = newer,
        }
        match newer.and_then(|newer| log_mut(broadcast, topics, newer)) {
            Some(newer) => newer.links_mut().older = older,
            None => self.newest[tier as usize] = older,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log as the order sees it, and no more.
    #[derive(Default)]
    struct TestLog {
        unread_topic: bool,
        links: Links,
    }

    impl Linked for TestLog {
        fn is_unread_topic(&self) -> bool {
            self.unread_topic
        }

        fn links_mut(&mut self) -> &mut Links {
            &mut self.links
        }
    }

    fn topic() -> TestLog {
        TestLog {
            unread_topic: true,
            links: Links::default(),
        }
    }

    fn walk(
        order: &Order,
        broadcast: &mut TestLog,
        topics: &mut Slab<TestLog>,
        tier: Tier,
    ) -> Vec<LogRef> {
        let mut seen = Vec::new();
        let mut next = order.oldest(tier);
        while let Some(log_ref) = next {
            seen.push(log_ref);
            next = log_mut(broadcast, topics, log_ref).and_then(|log| log.links.newer);
        }
        seen
    }

    #[test]
    fn logs_move_to_the_newest_end_and_between_lists() {
        let mut broadcast = TestLog::default();
        let mut topics = Slab::new();
        let a = LogRef::Topic(topics.insert(topic()));
        let b = LogRef::Topic(topics.insert(topic()));
        let mut order = Order::default();
        for log_ref in [a, LogRef::Broadcast, b, a] {
            order.touch(&mut broadcast, &mut topics, log_ref);
        }
        assert_eq!(
            walk(&order, &mut broadcast, &mut topics, Tier::Unread),
            [b, a]
        );
        assert_eq!(
            walk(&order, &mut broadcast, &mut topics, Tier::Read),
            [LogRef::Broadcast]
        );
        // A reader comes to `b`: it moves to the other list.
        topics[1].unread_topic = false;
        order.touch(&mut broadcast, &mut topics, b);
        assert_eq!(walk(&order, &mut broadcast, &mut topics, Tier::Unread), [a]);
        assert_eq!(
            walk(&order, &mut broadcast, &mut topics, Tier::Read),
            [LogRef::Broadcast, b]
        );
        order.remove(&mut broadcast, &mut topics, LogRef::Broadcast);
        order.remove(&mut broadcast, &mut topics, a);
        order.remove(&mut broadcast, &mut topics, a);
        assert_eq!(walk(&order, &mut broadcast, &mut topics, Tier::Unread), []);
        assert_eq!(walk(&order, &mut broadcast, &mut topics, Tier::Read), [b]);
    }
}
