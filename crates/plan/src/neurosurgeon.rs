use crate::chain_sweep::ChainSweep;
use crate::dsl::server_of;
use crate::{Hpa, Plan, PlanError, Planner};
use tiersplit_cost::Problem;

/// Neurosurgeon: the layers in topological order as a chain, split once; the prefix runs on
/// the device, the rest on the server (the cloud, or the edge when there is no cloud). Picks
/// the split with the smallest summed latency, trying every split point.
pub struct Neurosurgeon;

/// Neurosurgeon extended to three tiers: the best two split points of the chain, device then
/// edge then cloud, over every pair of split points (the same search as HPA's full solve).
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
        // The exhaustive two-point chain search is HPA's full solve.
        Ok(Plan::new(self.name(), Hpa::placement(p, Hpa::solve(p)?)?))
    }
}
