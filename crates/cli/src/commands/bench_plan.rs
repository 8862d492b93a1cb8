use crate::median::median;
use anyhow::{Context, Result};
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;
use tiersplit_cost::{Problem, Profile, Scenario};
use tiersplit_graph::{Bytes, DType, Flops, Layer, LayerId, ModelGraph, TensorId, TensorInfo};
use tiersplit_onnx::ImportOptions;
use tiersplit_plan::{all_planners, evaluate, ExactThreeTier, Hpa, Plan, Planner};

/// A generated CNN-like DAG: a chain of `n` layers where every fourth layer also reads the
/// output of a layer up to eight back (skip connections), with shrinking feature maps.
fn generated_dag(n: usize, seed: u64) -> ModelGraph {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut tensors = vec![TensorInfo {
        id: TensorId(0),
        name: "input".into(),
        dtype: DType::F32,
        shape: vec![1, 3, 224, 224],
        producer: None,
        consumers: vec![],
    }];
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
        tensors.push(TensorInfo {
            id: TensorId(i as u32 + 1),
            name: format!("t{i}"),
            dtype: DType::F32,
            shape: vec![1, 64, side, side],
            producer: Some(id),
            consumers: vec![],
        });
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
    let outputs = vec![TensorId(n as u32)];
    ModelGraph {
        name: format!("generated-{n}"),
        layers,
        tensors,
        inputs: vec![TensorId(0)],
        outputs,
    }
}

fn short(name: &str) -> &str {
    match name {
        "device-only" => "dev",
        "edge-only" => "edge",
        "cloud-only" => "cloud",
        "neurosurgeon" => "ns",
        "neurosurgeon-3tier" => "ns3",
        "dads-dsl" => "dsl",
        "dads-dsh" => "dsh",
        "exact-3tier" => "exact3",
        other => other,
    }
}

pub fn run(scenario_path: &Path, rounds: usize) -> Result<ExitCode> {
    let text = std::fs::read_to_string(scenario_path)
        .with_context(|| format!("reading {}", scenario_path.display()))?;
    let scenario = Scenario::from_toml(&text)?;
    let mut graphs: Vec<(ModelGraph, Option<Vec<Option<tiersplit_tile::SpatialOp>>>)> = Vec::new();
    for e in tiersplit_zoo::ZOO {
        let bytes = tiersplit_zoo::build_bytes(e.name, 0)?;
        let model = tiersplit_onnx::OnnxModel::from_bytes(&bytes, &ImportOptions::default())?;
        let mut g = model.graph.clone();
        g.name = e.name.to_string();
        graphs.push((g, Some(model.spatial_ops())));
    }
    graphs.push((generated_dag(1200, 1), None));
    graphs.push((generated_dag(2400, 2), None));
    let planners = all_planners();
    println!("planning time in ms (median of {rounds}), scenario {}; layer times estimated from FLOPs (planning time does not depend on them)", scenario.name);
    print!("{:<16} {:>6} {:>6}", "model", "layers", "edges");
    for p in &planners {
        print!(" {:>8}", short(p.name()));
    }
    println!();
    for (g, spatial) in &graphs {
        let mut problem = Problem::new(g, &scenario, &Profile::estimate(g, 20.0))?;
        if let Some(ops) = spatial {
            problem.set_spatial(ops.clone())?;
        }
        print!(
            "{:<16} {:>6} {:>6}",
            g.name,
            g.layers.len(),
            g.edges().len()
        );
        for p in &planners {
            let mut times = Vec::with_capacity(rounds);
            for _ in 0..rounds.max(1) {
                let t = Instant::now();
                let plan = p.plan(&problem)?;
                times.push(t.elapsed().as_secs_f64() * 1e3);
                std::hint::black_box(plan);
            }
            print!(" {:>8.3}", median(times));
        }
        println!();
    }
    println!(
        "columns: {}",
        planners
            .iter()
            .map(|p| format!("{} = {}", short(p.name()), p.name()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

/// A change applied to a problem (a link slowing down, a node getting busy).
type Change = Box<dyn Fn(&mut Problem)>;

/// Profiles in `profiles/` when present (measured), else a FLOP estimate.
fn profile_for(g: &ModelGraph, name: &str) -> Profile {
    std::fs::read_to_string(format!("profiles/{name}.json"))
        .ok()
        .and_then(|t| Profile::from_json(&t).ok())
        .filter(|p| p.times_for(g).is_ok())
        .unwrap_or_else(|| Profile::estimate(g, 20.0))
}

pub fn readjust(scenario_path: &Path, rounds: usize) -> Result<ExitCode> {
    let text = std::fs::read_to_string(scenario_path)
        .with_context(|| format!("reading {}", scenario_path.display()))?;
    let scenario = Scenario::from_toml(&text)?;
    println!(
        "HPA local re-adjustment vs full re-solve after a change (median of {rounds}), scenario {}",
        scenario.name
    );
    println!(
        "{:<12} {:<22} {:>9} {:>9} {:>7} {:>6} {:>6} {:>9} {:>9}",
        "model",
        "change",
        "full ms",
        "local ms",
        "speedup",
        "moved",
        "evals",
        "vs full",
        "vs exact"
    );
    for name in [
        "googlenet",
        "resnet50",
        "mobilenetv2",
        "vgg16",
        "tinyyolov2",
    ] {
        let bytes = tiersplit_zoo::build_bytes(name, 0)?;
        let g = tiersplit_onnx::OnnxModel::from_bytes(&bytes, &ImportOptions::default())?.graph;
        let base = Problem::new(&g, &scenario, &profile_for(&g, name))?;
        let start = Hpa::solve(&base)?;
        let edge = base
            .main_node(tiersplit_cost::Tier::Edge)
            .context("scenario needs an edge node")?;
        let changes: Vec<(&str, Change)> = vec![
            (
                "backbone / 8",
                Box::new(|p: &mut Problem| {
                    for l in &mut p.links {
                        let tiers = (p.nodes[l.from.0].tier, p.nodes[l.to.0].tier);
                        if tiers == (tiersplit_cost::Tier::Edge, tiersplit_cost::Tier::Cloud)
                            || tiers == (tiersplit_cost::Tier::Cloud, tiersplit_cost::Tier::Edge)
                        {
                            l.bandwidth = tiersplit_cost::Bandwidth(l.bandwidth.0 / 8.0);
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
                            l.bandwidth = tiersplit_cost::Bandwidth(l.bandwidth.0 * 10.0);
                        }
                    }
                }),
            ),
            (
                "edge 3x slower",
                Box::new(move |p: &mut Problem| {
                    for l in &mut p.layers {
                        l.time[edge.0] = tiersplit_cost::Nanos(l.time[edge.0].0 * 3);
                    }
                }),
            ),
        ];
        for (label, change) in changes {
            let mut p = base.clone();
            change(&mut p);
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
                Ok(evaluate(&p, &Plan::new("hpa", Hpa::placement(&p, s)?))
                    .latency_sum
                    .0 as f64)
            };
            let exact = evaluate(&p, &ExactThreeTier.plan(&p)?).latency_sum.0 as f64;
            let report = report.expect("at least one round");
            let (f, l) = (median(full_t), median(local_t));
            println!(
                "{:<12} {:<22} {:>9.3} {:>9.3} {:>6.1}x {:>6} {:>6} {:>9.3} {:>9.3}",
                name,
                label,
                f,
                l,
                f / l,
                report.layers_moved,
                report.evaluations,
                cost(local)? / cost(full)?,
                cost(local)? / exact
            );
        }
    }
    println!("vs full / vs exact: summed latency of the re-adjusted plan over the full HPA re-solve's and the exact three-tier planner's (1.000 = as good)");
    Ok(ExitCode::SUCCESS)
}
