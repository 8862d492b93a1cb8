use crate::fit::{Choice, Fit};
use crate::net::Net;
use crate::scorer::Scorer;
use crate::{tileable_runs, Hpa, Plan, PlanError, Planner, TiledStage};
use tiersplit_cost::{Nanos, NodeId, Problem, Tier};
use tiersplit_tile::Grid;

/// D3 with its vertical separation module: HPA's device | edge | cloud partition, where a
/// chain of convolution and pooling layers at the head of the edge part runs as spatial tiles
/// (halo included) across several edge nodes in parallel, rows sized to each node's speed.
/// Scored by makespan (tiles only pay off when their parallelism counts), and never worse than
/// plain HPA, which is one of its candidates.
///
/// Search: for each of the heaviest tileable chains, starting at the chain's head or at HPA's edge point, every
/// way of `segmentations` to cut it into stages, the k fastest edge nodes (k >= 2) and a
/// sample of cloud points after the last stage.
pub struct HpaVsm;

/// How many of the heaviest tileable chains the search considers.
pub(crate) const MAX_CHAINS: usize = 6;

/// Edge nodes, fastest (least total layer time) first.
pub(crate) fn edges_fastest_first(p: &Problem) -> Vec<NodeId> {
    let mut edges = p.nodes_of(Tier::Edge);
    edges.sort_by_key(|&n| p.layers.iter().map(|l| l.time[n.0]).sum::<Nanos>());
    edges
}

/// Each of `stages` (consecutive pieces of a tileable chain) run as one tile per node of
/// `nodes`, gathered on `nodes[0]` after each stage, rows sized in proportion to each node's
/// speed on the stage. `None` when a stage's output has fewer rows than nodes or its tiles
/// cannot be planned.
pub(crate) fn tilings(
    p: &Problem,
    net: &Net,
    stages: &[&[usize]],
    nodes: &[NodeId],
) -> Option<Vec<TiledStage>> {
    let mut tiled = Vec::with_capacity(stages.len());
    for layers in stages {
        let last = *layers.last()?;
        let (h, w) = net.hw[*net.outputs.row(last).first()?]?;
        let speeds: Vec<f64> = nodes
            .iter()
            .map(|&n| {
                let t: Nanos = layers.iter().map(|&l| net.time(l, n)).sum();
                1.0 / (t.0.max(1) as f64)
            })
            .collect();
        let grid = Grid::weighted_rows(h, w, &speeds).ok()?;
        tiled.push(TiledStage {
            layers: layers.to_vec(),
            nodes: nodes.to_vec(),
            grid,
        });
    }
    // Valid by construction apart from the geometry (tiles on edge nodes, gathered on an edge
    // node that already held the chain); a full validation would double the search's cost.
    for stage in &tiled {
        stage.geometry_in(p, net).ok()?;
    }
    Some(tiled)
}

/// `placement` with the stages of `tiled`, each stage's layers on its gathering node.
pub(crate) fn with_tiled(algorithm: &str, placement: &[NodeId], tiled: &[TiledStage]) -> Plan {
    let mut plan = Plan::new(algorithm, placement.to_vec());
    for stage in tiled {
        for &l in &stage.layers {
            plan.placement[l] = stage.nodes[0];
        }
    }
    plan.tiled = tiled.to_vec();
    plan
}

/// `placement` with `stages` tiled across `nodes` (see [`tilings`]).
pub(crate) fn with_stages(
    p: &Problem,
    net: &Net,
    algorithm: &str,
    placement: &[NodeId],
    stages: &[&[usize]],
    nodes: &[NodeId],
) -> Option<Plan> {
    tilings(p, net, stages, nodes).map(|t| with_tiled(algorithm, placement, &t))
}

/// `chain` (a tileable chain) cut into stages that each end at a downsampling layer, where the
/// map to gather and scatter again is smallest.
pub(crate) fn split_at_downsampling<'a>(p: &Problem, chain: &'a [usize]) -> Vec<&'a [usize]> {
    let area = |l: usize, produced: bool| {
        p.tensors
            .iter()
            .find(|t| {
                if produced {
                    t.producer == Some(l)
                } else {
                    t.consumers.contains(&l)
                }
            })
            .and_then(|t| t.hw)
            .map_or(0, |(h, w)| h * w)
    };
    let mut out = Vec::new();
    let mut from = 0;
    for (i, &l) in chain.iter().enumerate() {
        if i + 1 < chain.len() && area(l, true) < area(l, false) {
            out.push(&chain[from..=i]);
            from = i + 1;
        }
    }
    out.push(&chain[from..]);
    out
}

/// Ways to cut the chain `run[a..]` into tiled stages: every prefix `run[a..b]` as one stage and
/// cut at downsampling layers, and the whole rest in stages of every fixed length. Deep single
/// stages pay halos that grow with depth; short ones pay a gather and a scatter each.
pub(crate) fn segmentations<'a>(p: &Problem, rest: &'a [usize]) -> Vec<Vec<&'a [usize]>> {
    let mut out: Vec<Vec<&[usize]>> = Vec::new();
    for b in 1..=rest.len() {
        out.push(vec![&rest[..b]]);
        let split = split_at_downsampling(p, &rest[..b]);
        if split.len() > 1 {
            out.push(split);
        }
    }
    for len in 1..rest.len() {
        out.push(rest.chunks(len).collect());
    }
    out
}

/// Up to `count` points spread evenly over `from..=to`, ends included.
fn sample(from: usize, to: usize, count: usize) -> Vec<usize> {
    if to < from {
        return vec![];
    }
    let span = to - from;
    let mut v: Vec<usize> = (0..count)
        .map(|i| from + span * i / (count - 1).max(1))
        .collect();
    v.dedup();
    v
}

impl Planner for HpaVsm {
    fn name(&self) -> &'static str {
        "hpa-vsm"
    }

    fn plan(&self, p: &Problem) -> Result<Plan, PlanError> {
        let points = Hpa::solve(p)?;
        let mut best = Plan::new(self.name(), Hpa::placement(p, points)?);
        let mut scorer = Scorer::new(p);
        let limited = Fit::new(p).limited();
        let fits = |plan: &Plan| !limited || plan.validate(p).is_ok();
        let mut choice = Choice::new();
        choice.offer(scorer.makespan(&best), best.clone(), fits);
        let edges = edges_fastest_first(p);
        if edges.len() < 2 {
            best.notes
                .push("one edge node: nothing to tile across, plain HPA".into());
            return Ok(best);
        }
        let n = p.layers.len();
        let (device, lead) = (p.device, edges[0]);
        let cloud = p.main_node(Tier::Cloud).ok_or(PlanError::MissingTier {
            algorithm: "hpa-vsm",
            tier: "cloud",
        })?;
        // The chains with the most work: tiling a light chain cannot pay for its transfers.
        let mut runs = tileable_runs(p);
        let weight = |r: &Vec<usize>| r.iter().map(|&l| p.layers[l].time[lead.0]).sum::<Nanos>();
        runs.sort_by_key(|r| std::cmp::Reverse(weight(r)));
        runs.truncate(MAX_CHAINS);
        for run in runs {
            let mut starts = vec![0];
            if let Some(a) = run.iter().position(|&l| l == points.edge_from) {
                if a != 0 {
                    starts.push(a);
                }
            }
            for &a in &starts {
                for stages in segmentations(p, &run[a..]) {
                    let after = stages.last().and_then(|s| s.last()).map_or(0, |&l| l + 1);
                    let mut clouds = sample(after, n, 6);
                    if points.cloud_from > after {
                        clouds.push(points.cloud_from);
                    }
                    let tiled: Vec<Option<Vec<TiledStage>>> = (2..=edges.len())
                        .map(|k| tilings(p, scorer.net(), &stages, &edges[..k]))
                        .collect();
                    for &c in &clouds {
                        let placement: Vec<NodeId> = (0..n)
                            .map(|l| {
                                if l < run[a] {
                                    device
                                } else if l < c {
                                    lead
                                } else {
                                    cloud
                                }
                            })
                            .collect();
                        for tiles in tiled.iter().flatten() {
                            let plan = with_tiled(self.name(), &placement, tiles);
                            choice.offer(scorer.makespan(&plan), plan, fits);
                        }
                    }
                }
            }
        }
        let (mut best, fitting) = choice.best().expect("HPA's plan was offered");
        if !fitting {
            best.notes
                .push("no plan it tried fits the nodes' memory".into());
        }
        Ok(best)
    }
}

#[cfg(test)]
mod tests {
    use super::sample;

    #[test]
    fn sample_spreads_and_keeps_the_ends() {
        assert_eq!(sample(3, 3, 12), vec![3]);
        assert_eq!(sample(0, 4, 3), vec![0, 2, 4]);
        let s = sample(10, 200, 12);
        assert_eq!((s[0], *s.last().unwrap(), s.len()), (10, 200, 12));
        assert!(sample(5, 4, 12).is_empty());
    }
}
