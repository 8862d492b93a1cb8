use crate::SmoothedRate;

/// A link's goodput estimated passively from real transfers: each transfer of `bytes` that took
/// `seconds` (after the link's fixed delay) is a sample of bytes * 8 / seconds. Transfers too
/// small to say anything about the rate (their time is mostly per-message cost) are skipped.
#[derive(Debug, Clone)]
pub struct LinkEstimator {
    rate: SmoothedRate,
    /// Transfers smaller than this are not samples.
    pub min_bytes: u64,
}

impl Default for LinkEstimator {
    fn default() -> LinkEstimator {
        LinkEstimator {
            // Two far samples in a row: samples are windows of 20 ms or more of a shaped
            // link, steady enough that a second one confirms a step.
            rate: SmoothedRate::new(0.25, 0.3, 2),
            min_bytes: 64 << 10,
        }
    }
}

impl LinkEstimator {
    /// Records a transfer; returns true when the link's rate changed (a step).
    pub fn observe(&mut self, bytes: u64, seconds: f64) -> bool {
        if bytes < self.min_bytes || !(seconds.is_finite() && seconds > 0.0) {
            return false;
        }
        self.rate.observe(bytes as f64 * 8.0 / seconds / 1e6)
    }

    /// The last sample was far from the estimate and waits for a second one.
    pub fn suspects_step(&self) -> bool {
        self.rate.suspects_step()
    }

    /// Estimated rate in Mbit/s, once a transfer was seen.
    pub fn mbps(&self) -> Option<f64> {
        self.rate.value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bandwidth_step_is_seen_within_two_transfers() {
        let mut e = LinkEstimator::default();
        // 1 MB at 50 Mbit/s takes 0.16 s.
        for _ in 0..10 {
            e.observe(1_000_000, 0.16);
        }
        assert!((e.mbps().unwrap() - 50.0).abs() < 0.5);
        // WiFi to 3G: 2 Mbit/s.
        let steps: Vec<bool> = (0..2).map(|_| e.observe(1_000_000, 4.0)).collect();
        assert_eq!(steps, [false, true]);
        assert!((e.mbps().unwrap() - 2.0).abs() < 0.05);
    }

    #[test]
    fn small_messages_are_not_samples() {
        let mut e = LinkEstimator::default();
        e.observe(4_000, 0.01);
        assert_eq!(e.mbps(), None);
    }
}
