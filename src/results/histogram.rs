//! A fixed-bucket latency histogram: the only per-label store of latencies, so memory does not
//! grow with the number of samples.
//!
//! Why buckets and not a vector of every latency: a vector costs 4 bytes a sample (400 MB for
//! 100 M samples, a few hours of a busy test); this costs at most 3,328 counters per label,
//! however long the test ran. Values below 256 ms are counted exactly; above, each power of
//! two is cut into 128 buckets, so a bucket is at most 1/128 of its lower bound wide and the
//! value reported (the bucket's middle) is within 0.4 % of every latency in it — well inside
//! the 1 % a percentile in a results message needs. The counter vector grows only up to the
//! largest latency seen (a 60 s maximum needs 1,280 counters, 10 KB).

use serde::{Deserialize, Serialize};

/// log2 of the buckets per power of two.
const SUB_BITS: u32 = 7;
const SUB_BUCKETS: usize = 1 << SUB_BITS;
/// Values below this have a bucket each.
const EXACT_BELOW: u32 = 2 << SUB_BITS;

#[derive(Clone, Debug, Default)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    total: u64,
}

/// Which bucket holds `value` (milliseconds).
fn bucket_of(value: u32) -> usize {
    if value < EXACT_BELOW {
        return value as usize;
    }
    let exponent = 31 - value.leading_zeros(); // ≥ SUB_BITS + 1
    let shift = exponent - SUB_BITS;
    let sub = (value >> shift) as usize - SUB_BUCKETS;
    EXACT_BELOW as usize + (shift as usize - 1) * SUB_BUCKETS + sub
}

/// The value reported for a bucket: its middle (its only value below `EXACT_BELOW`).
fn value_of(bucket: usize) -> u64 {
    if bucket < EXACT_BELOW as usize {
        return bucket as u64;
    }
    let above = bucket - EXACT_BELOW as usize;
    let shift = (above / SUB_BUCKETS + 1) as u32;
    let lower = ((SUB_BUCKETS + above % SUB_BUCKETS) as u64) << shift;
    lower + (1u64 << shift) / 2
}

impl LatencyHistogram {
    pub fn record(&mut self, elapsed_ms: u32) {
        let bucket = bucket_of(elapsed_ms);
        if bucket >= self.counts.len() {
            self.counts.resize(bucket + 1, 0);
        }
        self.counts[bucket] += 1;
        self.total += 1;
    }

    pub fn merge(&mut self, other: &LatencyHistogram) {
        if other.counts.len() > self.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// The nearest-rank percentile: the smallest latency with at least `p` of the samples at or
    /// below it (`p` in 0..=1); 0 when there are no samples.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((p * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return value_of(bucket);
            }
        }
        value_of(self.counts.len() - 1)
    }

    pub fn percentiles(&self) -> Percentiles {
        Percentiles {
            p50_ms: self.percentile(0.50),
            p95_ms: self.percentile(0.95),
            p99_ms: self.percentile(0.99),
        }
    }
}

/// p50/p95/p99 in milliseconds, nearest rank, within 0.4 % (exact below 256 ms).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub p99_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_latencies_are_exact_and_percentiles_are_nearest_rank() {
        let mut histogram = LatencyHistogram::default();
        for value in 1..=100 {
            histogram.record(value);
        }
        assert_eq!(histogram.percentile(0.50), 50);
        assert_eq!(histogram.percentile(0.95), 95);
        assert_eq!(histogram.percentile(0.99), 99);
        assert_eq!(histogram.percentile(1.0), 100);
        assert_eq!(histogram.percentile(0.0), 1);
    }

    #[test]
    fn every_value_comes_back_within_half_a_percent() {
        let mut value: u64 = 1;
        while value <= u32::MAX as u64 {
            let v = value as u32;
            let mut histogram = LatencyHistogram::default();
            histogram.record(v);
            let back = histogram.percentile(0.5) as f64;
            let error = (back - v as f64).abs() / v as f64;
            assert!(error <= 0.004, "{v} came back as {back}");
            value = value * 3 / 2 + 1;
        }
    }

    #[test]
    fn buckets_are_contiguous_and_ordered() {
        let mut last = 0;
        for v in [255u32, 256, 257, 511, 512, 1000, 65_535, 65_536, u32::MAX] {
            let bucket = bucket_of(v);
            assert!(bucket >= last, "{v}");
            last = bucket;
        }
        assert_eq!(bucket_of(u32::MAX), 3327);
        assert_eq!(bucket_of(256), 256);
        assert_eq!(bucket_of(258), 257);
    }

    #[test]
    fn merging_adds_counts() {
        let (mut a, mut b) = (LatencyHistogram::default(), LatencyHistogram::default());
        a.record(10);
        b.record(5000);
        b.record(20);
        a.merge(&b);
        assert_eq!(a.total(), 3);
        assert_eq!(a.percentile(0.33), 10);
        assert_eq!(a.percentile(0.66), 20);
        assert!((a.percentile(1.0) as i64 - 5000).abs() <= 20);
    }
}
