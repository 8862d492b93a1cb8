use crate::dsl::{outputs_back, two_tier_cut};
use crate::evaluate::{hops_time, hops_to};
use crate::fit::or_chain_that_fits;
use crate::min_cut::{CutGraph, INF};
use crate::scorer::Scorer;
use crate::{Plan, PlanError, Planner};
use tiersplit_cost::{Nanos, NodeId, Problem, Tier};

/// Our exact three-tier latency planner: one minimum cut with two binary variables per layer,
/// x (at or beyond the edge) and y (at or beyond the cloud), y <= x enforced by infinite edges,
/// so placement is monotone device <= edge <= cloud along every data edge. Each tensor has one
/// auxiliary vertex per tier boundary so its upload across that boundary is paid once.
///
/// The cut prices a device-to-cloud transfer as its two hops (device-edge, edge-cloud), which
/// is exact when that is how it travels, as in the shipped scenarios. A direct device-cloud
/// link quicker than the two hops makes the pairwise cost non-submodular, which no cut of this
/// form prices exactly. The planner then also solves two cuts with every crossing priced no
/// higher than it can cost (a lower bound on the optimum) and the two-tier DSL cuts, keeps the
/// plan with the least summed latency, never worse than a two-tier cut, and says how far from
/// the bound it is unless it meets it (then it is optimal).
pub struct ExactThreeTier;

/// What [`ExactThreeTier::solve`] found.
#[derive(Debug, Clone)]
pub struct ThreeTierCut {
    /// The plan: optimal when `proven`.
    pub plan: Plan,
    /// Its summed latency.
    pub latency_sum: Nanos,
    /// No plan's summed latency is below this.
    pub lower_bound: Nanos,
    /// Whether the plan meets the bound.
    pub proven: bool,
}

/// Per-tensor prices of crossing the two tier boundaries, and per-layer prices of sending its
/// graph outputs back to the device from the edge and the cloud.
#[derive(PartialEq)]
struct Prices {
    boundary: Vec<[u64; 2]>,
    back: Vec<Vec<u64>>,
}

/// The three nodes the planner splits across.
#[derive(Clone, Copy)]
struct Tiers {
    d: NodeId,
    e: NodeId,
    c: NodeId,
}

impl Tiers {
    fn of(p: &Problem) -> Result<Tiers, PlanError> {
        let missing = |tier| PlanError::MissingTier {
            algorithm: "exact-3tier",
            tier,
        };
        Ok(Tiers {
            d: p.device,
            e: p.main_node(Tier::Edge).ok_or(missing("edge"))?,
            c: p.main_node(Tier::Cloud).ok_or(missing("cloud"))?,
        })
    }

    /// Prices as the two hops cost: exact when device-cloud transfers go through the edge.
    fn two_hop(self, p: &Problem) -> Prices {
        let boundary = p
            .tensors
            .iter()
            .map(|t| {
                [
                    p.transfer_time(self.d, self.e, t.bytes).0,
                    p.transfer_time(self.e, self.c, t.bytes).0,
                ]
            })
            .collect();
        Prices {
            boundary,
            back: outputs_back(p, &[self.e, self.c]),
        }
    }

    /// Prices no higher than any placement can cost, so the cut's objective bounds the
    /// optimum from below; `edge_first` says which boundary keeps its full price when a
    /// direct device-cloud transfer costs less than the two together.
    fn lower(self, p: &Problem, edge_first: bool) -> Prices {
        let (d, e, c) = (self.d, self.e, self.c);
        let boundary = p
            .tensors
            .iter()
            .map(|t| {
                let (a, b) = (
                    p.transfer_time(d, e, t.bytes).0,
                    p.transfer_time(e, c, t.bytes).0,
                );
                let direct = p.transfer_time(d, c, t.bytes).0;
                if edge_first {
                    let a2 = a.min(direct);
                    [a2, b.min(direct - a2)]
                } else {
                    let b2 = b.min(direct);
                    [a.min(direct - b2), b2]
                }
            })
            .collect();
        let mut back = outputs_back(p, &[e, c]);
        // An output also read on the cloud may share hops with its way back from the edge.
        for t in p
            .tensors
            .iter()
            .filter(|t| t.graph_output && !t.consumers.is_empty())
        {
            let Some(l) = t.producer else { continue };
            let apart = p.transfer_time(e, c, t.bytes) + p.transfer_time(e, d, t.bytes);
            let together = hops_time(p, t.bytes, &hops_to(p, t.bytes, e, [c, d]));
            back[l][0] = back[l][0].saturating_sub(apart.0.saturating_sub(together.0));
        }
        Prices { boundary, back }
    }

    /// The minimum cut under `prices`: the placement and the cut's objective.
    fn cut(self, p: &Problem, prices: &Prices) -> (Vec<NodeId>, i128) {
        let mut g = CutGraph::new();
        let x: Vec<_> = p.layers.iter().map(|_| g.var()).collect();
        let y: Vec<_> = p.layers.iter().map(|_| g.var()).collect();
        let mut constant = 0i128;
        for (l, layer) in p.layers.iter().enumerate() {
            let cd = (layer.time[self.d.0].0 as i128).min(INF as i128);
            let ce = (layer.time[self.e.0].0 as i128 + prices.back[l][0] as i128).min(INF as i128);
            let cc = (layer.time[self.c.0].0 as i128 + prices.back[l][1] as i128).min(INF as i128);
            // cost = cd + (ce - cd) x + (cc - ce) y, valid because y <= x.
            constant += cd;
            g.linear(x[l], ce - cd);
            g.linear(y[l], cc - ce);
            g.edge(x[l], y[l], INF);
        }
        for (t, cost) in p.tensors.iter().zip(&prices.boundary) {
            if !t.consumers.is_empty() {
                g.tensor_boundary(&x, t.producer, &t.consumers, cost[0]);
                g.tensor_boundary(&y, t.producer, &t.consumers, cost[1]);
            }
        }
        let (value, side) = g.solve();
        let placement = (0..p.layers.len())
            .map(|l| match (side[x[l].index()], side[y[l].index()]) {
                (_, true) => self.c,
                (true, false) => self.e,
                (false, false) => self.d,
            })
            .collect();
        (placement, constant + g.objective(value))
    }
}

/// Tensors a direct device-cloud transfer moves quicker than the two hops through the edge.
fn direct_quicker(p: &Problem, t: Tiers) -> usize {
    p.tensors
        .iter()
        .filter(|x| {
            p.transfer_time(t.d, t.c, x.bytes)
                < p.transfer_time(t.d, t.e, x.bytes) + p.transfer_time(t.e, t.c, x.bytes)
        })
        .count()
}

impl ExactThreeTier {
    /// The plan with its summed latency and the lower bound it was held to.
    pub fn solve(p: &Problem) -> Result<ThreeTierCut, PlanError> {
        let tiers = Tiers::of(p)?;
        let prices = tiers.two_hop(p);
        let (two_hop, exact) = tiers.cut(p, &prices);
        let mut candidates = vec![two_hop.clone()];
        let mut bound = i128::MIN;
        for edge_first in [true, false] {
            let lower = tiers.lower(p, edge_first);
            if lower == prices {
                bound = bound.max(exact);
                continue;
            }
            let (placement, objective) = tiers.cut(p, &lower);
            bound = bound.max(objective);
            candidates.push(placement);
        }
        let lower_bound = Nanos(bound.max(0) as u64);
        if candidates.len() > 1 {
            candidates.extend([
                two_tier_cut(p, tiers.c, 1.0, 1.0),
                two_tier_cut(p, tiers.e, 1.0, 1.0),
            ]);
        }
        let mut scorer = Scorer::new(p);
        let (placement, latency_sum) = candidates
            .into_iter()
            .map(|c| {
                let t = scorer.latency_sum_of(&c);
                (c, t)
            })
            .min_by_key(|(_, t)| *t)
            .expect("one candidate at least");
        let proven = latency_sum <= lower_bound;
        let mut plan = Plan::new("exact-3tier", placement);
        if !proven {
            let quicker = direct_quicker(p, tiers);
            let why = if quicker > 0 {
                format!(
                    "a direct {} -> {} transfer is quicker than through {} for {quicker} of {} tensors, which one cut cannot price exactly; ",
                    p.nodes[tiers.d.0].name,
                    p.nodes[tiers.c.0].name,
                    p.nodes[tiers.e.0].name,
                    p.tensors.len(),
                )
            } else {
                String::new()
            };
            plan.notes.push(format!(
                "not proven optimal: {why}summed latency {latency_sum} is at most {:.1}% above the optimum (lower bound {lower_bound})",
                100.0 * (latency_sum.0 as f64 / lower_bound.0.max(1) as f64 - 1.0),
            ));
        }
        Ok(ThreeTierCut {
            plan,
            latency_sum,
            lower_bound,
            proven,
        })
    }
}

impl Planner for ExactThreeTier {
    fn name(&self) -> &'static str {
        "exact-3tier"
    }

    fn plan(&self, p: &Problem) -> Result<Plan, PlanError> {
        let t = Tiers::of(p)?;
        let plan = ExactThreeTier::solve(p)?.plan;
        Ok(or_chain_that_fits(p, plan, &[t.d, t.e, t.c]))
    }
}
