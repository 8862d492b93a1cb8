use crate::scorer::Scorer;
use crate::Plan;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use tiersplit_cost::{Nanos, NodeId, Problem};
use tiersplit_graph::Bytes;

/// Traffic on one directed link for one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkLoad {
    /// Sending node.
    pub from: NodeId,
    /// Receiving node.
    pub to: NodeId,
    /// Bytes sent over the link for one frame.
    pub bytes: Bytes,
    /// Tensors sent over the link for one frame, one message each.
    pub messages: usize,
    /// Time the link is busy (bytes / bandwidth).
    pub busy: Nanos,
}

/// How a plan performs on its problem, by the one cost model every plan is scored with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// One frame's latency as the papers count it: every layer's compute time plus every
    /// transfer's time, summed as if nothing overlapped (DADS's Te + Tt + Tc).
    pub latency_sum: Nanos,
    /// One frame's latency as the DAG schedule gives it: layers on one node run one after
    /// another in topological order, different nodes run in parallel, transfers queue per
    /// link and on their sender's radio when it has one (first come, first served: where a
    /// real radio shares its rate among overlapping transfers, the first of them arrives
    /// later than this, the last at the same time), and the frame ends when every output is
    /// back on the device.
    pub makespan: Nanos,
    /// The pipelined frame period: the busiest node's compute time, or the busiest link's or
    /// shared radio's transfer time, whichever is larger (DADS's max(Te, Tt, Tc)).
    pub period: Nanos,
    /// Frames per second when frames are pipelined: 1 / period.
    pub throughput_fps: f64,
    /// Compute time per node for one frame.
    pub compute: Vec<Nanos>,
    /// Time each node's radio is busy for one frame, by node (empty when no node has one):
    /// everything it sends over any link, one message at a time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub radio_busy: Vec<Nanos>,
    /// Traffic on every link that carries any, ordered by (from, to).
    pub links: Vec<LinkLoad>,
    /// Bytes on edge-cloud links (both directions): the backbone traffic D3 reduces.
    pub backbone_bytes: Bytes,
    /// Bytes each node holds for one frame: the weights of the layers it runs and the peak of
    /// the activations live on it.
    pub memory: Vec<Bytes>,
}

/// The hops a tensor of `bytes` travels from `from` to every node in `dests`: the union of
/// their routes, so a hop shared by several destinations is paid once (the relay forwards it).
pub(crate) fn hops_to(
    p: &Problem,
    bytes: Bytes,
    from: NodeId,
    dests: impl IntoIterator<Item = NodeId>,
) -> Vec<(NodeId, NodeId)> {
    let mut hops: Vec<(NodeId, NodeId)> = Vec::new();
    let dests: BTreeSet<NodeId> = dests.into_iter().filter(|&d| d != from).collect();
    for d in dests {
        for hop in p.route(from, d, bytes).unwrap_or_default() {
            if !hops.contains(&hop) {
                hops.push(hop);
            }
        }
    }
    hops
}

/// Summed time of [`hops_to`].
pub(crate) fn hops_time(p: &Problem, bytes: Bytes, hops: &[(NodeId, NodeId)]) -> Nanos {
    hops.iter()
        .map(|&(a, b)| p.link(a, b).expect("routes use links").time(bytes))
        .sum()
}

/// Scores a plan. The plan must be valid for the problem (see [`Plan::validate`]): an
/// invalid tiled stage panics. Planners that score many candidates keep a `Scorer`.
pub fn evaluate(p: &Problem, plan: &Plan) -> Prediction {
    Scorer::new(p).evaluate(plan)
}
