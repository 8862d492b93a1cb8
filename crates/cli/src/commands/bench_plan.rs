use anyhow::{Context, Result};
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;
use tiersplit_cost::{Problem, Profile, Scenario};
use tiersplit_graph::{Bytes, DType, Flops, Layer, LayerId, ModelGraph, TensorId, TensorInfo};
use tiersplit_onnx::ImportOptions;
use tiersplit_plan::all_planners;

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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn run(scenario_path: &Path, rounds: usize) -> Result<ExitCode> {
    let text = std::fs::read_to_string(scenario_path)
        .with_context(|| format!("reading {}", scenario_path.display()))?;
    let scenario = Scenario::from_toml(&text)?;
    let mut graphs: Vec<ModelGraph> = Vec::new();
    for e in tiersplit_zoo::ZOO {
        let bytes = tiersplit_zoo::build_bytes(e.name, 0)?;
        let mut g = tiersplit_onnx::OnnxModel::from_bytes(&bytes, &ImportOptions::default())?.graph;
        g.name = e.name.to_string();
        graphs.push(g);
    }
    graphs.push(generated_dag(1200, 1));
    graphs.push(generated_dag(2400, 2));
    let planners = all_planners();
    println!("planning time in ms (median of {rounds}), scenario {}; layer times estimated from FLOPs (planning time does not depend on them)", scenario.name);
    print!("{:<16} {:>6} {:>6}", "model", "layers", "edges");
    for p in &planners {
        print!(" {:>8}", short(p.name()));
    }
    println!();
    for g in &graphs {
        let problem = Problem::new(g, &scenario, &Profile::estimate(g, 20.0))?;
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
