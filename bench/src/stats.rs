//! Latency summaries: nearest-rank percentiles over every recorded sample (no histogram
//! buckets, no interpolation), and the latency one target adds over another.

use std::time::Duration;

/// The latencies of one phase, sorted, in microseconds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Latencies {
    sorted: Vec<u64>,
}

impl Latencies {
    pub(crate) fn new(mut micros: Vec<u64>) -> Self {
        micros.sort_unstable();
        Self { sorted: micros }
    }

    /// The nearest-rank percentile: the smallest sample that at least `p` % of the samples are
    /// at or below (`p` in 0–100, with up to two decimals). `None` without samples.
    pub(crate) fn percentile(&self, p: f64) -> Option<Duration> {
        let n = self.sorted.len() as u64;
        if n == 0 {
            return None;
        }
        // In basis points, so 99.9 % of 1,000 samples is rank 999 exactly (no float rounding).
        let basis_points = (p * 100.0).round().clamp(0.0, 10_000.0) as u64;
        let rank = (basis_points * n).div_ceil(10_000).clamp(1, n);
        Some(Duration::from_micros(self.sorted[rank as usize - 1]))
    }

    /// p50, p90, p99 and the maximum.
    pub(crate) fn summary(&self) -> Option<Summary> {
        Some(Summary {
            p50: self.percentile(50.0)?,
            p90: self.percentile(90.0)?,
            p99: self.percentile(99.0)?,
            max: self.percentile(100.0)?,
        })
    }
}

/// The percentiles every table shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Summary {
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Summary {
    /// What this target adds over `baseline` (the stand-in alone under the same load), at the
    /// median and at p99, in milliseconds: the difference of the percentiles, which may be
    /// slightly negative when the two are within the noise.
    pub(crate) fn added_over(&self, baseline: &Summary) -> Added {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        Added { p50_ms: ms(self.p50) - ms(baseline.p50), p99_ms: ms(self.p99) - ms(baseline.p99) }
    }
}

/// Added latency, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Added {
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Milliseconds with two decimals below 100 ms, whole ones above, thousands separated.
pub(crate) fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 100.0 { format!("{ms:.2}") } else { thousands(ms.round() as u64) }
}

/// A signed difference in milliseconds: `+1.23`, `-0.04`, `+1,250`.
pub(crate) fn signed_ms(ms: f64) -> String {
    let sign = if ms < 0.0 { "-" } else { "+" };
    let abs = ms.abs();
    if abs < 100.0 { format!("{sign}{abs:.2}") } else { format!("{sign}{}", thousands(abs.round() as u64)) }
}

/// `12345` as `12,345`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(d: Option<Duration>) -> u64 {
        d.expect("samples").as_micros() as u64
    }

    #[test]
    fn nearest_rank_percentiles_of_one_to_a_hundred() {
        // Shuffled on purpose: the summary sorts.
        let samples: Vec<u64> = (1..=100).rev().collect();
        let latencies = Latencies::new(samples);
        assert_eq!(micros(latencies.percentile(50.0)), 50);
        assert_eq!(micros(latencies.percentile(90.0)), 90);
        assert_eq!(micros(latencies.percentile(99.0)), 99);
        assert_eq!(micros(latencies.percentile(99.5)), 100);
        assert_eq!(micros(latencies.percentile(100.0)), 100);
        assert_eq!(micros(latencies.percentile(0.0)), 1, "p0 is the smallest sample");
    }

    #[test]
    fn percentiles_do_not_suffer_float_rounding() {
        // 0.9 × 10 is 9.000000000000002 in floating point: a float ceiling would say rank 10.
        let latencies = Latencies::new((1..=10).collect());
        assert_eq!(micros(latencies.percentile(90.0)), 9);
        let latencies = Latencies::new((1..=1000).collect());
        assert_eq!(micros(latencies.percentile(99.9)), 999);
    }

    #[test]
    fn a_single_outlier_shows_only_at_the_top() {
        let mut samples = vec![1_000; 999];
        samples.push(250_000);
        let summary = Latencies::new(samples).summary().expect("samples");
        assert_eq!(summary.p99, Duration::from_millis(1));
        assert_eq!(summary.max, Duration::from_millis(250));
    }

    #[test]
    fn no_samples_no_summary() {
        assert_eq!(Latencies::new(Vec::new()).summary(), None);
        let one = Latencies::new(vec![7]).summary().expect("one sample");
        assert_eq!((one.p50, one.max), (Duration::from_micros(7), Duration::from_micros(7)));
    }

    #[test]
    fn added_latency_is_the_difference_of_percentiles() {
        let d = Duration::from_micros;
        let baseline = Summary { p50: d(50_000), p90: d(51_000), p99: d(52_000), max: d(60_000) };
        let target = Summary { p50: d(50_800), p90: d(52_000), p99: d(56_500), max: d(90_000) };
        let added = target.added_over(&baseline);
        assert!((added.p50_ms - 0.8).abs() < 1e-9, "{added:?}");
        assert!((added.p99_ms - 4.5).abs() < 1e-9, "{added:?}");
    }

    #[test]
    fn figures_read_like_a_person_writes_them() {
        assert_eq!(ms(Duration::from_micros(50_412)), "50.41");
        assert_eq!(ms(Duration::from_micros(12_345_678)), "12,346");
        assert_eq!(signed_ms(-0.041), "-0.04");
        assert_eq!(signed_ms(2458.4), "+2,458");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(33_485), "33,485");
    }
}
