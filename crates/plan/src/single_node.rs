use crate::{Plan, PlanError, Planner};
use tiersplit_cost::{Problem, Tier};

/// Everything on one tier's (fastest) node: device-only, edge-only, cloud-only.
pub struct SingleNode(pub Tier);

impl Planner for SingleNode {
    fn name(&self) -> &'static str {
        match self.0 {
            Tier::Device => "device-only",
            Tier::Edge => "edge-only",
            Tier::Cloud => "cloud-only",
        }
    }

    fn plan(&self, p: &Problem) -> Result<Plan, PlanError> {
        let node = p.main_node(self.0).ok_or(PlanError::MissingTier {
            algorithm: self.name(),
            tier: match self.0 {
                Tier::Device => "device",
                Tier::Edge => "edge",
                Tier::Cloud => "cloud",
            },
        })?;
        Ok(Plan::new(self.name(), vec![node; p.layers.len()]))
    }
}
