//! The distributed runtime against its targets: every planner's plan measured against its
//! prediction, and goodput over one emulated link.

use crate::calibrate::{Calibrated, EmulateMode};
use crate::engine::{model_inputs, InputChoice};
use crate::error::Result;
use crate::measured::{run_plan, Feed, FrameBreakdown, Measured, Workload};
use crate::median::median;
use crate::session::Session;
use crate::setup::Setting;
use crate::source::ModelSource;
use prost::Message;
use std::sync::Arc;
use tiersplit_cost::{Profile, Scenario, Tier};
use tiersplit_onnx::{ImportOptions, OnnxModel};
use tiersplit_plan::{all_planners, Planner, SingleNode};

/// A model to measure and its reference profile.
pub struct Case {
    /// The name the case's rows are reported under.
    pub label: String,
    /// Where the model comes from.
    pub source: ModelSource,
    /// The model's reference profile (calibrated to this machine before the runs).
    pub profile: Profile,
}

/// Every planner's plan (or only those named) of every case on the session's cluster of
/// `scenario`, `frames` frames each, emulated or not; the measurements per case.
pub async fn every_plan(
    session: &mut Session,
    scenario: &Scenario,
    cases: &[Case],
    emulate: bool,
    frames: usize,
    only: Option<&[&str]>,
) -> Result<Vec<(String, Vec<Measured>)>> {
    let mut out = Vec::new();
    for case in cases {
        let model = Arc::new(case.source.import(&ImportOptions::default())?);
        let inputs = model_inputs(&model, &InputChoice::random(0))?;
        let mode = if emulate {
            EmulateMode::On
        } else {
            EmulateMode::Off
        };
        let profile = case.profile.clone();
        let c = Calibrated::measure(&case.source, &model, scenario, profile, inputs, 5, mode)?;
        let problem = Setting::of(scenario.clone()).problem(&model, &c.profile)?;
        session.set_emulation(c.emulation.clone()).await?;
        let w = c.workload(&model, &problem);
        let (rows, _) = plans_measured(session, &w, frames, only, false).await?;
        out.push((case.label.clone(), rows));
    }
    Ok(out)
}

/// How much faster than its predicted rate best-throughput's plan is fed when pipelined.
pub const OVERFEED: f64 = 1.25;

/// Every planner's plan of `w` (or only those named) run `frames` frames one at a time, in
/// planner order; with `pipelined`, best-throughput's plan also `3 * frames` frames fed
/// [`OVERFEED`] times its predicted rate, 4 in flight (the second result).
pub async fn plans_measured(
    session: &mut Session,
    w: &Workload<'_>,
    frames: usize,
    only: Option<&[&str]>,
    pipelined: bool,
) -> Result<(Vec<Measured>, Option<Measured>)> {
    let mut rows = Vec::new();
    let mut throughput = None;
    for planner in all_planners() {
        if only.is_some_and(|o| !o.contains(&planner.name())) {
            continue;
        }
        let plan = planner.plan(w.problem)?;
        let m = run_plan(session, w, &plan, frames, Feed::Sequential).await?;
        if pipelined && plan.algorithm == "best-throughput" {
            let paced = Feed::Paced {
                fps: m.predicted_fps * OVERFEED,
                window: 4,
            };
            throughput = Some(run_plan(session, w, &plan, frames * 3, paced).await?);
        }
        rows.push(m);
    }
    Ok((rows, throughput))
}

/// Mean over a run's frames of one figure of their breakdown.
pub fn mean_ms(m: &Measured, f: impl Fn(&FrameBreakdown) -> f64) -> f64 {
    m.breakdown.iter().map(f).sum::<f64>() / m.breakdown.len().max(1) as f64
}

/// Mean frame latency over the mean summed compute of its parts: what the runtime adds
/// (1 = nothing).
pub fn runtime_overhead(m: &Measured) -> f64 {
    mean_ms(m, |b| b.latency_ms) / mean_ms(m, |b| b.compute_ms.values().sum())
}

/// How far a case's runs were from their predictions.
#[derive(Debug, Clone)]
pub struct ErrorSpread {
    /// Each run's |prediction error|, in run order.
    pub errors: Vec<f64>,
    /// Their median.
    pub median: f64,
    /// The largest (NaN ignored; 0 without runs).
    pub worst: f64,
    /// The algorithm of the run with the largest ("-" without runs).
    pub worst_plan: String,
    /// Whether every run was exact.
    pub all_exact: bool,
}

impl ErrorSpread {
    /// The spread of `rows`.
    pub fn of(rows: &[Measured]) -> ErrorSpread {
        let errors: Vec<f64> = rows.iter().map(|m| m.error.abs()).collect();
        let worst_plan = rows
            .iter()
            .max_by(|a, b| a.error.abs().total_cmp(&b.error.abs()))
            .map_or("-", |m| m.algorithm.as_str())
            .to_string();
        ErrorSpread {
            median: median(errors.clone()),
            worst: errors.iter().copied().fold(0.0, f64::max),
            worst_plan,
            all_exact: rows.iter().all(|m| m.exact),
            errors,
        }
    }
}

/// A model that only passes a tensor of `bytes` through (Relu), for link measurements.
fn pass_through(bytes: u64) -> Result<(ModelSource, Arc<OnnxModel>)> {
    let rows = (bytes / 4 / 256).max(1);
    let mut b = tiersplit_zoo::NetBuilder::new("pass-through", 0);
    let x = b.input("x", &[1, 1, rows, 256]);
    let y = b.relu(&x);
    let source = ModelSource {
        label: format!("pass-through of {rows}x256 floats"),
        bytes: b.finish(&[y]).encode_to_vec(),
    };
    let model = source.import(&ImportOptions::default())?;
    Ok((source, Arc::new(model)))
}

/// A device and an edge node joined by one link of `mbps` and `delay_ms` each way.
pub fn link_scenario(mbps: f64, delay_ms: f64) -> Result<Scenario> {
    Ok(Scenario::from_toml(&format!(
        "name = \"link\"\nframe_rate = 1\n[[nodes]]\nname = \"device\"\ntier = \"device\"\n\
         [[nodes]]\nname = \"edge\"\ntier = \"edge\"\n\
         [[links]]\nfrom = \"device\"\nto = \"edge\"\nbandwidth_mbps = {mbps}\nrtt_ms = {}\n",
        2.0 * delay_ms
    ))?)
}

/// One tensor size's transfer over a link, there and back.
#[derive(Debug, Clone, Copy)]
pub struct Goodput {
    /// The tensor's size (KiB).
    pub kib: u64,
    /// The bytes' rate as a fraction of the link's (the delays and compute taken out).
    pub ratio: f64,
    /// Median time of the round trip, delays and compute included (ms).
    pub p50_ms: f64,
}

/// Goodput over the link of `scenario` (a [`link_scenario`], the session's cluster) for each
/// tensor size: a tensor sent to the edge and back, the time left after the delays and the
/// compute being the time the bytes took; as a fraction of the link's rate.
pub async fn goodput(
    session: &mut Session,
    scenario: &Scenario,
    sizes_kib: &[u64],
    frames: usize,
) -> Result<Vec<Goodput>> {
    let link = &scenario.links[0];
    let (mbps, delay_ms) = (link.bandwidth_mbps, link.rtt_ms / 2.0);
    let mut out = Vec::new();
    for &kib in sizes_kib {
        let (source, model) = pass_through(kib << 10)?;
        let inputs = model_inputs(&model, &InputChoice::random(0))?;
        let profile = Profile::estimate(&model.graph, 1.0).scaled(0.0);
        let on = EmulateMode::On;
        let c = Calibrated::measure(&source, &model, scenario, profile, inputs, 3, on)?;
        let problem = Setting::of(scenario.clone()).problem(&model, &c.profile)?;
        let plan = SingleNode(Tier::Edge).plan(&problem)?;
        session.set_emulation(c.emulation.clone()).await?;
        let w = c.workload(&model, &problem);
        let m = run_plan(session, &w, &plan, frames, Feed::Sequential).await?;
        let compute = mean_ms(&m, |b| b.compute_ms.values().sum());
        let sent = 2.0 * (kib << 10) as f64 * 8.0;
        let secs = (m.p50_ms - 2.0 * delay_ms - compute) / 1e3;
        out.push(Goodput {
            kib,
            ratio: sent / secs / 1e6 / mbps,
            p50_ms: m.p50_ms,
        });
    }
    Ok(out)
}
