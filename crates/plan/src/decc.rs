use crate::fit::{Choice, Fit};
use crate::scorer::Scorer;
use crate::{Plan, PlanError, Planner};
use tiersplit_cost::{NodeId, Problem, Tier};

/// DECC (delay-aware edge-cloud collaboration): a two-way edge/cloud split runs layers one
/// after another even when they do not depend on each other. DECC finds independent branches
/// (the chains between a fork and the layer where they join: Inception branches, residual
/// paths, detection heads) and gives each branch its own partition point, so the edge works on
/// some branches while the cloud works on others. The device only uploads the input.
///
/// Our reading of the abstract (the full paper is not available): for every fork-join region,
/// layers before it run on the edge, the join and everything after it on the cloud, and each
/// branch is cut at its own point (edge prefix, cloud suffix), chosen by coordinate descent on
/// the evaluator's makespan. Plain edge/cloud chain splits are candidates too; the best by
/// makespan wins.
pub struct Decc;

/// A fork-join region: branches are chains from the fork's consumers to the join.
pub(crate) struct Region {
    pub branches: Vec<Vec<usize>>,
    pub join: usize,
}

pub(crate) fn successors(p: &Problem) -> Vec<Vec<usize>> {
    let mut succ = vec![Vec::new(); p.layers.len()];
    for t in &p.tensors {
        if let Some(u) = t.producer {
            for &c in &t.consumers {
                if !succ[u].contains(&c) {
                    succ[u].push(c);
                }
            }
        }
    }
    succ
}

pub(crate) fn predecessor_counts(p: &Problem) -> Vec<usize> {
    let mut preds = vec![Vec::new(); p.layers.len()];
    for t in &p.tensors {
        if let Some(u) = t.producer {
            for &c in &t.consumers {
                if !preds[c].contains(&u) {
                    preds[c].push(u);
                }
            }
        }
    }
    preds.into_iter().map(|v| v.len()).collect()
}

/// Fork-join regions whose branches all meet at one join layer.
pub(crate) fn regions(p: &Problem) -> Vec<Region> {
    let succ = successors(p);
    let npred = predecessor_counts(p);
    let mut out = Vec::new();
    for fork in 0..p.layers.len() {
        if succ[fork].len() < 2 {
            continue;
        }
        let mut branches = Vec::new();
        let mut joins = Vec::new();
        for &start in &succ[fork] {
            let mut chain = Vec::new();
            let mut cur = start;
            loop {
                if npred[cur] > 1 {
                    joins.push(cur);
                    break;
                }
                chain.push(cur);
                if succ[cur].len() != 1 {
                    joins.push(usize::MAX);
                    break;
                }
                cur = succ[cur][0];
            }
            branches.push(chain);
        }
        if joins.iter().all(|&j| j == joins[0] && j != usize::MAX) {
            out.push(Region {
                branches,
                join: joins[0],
            });
        }
    }
    out
}

fn descendants(succ: &[Vec<usize>], from: usize) -> Vec<bool> {
    let mut seen = vec![false; succ.len()];
    let mut stack = vec![from];
    while let Some(v) = stack.pop() {
        if !seen[v] {
            seen[v] = true;
            stack.extend(&succ[v]);
        }
    }
    seen
}

impl Planner for Decc {
    fn name(&self) -> &'static str {
        "decc"
    }

    fn plan(&self, p: &Problem) -> Result<Plan, PlanError> {
        let missing = |tier| PlanError::MissingTier {
            algorithm: "decc",
            tier,
        };
        let e = p.main_node(Tier::Edge).ok_or(missing("edge"))?;
        let c = p.main_node(Tier::Cloud).ok_or(missing("cloud"))?;
        let n = p.layers.len();
        let mut scorer = Scorer::new(p);
        let mut score = |placement: &[NodeId]| scorer.makespan_of(placement);
        let fit = Fit::new(p);
        let fits = |placement: &Vec<NodeId>| fit.fits(placement);
        let mut choice = Choice::new();
        // Chain splits between edge and cloud.
        let all_edge = vec![e; n];
        choice.offer(score(&all_edge), all_edge, fits);
        for k in 0..n {
            let cand: Vec<NodeId> = (0..n).map(|l| if l < k { e } else { c }).collect();
            choice.offer(score(&cand), cand, fits);
        }
        // Branch-parallel placements, one region at a time.
        let succ = successors(p);
        for region in regions(p) {
            let after = descendants(&succ, region.join);
            let mut placement: Vec<NodeId> = (0..n).map(|l| if after[l] { c } else { e }).collect();
            let mut cuts: Vec<usize> = vec![0; region.branches.len()];
            let apply = |placement: &mut Vec<NodeId>, cuts: &[usize]| {
                for (b, chain) in region.branches.iter().enumerate() {
                    for (i, &l) in chain.iter().enumerate() {
                        placement[l] = if i < cuts[b] { e } else { c };
                    }
                }
            };
            apply(&mut placement, &cuts);
            let mut current = score(&placement);
            for _ in 0..2 {
                for b in 0..region.branches.len() {
                    for cut in 0..=region.branches[b].len() {
                        let mut trial = cuts.clone();
                        trial[b] = cut;
                        let mut cand = placement.clone();
                        apply(&mut cand, &trial);
                        let t = score(&cand);
                        if fit.limited() {
                            choice.offer(t, cand.clone(), fits);
                        }
                        if t < current {
                            (cuts, current, placement) = (trial, t, cand);
                        }
                    }
                }
            }
            choice.offer(current, placement, fits);
        }
        let (best, fitting) = choice.best().expect("chain splits were offered");
        let mut plan = Plan::new(self.name(), best);
        if !fitting {
            plan.notes
                .push("no plan it tried fits the nodes' memory".into());
        }
        Ok(plan)
    }
}
