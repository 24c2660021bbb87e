//! Latencies as an HDR histogram of microseconds (three significant digits, up to a minute),
//! and their summary as the report gives it: count, p50, p90, p99 and max in milliseconds.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// The longest latency recorded exactly, in microseconds; longer ones are recorded as this.
const HIGHEST_US: u64 = 60_000_000;

/// Recorded latencies.
pub struct Latencies(Histogram<u64>);

/// A latency distribution in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Summary {
    /// Latencies recorded.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

// === impl Latencies ===

impl Latencies {
    /// No latencies yet.
    pub fn new() -> anyhow::Result<Self> {
        let histogram = Histogram::new_with_bounds(1, HIGHEST_US, 3)
            .map_err(|e| anyhow::anyhow!("cannot make a latency histogram: {e:?}"))?;
        Ok(Self(histogram))
    }

    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(HIGHEST_US);
        self.0.saturating_record(us.clamp(1, HIGHEST_US));
    }

    /// The distribution so far, and a fresh start (for the next interval).
    pub fn take(&mut self) -> Summary {
        let summary = self.summary();
        self.0.reset();
        summary
    }

    /// The distribution so far.
    pub fn summary(&self) -> Summary {
        let ms = |us: u64| us as f64 / 1000.0;
        Summary {
            count: self.0.len(),
            p50_ms: ms(self.0.value_at_quantile(0.50)),
            p90_ms: ms(self.0.value_at_quantile(0.90)),
            p99_ms: ms(self.0.value_at_quantile(0.99)),
            max_ms: ms(self.0.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_ordered_and_in_milliseconds() {
        let mut latencies = Latencies::new().unwrap();
        for ms in 1..=100 {
            latencies.record(Duration::from_millis(ms));
        }
        let s = latencies.summary();
        assert_eq!(s.count, 100);
        assert!((s.p50_ms - 50.0).abs() < 0.1, "{s:?}");
        assert!(s.p50_ms <= s.p90_ms && s.p90_ms <= s.p99_ms && s.p99_ms <= s.max_ms);
        assert!((s.max_ms - 100.0).abs() < 0.1, "{s:?}");
        assert_eq!(latencies.take().count, 100);
        assert_eq!(latencies.summary().count, 0);
    }
}
