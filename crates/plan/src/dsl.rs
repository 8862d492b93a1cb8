use crate::fit::or_chain_that_fits;
use crate::min_cut::{CutGraph, INF};
use crate::{Plan, PlanError, Planner};
use tiersplit_cost::{NodeId, Problem, Tier};

/// DADS light-load mode (DSL): the exact minimum-latency two-way split of a DAG between the
/// device and one server (the cloud, or the edge when there is no cloud), as a minimum s-t cut.
///
/// Each layer is a vertex; cutting it from the source puts it on the server. A tensor read by
/// several layers gets an auxiliary vertex so its upload is paid once; the raw input is a
/// virtual vertex pinned to the device; infinite reverse edges forbid data flowing back.
pub struct Dsl;

/// The two-tier split with device times scaled by `alpha` and server times by `gamma` (DSH
/// searches over these). Returns the placement.
pub(crate) fn two_tier_cut(p: &Problem, server: NodeId, alpha: f64, gamma: f64) -> Vec<NodeId> {
    let d = p.device;
    let mut c = CutGraph::new();
    let vars: Vec<_> = p.layers.iter().map(|_| c.var()).collect();
    let back = outputs_back(p, &[server]);
    for (l, layer) in p.layers.iter().enumerate() {
        let mut on_device = (layer.time[d.0].0 as f64 * alpha) as i128;
        let on_server = (layer.time[server.0].0 as f64 * gamma) as i128 + back[l][0] as i128;
        on_device = on_device.min(INF as i128);
        let on_server = on_server.min(INF as i128);
        // cost = on_device + (on_server - on_device) * x
        c.linear(vars[l], on_server - on_device);
    }
    for t in &p.tensors {
        if t.consumers.is_empty() {
            continue;
        }
        c.tensor_boundary(
            &vars,
            t.producer,
            &t.consumers,
            p.transfer_time(d, server, t.bytes).0,
        );
    }
    let (_, side) = c.solve();
    vars.iter()
        .map(|v| if side[v.index()] { server } else { d })
        .collect()
}

/// For every layer, the time to bring the graph outputs it produces back to the device from
/// each of `nodes`, in nanoseconds (what placing it there adds for its outputs).
pub(crate) fn outputs_back(p: &Problem, nodes: &[NodeId]) -> Vec<Vec<u64>> {
    let mut back = vec![vec![0u64; nodes.len()]; p.layers.len()];
    for t in p.tensors.iter().filter(|t| t.graph_output) {
        if let Some(l) = t.producer {
            for (k, &n) in nodes.iter().enumerate() {
                back[l][k] = back[l][k].saturating_add(p.transfer_time(n, p.device, t.bytes).0);
            }
        }
    }
    back
}

pub(crate) fn server_of(p: &Problem, algorithm: &'static str) -> Result<NodeId, PlanError> {
    p.main_node(Tier::Cloud)
        .or_else(|| p.main_node(Tier::Edge))
        .ok_or(PlanError::MissingTier {
            algorithm,
            tier: "cloud or edge",
        })
}

impl Planner for Dsl {
    fn name(&self) -> &'static str {
        "dads-dsl"
    }

    fn plan(&self, p: &Problem) -> Result<Plan, PlanError> {
        let server = server_of(p, self.name())?;
        let plan = Plan::new(self.name(), two_tier_cut(p, server, 1.0, 1.0));
        Ok(or_chain_that_fits(p, plan, &[p.device, server]))
    }
}
