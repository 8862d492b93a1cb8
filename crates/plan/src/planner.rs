use crate::{Best, Decc, Hpa, HpaVsm};
use crate::{
    DadsDynamic, Dsh, Dsl, ExactThreeTier, Neurosurgeon, Neurosurgeon3, Plan, PlanError, SingleNode,
};
use tiersplit_cost::{Problem, Tier};

/// A placement algorithm. A new algorithm is a new file implementing this.
pub trait Planner: Send + Sync {
    /// The name used on the command line (`--algo`) and in tables.
    fn name(&self) -> &'static str;
    /// Places every layer of `problem`; fails when the problem lacks a tier the algorithm
    /// needs.
    fn plan(&self, problem: &Problem) -> Result<Plan, PlanError>;
}

/// Every planner, in the order tables list them.
pub fn all_planners() -> Vec<Box<dyn Planner>> {
    let mut all = all_baseline_planners();
    all.push(Box::new(Best::latency()));
    all.push(Box::new(Best::throughput()));
    all
}

/// Every planner except our combined ones (which start from these).
pub fn all_baseline_planners() -> Vec<Box<dyn Planner>> {
    vec![
        Box::new(SingleNode(Tier::Device)),
        Box::new(SingleNode(Tier::Edge)),
        Box::new(SingleNode(Tier::Cloud)),
        Box::new(Neurosurgeon),
        Box::new(Neurosurgeon3),
        Box::new(Dsl),
        Box::new(Dsh::default()),
        Box::new(DadsDynamic::default()),
        Box::new(ExactThreeTier),
        Box::new(Hpa),
        Box::new(HpaVsm),
        Box::new(Decc),
    ]
}

/// The planner called `name` (its [`Planner::name`]); the error lists the known names.
pub fn planner_by_name(name: &str) -> Result<Box<dyn Planner>, PlanError> {
    let all = all_planners();
    let names = all.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ");
    all.into_iter()
        .find(|p| p.name() == name)
        .ok_or_else(|| PlanError::UnknownAlgorithm(name.to_string(), names))
}
