//! Hedging a frame caught on a plan that no longer serves: when a link collapses under a frame,
//! the switch to a better plan helps only the frames fed after it, and the one caught crawls
//! on for seconds. A copy fed on the new plan may answer it sooner; the first answer wins.
//! A copy doubles the frame's work, so it is fed only for a clear expected gain.

use tiersplit_cost::Nanos;

/// When a copy of a frame in flight on an older plan is fed on the plan serving now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HedgePolicy {
    /// Off: every frame finishes on the plan it started on.
    pub enabled: bool,
    /// The copy must be expected to answer at least this many times sooner than the frame
    /// still needs on its own plan (2.0: in half the time).
    pub min_speedup: f64,
}

impl Default for HedgePolicy {
    fn default() -> HedgePolicy {
        HedgePolicy {
            enabled: true,
            min_speedup: 2.0,
        }
    }
}

/// A frame in flight on a plan that no longer serves new frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlight {
    /// Its number, as the caller knows it.
    pub frame: u64,
    /// How long it has been in flight.
    pub elapsed: Nanos,
    /// Its plan's makespan under what is known now.
    pub predicted: Nanos,
}

/// A copy worth feeding, with what it is expected to save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hedge {
    /// The frame to copy.
    pub frame: u64,
    /// What the frame is expected still to need on its own plan.
    pub remaining: Nanos,
    /// The serving plan's makespan: when the copy is expected to answer.
    pub copy: Nanos,
}

/// What a frame still needs on its plan: the plan's makespan less the time it has run. A frame
/// past that makespan is late for a reason the estimates do not show yet; it is expected to
/// take as long again as it has overrun.
pub fn remaining(predicted: Nanos, elapsed: Nanos) -> Nanos {
    if predicted.0 >= elapsed.0 {
        Nanos(predicted.0 - elapsed.0)
    } else {
        Nanos(elapsed.0 - predicted.0)
    }
}

impl HedgePolicy {
    /// The frames of `in_flight` worth a copy on a plan whose makespan is `serving`.
    pub fn pick(&self, serving: Nanos, in_flight: &[InFlight]) -> Vec<Hedge> {
        if !self.enabled {
            return Vec::new();
        }
        in_flight
            .iter()
            .map(|f| Hedge {
                frame: f.frame,
                remaining: remaining(f.predicted, f.elapsed),
                copy: serving,
            })
            .filter(|h| h.copy.0 as f64 * self.min_speedup <= h.remaining.0 as f64)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(v: u64) -> Nanos {
        Nanos(v * 1_000_000)
    }

    #[test]
    fn a_frame_caught_on_a_collapsed_link_is_copied_one_nearly_done_is_not() {
        let p = HedgePolicy::default();
        let caught = InFlight {
            frame: 7,
            elapsed: ms(300),
            predicted: ms(4_000),
        };
        let nearly_done = InFlight {
            frame: 8,
            elapsed: ms(3_900),
            predicted: ms(4_000),
        };
        let hedges = p.pick(ms(200), &[caught, nearly_done]);
        assert_eq!(
            hedges,
            vec![Hedge {
                frame: 7,
                remaining: ms(3_700),
                copy: ms(200)
            }]
        );
    }

    #[test]
    fn a_frame_far_past_its_time_is_copied_one_just_past_it_is_not() {
        let p = HedgePolicy::default();
        let late = |elapsed| InFlight {
            frame: 1,
            elapsed: ms(elapsed),
            predicted: ms(100),
        };
        assert!(p.pick(ms(200), &[late(150)]).is_empty());
        assert_eq!(p.pick(ms(200), &[late(600)])[0].remaining, ms(500));
    }

    #[test]
    fn nothing_is_copied_when_hedging_is_off() {
        let p = HedgePolicy {
            enabled: false,
            ..HedgePolicy::default()
        };
        let caught = InFlight {
            frame: 1,
            elapsed: ms(1),
            predicted: ms(10_000),
        };
        assert!(p.pick(ms(1), &[caught]).is_empty());
    }

    proptest! {
        /// A copy is fed exactly when it is expected to answer `min_speedup` times sooner.
        #[test]
        fn copies_exactly_the_frames_with_the_gain(
            predicted in 0u64..10_000,
            elapsed in 0u64..10_000,
            serving in 1u64..5_000,
            speedup in 1.0f64..4.0,
        ) {
            let p = HedgePolicy { enabled: true, min_speedup: speedup };
            let f = InFlight { frame: 3, elapsed: ms(elapsed), predicted: ms(predicted) };
            let left = predicted.abs_diff(elapsed) as f64;
            let picked = !p.pick(ms(serving), &[f]).is_empty();
            prop_assert_eq!(picked, serving as f64 * speedup <= left);
        }
    }
}
