//! `tiersplit bench plan|readjust`: planning time of every planner, and HPA's local
//! re-adjustment against a full re-solve.

use anyhow::{Context, Result};
use std::path::Path;
use std::process::ExitCode;
use tiersplit_cost::{Problem, Profile, Scenario};
use tiersplit_graph::ModelGraph;
use tiersplit_onnx::ImportOptions;
use tiersplit_plan::all_planners;
use tiersplit_session::bench::{generated_dag, planning_times, readjust_rows};

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
        for ms in planning_times(&problem, &planners, rounds)? {
            print!(" {ms:>8.3}");
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
        for r in readjust_rows(&base, rounds)? {
            println!(
                "{:<12} {:<22} {:>9.3} {:>9.3} {:>6.1}x {:>6} {:>6} {:>9.3} {:>9.3}",
                name,
                r.change,
                r.full_ms,
                r.local_ms,
                r.full_ms / r.local_ms,
                r.layers_moved,
                r.evaluations,
                r.vs_full,
                r.vs_exact
            );
        }
    }
    println!("vs full / vs exact: summed latency of the re-adjusted plan over the full HPA re-solve's and the exact three-tier planner's (1.000 = as good)");
    Ok(ExitCode::SUCCESS)
}
