//! One plan executed on a cluster and measured against its prediction: latency percentiles,
//! throughput, per-frame breakdowns, bytes per link, exactness.

use crate::engine::NamedTensor;
use crate::error::{Result, SessionError};
use crate::frame_loop::{
    Deployed, FrameLog, FrameLoop, Frames, LoopReport, LoopSetup, PlanChanges, Until,
};
use crate::median::percentile;
use crate::session::Session;
use crate::summary::placement_summary;
use crate::PlanKind;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tiersplit_adapt::{LinkEstimator, Overload};
use tiersplit_cost::{Problem, Tier};
use tiersplit_exec::HostTensor;
use tiersplit_onnx::OnnxModel;
use tiersplit_plan::{evaluate, Plan};
use tiersplit_runtime::{Emulation, NodeStats};

/// How frames are fed.
#[derive(Debug, Clone, Copy)]
pub enum Feed {
    /// One frame at a time: latency.
    Sequential,
    /// At this rate, up to `window` frames in flight: throughput.
    Paced {
        /// Frames per second the source produces.
        fps: f64,
        /// Frames in flight at most.
        window: usize,
    },
}

impl Feed {
    /// Paced at `fps` with `window` frames in flight, or one at a time without a rate.
    pub fn at(fps: Option<f64>, window: usize) -> Feed {
        fps.map_or(Feed::Sequential, |fps| Feed::Paced { fps, window })
    }
}

/// One frame's measured breakdown.
#[derive(Debug, Clone, Serialize)]
pub struct FrameBreakdown {
    /// The frame's number.
    pub frame: u64,
    /// From when the source produced it to its complete answer (ms).
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
    /// The plan's algorithm.
    pub algorithm: String,
    /// Layers per node, then the tiled stages and the nodes they spread over.
    pub placement: String,
    /// The plan's kind: the tiers it uses, tiles, parts computing at once.
    pub kind: PlanKind,
    /// What the planner said of its plan (`best`: which planner's plan it took).
    pub notes: Vec<String>,
    /// Parts deployed (sub-models, tiles, stitchers).
    pub parts: usize,
    /// Predicted latency of one frame: the plan's makespan (ms).
    pub predicted_ms: f64,
    /// Predicted frames per second when frames are pipelined.
    pub predicted_fps: f64,
    /// Median measured latency (ms).
    pub p50_ms: f64,
    /// 95th percentile of the measured latency (ms).
    pub p95_ms: f64,
    /// Frames per second in steady state: with a sequential feed, one over the mean latency;
    /// pipelined, completions per second after the first.
    pub fps: f64,
    /// (measured - predicted) / predicted, of the median latency (sequential feed) or of the
    /// throughput (paced feed).
    pub error: f64,
    /// Frames answered.
    pub frames: usize,
    /// Frames that failed, with the reason.
    pub failures: Vec<(u64, String)>,
    /// Frames fed in the measured run (each must be answered or failed).
    pub fed: usize,
    /// Live plan switches: (plan, first frame it served, ms from the start of the run).
    pub switches: Vec<(String, u64, f64)>,
    /// Why the run ended before its last frame, when it did (every frame fed is still
    /// answered or failed: those in flight failed with this).
    pub ended: Option<String>,
    /// Fail-overs around nodes lost during the run.
    pub failovers: Vec<crate::FailOverLog>,
    /// Nodes re-admitted after they answered again: (node, seconds from the start).
    pub readmitted: Vec<(String, f64)>,
    /// Answered frames that were fed again after a node they were on was lost.
    pub reissued: usize,
    /// Answers beyond the first for a frame (the frame loop never accepts one: always 0).
    pub answered_twice: usize,
    /// Measured bytes per frame on edge-cloud links, and the prediction.
    pub backbone_bytes: u64,
    /// Predicted bytes per frame on edge-cloud links.
    pub predicted_backbone_bytes: u64,
    /// Bytes per frame on every link that carried any, "from->to".
    pub link_bytes: BTreeMap<String, u64>,
    /// Goodput of each emulated link estimated from its transfers (Mbit/s).
    pub link_mbps_estimated: BTreeMap<String, f64>,
    /// Largest relative difference of any frame's outputs from the unsplit model's.
    pub max_rel_diff: f64,
    /// Whether frames were answered and every one within tolerance of the unsplit model.
    pub exact: bool,
    /// Models the nodes had cached already when the plan was deployed.
    pub cached_models: usize,
    /// Each answered frame's breakdown, in frame order.
    pub breakdown: Vec<FrameBreakdown>,
}

/// The mean over a run's answered frames of each figure of their breakdown.
#[derive(Debug, Clone, Default)]
pub struct MeanBreakdown {
    /// Busy time per node (ms).
    pub compute_ms: BTreeMap<String, f64>,
    /// Time per link, "from->to" (ms).
    pub transfer_ms: BTreeMap<String, f64>,
    /// Waiting for a busy engine or a busy link (ms).
    pub queued_ms: f64,
}

impl Measured {
    /// The mean per-frame breakdown; a node or link a frame did not use counts as 0 for it.
    pub fn mean_breakdown(&self) -> MeanBreakdown {
        let n = self.breakdown.len().max(1) as f64;
        let mut mean = MeanBreakdown::default();
        for b in &self.breakdown {
            for (k, v) in &b.compute_ms {
                *mean.compute_ms.entry(k.clone()).or_default() += v / n;
            }
            for (k, v) in &b.transfer_ms {
                *mean.transfer_ms.entry(k.clone()).or_default() += v / n;
            }
            mean.queued_ms += b.queued_ms / n;
        }
        mean
    }

    /// Whether frames were answered, every one within tolerance, and none failed.
    pub fn passed(&self) -> bool {
        self.exact && self.failures.is_empty()
    }
}

/// A model ready to run on a cluster: its problem, one frame's inputs and the unsplit outputs
/// they must give.
pub struct Workload<'a> {
    /// The imported model.
    pub model: &'a Arc<OnnxModel>,
    /// The problem the plan was made on and is predicted on.
    pub problem: &'a Problem,
    /// One frame's inputs, fed for every frame.
    pub inputs: &'a [NamedTensor],
    /// The unsplit model's outputs on them, in graph output order.
    pub reference: &'a [HostTensor],
    /// Switch live to this plan after this many frames of the run.
    pub switch: Option<(&'a Plan, usize)>,
}

/// Deploys `plan` of `w` on the session's cluster, runs one warm-up frame and then `frames`
/// frames, and measures them against the prediction.
pub async fn run_plan(
    session: &mut Session,
    w: &Workload<'_>,
    plan: &Plan,
    frames: usize,
    feed: Feed,
) -> Result<Measured> {
    let ls = LoopSetup {
        model: w.model.clone(),
        nominal: Arc::new(w.problem.clone()),
        inputs: w.inputs,
        reference: w.reference,
    };
    let mut fl = FrameLoop::new(session, &ls);
    let deployed = fl.deploy(plan, &mut PlanChanges::Fixed).await?;
    // One warm-up frame: first runs allocate.
    fl.run(&Frames::sequential(1), &mut PlanChanges::Fixed, &[])
        .await?;
    let mut changes = match w.switch {
        Some((next, after)) => PlanChanges::Schedule(vec![(after, next.clone())]),
        None => PlanChanges::Fixed,
    };
    let (report, ended) = match fl.run(&frames_of(feed, frames), &mut changes, &[]).await {
        Ok(report) => (report, None),
        Err(SessionError::RunEnded { cause, report }) => (*report, Some(cause)),
        Err(e) => return Err(e),
    };
    // Statistics are best effort once the run has failed: the nodes it lost have none.
    let stats = match (session.driver.stats().await, &ended) {
        (Ok(stats), _) => stats,
        (Err(_), Some(_)) => Vec::new(),
        (Err(e), None) => return Err(e.into()),
    };
    let traffic = Traffic::measure(w.problem, session.emulation(), &stats, &report);
    let mut m = measured(w, plan, feed, &report, &stats, traffic, deployed);
    m.ended = ended.as_ref().map(|c| c.to_string());
    match ended {
        None => Ok(m),
        Some(cause) => Err(SessionError::MeasuredRunEnded {
            cause,
            measured: Box::new(m),
        }),
    }
}

/// The frames of a measured run: sequential, or paced without dropping any.
fn frames_of(feed: Feed, n: usize) -> Frames {
    match feed {
        Feed::Sequential => Frames::sequential(n),
        Feed::Paced { fps, window } => Frames {
            interval: Some(Duration::from_secs_f64(1.0 / fps)),
            window,
            overload: Overload::BackPressure,
            queue: window.max(1),
            until: Until::Frames(n),
        },
    }
}

/// Bytes per link and per frame, and each link's goodput estimated passively from its
/// transfers, as adaptation does: where the transport shapes the rate, the time a message held
/// the link less its one-way delay; elsewhere (the kernel or the network shapes it, and writes
/// return before the bytes have left) the time its payload took to arrive.
struct Traffic {
    link_bytes: BTreeMap<String, u64>,
    backbone: u64,
    link_mbps_estimated: BTreeMap<String, f64>,
}

impl Traffic {
    fn measure(
        problem: &Problem,
        emulation: &Emulation,
        stats: &[NodeStats],
        report: &LoopReport,
    ) -> Traffic {
        let counted: BTreeSet<u64> = report.frames.iter().map(|f| f.frame).collect();
        let tier_of = |name: &str| problem.node_by_name(name).map(|n| problem.nodes[n.0].tier);
        let mut link_bytes: BTreeMap<String, u64> = BTreeMap::new();
        let mut backbone = 0u64;
        let mut estimators: BTreeMap<String, LinkEstimator> = BTreeMap::new();
        for s in stats {
            for l in s.links.iter().filter(|l| counted.contains(&l.frame)) {
                let key = format!("{}->{}", s.node, l.to);
                if let (Some(a), Some(b)) = (tier_of(&s.node), tier_of(&l.to)) {
                    if Tier::is_backbone(a, b) {
                        backbone += l.bytes;
                    }
                }
                if let Some(shape) = emulation.link(&s.node, &l.to).filter(|e| e.mbps.is_some()) {
                    let secs = l.busy_us as f64 / 1e6 - shape.delay_ms / 1e3;
                    estimators
                        .entry(key.clone())
                        .or_default()
                        .observe(l.bytes, secs);
                }
                *link_bytes.entry(key).or_default() += l.bytes;
            }
            // Links the runtime does not shape are timed where their bytes arrive.
            for a in s.arrivals.iter().filter(|a| counted.contains(&a.frame)) {
                estimators
                    .entry(format!("{}->{}", a.from, s.node))
                    .or_default()
                    .observe(a.bytes, a.micros as f64 / 1e6);
            }
        }
        let n = counted.len().max(1) as u64;
        for v in link_bytes.values_mut() {
            *v /= n;
        }
        Traffic {
            link_bytes,
            backbone: backbone / n,
            link_mbps_estimated: estimators
                .into_iter()
                .filter_map(|(k, e)| e.mbps().map(|m| (k, m)))
                .collect(),
        }
    }
}

/// A frame's latency from when it was fed (ms).
fn fed_latency_ms(f: &FrameLog) -> f64 {
    (f.done_s - f.fed_s) * 1e3
}

/// Frames per second in steady state: frames completed after the first, over the time
/// since the first completed (filling the pipeline is latency, not throughput).
fn steady_fps(report: &LoopReport) -> f64 {
    let mut done: Vec<f64> = report.frames.iter().map(|f| f.done_s).collect();
    done.sort_by(f64::total_cmp);
    match done.as_slice() {
        [first, .., last] if last > first => (done.len() - 1) as f64 / (last - first),
        _ => {
            let start = report
                .frames
                .iter()
                .map(|f| f.fed_s)
                .fold(f64::INFINITY, f64::min);
            let end = done.last().copied().unwrap_or(start);
            report.frames.len() as f64 / (end - start).max(1e-9)
        }
    }
}

/// The measurements of a run next to the plan's prediction.
fn measured(
    w: &Workload<'_>,
    plan: &Plan,
    feed: Feed,
    report: &LoopReport,
    stats: &[NodeStats],
    traffic: Traffic,
    deployed: Deployed,
) -> Measured {
    let prediction = evaluate(w.problem, plan);
    // From feeding a frame to its answer: the cluster's latency, without the time a paced
    // frame waited on the device for room in the window.
    let mut lat: Vec<f64> = report.frames.iter().map(fed_latency_ms).collect();
    lat.sort_by(f64::total_cmp);
    let p50 = percentile(&lat, 0.5);
    let fps = steady_fps(report);
    let predicted_ms = prediction.makespan.as_millis_f64();
    let error = match feed {
        Feed::Sequential => (p50 - predicted_ms) / predicted_ms,
        Feed::Paced { .. } => (fps - prediction.throughput_fps) / prediction.throughput_fps,
    };
    let max_rel_diff = report.frames.iter().map(|f| f.max_rel_diff).fold(
        if report.frames.is_empty() {
            f64::INFINITY
        } else {
            0.0
        },
        f64::max,
    );
    Measured {
        algorithm: plan.algorithm.clone(),
        placement: placement_summary(w.problem, plan),
        kind: PlanKind::of(&w.model.graph, w.problem, plan),
        notes: plan.notes.clone(),
        parts: deployed.parts,
        predicted_ms,
        predicted_fps: prediction.throughput_fps,
        p50_ms: p50,
        p95_ms: percentile(&lat, 0.95),
        fps,
        error,
        frames: report.frames.len(),
        failures: report.failures.clone(),
        fed: report.fed as usize,
        switches: report
            .switches
            .iter()
            .map(|s| (s.algorithm.clone(), s.first_frame, s.ready_s * 1e3))
            .collect(),
        ended: None,
        failovers: report.failovers.clone(),
        readmitted: report.readmitted.clone(),
        reissued: report.frames.iter().filter(|f| f.reissued).count(),
        answered_twice: report.frames.len()
            - report
                .frames
                .iter()
                .map(|f| f.frame)
                .collect::<BTreeSet<u64>>()
                .len(),
        backbone_bytes: traffic.backbone,
        predicted_backbone_bytes: prediction.backbone_bytes.0,
        link_bytes: traffic.link_bytes,
        link_mbps_estimated: traffic.link_mbps_estimated,
        max_rel_diff,
        exact: !report.frames.is_empty() && report.frames.iter().all(|f| f.exact),
        cached_models: deployed.cached,
        breakdown: breakdown(stats, &report.frames),
    }
}

fn breakdown(stats: &[NodeStats], frames: &[FrameLog]) -> Vec<FrameBreakdown> {
    let counted: BTreeSet<u64> = frames.iter().map(|f| f.frame).collect();
    let mut out: BTreeMap<u64, FrameBreakdown> = frames
        .iter()
        .map(|f| {
            (
                f.frame,
                FrameBreakdown {
                    frame: f.frame,
                    latency_ms: fed_latency_ms(f),
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
