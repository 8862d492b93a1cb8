/// When to switch to another plan.
#[derive(Debug, Clone)]
pub struct SwitchPolicy {
    /// The candidate must be predicted at least this much better (0.1 = 10% lower latency):
    /// hysteresis against flapping between two nearly equal plans.
    pub min_gain: f64,
    /// Frames after a switch before another may happen: cooldown.
    pub cooldown_frames: u64,
    last_switch: Option<u64>,
}

/// What the policy says for a candidate plan.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub enum Decision {
    /// Switch to the candidate (remembered for the cooldown).
    Switch,
    /// Better by less than the required gain.
    KeepNotEnoughGain,
    /// Better, but the last switch was too recent.
    KeepCoolingDown,
    /// The candidate is not predicted better than the current plan.
    KeepNotBetter,
}

impl SwitchPolicy {
    /// A policy requiring a relative gain of `min_gain` (clamped to at least 0) and
    /// `cooldown_frames` frames between switches.
    pub fn new(min_gain: f64, cooldown_frames: u64) -> SwitchPolicy {
        SwitchPolicy {
            min_gain: min_gain.max(0.0),
            cooldown_frames,
            last_switch: None,
        }
    }

    /// The first frame at which a switch may happen again, while cooling down.
    pub fn cooldown_ends(&self) -> Option<u64> {
        self.last_switch.map(|s| s + self.cooldown_frames)
    }

    /// At frame `frame`, with the current plan predicted at `current` and a candidate at
    /// `candidate` (same unit, lower is better) under the latest estimates. A `Switch` answer
    /// is remembered for the cooldown.
    pub fn decide(&mut self, frame: u64, current: f64, candidate: f64) -> Decision {
        self.decide_with(frame, current, candidate, true)
    }

    /// [`SwitchPolicy::decide`] without the cooldown: for the planned follow-up of a switch
    /// (a quick plan refined by the full planner), which cannot flap. The gain is still needed.
    pub fn decide_follow_up(&mut self, frame: u64, current: f64, candidate: f64) -> Decision {
        self.decide_with(frame, current, candidate, false)
    }

    fn decide_with(
        &mut self,
        frame: u64,
        current: f64,
        candidate: f64,
        cooldown: bool,
    ) -> Decision {
        if candidate >= current {
            return Decision::KeepNotBetter;
        }
        if candidate > current * (1.0 - self.min_gain) {
            return Decision::KeepNotEnoughGain;
        }
        if cooldown
            && self
                .last_switch
                .is_some_and(|s| frame < s + self.cooldown_frames)
        {
            return Decision::KeepCoolingDown;
        }
        self.last_switch = Some(frame);
        Decision::Switch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_a_clear_gain_and_waits_out_the_cooldown() {
        let mut p = SwitchPolicy::new(0.1, 20);
        assert_eq!(p.decide(0, 100.0, 120.0), Decision::KeepNotBetter);
        assert_eq!(p.decide(1, 100.0, 95.0), Decision::KeepNotEnoughGain);
        assert_eq!(p.decide(2, 100.0, 80.0), Decision::Switch);
        assert_eq!(p.decide(10, 80.0, 50.0), Decision::KeepCoolingDown);
        assert_eq!(p.decide(22, 80.0, 50.0), Decision::Switch);
        assert_eq!(
            p.decide_follow_up(23, 50.0, 48.0),
            Decision::KeepNotEnoughGain
        );
        assert_eq!(p.decide_follow_up(23, 50.0, 40.0), Decision::Switch);
        assert_eq!(p.decide(24, 40.0, 20.0), Decision::KeepCoolingDown);
    }

    #[test]
    fn two_equal_plans_never_flap() {
        let mut p = SwitchPolicy::new(0.05, 0);
        let mut switches = 0;
        for f in 0..1000u64 {
            // Two plans whose predictions swap by 2% every frame.
            let (a, b) = if f % 2 == 0 {
                (100.0, 98.0)
            } else {
                (98.0, 100.0)
            };
            if p.decide(f, a, b) == Decision::Switch {
                switches += 1;
            }
        }
        assert_eq!(switches, 0);
    }
}
