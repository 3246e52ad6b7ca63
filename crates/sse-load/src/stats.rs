//! A latency histogram and the median / min / max of repeated runs.

/// Sub-buckets per power of two: 64, so a recorded value is within 1.6 % of the truth.
const SUB_BITS: u32 = 6;
const SUB: usize = 1 << SUB_BITS;
/// Enough buckets for values up to 2^64 ns.
const BUCKETS: usize = SUB * (64 - SUB_BITS as usize + 2);

/// A log-linear histogram of nanoseconds (HdrHistogram's layout, with 64 sub-buckets).
#[derive(Clone, Debug)]
pub(crate) struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Histogram {
    pub(crate) fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }

    fn index(value: u64) -> usize {
        if value < 2 * SUB as u64 {
            return value as usize;
        }
        let exponent = 63 - value.leading_zeros();
        let shift = exponent - SUB_BITS;
        (((shift + 1) as usize) << SUB_BITS) + ((value >> shift) as usize & (SUB - 1))
    }

    /// The middle of a bucket.
    fn value(index: usize) -> u64 {
        if index < 2 * SUB {
            return index as u64;
        }
        let shift = (index >> SUB_BITS) as u32 - 1;
        let mantissa = ((index & (SUB - 1)) | SUB) as u64;
        (mantissa << shift) + (1 << shift) / 2
    }

    pub(crate) fn record(&mut self, value: u64) {
        self.counts[Histogram::index(value)] += 1;
        self.total += 1;
    }

    pub(crate) fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
    }

    /// The value at quantile `q` (0..=1); 0 when empty.
    pub(crate) fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Histogram::value(index);
            }
        }
        0
    }
}

/// The median, min and max of a figure over repetitions (NaN entries are ignored).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spread {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Spread {
    /// The spread of `values`; `None` when there is none (NaN aside).
    pub(crate) fn of(values: impl IntoIterator<Item = f64>) -> Option<Spread> {
        let mut sorted: Vec<f64> = values.into_iter().filter(|v| !v.is_nan()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let middle = sorted.len() / 2;
        let median = if sorted.len() % 2 == 1 {
            sorted[middle]
        } else {
            (sorted[middle - 1] + sorted[middle]) / 2.0
        };
        Some(Spread {
            median,
            min: sorted[0],
            max: sorted[sorted.len() - 1],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_close() {
        let mut last = 0;
        for value in (0..1_000_000u64).step_by(7).chain([u64::MAX / 2, u64::MAX]) {
            let index = Histogram::index(value);
            assert!(index >= last && index < BUCKETS, "{value}");
            last = index;
            let back = Histogram::value(index) as f64;
            assert!(
                (back - value as f64).abs() <= 0.016 * value as f64 + 1.0,
                "{value}"
            );
        }
    }

    #[test]
    fn quantiles_and_spreads() {
        let mut histogram = Histogram::new();
        for value in 1..=1000 {
            histogram.record(value * 1000);
        }
        let p50 = histogram.quantile(0.5) as f64;
        let p99 = histogram.quantile(0.99) as f64;
        assert!((p50 - 500_000.0).abs() < 10_000.0, "{p50}");
        assert!((p99 - 990_000.0).abs() < 20_000.0, "{p99}");
        let spread = Spread::of([3.0, f64::NAN, 1.0, 2.0]).unwrap();
        assert_eq!((spread.median, spread.min, spread.max), (2.0, 1.0, 3.0));
        assert!(Spread::of([f64::NAN]).is_none());
    }
}
