//! A run over a trace of changing conditions: the emulated cluster's link rates and node loads
//! follow the trace while frames flow, and the plan either stays fixed (a static plan, for
//! comparison) or adapts: the device reads what every node measured (progress of transfers,
//! probes of idle links, part runs), estimates link rates and node slowdowns, re-plans on the
//! corrected problem in the background, and switches live when the policy agrees. Every frame
//! is accounted for (answered, failed, or dropped by the overload policy) and checked against
//! the unsplit model.

use crate::plan_deployment::{self, emulation_at_speed, Built};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tiersplit_adapt::{
    Admission, Controller, Decision, Estimates, FrameQueue, Mode, Overload, Proposal, Replan, Trace,
};
use tiersplit_cost::{Nanos, NodeId, Problem, Profile, Scenario};
use tiersplit_exec::{Difference, HostTensor};
use tiersplit_onnx::OnnxModel;
use tiersplit_plan::{evaluate, Plan};
use tiersplit_runtime::{in_background, ClusterDriver, Observation};
use tokio::time::Instant;

/// Everything a trace run needs besides the cluster.
pub struct TraceSetup {
    /// The model as the user named it, for titles.
    pub label: String,
    pub model: Arc<OnnxModel>,
    /// The scenario as configured: the trace's starting point.
    pub base: Scenario,
    pub scenario_path: std::path::PathBuf,
    /// The profile calibrated to this machine and scaled to the fastest node.
    pub profile: Profile,
    pub trace: Trace,
    /// The speed that runs at this machine's own (the scenario's fastest node).
    pub fastest: f64,
    /// The unsplit model's time measured here, which the profile was calibrated to (ms).
    pub whole_ms: f64,
    pub inputs: Vec<(String, HostTensor)>,
    pub reference: Vec<HostTensor>,
    /// Frames at this rate (pipelined, `window` in flight at most); None: one at a time.
    pub fps: Option<f64>,
    pub window: usize,
    pub overload: Overload,
    /// Frames waiting on the device at most (drop-oldest).
    pub queue: usize,
}

/// How the plan is chosen during the run.
pub enum Strategy {
    /// One plan for the whole trace.
    Static { label: String, plan: Plan },
    /// Re-planned from estimates with `controller`, starting from `plan`.
    Adaptive {
        label: String,
        plan: Plan,
        controller: Controller,
    },
}

impl Strategy {
    pub fn label(&self) -> &str {
        match self {
            Strategy::Static { label, .. } | Strategy::Adaptive { label, .. } => label,
        }
    }
}

/// One answered frame.
#[derive(Debug, Clone, Serialize)]
pub struct FrameLog {
    pub frame: u64,
    /// The deployment that answered it.
    pub plan: String,
    /// When the source produced it and when its answer was complete, seconds from the start.
    pub arrived_s: f64,
    pub done_s: f64,
    pub latency_ms: f64,
    pub max_rel_diff: f64,
    pub exact: bool,
}

/// One live plan switch.
#[derive(Debug, Clone, Serialize)]
pub struct SwitchLog {
    /// What made the controller re-plan (an estimate's step, or the periodic check).
    pub trigger: String,
    /// When it was seen, when the policy decided, and when the new plan was deployed (it
    /// serves every frame fed from then on), seconds from the start.
    pub seen_s: f64,
    pub decided_s: f64,
    pub ready_s: f64,
    /// The first frame the new plan served, and when its answer came (None: no frame was
    /// fed after it).
    pub first_frame: u64,
    pub first_answer_s: Option<f64>,
    pub from: String,
    pub to: String,
    pub placement: String,
    pub mode: Mode,
    /// Predicted score (makespan, or period in heavy mode) of the old and new plan under the
    /// estimates, ms.
    pub predicted_old_ms: f64,
    pub predicted_new_ms: f64,
    /// Models the nodes already had.
    pub cached_models: usize,
    /// The switch checked against the truth: the old and new plan's predicted makespan under
    /// the trace's real conditions when it was seen, and the best plan's (ms).
    pub truth: Option<TruthCheck>,
    #[serde(skip)]
    plans: Option<(Plan, Plan)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TruthCheck {
    /// When the conditions it answers began (the trace's last change before it was seen).
    pub phase_s: f64,
    pub old_ms: f64,
    pub new_ms: f64,
    /// What --algo plans with the real conditions known.
    pub best_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PartSample {
    pub t_s: f64,
    pub node: String,
    pub part: String,
    pub measured_ms: f64,
    pub nominal_ms: f64,
    pub slowdown: Option<f64>,
}

/// A change of conditions the trace made.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseLog {
    pub at_s: f64,
    pub applied_s: f64,
    pub what: String,
}

/// A strategy's run over the trace.
#[derive(Debug, Clone, Serialize)]
pub struct TraceReport {
    pub label: String,
    pub adaptive: bool,
    pub frames: Vec<FrameLog>,
    pub switches: Vec<SwitchLog>,
    pub phases: Vec<PhaseLog>,
    pub failures: Vec<(u64, String)>,
    /// Frames the source produced, fed to the cluster, and dropped by the overload policy.
    pub produced: u64,
    pub fed: u64,
    pub dropped: u64,
    /// Times the source had to wait for room (back-pressure).
    pub blocked: u64,
    /// Re-plans that found no plan keeping up with the frame rate.
    pub overloaded: usize,
    /// Re-plans run, probes sent.
    pub replans: usize,
    pub probes: usize,
    /// Link estimates at the end, Mbit/s ("from->to").
    pub link_mbps: BTreeMap<String, f64>,
    pub node_slowdown: BTreeMap<String, f64>,
    /// Every part run the estimators saw: (seconds, node, deployment/part, measured ms,
    /// nominal ms), and each node's slowdown estimate after it.
    pub part_samples: Vec<PartSample>,
    /// Mean latency per answered frame.
    pub mean_ms: f64,
    /// Mean latency over time: each frame weighted by how long it took, the latency of the
    /// frame in progress at a random moment. A plan whose frames crawl answers fewer of them,
    /// which the per-frame mean rewards; this does not.
    pub time_mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub all_exact: bool,
}

/// A re-plan done in the background: the proposal, and when it is a switch, the deployment
/// with its models already on the nodes.
struct Prepared {
    /// The proposal came from the controller's quick planner: refine it next.
    quick: bool,
    trigger: Trigger,
    seen_s: f64,
    proposal: Proposal,
    built: Option<(Built, usize)>,
    decided_s: f64,
}

/// What made the controller re-plan, and so how it re-plans.
#[derive(Debug, Clone)]
enum Trigger {
    /// A link's rate stepped: the quick planner answers first.
    LinkStep(String),
    /// A node's speed stepped.
    NodeStep(String),
    /// The full planner refines the quick plan just switched to.
    Refine,
    /// A proposal held back by the cooldown is tried again.
    CooldownOver,
    /// Link estimates drifted since the last re-plan.
    Drift,
}

impl Trigger {
    fn replan(&self) -> Replan {
        match self {
            Trigger::LinkStep(_) => Replan::Quick,
            Trigger::Refine => Replan::Refinement,
            _ => Replan::Full,
        }
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trigger::LinkStep(what) | Trigger::NodeStep(what) => f.write_str(what),
            Trigger::Refine => f.write_str("refining the quick plan"),
            Trigger::CooldownOver => f.write_str("retry after the cooldown"),
            Trigger::Drift => f.write_str("periodic check"),
        }
    }
}

/// The scenario's nodes by name.
fn node_index(p: &Problem) -> HashMap<String, NodeId> {
    p.node_ids()
        .map(|n| (p.nodes[n.0].name.clone(), n))
        .collect()
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// What changed between two scenarios, for the log.
fn describe_change(before: &Scenario, after: &Scenario) -> String {
    let mut what = Vec::new();
    for (a, b) in before.links.iter().zip(&after.links) {
        if a.bandwidth_mbps != b.bandwidth_mbps {
            what.push(format!(
                "{}-{} {} -> {} Mbit/s",
                a.from, a.to, a.bandwidth_mbps, b.bandwidth_mbps
            ));
        }
    }
    for (a, b) in before.nodes.iter().zip(&after.nodes) {
        if a.speed != b.speed {
            what.push(format!("{} load x{:.1}", a.name, a.speed / b.speed));
        }
    }
    what.join(", ")
}

impl TraceSetup {
    /// The problem under the trace's conditions at `t_s`.
    pub fn problem_at(&self, t_s: f64) -> Result<Problem> {
        let s = self.trace.scenario_at(&self.base, t_s);
        crate::problem_setup::problem(&self.model, &s, &self.scenario_path, &self.profile)
    }

    fn emulation_at(&self, t_s: f64) -> tiersplit_runtime::Emulation {
        // Traces need the transport to shape rates (not only delays): `run` checks it.
        emulation_at_speed(
            &self.trace.scenario_at(&self.base, t_s),
            false,
            self.fastest,
        )
    }

    fn check(&self, outputs: &HashMap<String, HostTensor>) -> Difference {
        let g = &self.model.graph;
        // A missing output leaves fewer results than references: an infinite difference.
        let outs: Vec<HostTensor> = g
            .outputs
            .iter()
            .filter_map(|&t| outputs.get(&g.tensor(t).name).cloned())
            .collect();
        Difference::between(&outs, &self.reference)
    }
}

/// Plays the trace on the driver's cluster with `strategy` and reports every frame.
pub async fn run_trace(
    driver: &mut ClusterDriver,
    setup: &TraceSetup,
    strategy: Strategy,
) -> Result<TraceReport> {
    let nominal = Arc::new(setup.problem_at(0.0)?);
    let nodes = node_index(&nominal);
    let (label, mut current, controller) = match strategy {
        Strategy::Static { label, plan } => (label, plan, None),
        Strategy::Adaptive {
            label,
            plan,
            controller,
        } => (label, plan, Some(Arc::new(Mutex::new(controller)))),
    };
    let adaptive = controller.is_some();
    let algo = current.algorithm.clone();
    // Conditions as at the start, the first plan deployed, one warm-up frame.
    driver.set_emulation(setup.emulation_at(0.0)).await?;
    let mut deployments = 0usize;
    let mut predicted: HashMap<(String, String), (NodeId, Nanos)> = HashMap::new();
    let mut deploy_id = |plan: &Plan| {
        deployments += 1;
        format!("{}#{deployments}", plan.algorithm)
    };
    let mut built = plan_deployment::build(
        &setup.model,
        &nominal,
        &current,
        driver.addresses(),
        setup.emulation_at(0.0),
    )?;
    let mut current_id = deploy_id(&current);
    built.deployment.id = current_id.clone();
    for (part, v) in built.predicted(&nominal) {
        predicted.insert((current_id.clone(), part), v);
    }
    driver
        .deploy(&built.deployment, &built.models)
        .await
        .with_context(|| format!("deploying {label}"))?;
    // A few warm-up frames: the first runs of fresh models allocate, and the first strategy
    // would otherwise pay for the cluster's start.
    driver.run(&setup.inputs, 3, None, 1).await?;
    driver.observe().await?; // what the warm-up measured is not part of the run

    let duration = setup.trace.duration_s;
    let phases = setup.trace.phases(&setup.base);
    let mut next_phase = 1;
    let start = Instant::now();
    let secs = move |i: Instant| i.duration_since(start).as_secs_f64();
    let interval = setup.fps.map(|f| Duration::from_secs_f64(1.0 / f));
    let window = if interval.is_some() {
        setup.window.max(1)
    } else {
        1
    };
    let mut queue = FrameQueue::new(
        setup.overload,
        if interval.is_some() { setup.queue } else { 1 },
    );
    let mut next_arrival = start;
    // Frame number -> (deployment, arrival, fed), seconds.
    let mut in_flight: BTreeMap<u64, (String, f64, f64)> = BTreeMap::new();
    let mut report = TraceReport {
        label: label.clone(),
        adaptive,
        frames: vec![],
        switches: vec![],
        phases: vec![],
        failures: vec![],
        produced: 0,
        fed: 0,
        dropped: 0,
        blocked: 0,
        overloaded: 0,
        replans: 0,
        probes: 0,
        link_mbps: BTreeMap::new(),
        node_slowdown: BTreeMap::new(),
        part_samples: vec![],
        mean_ms: f64::NAN,
        time_mean_ms: f64::NAN,
        p50_ms: f64::NAN,
        p95_ms: f64::NAN,
        all_exact: true,
    };
    let mut estimates = Estimates::default();
    let tick = Duration::from_millis(100);
    let mut next_tick = start + tick;
    // Links the plan does not use are probed in rounds this far apart when they gave no
    // sample since the last round.
    let probe_every = 0.5;
    let mut next_probe_s = 0.5;
    let mut probed_at: HashMap<(NodeId, NodeId), f64> = HashMap::new();
    let used = |plan: &Plan| -> Vec<(NodeId, NodeId)> {
        evaluate(&nominal, plan)
            .links
            .iter()
            .filter(|l| l.bytes.0 > 0)
            .map(|l| (l.from, l.to))
            .collect()
    };
    let mut used_links = used(&current);
    // Besides steps, a re-plan now and then when estimates drifted since the last one.
    let (replan_every, drift) = (2.0, 0.1);
    let mut last_replan_s = 0.0;
    let mut planned_with = Estimates::default();
    let mut trigger: Option<(Trigger, f64)> = None;
    // A proposal held back by the cooldown is retried from this frame on.
    let mut retry_from_frame: Option<u64> = None;
    let mut pending: Option<tokio::task::JoinHandle<Result<Prepared>>> = None;
    // Index in report.switches of switches whose first answer is not in yet.
    let mut awaiting_first: Vec<usize> = vec![];
    let mut scenario_now = setup.base.clone();
    loop {
        let now = Instant::now();
        let t = secs(now);
        let feeding = t < duration;
        if !feeding && in_flight.is_empty() && queue.waiting() == 0 && pending.is_none() {
            break;
        }
        // 1. The trace's changes, when due.
        while next_phase < phases.len() && phases[next_phase].0 <= t {
            let (at, ref s) = phases[next_phase];
            driver.set_emulation(setup.emulation_at(at)).await?;
            report.phases.push(PhaseLog {
                at_s: at,
                applied_s: secs(Instant::now()),
                what: describe_change(&scenario_now, s),
            });
            scenario_now = s.clone();
            next_phase += 1;
        }
        // 2. Frames: the source produces them (paced) or the next one follows the last answer.
        if feeding {
            match interval {
                Some(iv) => {
                    while next_arrival <= now {
                        // A frame the source held (back-pressure) is produced when there is
                        // room, so now; the next one follows an interval later.
                        let at = if queue.holding() { now } else { next_arrival };
                        match queue.arrive(secs(at)) {
                            Admission::Blocked => break,
                            Admission::Queued => {}
                            Admission::DroppedOldest(_) => report.dropped += 1,
                        }
                        next_arrival = at + iv;
                    }
                }
                None => {
                    if in_flight.is_empty() && queue.waiting() == 0 {
                        queue.arrive(t);
                    }
                }
            }
        }
        while in_flight.len() < window {
            let Some(a) = queue.take() else { break };
            let frame = driver.feed(&setup.inputs)?;
            in_flight.insert(frame, (current_id.clone(), a.at_s, secs(Instant::now())));
            report.fed += 1;
        }
        // 3. Answers, until the next thing to do.
        let mut wake = next_tick;
        if feeding {
            if interval.is_some() && !queue.holding() {
                wake = wake.min(next_arrival.max(now));
            }
            if let Some((at, _)) = phases.get(next_phase) {
                wake = wake.min(start + Duration::from_secs_f64(*at));
            }
        }
        if let Some(r) = driver.next_result(wake).await {
            let Some((dep, arrived, _)) = in_flight.remove(&r.frame) else {
                continue; // a late answer of an earlier run
            };
            match r.outputs {
                Ok(outs) => {
                    let d = setup.check(&outs);
                    let done = secs(r.done);
                    report.all_exact &= d.within_tolerance();
                    for &i in &awaiting_first {
                        let sw = &mut report.switches[i];
                        if sw.first_answer_s.is_none() && r.frame >= sw.first_frame {
                            sw.first_answer_s = Some(done);
                        }
                    }
                    awaiting_first.retain(|&i| report.switches[i].first_answer_s.is_none());
                    report.frames.push(FrameLog {
                        frame: r.frame,
                        plan: dep,
                        arrived_s: arrived,
                        done_s: done,
                        latency_ms: (done - arrived) * 1e3,
                        max_rel_diff: d.max_rel,
                        exact: d.within_tolerance(),
                    });
                }
                Err(e) => report.failures.push((r.frame, e)),
            }
            continue;
        }
        let now = Instant::now();
        if let Some((&frame, (_, _, fed))) = in_flight.iter().next() {
            if secs(now) - fed > driver.timeout.as_secs_f64() {
                bail!(
                    "frame {frame} not answered within {:?} under {label}",
                    driver.timeout
                );
            }
        }
        if now < next_tick {
            continue;
        }
        next_tick = now + tick;
        let Some(controller) = &controller else {
            continue;
        };
        // 4. Estimates from what the nodes measured since the last tick.
        let t = secs(now);
        for o in driver.observe().await? {
            let Some(&from) = nodes.get(&o.node) else {
                continue;
            };
            for rec in o.records {
                match rec {
                    Observation::Transfer(x) => {
                        let Some(&to) = nodes.get(&x.to) else {
                            continue;
                        };
                        if estimates.transfer(from, to, x.bytes, x.micros as f64 / 1e6, t)
                            && trigger.is_none()
                        {
                            trigger = Some((
                                Trigger::LinkStep(format!(
                                    "link {}->{} now {:.1} Mbit/s",
                                    o.node,
                                    x.to,
                                    estimates.link_mbps(from, to).unwrap_or(0.0)
                                )),
                                t,
                            ));
                        }
                    }
                    Observation::Part(p) => {
                        let key = (p.deployment.clone(), p.part.clone());
                        if let Some(&(node, pred)) = predicted.get(&key) {
                            let part = format!("{}/{}", key.0, key.1);
                            let step =
                                estimates.part_run(node, &part, Nanos(p.busy_us * 1000), pred);
                            report.part_samples.push(PartSample {
                                t_s: t,
                                node: o.node.clone(),
                                part,
                                measured_ms: p.busy_us as f64 / 1e3,
                                nominal_ms: pred.as_millis_f64(),
                                slowdown: estimates.slowdown(node),
                            });
                            if step && trigger.is_none() {
                                trigger = Some((
                                    Trigger::NodeStep(format!(
                                        "node {} now x{:.2} its profile",
                                        o.node,
                                        estimates.slowdown(node).unwrap_or(1.0)
                                    )),
                                    t,
                                ));
                            }
                        }
                    }
                }
            }
        }
        // 5. Probes of links that carried nothing lately, so unused links are known too.
        let round = feeding && t >= next_probe_s;
        let mut to_probe = estimates.suspect_links();
        if round {
            next_probe_s = t + probe_every;
            to_probe.extend(estimates.idle_links(&nominal, t, probe_every * 0.8));
        }
        to_probe.sort();
        to_probe.dedup();
        if feeding {
            for (a, b) in to_probe {
                if used_links.contains(&(a, b))
                    || probed_at.get(&(a, b)).is_some_and(|&p| t - p < 0.2)
                {
                    continue; // its tensors measure it, or a probe is on its way
                }
                probed_at.insert((a, b), t);
                let mbps = estimates.link_mbps(a, b).unwrap_or_else(|| {
                    nominal
                        .link(a, b)
                        .map_or(10.0, |l| l.bandwidth.0 * 8.0 / 1e6)
                });
                // About 25 ms of the link at its last known rate: shorter probes time the
                // timer (it wakes up to a millisecond late) more than the link.
                let bytes = ((mbps * 1e6 / 8.0 * 0.025) as u64).clamp(16 << 10, 2 << 20);
                driver
                    .probe(&nominal.nodes[a.0].name, &nominal.nodes[b.0].name, bytes)
                    .await?;
                report.probes += 1;
            }
        }
        // 6. A prepared switch goes live from the next frame fed.
        if pending.as_ref().is_some_and(|h| h.is_finished()) {
            let prepared = pending.take().expect("checked").await??;
            let prop = &prepared.proposal;
            report.overloaded += usize::from(prop.overloaded);
            if prop.decision == Decision::KeepCoolingDown {
                retry_from_frame = controller.lock().expect("not poisoned").cooldown_ends();
            }
            if let Some((mut b, cached)) = prepared.built {
                let id = deploy_id(&prop.plan);
                b.deployment.id = id.clone();
                let first_frame = driver.next_frame();
                for (part, v) in b.predicted(&nominal) {
                    predicted.insert((id.clone(), part), v);
                }
                driver
                    .start_deployment(b.deployment)
                    .await
                    .with_context(|| format!("switching to {id}"))?;
                report.switches.push(SwitchLog {
                    trigger: prepared.trigger.to_string(),
                    seen_s: prepared.seen_s,
                    decided_s: prepared.decided_s,
                    ready_s: secs(Instant::now()),
                    first_frame,
                    first_answer_s: None,
                    from: current_id.clone(),
                    to: id.clone(),
                    placement: crate::placement_summary::placement_summary(&nominal, &prop.plan),
                    mode: prop.mode,
                    predicted_old_ms: prop.current.as_millis_f64(),
                    predicted_new_ms: prop.candidate.as_millis_f64(),
                    cached_models: cached,
                    truth: None,
                    plans: Some((current.clone(), prop.plan.clone())),
                });
                awaiting_first.push(report.switches.len() - 1);
                current = prop.plan.clone();
                current_id = id;
                used_links = used(&current);
                if prepared.quick {
                    trigger = Some((Trigger::Refine, secs(Instant::now())));
                }
            }
        }
        // 7. Re-plan after a step, or now and then, in the background.
        if retry_from_frame.is_some_and(|f| driver.next_frame() >= f) && trigger.is_none() {
            retry_from_frame = None;
            trigger = Some((Trigger::CooldownOver, t));
        }
        let due = trigger.is_some()
            || (t - last_replan_s >= replan_every
                && estimates.change_since(&planned_with, &nominal) > drift);
        if feeding && pending.is_none() && due {
            last_replan_s = t;
            planned_with = estimates.clone();
            report.replans += 1;
            let (why, seen_s) = trigger.take().unwrap_or((Trigger::Drift, t));
            // A link step is answered by the quick planner first, when there is one: the new
            // plan must serve within a second. Node steps, noticed part by part, go straight
            // to the full planner (its tiled plans beat the quick one's by more than a switch
            // costs).
            let how = why.replan();
            let controller = controller.clone();
            let est = estimates.clone();
            let nominal = nominal.clone();
            let model = setup.model.clone();
            let plan_now = current.clone();
            let addresses = driver.addresses();
            let uploader = driver.uploader();
            let frame = driver.next_frame();
            let emulation = setup.emulation_at(t);
            pending = Some(tokio::spawn(async move {
                let (proposal, problem, quick) = in_background(move || {
                    let p = est.apply(&nominal);
                    let mut c = controller.lock().expect("not poisoned");
                    if how == Replan::Quick && c.has_quick() {
                        let prop = c.propose(frame, &p, &plan_now, Replan::Quick)?;
                        if prop.decision == Decision::Switch {
                            return Ok::<_, anyhow::Error>((prop, p, true));
                        }
                    }
                    let full = match how {
                        Replan::Quick => Replan::Full,
                        other => other,
                    };
                    let prop = c.propose(frame, &p, &plan_now, full)?;
                    Ok((prop, p, false))
                })
                .await
                .map_err(anyhow::Error::msg)??;
                let decided_s = secs(Instant::now());
                if proposal.decision != Decision::Switch {
                    return Ok(Prepared {
                        quick,
                        trigger: why,
                        seen_s,
                        proposal,
                        built: None,
                        decided_s,
                    });
                }
                let plan = proposal.plan.clone();
                let built = in_background(move || {
                    plan_deployment::build(&model, &problem, &plan, addresses, emulation)
                })
                .await
                .map_err(anyhow::Error::msg)??;
                let cached = uploader.upload(&built.deployment, &built.models).await?;
                Ok(Prepared {
                    quick,
                    trigger: why,
                    seen_s,
                    proposal,
                    built: Some((built, cached)),
                    decided_s,
                })
            }));
        } else if !feeding {
            if let Some(h) = pending.take() {
                h.abort();
            }
        }
    }
    report.produced = queue.arrived();
    report.blocked = queue.blocked();
    for l in &nominal.links {
        if let Some(m) = estimates.link_mbps(l.from, l.to) {
            report.link_mbps.insert(
                format!(
                    "{}->{}",
                    nominal.nodes[l.from.0].name, nominal.nodes[l.to.0].name
                ),
                m,
            );
        }
    }
    for n in nominal.node_ids() {
        if let Some(s) = estimates.slowdown(n) {
            report
                .node_slowdown
                .insert(nominal.nodes[n.0].name.clone(), s);
        }
    }
    // Each switch against the truth, now that timing no longer matters.
    let planner = tiersplit_plan::planner_by_name(&algo).ok();
    for sw in &mut report.switches {
        let (Some((old, new)), Some(planner)) = (sw.plans.take(), &planner) else {
            continue;
        };
        let phase_s = phases
            .iter()
            .map(|p| p.0)
            .filter(|&t| t <= sw.seen_s)
            .fold(0.0, f64::max);
        let truth = setup.problem_at(phase_s)?;
        let best = planner.plan(&truth)?;
        sw.truth = Some(TruthCheck {
            phase_s,
            old_ms: evaluate(&truth, &old).makespan.as_millis_f64(),
            new_ms: evaluate(&truth, &new).makespan.as_millis_f64(),
            best_ms: evaluate(&truth, &best).makespan.as_millis_f64(),
        });
    }
    report.frames.sort_by_key(|f| f.frame);
    let mut lat: Vec<f64> = report.frames.iter().map(|f| f.latency_ms).collect();
    lat.sort_by(f64::total_cmp);
    if !lat.is_empty() {
        let sum: f64 = lat.iter().sum();
        report.mean_ms = sum / lat.len() as f64;
        report.time_mean_ms = lat.iter().map(|l| l * l).sum::<f64>() / sum;
    }
    report.p50_ms = percentile(&lat, 0.5);
    report.p95_ms = percentile(&lat, 0.95);
    Ok(report)
}

/// What to run over a trace: the adaptive strategy starting from `plan` (when `policy` is
/// given), then the static plans `compare` names: `phases` (the plan of `plan`'s algorithm for
/// each phase of the trace), `none`, or a list of algorithms planned for the start.
pub fn strategies(
    setup: &TraceSetup,
    plan: &Plan,
    compare: &str,
    policy: Option<tiersplit_adapt::SwitchPolicy>,
) -> Result<Vec<Strategy>> {
    let algo = plan.algorithm.as_str();
    let mut out = Vec::new();
    if let Some(policy) = policy {
        let interval = setup.fps.map(|f| Nanos::from_secs_f64(1.0 / f));
        out.push(Strategy::Adaptive {
            label: format!("adaptive {algo}"),
            plan: plan.clone(),
            controller: Controller::new(algo, "best-throughput", interval, policy)?,
        });
    }
    match compare {
        "none" => {}
        "phases" => {
            for (label, p) in phase_plans(setup, algo)? {
                out.push(Strategy::Static { label, plan: p });
            }
        }
        list => {
            let p0 = setup.problem_at(0.0)?;
            for a in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                out.push(Strategy::Static {
                    label: format!("static {a}"),
                    plan: tiersplit_plan::planner_by_name(a)?.plan(&p0)?,
                });
            }
        }
    }
    if out.is_empty() {
        bail!("nothing to run over the trace: no adaptive run and no static plan");
    }
    Ok(out)
}

/// Runs each strategy over the trace in turn on one cluster, the adaptive one first (so that
/// its switches find no models cached by the static runs).
pub async fn run_all(
    driver: &mut ClusterDriver,
    setup: &TraceSetup,
    strategies: Vec<Strategy>,
) -> Result<Vec<TraceReport>> {
    let mut out = Vec::new();
    for s in strategies {
        let label = s.label().to_string();
        let r = run_trace(driver, setup, s)
            .await
            .with_context(|| format!("running {label} over the trace"))?;
        println!(
            "  {label}: {} frames, mean {:.1} ms",
            r.frames.len(),
            r.mean_ms
        );
        out.push(r);
    }
    Ok(out)
}

/// The plan `algo` picks for each phase of the trace under its true conditions, each distinct
/// plan once, labelled with the phase it is best for: the static plans an adaptive run must beat.
pub fn phase_plans(setup: &TraceSetup, algo: &str) -> Result<Vec<(String, Plan)>> {
    let planner = tiersplit_plan::planner_by_name(algo)?;
    let mut out: Vec<(String, Plan)> = Vec::new();
    for (t, _) in setup.trace.phases(&setup.base) {
        let p = setup.problem_at(t)?;
        let plan = planner.plan(&p)?;
        if !out
            .iter()
            .any(|(_, q)| q.placement == plan.placement && q.tiled == plan.tiled)
        {
            out.push((format!("static {algo} of {t:.0}s"), plan));
        }
    }
    Ok(out)
}

/// Reads a trace file and checks it against the scenario.
pub fn read_trace(path: &Path, scenario: &Scenario) -> Result<Trace> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Trace::from_toml(&text, scenario).with_context(|| format!("in {}", path.display()))
}
