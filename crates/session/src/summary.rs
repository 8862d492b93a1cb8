//! What tables and reports say of plans: every planner's plan with its prediction, one line
//! saying where a plan runs, the bytes it sends up from the device.

use crate::error::{Result, SessionError};
use tiersplit_cost::{NodeId, Problem};
use tiersplit_graph::Bytes;
use tiersplit_plan::{all_planners, evaluate, Plan, PlanError, Prediction};

/// Every planner's plan of a problem with its prediction.
pub struct Predicted {
    /// The plans in table order: (algorithm, plan, prediction).
    pub plans: Vec<(String, Plan, Prediction)>,
    /// The planners that have no plan for the problem, with the reason.
    pub failed: Vec<(String, PlanError)>,
}

impl Predicted {
    /// Every planner's plan of `problem`, each validated against it and evaluated on it.
    pub fn of(problem: &Problem) -> Result<Predicted> {
        let mut out = Predicted {
            plans: Vec::new(),
            failed: Vec::new(),
        };
        for planner in all_planners() {
            let name = planner.name().to_string();
            let plan = match planner.plan(problem) {
                Ok(plan) => plan,
                Err(e) => {
                    out.failed.push((name, e));
                    continue;
                }
            };
            match plan.validate(problem) {
                Ok(()) => {}
                // A baseline that knows nothing of memory reports that its plan does not fit.
                Err(e @ PlanError::OutOfMemory { .. }) => {
                    out.failed.push((name, e));
                    continue;
                }
                Err(e) => {
                    let why = format!("{name} produced an invalid plan: {e}");
                    return Err(SessionError::invalid(why));
                }
            }
            let pred = evaluate(problem, &plan);
            out.plans.push((name, plan, pred));
        }
        Ok(out)
    }
}

/// Bytes per frame the device sends on its links, as `pred` predicts.
pub fn uplink_bytes(p: &Problem, pred: &Prediction) -> Bytes {
    pred.links
        .iter()
        .filter(|l| l.from == p.device)
        .map(|l| l.bytes)
        .sum()
}

/// Layers per node, then the tiled stages and the nodes they spread over.
pub fn placement_summary(p: &Problem, plan: &Plan) -> String {
    let counts = plan.layers_per_node(p);
    p.nodes
        .iter()
        .zip(counts)
        .filter(|(_, c)| *c > 0)
        .map(|(n, c)| format!("{}:{c}", n.name))
        .chain((!plan.tiled.is_empty()).then(|| {
            format!(
                "[{} layers in {} tiled stages over {}]",
                plan.tiled.iter().map(|t| t.layers.len()).sum::<usize>(),
                plan.tiled.len(),
                node_names(p, &plan.tiled[0].nodes).join(",")
            )
        }))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The names of `nodes`.
pub fn node_names(p: &Problem, nodes: &[NodeId]) -> Vec<String> {
    nodes.iter().map(|n| p.nodes[n.0].name.clone()).collect()
}
