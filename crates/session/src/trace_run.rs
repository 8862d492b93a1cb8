//! A run over a trace of changing conditions: the emulated cluster's link rates and node loads
//! follow the trace while frames flow, and the plan either stays fixed (a static plan, for
//! comparison) or adapts ([`tiersplit_adapt::Adaptation`] driven by the frame loop: the device
//! reads what every node measured, estimates link rates and node slowdowns, re-plans on the
//! corrected problem in the background, and switches live when the policy agrees). Every frame
//! is accounted for (answered, failed, or dropped by the overload policy) and checked against
//! the unsplit model.

use crate::calibrate::{emulation, Calibrated};
use crate::engine::NamedTensor;
use crate::error::{read_to_string, Context, Result, SessionError};
use crate::faults::Shaping;
use crate::frame_loop::{
    Condition, FailOverLog, FaultLog, FrameLog, FrameLoop, Frames, HedgeLog, LoopSetup, PhaseLog,
    PlanChanges, SwitchLog, TruthCheck, Until,
};
use crate::median::percentile;
use crate::session::Session;
use crate::setup::Setting;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tiersplit_adapt::{AdaptConfig, Adaptation, Controller, Fault, HedgePolicy, Overload, Trace};
use tiersplit_cost::{Nanos, Problem, Profile, Scenario};
use tiersplit_exec::HostTensor;
use tiersplit_onnx::OnnxModel;
use tiersplit_plan::{evaluate, Plan};
use tiersplit_runtime::DeploymentId;

/// Everything a trace run needs besides the cluster.
pub struct TraceSetup {
    /// The model as the user named it, for titles.
    pub label: String,
    /// The imported model.
    pub model: Arc<OnnxModel>,
    /// The scenario as configured (the trace's starting point) and its node profiles, for
    /// every phase. Its fastest node runs at this machine's own speed.
    pub setting: Setting,
    /// The profile calibrated to this machine and scaled to the fastest node.
    pub profile: Profile,
    /// The changes of conditions to play over the base scenario.
    pub trace: Trace,
    /// The unsplit model's time measured here, which the profile was calibrated to (ms).
    pub whole_ms: f64,
    /// One frame's inputs, fed for every frame.
    pub inputs: Vec<NamedTensor>,
    /// The unsplit model's outputs on them, in graph output order.
    pub reference: Vec<HostTensor>,
    /// Frames at this rate (pipelined, `window` in flight at most); None: one at a time.
    pub fps: Option<f64>,
    /// Frames in flight at most when paced.
    pub window: usize,
    /// What happens when frames come faster than the cluster answers.
    pub overload: Overload,
    /// Frames waiting on the device at most (drop-oldest).
    pub queue: usize,
    /// The emulation the run was calibrated with (all of it, or only delays in testbed mode):
    /// what a trace that changes no condition, only faults nodes, plays under.
    pub base_emulation: tiersplit_runtime::Emulation,
}

/// How the plan is chosen during the run.
pub enum Strategy {
    /// One plan for the whole trace.
    Static {
        /// How reports name it.
        label: String,
        /// The plan of the whole run.
        plan: Plan,
    },
    /// Re-planned from estimates with `controller`, starting from `plan`.
    Adaptive {
        /// The name the run is reported under.
        label: String,
        /// The plan the run starts with.
        plan: Plan,
        /// Re-plans from the estimates and decides when to switch.
        controller: Controller,
        /// Which frames caught on an older plan get a copy on the new one.
        hedge: HedgePolicy,
    },
}

impl Strategy {
    /// The name the run is reported under.
    pub fn label(&self) -> &str {
        match self {
            Strategy::Static { label, .. } | Strategy::Adaptive { label, .. } => label,
        }
    }
}

/// A part run the estimators saw, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct PartSample {
    /// When it was seen, seconds from the start.
    pub t_s: f64,
    /// The node that ran it.
    pub node: String,
    /// The deployment's id and the part's.
    pub deployment: u64,
    /// The part's id in the deployment.
    pub part: String,
    /// Its measured busy time (ms).
    pub measured_ms: f64,
    /// Its predicted time on the nominal problem (ms).
    pub nominal_ms: f64,
    /// The node's slowdown estimate after it.
    pub slowdown: Option<f64>,
}

/// A strategy's run over the trace.
#[derive(Debug, Clone, Serialize)]
pub struct TraceReport {
    /// The strategy's name.
    pub label: String,
    /// Whether the plan adapted (false: a static plan).
    pub adaptive: bool,
    /// Whether the plan adapted and frames caught on an older plan were hedged onto a newer
    /// one (false: static, or adaptive with hedging off).
    pub hedged: bool,
    /// Answered frames, in frame order.
    pub frames: Vec<FrameLog>,
    /// Live plan switches, each with its check against the truth.
    pub switches: Vec<SwitchLog>,
    /// Changes of conditions applied, in order.
    pub phases: Vec<PhaseLog>,
    /// Faults the trace did to the nodes, in order.
    pub faults: Vec<FaultLog>,
    /// Fail-overs around the nodes lost, in order.
    pub failovers: Vec<FailOverLog>,
    /// Frames caught on an older plan and copied onto a newer one, in order.
    pub hedges: Vec<HedgeLog>,
    /// Nodes re-admitted after they answered again: (node, seconds from the start).
    pub readmitted: Vec<(String, f64)>,
    /// What each fault cost ([`fault_figures`]).
    pub fault_figures: Vec<FaultFigure>,
    /// Frames that failed, with the reason.
    pub failures: Vec<(u64, String)>,
    /// Frames the source produced, fed to the cluster, and dropped by the overload policy.
    pub produced: u64,
    /// Frames fed to the cluster.
    pub fed: u64,
    /// Frames dropped by the overload policy.
    pub dropped: u64,
    /// Times the source had to wait for room (back-pressure).
    pub blocked: u64,
    /// Re-plans that found no plan keeping up with the frame rate.
    pub overloaded: usize,
    /// Re-plans run, probes sent.
    pub replans: usize,
    /// Link probes sent.
    pub probes: usize,
    /// Link estimates at the end, Mbit/s ("from->to").
    pub link_mbps: BTreeMap<String, f64>,
    /// One-way delay estimates at the end (half the least of the recent round trips), ms
    /// ("from->to").
    pub link_delay_ms: BTreeMap<String, f64>,
    /// Node slowdown estimates at the end: measured over nominal compute time.
    pub node_slowdown: BTreeMap<String, f64>,
    /// Every part run the estimators saw, and each node's slowdown estimate after it.
    pub part_samples: Vec<PartSample>,
    /// For each phase of the trace, the plan serving at its end against the best plan
    /// knowing its conditions: where the run had settled.
    pub settled: Vec<PhaseTruth>,
    /// Mean latency per answered frame.
    pub mean_ms: f64,
    /// Mean latency over time: each frame weighted by how long it took, the latency of the
    /// frame in progress at a random moment. A plan whose frames crawl answers fewer of them,
    /// which the per-frame mean rewards; this does not.
    pub time_mean_ms: f64,
    /// Median latency of the answered frames (ms).
    pub p50_ms: f64,
    /// 95th percentile of their latency (ms).
    pub p95_ms: f64,
    /// Whether every answered frame was within tolerance of the unsplit model.
    pub all_exact: bool,
}

impl TraceReport {
    /// Whether every frame fed was answered within tolerance and none failed.
    pub fn passed(&self) -> bool {
        self.all_exact && self.failures.is_empty() && self.fed == self.frames.len() as u64
    }

    /// When the last change of conditions at or before `t_s` was applied (s from the start).
    pub fn change_before(&self, t_s: f64) -> Option<f64> {
        self.phases.iter().rfind(|p| p.at_s <= t_s).map(|p| p.at_s)
    }
}

/// Mean latency of the frames each report answered in each `bin_s` seconds from the start
/// until the last answer of any: (from, to, each report's mean, None when it answered none in
/// the bin).
pub fn latency_bins(reports: &[TraceReport], bin_s: f64) -> Vec<(f64, f64, Vec<Option<f64>>)> {
    let end = reports
        .iter()
        .flat_map(|r| r.frames.iter().map(|f| f.done_s))
        .fold(0.0, f64::max);
    let bins = (end / bin_s).ceil() as usize;
    (0..bins)
        .map(|b| {
            let (from, to) = (b as f64 * bin_s, (b + 1) as f64 * bin_s);
            let means: Vec<Option<f64>> = reports
                .iter()
                .map(|r| {
                    let l: Vec<f64> = r
                        .frames
                        .iter()
                        .filter(|f| f.done_s >= from && f.done_s < to)
                        .map(|f| f.latency_ms)
                        .collect();
                    (!l.is_empty()).then(|| l.iter().sum::<f64>() / l.len() as f64)
                })
                .collect();
            (from, to, means)
        })
        .collect()
}

/// The plan serving the last frame fed in a phase of the trace, under the phase's real
/// conditions, against what the run's planner picks knowing them.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseTruth {
    /// When the phase began, seconds from the start.
    pub phase_s: f64,
    /// The deployment that served it.
    pub plan: DeploymentId,
    /// That plan's makespan under the phase's conditions (ms).
    pub plan_ms: f64,
    /// The makespan of the plan the run's planner picks knowing them (ms).
    pub best_ms: f64,
}

/// The link rates and node speeds that differ from `before` in `after`, as `after` has them;
/// speeds as shares of `fastest`.
fn shaping_between(before: &Scenario, after: &Scenario, fastest: f64) -> Vec<Shaping> {
    let links = before.links.iter().zip(&after.links);
    let nodes = before.nodes.iter().zip(&after.nodes);
    let rates = links
        .filter(|(a, b)| a.bandwidth_mbps != b.bandwidth_mbps)
        .flat_map(|(_, b)| link_rates(b));
    let speeds = nodes
        .filter(|(a, b)| a.speed != b.speed)
        .map(|(_, b)| Shaping::Speed {
            node: b.name.clone(),
            share: (b.speed / fastest).min(1.0),
        });
    rates.chain(speeds).collect()
}

/// What puts every link rate and node speed that differs from `start` in some phase back to
/// `start`'s, each once; speeds as shares of `fastest`.
fn shaping_back(phases: &[(f64, Scenario)], start: &Scenario, fastest: f64) -> Vec<Shaping> {
    let mut all: Vec<Shaping> = Vec::new();
    for (_, s) in phases {
        for c in shaping_between(s, start, fastest) {
            if !all.contains(&c) {
                all.push(c);
            }
        }
    }
    all
}

/// The link's rate in each direction it runs.
fn link_rates(l: &tiersplit_cost::LinkSpec) -> Vec<Shaping> {
    let rate = |from: &str, to: &str| Shaping::Rate {
        from: from.into(),
        to: to.into(),
        mbps: l.bandwidth_mbps,
    };
    let mut out = vec![rate(&l.from, &l.to)];
    if l.bidirectional {
        out.push(rate(&l.to, &l.from));
    }
    out
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
    /// `model` (named `label`) as `run` calibrated it, over `trace` on `setting`: frames one at
    /// a time, the source waiting when the cluster falls behind (set `fps`, `window`,
    /// `overload` and `queue` for more).
    pub fn new(
        label: String,
        model: Arc<OnnxModel>,
        setting: Setting,
        run: Calibrated,
        trace: Trace,
    ) -> TraceSetup {
        TraceSetup {
            label,
            model,
            setting,
            profile: run.profile,
            trace,
            whole_ms: run.whole_ms,
            inputs: run.inputs,
            reference: run.reference,
            fps: None,
            window: 1,
            overload: Overload::BackPressure,
            queue: 2,
            base_emulation: run.emulation,
        }
    }

    /// The scenario as configured: the trace's starting point.
    pub fn base(&self) -> &Scenario {
        &self.setting.scenario
    }

    /// The problem under the trace's conditions at `t_s`.
    pub fn problem_at(&self, t_s: f64) -> Result<Problem> {
        let s = self.trace.scenario_at(self.base(), t_s);
        self.setting
            .with_scenario(s)
            .problem(&self.model, &self.profile)
    }

    /// Whether the transport shapes some link's rate (emulation), its sender timing it.
    pub fn emulation_shapes_rates(&self) -> bool {
        self.base_emulation.links.iter().any(|l| l.mbps.is_some())
    }

    /// Whether the kernel, not the transport, shapes the links' rates and the nodes' speeds
    /// (testbed mode: the emulation holds only delays); a trace's changes of them then go to
    /// the session's fault hook ([`Shaping`]).
    pub fn kernel_shapes(&self) -> bool {
        !self.base_emulation.links.is_empty()
            && self.base_emulation.links.iter().all(|l| l.mbps.is_none())
    }

    fn emulation_at(&self, t_s: f64) -> tiersplit_runtime::Emulation {
        let mut e = if self.trace.changes_conditions() {
            // The configured fastest speed, not the phase's: a trace that slows the fastest
            // node must not speed the others up.
            let fastest = self.base().fastest_speed();
            let delays_only = self.kernel_shapes();
            emulation(
                &self.trace.scenario_at(self.base(), t_s),
                delays_only,
                fastest,
            )
        } else {
            self.base_emulation.clone()
        };
        let cut = self.trace.cut_at(self.base(), t_s);
        for l in e.links.iter_mut().filter(|l| l.mbps.is_some()) {
            l.cut = cut.contains(&(l.from.clone(), l.to.clone()));
        }
        e
    }

    /// Whether the emulation cuts link `name` ("from->to"): it does the links whose rate it
    /// shapes; the others are cut by the session's fault hook (the testbed's kernel).
    fn emulates_cut(&self, name: &str) -> bool {
        name.split_once("->").is_some_and(|(from, to)| {
            self.base_emulation
                .link(from.trim(), to.trim())
                .is_some_and(|l| l.mbps.is_some())
        })
    }

    /// The trace's changes after the start, as the frame loop applies them.
    fn conditions(&self) -> Vec<Condition> {
        let phases = self.trace.phases(self.base());
        let mut all: Vec<Condition> = phases
            .windows(2)
            .map(|w| Condition {
                at_s: w[1].0,
                emulation: Some(self.emulation_at(w[1].0)),
                shaping: self.shaping(&w[0].1, &w[1].1),
                fault: None,
                what: describe_change(&w[0].1, &w[1].1),
            })
            .collect();
        all.extend(self.trace.faults().into_iter().map(|f| {
            Condition {
                at_s: f.at_s,
                // A link cut in the emulation is played by the emulation in force from then on.
                emulation: (f.fault.on_links() && self.emulates_cut(&f.node))
                    .then(|| self.emulation_at(f.at_s)),
                what: format!("{} {}", f.fault, f.node),
                shaping: Vec::new(),
                fault: Some((f.fault, f.node)),
            }
        }));
        // Stable: at equal times, condition changes first, then faults in trace order.
        all.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        all
    }

    /// What the kernel must change between phases `before` and `after` (nothing when the
    /// transport shapes them).
    fn shaping(&self, before: &Scenario, after: &Scenario) -> Vec<Shaping> {
        match self.kernel_shapes() {
            true => shaping_between(before, after, self.base().fastest_speed()),
            false => Vec::new(),
        }
    }

    /// What puts the kernel in the trace's starting conditions: every link rate and node
    /// speed that the scenario or any phase has otherwise, as the first phase has it.
    fn shaping_reset(&self) -> Vec<Shaping> {
        if !self.kernel_shapes() {
            return Vec::new();
        }
        let mut phases = self.trace.phases(self.base());
        phases.insert(0, (0.0, self.base().clone()));
        shaping_back(&phases, &phases[1].1, self.base().fastest_speed())
    }

    fn frames(&self) -> Frames {
        let (interval, window) = match self.fps {
            Some(f) => (Some(Duration::from_secs_f64(1.0 / f)), self.window.max(1)),
            None => (None, 1),
        };
        Frames {
            interval,
            window,
            overload: self.overload,
            queue: self.queue,
            until: Until::Seconds(self.trace.duration_s),
        }
    }
}

/// Plays the trace on the session's cluster with `strategy` and reports every frame.
pub async fn run_trace(
    session: &mut Session,
    setup: &TraceSetup,
    strategy: Strategy,
) -> Result<TraceReport> {
    let nominal = Arc::new(setup.problem_at(0.0)?);
    let hedged = matches!(&strategy, Strategy::Adaptive { hedge, .. } if hedge.enabled);
    let (label, plan, mut changes) = match strategy {
        Strategy::Static { label, plan } => (label, plan, PlanChanges::Fixed),
        Strategy::Adaptive {
            label,
            plan,
            controller,
            hedge,
        } => {
            let config = AdaptConfig {
                message_overhead: Nanos::from_millis_f64(setup.base().message_overhead_ms),
                // Receivers time what the emulation does not shape: they leave the first and
                // last reads of a probe untimed.
                min_probe_bytes: if setup.emulation_shapes_rates() {
                    16 << 10
                } else {
                    64 << 10
                },
                hedge,
                ..AdaptConfig::default()
            };
            let a = Adaptation::new(nominal.clone(), plan.clone(), controller, config);
            (label, plan, PlanChanges::Adaptive(Box::new(a)))
        }
    };
    let algo = plan.algorithm.clone();
    // Conditions as at the start, the first plan deployed, a few warm-up frames: the first
    // runs of fresh models allocate, and the first strategy would otherwise pay for the
    // cluster's start.
    session.shape(setup.shaping_reset()).await?;
    session.set_emulation(setup.emulation_at(0.0)).await?;
    let ls = LoopSetup {
        model: setup.model.clone(),
        nominal: nominal.clone(),
        inputs: &setup.inputs,
        reference: &setup.reference,
    };
    let mut fl = FrameLoop::new(session, &ls);
    fl.deploy(&plan, &mut changes)
        .await
        .with_context(|| format!("deploying {label}"))?;
    let first_id = fl.current().expect("deployed").1.clone();
    fl.run(&Frames::sequential(3), &mut PlanChanges::Fixed, &[])
        .await?;
    fl.session().driver.observe().await?; // what the warm-up measured is not part of the run
    let run = fl
        .run(&setup.frames(), &mut changes, &setup.conditions())
        .await?;
    let mut report = TraceReport {
        label,
        adaptive: matches!(changes, PlanChanges::Adaptive(_)),
        hedged,
        frames: run.frames,
        switches: run.switches,
        phases: run.phases,
        faults: run.faults,
        failovers: run.failovers,
        hedges: run.hedges,
        readmitted: run.readmitted,
        fault_figures: Vec::new(),
        failures: run.failures,
        produced: run.produced,
        fed: run.fed,
        dropped: run.dropped,
        blocked: run.blocked,
        overloaded: 0,
        replans: 0,
        probes: 0,
        link_mbps: BTreeMap::new(),
        link_delay_ms: BTreeMap::new(),
        node_slowdown: BTreeMap::new(),
        part_samples: Vec::new(),
        settled: Vec::new(),
        mean_ms: f64::NAN,
        time_mean_ms: f64::NAN,
        p50_ms: f64::NAN,
        p95_ms: f64::NAN,
        all_exact: true,
    };
    if let PlanChanges::Adaptive(a) = &changes {
        adaptation_figures(&mut report, a, &nominal);
    }
    let mut plans: HashMap<DeploymentId, Plan> = [(first_id, plan)].into();
    for sw in &report.switches {
        if let Some((_, new)) = &sw.plans {
            plans.insert(sw.to.clone(), new.clone());
        }
    }
    report.settled = settled(&report.frames, &plans, setup, &algo)?;
    check_switches(&mut report, setup, &algo)?;
    latency_figures(&mut report);
    report.fault_figures = fault_figures(&report);
    Ok(report)
}

/// The controller's counters, its estimates at the end and the part runs it saw.
fn adaptation_figures(report: &mut TraceReport, a: &Adaptation, nominal: &Problem) {
    let name = |n: tiersplit_cost::NodeId| nominal.nodes[n.0].name.clone();
    report.overloaded = a.overloaded;
    report.replans = a.replans;
    report.probes = a.probes;
    let est = a.estimates();
    for l in &nominal.links {
        let key = format!("{}->{}", name(l.from), name(l.to));
        if let Some(m) = est.link_mbps(l.from, l.to) {
            report.link_mbps.insert(key.clone(), m);
        }
        if let Some(d) = est.delay_s(l.from, l.to) {
            report.link_delay_ms.insert(key, d * 1e3);
        }
    }
    for n in nominal.node_ids() {
        if let Some(s) = est.slowdown(n) {
            report.node_slowdown.insert(name(n), s);
        }
    }
    report.part_samples = a
        .part_samples
        .iter()
        .map(|s| PartSample {
            t_s: s.t_s,
            node: name(s.node),
            deployment: s.part.deployment,
            part: s.part.part.clone(),
            measured_ms: s.measured.as_millis_f64(),
            nominal_ms: s.nominal.as_millis_f64(),
            slowdown: s.slowdown,
        })
        .collect();
}

/// Each switch against the truth, now that timing no longer matters: the old and new plan
/// under the trace's real conditions when the switch was seen, and what the planner picks
/// knowing them.
fn check_switches(report: &mut TraceReport, setup: &TraceSetup, algo: &str) -> Result<()> {
    let Ok(planner) = tiersplit_plan::planner_by_name(algo) else {
        return Ok(());
    };
    let phases = setup.trace.phases(setup.base());
    for sw in &mut report.switches {
        let Some((old, new)) = sw.plans.take() else {
            continue;
        };
        let phase_s = phases
            .iter()
            .map(|p| p.0)
            .filter(|&t| t <= sw.seen_s)
            .fold(0.0, f64::max);
        let truth = setup.problem_at(phase_s)?;
        let best = planner.plan(&truth)?;
        let ms = |p: &Plan| evaluate(&truth, p).makespan.as_millis_f64();
        sw.truth = Some(TruthCheck {
            phase_s,
            old_ms: ms(&old),
            new_ms: ms(&new),
            best_ms: ms(&best),
        });
    }
    Ok(())
}

/// For each phase of the trace, the plan of the last frame fed in it against the best plan
/// under its real conditions.
fn settled(
    frames: &[FrameLog],
    plans: &HashMap<DeploymentId, Plan>,
    setup: &TraceSetup,
    algo: &str,
) -> Result<Vec<PhaseTruth>> {
    let planner = tiersplit_plan::planner_by_name(algo)?;
    let phases = setup.trace.phases(setup.base());
    let mut out = Vec::new();
    for (i, (phase_s, _)) in phases.iter().enumerate() {
        let end = phases.get(i + 1).map_or(f64::INFINITY, |p| p.0);
        let last = frames
            .iter()
            .filter(|f| f.fed_s >= *phase_s && f.fed_s < end)
            .max_by(|a, b| a.fed_s.total_cmp(&b.fed_s));
        let Some(plan) = last.and_then(|f| plans.get(&f.plan).map(|p| (&f.plan, p))) else {
            continue;
        };
        let truth = setup.problem_at(*phase_s)?;
        let best = planner.plan(&truth)?;
        out.push(PhaseTruth {
            phase_s: *phase_s,
            plan: plan.0.clone(),
            plan_ms: evaluate(&truth, plan.1).makespan.as_millis_f64(),
            best_ms: evaluate(&truth, &best).makespan.as_millis_f64(),
        });
    }
    Ok(out)
}

/// Mean, time-weighted mean and percentiles of the answered frames' latencies.
fn latency_figures(report: &mut TraceReport) {
    report.all_exact = report.frames.iter().all(|f| f.exact);
    let mut lat: Vec<f64> = report.frames.iter().map(|f| f.latency_ms).collect();
    lat.sort_by(f64::total_cmp);
    if !lat.is_empty() {
        let sum: f64 = lat.iter().sum();
        report.mean_ms = sum / lat.len() as f64;
        report.time_mean_ms = lat.iter().map(|l| l * l).sum::<f64>() / sum;
    }
    report.p50_ms = percentile(&lat, 0.5);
    report.p95_ms = percentile(&lat, 0.95);
}

/// What to run over a trace: an adaptive strategy starting from `plan` for each of `hedging`
/// (when `policy` is given: hedging on, then off, compares what copies of caught frames
/// gain), then the static plans `compare` names: `phases` (the plan of `plan`'s algorithm for
/// each phase of the trace), `none`, or a list of algorithms planned for the start.
pub fn strategies(
    setup: &TraceSetup,
    plan: &Plan,
    compare: &str,
    policy: Option<tiersplit_adapt::SwitchPolicy>,
    hedging: &[HedgePolicy],
) -> Result<Vec<Strategy>> {
    let algo = plan.algorithm.as_str();
    let mut out = Vec::new();
    for (hedge, policy) in hedging.iter().filter_map(|h| Some((h, policy.clone()?))) {
        let interval = setup.fps.map(|f| Nanos::from_secs_f64(1.0 / f));
        out.push(Strategy::Adaptive {
            label: match hedge.enabled {
                true => format!("adaptive {algo}"),
                false => format!("unhedged adaptive {algo}"),
            },
            plan: plan.clone(),
            controller: Controller::new(algo, "best-throughput", interval, policy)?,
            hedge: *hedge,
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
        return Err(SessionError::invalid(
            "nothing to run over the trace: no adaptive run and no static plan",
        ));
    }
    Ok(out)
}

/// Runs each strategy over the trace in turn on one cluster, the adaptive one first (so that
/// its switches find no models cached by the static runs; with hedging compared, the run
/// without goes second and finds them cached, which favours it).
/// `done` is told of each report as it is made.
pub async fn run_all(
    session: &mut Session,
    setup: &TraceSetup,
    strategies: Vec<Strategy>,
    mut done: impl FnMut(&TraceReport),
) -> Result<Vec<TraceReport>> {
    let mut out = Vec::new();
    for s in strategies {
        let label = s.label().to_string();
        let r = run_trace(session, setup, s)
            .await
            .with_context(|| format!("running {label} over the trace"))?;
        // The next strategy meets the same faults on the whole cluster.
        session
            .heal()
            .await
            .with_context(|| format!("healing the cluster after {label}"))?;
        done(&r);
        out.push(r);
    }
    Ok(out)
}

/// The plan `algo` picks for each phase of the trace under its true conditions, each distinct
/// plan once, labelled with the phase it is best for: the static plans an adaptive run must beat.
pub fn phase_plans(setup: &TraceSetup, algo: &str) -> Result<Vec<(String, Plan)>> {
    let planner = tiersplit_plan::planner_by_name(algo)?;
    let mut out: Vec<(String, Plan)> = Vec::new();
    for (t, _) in setup.trace.phases(setup.base()) {
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
    let text = read_to_string(path)?;
    Trace::from_toml(&text, scenario).with_context(|| format!("in {}", path.display()))
}

/// What one fault of a trace cost a run: how soon it was seen, how soon frames flowed again,
/// what was fed again or failed, and the latency meanwhile.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct FaultFigure {
    /// What was done.
    pub fault: Fault,
    /// To which node.
    pub node: String,
    /// When it was done, seconds from the start.
    pub at_s: f64,
    /// From the fault to the heartbeats' verdict on the node (ms), when it made one.
    pub detected_ms: Option<f64>,
    /// From that verdict to the first answer on the plan made without the node (ms).
    pub recovered_ms: Option<f64>,
    /// Of which planning took (ms) ...
    pub planning_ms: Option<f64>,
    /// ... and compiling, uploading and starting the plan (ms).
    pub deploying_ms: Option<f64>,
    /// Frames fed again on that plan.
    pub reissued: usize,
    /// From the fault to the node's re-admission (ms), when it came back.
    pub readmitted_ms: Option<f64>,
    /// Frames fed from this fault to the next (or the end) that failed.
    pub failed: usize,
    /// Median latency of the frames fed in the 5 s before the fault (ms; NaN when none was
    /// answered, `null` in JSON).
    #[serde(deserialize_with = "nan_if_null")]
    pub before_ms: f64,
    /// Worst latency of the frames fed in the 5 s from the fault on (ms; NaN when none).
    #[serde(deserialize_with = "nan_if_null")]
    pub worst_after_ms: f64,
}

/// A figure JSON wrote as `null` (serde_json's NaN) read back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    use serde::Deserialize;
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Each fault of a run's trace with what it cost ([`FaultFigure`]).
pub fn fault_figures(r: &TraceReport) -> Vec<FaultFigure> {
    const WINDOW_S: f64 = 5.0;
    r.faults
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let t = f.started_s;
            let next = r.faults.get(i + 1).map_or(f64::INFINITY, |n| n.started_s);
            // The fail-over this fault caused: one around its node whose latest fault before
            // it (a resume causes none) is this one.
            let caused_by = |o: &FailOverLog| {
                r.faults
                    .iter()
                    .enumerate()
                    .filter(|(_, g)| {
                        g.node == f.node && !matches!(g.fault, Fault::Resume | Fault::Restore)
                    })
                    .rfind(|(_, g)| g.started_s <= o.down_s + 0.05)
                    .map(|(j, _)| j)
            };
            let failover = r
                .failovers
                .iter()
                .find(|o| o.lost.iter().any(|(n, _)| same(n, &f.node)) && caused_by(o) == Some(i));
            let readmitted = r
                .readmitted
                .iter()
                .find(|(n, at)| same(n, &f.node) && *at >= t && *at < next)
                .map(|(_, at)| (at - t) * 1e3);
            let fed_in = |from: f64, to: f64| {
                r.frames
                    .iter()
                    .filter(move |fr| fr.fed_s >= from && fr.fed_s < to)
                    .map(|fr| fr.latency_ms)
            };
            let mut before: Vec<f64> = fed_in(t - WINDOW_S, t).collect();
            before.sort_by(f64::total_cmp);
            FaultFigure {
                fault: f.fault,
                node: f.node.clone(),
                at_s: t,
                detected_ms: failover.map(|o| (o.down_s - t) * 1e3),
                recovered_ms: failover.and_then(|o| o.recovery_ms()),
                planning_ms: failover.map(|o| (o.planned_s - o.down_s) * 1e3),
                deploying_ms: failover.map(|o| (o.ready_s - o.planned_s) * 1e3),
                reissued: failover.map_or(0, |o| o.reissued.len()),
                readmitted_ms: readmitted,
                failed: r
                    .failures
                    .iter()
                    .filter(|(frame, _)| {
                        *frame > last_fed_before(r, t) && *frame <= last_fed_before(r, next)
                    })
                    .count(),
                before_ms: crate::median::percentile(&before, 0.5),
                worst_after_ms: fed_in(t, t + WINDOW_S).fold(f64::NAN, f64::max),
            }
        })
        .collect()
}

/// Whether a node or link named in a report is the fault's target: a link is cut both ways,
/// so either direction of it is, and so is either end of it lost (a cut that takes a node's
/// heartbeats with it, as in testbed mode).
fn same(reported: &str, target: &str) -> bool {
    let flip = |s: &str| s.split_once("->").map(|(a, b)| format!("{b}->{a}"));
    let ends = target.split_once("->").map(|(a, b)| [a, b]);
    reported == target
        || flip(reported).as_deref() == Some(target)
        || ends.is_some_and(|e| e.contains(&reported))
}

/// The number of the last answered frame fed before `t` (0 if none): failed frames carry
/// no time, but numbers grow with feeding, so this places them between faults.
fn last_fed_before(r: &TraceReport, t: f64) -> u64 {
    if t == f64::INFINITY {
        return u64::MAX;
    }
    r.frames
        .iter()
        .filter(|f| f.fed_s < t)
        .map(|f| f.frame)
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_is_told_each_rate_and_speed_a_trace_changes_then_put_back() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let text = std::fs::read_to_string(dir.join("scenarios/local-cluster.toml")).unwrap();
        let base = Scenario::from_toml(&text).unwrap();
        let fastest = base.fastest_speed();
        let rate = |from: &str, to: &str, mbps: f64| Shaping::Rate {
            from: from.into(),
            to: to.into(),
            mbps,
        };
        let uplinks = |mbps: f64| {
            vec![
                rate("device", "edge0", mbps),
                rate("edge0", "device", mbps),
                rate("device", "edge1", mbps),
                rate("edge1", "device", mbps),
            ]
        };
        let wifi = read_trace(&dir.join("traces/wifi-3g-4g.toml"), &base).unwrap();
        let phases = wifi.phases(&base);
        // WiFi to 3G: both uplinks, each way (the scenario's links run both ways).
        assert_eq!(
            shaping_between(&phases[0].1, &phases[1].1, fastest),
            uplinks(1.1)
        );
        assert_eq!(shaping_between(&phases[1].1, &phases[1].1, fastest), []);
        // Back to the first phase's 18.88 Mbit/s (the trace sets it at 0 s, where the kernel
        // has the scenario's 50) before each strategy's run, each link once.
        let mut all = phases.clone();
        all.insert(0, (0.0, base.clone()));
        assert_eq!(shaping_back(&all, &phases[0].1, fastest), uplinks(18.88));

        let overload = read_trace(&dir.join("traces/edge-overload.toml"), &base).unwrap();
        let phases = overload.phases(&base);
        let shares = |s: Vec<Shaping>| -> Vec<(String, f64)> {
            s.into_iter()
                .map(|c| match c {
                    Shaping::Speed { node, share } => (node, share),
                    other => panic!("{other}"),
                })
                .collect()
        };
        // edge0 computes three times slower: a third of its quarter of the fastest node.
        let slowed = shares(shaping_between(&base, &phases[1].1, fastest));
        assert_eq!(slowed.len(), 1);
        assert_eq!(slowed[0].0, "edge0");
        assert!((slowed[0].1 - 0.25 / 3.0).abs() < 1e-9, "{slowed:?}");
        let back = shares(shaping_back(&phases, &base, fastest));
        assert_eq!(
            back,
            [("edge0".to_string(), 0.25), ("edge1".to_string(), 0.25)]
        );
        assert_eq!(
            Shaping::Speed {
                node: "edge0".into(),
                share: 0.25
            }
            .args(),
            ["speed", "edge0", "0.25"]
        );
        assert_eq!(
            rate("device", "edge0", 1.1).args(),
            ["rate", "device->edge0", "1.1"]
        );
    }

    fn fault(at: f64, fault: Fault, node: &str) -> FaultLog {
        FaultLog {
            at_s: at,
            started_s: at,
            applied_s: at,
            fault,
            node: node.into(),
        }
    }

    fn failover(node: &str, down: f64) -> FailOverLog {
        FailOverLog {
            lost: vec![(node.into(), "hung".into())],
            down_s: down,
            planned_s: down + 0.05,
            ready_s: down + 0.2,
            first_frame: 9,
            first_answer_s: Some(down + 0.3),
            reissued: vec![7, 8],
            algorithm: "best".into(),
            placement: "device:100".into(),
            to: "best#2".into(),
            kept: false,
        }
    }

    fn frame(n: u64, fed: f64, ms: f64) -> FrameLog {
        FrameLog {
            frame: n,
            plan: "best#1".into(),
            arrived_s: fed,
            fed_s: fed,
            done_s: fed + ms / 1e3,
            latency_ms: ms,
            max_rel_diff: 0.0,
            exact: true,
            reissued: false,
            hedged: false,
        }
    }

    #[test]
    fn a_fail_over_seen_after_the_resume_is_the_stops() {
        let r = TraceReport {
            label: "t".into(),
            adaptive: false,
            hedged: false,
            frames: vec![
                frame(1, 1.0, 100.0),
                frame(2, 3.0, 900.0),
                frame(3, 4.0, 100.0),
            ],
            switches: Vec::new(),
            hedges: Vec::new(),
            phases: Vec::new(),
            faults: vec![
                fault(2.0, Fault::Stop, "edge1"),
                fault(3.5, Fault::Resume, "edge1"),
            ],
            // The device was busy: the verdict on the stop came after the resume.
            failovers: vec![failover("edge1", 3.6)],
            readmitted: vec![("edge1".into(), 3.9)],
            fault_figures: Vec::new(),
            failures: vec![(4, "lost".into())],
            produced: 4,
            fed: 4,
            dropped: 0,
            blocked: 0,
            overloaded: 0,
            replans: 0,
            probes: 0,
            link_mbps: BTreeMap::new(),
            link_delay_ms: BTreeMap::new(),
            node_slowdown: BTreeMap::new(),
            part_samples: Vec::new(),
            settled: Vec::new(),
            mean_ms: f64::NAN,
            time_mean_ms: f64::NAN,
            p50_ms: f64::NAN,
            p95_ms: f64::NAN,
            all_exact: true,
        };
        let f = fault_figures(&r);
        assert_eq!(f[0].detected_ms.map(f64::round), Some(1600.0));
        assert_eq!(f[0].reissued, 2);
        assert_eq!(f[0].planning_ms.map(f64::round), Some(50.0));
        assert_eq!(f[0].worst_after_ms, 900.0);
        assert_eq!(f[0].before_ms, 100.0);
        // The resume caused no fail-over; it saw the node back.
        assert_eq!(f[1].detected_ms, None);
        assert_eq!(f[1].readmitted_ms.map(f64::round), Some(400.0));
        // Frame 4 was fed after the last answered frame before the resume: the resume's.
        assert_eq!((f[0].failed, f[1].failed), (0, 1));
    }
}
