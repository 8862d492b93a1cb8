use crate::SmoothedRate;

/// How much slower a node runs than its profile says: each part run is a sample of measured
/// time over predicted time. A node that another job starts sharing shows as a step up.
#[derive(Debug, Clone)]
pub struct SpeedEstimator {
    ratio: SmoothedRate,
}

impl Default for SpeedEstimator {
    fn default() -> SpeedEstimator {
        SpeedEstimator {
            // Part times on a shared machine swing by half either way (measured: 0.8x to
            // 1.7x the profile for one part); a node another job slows by 3 stands out.
            ratio: SmoothedRate::new(0.2, 0.5, 3),
        }
    }
}

impl SpeedEstimator {
    /// Records a part that took `measured` where the profile predicted `predicted` (any unit);
    /// returns true when the node's speed changed (a step).
    pub fn observe(&mut self, measured: f64, predicted: f64) -> bool {
        if !(predicted.is_finite() && predicted > 0.0) {
            return false;
        }
        self.ratio.observe(measured / predicted)
    }

    /// Measured over predicted time (1.0: as profiled; 3.0: three times slower).
    pub fn slowdown(&self) -> Option<f64> {
        self.ratio.value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_slowed_three_times_is_noticed() {
        let mut s = SpeedEstimator::default();
        for _ in 0..5 {
            s.observe(10.0, 10.0);
        }
        let seen: Vec<bool> = (0..3).map(|_| s.observe(30.0, 10.0)).collect();
        assert_eq!(seen, [false, false, true]);
        assert!((s.slowdown().unwrap() - 3.0).abs() < 1e-9);
    }
}
