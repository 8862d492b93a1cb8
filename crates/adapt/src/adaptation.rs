//! Run-time adaptation as a state machine: what the nodes measured goes in, decisions come
//! out (probe this link, re-plan for this reason), and the caller reports back what it did
//! (the re-plan's proposal, the switch going live). No clock, no network: the caller's clock
//! is a number of seconds, so every decision is tested on synthetic measurement streams.

use crate::{Controller, Decision, Estimates, Hedge, HedgePolicy, InFlight, Proposal, Replan};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tiersplit_cost::{Nanos, NodeId, Problem};
use tiersplit_plan::{evaluate, Plan, PlanError};

/// One part of one deployment: what part-run measurements and predictions are joined by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PartKey {
    /// The deployment's number in the run (1 for the first).
    pub deployment: u64,
    /// The part's id within its deployment.
    pub part: String,
}

impl PartKey {
    /// The key of part `part` of deployment `deployment`.
    pub fn new(deployment: u64, part: &str) -> PartKey {
        PartKey {
            deployment,
            part: part.to_string(),
        }
    }
}

/// Something a node measured.
#[derive(Debug, Clone, PartialEq)]
pub enum Measurement {
    /// `bytes` held the link `from -> to` for `secs` (its fixed delay not included).
    Transfer {
        /// Sending node.
        from: NodeId,
        /// Receiving node.
        to: NodeId,
        /// Bytes transferred.
        bytes: u64,
        /// Seconds the bytes held the link.
        secs: f64,
    },
    /// A ping from `a` to `b` came back after `secs`.
    RoundTrip {
        /// The node that pinged.
        a: NodeId,
        /// The node that echoed.
        b: NodeId,
        /// Seconds from the ping to its echo.
        secs: f64,
    },
    /// A run of `part` kept its node busy for `busy`.
    PartRun {
        /// The part that ran.
        part: PartKey,
        /// Time the run kept the node busy.
        busy: Nanos,
    },
}

/// What made a re-plan, and so how it is made.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Trigger {
    /// A link's rate stepped: the quick planner answers first.
    LinkStep {
        /// Sending node of the link.
        from: NodeId,
        /// Receiving node of the link.
        to: NodeId,
        /// The link's new estimated rate, Mbit/s.
        mbps: f64,
    },
    /// A node's speed stepped.
    NodeStep {
        /// The node whose speed stepped.
        node: NodeId,
        /// Its new slowdown: measured over profiled compute time (1.0 = as profiled).
        slowdown: f64,
    },
    /// The full planner refines the quick plan just switched to.
    Refine,
    /// A proposal held back by the cooldown is tried again.
    CooldownOver,
    /// A node lost earlier answers again: plans may use it again.
    NodeBack {
        /// The node that came back.
        node: NodeId,
    },
    /// A link cut earlier carries again: plans may send over it again.
    LinkBack {
        /// Sending node of the link.
        from: NodeId,
        /// Receiving node of the link.
        to: NodeId,
    },
    /// Link estimates drifted since the last re-plan.
    Drift,
}

impl Trigger {
    fn replan(&self) -> Replan {
        match self {
            Trigger::LinkStep { .. } => Replan::Quick,
            Trigger::Refine => Replan::Refinement,
            _ => Replan::Full,
        }
    }

    /// In words, with node names from `p`.
    pub fn describe(&self, p: &Problem) -> String {
        let name = |n: &NodeId| p.nodes[n.0].name.as_str();
        match self {
            Trigger::LinkStep { from, to, mbps } => {
                format!("link {}->{} now {mbps:.1} Mbit/s", name(from), name(to))
            }
            Trigger::NodeStep { node, slowdown } => {
                format!("node {} now x{slowdown:.2} its profile", name(node))
            }
            Trigger::Refine => "refining the quick plan".into(),
            Trigger::CooldownOver => "retry after the cooldown".into(),
            Trigger::NodeBack { node } => format!("node {} answers again", name(node)),
            Trigger::LinkBack { from, to } => {
                format!("link {}->{} carries again", name(from), name(to))
            }
            Trigger::Drift => "periodic check".into(),
        }
    }
}

/// What to do now.
#[derive(Debug)]
pub enum Action {
    /// Send `bytes` of filler over `from -> to` to measure it.
    Probe {
        /// Sending node of the link to probe.
        from: NodeId,
        /// Receiving node of the link to probe.
        to: NodeId,
        /// Size of the filler: about 25 ms of the link at its last known rate.
        bytes: u64,
    },
    /// Re-plan (slow: off the frame loop) and report with [`Adaptation::replanned`].
    Replan(Box<ReplanRequest>),
}

/// A re-plan to run in the background.
#[derive(Debug)]
pub struct ReplanRequest {
    /// What made the re-plan, and so which planner answers first.
    pub trigger: Trigger,
    /// When the change that caused it was seen.
    pub seen_s: f64,
    /// The nominal problem corrected by the estimates.
    pub problem: Problem,
    /// The plan serving when the re-plan was asked for.
    pub current: Plan,
    /// The frame the switch would serve from (for the cooldown).
    pub frame: u64,
    /// Nodes lost when it was asked for: the re-plan plans around them.
    pub lost: Vec<NodeId>,
    controller: Arc<Mutex<Controller>>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Controller")
    }
}

/// A re-plan's answer.
#[derive(Debug, Clone)]
pub struct Replanned {
    /// The trigger of the [`ReplanRequest`] this answers.
    pub trigger: Trigger,
    /// When the change that caused the re-plan was seen (seconds, caller's clock).
    pub seen_s: f64,
    /// The candidate plan and the switching policy's decision on it.
    pub proposal: Proposal,
    /// The proposal came from the quick planner: the full one refines it after the switch.
    pub quick: bool,
    /// While the policy cools down, the first frame a switch may happen again.
    pub cooldown_ends: Option<u64>,
}

impl ReplanRequest {
    /// Runs the controller: for a link step the quick planner first (the new plan must serve
    /// within a second), then the run's planner when the quick one finds nothing worth a
    /// switch. Node steps go straight to the full planner (its tiled plans beat the quick
    /// one's by more than a switch costs).
    pub fn run(self) -> Result<Replanned, PlanError> {
        let how = self.trigger.replan();
        let mut c = self.controller.lock().expect("not poisoned");
        c.lost = self.lost.clone();
        let answer = |proposal: Proposal, quick: bool| Replanned {
            trigger: self.trigger.clone(),
            seen_s: self.seen_s,
            quick,
            cooldown_ends: None,
            proposal,
        };
        let mut out = None;
        if how == Replan::Quick && c.has_quick() {
            let prop = c.propose(self.frame, &self.problem, &self.current, Replan::Quick)?;
            if prop.decision == Decision::Switch {
                out = Some(answer(prop, true));
            }
        }
        let mut out = match out {
            Some(o) => o,
            None => {
                let full = if how == Replan::Quick {
                    Replan::Full
                } else {
                    how
                };
                answer(
                    c.propose(self.frame, &self.problem, &self.current, full)?,
                    false,
                )
            }
        };
        out.cooldown_ends = c.cooldown_ends();
        Ok(out)
    }
}

/// How often the machine looks around.
#[derive(Debug, Clone)]
pub struct AdaptConfig {
    /// Links the plan does not use are probed in rounds this far apart (seconds) when they
    /// gave no sample since the last round.
    pub probe_every_s: f64,
    /// A link is not probed again sooner than this after a probe (seconds).
    pub probe_gap_s: f64,
    /// Probes hold a link at most this share of the time (0.1: 10%): after a probe of
    /// airtime `t` at the link's last known rate, the next waits `t / probe_share`, so a slow
    /// link is measured without being monopolised (its next probe, after a 300 ms one: 3 s).
    pub probe_share: f64,
    /// Besides steps, a re-plan this often (seconds) when estimates drifted by `drift`.
    pub replan_every_s: f64,
    /// Relative change of a link rate or delay since the last re-plan (0.1 = 10%) that makes
    /// the periodic re-plan run.
    pub drift: f64,
    /// The scenario's fixed cost per message, part of every link's latency in the problem
    /// next to half the round trip: a measured round trip replaces only its own share. The
    /// default, zero, suits a problem made with no per-message cost; give the scenario's
    /// otherwise, or measured delays drop it from the latencies.
    pub message_overhead: Nanos,
    /// Smallest probe, bytes: 16 KiB where senders time links (emulation), more where
    /// receivers do (they leave a probe's first and last reads untimed).
    pub min_probe_bytes: u64,
    /// Which frames caught on an older plan get a copy on the plan serving now.
    pub hedge: HedgePolicy,
}

impl Default for AdaptConfig {
    fn default() -> AdaptConfig {
        AdaptConfig {
            probe_every_s: 0.5,
            probe_gap_s: 0.2,
            probe_share: 0.1,
            replan_every_s: 2.0,
            drift: 0.1,
            message_overhead: Nanos(0),
            min_probe_bytes: 16 << 10,
            hedge: HedgePolicy::default(),
        }
    }
}

/// A step or a part run the machine saw, for reports.
#[derive(Debug, Clone, Serialize)]
pub struct PartSample {
    /// When the run was reported (seconds, caller's clock).
    pub t_s: f64,
    /// The node the part ran on.
    pub node: NodeId,
    /// The part that ran.
    pub part: PartKey,
    /// Time the run kept the node busy.
    pub measured: Nanos,
    /// Time the nominal problem predicts for the part on that node.
    pub nominal: Nanos,
    /// The node's slowdown estimate after it.
    pub slowdown: Option<f64>,
}

/// The adaptive controller of one run.
pub struct Adaptation {
    config: AdaptConfig,
    nominal: Arc<Problem>,
    controller: Arc<Mutex<Controller>>,
    estimates: Estimates,
    current: Plan,
    used_links: Vec<(NodeId, NodeId)>,
    predicted: HashMap<PartKey, (NodeId, Nanos)>,
    /// When each link probed may be probed again.
    probe_again_at: HashMap<(NodeId, NodeId), f64>,
    next_probe_s: f64,
    last_replan_s: f64,
    planned_with: Estimates,
    trigger: Option<(Trigger, f64)>,
    /// Nodes lost now (re-plans plan around them).
    lost: Vec<NodeId>,
    /// Directed links cut now (re-plans route around them).
    cut: Vec<(NodeId, NodeId)>,
    retry_from_frame: Option<u64>,
    pending: bool,
    /// Re-plans asked for, probes sent, re-plans that found no plan keeping up.
    pub replans: usize,
    /// Probes sent.
    pub probes: usize,
    /// Re-plans that found no plan keeping up with the frame rate.
    pub overloaded: usize,
    /// Every part run seen, in order.
    pub part_samples: Vec<PartSample>,
}

impl Adaptation {
    /// Adapts `plan`, which serves now, on `nominal` (the problem as configured), re-planning
    /// with `controller`.
    pub fn new(
        nominal: Arc<Problem>,
        plan: Plan,
        controller: Controller,
        config: AdaptConfig,
    ) -> Adaptation {
        let next_probe_s = config.probe_every_s;
        let estimates = Estimates::with_overhead(config.message_overhead);
        let mut a = Adaptation {
            config,
            nominal,
            controller: Arc::new(Mutex::new(controller)),
            estimates: estimates.clone(),
            current: plan.clone(),
            used_links: Vec::new(),
            predicted: HashMap::new(),
            probe_again_at: HashMap::new(),
            next_probe_s,
            last_replan_s: 0.0,
            planned_with: estimates,
            trigger: None,
            lost: Vec::new(),
            cut: Vec::new(),
            retry_from_frame: None,
            pending: false,
            replans: 0,
            probes: 0,
            overloaded: 0,
            part_samples: Vec::new(),
        };
        a.used_links = a.links_of(&plan);
        a
    }

    /// What the run has learnt of links and nodes.
    pub fn estimates(&self) -> &Estimates {
        &self.estimates
    }

    /// The nodes lost now (down, or cut off): every re-plan from now on plans around them. A
    /// node that is no longer among them makes the next tick re-plan, so the plan may move
    /// back to it.
    pub fn set_lost(&mut self, lost: Vec<NodeId>, at_s: f64) {
        // Not through the controller's lock: a re-plan in the background may hold it for as
        // long as its planner runs.
        if let Some(&node) = self.lost.iter().find(|n| !lost.contains(n)) {
            self.trigger = Some((Trigger::NodeBack { node }, at_s));
        }
        self.lost = lost;
    }

    /// The directed links cut now: every re-plan from now on routes around them (and plans
    /// without the nodes they cut off). A link no longer among them makes the next tick
    /// re-plan, so the plan may use it again.
    pub fn set_cut(&mut self, cut: Vec<(NodeId, NodeId)>, at_s: f64) {
        if let Some(&(from, to)) = self.cut.iter().find(|l| !cut.contains(l)) {
            self.trigger = Some((Trigger::LinkBack { from, to }, at_s));
        }
        self.cut = cut;
    }

    /// The plan serving now.
    pub fn current(&self) -> &Plan {
        &self.current
    }

    /// Links that carry tensors under `plan`: its own traffic measures them, no probe needed.
    fn links_of(&self, plan: &Plan) -> Vec<(NodeId, NodeId)> {
        evaluate(&self.nominal, plan)
            .links
            .iter()
            .filter(|l| l.bytes.0 > 0)
            .map(|l| (l.from, l.to))
            .collect()
    }

    /// Deployment `deployment` serves from now on, its parts predicted to take these times on
    /// the nominal problem (part id -> (node, time)).
    pub fn deployed(&mut self, deployment: u64, parts: HashMap<String, (NodeId, Nanos)>) {
        for (part, v) in parts {
            self.predicted.insert(PartKey { deployment, part }, v);
        }
    }

    /// A node measured `m` at `at_s`. A step of a link's rate or a node's speed makes the
    /// next [`Adaptation::tick`] re-plan.
    pub fn observe(&mut self, at_s: f64, m: Measurement) {
        match m {
            Measurement::Transfer {
                from,
                to,
                bytes,
                secs,
            } => {
                if self.estimates.transfer(from, to, bytes, secs, at_s) {
                    let mbps = self.estimates.link_mbps(from, to).unwrap_or(0.0);
                    self.trigger_once(Trigger::LinkStep { from, to, mbps }, at_s);
                }
            }
            Measurement::RoundTrip { a, b, secs } => self.estimates.round_trip(a, b, secs),
            Measurement::PartRun { part, busy } => {
                let Some(&(node, nominal)) = self.predicted.get(&part) else {
                    return; // a part of a deployment this run did not make
                };
                let step = self.estimates.part_run(node, &part, busy, nominal);
                let slowdown = self.estimates.slowdown(node);
                self.part_samples.push(PartSample {
                    t_s: at_s,
                    node,
                    part,
                    measured: busy,
                    nominal,
                    slowdown,
                });
                if step {
                    let slowdown = slowdown.unwrap_or(1.0);
                    self.trigger_once(Trigger::NodeStep { node, slowdown }, at_s);
                }
            }
        }
    }

    /// The first reason to re-plan is kept until the re-plan runs.
    fn trigger_once(&mut self, t: Trigger, at_s: f64) {
        if self.trigger.is_none() {
            self.trigger = Some((t, at_s));
        }
    }

    /// Every tick at `at_s`, frame `next_frame` being the next one fed: the probes due and,
    /// when due and none is running, a re-plan. Nothing while frames are no longer fed.
    pub fn tick(&mut self, at_s: f64, next_frame: u64, feeding: bool) -> Vec<Action> {
        if !feeding {
            return Vec::new();
        }
        let mut actions = self.probes(at_s);
        if self.retry_from_frame.is_some_and(|f| next_frame >= f) {
            self.retry_from_frame = None;
            self.trigger_once(Trigger::CooldownOver, at_s);
        }
        let drifted = at_s - self.last_replan_s >= self.config.replan_every_s
            && self
                .estimates
                .change_since(&self.planned_with, &self.nominal)
                > self.config.drift;
        if !self.pending && (self.trigger.is_some() || drifted) {
            actions.push(Action::Replan(Box::new(self.replan(at_s, next_frame))));
        }
        actions
    }

    fn replan(&mut self, at_s: f64, frame: u64) -> ReplanRequest {
        self.last_replan_s = at_s;
        self.planned_with = self.estimates.clone();
        self.replans += 1;
        self.pending = true;
        let (trigger, seen_s) = self.trigger.take().unwrap_or((Trigger::Drift, at_s));
        ReplanRequest {
            trigger,
            seen_s,
            // Without the lost nodes' links and the cut ones, so the plan's tensors are not
            // routed over them.
            problem: self
                .estimates
                .apply(&self.nominal)
                .without_links_of(&self.lost)
                .without_links(&self.cut),
            current: self.current.clone(),
            frame,
            lost: self.lost.clone(),
            controller: self.controller.clone(),
        }
    }

    /// Links to probe now: those whose last sample looked like a step, and in each round the
    /// links that gave no sample lately; never a link the plan's tensors measure, nor one
    /// probed moments ago.
    fn probes(&mut self, at_s: f64) -> Vec<Action> {
        let mut links = self.estimates.suspect_links();
        if at_s >= self.next_probe_s {
            self.next_probe_s = at_s + self.config.probe_every_s;
            let idle = self.config.probe_every_s * 0.8;
            links.extend(self.estimates.idle_links(&self.nominal, at_s, idle));
        }
        links.sort();
        links.dedup();
        let mut out = Vec::new();
        for (from, to) in links {
            let recent = self
                .probe_again_at
                .get(&(from, to))
                .is_some_and(|&next| at_s < next);
            // A cut link, or one to a lost node, would hold its probe until it carries again.
            let gone = self.cut.contains(&(from, to))
                || self.lost.contains(&from)
                || self.lost.contains(&to);
            if self.used_links.contains(&(from, to)) || recent || gone {
                continue;
            }
            let (bytes, airtime) = self.probe_bytes(from, to);
            let share = airtime / self.config.probe_share.clamp(1e-3, 1.0);
            // A link of unknown or zero rate waits the gap only.
            let wait = match share.is_finite() {
                true => self.config.probe_gap_s.max(share),
                false => self.config.probe_gap_s,
            };
            self.probe_again_at.insert((from, to), at_s + wait);
            self.probes += 1;
            out.push(Action::Probe { from, to, bytes });
        }
        out
    }

    /// About 25 ms of the link at its last known rate (shorter probes time the timer, which
    /// wakes up to a millisecond late, more than the link), and at least the configured
    /// smallest probe unless that holds the link over 300 ms: a receiver leaves its first and
    /// last reads untimed, and a link that recovered carries a short probe in a few reads.
    /// Returns the size and its airtime at that rate (seconds).
    fn probe_bytes(&self, from: NodeId, to: NodeId) -> (u64, f64) {
        let mbps = self.estimates.link_mbps(from, to).unwrap_or_else(|| {
            self.nominal
                .link(from, to)
                .map_or(10.0, |l| l.bandwidth.0 * 8.0 / 1e6)
        });
        let during = |secs: f64| (mbps * 1e6 / 8.0 * secs) as u64;
        let bytes = during(0.025)
            .max(self.config.min_probe_bytes)
            .min(during(0.3))
            .clamp(16 << 10, 2 << 20);
        (bytes, bytes as f64 * 8.0 / (mbps * 1e6))
    }

    /// The re-plan came back. Returns the plan to deploy when the policy switches (then
    /// report it live with [`Adaptation::switched`]); held back by the cooldown, it is tried
    /// again once the cooldown ends.
    pub fn replanned(&mut self, r: &Replanned) -> Option<Plan> {
        self.pending = false;
        self.overloaded += usize::from(r.proposal.overloaded);
        match r.proposal.decision {
            Decision::Switch => return Some(r.proposal.plan.clone()),
            Decision::KeepCoolingDown => self.retry_from_frame = r.cooldown_ends,
            _ => {}
        }
        None
    }

    /// The re-plan was abandoned (frames stopped before it finished).
    pub fn abandoned(&mut self) {
        self.pending = false;
    }

    /// `plan` serves from now on; after a quick plan, the full planner refines it.
    pub fn switched(&mut self, plan: Plan, quick: bool, at_s: f64) {
        self.used_links = self.links_of(&plan);
        self.current = plan;
        if quick {
            self.trigger = Some((Trigger::Refine, at_s));
        }
    }

    /// The frames of `caught` (number, time in flight, the older plan it runs on) worth a
    /// copy on the plan serving now, each plan's makespan predicted under the estimates.
    pub fn hedges(&self, caught: &[(u64, Nanos, &Plan)]) -> Vec<Hedge> {
        if !self.config.hedge.enabled || caught.is_empty() {
            return Vec::new();
        }
        let now = self.estimates.apply(&self.nominal);
        let serving = evaluate(&now, &self.current).makespan;
        let in_flight: Vec<InFlight> = caught
            .iter()
            .map(|&(frame, elapsed, plan)| InFlight {
                frame,
                elapsed,
                predicted: evaluate(&now, plan).makespan,
            })
            .collect();
        self.config.hedge.pick(serving, &in_flight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SwitchPolicy;
    use tiersplit_plan::planner_by_name;

    use crate::test_problem::three_tier_chain as problem;

    const DEVICE: NodeId = NodeId(0);
    const EDGE: NodeId = NodeId(1);

    fn adaptation(algo: &str, interval: Option<Nanos>, cooldown: u64) -> Adaptation {
        let p = Arc::new(problem());
        let plan = planner_by_name(algo).unwrap().plan(&p).unwrap();
        let c = Controller::new(
            algo,
            "best-throughput",
            interval,
            SwitchPolicy::new(0.1, cooldown),
        )
        .unwrap();
        Adaptation::new(p, plan, c, AdaptConfig::default())
    }

    /// 64 KiB over the uplink at `mbps`.
    fn uplink(mbps: f64) -> Measurement {
        Measurement::Transfer {
            from: DEVICE,
            to: EDGE,
            bytes: 65536,
            secs: 65536.0 * 8.0 / (mbps * 1e6),
        }
    }

    fn replans(actions: Vec<Action>) -> Vec<ReplanRequest> {
        actions
            .into_iter()
            .filter_map(|a| match a {
                Action::Replan(r) => Some(*r),
                Action::Probe { .. } => None,
            })
            .collect()
    }

    fn probes(actions: &[Action]) -> Vec<(NodeId, NodeId)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Probe { from, to, .. } => Some((*from, *to)),
                Action::Replan(_) => None,
            })
            .collect()
    }

    /// Runs a re-plan to its end as the frame loop does, switching when the policy says so.
    fn answer(a: &mut Adaptation, r: ReplanRequest, at_s: f64) -> Option<Replanned> {
        let done = r.run().unwrap();
        let plan = a.replanned(&done)?;
        a.switched(plan, done.quick, at_s);
        Some(done)
    }

    #[test]
    fn a_collapsed_uplink_switches_quick_then_refines_then_stays() {
        let mut a = adaptation("best", None, 3);
        let start = a.current().clone();
        // Steady at the nominal 50 Mbit/s: nothing to do.
        for i in 0..10 {
            a.observe(0.1 * i as f64, uplink(50.0));
            assert!(replans(a.tick(0.1 * i as f64, i + 1, true)).is_empty());
        }
        // 3G: two samples far from the average make a step, and one re-plan.
        a.observe(1.0, uplink(1.1));
        assert!(
            replans(a.tick(1.0, 11, true)).is_empty(),
            "one sample is noise"
        );
        a.observe(1.1, uplink(1.1));
        let r = replans(a.tick(1.1, 12, true));
        assert_eq!(r.len(), 1);
        assert!(matches!(
            r[0].trigger,
            Trigger::LinkStep {
                from: DEVICE,
                to: EDGE,
                ..
            }
        ));
        assert_eq!(r[0].seen_s, 1.1);
        // No second re-plan while the first is out.
        a.observe(1.15, uplink(1.1));
        assert!(replans(a.tick(1.2, 12, true)).is_empty());
        let quick = answer(&mut a, r.into_iter().next().unwrap(), 1.3).expect("a switch");
        assert!(quick.quick, "the quick planner answers a link step");
        assert_eq!(quick.proposal.plan.algorithm, "exact-3tier");
        assert_ne!(a.current().placement, start.placement);
        // The full planner refines it right away, without waiting for the cooldown.
        let r = replans(a.tick(1.4, 13, true));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].trigger, Trigger::Refine);
        answer(&mut a, r.into_iter().next().unwrap(), 1.5);
        // Then, under the same conditions, no more re-plans: no flapping.
        for i in 0..15 {
            let t = 1.6 + 0.1 * i as f64;
            a.observe(t, uplink(1.1));
            assert!(replans(a.tick(t, 14 + i, true)).is_empty(), "at {t}");
        }
        assert_eq!(a.replans, 2);
    }

    #[test]
    fn a_frame_caught_on_the_collapsed_uplink_is_worth_a_copy_on_the_new_plan() {
        let mut a = adaptation("best", None, 3);
        let start = a.current().clone();
        for i in 0..10 {
            a.observe(0.1 * i as f64, uplink(50.0));
            a.tick(0.1 * i as f64, i + 1, true);
        }
        a.observe(1.0, uplink(1.1));
        a.observe(1.1, uplink(1.1));
        let r = replans(a.tick(1.1, 12, true)).pop().expect("a re-plan");
        answer(&mut a, r, 1.3).expect("a switch");
        // 600 kB over 1.1 Mbit/s: the frame fed on the old plan 0.3 s ago needs seconds more;
        // one fed on it 30 s ago (past any makespan) is late for a reason the estimates miss.
        let ms = |v: u64| Nanos::from_millis_f64(v as f64);
        let caught = [(11, ms(300), &start), (5, ms(30_000), &start)];
        let hedges = a.hedges(&caught);
        assert_eq!(hedges.iter().map(|h| h.frame).collect::<Vec<_>>(), [11, 5]);
        assert!(hedges[0].remaining.0 > 3_000_000_000, "{:?}", hedges[0]);
        assert!(hedges[0].copy.0 * 2 <= hedges[0].remaining.0);
        // A frame on the plan serving now is never worth a copy of itself.
        let current = a.current().clone();
        assert!(a.hedges(&[(12, ms(0), &current)]).is_empty());
    }

    #[test]
    fn a_cut_link_is_left_out_of_replans_and_its_mending_replans() {
        let mut a = adaptation("best", None, 3);
        let cloud = NodeId(2);
        let has = |r: &ReplanRequest, from, to| r.problem.link(from, to).is_some();
        a.set_cut(vec![(EDGE, cloud), (cloud, EDGE)], 1.0);
        // Nothing came back: no re-plan of its own (the frame loop fails over).
        assert!(replans(a.tick(1.0, 1, true)).is_empty());
        a.set_cut(vec![(cloud, EDGE)], 2.0);
        let r = replans(a.tick(2.0, 2, true)).pop().expect("a re-plan");
        assert_eq!(
            r.trigger,
            Trigger::LinkBack {
                from: EDGE,
                to: cloud
            }
        );
        assert!(has(&r, EDGE, cloud) && !has(&r, cloud, EDGE));
        assert_eq!(
            r.trigger.describe(&r.problem),
            "link edge0->cloud carries again"
        );
        // The link still cut is never probed.
        for t in [3.0, 3.5, 4.0, 4.5] {
            assert!(
                !probes(&a.tick(t, 3, true)).contains(&(cloud, EDGE)),
                "at {t}"
            );
        }
    }

    #[test]
    fn idle_links_are_probed_in_rounds_and_used_links_never() {
        let mut a = adaptation("best", None, 3);
        let used = a.links_of(&a.current().clone());
        let first = probes(&a.tick(0.5, 1, true));
        assert!(!first.is_empty(), "every link is idle at first");
        assert!(
            first.iter().all(|l| !used.contains(l)),
            "{first:?} {used:?}"
        );
        // Not again before the next round, however often the loop ticks.
        for t in [0.6, 0.7, 0.8, 0.9] {
            assert!(probes(&a.tick(t, 1, true)).is_empty(), "at {t}");
        }
        assert_eq!(probes(&a.tick(1.0, 1, true)), first);
        // A link that answers its probe is not idle any more; a suspect one is probed at once.
        let (from, to) = first[0];
        let sample = |mbps: f64| Measurement::Transfer {
            from,
            to,
            bytes: 65536,
            secs: 65536.0 * 8.0 / (mbps * 1e6),
        };
        for i in 0..5 {
            a.observe(1.1 + 0.01 * i as f64, sample(20.0));
        }
        assert!(!probes(&a.tick(1.5, 1, true)).contains(&(from, to)));
        a.observe(1.6, sample(2.0));
        assert_eq!(probes(&a.tick(1.65, 1, true)), vec![(from, to)]);
        // Once frames stop, nothing.
        assert!(a.tick(5.0, 1, false).is_empty());
    }

    #[test]
    fn a_slow_link_is_probed_at_most_a_tenth_of_the_time() {
        let p = Arc::new(problem());
        let plan = planner_by_name("best").unwrap().plan(&p).unwrap();
        let c = Controller::new("best", "best-throughput", None, SwitchPolicy::new(0.1, 3));
        let config = AdaptConfig {
            min_probe_bytes: 64 << 10,
            ..AdaptConfig::default()
        };
        let mut a = Adaptation::new(p, plan, c.unwrap(), config);
        let (from, to) = probes(&a.tick(0.5, 1, true))[0];
        let sample = |mbps: f64| Measurement::Transfer {
            from,
            to,
            bytes: 37_500,
            secs: 37_500.0 * 8.0 / (mbps * 1e6),
        };
        for i in 0..6 {
            a.observe(0.6 + 0.01 * i as f64, sample(1.0));
        }
        // Every other sample far from the 1 Mbit/s estimate keeps the link suspect; each probe
        // is 300 ms of it (64 KiB would be 524 ms), so the next waits 3 s.
        let mut probed = Vec::new();
        for i in 0..100 {
            let t = 1.0 + 0.1 * i as f64;
            a.observe(t, sample(if i % 2 == 0 { 4.0 } else { 1.0 }));
            for action in a.tick(t, 1, true) {
                if let Action::Probe {
                    from: f,
                    to: g,
                    bytes,
                } = action
                {
                    if (f, g) == (from, to) {
                        probed.push((t, bytes));
                    }
                }
            }
        }
        assert_eq!(probed.len(), 4, "{probed:?}");
        assert!(probed.iter().all(|&(_, b)| b == 37_500), "{probed:?}");
        assert!(
            probed.windows(2).all(|w| w[1].0 - w[0].0 >= 3.0 - 1e-9),
            "{probed:?}"
        );
    }

    #[test]
    fn the_cooldown_holds_a_switch_back_until_its_frame() {
        let mut a = adaptation("exact-3tier", None, 10);
        a.observe(0.0, uplink(50.0));
        for i in 1..3 {
            a.observe(0.1 * i as f64, uplink(1.1));
        }
        let r = replans(a.tick(0.3, 5, true)).pop().expect("a step");
        answer(&mut a, r, 0.35).expect("switched at frame 5");
        // Back to WiFi at frame 7: better, but within the cooldown (frames 5 to 15).
        for i in 0..3 {
            a.observe(0.4 + 0.1 * i as f64, uplink(50.0));
        }
        let r = replans(a.tick(0.7, 7, true)).pop().expect("a step");
        let held = r.run().unwrap();
        assert_eq!(held.proposal.decision, Decision::KeepCoolingDown);
        assert_eq!(a.replanned(&held), None);
        // Nothing before frame 15, then a retry that switches.
        assert!(replans(a.tick(0.8, 14, true)).is_empty());
        let r = replans(a.tick(0.9, 15, true)).pop().expect("retried");
        assert_eq!(r.trigger, Trigger::CooldownOver);
        assert!(answer(&mut a, r, 1.0).is_some());
    }

    #[test]
    fn a_slowed_node_is_a_full_replan_and_drift_replans_now_and_then() {
        let mut a = adaptation("best", None, 3);
        let key = PartKey::new(1, "part0@edge0");
        a.deployed(
            1,
            [("part0@edge0".to_string(), (EDGE, Nanos(10_000_000)))].into(),
        );
        let run = |ms: u64| Measurement::PartRun {
            part: key.clone(),
            busy: Nanos(ms * 1_000_000),
        };
        for i in 0..4 {
            a.observe(0.1 * i as f64, run(10));
        }
        assert!(replans(a.tick(0.4, 5, true)).is_empty());
        for i in 0..3 {
            a.observe(0.5 + 0.1 * i as f64, run(40));
        }
        let r = replans(a.tick(0.8, 8, true)).pop().expect("a step");
        assert!(
            matches!(r.trigger, Trigger::NodeStep { node: EDGE, slowdown } if (slowdown - 4.0).abs() < 1e-9)
        );
        assert_eq!(r.trigger.replan(), Replan::Full);
        assert_eq!(a.part_samples.len(), 7);
        // Unknown parts (another run's deployments) are not samples.
        a.observe(
            0.85,
            Measurement::PartRun {
                part: PartKey::new(9, "x"),
                busy: Nanos(1),
            },
        );
        assert_eq!(a.part_samples.len(), 7);
        answer(&mut a, r, 0.9);
        // A slow drift of the uplink (no step): a periodic re-plan after 2 s, not before.
        let mut b = adaptation("best", None, 3);
        for (i, mbps) in [45.0, 44.0, 43.0, 42.0, 41.0, 40.0].iter().enumerate() {
            b.observe(0.3 * i as f64, uplink(*mbps));
        }
        assert!(replans(b.tick(1.9, 3, true)).is_empty());
        let r = replans(b.tick(2.0, 3, true)).pop().expect("drifted");
        assert_eq!(r.trigger, Trigger::Drift);
    }

    #[test]
    fn under_a_frame_rate_no_plan_keeps_up_and_the_run_is_flagged() {
        // 100 frames/s: no plan's stage is that short.
        let mut a = adaptation("best", Some(Nanos::from_millis_f64(10.0)), 0);
        a.observe(0.0, uplink(50.0));
        for i in 1..3 {
            a.observe(0.1 * i as f64, uplink(1.1));
        }
        let r = replans(a.tick(0.3, 2, true)).pop().expect("a step");
        let done = r.run().unwrap();
        assert_eq!(done.proposal.mode, crate::Mode::Heavy);
        assert!(done.proposal.sustainable_fps < 100.0);
        a.replanned(&done);
        assert_eq!(a.overloaded, 1);
    }
}
