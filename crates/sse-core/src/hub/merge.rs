//! The merge: a client's sources (its own queue, the broadcast log, its topics'
//! logs), read in one order, the hub's sequence, a run at a time.
//!
//! Layer 1 of the hub: logs.

/// What to read next: from `source` (the one whose next frame has the lowest
/// sequence), every frame with a sequence below `stop` (the lowest next sequence
/// of the others, or one past the client's end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run<S> {
    pub(crate) source: S,
    pub(crate) stop: u64,
}

/// Picks the next [`Run`] from the sources' next sequences (`heads`, one per
/// source that has a frame ready), for a client that ends after sequence `limit`:
/// `None` when nothing is ready at or below it.
///
/// Sequences are unique hub-wide, so taking the run from the lowest head up to the
/// second-lowest keeps every client in the one order, and a client that reads one
/// source alone takes everything ready in one run.
#[inline]
pub(crate) fn next_run<S>(heads: impl IntoIterator<Item = (u64, S)>, limit: u64) -> Option<Run<S>> {
    let mut best: Option<(u64, S)> = None;
    let mut second = u64::MAX;
    for (sequence, source) in heads {
        match &best {
            Some((lowest, _)) if sequence >= *lowest => second = second.min(sequence),
            _ => {
                if let Some((lowest, _)) = best.replace((sequence, source)) {
                    second = second.min(lowest);
                }
            }
        }
    }
    let (lowest, source) = best?;
    (lowest <= limit).then(|| Run {
        source,
        stop: second.min(limit.saturating_add(1)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_source_takes_everything_up_to_the_limit() {
        assert_eq!(
            next_run([(5, 'b')], u64::MAX),
            Some(Run {
                source: 'b',
                stop: u64::MAX
            })
        );
        assert_eq!(
            next_run([(5, 'b')], 7),
            Some(Run {
                source: 'b',
                stop: 8
            })
        );
        assert_eq!(next_run([(5, 'b')], 4), None);
        assert_eq!(next_run(std::iter::empty::<(u64, char)>(), 9), None);
    }

    #[test]
    fn the_lowest_head_runs_up_to_the_next_lowest() {
        let heads = [(9, 'a'), (3, 'b'), (6, 'c')];
        assert_eq!(
            next_run(heads, u64::MAX),
            Some(Run {
                source: 'b',
                stop: 6
            })
        );
    }

    proptest! {
        /// Against a model: merging disjoint sorted sources a run at a time, by
        /// `next_run`, gives every sequence up to the limit, once, in order (what
        /// sorting them all gives), whatever the room taken per run.
        #[test]
        fn merging_runs_is_sorting(
            all in prop::collection::btree_set(0u64..500, 0..80),
            owners in prop::collection::vec(0usize..4, 80),
            limit in prop_oneof![Just(u64::MAX), 0u64..500],
            room in 1usize..8,
        ) {
            let mut sources: Vec<Vec<u64>> = vec![Vec::new(); 4];
            for (sequence, owner) in all.iter().zip(&owners) {
                sources[*owner].push(*sequence);
            }
            let mut next = [0usize; 4];
            let mut merged = Vec::new();
            loop {
                let heads = (0..4).filter_map(|s| sources[s].get(next[s]).map(|&q| (q, s)));
                let Some(Run { source, stop }) = next_run(heads, limit) else { break };
                let run = sources[source][next[source]..]
                    .iter()
                    .take(room)
                    .take_while(|&&q| q < stop)
                    .count();
                prop_assert!(run > 0, "a run always takes its head");
                merged.extend_from_slice(&sources[source][next[source]..next[source] + run]);
                next[source] += run;
            }
            let model: Vec<u64> = all.into_iter().filter(|&q| q <= limit).collect();
            prop_assert_eq!(merged, model);
        }
    }
}
