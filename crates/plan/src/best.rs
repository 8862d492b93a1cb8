use crate::evaluate::period;
use crate::{all_baseline_planners, evaluate, Plan, PlanError, Planner};
use tiersplit_cost::{Nanos, NodeId, Problem};

/// What the combined planner minimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objective {
    /// One frame's latency as the DAG schedule gives it.
    Makespan,
    /// The pipelined frame period (throughput).
    Period,
}

/// Our combined planner: the best plan of every other planner, a list schedule over every node
/// (each layer on the node where it would finish earliest, which spreads parallel branches over
/// several edge nodes), then local search (move a layer, or a layer with everything after it on
/// the same node, to another node) while the objective improves. Never worse than any other
/// planner on its objective, by construction (the throughput mode also starts from the latency
/// mode's plan).
pub struct Best {
    pub objective: Objective,
    /// Cap on candidate evaluations in local search.
    pub budget: usize,
}

impl Best {
    pub fn latency() -> Best {
        Best {
            objective: Objective::Makespan,
            budget: 20_000,
        }
    }
    pub fn throughput() -> Best {
        Best {
            objective: Objective::Period,
            budget: 20_000,
        }
    }

    fn score(&self, p: &Problem, placement: &[NodeId]) -> Nanos {
        let plan = Plan::new("best", placement.to_vec());
        match self.objective {
            Objective::Makespan => evaluate(p, &plan).makespan,
            Objective::Period => period(p, &plan),
        }
    }
}

fn valid(p: &Problem, placement: &[NodeId]) -> bool {
    Plan::new("best", placement.to_vec()).validate(p).is_ok()
}

/// Earliest-finish-time list scheduling in topological order, respecting tier order.
fn list_schedule(p: &Problem) -> Vec<NodeId> {
    let n = p.layers.len();
    let mut placement: Vec<NodeId> = vec![p.device; n];
    let mut finish = vec![Nanos(0); n];
    let mut node_free = vec![Nanos(0); p.nodes.len()];
    let mut inputs: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (ti, t) in p.tensors.iter().enumerate() {
        for &c in &t.consumers {
            inputs[c].push(ti);
        }
    }
    for l in 0..n {
        let min_tier = inputs[l]
            .iter()
            .map(|&ti| {
                p.tensors[ti]
                    .producer
                    .map(|u| p.nodes[placement[u].0].tier)
                    .unwrap_or(p.nodes[p.device.0].tier)
            })
            .max()
            .unwrap_or(p.nodes[p.device.0].tier);
        let mut best: Option<(Nanos, NodeId)> = None;
        for node in p.node_ids().filter(|&v| p.nodes[v.0].tier >= min_tier) {
            let ready = inputs[l]
                .iter()
                .map(|&ti| {
                    let t = &p.tensors[ti];
                    let (from, at) = t
                        .producer
                        .map(|u| (placement[u], finish[u]))
                        .unwrap_or((p.device, Nanos(0)));
                    at + if from == node {
                        Nanos(0)
                    } else {
                        p.transfer_time(from, node, t.bytes)
                    }
                })
                .max()
                .unwrap_or(Nanos(0));
            let end = ready.max(node_free[node.0]) + p.layers[l].time[node.0];
            if best.is_none_or(|(b, _)| end < b) {
                best = Some((end, node));
            }
        }
        let (end, node) = best.expect("the device is always allowed");
        placement[l] = node;
        finish[l] = end;
        node_free[node.0] = end;
    }
    placement
}

impl Planner for Best {
    fn name(&self) -> &'static str {
        match self.objective {
            Objective::Makespan => "best",
            Objective::Period => "best-throughput",
        }
    }

    fn plan(&self, p: &Problem) -> Result<Plan, PlanError> {
        let mut candidates: Vec<Vec<NodeId>> = all_baseline_planners()
            .iter()
            .filter_map(|pl| pl.plan(p).ok())
            .map(|pl| pl.placement)
            .collect();
        candidates.push(list_schedule(p));
        if self.objective == Objective::Period {
            // A low-latency plan is often a good pipeline too.
            candidates.push(
                Best {
                    objective: Objective::Makespan,
                    budget: self.budget,
                }
                .plan(p)?
                .placement,
            );
        }
        let (mut best, mut best_t) = candidates
            .into_iter()
            .filter(|c| valid(p, c))
            .map(|c| {
                let t = self.score(p, &c);
                (c, t)
            })
            .min_by_key(|(_, t)| *t)
            .expect("single-node plans are always valid");
        // Descendants of every layer, for block moves.
        let n = p.layers.len();
        let succ = crate::decc::successors(p);
        let mut budget = self.budget;
        let mut improved = true;
        while improved && budget > 0 {
            improved = false;
            for l in 0..n {
                for target in p.node_ids() {
                    if target == best[l] || budget == 0 {
                        continue;
                    }
                    for block in [false, true] {
                        let mut cand = best.clone();
                        cand[l] = target;
                        if block {
                            let from = best[l];
                            let mut stack = succ[l].clone();
                            while let Some(v) = stack.pop() {
                                if cand[v] == from {
                                    cand[v] = target;
                                    stack.extend(&succ[v]);
                                }
                            }
                        }
                        if !valid(p, &cand) {
                            continue;
                        }
                        budget = budget.saturating_sub(1);
                        let t = self.score(p, &cand);
                        if t < best_t {
                            (best, best_t, improved) = (cand, t, true);
                            break;
                        }
                    }
                }
            }
        }
        Ok(Plan::new(self.name(), best))
    }
}
