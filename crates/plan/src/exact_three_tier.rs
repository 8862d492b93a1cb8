use crate::min_cut::{CutGraph, INF};
use crate::{Plan, PlanError, Planner};
use tiersplit_cost::{Problem, Tier};

/// Our exact three-tier latency planner: one minimum cut with two binary variables per layer,
/// x (at or beyond the edge) and y (at or beyond the cloud), y <= x enforced by infinite edges,
/// so placement is monotone device <= edge <= cloud along every data edge. Each tensor has one
/// auxiliary vertex per tier boundary so its upload across that boundary is paid once. Exact
/// for the summed-latency objective on any DAG when a device-to-cloud transfer costs its two
/// hops (device-edge, edge-cloud), as in the shipped scenarios.
pub struct ExactThreeTier;

impl Planner for ExactThreeTier {
    fn name(&self) -> &'static str {
        "exact-3tier"
    }

    fn plan(&self, p: &Problem) -> Result<Plan, PlanError> {
        let missing = |tier| PlanError::MissingTier {
            algorithm: "exact-3tier",
            tier,
        };
        let (d, e, cl) = (
            p.device,
            p.main_node(Tier::Edge).ok_or(missing("edge"))?,
            p.main_node(Tier::Cloud).ok_or(missing("cloud"))?,
        );
        let mut c = CutGraph::new();
        let x: Vec<_> = p.layers.iter().map(|_| c.var()).collect();
        let y: Vec<_> = p.layers.iter().map(|_| c.var()).collect();
        for (l, layer) in p.layers.iter().enumerate() {
            let (mut cd, mut ce, mut cc) = (
                layer.time[d.0].0 as i128,
                layer.time[e.0].0 as i128,
                layer.time[cl.0].0 as i128,
            );
            for t in p
                .tensors
                .iter()
                .filter(|t| t.graph_output && t.producer == Some(l))
            {
                ce += p.transfer_time(e, d, t.bytes).0 as i128;
                cc += p.transfer_time(cl, d, t.bytes).0 as i128;
            }
            cd = cd.min(INF as i128);
            ce = ce.min(INF as i128);
            cc = cc.min(INF as i128);
            // cost = cd + (ce - cd) x + (cc - ce) y, valid because y <= x.
            c.linear(x[l], ce - cd);
            c.linear(y[l], cc - ce);
            c.edge(x[l], y[l], INF);
        }
        for t in &p.tensors {
            if t.consumers.is_empty() {
                continue;
            }
            let hops = [
                (&x, p.transfer_time(d, e, t.bytes).0),
                (&y, p.transfer_time(e, cl, t.bytes).0),
            ];
            for (var, cost) in hops {
                c.tensor_boundary(var, t.producer, &t.consumers, cost);
            }
        }
        let (_, side) = c.solve();
        let placement = (0..p.layers.len())
            .map(|l| match (side[x[l].index()], side[y[l].index()]) {
                (_, true) => cl,
                (true, false) => e,
                (false, false) => d,
            })
            .collect();
        Ok(Plan::new(self.name(), placement))
    }
}
