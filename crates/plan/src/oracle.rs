//! Brute force over every valid placement, for property tests on small problems.

use crate::{evaluate, Plan, Prediction};
use tiersplit_cost::{NodeId, Problem};

/// Enumerates every placement of the layers on `nodes` that is valid (no data flows back
/// toward the device) and returns the best by `key`. Exponential: for about 12 layers at most.
pub fn best_by<K: Ord>(
    p: &Problem,
    nodes: &[NodeId],
    key: impl Fn(&Prediction) -> K,
) -> Option<(Plan, Prediction)> {
    let n = p.layers.len();
    let k = nodes.len();
    let total = k
        .checked_pow(n as u32)
        .expect("oracle is for small problems");
    let mut best: Option<(K, Plan, Prediction)> = None;
    for code in 0..total {
        let mut c = code;
        let placement: Vec<NodeId> = (0..n)
            .map(|_| {
                let node = nodes[c % k];
                c /= k;
                node
            })
            .collect();
        let plan = Plan::new("oracle", placement);
        if plan.validate(p).is_err() {
            continue;
        }
        let pred = evaluate(p, &plan);
        let score = key(&pred);
        if best.as_ref().is_none_or(|(b, _, _)| score < *b) {
            best = Some((score, plan, pred));
        }
    }
    best.map(|(_, plan, pred)| (plan, pred))
}
