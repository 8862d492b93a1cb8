use crate::fit::{chain, chain_points};
use crate::neurosurgeon::NO_SPLIT_FITS;
use crate::scorer::Scorer;
use crate::{Plan, PlanError, Planner};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tiersplit_cost::{Nanos, NodeId, Problem, Tier};

/// D3's Horizontal Partition Algorithm (HPA): the layers in topological order cut at two
/// points into a device part, an edge part and a cloud part, minimising summed latency. Its
/// distinguishing feature is [`Hpa::readjust`]: when a node's speed or a link's bandwidth
/// changes, the partition points move by local search from where they were instead of being
/// re-solved over the whole DNN.
///
/// The full solve tries every pair of points with an incremental sweep (O(n^2) moves of O(1)
/// each); the D3 paper's own heuristic is not public beyond its abstract.
pub struct Hpa;

/// Where the two partition points are: layers `..edge_from` on the device, `edge_from..cloud_from`
/// on the edge, the rest on the cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SplitPoints {
    /// First layer on the edge; the layers before it run on the device.
    pub edge_from: usize,
    /// First layer on the cloud; it and the layers after it run on the cloud.
    pub cloud_from: usize,
}

/// What a re-adjustment did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Readjustment {
    /// The split points the search started from.
    pub before: SplitPoints,
    /// The split points it ended at.
    pub after: SplitPoints,
    /// Layers whose node changed.
    pub layers_moved: usize,
    /// Candidate split points evaluated.
    pub evaluations: usize,
}

fn nodes(p: &Problem) -> Result<(NodeId, NodeId, NodeId), PlanError> {
    let missing = |tier| PlanError::MissingTier {
        algorithm: "hpa",
        tier,
    };
    Ok((
        p.device,
        p.main_node(Tier::Edge).ok_or(missing("edge"))?,
        p.main_node(Tier::Cloud).ok_or(missing("cloud"))?,
    ))
}

impl Hpa {
    /// The placement split points `s` give: device, then the fastest edge node, then the
    /// cloud. Fails when the problem has no edge or no cloud node.
    pub fn placement(p: &Problem, s: SplitPoints) -> Result<Vec<NodeId>, PlanError> {
        let (d, e, c) = nodes(p)?;
        Ok(chain(&[d, e, c], p.layers.len(), s.edge_from, s.cloud_from))
    }

    /// The best pair of split points, searched exhaustively (among those that fit the nodes'
    /// memory, when any does).
    pub fn solve(p: &Problem) -> Result<SplitPoints, PlanError> {
        Ok(Hpa::solve_fitting(p)?.0)
    }

    /// [`Hpa::solve`], and whether its split points fit the nodes' memory.
    fn solve_fitting(p: &Problem) -> Result<(SplitPoints, bool), PlanError> {
        let (d, e, c) = nodes(p)?;
        let ((edge_from, cloud_from), fits) = chain_points(p, &[d, e, c]);
        Ok((
            SplitPoints {
                edge_from,
                cloud_from,
            },
            fits,
        ))
    }

    /// Summed latency of a pair of split points, by the evaluator, remembered per pair.
    fn cost(
        p: &Problem,
        s: SplitPoints,
        scorer: &mut Scorer,
        memo: &mut HashMap<SplitPoints, Nanos>,
    ) -> Result<Nanos, PlanError> {
        if let Some(&t) = memo.get(&s) {
            return Ok(t);
        }
        let total = scorer.latency_sum_of(&Hpa::placement(p, s)?);
        memo.insert(s, total);
        Ok(total)
    }

    /// Local re-adjustment after the costs in `p` changed: from `from` (or one of six anchor
    /// points if better), hill-climb, moving the split points by steps that double while they
    /// help and halve when they stop, until no single move improves.
    pub fn readjust(
        p: &Problem,
        from: SplitPoints,
    ) -> Result<(SplitPoints, Readjustment), PlanError> {
        let n = p.layers.len();
        let mut memo = HashMap::new();
        let mut scorer = Scorer::new(p);
        let mut cur = SplitPoints {
            edge_from: from.edge_from.min(n),
            cloud_from: from.cloud_from.clamp(from.edge_from.min(n), n),
        };
        let mut cur_t = Hpa::cost(p, cur, &mut scorer, &mut memo)?;
        // A few far anchors next to the local moves: collapsing the edge or the cloud part, or
        // one tier taking everything, escapes the plateaus a pure hill climb stalls on.
        let anchors = [
            SplitPoints {
                edge_from: cur.edge_from,
                cloud_from: n,
            },
            SplitPoints {
                edge_from: cur.edge_from,
                cloud_from: cur.edge_from,
            },
            SplitPoints {
                edge_from: cur.cloud_from,
                cloud_from: cur.cloud_from,
            },
            SplitPoints {
                edge_from: 0,
                cloud_from: n,
            },
            SplitPoints {
                edge_from: 0,
                cloud_from: 0,
            },
            SplitPoints {
                edge_from: n,
                cloud_from: n,
            },
        ];
        for a in anchors {
            let t = Hpa::cost(p, a, &mut scorer, &mut memo)?;
            if t < cur_t {
                (cur, cur_t) = (a, t);
            }
        }
        let mut step = 1usize;
        loop {
            let mut improved = false;
            for (di, dj) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1), (-1, -1), (1, 1)] {
                let i = cur.edge_from as i64 + di * step as i64;
                let j = cur.cloud_from as i64 + dj * step as i64;
                if i < 0 || j < i || j > n as i64 {
                    continue;
                }
                let cand = SplitPoints {
                    edge_from: i as usize,
                    cloud_from: j as usize,
                };
                let t = Hpa::cost(p, cand, &mut scorer, &mut memo)?;
                if t < cur_t {
                    (cur, cur_t, improved) = (cand, t, true);
                    break;
                }
            }
            if improved {
                step = (step * 2).min(n.max(1));
            } else if step > 1 {
                step /= 2;
            } else {
                break;
            }
        }
        let before = Hpa::placement(p, from)?;
        let after = Hpa::placement(p, cur)?;
        let layers_moved = before.iter().zip(&after).filter(|(a, b)| a != b).count();
        Ok((
            cur,
            Readjustment {
                before: from,
                after: cur,
                layers_moved,
                evaluations: memo.len(),
            },
        ))
    }
}

impl Planner for Hpa {
    fn name(&self) -> &'static str {
        "hpa"
    }

    fn plan(&self, p: &Problem) -> Result<Plan, PlanError> {
        let (points, fits) = Hpa::solve_fitting(p)?;
        let mut plan = Plan::new(self.name(), Hpa::placement(p, points)?);
        if !fits {
            plan.notes.push(NO_SPLIT_FITS.into());
        }
        Ok(plan)
    }
}
