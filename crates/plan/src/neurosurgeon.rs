use crate::dsl::server_of;
use crate::fit::{chain, chain_points};
use crate::{Hpa, Plan, PlanError, Planner};
use tiersplit_cost::Problem;

/// Neurosurgeon: the layers in topological order as a chain, split once; the prefix runs on
/// the device, the rest on the server (the cloud, or the edge when there is no cloud). Picks
/// the split with the smallest summed latency, trying every split point (among those that fit
/// the nodes' memory, when any does).
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
        let nodes = [p.device, server];
        let ((k, _), fits) = chain_points(p, &nodes);
        let mut plan = Plan::new(self.name(), chain(&nodes, p.layers.len(), k, k));
        if !fits {
            plan.notes.push(NO_SPLIT_FITS.into());
        }
        Ok(plan)
    }
}

/// What a chain planner says when none of its splits fits the nodes' memory.
pub(crate) const NO_SPLIT_FITS: &str = "no split point fits the nodes' memory";

impl Planner for Neurosurgeon3 {
    fn name(&self) -> &'static str {
        "neurosurgeon-3tier"
    }

    fn plan(&self, p: &Problem) -> Result<Plan, PlanError> {
        // The exhaustive two-point chain search is HPA's full solve.
        let mut plan = Hpa.plan(p)?;
        plan.algorithm = self.name().into();
        Ok(plan)
    }
}
