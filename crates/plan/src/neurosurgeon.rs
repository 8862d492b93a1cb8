use crate::chain_sweep::ChainSweep;
use crate::dsl::server_of;
use crate::{Plan, PlanError, Planner};
use tiersplit_cost::{Nanos, Problem, Tier};

/// Neurosurgeon: the layers in topological order as a chain, split once; the prefix runs on
/// the device, the rest on the server (the cloud, or the edge when there is no cloud). Picks
/// the split with the smallest summed latency, trying every split point.
pub struct Neurosurgeon;

/// Neurosurgeon extended to three tiers: the best two split points of the chain, device then
/// edge then cloud, over every pair of split points.
pub struct Neurosurgeon3;

impl Planner for Neurosurgeon {
    fn name(&self) -> &'static str {
        "neurosurgeon"
    }

    fn plan(&self, p: &Problem) -> Result<Plan, PlanError> {
        let server = server_of(p, self.name())?;
        // Start with everything on the server and move the prefix to the device one layer at
        // a time: split k puts layers 0..k on the device.
        let mut sweep = ChainSweep::new(p, vec![p.device, server], 1);
        let mut best = (sweep.total, sweep.placement());
        for l in 0..p.layers.len() {
            sweep.set(l, 0);
            if sweep.total < best.0 {
                best = (sweep.total, sweep.placement());
            }
        }
        Ok(Plan::new(self.name(), best.1))
    }
}

impl Planner for Neurosurgeon3 {
    fn name(&self) -> &'static str {
        "neurosurgeon-3tier"
    }

    fn plan(&self, p: &Problem) -> Result<Plan, PlanError> {
        let missing = |tier| PlanError::MissingTier {
            algorithm: "neurosurgeon-3tier",
            tier,
        };
        let e = p.main_node(Tier::Edge).ok_or(missing("edge"))?;
        let c = p.main_node(Tier::Cloud).ok_or(missing("cloud"))?;
        let n = p.layers.len();
        let mut best: Option<(Nanos, Vec<tiersplit_cost::NodeId>)> = None;
        // Device prefix 0..i; for each i sweep the edge run i..j by moving layers from the
        // cloud to the edge.
        let mut sweep = ChainSweep::new(p, vec![p.device, e, c], 2);
        for i in 0..=n {
            if i > 0 {
                sweep.set(i - 1, 0);
            }
            for l in i..n {
                sweep.set(l, 2);
            }
            for j in i..=n {
                if j > i {
                    sweep.set(j - 1, 1);
                }
                if best.as_ref().is_none_or(|(b, _)| sweep.total < *b) {
                    best = Some((sweep.total, sweep.placement()));
                }
            }
        }
        Ok(Plan::new(self.name(), best.expect("candidates").1))
    }
}
