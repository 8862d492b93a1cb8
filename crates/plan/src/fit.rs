//! Node memory for the planners whose own search cannot see it: the chain, tiling and
//! branch-parallel planners keep to candidates that fit, and the cut planners fall back to the
//! quickest chain split that fits when their cut does not, saying so. Without memory limits
//! nothing changes.

use crate::chain_sweep::ChainSweep;
use crate::net::Net;
use crate::Plan;
use tiersplit_cost::{Nanos, NodeId, Problem};

/// Whether placements fit every node's memory; checked only when some node's is limited.
pub(crate) struct Fit {
    net: Option<Net>,
}

impl Fit {
    pub fn new(p: &Problem) -> Fit {
        // The net is built only when there is memory to check: planners without limits pay
        // nothing.
        let limited = p.nodes.iter().any(|n| n.memory.is_some());
        Fit {
            net: limited.then(|| Net::of(p)),
        }
    }

    /// Whether any node's memory is limited.
    pub fn limited(&self) -> bool {
        self.net.is_some()
    }

    pub fn fits(&self, placement: &[NodeId]) -> bool {
        self.net
            .as_ref()
            .is_none_or(|net| net.over_memory(placement).is_none())
    }
}

/// The least-cost candidate that fits, and the least-cost one whether it fits or not, among
/// candidates offered one by one (the first of equals is kept).
pub(crate) struct Choice<K> {
    /// (cost, key) of the best fitting candidate.
    fitting: Option<(Nanos, K)>,
    /// (cost, key) of the best candidate.
    any: Option<(Nanos, K)>,
}

impl<K: Clone> Choice<K> {
    pub fn new() -> Choice<K> {
        Choice {
            fitting: None,
            any: None,
        }
    }

    /// A candidate of `cost`; `fits` is asked only when it could be kept.
    pub fn offer(&mut self, cost: Nanos, key: K, fits: impl FnOnce(&K) -> bool) {
        let better = |b: &Option<(Nanos, K)>| b.as_ref().is_none_or(|(t, _)| cost < *t);
        if better(&self.any) {
            self.any = Some((cost, key.clone()));
        }
        if better(&self.fitting) && fits(&key) {
            self.fitting = Some((cost, key));
        }
    }

    /// The best fitting candidate, or the best of all when none fits (`false` then).
    pub fn best(self) -> Option<(K, bool)> {
        match self.fitting {
            Some((_, k)) => Some((k, true)),
            None => self.any.map(|(_, k)| (k, false)),
        }
    }
}

/// The quickest chain placement by summed latency over `nodes` (device first, in tier order;
/// two or three of them): layers `..i` on the first, `i..j` on the second, `j..` on the last
/// (`i == j` with two nodes); among those that fit memory when any does (`false` when none
/// does). Returns `(i, j)`.
pub(crate) fn chain_points(p: &Problem, nodes: &[NodeId]) -> ((usize, usize), bool) {
    let n = p.layers.len();
    let last = nodes.len() - 1;
    let mut sweep = ChainSweep::new(p, nodes.to_vec(), last);
    let (fit, mut choice) = (Fit::new(p), Choice::new());
    for i in 0..=n {
        if i > 0 {
            sweep.set(i - 1, 0);
        }
        // With three nodes the last pass moved layers i.. to the middle one: back to the last.
        let ends = if last == 2 { n } else { i };
        if ends > i {
            for l in i..n {
                sweep.set(l, last);
            }
        }
        for j in i..=ends {
            if j > i {
                sweep.set(j - 1, 1);
            }
            choice.offer(sweep.total, (i, j), |&(i, j)| {
                fit.fits(&chain(nodes, n, i, j))
            });
        }
    }
    choice.best().expect("every chain has a split")
}

/// The chain placement of [`chain_points`]' `(i, j)` over `nodes`, for `n` layers.
pub(crate) fn chain(nodes: &[NodeId], n: usize, i: usize, j: usize) -> Vec<NodeId> {
    let last = nodes[nodes.len() - 1];
    (0..n)
        .map(|l| match l {
            l if l < i => nodes[0],
            l if l < j => nodes[1],
            _ => last,
        })
        .collect()
}

/// `plan`, or when it does not fit memory and some chain split over `nodes` does, that split
/// with a note naming why.
pub(crate) fn or_chain_that_fits(p: &Problem, plan: Plan, nodes: &[NodeId]) -> Plan {
    if Fit::new(p).fits(&plan.placement) {
        return plan;
    }
    match chain_points(p, nodes) {
        ((i, j), true) => {
            let placement = chain(nodes, p.layers.len(), i, j);
            let mut fallback = Plan::new(&plan.algorithm, placement);
            fallback.notes.push(
                "its cut does not fit the nodes' memory: the quickest chain split that fits is \
                 used instead"
                    .into(),
            );
            fallback
        }
        (_, false) => plan,
    }
}
