//! One plan executed on a cluster and measured against its prediction: shared by `run` and the
//! demo.

use crate::placement_summary::placement_summary;
use crate::plan_deployment::{self, Built};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;
use tiersplit_adapt::LinkEstimator;
use tiersplit_cost::{Problem, Tier};
use tiersplit_exec::{Difference, HostTensor};
use tiersplit_onnx::OnnxModel;
use tiersplit_plan::{evaluate, Plan};
use tiersplit_runtime::{ClusterDriver, Emulation, NodeStats, Switch};

/// How frames are fed.
#[derive(Debug, Clone, Copy)]
pub enum Feed {
    /// One frame at a time: latency.
    Sequential,
    /// At this rate, up to `window` frames in flight: throughput.
    Paced { fps: f64, window: usize },
}

/// One frame's measured breakdown.
#[derive(Debug, Clone, Serialize)]
pub struct FrameBreakdown {
    pub frame: u64,
    pub latency_ms: f64,
    /// Busy time per node (compute, stretched by emulated slowdown).
    pub compute_ms: BTreeMap<String, f64>,
    /// Time per link (serialisation, delay and write) of the frame's messages.
    pub transfer_ms: BTreeMap<String, f64>,
    /// Waiting for a busy engine or a busy link.
    pub queued_ms: f64,
}

/// A plan's measured run next to its prediction.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub algorithm: String,
    pub placement: String,
    pub parts: usize,
    pub predicted_ms: f64,
    pub predicted_fps: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    /// Frames per second in steady state: with a sequential feed, one over the mean latency;
    /// pipelined, completions per second after the first.
    pub fps: f64,
    /// (measured - predicted) / predicted, of the median latency (sequential feed) or of the
    /// throughput (paced feed).
    pub error: f64,
    pub frames: usize,
    pub failures: Vec<(u64, String)>,
    /// Frames fed in the measured run (each must be answered or failed).
    pub fed: usize,
    /// Live plan switches: (plan, first frame it served, ms from the start of the run).
    pub switches: Vec<(String, u64, f64)>,
    /// Measured bytes per frame on edge-cloud links, and the prediction.
    pub backbone_bytes: u64,
    pub predicted_backbone_bytes: u64,
    /// Bytes per frame on every link that carried any, "from->to".
    pub link_bytes: BTreeMap<String, u64>,
    /// Goodput of each emulated link estimated from its transfers (Mbit/s).
    pub link_mbps_estimated: BTreeMap<String, f64>,
    pub max_rel_diff: f64,
    pub exact: bool,
    pub cached_models: usize,
    pub breakdown: Vec<FrameBreakdown>,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

/// A model ready to run on a cluster: its problem, one frame's inputs and the unsplit outputs
/// they must give.
pub struct Workload<'a> {
    pub model: &'a OnnxModel,
    pub problem: &'a Problem,
    pub inputs: &'a [(String, HostTensor)],
    pub reference: &'a [HostTensor],
    /// Switch live to this plan after this many frames of the run.
    pub switch: Option<(&'a Plan, usize)>,
}

/// Deploys `plan` of `w` on the driver's cluster, runs one warm-up frame and then `frames`
/// frames, and measures them against the prediction.
pub async fn run_plan(
    driver: &mut ClusterDriver,
    w: &Workload<'_>,
    plan: &Plan,
    emulation: Emulation,
    frames: usize,
    feed: Feed,
) -> Result<Measured> {
    let Workload {
        model,
        problem,
        inputs,
        reference,
        ..
    } = *w;
    let prediction = evaluate(problem, plan);
    let Built {
        deployment, models, ..
    } = plan_deployment::build(model, problem, plan, driver.addresses(), emulation.clone())?;
    let parts = deployment.parts.len();
    let cached_models = driver
        .deploy(&deployment, &models)
        .await
        .with_context(|| format!("deploying the {} plan", plan.algorithm))?;
    // One warm-up frame: first runs allocate.
    driver.run(inputs, 1, None, 1).await?;
    let (interval, window) = match feed {
        Feed::Sequential => (None, 1),
        Feed::Paced { fps, window } => (Some(Duration::from_secs_f64(1.0 / fps)), window),
    };
    let next = match w.switch {
        Some((plan, _)) => Some(plan_deployment::build(
            model,
            problem,
            plan,
            driver.addresses(),
            emulation.clone(),
        )?),
        None => None,
    };
    let switches: Vec<Switch> = next
        .iter()
        .zip(w.switch)
        .map(|(b, (_, after))| Switch {
            after,
            deployment: &b.deployment,
            models: &b.models,
        })
        .collect();
    let report = driver
        .run_switching(inputs, frames, interval, window, &switches)
        .await?;
    let stats = driver.stats().await?;
    let names: Vec<String> = model
        .graph
        .outputs
        .iter()
        .map(|&t| model.graph.tensor(t).name.clone())
        .collect();
    let outputs: Vec<HostTensor> = names
        .iter()
        .filter_map(|n| report.last_outputs.get(n).cloned())
        .collect();
    let diff = if outputs.len() == reference.len() {
        Some(Difference::between(&outputs, reference))
    } else {
        None
    };
    let mut lat: Vec<f64> = report
        .latencies
        .iter()
        .map(|(_, d)| d.as_secs_f64() * 1e3)
        .collect();
    lat.sort_by(f64::total_cmp);
    let counted: BTreeSet<u64> = report.latencies.iter().map(|(f, _)| *f).collect();
    let breakdown = breakdown(&stats, &report.latencies, &counted);
    let tier_of: HashMap<&str, Tier> = problem
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n.tier))
        .collect();
    // Bytes per link, and each link's goodput estimated passively from its transfers, as
    // adaptation will: the time a message held the link, less the link's one-way delay. Only
    // where the transport shapes the rate (with the kernel shaping, writes return before the
    // bytes have left).
    let mut link_bytes: BTreeMap<String, u64> = BTreeMap::new();
    let mut backbone = 0u64;
    let mut estimators: BTreeMap<String, LinkEstimator> = BTreeMap::new();
    for s in &stats {
        for l in s.links.iter().filter(|l| counted.contains(&l.frame)) {
            let key = format!("{}->{}", s.node, l.to);
            if Tier::is_backbone(tier_of[s.node.as_str()], tier_of[l.to.as_str()]) {
                backbone += l.bytes;
            }
            let shaped = emulation
                .links
                .iter()
                .find(|e| e.from == s.node && e.to == l.to && e.mbps.is_some());
            if let Some(shape) = shaped {
                let secs = l.busy_us as f64 / 1e6 - shape.delay_ms / 1e3;
                estimators
                    .entry(key.clone())
                    .or_default()
                    .observe(l.bytes, secs);
            }
            *link_bytes.entry(key).or_default() += l.bytes;
        }
    }
    let link_mbps_estimated: BTreeMap<String, f64> = estimators
        .into_iter()
        .filter_map(|(k, e)| e.mbps().map(|m| (k, m)))
        .collect();
    let n = counted.len().max(1) as u64;
    for v in link_bytes.values_mut() {
        *v /= n;
    }
    let p50 = percentile(&lat, 0.5);
    // Steady-state rate: frames completed after the first, over the time since the first
    // completed (filling the pipeline is latency, not throughput).
    let fps = match report.completed.as_slice() {
        [first, .., last] if last > first => {
            (report.completed.len() - 1) as f64 / (*last - *first).as_secs_f64()
        }
        _ => counted.len() as f64 / report.wall.as_secs_f64(),
    };
    let predicted_ms = prediction.makespan.as_millis_f64();
    let error = match feed {
        Feed::Sequential => (p50 - predicted_ms) / predicted_ms,
        Feed::Paced { .. } => (fps - prediction.throughput_fps) / prediction.throughput_fps,
    };
    Ok(Measured {
        algorithm: plan.algorithm.clone(),
        placement: placement_summary(problem, plan),
        parts,
        predicted_ms,
        predicted_fps: prediction.throughput_fps,
        p50_ms: p50,
        p95_ms: percentile(&lat, 0.95),
        fps,
        error,
        frames: counted.len(),
        failures: report.failures,
        fed: report.fed,
        switches: report
            .switches
            .iter()
            .map(|(id, f, at)| (id.clone(), *f, at.as_secs_f64() * 1e3))
            .collect(),
        backbone_bytes: backbone / n,
        predicted_backbone_bytes: prediction.backbone_bytes.0,
        link_bytes,
        link_mbps_estimated,
        max_rel_diff: diff.as_ref().map_or(f64::INFINITY, |d| d.max_rel),
        exact: diff.as_ref().is_some_and(|d| d.within_tolerance()),
        cached_models,
        breakdown,
    })
}

fn breakdown(
    stats: &[NodeStats],
    latencies: &[(u64, Duration)],
    counted: &BTreeSet<u64>,
) -> Vec<FrameBreakdown> {
    let mut out: BTreeMap<u64, FrameBreakdown> = latencies
        .iter()
        .map(|&(f, d)| {
            (
                f,
                FrameBreakdown {
                    frame: f,
                    latency_ms: d.as_secs_f64() * 1e3,
                    compute_ms: BTreeMap::new(),
                    transfer_ms: BTreeMap::new(),
                    queued_ms: 0.0,
                },
            )
        })
        .collect();
    for s in stats {
        for p in s.parts.iter().filter(|p| counted.contains(&p.frame)) {
            if let Some(b) = out.get_mut(&p.frame) {
                *b.compute_ms.entry(s.node.clone()).or_default() += p.busy_us as f64 / 1e3;
                b.queued_ms += p.queued_us as f64 / 1e3;
            }
        }
        for l in s.links.iter().filter(|l| counted.contains(&l.frame)) {
            if let Some(b) = out.get_mut(&l.frame) {
                *b.transfer_ms
                    .entry(format!("{}->{}", s.node, l.to))
                    .or_default() += l.busy_us as f64 / 1e3;
                b.queued_ms += l.queued_us as f64 / 1e3;
            }
        }
    }
    out.into_values().collect()
}
