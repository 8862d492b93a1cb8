//! What kind of plan a plan is as it runs: the tiers it uses, whether it tiles a layer run
//! over several nodes, and whether parts of one frame compute on several nodes at once.

use crate::compile::node_runs;
use serde::Serialize;
use std::fmt;
use tiersplit_cost::{NodeId, Problem, Tier};
use tiersplit_graph::ModelGraph;
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
fn branch_parallel(graph: &ModelGraph, problem: &Problem, plan: &Plan) -> bool {
    let runs = node_runs(graph, plan, problem.device);
    let time = |n: NodeId, l: usize| problem.layers[l].time[n.0].0 as f64;
    let total: f64 = (0..plan.placement.len())
        .map(|l| time(plan.placement[l], l))
        .sum();
    let working: Vec<(NodeId, Vec<usize>)> = runs
        .into_iter()
        .map(|(n, run)| (n, run.iter().map(|l| l.index()).collect::<Vec<_>>()))
        .filter(|(n, run)| run.iter().map(|&l| time(*n, l)).sum::<f64>() >= WORK_SHARE * total)
        .collect();
    let reach = reachable(graph);
    let reaches = |a: &[usize], b: &[usize]| a.iter().any(|&x| b.iter().any(|&y| reach[x][y]));
    working.iter().enumerate().any(|(i, (n, a))| {
        working[i + 1..]
            .iter()
            .any(|(m, b)| m != n && !reaches(a, b) && !reaches(b, a))
    })
}

/// `reach[a][b]`: whether layer `b` depends on layer `a` (directly or not).
fn reachable(graph: &ModelGraph) -> Vec<Vec<bool>> {
    let n = graph.layers.len();
    let mut reach = vec![vec![false; n]; n];
    // Layers are in topological order, so every successor is done before its producer.
    for a in (0..n).rev() {
        for &t in &graph.layers[a].outputs {
            for c in &graph.tensor(t).consumers {
                let c = c.index();
                reach[a][c] = true;
                let (lo, hi) = reach.split_at_mut(c);
                for (r, &s) in lo[a].iter_mut().zip(&hi[0]) {
                    *r |= s;
                }
            }
        }
    }
    reach
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
