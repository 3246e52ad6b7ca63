//! Whether a peer still reads, from the windows it advertises.
//!
//! A peer that stops reading is found by the writer's own timer only once the
//! kernel's buffers are full: until then every write succeeds, and the peer's
//! kernel acknowledges every byte, read or not. What does show is its receive
//! window: bytes left unread take room in its receive buffer, so the window it
//! advertises narrows and stays narrow, while a reader's widens back once it has
//! read. [`PeerWatch`] follows that window through the samples a writer takes
//! ([`Window`], after each write and when a deadline comes) and says when the peer
//! has held unread bytes for the whole limit while more were written.
//!
//! Measured on Linux 6.18 over loopback, with the peer's default buffers (its
//! window moves in 1 KiB units there). Written as 1 KiB frames, one write each,
//! to a peer that reads nothing: 32 frames narrow its window by about 18 KiB, 64
//! by about 39 KiB; a reader's window stays at its widest, or grows. Written as
//! the hub batches them (a few writes of up to 16 KiB, which the peer's kernel
//! packs tightly), 34 KiB unread did not narrow it at all, 64 KiB did. Writes of a
//! few dozen bytes (keep-alive comments) do not narrow it until tens of KiB are
//! unread. What the peer's kernel absorbs without narrowing its window cannot be
//! told from reading from this side: that much (up to about half its receive
//! buffer) a stuck reader may hold unnoticed; past it, it is closed within the
//! limit however slowly it fills. The window at rest grows a little before it
//! narrows, so it is sampled at every write while it moves. Hence the slack below
//! (an acknowledgement sent before the application read shows the last write
//! held), and the second test for readers whose window narrowed for another
//! reason (the kernel's own accounting of its buffer can change).

use std::time::{Duration, Instant};

use crate::Window;

/// Units of the peer's window a reader may seem to hold whatever it was sent: the
/// window moves by whole units (1 KiB on Linux's defaults), and an
/// acknowledgement sent as bytes arrive, before the application read them, shows
/// them held.
const SLACK_GRAINS: u64 = 2;

/// The slack a peer has whatever was written: [`SLACK_GRAINS`] units of its window.
fn min_slack(sample: Window) -> u64 {
    u64::from(sample.grain) * SLACK_GRAINS
}

/// How many bytes must be acknowledged while a peer seems behind before its
/// right window edge tells whether it read them.
const EVIDENCE: u64 = 8 * 1024;

/// Follows a peer's receive window (see the [module](self)). Time and samples
/// are passed in: no IO, no clock.
#[derive(Clone, Debug)]
pub struct PeerWatch {
    limit: Duration,
    /// The widest window the peer advertised while it kept up.
    widest: u32,
    /// The largest write since the last sample: an acknowledgement sent before
    /// the application read it shows that much held.
    largest_write: u64,
    behind: Option<Behind>,
}

/// Since when, and from where, a peer seems not to read.
#[derive(Clone, Copy, Debug)]
struct Behind {
    since: Instant,
    /// What it had acknowledged then.
    acked: u64,
    /// The window's right edge then: `acked + window`.
    edge: u64,
    /// Whether bytes were written since (its window had a chance to widen).
    wrote: bool,
}

/// What a [`PeerWatch`] makes of a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// The peer keeps up.
    Reading,
    /// The peer holds unread bytes: sample again at this instant (none: after the
    /// next write), when it is stuck unless it caught up meanwhile.
    Behind(Option<Instant>),
    /// The peer has held unread bytes for the whole limit while more were written.
    Stuck,
}

impl PeerWatch {
    /// A watch that calls a peer stuck once it has held unread bytes for `limit`.
    #[must_use]
    pub fn new(limit: Duration) -> Self {
        PeerWatch {
            limit,
            widest: 0,
            largest_write: 0,
            behind: None,
        }
    }

    /// `bytes` were written at `now` (the largest write since the last sample);
    /// `window` is a sample taken just after.
    pub fn wrote(&mut self, bytes: usize, window: Window, now: Instant) -> Verdict {
        self.largest_write = u64::try_from(bytes).unwrap_or(u64::MAX);
        if let Some(behind) = &mut self.behind {
            behind.wrote = true;
        }
        let verdict = self.judge(window, now);
        self.largest_write = 0;
        verdict
    }

    /// A sample taken at `now` without a write (a deadline came).
    pub fn observe(&mut self, sample: Window, now: Instant) -> Verdict {
        self.judge(sample, now)
    }

    /// Unread bytes the peer could hold beyond what `sample` shows and still be
    /// taken as reading, whatever was written: the least slack less what it holds.
    fn room(&self, sample: Window) -> u64 {
        min_slack(sample).saturating_sub(self.held(sample))
    }

    /// What the peer seems to hold unread in `sample`, against its widest window.
    fn held(&self, sample: Window) -> u64 {
        u64::from(self.widest.saturating_sub(sample.window))
    }

    fn judge(&mut self, sample: Window, now: Instant) -> Verdict {
        self.widest = self.widest.max(sample.window);
        let held = self.held(sample);
        let slack = min_slack(sample).max(self.largest_write.saturating_mul(2));
        if held <= slack {
            self.caught_up();
            return Verdict::Reading;
        }
        let edge = sample.acked + u64::from(sample.window);
        let Some(behind) = self.behind else {
            self.behind = Some(Behind {
                since: now,
                acked: sample.acked,
                edge,
                wrote: false,
            });
            return Verdict::Behind(None);
        };
        // Its window narrowed, but its right edge moved as far as it acknowledged:
        // it read all that came since, and its window is narrower for another
        // reason. That is its width now.
        let acked = sample.acked.saturating_sub(behind.acked);
        let moved = edge.saturating_sub(behind.edge);
        if acked >= EVIDENCE && moved + u64::from(sample.grain) >= acked {
            self.widest = sample.window;
            self.caught_up();
            return Verdict::Reading;
        }
        let deadline = behind.since + self.limit;
        match (behind.wrote, now >= deadline) {
            (true, true) => Verdict::Stuck,
            (true, false) => Verdict::Behind(Some(deadline)),
            (false, _) => Verdict::Behind(None),
        }
    }

    fn caught_up(&mut self) {
        self.behind = None;
        self.largest_write = 0;
    }
}

/// How often a busy connection's window is sampled while its peer keeps up: a
/// stuck reader is found within its limit either way, and a connection writing
/// thousands of times a second costs a few `getsockopt`s a second.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// When a writer samples its peer's window, around a [`PeerWatch`]: after the
/// first write, then while the peer keeps up and its window stays put, after a
/// write at most every [`SAMPLE_EVERY`], and only once enough was written since
/// the last sample to put it behind had it read none of it (a connection that
/// writes a small event every second costs a `getsockopt` every few dozen
/// events, not one each); once more at the end of that period, at the
/// [`deadline`](Self::deadline), for the writes it let pass; after every
/// write while its window moves (a peer that stops reading lets it grow a little,
/// then narrows it: the widest is what its narrowing is measured from) or it
/// seems behind; and at the deadline its verdict sets. The writer takes the samples ([`peer_window`](crate::peer_window))
/// and runs the timer.
#[derive(Clone, Debug)]
pub struct PeerSampler {
    watch: PeerWatch,
    /// A period after the last sample: the first write from then on is sampled
    /// (none yet: the first write is). Kept rather than the sample's instant, so
    /// that a write costs a comparison.
    due: Option<Instant>,
    /// The largest write since.
    largest: usize,
    /// Bytes written since.
    unsampled: usize,
    /// Unread bytes the peer could hold beyond what it held at the last sample
    /// and still be taken as reading: until more were written, it cannot be
    /// behind, whatever its window says.
    room: usize,
    /// Whether the peer seemed behind at the last sample.
    behind: bool,
    /// The window at the last sample, and whether it differed from the one before.
    window: Option<u32>,
    moving: bool,
    deadline: Option<Instant>,
}

impl PeerSampler {
    /// Calls a peer stuck once it has held unread bytes for `limit` while more
    /// were written.
    #[must_use]
    pub fn new(limit: Duration) -> Self {
        PeerSampler {
            watch: PeerWatch::new(limit),
            due: None,
            largest: 0,
            unsampled: 0,
            room: 0,
            behind: false,
            window: None,
            moving: false,
            deadline: None,
        }
    }

    /// `bytes` were written at `now`: whether to sample now.
    pub fn wrote(&mut self, bytes: usize, now: Instant) -> bool {
        self.largest = self.largest.max(bytes);
        self.unsampled = self.unsampled.saturating_add(bytes);
        let Some(due) = self.due else {
            return true;
        };
        if self.behind || self.moving {
            return true;
        }
        if self.unsampled <= self.room {
            return false;
        }
        if now >= due {
            return true;
        }
        // Sampled at the end of the period instead, should no write come by then.
        self.deadline.get_or_insert(due);
        false
    }

    /// When to sample without a write: the peer seems behind, or writes went
    /// unsampled; none while it keeps up and every write was sampled.
    #[must_use]
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// A sample taken at `now` (after [`wrote`](Self::wrote) said so, or at the
    /// [`deadline`](Self::deadline)).
    pub fn sampled(&mut self, window: Window, now: Instant) -> Verdict {
        self.due = Some(now + SAMPLE_EVERY);
        self.moving = self.window.is_some_and(|last| last != window.window);
        self.window = Some(window.window);
        let largest = std::mem::take(&mut self.largest);
        self.unsampled = 0;
        let verdict = if largest > 0 {
            self.watch.wrote(largest, window, now)
        } else {
            self.watch.observe(window, now)
        };
        self.room = usize::try_from(self.watch.room(window)).unwrap_or(usize::MAX);
        self.behind = matches!(verdict, Verdict::Behind(_));
        self.deadline = match verdict {
            Verdict::Behind(Some(deadline)) => Some(deadline),
            // Behind, but nothing written since: sampled at each write from now
            // on, and once a limit from now.
            Verdict::Behind(None) => Some(now + self.watch.limit.max(SAMPLE_EVERY)),
            Verdict::Reading | Verdict::Stuck => None,
        };
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(2);

    fn window(window: u32, acked: u64) -> Window {
        Window {
            window,
            acked,
            grain: 1024,
        }
    }

    fn at(start: Instant, millis: u64) -> Instant {
        start + Duration::from_millis(millis)
    }

    #[test]
    fn a_reader_whose_window_widens_back_keeps_reading() {
        let start = Instant::now();
        let mut watch = PeerWatch::new(LIMIT);
        let mut acked = 0;
        for i in 0..100 {
            acked += 1024;
            // Acknowledged before it was read: one write held, then read.
            let verdict = watch.wrote(1024, window(65_536 - 1024, acked), at(start, i * 100));
            assert_eq!(verdict, Verdict::Reading);
            assert_eq!(
                watch.observe(window(65_536, acked), at(start, i * 100 + 50)),
                Verdict::Reading
            );
        }
    }

    #[test]
    fn a_peer_that_holds_what_it_got_while_more_comes_is_stuck_after_the_limit() {
        let start = Instant::now();
        let mut watch = PeerWatch::new(LIMIT);
        let mut acked = 0;
        let mut verdicts = Vec::new();
        // 16 writes of 1 KiB, its window narrowing by half of each (as measured).
        for i in 0..16 {
            acked += 1024;
            verdicts.push(watch.wrote(
                1024,
                window(71_680 - 512 * (i as u32 + 1), acked),
                at(start, i * 10),
            ));
        }
        assert_eq!(verdicts[0], Verdict::Reading);
        assert!(
            matches!(verdicts[15], Verdict::Behind(Some(_))),
            "{verdicts:?}"
        );
        // Keep-alives: 3 bytes each, which its window does not show.
        let mut verdict = Verdict::Reading;
        for second in 1..=3 {
            acked += 3;
            verdict = watch.wrote(
                3,
                window(71_680 - 8 * 1024, acked),
                at(start, second * 1000),
            );
        }
        assert_eq!(verdict, Verdict::Stuck);
    }

    #[test]
    fn a_peer_behind_is_not_stuck_until_something_more_was_written() {
        let start = Instant::now();
        let mut watch = PeerWatch::new(LIMIT);
        assert_eq!(watch.observe(window(65_536, 0), start), Verdict::Reading);
        // A big write acknowledged before it was read, then silence.
        assert_eq!(
            watch.observe(window(65_536 - 32 * 1024, 32 * 1024), at(start, 10)),
            Verdict::Behind(None)
        );
        assert_eq!(
            watch.observe(window(65_536 - 32 * 1024, 32 * 1024), at(start, 10_000)),
            Verdict::Behind(None)
        );
        // The next write's acknowledgement shows it read the first.
        assert_eq!(
            watch.wrote(3, window(65_536, 32 * 1024 + 3), at(start, 10_001)),
            Verdict::Reading
        );
    }

    #[test]
    fn a_reader_whose_window_narrowed_for_good_is_taken_at_its_new_width() {
        let start = Instant::now();
        let mut watch = PeerWatch::new(LIMIT);
        assert_eq!(watch.observe(window(100_000, 0), start), Verdict::Reading);
        let narrow = 100_000 - 20_000;
        let mut acked = 0;
        let mut verdict = Verdict::Reading;
        for i in 1..=10 {
            acked += 1024;
            verdict = watch.wrote(1024, window(narrow, acked), at(start, i * 100));
            if verdict == Verdict::Reading {
                break;
            }
        }
        assert_eq!(
            verdict,
            Verdict::Reading,
            "its edge moved as far as it acknowledged"
        );
        assert_eq!(
            watch.wrote(1024, window(narrow, acked + 1024), at(start, 5000)),
            Verdict::Reading
        );
    }

    #[test]
    fn a_sampler_samples_the_first_write_then_rarely_while_the_peer_keeps_up() {
        let start = Instant::now();
        let mut sampler = PeerSampler::new(LIMIT);
        assert!(sampler.wrote(100, start));
        assert_eq!(
            sampler.sampled(window(65_536, 100), start),
            Verdict::Reading
        );
        assert!(!sampler.wrote(100, at(start, 10)));
        assert!(!sampler.wrote(5000, at(start, 20)));
        assert_eq!(
            sampler.deadline(),
            Some(at(start, 250)),
            "those writes, sampled then"
        );
        assert!(sampler.wrote(100, at(start, 250)));
        // The largest write since the last sample counts: 5000 bytes held are slack.
        assert_eq!(
            sampler.sampled(window(65_536 - 5000, 5300), at(start, 250)),
            Verdict::Reading
        );
        assert_eq!(sampler.deadline(), None);
        // Its window moved: the next write is sampled, however soon.
        assert!(sampler.wrote(100, at(start, 260)));
        assert_eq!(
            sampler.sampled(window(65_536, 5400), at(start, 260)),
            Verdict::Reading
        );
        assert!(sampler.wrote(100, at(start, 270)));
        assert_eq!(
            sampler.sampled(window(65_536, 5500), at(start, 270)),
            Verdict::Reading
        );
        assert!(!sampler.wrote(100, at(start, 280)), "its window stayed put");
    }

    #[test]
    fn a_sampler_samples_every_write_while_the_peer_seems_behind() {
        let start = Instant::now();
        let mut sampler = PeerSampler::new(LIMIT);
        assert!(sampler.wrote(1024, start));
        assert_eq!(
            sampler.sampled(window(65_536, 1024), start),
            Verdict::Reading
        );
        assert!(sampler.wrote(3000, at(start, 300)));
        assert_eq!(
            sampler.sampled(window(50_000, 4024), at(start, 300)),
            Verdict::Behind(None)
        );
        assert_eq!(sampler.deadline(), Some(at(start, 2300)));
        assert!(sampler.wrote(3, at(start, 310)));
        assert_eq!(
            sampler.sampled(window(50_000, 4027), at(start, 310)),
            Verdict::Behind(Some(at(start, 2300)))
        );
        assert_eq!(
            sampler.sampled(window(50_000, 4027), at(start, 2300)),
            Verdict::Stuck
        );
    }

    #[test]
    fn a_sampler_skips_writes_too_small_to_put_the_peer_behind() {
        let start = Instant::now();
        let mut sampler = PeerSampler::new(LIMIT);
        assert!(sampler.wrote(70, start));
        assert_eq!(sampler.sampled(window(65_536, 70), start), Verdict::Reading);
        // A small event a second: 2 KiB of slack take 29 of them to fill.
        let mut sampled = Vec::new();
        for second in 1..=60 {
            let now = at(start, second * 1000);
            if sampler.wrote(70, now) {
                let verdict = sampler.sampled(window(65_536, 70 * (second + 1)), now);
                assert_eq!(verdict, Verdict::Reading);
                sampled.push(second);
            }
        }
        assert_eq!(sampled, [30, 60]);
        assert_eq!(
            sampler.deadline(),
            None,
            "nothing left unsampled to look at"
        );

        // A peer that held some already has less room before it is behind.
        let mut sampler = PeerSampler::new(LIMIT);
        assert!(sampler.wrote(1024, start));
        assert_eq!(
            sampler.sampled(window(65_536, 1024), start),
            Verdict::Reading
        );
        assert!(sampler.wrote(3000, at(start, 300)));
        assert_eq!(
            sampler.sampled(window(64_512, 4024), at(start, 300)),
            Verdict::Reading,
            "1 KiB held is within the slack"
        );
        // Its window moved: sampled again; it stays put, 1 KiB held.
        assert!(sampler.wrote(10, at(start, 310)));
        assert_eq!(
            sampler.sampled(window(64_512, 4034), at(start, 310)),
            Verdict::Reading
        );
        assert!(!sampler.wrote(1000, at(start, 600)));
        assert!(sampler.wrote(100, at(start, 700)), "past the 1 KiB left");
    }

    #[test]
    fn a_full_peer_is_stuck_after_the_limit() {
        let start = Instant::now();
        let mut watch = PeerWatch::new(LIMIT);
        assert_eq!(
            watch.wrote(1024, window(65_536, 1024), start),
            Verdict::Reading
        );
        assert_eq!(
            watch.wrote(1024, window(0, 2048), at(start, 10)),
            Verdict::Behind(None)
        );
        assert_eq!(
            watch.wrote(1, window(0, 2048), at(start, 20)),
            Verdict::Behind(Some(at(start, 2010)))
        );
        assert_eq!(
            watch.observe(window(0, 2048), at(start, 2010)),
            Verdict::Stuck
        );
    }
}
