//! Planning time of every planner, and HPA's local re-adjustment against a full re-solve.

use crate::error::{Result, SessionError};
use crate::median::median;
use rand::{Rng, SeedableRng};
use std::time::Instant;
use tiersplit_cost::{Bandwidth, Nanos, Problem, Profile, Scenario, Tier};
use tiersplit_graph::{Bytes, DType, Flops, Layer, LayerId, ModelGraph, TensorId, TensorInfo};
use tiersplit_onnx::{ImportOptions, OnnxModel};
use tiersplit_plan::{evaluate, Best, ExactThreeTier, Hpa, Plan, Planner};

/// A generated CNN-like DAG: a chain of `n` layers where every fourth layer also reads the
/// output of a layer up to eight back (skip connections), with shrinking feature maps.
pub fn generated_dag(n: usize, seed: u64) -> ModelGraph {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let tensor = |i: u32, name: String, side: u64, producer: Option<LayerId>| TensorInfo {
        id: TensorId(i),
        name,
        dtype: DType::F32,
        shape: vec![1, if producer.is_some() { 64 } else { 3 }, side, side],
        producer,
        consumers: vec![],
    };
    let mut tensors = vec![tensor(0, "input".into(), 224, None)];
    let mut layers = Vec::with_capacity(n);
    for i in 0..n {
        let id = LayerId(i as u32);
        let mut inputs = vec![TensorId(i as u32)];
        if i % 4 == 3 && i > 8 {
            inputs.push(TensorId(rng.random_range(i as u32 - 8..i as u32)));
        }
        for &t in &inputs {
            tensors[t.index()].consumers.push(id);
        }
        let side = (112 >> (4 * i / n).min(4)) as u64;
        tensors.push(tensor(i as u32 + 1, format!("t{i}"), side, Some(id)));
        layers.push(Layer {
            id,
            name: format!("layer{i}"),
            op: if inputs.len() > 1 { "Add" } else { "Conv" }.into(),
            inputs,
            outputs: vec![TensorId(i as u32 + 1)],
            flops: Flops(rng.random_range(1_000_000..100_000_000)),
            params: 0,
            param_bytes: Bytes(0),
        });
    }
    ModelGraph {
        name: format!("generated-{n}"),
        layers,
        tensors,
        inputs: vec![TensorId(0)],
        outputs: vec![TensorId(n as u32)],
    }
}

/// Every zoo model (with its tiling geometry) and generated DAGs of 1,200 and 2,400 layers,
/// each with its problem on `scenario`; layer times estimated from FLOPs, as planning time does
/// not depend on them.
pub fn planning_problems(scenario: &Scenario) -> Result<Vec<(ModelGraph, Problem)>> {
    let mut out = Vec::new();
    for e in tiersplit_zoo::ZOO {
        let bytes = tiersplit_zoo::build_bytes(e.name, 0)?;
        let model = OnnxModel::from_bytes(&bytes, &ImportOptions::default())?;
        let mut g = model.graph.clone();
        g.name = e.name.to_string();
        let mut problem = Problem::new(&g, scenario, &Profile::estimate(&g, 20.0))?;
        problem.set_spatial(model.spatial_ops())?;
        out.push((g, problem));
    }
    for (n, seed) in [(1200, 1), (2400, 2)] {
        let g = generated_dag(n, seed);
        let problem = Problem::new(&g, scenario, &Profile::estimate(&g, 20.0))?;
        out.push((g, problem));
    }
    Ok(out)
}

/// The zoo models HPA's re-adjustment is measured on, each with its problem on `scenario`.
pub fn readjust_problems(scenario: &Scenario) -> Result<Vec<(&'static str, Problem)>> {
    let mut out = Vec::new();
    for name in [
        "googlenet",
        "resnet50",
        "mobilenetv2",
        "vgg16",
        "tinyyolov2",
    ] {
        let bytes = tiersplit_zoo::build_bytes(name, 0)?;
        let g = OnnxModel::from_bytes(&bytes, &ImportOptions::default())?.graph;
        out.push((name, Problem::new(&g, scenario, &profile_for(&g, name))?));
    }
    Ok(out)
}

/// The measured profile in `profiles/NAME.json` when it is there and fits, else a FLOP
/// estimate.
pub(crate) fn profile_for(g: &ModelGraph, name: &str) -> Profile {
    std::fs::read_to_string(format!("profiles/{name}.json"))
        .ok()
        .and_then(|t| Profile::from_json(&t).ok())
        .filter(|p| p.times_for(g).is_ok())
        .unwrap_or_else(|| Profile::estimate(g, 20.0))
}

/// Each planner's median planning time on `problem` over `rounds` runs (ms).
pub fn planning_times(
    problem: &Problem,
    planners: &[Box<dyn Planner>],
    rounds: usize,
) -> Result<Vec<f64>> {
    planners
        .iter()
        .map(|p| {
            let mut times = Vec::with_capacity(rounds);
            for _ in 0..rounds.max(1) {
                let t = Instant::now();
                let plan = p.plan(problem)?;
                times.push(t.elapsed().as_secs_f64() * 1e3);
                std::hint::black_box(plan);
            }
            Ok(median(times))
        })
        .collect()
}

/// `best` re-planning after the device's uplinks halve, from its plan before the change
/// ([`Best::refine`]): the median time (ms) over `rounds` runs, and its makespan over a full
/// `best` plan's on the changed problem.
pub fn refine_time(problem: &Problem, rounds: usize) -> Result<(f64, f64)> {
    let best = Best::latency();
    let before = best.plan(problem)?;
    let mut changed = problem.clone();
    for l in changed
        .links
        .iter_mut()
        .filter(|l| l.from == problem.device)
    {
        l.bandwidth = Bandwidth(l.bandwidth.0 / 2.0);
    }
    let mut times = Vec::with_capacity(rounds);
    let mut refined = before.clone();
    for _ in 0..rounds.max(1) {
        let t = Instant::now();
        refined = best.refine(&changed, &before)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let full = evaluate(&changed, &best.plan(&changed)?).makespan.0 as f64;
    let quality = evaluate(&changed, &refined).makespan.0 as f64 / full.max(1.0);
    Ok((median(times), quality))
}

/// HPA after one change of the problem: the full re-solve against the local re-adjustment.
#[derive(Debug, Clone)]
pub struct ReadjustRow {
    /// The change applied, in words ("backbone / 8", "uplink x 10", "edge 3x slower").
    pub change: &'static str,
    /// Median time of HPA's full re-solve (ms).
    pub full_ms: f64,
    /// Median time of HPA's local re-adjustment from its plan before the change (ms).
    pub local_ms: f64,
    /// Layers whose node the re-adjustment changed.
    pub layers_moved: usize,
    /// Candidate split points the re-adjustment evaluated.
    pub evaluations: usize,
    /// Summed latency of the re-adjusted plan over the full re-solve's and over the exact
    /// three-tier planner's (1 = as good).
    pub vs_full: f64,
    /// Summed latency of the re-adjusted plan over the exact three-tier planner's.
    pub vs_exact: f64,
}

/// A change applied to a problem (a link slowing down, a node getting busy).
type Change = Box<dyn Fn(&mut Problem)>;

/// The backbone 8x slower, the uplink 10x faster, the edge node 3x slower.
fn changes(base: &Problem) -> Result<Vec<(&'static str, Change)>> {
    let edge = base
        .main_node(Tier::Edge)
        .ok_or_else(|| SessionError::invalid("the scenario needs an edge node"))?;
    Ok(vec![
        (
            "backbone / 8",
            Box::new(|p: &mut Problem| {
                for l in &mut p.links {
                    let tiers = (p.nodes[l.from.0].tier, p.nodes[l.to.0].tier);
                    if Tier::is_backbone(tiers.0, tiers.1) {
                        l.bandwidth = Bandwidth(l.bandwidth.0 / 8.0);
                    }
                }
            }),
        ),
        (
            "uplink x 10",
            Box::new(|p: &mut Problem| {
                let d = p.device;
                for l in &mut p.links {
                    if l.from == d || l.to == d {
                        l.bandwidth = Bandwidth(l.bandwidth.0 * 10.0);
                    }
                }
            }),
        ),
        (
            "edge 3x slower",
            Box::new(move |p: &mut Problem| {
                for l in &mut p.layers {
                    l.time[edge.0] = Nanos(l.time[edge.0].0 * 3);
                }
            }),
        ),
    ])
}

/// HPA re-adjusted from its plan on `base` after each change, against a full re-solve.
pub fn readjust_rows(base: &Problem, rounds: usize) -> Result<Vec<ReadjustRow>> {
    let start = Hpa::solve(base)?;
    let mut rows = Vec::new();
    for (change, apply) in changes(base)? {
        let mut p = base.clone();
        apply(&mut p);
        let (mut full_t, mut local_t) = (Vec::new(), Vec::new());
        let (mut full, mut local, mut report) = (start, start, None);
        for _ in 0..rounds.max(1) {
            let t = Instant::now();
            full = Hpa::solve(&p)?;
            full_t.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let (s, r) = Hpa::readjust(&p, start)?;
            local_t.push(t.elapsed().as_secs_f64() * 1e3);
            (local, report) = (s, Some(r));
        }
        let cost = |s| -> Result<f64> {
            let plan = Plan::new("hpa", Hpa::placement(&p, s)?);
            Ok(evaluate(&p, &plan).latency_sum.0 as f64)
        };
        let exact = evaluate(&p, &ExactThreeTier.plan(&p)?).latency_sum.0 as f64;
        let report = report.expect("at least one round");
        rows.push(ReadjustRow {
            change,
            full_ms: median(full_t),
            local_ms: median(local_t),
            layers_moved: report.layers_moved,
            evaluations: report.evaluations,
            vs_full: cost(local)? / cost(full)?,
            vs_exact: cost(local)? / exact,
        });
    }
    Ok(rows)
}
