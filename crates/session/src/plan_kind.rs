//! What kind of plan a plan is as it runs: the tiers it uses, whether it tiles a layer run
//! over several nodes, and whether parts of one frame compute on several nodes at once.

use crate::compile::node_runs;
use serde::Serialize;
use std::fmt;
use tiersplit_cost::{NodeId, Problem, Tier};
use tiersplit_graph::{LayerId, ModelGraph};
use tiersplit_plan::Plan;

/// A part counts as work when it takes at least this share of the frame's summed compute:
/// a Concat or a Relu left on a node is not a branch computed there.
const WORK_SHARE: f64 = 0.01;

/// The kind of a plan, as its compiled parts run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanKind {
    /// Nodes used per tier, in device, edge, cloud order (tiers unused left out).
    pub tiers: Vec<(Tier, usize)>,
    /// Whether a tiled stage spreads a layer run over several nodes.
    pub tiled: bool,
    /// Whether two parts of one frame on different nodes depend on neither other, each doing
    /// work, so that independent branches compute at once.
    pub branch_parallel: bool,
}

impl PlanKind {
    /// The kind of `plan` of `graph` on `problem`.
    pub fn of(graph: &ModelGraph, problem: &Problem, plan: &Plan) -> PlanKind {
        let mut used = vec![false; problem.nodes.len()];
        for &n in plan
            .placement
            .iter()
            .chain(plan.tiled.iter().flat_map(|s| &s.nodes))
        {
            used[n.0] = true;
        }
        let tiers = [Tier::Device, Tier::Edge, Tier::Cloud]
            .into_iter()
            .map(|t| {
                let count = (0..used.len())
                    .filter(|&n| used[n] && problem.nodes[n].tier == t)
                    .count();
                (t, count)
            })
            .filter(|&(_, count)| count > 0)
            .collect();
        PlanKind {
            tiers,
            tiled: !plan.tiled.is_empty(),
            branch_parallel: branch_parallel(graph, problem, plan),
        }
    }

    /// Whether the plan uses the device, an edge node and the cloud.
    pub fn three_tier(&self) -> bool {
        self.tiers.len() == 3
    }
}

/// What the columns of [`PlanKind`]'s display mean, for a table's legend.
pub const PLAN_KIND_LEGEND: &str = "kind: the tiers a plan uses (xN: N nodes of that tier); +tiles: a layer run tiled over several nodes; +branches: parts of one frame computing on different nodes at once";

/// Shown as `device|edgex2|cloud +tiles +branches`: see [`PLAN_KIND_LEGEND`].
impl fmt::Display for PlanKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tiers: Vec<String> = self
            .tiers
            .iter()
            .map(|&(t, n)| match n {
                1 => t.to_string(),
                n => format!("{t}x{n}"),
            })
            .collect();
        write!(f, "{}", tiers.join("|"))?;
        if self.tiled {
            write!(f, " +tiles")?;
        }
        if self.branch_parallel {
            write!(f, " +branches")?;
        }
        Ok(())
    }
}

/// Whether two parts doing work on different nodes are unordered by the data they exchange.
/// A part starts once all its inputs are in, so the order is that of the parts' graph, not
/// of their layers'.
fn branch_parallel(graph: &ModelGraph, problem: &Problem, plan: &Plan) -> bool {
    let runs = node_runs(graph, plan, problem.device);
    let time = |n: NodeId, l: usize| problem.layers[l].time[n.0].0 as f64;
    let total: f64 = (0..plan.placement.len())
        .map(|l| time(plan.placement[l], l))
        .sum();
    let reach = part_reach(graph, &runs);
    let working: Vec<(usize, NodeId)> = runs
        .iter()
        .enumerate()
        .filter(|(_, (n, run))| {
            let work: f64 = run.iter().map(|l| time(*n, l.index())).sum();
            work > 0.0 && work >= WORK_SHARE * total
        })
        .map(|(i, (n, _))| (i, *n))
        .collect();
    working.iter().enumerate().any(|(k, &(a, n))| {
        working[k + 1..]
            .iter()
            .any(|&(b, m)| m != n && !reach[a][b] && !reach[b][a])
    })
}

/// `reach[a][b]`: whether part `b` waits (directly or not) for part `a`, over the runs and
/// one part for each tiled layer (whose tiles and stitcher start together).
fn part_reach(graph: &ModelGraph, runs: &[(NodeId, Vec<LayerId>)]) -> Vec<Vec<bool>> {
    let mut part_of: Vec<Option<usize>> = vec![None; graph.layers.len()];
    for (i, (_, run)) in runs.iter().enumerate() {
        for l in run {
            part_of[l.index()] = Some(i);
        }
    }
    let mut parts = runs.len();
    for p in part_of.iter_mut().filter(|p| p.is_none()) {
        *p = Some(parts);
        parts += 1;
    }
    let part = |l: LayerId| part_of[l.index()].expect("every layer has a part");
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); parts];
    for layer in &graph.layers {
        for &t in &layer.inputs {
            if let Some(q) = graph.tensor(t).producer {
                let (from, to) = (part(q), part(layer.id));
                if from != to && !next[from].contains(&to) {
                    next[from].push(to);
                }
            }
        }
    }
    (0..parts)
        .map(|a| {
            let mut seen = vec![false; parts];
            let mut stack = next[a].clone();
            while let Some(b) = stack.pop() {
                if !std::mem::replace(&mut seen[b], true) {
                    stack.extend(&next[b]);
                }
            }
            seen
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tiersplit_cost::{Profile, Scenario};
    use tiersplit_onnx::{ImportOptions, OnnxModel};

    fn googlenet_problem() -> (OnnxModel, Problem) {
        let bytes = tiersplit_zoo::build_bytes("googlenet", 0).unwrap();
        let model = OnnxModel::from_bytes(&bytes, &ImportOptions::default()).unwrap();
        let scenario = Scenario::from_toml(include_str!(
            "../../../scenarios/local-cluster-weak-edges.toml"
        ))
        .unwrap();
        let problem = Problem::new(
            &model.graph,
            &scenario,
            &Profile::estimate(&model.graph, 20.0),
        )
        .unwrap();
        (model, problem)
    }

    #[test]
    fn a_chain_cut_uses_two_tiers_and_runs_one_part_at_a_time() {
        let (model, problem) = googlenet_problem();
        let n = model.graph.layers.len();
        let mut placement = vec![NodeId(3); n];
        placement[..3].fill(NodeId(0));
        let kind = PlanKind::of(&model.graph, &problem, &Plan::new("t", placement));
        assert_eq!(kind.to_string(), "device|cloud");
        assert!(!kind.three_tier() && !kind.branch_parallel && !kind.tiled);
    }

    #[test]
    fn branches_on_the_edge_and_the_cloud_compute_at_once() {
        // The first inception block's branches: the first on edge0, the others on the cloud.
        let (model, problem) = googlenet_problem();
        let g = &model.graph;
        let concat = g.layers.iter().find(|l| l.op == "Concat").unwrap().id;
        let mut placement = vec![NodeId(3); g.layers.len()];
        let input = g.layer(concat).inputs[0];
        let mut l = g.tensor(input).producer.unwrap();
        // Walk the first branch back to where it leaves the block's input.
        loop {
            placement[l.index()] = NodeId(1);
            let p = g.predecessors(l);
            if p.len() != 1 || g.successors(p[0]).len() > 1 {
                break;
            }
            l = p[0];
        }
        for x in &mut placement[..3] {
            *x = NodeId(0);
        }
        let kind = PlanKind::of(g, &problem, &Plan::new("t", placement));
        assert!(kind.three_tier(), "{kind}");
        assert!(kind.branch_parallel, "{kind}");
        assert_eq!(kind.to_string(), "device|edge|cloud +branches");
    }

    #[test]
    fn the_demo_cluster_has_every_kind_of_plan_at_every_engine_speed() {
        // The demo's second table: the two-tower AlexNet on local-cluster-weak-edges, with its
        // reference profile scaled as calibration does to an unsplit model of 10 to 47 ms.
        let bytes = tiersplit_zoo::build_bytes("alexnet-towers", 0).unwrap();
        let model = OnnxModel::from_bytes(&bytes, &ImportOptions::default()).unwrap();
        let scenario = Scenario::from_toml(include_str!(
            "../../../scenarios/local-cluster-weak-edges.toml"
        ))
        .unwrap();
        let profile =
            Profile::from_json(include_str!("../../../profiles/alexnet_towers.json")).unwrap();
        for scale in [0.3, 0.5, 1.0, 1.5] {
            let problem = crate::Setting::of(scenario.clone())
                .problem(&model, &profile.scaled(scale))
                .unwrap();
            let kinds: Vec<(String, PlanKind)> = crate::Predicted::of(&problem)
                .unwrap()
                .plans
                .into_iter()
                .map(|(name, plan, _)| (name, PlanKind::of(&model.graph, &problem, &plan)))
                .collect();
            let has = |is: fn(&PlanKind) -> bool| kinds.iter().any(|(_, k)| is(k));
            assert!(has(PlanKind::three_tier), "x{scale}: {kinds:?}");
            assert!(has(|k| k.tiled), "x{scale}: {kinds:?}");
            assert!(has(|k| k.branch_parallel), "x{scale}: {kinds:?}");
        }
    }
}
