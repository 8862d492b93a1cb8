//! `tiersplit plan`: every planner's plan of a model on a scenario, predicted side by side.

use crate::input_args::{import_options, parse_input_shape};
use crate::profile_args::ProfileArgs;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;
use tiersplit_cost::Problem;
use tiersplit_graph::ModelGraph;
use tiersplit_plan::{planner_by_name, Plan};
use tiersplit_session::{
    placement_summary, plan_dot, plans_json, uplink_bytes, ModelSource, PlanKind, Predicted,
    Setting, PLAN_KIND_LEGEND,
};

#[derive(clap::Args)]
pub struct Args {
    /// An .onnx file, or zoo:NAME for a built-in model.
    #[arg(required_unless_present = "problem")]
    model: Option<String>,
    /// Scenario TOML (see scenarios/ and docs/scenarios.md).
    #[arg(long, required_unless_present = "problem")]
    scenario: Option<PathBuf>,
    /// Plan a cost graph instead of a model on a scenario: a problem file, or what `--json`
    /// wrote (docs/problem.md).
    #[arg(long, conflicts_with_all = ["model", "scenario", "dot", "profile", "estimate_gflops", "input_shape"])]
    problem: Option<PathBuf>,
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

pub fn run(a: Args) -> Result<ExitCode> {
    if let Some(path) = &a.problem {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let problem = Problem::from_json(&text)
            .with_context(|| format!("problem file {}", path.display()))?;
        println!(
            "problem {} on {} ({} layers, {} tensors, {} nodes, {} fps) from {}",
            problem.model,
            problem.scenario,
            problem.layers.len(),
            problem.tensors.len(),
            problem.nodes.len(),
            problem.frame_rate,
            path.display()
        );
        table(&a, &problem, None)?;
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(model), Some(scenario_path)) = (&a.model, &a.scenario) else {
        anyhow::bail!("give a model and --scenario, or --problem");
    };
    let setting = Setting::read(scenario_path)?;
    let scenario = &setting.scenario;
    let source = ModelSource::open(model)?;
    let model = source.import(&import_options(&a.input_shape))?;
    let g = &model.graph;
    let engine = tiersplit_session::node_engine(scenario.device());
    let profile = a.profiles.resolve(&source, &model, engine)?;
    let problem = setting.problem(&model, &profile)?;
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
    let chosen = table(&a, &problem, Some(g))?;
    if let Some(path) = &a.dot {
        std::fs::write(path, plan_dot(&problem, g, &chosen))
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Every planner's plan of `problem`, predicted side by side (with each plan's kind when the
/// model's `graph` is known); writes `--json`; returns the plan of `--algo`.
fn table(a: &Args, problem: &Problem, graph: Option<&ModelGraph>) -> Result<Plan> {
    let chosen_planner = planner_by_name(&a.algo)?;
    println!("PREDICTED figures (cost model, not measured runs):\n");
    println!(
        "{:<20} {:>10} {:>10} {:>8} {:>10} {:>10} {:>7} {:>7}  {:<28} placement",
        "algorithm", "sum ms", "DAG ms", "fps", "uplink", "backbone", "vs dev", "vs cld", "kind",
    );
    let predicted = Predicted::of(problem)?;
    for (name, e) in &predicted.failed {
        println!("{name:<20} n/a: {e}");
    }
    let results = predicted.plans;
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
        let kind = graph.map_or("-".into(), |g| PlanKind::of(g, problem, plan).to_string());
        println!(
            "{:<20} {:>10.2} {:>10.2} {:>8.2} {:>10} {:>10} {:>7} {:>7}  {:<28} {}",
            name,
            pred.latency_sum.as_millis_f64(),
            pred.makespan.as_millis_f64(),
            pred.throughput_fps,
            uplink_bytes(problem, pred).to_string(),
            pred.backbone_bytes.to_string(),
            ratio(dev),
            ratio(cld),
            kind,
            placement_summary(problem, plan)
        );
        for note in &plan.notes {
            println!("{:<20}   {note}", "");
        }
    }
    if graph.is_some() {
        println!("\n{PLAN_KIND_LEGEND}");
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
        let out = plans_json(problem, &chosen.algorithm, &results);
        std::fs::write(path, serde_json::to_string_pretty(&out)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(chosen.clone())
}
