use serde::{Deserialize, Serialize};

/// An exponential moving average with step detection: `patience` samples in a row more than
/// `1 + threshold` times above or below the average mean the level changed, and the average
/// restarts from those samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmoothedRate {
    /// Weight of a new sample in the average.
    pub alpha: f64,
    /// A sample over `1 + threshold` times the average, or under it divided by that, is "far".
    pub threshold: f64,
    /// Far samples in a row that make a step.
    pub patience: usize,
    average: Option<f64>,
    far: Vec<f64>,
    steps: usize,
}

impl SmoothedRate {
    /// A tracker with no sample yet; `alpha` is clamped to 0..=1, `threshold` to at least 0
    /// and `patience` to at least 1.
    pub fn new(alpha: f64, threshold: f64, patience: usize) -> SmoothedRate {
        SmoothedRate {
            alpha: alpha.clamp(0.0, 1.0),
            threshold: threshold.max(0.0),
            patience: patience.max(1),
            average: None,
            far: Vec::new(),
            steps: 0,
        }
    }

    /// Adds a sample; returns true when it completed a step (the level changed).
    pub fn observe(&mut self, x: f64) -> bool {
        if !x.is_finite() || x <= 0.0 {
            return false;
        }
        let Some(avg) = self.average else {
            self.average = Some(x);
            return false;
        };
        // Far by ratio, either way: a rate that drops to a third is as far as one that triples.
        if (x / avg).max(avg / x) > 1.0 + self.threshold {
            // Far samples must agree on the direction to count as one step.
            if self.far.last().is_some_and(|&l| (l > avg) != (x > avg)) {
                self.far.clear();
            }
            self.far.push(x);
            if self.far.len() >= self.patience {
                let level = self.far.iter().sum::<f64>() / self.far.len() as f64;
                self.average = Some(level);
                self.far.clear();
                self.steps += 1;
                return true;
            }
            false
        } else {
            self.far.clear();
            self.average = Some(avg + self.alpha * (x - avg));
            false
        }
    }

    /// The current average (the new level right after a step); `None` before any sample.
    pub fn value(&self) -> Option<f64> {
        self.average
    }

    /// A far sample is waiting for confirmation: a step may be under way.
    pub fn suspects_step(&self) -> bool {
        !self.far.is_empty()
    }

    /// Steps detected so far.
    pub fn steps(&self) -> usize {
        self.steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn follows_a_step_after_patience_samples() {
        let mut r = SmoothedRate::new(0.2, 0.3, 3);
        for _ in 0..20 {
            r.observe(100.0);
        }
        assert!(!r.observe(20.0));
        assert!(!r.observe(21.0));
        assert!(r.observe(19.0));
        assert!((r.value().unwrap() - 20.0).abs() < 1e-9);
        assert_eq!(r.steps(), 1);
    }

    #[test]
    fn ignores_a_single_outlier_and_nonsense() {
        let mut r = SmoothedRate::new(0.2, 0.3, 3);
        for x in [100.0, 100.0, 5.0, 100.0, 100.0, f64::NAN, -3.0, 0.0] {
            assert!(!r.observe(x));
        }
        assert!((r.value().unwrap() - 100.0).abs() < 1e-9);
        assert_eq!(r.steps(), 0);
    }

    proptest! {
        #[test]
        fn settles_within_the_noise_of_a_constant_level(
            level in 1.0f64..1e9,
            noise in prop::collection::vec(-0.1f64..0.1, 10..200),
        ) {
            let mut r = SmoothedRate::new(0.2, 0.3, 3);
            for n in &noise {
                r.observe(level * (1.0 + n));
            }
            let v = r.value().unwrap();
            prop_assert!((v / level - 1.0).abs() <= 0.1 + 1e-9);
            prop_assert_eq!(r.steps(), 0);
        }
    }
}
