//! The papers' experiments re-run (`tiersplit bench paper dads|d3|decc`): each paper's
//! settings, models and baselines on an emulated cluster of worker processes, each figure
//! predicted by the cost model and measured, for a front end to set beside the published ones
//! (`docs/papers.md`).
//!
//! Emulation cannot make a node faster than the machine it runs on: the fastest node runs at
//! this machine's own speed on the device's engine, and the others are slowed relative to it
//! (or, for DADS's device, to a published Raspberry Pi 3B+ time).

mod d3;
mod dads;
mod decc;

pub use d3::{d3_claims, D3_MODELS, D3_PLANNERS, D3_TWO_TIER};
pub use dads::{
    cut_of, dads_claims, dads_rows, dads_scenario, dads_sweep, pi3bplus_ms, v100_ms, CloudHw,
    DadsRow, Load, SweepPoint, Uplink, DADS_PLANNERS, DADS_UPLINKS, PI3BPLUS_GFLOPS, PI3BPLUS_MS,
    V100_GFLOPS, V100_MS,
};
pub use decc::{decc_claims, DECC_MODELS, DECC_PLANNERS};

use crate::calibrate::{calibrate, Calibrated, EmulateMode};
use crate::engine::{model_inputs, InputChoice};
use crate::error::Result;
use crate::measured::{run_plan, Feed, Workload};
use crate::session::Session;
use crate::setup::Setting;
use crate::source::ModelSource;
use crate::summary::placement_summary;
use std::sync::Arc;
use tiersplit_cost::{EngineName, Problem, Profile, Scenario, Tier};
use tiersplit_onnx::{ImportOptions, OnnxModel};
use tiersplit_plan::{evaluate, planner_by_name, Plan};

/// A model of the experiment, with its reference profile.
pub struct PaperModel {
    /// The zoo name (`nin`, `resnet18`, ...).
    pub name: String,
    /// Where the model comes from.
    pub source: ModelSource,
    /// Its reference profile.
    pub profile: Profile,
}

/// One plan of one (model, uplink, load): predicted, and measured when it was run.
#[derive(Debug, Clone)]
pub struct PlanFigures {
    /// The planner.
    pub algorithm: String,
    /// Layers per node.
    pub placement: String,
    /// The planner's notes (DADS's switch to heavy-load mode, ...).
    pub notes: Vec<String>,
    /// Predicted latency of one frame (ms).
    pub predicted_ms: f64,
    /// Predicted frames per second when pipelined.
    pub predicted_fps: f64,
    /// Measured median latency, one frame at a time (ms).
    pub measured_ms: Option<f64>,
    /// Measured frames per second, fed faster than predicted.
    pub measured_fps: Option<f64>,
    /// Whether every measured answer equalled the unsplit model's.
    pub exact: Option<bool>,
    /// Why it was not measured, when it was not.
    pub skipped: Option<String>,
    /// Predicted bytes per frame on edge-cloud links (D3's backbone traffic).
    pub predicted_backbone: u64,
    /// Measured bytes per frame on edge-cloud links.
    pub measured_backbone: Option<u64>,
}

/// A ratio of two plans' figures: predicted, and measured when both were.
pub type Gain = (f64, Option<f64>);

/// The figures of `algorithm` among `plans`.
pub fn find<'a>(plans: &'a [PlanFigures], algorithm: &str) -> Option<&'a PlanFigures> {
    plans.iter().find(|p| p.algorithm == algorithm)
}

/// Latency speed-up of `a` over `b` (b's time over a's): predicted, and measured when both
/// were.
pub fn latency_gain(plans: &[PlanFigures], a: &str, b: &str) -> Option<Gain> {
    let (a, b) = (find(plans, a)?, find(plans, b)?);
    let measured = a.measured_ms.zip(b.measured_ms).map(|(x, y)| y / x);
    Some((b.predicted_ms / a.predicted_ms, measured))
}

/// Throughput gain of `a` over `b` (a's frames per second over b's).
pub fn throughput_gain(plans: &[PlanFigures], a: &str, b: &str) -> Option<Gain> {
    let (a, b) = (find(plans, a)?, find(plans, b)?);
    let measured = a.measured_fps.zip(b.measured_fps).map(|(x, y)| x / y);
    Some((a.predicted_fps / b.predicted_fps, measured))
}

/// Some planners' plans of one model on one scenario (D3's and DECC's rows).
#[derive(Debug, Clone)]
pub struct ScenarioRow {
    /// The model's zoo name.
    pub model: String,
    /// The scenario's name.
    pub scenario: String,
    /// In the experiment's planner order.
    pub plans: Vec<PlanFigures>,
}

impl ScenarioRow {
    /// The quickest (predicted) plan of `among`.
    pub fn quickest(&self, among: &[&str]) -> Option<&PlanFigures> {
        among
            .iter()
            .filter_map(|a| find(&self.plans, a))
            .min_by(|a, b| a.predicted_ms.total_cmp(&b.predicted_ms))
    }
}

/// How much of the experiment runs on the cluster.
#[derive(Debug, Clone, Copy)]
pub struct MeasureBudget {
    /// Frames per latency run at most (one at a time, after a warm-up frame).
    pub frames: usize,
    /// Plans predicted to take longer than this per frame (s) are not run.
    pub max_frame_s: f64,
    /// Seconds a run may take, about: slow plans get fewer frames (at least 2).
    pub run_s: f64,
    /// Whether to measure throughput too (a second, paced run of each plan).
    pub throughput: bool,
}

/// A model imported and timed here, and the profile and emulation of the scenario it is
/// about to run on.
struct Prepared {
    model: Arc<OnnxModel>,
    calibrated: Calibrated,
    /// The device's time for the whole model (ms) when it is pinned, and where it comes from.
    device_ms: (f64, String),
}

/// Imports `m` and times it here on `scenario`'s device's engine.
fn prepare(m: &PaperModel, scenario: &Scenario) -> Result<Prepared> {
    let model = Arc::new(m.source.import(&ImportOptions::default())?);
    let inputs = model_inputs(&model, &InputChoice::random(0))?;
    let on = EmulateMode::On;
    let calibrated = Calibrated::measure(
        &m.source,
        &model,
        scenario,
        m.profile.clone(),
        inputs,
        5,
        on,
    )?;
    Ok(Prepared {
        model,
        calibrated,
        device_ms: (0.0, String::new()),
    })
}

impl Prepared {
    /// `scenario` with its device taking `self.device_ms` for the model, and its problem.
    fn pinned(&mut self, scenario: &Scenario, raw: &Profile) -> Result<Problem> {
        let mut s = scenario.clone();
        let speed = s.fastest_speed() * self.calibrated.whole_ms / self.device_ms.0;
        for n in s.nodes.iter_mut().filter(|n| n.tier == Tier::Device) {
            n.speed = speed;
        }
        self.as_configured(&s, raw)
    }

    /// `scenario`'s problem with its fastest node at this machine's speed; the profile and
    /// emulation for it kept for the runs.
    fn as_configured(&mut self, scenario: &Scenario, raw: &Profile) -> Result<Problem> {
        let (profile, emulation) = calibrate(
            scenario,
            raw.clone(),
            self.calibrated.whole_ms,
            EmulateMode::On,
        );
        self.calibrated.profile = profile;
        self.calibrated.emulation = emulation;
        Setting::of(scenario.clone()).problem(&self.model, &self.calibrated.profile)
    }
}

/// The figures of `plan` on `problem`, predicted only.
fn predicted(problem: &Problem, plan: &Plan) -> PlanFigures {
    let p = evaluate(problem, plan);
    PlanFigures {
        algorithm: plan.algorithm.clone(),
        placement: placement_summary(problem, plan),
        notes: plan.notes.clone(),
        predicted_ms: p.makespan.as_millis_f64(),
        predicted_fps: p.throughput_fps,
        measured_ms: None,
        measured_fps: None,
        exact: None,
        skipped: None,
        predicted_backbone: p.backbone_bytes.0,
        measured_backbone: None,
    }
}

/// What running one plan gave.
#[derive(Debug, Clone, Default)]
struct Runs {
    latency_ms: Option<f64>,
    fps: Option<f64>,
    exact: Option<bool>,
    skipped: Option<String>,
    backbone: Option<u64>,
}

impl Runs {
    fn fill(self, f: &mut PlanFigures) {
        f.measured_ms = self.latency_ms;
        f.measured_fps = self.fps;
        f.exact = self.exact;
        f.skipped = self.skipped;
        f.measured_backbone = self.backbone;
    }
}

/// `plan` run one frame at a time (latency), then fed 1.25 times faster than its predicted
/// rate with 4 frames in flight (throughput); not at all when a frame is predicted to take
/// longer than the budget allows.
async fn measure(
    session: &mut Session,
    prep: &Prepared,
    problem: &Problem,
    plan: &Plan,
    f: &PlanFigures,
    budget: MeasureBudget,
) -> Result<Runs> {
    if f.predicted_ms > budget.max_frame_s * 1e3 {
        return Ok(Runs {
            skipped: Some(format!(
                "predicted {:.1} s a frame, over the {} s cap",
                f.predicted_ms / 1e3,
                budget.max_frame_s
            )),
            ..Runs::default()
        });
    }
    session
        .set_emulation(prep.calibrated.emulation.clone())
        .await?;
    let w: Workload = prep.calibrated.workload(&prep.model, problem);
    let n = frames_within(budget, f.predicted_ms);
    let latency = run_plan(session, &w, plan, n, Feed::Sequential).await?;
    let mut runs = Runs {
        latency_ms: Some(latency.p50_ms),
        exact: Some(latency.exact),
        backbone: Some(latency.backbone_bytes),
        ..Runs::default()
    };
    if budget.throughput {
        let paced = Feed::Paced {
            fps: f.predicted_fps * 1.25,
            window: 4,
        };
        // Completions per second need a run of frames: a few come back in a burst.
        let within = (budget.run_s * f.predicted_fps) as usize;
        let n = within.clamp(8, 4 * budget.frames.max(2));
        let throughput = run_plan(session, &w, plan, n, paced).await?;
        runs.fps = Some(throughput.fps);
        runs.exact = Some(latency.exact && throughput.exact);
    }
    Ok(runs)
}

/// Frames of `ms` each that fit the budget's run time, between 2 and its frame count.
fn frames_within(budget: MeasureBudget, ms: f64) -> usize {
    ((budget.run_s * 1e3 / ms.max(1e-3)) as usize).clamp(2, budget.frames.max(2))
}

/// Spread of a set of ratios: (smallest, largest), or None when empty.
pub fn spread(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values.into_iter().fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// One published figure beside ours.
#[derive(Debug, Clone)]
pub struct Claim {
    /// Where in the paper (figure or section).
    pub figure: &'static str,
    /// What is claimed.
    pub what: String,
    /// The paper's number.
    pub paper: String,
    /// Ours, predicted by the cost model.
    pub predicted: String,
    /// Ours, measured on the emulated cluster ("-" when nothing was measured).
    pub measured: String,
}

/// The spread of `f` over `rows` as "lo-hi" text (predicted, measured), with how many rows
/// were measured when not all were.
fn spread_text<R>(
    rows: &[&R],
    f: impl Fn(&R) -> Option<Gain>,
    show: impl Fn(f64) -> String,
) -> (String, String) {
    let got: Vec<_> = rows.iter().filter_map(|r| f(r)).collect();
    let text = |s: Option<(f64, f64)>| {
        s.map_or("-".into(), |(lo, hi)| format!("{}–{}", show(lo), show(hi)))
    };
    let measured: Vec<f64> = got.iter().filter_map(|g| g.1).collect();
    let mut m = text(spread(measured.iter().copied()));
    if !measured.is_empty() && measured.len() < got.len() {
        m = format!("{m} ({} of {} measured)", measured.len(), got.len());
    }
    (text(spread(got.iter().map(|g| g.0))), m)
}

/// How a ratio is shown ("1.23x", "23%").
type Show = fn(f64) -> String;

pub(crate) fn times(x: f64) -> String {
    format!("{x:.2}x")
}

pub(crate) fn percent_more(x: f64) -> String {
    format!("{:.0}%", (x - 1.0) * 100.0)
}

/// A speed-up `x` as the share of time it saves ("64% lower latency").
pub(crate) fn percent_less(x: f64) -> String {
    format!("{:.0}%", (1.0 - 1.0 / x) * 100.0)
}

/// `scenario` as this machine can emulate it: every node on the best engine found here
/// (`auto`) and one thread. The papers' servers have 8 cores; on a machine of 2 they would
/// only contend, and emulation gives each node its speed by stretching one thread's compute.
pub fn on_one_machine(scenario: &Scenario) -> Scenario {
    let mut s = scenario.clone();
    for n in &mut s.nodes {
        n.engine = Some(EngineName::Auto);
        n.threads = 1;
    }
    s
}

/// How fast a scenario's device is made on the emulated cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pin {
    /// As configured: its speed relative to the fastest node, which runs at this machine's
    /// speed on its engine.
    Configured,
    /// The time its speed gives against the reference profile (as `tiersplit plan` predicts
    /// it), whatever this machine's engine.
    Reference,
}

/// `algorithms`' plans of `m` on `scenario`, predicted, and measured on `session` (a cluster
/// of the scenario's nodes) when given.
pub async fn plans_on(
    mut session: Option<&mut Session>,
    scenario: &Scenario,
    m: &PaperModel,
    algorithms: &[&str],
    pin: Pin,
    budget: MeasureBudget,
) -> Result<Vec<PlanFigures>> {
    let mut prep = prepare(m, scenario)?;
    let problem = match pin {
        Pin::Configured => prep.as_configured(scenario, &m.profile)?,
        Pin::Reference => {
            let reference_ms: f64 = m.profile.layers.iter().map(|l| l.ms).sum();
            prep.device_ms = (reference_ms / scenario.device().speed, String::new());
            prep.pinned(scenario, &m.profile)?
        }
    };
    let mut out = Vec::new();
    for name in algorithms {
        let plan = planner_by_name(name)?.plan(&problem)?;
        let mut f = predicted(&problem, &plan);
        if let Some(s) = session.as_deref_mut() {
            measure(s, &prep, &problem, &plan, &f, budget)
                .await?
                .fill(&mut f);
        }
        out.push(f);
    }
    Ok(out)
}
