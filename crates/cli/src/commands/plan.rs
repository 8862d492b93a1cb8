use crate::input_args::{import_options, parse_input_shape};
use crate::profile_args::ProfileArgs;
use anyhow::{Context, Result};
use serde_json::json;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use tiersplit_cost::{Problem, Tier};
use tiersplit_graph::Bytes;
use tiersplit_plan::{all_planners, evaluate, planner_by_name, Plan, Prediction};
use tiersplit_session::{node_names, placement_summary, ModelSource, Setting};

#[derive(clap::Args)]
pub struct Args {
    /// An .onnx file, or zoo:NAME for a built-in model.
    model: String,
    /// Scenario TOML (see scenarios/ and docs/scenarios.md).
    #[arg(long)]
    scenario: PathBuf,
    /// The algorithm whose plan is shown and written (all are compared in the table).
    #[arg(long, default_value = "best")]
    algo: String,
    #[command(flatten)]
    profiles: ProfileArgs,
    /// Write the problem instance, every plan and its predictions as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Draw the chosen plan as a Graphviz DOT file, layers coloured by tier.
    #[arg(long)]
    dot: Option<PathBuf>,
    #[arg(long = "input-shape", value_parser = parse_input_shape)]
    input_shape: Vec<(Option<String>, Vec<u64>)>,
}

fn uplink_bytes(p: &Problem, pred: &Prediction) -> Bytes {
    pred.links
        .iter()
        .filter(|l| l.from == p.device)
        .map(|l| l.bytes)
        .sum()
}

pub fn run(a: Args) -> Result<ExitCode> {
    let setting = Setting::read(&a.scenario)?;
    let scenario = &setting.scenario;
    let source = ModelSource::open(&a.model)?;
    let model = source.import(&import_options(&a.input_shape))?;
    let g = &model.graph;
    let profile = a.profiles.resolve(&source, &model)?;
    let problem = setting.problem(&model, &profile)?;
    let chosen_planner = planner_by_name(&a.algo)?;

    println!(
        "model {} ({} layers, {}), scenario {} ({} nodes, {} fps)",
        source.label,
        g.layers.len(),
        g.total_flops(),
        scenario.name,
        scenario.nodes.len(),
        scenario.frame_rate
    );
    println!(
        "reference profile: {} on {}, whole model {:.2} ms",
        profile.engine, profile.machine, profile.whole_model_ms
    );
    println!("PREDICTED figures (cost model, not measured runs):\n");
    println!(
        "{:<20} {:>10} {:>10} {:>8} {:>10} {:>10} {:>7} {:>7}  placement",
        "algorithm", "sum ms", "DAG ms", "fps", "uplink", "backbone", "vs dev", "vs cld",
    );
    let planners = all_planners();
    let mut results: Vec<(String, Plan, Prediction)> = Vec::new();
    for planner in &planners {
        match planner.plan(&problem) {
            Ok(plan) => {
                plan.validate(&problem)
                    .with_context(|| format!("{} produced an invalid plan", planner.name()))?;
                let pred = evaluate(&problem, &plan);
                results.push((planner.name().to_string(), plan, pred));
            }
            Err(e) => println!("{:<20} n/a: {e}", planner.name()),
        }
    }
    let baseline = |name: &str| {
        results
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, p)| p.makespan.0 as f64)
    };
    let (dev, cld) = (baseline("device-only"), baseline("cloud-only"));
    for (name, plan, pred) in &results {
        let ratio = |b: Option<f64>| {
            b.map(|b| format!("{:.2}x", b / pred.makespan.0 as f64))
                .unwrap_or_else(|| "-".into())
        };
        println!(
            "{:<20} {:>10.2} {:>10.2} {:>8.2} {:>10} {:>10} {:>7} {:>7}  {}",
            name,
            pred.latency_sum.as_millis_f64(),
            pred.makespan.as_millis_f64(),
            pred.throughput_fps,
            uplink_bytes(&problem, pred).to_string(),
            pred.backbone_bytes.to_string(),
            ratio(dev),
            ratio(cld),
            placement_summary(&problem, plan)
        );
        for note in &plan.notes {
            println!("{:<20}   {note}", "");
        }
    }
    let (_, chosen, pred) = results
        .iter()
        .find(|(n, _, _)| n == chosen_planner.name())
        .with_context(|| format!("{} has no plan for this scenario", a.algo))?;
    println!(
        "\nchosen: {} -> predicted {} summed, {} as a DAG schedule, {:.2} frames/s pipelined",
        chosen.algorithm, pred.latency_sum, pred.makespan, pred.throughput_fps
    );
    if let Some(path) = &a.json {
        let plans: Vec<_> = results
            .iter()
            .map(|(name, plan, pred)| {
                json!({
                    "algorithm": name,
                    "placement": node_names(&problem, &plan.placement),
                    "tiled": plan.tiled.iter().map(|t| json!({
                        "layers": t.layers.iter().map(|&l| problem.layers[l].name.clone()).collect::<Vec<_>>(),
                        "nodes": node_names(&problem, &t.nodes),
                        "grid": t.grid,
                    })).collect::<Vec<_>>(),
                    "notes": plan.notes,
                    "prediction": pred,
                })
            })
            .collect();
        let out = json!({"format": "tiersplit-plan/1", "chosen": chosen.algorithm, "problem": problem, "plans": plans});
        std::fs::write(path, serde_json::to_string_pretty(&out)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = &a.dot {
        std::fs::write(path, dot(&problem, g, chosen))
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Graphviz DOT of the layer DAG, each layer coloured by the tier of its node, edges that cross
/// machines labelled with their bytes.
fn dot(p: &Problem, g: &tiersplit_graph::ModelGraph, plan: &Plan) -> String {
    let colour = |tier: Tier, k: usize| match tier {
        Tier::Device => "#f6c85f".to_string(),
        Tier::Edge => ["#9dd9f3", "#6fb7e0", "#4a90c8", "#2f6fa8"][k % 4].to_string(),
        Tier::Cloud => "#8fd18f".to_string(),
    };
    let mut s = String::new();
    let _ = writeln!(s, "digraph \"{}\" {{\n  rankdir=TB;\n  node [shape=box, style=filled, fontname=\"Helvetica\", fontsize=10];", g.name);
    let _ = writeln!(
        s,
        "  input [label=\"input\", fillcolor=\"{}\"];",
        colour(Tier::Device, 0)
    );
    for (l, layer) in g.layers.iter().enumerate() {
        let node = plan.placement[l];
        let tiled = plan
            .tiled
            .iter()
            .find(|t| t.layers.contains(&l))
            .map(|t| format!("\\ntiles on {}", node_names(p, &t.nodes).join(",")))
            .unwrap_or_default();
        let k = p
            .nodes_of(p.nodes[node.0].tier)
            .iter()
            .position(|&n| n == node)
            .unwrap_or(0);
        let _ = writeln!(
            s,
            "  L{l} [label=\"{}\\n{} @ {}{tiled}\", fillcolor=\"{}\"];",
            layer.op,
            l,
            p.nodes[node.0].name,
            colour(p.nodes[node.0].tier, k)
        );
    }
    for e in g.edges() {
        let cross = plan.placement[e.from.index()] != plan.placement[e.to.index()];
        let label = if cross {
            format!(" [label=\"{}\", color=red, penwidth=2]", e.bytes)
        } else {
            String::new()
        };
        let _ = writeln!(s, "  L{} -> L{}{label};", e.from.0, e.to.0);
    }
    for &t in &g.inputs {
        for &c in &g.tensor(t).consumers {
            let cross = plan.placement[c.index()] != p.device;
            let label = if cross {
                format!(
                    " [label=\"{}\", color=red, penwidth=2]",
                    g.tensor(t).bytes()
                )
            } else {
                String::new()
            };
            let _ = writeln!(s, "  input -> L{}{label};", c.0);
        }
    }
    s.push_str("}\n");
    s
}
