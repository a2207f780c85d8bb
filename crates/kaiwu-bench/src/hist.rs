//! A latency histogram in the HDR style: values (microseconds) fall into log-linear buckets of
//! 128 steps per power of two, so a reported percentile is within 1/128 (0.8 %) of the true
//! value. Buckets are atomic counters, so many tasks record into one histogram without locks.

use std::sync::atomic::{AtomicU64, Ordering};

/// Steps per power of two.
const SUB: u64 = 128;
/// Values are clamped below 2^40 us (about 12 days).
const MAX_VALUE: u64 = (1 << 40) - 1;

/// Bucket of value `v`: `v` itself below 256, else `e * 128 + (v >> e)` where `v >> e` is in
/// 128..256.
fn index(v: u64) -> usize {
    let v = v.min(MAX_VALUE);
    if v < 2 * SUB {
        return v as usize;
    }
    let e = u64::from(63 - v.leading_zeros()) - 7;
    (e * SUB + (v >> e)) as usize
}

/// Smallest value that falls into bucket `i`.
fn lower(i: usize) -> u64 {
    let i = i as u64;
    if i < 2 * SUB {
        return i;
    }
    let e = i / SUB - 1;
    (i - e * SUB) << e
}

/// Concurrent histogram of microsecond values.
#[derive(Debug)]
pub(crate) struct Histogram {
    buckets: Vec<AtomicU64>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..=index(MAX_VALUE)).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Histogram {
    pub(crate) fn record(&self, us: u64) {
        self.buckets[index(us)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The `q` quantile (0..=1) in microseconds: the upper end of the bucket holding the
    /// value of rank ceil(q * count). `None` when empty.
    pub(crate) fn quantile(&self, q: f64) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= rank {
                return Some(lower(i + 1) - 1);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_fine() {
        for v in (0..5000).chain([65_535, 1_000_000, 123_456_789, MAX_VALUE]) {
            let i = index(v);
            assert!(lower(i) <= v && v < lower(i + 1), "value {v} bucket {i}");
            let width = lower(i + 1) - lower(i);
            assert!(
                width == 1 || width * SUB <= lower(i),
                "value {v} width {width}"
            );
        }
        for i in 0..index(MAX_VALUE) {
            assert_eq!(index(lower(i)), i);
        }
    }

    #[test]
    fn quantiles_of_a_uniform_set() {
        let h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        for v in 1..=10_000 {
            h.record(v);
        }
        assert_eq!(h.count(), 10_000);
        let near = |got: Option<u64>, want: f64| {
            let g = got.unwrap_or(0) as f64;
            assert!((g - want).abs() <= want / 100.0, "got {g}, want {want}");
        };
        near(h.quantile(0.5), 5_000.0);
        near(h.quantile(0.99), 9_900.0);
        near(h.quantile(1.0), 10_000.0);
        assert_eq!(h.quantile(0.0), Some(1));
    }
}
