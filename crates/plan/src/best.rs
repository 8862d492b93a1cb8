use crate::hpa_vsm::{edges_fastest_first, segmentations, with_stages, MAX_CHAINS};
use crate::net::Net;
use crate::scorer::Scorer;
use crate::{
    all_baseline_planners, tileable_runs, Dsl, ExactThreeTier, Neurosurgeon3, Plan, PlanError,
    Planner,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use tiersplit_cost::{Nanos, NodeId, Problem, Tier};

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
    /// What the planner minimises.
    pub objective: Objective,
    /// Cap on candidate evaluations in local search.
    pub budget: usize,
}

impl Best {
    /// The `best` planner: minimises one frame's makespan, local search capped at 20 000.
    pub fn latency() -> Best {
        Best {
            objective: Objective::Makespan,
            budget: 20_000,
        }
    }
    /// The `best-throughput` planner: minimises the pipelined period, search capped at 20 000.
    pub fn throughput() -> Best {
        Best {
            objective: Objective::Period,
            budget: 20_000,
        }
    }

    fn score(&self, scorer: &mut Scorer, placement: &[NodeId]) -> Nanos {
        match self.objective {
            Objective::Makespan => scorer.makespan_of(placement),
            Objective::Period => scorer.period_of(placement),
        }
    }

    fn score_plan(&self, scorer: &mut Scorer, plan: &Plan) -> Nanos {
        match self.objective {
            Objective::Makespan => scorer.makespan(plan),
            Objective::Period => scorer.period(plan),
        }
    }
}

/// `placement` with a chain of layers that sits on one edge node run as tiled stages across that
/// node and the next fastest edge nodes, cut every way [`segmentations`] gives.
fn tiling_variants(p: &Problem, net: &Net, algorithm: &str, placement: &[NodeId]) -> Vec<Plan> {
    let edges = edges_fastest_first(p);
    let mut out = Vec::new();
    if edges.len() < 2 {
        return out;
    }
    // Pieces of tileable chains that sit on one edge node, heaviest first.
    let mut pieces: Vec<(Nanos, NodeId, Vec<usize>)> = Vec::new();
    for run in tileable_runs(p) {
        let mut i = 0;
        while i < run.len() {
            let node = placement[run[i]];
            let mut j = i;
            while j < run.len() && placement[run[j]] == node {
                j += 1;
            }
            if p.nodes[node.0].tier == Tier::Edge {
                let work = run[i..j].iter().map(|&l| p.layers[l].time[node.0]).sum();
                pieces.push((work, node, run[i..j].to_vec()));
            }
            i = j;
        }
    }
    pieces.sort_by_key(|(work, _, _)| std::cmp::Reverse(*work));
    pieces.truncate(MAX_CHAINS);
    for (_, node, piece) in &pieces {
        let others: Vec<NodeId> = edges.iter().copied().filter(|e| e != node).collect();
        for stages in segmentations(p, piece) {
            for k in 1..=others.len() {
                let nodes: Vec<NodeId> = std::iter::once(*node)
                    .chain(others[..k].iter().copied())
                    .collect();
                out.extend(with_stages(p, net, algorithm, placement, &stages, &nodes));
            }
        }
    }
    out
}

fn valid(p: &Problem, placement: &[NodeId]) -> bool {
    Plan::new("best", placement.to_vec()).validate(p).is_ok()
}

/// Whether a valid placement is still valid after the layers in `moved` moved to `to`: only
/// the tensors they read and write can now flow backwards.
fn still_valid(net: &Net, placement: &[NodeId], moved: &[usize], to: NodeId) -> bool {
    let tier = net.tiers[to.0];
    moved.iter().all(|&l| {
        let reads_ok = net.inputs.row(l).iter().all(|&t| {
            let from = net.producer[t].map_or(net.device, |u| placement[u]);
            net.tiers[from.0] <= tier
        });
        reads_ok
            && net.outputs.row(l).iter().all(|&t| {
                net.consumers
                    .row(t)
                    .iter()
                    .all(|&c| net.tiers[placement[c].0] >= tier)
            })
    })
}

/// Earliest-finish-time list scheduling in topological order, respecting tier order.
fn list_schedule(p: &Problem) -> Vec<NodeId> {
    let n = p.layers.len();
    let mut placement: Vec<NodeId> = vec![p.device; n];
    let mut finish = vec![Nanos(0); n];
    let mut node_free = vec![Nanos(0); p.nodes.len()];
    let (inputs, _) = p.layer_io();
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
        let portfolio = portfolio(p);
        // A low-latency plan is often a good pipeline too.
        let fast = match self.objective {
            Objective::Period => Some(
                Best {
                    objective: Objective::Makespan,
                    budget: self.budget,
                }
                .search(p, &portfolio, None)?
                .placement,
            ),
            Objective::Makespan => None,
        };
        self.search(p, &portfolio, fast)
    }
}

/// Every baseline planner's valid plan of `p`, in table order. DADS's dynamic rule is left
/// out: its plan is DSL's or DSH's, both already in. The planners run on up to two threads
/// (they are independent; on a two-core machine this halves a re-plan's wait), the heaviest
/// first.
fn portfolio(p: &Problem) -> Vec<Plan> {
    let planners: Vec<Box<dyn Planner>> = all_baseline_planners()
        .into_iter()
        .filter(|pl| pl.name() != "dads")
        .collect();
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(2));
    let run = || {
        let mut done = Vec::new();
        loop {
            // Table order puts the tiling and branch planners, the slowest, last.
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(i) = planners.len().checked_sub(k + 1) else {
                return done;
            };
            let plan = planners[i].plan(p).ok().filter(|pl| pl.validate(p).is_ok());
            done.push((i, plan));
        }
    };
    let mut slots: Vec<Option<Plan>> = vec![None; planners.len()];
    std::thread::scope(|s| {
        let helpers: Vec<_> = (1..workers).map(|_| s.spawn(run)).collect();
        let mut all = run();
        for h in helpers {
            all.extend(h.join().expect("a planner panicked"));
        }
        for (i, plan) in all {
            slots[i] = plan;
        }
    });
    slots.into_iter().flatten().collect()
}

impl Best {
    /// Re-plans after link rates or node speeds changed, from the plan serving now: the same
    /// local search and tilings as [`Planner::plan`], started from `current`, the list schedule
    /// and the quick exact cuts instead of every planner's plan. For re-planning inside a
    /// frame; a full [`Planner::plan`] can refine its answer afterwards.
    pub fn refine(&self, p: &Problem, current: &Plan) -> Result<Plan, PlanError> {
        let mut seeds = vec![Plan::new(self.name(), current.placement.clone())];
        if !current.tiled.is_empty() {
            seeds.push(current.clone());
        }
        let quick: [&dyn Planner; 3] = [&ExactThreeTier, &Dsl, &Neurosurgeon3];
        seeds.extend(quick.iter().filter_map(|q| q.plan(p).ok()));
        seeds.retain(|s| s.validate(p).is_ok());
        self.search(p, &seeds, None)
    }

    /// The search from the portfolio's plans, the list schedule and `extra`, among plans that
    /// fit the nodes' memory.
    fn search(
        &self,
        p: &Problem,
        portfolio: &[Plan],
        extra: Option<Vec<NodeId>>,
    ) -> Result<Plan, PlanError> {
        // Plans with tiled stages compete at the end; local search moves whole layers only.
        let (tiled, untiled): (Vec<&Plan>, Vec<&Plan>) =
            portfolio.iter().partition(|pl| !pl.tiled.is_empty());
        // Each starting placement with where it came from, for the note on the result.
        let mut candidates: Vec<(String, Vec<NodeId>)> = untiled
            .into_iter()
            .map(|pl| (format!("{}'s plan", pl.algorithm), pl.placement.clone()))
            .collect();
        candidates.push(("the list schedule".into(), list_schedule(p)));
        candidates.extend(extra.map(|c| ("the latency plan".into(), c)));
        let mut scorer = Scorer::new(p);
        let ((origin, mut best), mut best_t) = candidates
            .into_iter()
            .filter(|(_, c)| valid(p, c))
            .map(|c| {
                let t = self.score(&mut scorer, &c.1);
                (c, t)
            })
            .min_by_key(|(_, t)| *t)
            .ok_or(PlanError::NothingFits(self.name()))?;
        let mut moves = 0usize;
        let limited = scorer.net().limits_memory();
        // Descendants of every layer, for block moves.
        let n = p.layers.len();
        let succ = crate::decc::successors(p);
        let mut budget = self.budget;
        let mut moved = Vec::new();
        scorer.anchor(&best);
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
                        moved.clear();
                        moved.push(l);
                        if block {
                            let from = best[l];
                            let mut stack = succ[l].clone();
                            while let Some(v) = stack.pop() {
                                if cand[v] == from {
                                    cand[v] = target;
                                    moved.push(v);
                                    stack.extend(&succ[v]);
                                }
                            }
                        }
                        if !still_valid(scorer.net(), &cand, &moved, target)
                            || limited && scorer.net().over_memory(&cand).is_some()
                        {
                            continue;
                        }
                        budget = budget.saturating_sub(1);
                        let t = match self.objective {
                            Objective::Makespan => scorer.makespan_near(&cand, &moved),
                            Objective::Period => scorer.period_near(&cand, &moved),
                        };
                        if t < best_t {
                            (best, best_t, improved) = (cand, t, true);
                            moves += 1;
                            scorer.anchor(&best);
                            break;
                        }
                    }
                }
            }
        }
        let mut result = Plan::new(self.name(), best.clone());
        result.notes.push(match moves {
            0 => format!("took {origin} as it is"),
            _ => format!("started from {origin}, improved by {moves} local-search moves"),
        });
        for mut plan in
            tiled
                .into_iter()
                .cloned()
                .chain(tiling_variants(p, scorer.net(), self.name(), &best))
        {
            if limited && plan.validate(p).is_err() {
                continue;
            }
            let t = self.score_plan(&mut scorer, &plan);
            if t < best_t {
                let from = match (plan.algorithm == self.name(), moves) {
                    (true, 0) => format!("its own tiling of {origin}"),
                    (true, _) => {
                        format!("its own tiling of {origin} after {moves} local-search moves")
                    }
                    (false, _) => format!("{}'s tiled plan", plan.algorithm),
                };
                plan.algorithm = self.name().to_string();
                plan.notes = vec![format!("took {from}")];
                (result, best_t) = (plan, t);
            }
        }
        Ok(result)
    }
}
