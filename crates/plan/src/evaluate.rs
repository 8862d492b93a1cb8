use crate::tiled_stage::expand;
use crate::Plan;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use tiersplit_cost::{Nanos, NodeId, Problem, Tier};
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
    /// link, and the frame ends when every output is back on the device.
    pub makespan: Nanos,
    /// The pipelined frame period: the busiest node's compute time or the busiest link's
    /// transfer time, whichever is larger (DADS's max(Te, Tt, Tc)).
    pub period: Nanos,
    /// Frames per second when frames are pipelined: 1 / period.
    pub throughput_fps: f64,
    /// Compute time per node for one frame.
    pub compute: Vec<Nanos>,
    /// Traffic on every link that carries any, ordered by (from, to).
    pub links: Vec<LinkLoad>,
    /// Bytes on edge-cloud links (both directions): the backbone traffic D3 reduces.
    pub backbone_bytes: Bytes,
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

/// For each tensor, the hops it travels: from its producer's node to every node that reads
/// it, plus back to the device when it is a graph output.
fn tensor_hops(p: &Problem, plan: &Plan) -> Vec<Vec<(NodeId, NodeId)>> {
    p.tensors
        .iter()
        .map(|t| {
            let from = t.producer.map(|l| plan.placement[l]).unwrap_or(p.device);
            let back = t.graph_output.then_some(p.device);
            hops_to(
                p,
                t.bytes,
                from,
                t.consumers.iter().map(|&c| plan.placement[c]).chain(back),
            )
        })
        .collect()
}

/// Compute time per node and traffic per link for one frame.
fn stage_loads(
    p: &Problem,
    plan: &Plan,
    hops: &[Vec<(NodeId, NodeId)>],
) -> (Vec<Nanos>, BTreeMap<(NodeId, NodeId), LinkLoad>, Nanos) {
    let mut compute = vec![Nanos(0); p.nodes.len()];
    for (l, layer) in p.layers.iter().enumerate() {
        compute[plan.placement[l].0] += layer.time[plan.placement[l].0];
    }
    let mut loads: BTreeMap<(NodeId, NodeId), LinkLoad> = BTreeMap::new();
    let mut transfer_sum = Nanos(0);
    for (t, hs) in p.tensors.iter().zip(hops) {
        transfer_sum += hops_time(p, t.bytes, hs);
        for &(a, b) in hs {
            let link = p.link(a, b).expect("routes use links");
            let e = loads.entry((a, b)).or_insert(LinkLoad {
                from: a,
                to: b,
                bytes: Bytes(0),
                messages: 0,
                busy: Nanos(0),
            });
            e.bytes += t.bytes;
            e.messages += 1;
            e.busy += link.occupancy(t.bytes);
        }
    }
    (compute, loads, transfer_sum)
}

fn period_of(compute: &[Nanos], loads: &BTreeMap<(NodeId, NodeId), LinkLoad>) -> Nanos {
    compute
        .iter()
        .chain(loads.values().map(|l| &l.busy))
        .copied()
        .max()
        .unwrap_or(Nanos(0))
}

/// Just the pipelined period of [`evaluate`], without the schedule simulation: what
/// throughput searches call many times.
pub(crate) fn period(p: &Problem, plan: &Plan) -> Nanos {
    if !plan.tiled.is_empty() {
        let (p2, plan2) = expand(p, plan).expect("plans are validated before scoring");
        return period(&p2, &plan2);
    }
    let hops = tensor_hops(p, plan);
    let (compute, loads, _) = stage_loads(p, plan, &hops);
    period_of(&compute, &loads)
}

/// Scores a plan. The plan must be valid for the problem (see [`Plan::validate`]): an
/// invalid tiled stage panics.
pub fn evaluate(p: &Problem, plan: &Plan) -> Prediction {
    if !plan.tiled.is_empty() {
        // A tiled stage is scored as its tiles, scatter and gather on the derived problem.
        let (p2, plan2) = expand(p, plan).expect("plans are validated before scoring");
        return evaluate(&p2, &plan2);
    }
    let hops = tensor_hops(p, plan);
    let (compute, loads, transfer_sum) = stage_loads(p, plan, &hops);
    let latency_sum = compute.iter().copied().sum::<Nanos>() + transfer_sum;
    let period = period_of(&compute, &loads);
    let backbone_bytes = loads
        .values()
        .filter(|l| Tier::is_backbone(p.nodes[l.from.0].tier, p.nodes[l.to.0].tier))
        .map(|l| l.bytes)
        .sum();
    Prediction {
        latency_sum,
        makespan: makespan(p, plan, &hops),
        period,
        throughput_fps: if period.0 == 0 {
            f64::INFINITY
        } else {
            1e9 / period.0 as f64
        },
        compute,
        links: loads.into_values().collect(),
        backbone_bytes,
    }
}

/// List scheduling of one frame in topological order (see [`Prediction::makespan`]).
fn makespan(p: &Problem, plan: &Plan, hops: &[Vec<(NodeId, NodeId)>]) -> Nanos {
    let n = p.nodes.len();
    let mut node_free = vec![Nanos(0); n];
    let mut link_free: BTreeMap<(NodeId, NodeId), Nanos> = BTreeMap::new();
    // avail[t][node]: when tensor t is present on node.
    let mut avail: Vec<Vec<Option<Nanos>>> = vec![vec![None; n]; p.tensors.len()];
    let (inputs_of, outputs_of) = p.layer_io();
    let mut send = |ti: usize, at: NodeId, ready: Nanos, avail: &mut Vec<Vec<Option<Nanos>>>| {
        avail[ti][at.0] = Some(ready);
        for &(a, b) in &hops[ti] {
            let link = p.link(a, b).expect("routes use links");
            let start = avail[ti][a.0]
                .expect("hops follow the route")
                .max(*link_free.get(&(a, b)).unwrap_or(&Nanos(0)));
            let busy_until = start + link.occupancy(p.tensors[ti].bytes);
            link_free.insert((a, b), busy_until);
            let arrive = busy_until + link.latency;
            let slot = &mut avail[ti][b.0];
            *slot = Some(slot.map_or(arrive, |s| s.min(arrive)));
        }
    };
    for (ti, t) in p.tensors.iter().enumerate() {
        if t.producer.is_none() {
            send(ti, p.device, Nanos(0), &mut avail);
        }
    }
    for l in 0..p.layers.len() {
        let node = plan.placement[l];
        let ready = inputs_of[l]
            .iter()
            .map(|&ti| avail[ti][node.0].expect("inputs routed to their readers"))
            .max()
            .unwrap_or(Nanos(0));
        let start = ready.max(node_free[node.0]);
        let finish = start + p.layers[l].time[node.0];
        node_free[node.0] = finish;
        for &ti in &outputs_of[l] {
            send(ti, node, finish, &mut avail);
        }
    }
    p.tensors
        .iter()
        .enumerate()
        .filter(|(_, t)| t.graph_output)
        .map(|(ti, _)| avail[ti][p.device.0].expect("outputs return to the device"))
        .max()
        .unwrap_or(Nanos(0))
}
