//! One line saying where a plan runs, for tables and reports.

use tiersplit_cost::{NodeId, Problem};
use tiersplit_plan::Plan;

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
