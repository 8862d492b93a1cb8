use crate::{Decision, SwitchPolicy};
use serde::Serialize;
use tiersplit_cost::{Nanos, NodeId, Problem, Tier};
use tiersplit_plan::{
    evaluate, planner_by_name, Hpa, Plan, PlanError, Planner, SingleNode, SplitPoints,
};

/// Which objective a re-plan serves: DADS's light/heavy rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Mode {
    /// The latency plan keeps up with the frame rate (or frames come one at a time):
    /// minimise one frame's latency.
    Light,
    /// The latency plan's largest stage is longer than the frame interval: minimise the
    /// pipelined period instead.
    Heavy,
}

/// How a re-plan is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replan {
    /// With the run's planner.
    Full,
    /// With the quick planner in place of the full one (the full one when there is none):
    /// the first answer to a link step.
    Quick,
    /// With the run's planner right after a switch to a quick plan: the switch needs the gain
    /// but not the cooldown (a bounded follow-up, no flap).
    Refinement,
}

/// What a re-plan found and what the policy made of it.
#[derive(Debug, Clone)]
pub struct Proposal {
    /// The candidate plan the re-plan found (to deploy when `decision` is `Switch`).
    pub plan: Plan,
    /// The objective the candidate was planned and scored for.
    pub mode: Mode,
    /// The current plan's and the candidate's score under the new estimates (makespan in
    /// light mode, period in heavy mode).
    pub current: Nanos,
    /// The candidate's score, in the same unit as `current`.
    pub candidate: Nanos,
    /// What the switching policy made of the candidate.
    pub decision: Decision,
    /// Even the chosen plan cannot keep up with the frame rate.
    pub overloaded: bool,
    /// Frames per second the chosen plan sustains (1 / period).
    pub sustainable_fps: f64,
}

/// Re-plans on the estimated problem and decides whether to switch: the planner the run was
/// started with (HPA moves its two partition points locally, D3's run-time adjustment; any
/// other planner re-solves), DADS's light/heavy switch when frames are paced, and the
/// switching policy's hysteresis and cooldown.
pub struct Controller {
    light: Box<dyn Planner>,
    /// A planner of milliseconds for the first answer to a step, when `light` takes long
    /// (`best` runs every planner): its plan serves while `light` refines.
    quick: Option<Box<dyn Planner>>,
    heavy: Option<Box<dyn Planner>>,
    /// Frames are paced at this interval (None: one frame at a time, latency only).
    pub frame_interval: Option<Nanos>,
    /// The hysteresis and cooldown every proposal is decided by.
    pub policy: SwitchPolicy,
    /// Nodes lost (down): proposals plan on the nodes that survive them, and a current plan
    /// that uses one loses to any plan that does not (set from each re-plan request).
    pub lost: Vec<NodeId>,
}

impl Controller {
    /// Re-plans with `algo`; with a frame interval, heavy load re-plans with `heavy_algo`.
    pub fn new(
        algo: &str,
        heavy_algo: &str,
        frame_interval: Option<Nanos>,
        policy: SwitchPolicy,
    ) -> Result<Controller, PlanError> {
        Ok(Controller {
            light: planner_by_name(algo)?,
            quick: match algo {
                "best" => Some(planner_by_name("exact-3tier")?),
                _ => None,
            },
            heavy: match frame_interval {
                Some(_) => Some(planner_by_name(heavy_algo)?),
                None => None,
            },
            frame_interval,
            policy,
            lost: Vec::new(),
        })
    }

    /// Whether [`Replan::Quick`] has a faster planner than the full one.
    pub fn has_quick(&self) -> bool {
        self.quick.is_some()
    }

    /// The first frame a switch may happen again, while the policy cools down.
    pub fn cooldown_ends(&self) -> Option<u64> {
        self.policy.cooldown_ends()
    }

    fn light_plan(&self, p: &Problem, current: &Plan, quick: bool) -> Result<Plan, PlanError> {
        if let (true, Some(q)) = (quick, &self.quick) {
            return q.plan(p);
        }
        // HPA's local moves start from the current plan's split points, which only mean
        // something on the problem the current plan was made on.
        if self.light.name() == "hpa" && self.lost.is_empty() {
            let (s, _) = Hpa::readjust(p, split_points(p, current))?;
            return Ok(Plan::new("hpa", Hpa::placement(p, s)?));
        }
        self.light.plan(p)
    }

    /// At frame `frame`, with problem `p` (the nominal one corrected by the estimates) and the
    /// plan now running, re-planned as `how` says.
    pub fn propose(
        &mut self,
        frame: u64,
        p: &Problem,
        current: &Plan,
        how: Replan,
    ) -> Result<Proposal, PlanError> {
        let cur = evaluate(p, current);
        let s = p.surviving(&self.lost);
        // A planner that cannot plan on the survivors (no edge node left for edge-only)
        // leaves the device alone, which always can.
        let on_survivors = |r: Result<Plan, PlanError>| {
            let r = match r {
                Err(_) if !s.dropped.is_empty() => SingleNode(Tier::Device).plan(&s.problem),
                r => r,
            };
            r.map(|plan| plan.on_nodes(&s.kept))
        };
        let light = on_survivors(self.light_plan(&s.problem, current, how == Replan::Quick))?;
        let lp = evaluate(p, &light);
        let keeps_up = |period: Nanos| self.frame_interval.is_none_or(|i| period <= i);
        let (plan, pred, mode) = match &self.heavy {
            Some(h) if !keeps_up(lp.period) => {
                let heavy = on_survivors(h.plan(&s.problem))?;
                let hp = evaluate(p, &heavy);
                // The heavy planner may not beat the light plan's period on this problem.
                if hp.period < lp.period {
                    (heavy, hp, Mode::Heavy)
                } else {
                    (light, lp, Mode::Heavy)
                }
            }
            _ => (light, lp, Mode::Light),
        };
        let score = |pr: &tiersplit_plan::Prediction| match mode {
            Mode::Light => pr.makespan,
            Mode::Heavy => pr.period,
        };
        // A current plan that uses a lost node, or no longer keeps up, loses to one that does
        // not, whatever its latency.
        let current_score =
            if current.uses_any(&s.dropped) || (mode == Mode::Light && !keeps_up(cur.period)) {
                f64::INFINITY
            } else {
                score(&cur).0 as f64
            };
        let decision = if plan.placement == current.placement && plan.tiled == current.tiled {
            Decision::KeepNotBetter
        } else if how == Replan::Refinement {
            self.policy
                .decide_follow_up(frame, current_score, score(&pred).0 as f64)
        } else {
            self.policy
                .decide(frame, current_score, score(&pred).0 as f64)
        };
        let chosen_period = if decision == Decision::Switch {
            pred.period
        } else {
            cur.period
        };
        Ok(Proposal {
            current: score(&cur),
            candidate: score(&pred),
            mode,
            decision,
            overloaded: !keeps_up(chosen_period),
            sustainable_fps: 1e9 / chosen_period.0.max(1) as f64,
            plan,
        })
    }
}

/// HPA's two partition points read off any placement: the device's prefix and the start of
/// the cloud's suffix (a starting point for the local search, exact for HPA's own plans).
fn split_points(p: &Problem, plan: &Plan) -> SplitPoints {
    let tier = |l: usize| p.nodes[plan.placement[l].0].tier;
    let n = plan.placement.len();
    let edge_from = (0..n).find(|&l| tier(l) != Tier::Device).unwrap_or(n);
    let cloud_from = (edge_from..n)
        .find(|&l| tier(l) == Tier::Cloud)
        .unwrap_or(n);
    SplitPoints {
        edge_from,
        cloud_from,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tiersplit_cost::{Bandwidth, NodeId};

    use crate::test_problem::three_tier_chain as problem;

    fn with_uplink(mbps: f64) -> Problem {
        let mut p = problem();
        for l in &mut p.links {
            if l.from.0 + l.to.0 == 1 {
                l.bandwidth = Bandwidth::from_mbps(mbps);
            }
        }
        p
    }

    #[test]
    fn a_lost_edge_node_is_planned_around_whatever_the_gain() {
        // The edge relays to the cloud: losing it leaves the device alone.
        for algo in ["best", "hpa", "edge-only"] {
            let mut c =
                Controller::new(algo, "best-throughput", None, SwitchPolicy::new(0.5, 5)).unwrap();
            let p = with_uplink(50.0);
            let plan = planner_by_name(algo).unwrap().plan(&p).unwrap();
            assert!(plan.uses_any(&[NodeId(1)]), "{algo}: {plan:?}");
            c.lost = vec![NodeId(1)];
            let prop = c.propose(1, &p, &plan, Replan::Full).unwrap();
            assert_eq!(prop.decision, Decision::Switch, "{algo}");
            assert!(
                prop.plan.placement.iter().all(|&n| n == NodeId(0)),
                "{algo}: {:?}",
                prop.plan
            );
        }
    }

    #[test]
    fn a_collapsed_uplink_makes_the_controller_switch_once() {
        let mut c =
            Controller::new("best", "best-throughput", None, SwitchPolicy::new(0.1, 5)).unwrap();
        let fast = with_uplink(50.0);
        let plan = planner_by_name("best").unwrap().plan(&fast).unwrap();
        // Nothing changed: no switch.
        let same = c.propose(1, &fast, &plan, Replan::Full).unwrap();
        assert_eq!(same.decision, Decision::KeepNotBetter);
        // 3G: the upload of x now takes seconds; the device keeps more.
        let slow = with_uplink(1.1);
        let prop = c.propose(2, &slow, &plan, Replan::Full).unwrap();
        assert_eq!(prop.decision, Decision::Switch);
        assert!(prop.candidate < prop.current);
        let on_device = |p: &Plan| p.placement.iter().filter(|&&n| n == NodeId(0)).count();
        assert!(on_device(&prop.plan) > on_device(&plan));
        // The new plan, asked again under the same estimates: it stays.
        let again = c.propose(9, &slow, &prop.plan, Replan::Full).unwrap();
        assert_eq!(again.decision, Decision::KeepNotBetter);
    }

    #[test]
    fn the_quick_answer_switches_first_and_the_cooldown_is_told() {
        let mut c =
            Controller::new("best", "best-throughput", None, SwitchPolicy::new(0.1, 5)).unwrap();
        assert!(c.has_quick());
        let fast = with_uplink(50.0);
        let plan = planner_by_name("best").unwrap().plan(&fast).unwrap();
        let prop = c
            .propose(2, &with_uplink(1.1), &plan, Replan::Quick)
            .unwrap();
        assert_eq!(prop.decision, Decision::Switch);
        assert_eq!(prop.plan.algorithm, "exact-3tier");
        assert_eq!(c.cooldown_ends(), Some(7));
    }

    #[test]
    fn hpa_moves_its_points_locally_and_dads_rule_goes_heavy() {
        let mut c =
            Controller::new("hpa", "best-throughput", None, SwitchPolicy::new(0.0, 0)).unwrap();
        let fast = with_uplink(50.0);
        let plan = Hpa.plan(&fast).unwrap();
        let prop = c
            .propose(1, &with_uplink(0.5), &plan, Replan::Full)
            .unwrap();
        assert_eq!(prop.plan.algorithm, "hpa");
        let full = Hpa.plan(&with_uplink(0.5)).unwrap();
        assert_eq!(
            evaluate(&with_uplink(0.5), &prop.plan).latency_sum,
            evaluate(&with_uplink(0.5), &full).latency_sum
        );
        // 100 frames/s: no plan's stage is that short; heavy mode, flagged as overloaded.
        let mut c = Controller::new(
            "best",
            "best-throughput",
            Some(Nanos::from_millis_f64(10.0)),
            SwitchPolicy::new(0.0, 0),
        )
        .unwrap();
        let prop = c.propose(1, &fast, &plan, Replan::Full).unwrap();
        assert_eq!(prop.mode, Mode::Heavy);
        assert!(prop.overloaded);
        assert!(prop.sustainable_fps < 100.0);
    }
}
