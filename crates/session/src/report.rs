//! Models and plans as files for other tools: the JSON of a layer DAG, Graphviz DOT of the
//! placed layer DAG, and the JSON of a problem with every plan and its prediction.

use crate::summary::node_names;
use serde_json::{json, Value};
use std::fmt::Write as _;
use tiersplit_cost::{Problem, Tier};
use tiersplit_graph::ModelGraph;
use tiersplit_plan::{Plan, Prediction};

/// The layer DAG of a model (`source`: as the user named it, `opset`: its ONNX opset) as the
/// JSON `tiersplit inspect --json` prints (format `tiersplit-inspect/1`, `docs/inspect-json.md`).
pub fn graph_json(g: &ModelGraph, source: &str, opset: i64) -> Value {
    let tensor = |t: tiersplit_graph::TensorId| {
        let i = g.tensor(t);
        json!({"name": i.name, "dtype": i.dtype, "shape": i.shape, "bytes": i.bytes().0})
    };
    json!({
        "format": "tiersplit-inspect/1",
        "model": g.name,
        "source": source,
        "opset": opset,
        "inputs": g.inputs.iter().map(|&t| tensor(t)).collect::<Vec<_>>(),
        "outputs": g.outputs.iter().map(|&t| tensor(t)).collect::<Vec<_>>(),
        "totals": {
            "layers": g.layers.len(),
            "flops": g.total_flops().0,
            "params": g.total_params(),
            "param_bytes": g.total_param_bytes().0,
        },
        "layers": g.layers.iter().map(|l| json!({
            "id": l.id.0,
            "name": l.name,
            "op": l.op,
            "inputs": l.inputs.iter().map(|&t| g.tensor(t).name.clone()).collect::<Vec<_>>(),
            "outputs": l.outputs.iter().map(|&t| tensor(t)).collect::<Vec<_>>(),
            "output_bytes": l.outputs.iter().map(|&t| g.tensor(t).bytes().0).sum::<u64>(),
            "flops": l.flops.0,
            "params": l.params,
            "param_bytes": l.param_bytes.0,
        })).collect::<Vec<_>>(),
        "edges": g.edges().iter().map(|e| json!({
            "from": e.from.0, "to": e.to.0, "tensor": g.tensor(e.tensor).name, "bytes": e.bytes.0,
        })).collect::<Vec<_>>(),
    })
}

/// The problem, every plan (by algorithm, with its prediction) and the chosen one, as the JSON
/// `tiersplit plan --json` writes (format `tiersplit-plan/1`).
pub fn plans_json(problem: &Problem, chosen: &str, plans: &[(String, Plan, Prediction)]) -> Value {
    let plans: Vec<Value> = plans
        .iter()
        .map(|(name, plan, pred)| {
            let tiled: Vec<Value> = plan
                .tiled
                .iter()
                .map(|t| {
                    json!({
                        "layers": t.layers.iter().map(|&l| problem.layers[l].name.clone()).collect::<Vec<_>>(),
                        "nodes": node_names(problem, &t.nodes),
                        "grid": t.grid,
                    })
                })
                .collect();
            json!({
                "algorithm": name,
                "placement": node_names(problem, &plan.placement),
                "tiled": tiled,
                "notes": plan.notes,
                "prediction": pred,
            })
        })
        .collect();
    json!({"format": tiersplit_cost::PLANS_FORMAT, "chosen": chosen, "problem": problem, "plans": plans})
}

/// Graphviz DOT of the layer DAG, each layer coloured by the tier of its node, edges that cross
/// machines labelled with their bytes.
pub fn plan_dot(p: &Problem, g: &ModelGraph, plan: &Plan) -> String {
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
