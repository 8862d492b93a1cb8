use crate::net::{Links, Net};
use crate::tiled_stage::{expand, expanded_placement};
use crate::{Plan, TiledStage};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
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

/// One hop of a tensor's route, priced for that tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Hop {
    from: NodeId,
    to: NodeId,
    /// Time the link is busy with the tensor.
    occupancy: Nanos,
    /// The link's fixed delay per message.
    latency: Nanos,
}

/// A tensor's route between two nodes: up to two priced hops.
#[derive(Debug, Clone, Copy)]
struct RouteEntry {
    len: usize,
    hops: [Hop; 2],
}

/// Codes of [`Priced::relay`] besides a relay node's index.
const UNASKED: u8 = u8::MAX;
const DIRECT: u8 = u8::MAX - 1;
const NO_ROUTE: u8 = u8::MAX - 2;
/// Nodes a [`Priced`] net can route through (the codes above take the last values of a byte).
const MAX_NODES: usize = NO_ROUTE as usize;

/// A net with its tensors' routes and link times remembered as they are asked for, so scoring
/// a placement searches no route and prices no transfer twice. Nine bytes per tensor and pair
/// of nodes.
pub(crate) struct Priced {
    pub net: Net,
    /// How tensor `t` goes from node `a` to `b`, at `(t * nodes + a) * nodes + b`.
    relay: Vec<u8>,
    /// Time the link `a -> b` is busy with tensor `t`, at the same index; `Nanos(u64::MAX)`
    /// until asked.
    occupancy: Vec<Nanos>,
}

impl Priced {
    pub fn new(net: Net) -> Priced {
        let pairs = net.tensors() * net.nodes * net.nodes;
        assert!(net.nodes <= MAX_NODES, "at most {MAX_NODES} nodes");
        Priced {
            net,
            relay: vec![UNASKED; pairs],
            occupancy: vec![Nanos(u64::MAX); pairs],
        }
    }

    fn index(&self, t: usize, a: NodeId, b: NodeId) -> usize {
        (t * self.net.nodes + a.0) * self.net.nodes + b.0
    }

    /// The hop `a -> b` of tensor `t`, priced.
    fn hop(&mut self, links: &Links, t: usize, a: NodeId, b: NodeId) -> Hop {
        let i = self.index(t, a, b);
        let link = links.hop((a, b));
        if self.occupancy[i] == Nanos(u64::MAX) {
            self.occupancy[i] = link.occupancy(self.net.bytes[t]);
        }
        Hop {
            from: a,
            to: b,
            occupancy: self.occupancy[i],
            latency: link.latency,
        }
    }

    /// Tensor `t`'s route from `from` to another node `to` (no hops when there is no route).
    fn route(&mut self, links: &Links, t: usize, from: NodeId, to: NodeId) -> RouteEntry {
        let i = self.index(t, from, to);
        if self.relay[i] == UNASKED {
            self.relay[i] = match links.route(from, to, self.net.bytes[t]) {
                None => NO_ROUTE,
                Some((_, 1)) => DIRECT,
                Some((hops, _)) => hops[0].1 .0 as u8,
            };
        }
        let mut entry = RouteEntry {
            len: 0,
            hops: [Hop {
                from,
                to,
                occupancy: Nanos(0),
                latency: Nanos(0),
            }; 2],
        };
        match self.relay[i] {
            NO_ROUTE => {}
            DIRECT => {
                entry.hops[0] = self.hop(links, t, from, to);
                entry.len = 1;
            }
            mid => {
                let mid = NodeId(mid as usize);
                entry.hops = [self.hop(links, t, from, mid), self.hop(links, t, mid, to)];
                entry.len = 2;
            }
        }
        entry
    }
}

/// Everything scoring needs besides the problem, kept between calls so scoring a candidate
/// allocates nothing.
#[derive(Debug, Default)]
struct Scratch {
    /// Hops of every tensor: tensor `t`'s are `hops[hop_at[t]..hop_at[t + 1]]`.
    hops: Vec<Hop>,
    hop_at: Vec<usize>,
    dest: Vec<bool>,
    compute: Vec<Nanos>,
    /// Per link, by `from * nodes + to`.
    busy: Vec<Nanos>,
    bytes: Vec<Bytes>,
    messages: Vec<usize>,
    node_free: Vec<Nanos>,
    link_free: Vec<Nanos>,
    /// When tensor `t` is present on node `n`, at `t * nodes + n`; [`ABSENT`] before.
    avail: Vec<Nanos>,
    /// The placement of an expanded plan.
    placement: Vec<NodeId>,
}

const ABSENT: Nanos = Nanos(u64::MAX);

fn reset<T: Clone>(v: &mut Vec<T>, len: usize, value: T) {
    v.clear();
    v.resize(len, value);
}

impl Scratch {
    /// For each tensor, the hops it travels: from its producer's node to every node that reads
    /// it, plus back to the device when it is a graph output; the union of their routes in
    /// destination order, so a hop shared by several destinations is paid once.
    fn route(&mut self, links: &Links, priced: &mut Priced, placement: &[NodeId]) {
        self.hops.clear();
        self.hop_at.clear();
        self.hop_at.push(0);
        let nodes = priced.net.nodes;
        for t in 0..priced.net.tensors() {
            let net = &priced.net;
            let from = net.producer[t].map_or(net.device, |l| placement[l]);
            reset(&mut self.dest, nodes, false);
            for &c in net.consumers.row(t) {
                self.dest[placement[c].0] = true;
            }
            if net.graph_output[t] {
                self.dest[net.device.0] = true;
            }
            self.dest[from.0] = false;
            let first = self.hops.len();
            for d in 0..nodes {
                if !self.dest[d] {
                    continue;
                }
                let entry = priced.route(links, t, from, NodeId(d));
                for hop in &entry.hops[..entry.len] {
                    let seen = self.hops[first..]
                        .iter()
                        .any(|h| (h.from, h.to) == (hop.from, hop.to));
                    if !seen {
                        self.hops.push(*hop);
                    }
                }
            }
            self.hop_at.push(self.hops.len());
        }
    }

    /// Compute per node and traffic per link for one frame, after [`Scratch::route`]; returns
    /// the summed transfer time.
    fn load(&mut self, net: &Net, placement: &[NodeId]) -> Nanos {
        let n = net.nodes;
        reset(&mut self.compute, n, Nanos(0));
        for (l, &node) in placement.iter().enumerate() {
            self.compute[node.0] += net.time(l, node);
        }
        reset(&mut self.busy, n * n, Nanos(0));
        reset(&mut self.bytes, n * n, Bytes(0));
        reset(&mut self.messages, n * n, 0);
        let mut transfer_sum = Nanos(0);
        for t in 0..net.tensors() {
            for i in self.hop_at[t]..self.hop_at[t + 1] {
                let hop = self.hops[i];
                transfer_sum += hop.latency + hop.occupancy;
                let k = hop.from.0 * n + hop.to.0;
                self.busy[k] += hop.occupancy;
                self.bytes[k] += net.bytes[t];
                self.messages[k] += 1;
            }
        }
        transfer_sum
    }

    /// The busiest node's compute or the busiest link's transfer time, after
    /// [`Scratch::load`].
    fn period(&self) -> Nanos {
        self.compute
            .iter()
            .chain(&self.busy)
            .copied()
            .max()
            .unwrap_or(Nanos(0))
    }

    /// Tensor `t`, present on `at` from `ready`, sent along its hops.
    fn send(&mut self, n: usize, t: usize, at: NodeId, ready: Nanos) {
        self.avail[t * n + at.0] = ready;
        for i in self.hop_at[t]..self.hop_at[t + 1] {
            let hop = self.hops[i];
            let present = self.avail[t * n + hop.from.0];
            debug_assert!(present != ABSENT, "hops follow the route");
            let link = hop.from.0 * n + hop.to.0;
            let busy_until = present.max(self.link_free[link]) + hop.occupancy;
            self.link_free[link] = busy_until;
            let slot = &mut self.avail[t * n + hop.to.0];
            *slot = (*slot).min(busy_until + hop.latency);
        }
    }

    /// List scheduling of one frame in topological order (see [`Prediction::makespan`]), after
    /// [`Scratch::route`].
    fn makespan(&mut self, net: &Net, placement: &[NodeId]) -> Nanos {
        let n = net.nodes;
        reset(&mut self.node_free, n, Nanos(0));
        reset(&mut self.link_free, n * n, Nanos(0));
        reset(&mut self.avail, net.tensors() * n, ABSENT);
        for t in 0..net.tensors() {
            if net.producer[t].is_none() {
                self.send(n, t, net.device, Nanos(0));
            }
        }
        for (l, &node) in placement.iter().enumerate() {
            let mut ready = Nanos(0);
            for &t in net.inputs.row(l) {
                let at = self.avail[t * n + node.0];
                debug_assert!(at != ABSENT, "inputs routed to their readers");
                ready = ready.max(at);
            }
            let finish = ready.max(self.node_free[node.0]) + net.time(l, node);
            self.node_free[node.0] = finish;
            for &t in net.outputs.row(l) {
                self.send(n, t, node, finish);
            }
        }
        (0..net.tensors())
            .filter(|&t| net.graph_output[t])
            .map(|t| self.avail[t * n + net.device.0])
            .max()
            .unwrap_or(Nanos(0))
    }
}

/// How many tiled expansions a [`Scorer`] keeps: searches score runs of candidates that share
/// their tiled stages and differ in the untiled layers' placement.
const EXPANSIONS_KEPT: usize = 8;

/// A plan's tiled stages expanded: the net, and the node of every tile and gather layer.
struct Expansion {
    tiled: Vec<TiledStage>,
    priced: Priced,
    pinned: Vec<Option<NodeId>>,
}

/// Scores plans of one problem, again and again: the problem's [`Net`] and the links are built
/// once, routes are priced once per tensor and pair of nodes, the last few tiled expansions are
/// kept, and scoring an untiled placement allocates nothing. [`evaluate`] is one call of it.
pub(crate) struct Scorer<'p> {
    p: &'p Problem,
    links: Links,
    base: Priced,
    expansions: Vec<Expansion>,
    scratch: Scratch,
}

/// What a score is wanted for.
#[derive(Clone, Copy, PartialEq)]
enum Figure {
    Makespan,
    Period,
    LatencySum,
}

impl<'p> Scorer<'p> {
    pub fn new(p: &'p Problem) -> Scorer<'p> {
        Scorer {
            p,
            links: Links::new(p),
            base: Priced::new(Net::of(p)),
            expansions: Vec::new(),
            scratch: Scratch::default(),
        }
    }

    /// The problem's own net (no tiles).
    pub fn net(&self) -> &Net {
        &self.base.net
    }

    /// Routes the plan on its net (the problem's, or its tiled expansion, kept for the next
    /// call) and returns that net with the placement on it in `scratch.placement` when tiled.
    fn prepare(&mut self, plan: &Plan) -> Option<usize> {
        if plan.tiled.is_empty() {
            self.scratch
                .route(&self.links, &mut self.base, &plan.placement);
            return None;
        }
        let i = match self.expansions.iter().position(|e| e.tiled == plan.tiled) {
            Some(i) => i,
            None => {
                let (net, pinned) = expand(self.p, &self.base.net, plan)
                    .expect("plans are validated before scoring");
                if self.expansions.len() == EXPANSIONS_KEPT {
                    self.expansions.remove(0);
                }
                self.expansions.push(Expansion {
                    tiled: plan.tiled.clone(),
                    priced: Priced::new(net),
                    pinned,
                });
                self.expansions.len() - 1
            }
        };
        let e = &mut self.expansions[i];
        self.scratch.placement.clear();
        let placed = expanded_placement(&e.priced.net, &e.pinned, &plan.placement);
        self.scratch.placement.extend(placed);
        let placement = std::mem::take(&mut self.scratch.placement);
        self.scratch.route(&self.links, &mut e.priced, &placement);
        self.scratch.placement = placement;
        Some(i)
    }

    /// `figure` of a plan, tiled stages included.
    fn figure(&mut self, plan: &Plan, figure: Figure) -> Nanos {
        let tiled = self.prepare(plan);
        let expanded = std::mem::take(&mut self.scratch.placement);
        let (net, placement) = match tiled {
            Some(i) => (&self.expansions[i].priced.net, expanded.as_slice()),
            None => (&self.base.net, plan.placement.as_slice()),
        };
        let value = self.scratch.figure(net, placement, figure);
        self.scratch.placement = expanded;
        value
    }

    /// `figure` of an untiled placement.
    fn figure_of(&mut self, placement: &[NodeId], figure: Figure) -> Nanos {
        self.scratch.route(&self.links, &mut self.base, placement);
        self.scratch.figure(&self.base.net, placement, figure)
    }

    /// One frame's makespan of an untiled placement.
    pub fn makespan_of(&mut self, placement: &[NodeId]) -> Nanos {
        self.figure_of(placement, Figure::Makespan)
    }

    /// The pipelined period of an untiled placement.
    pub fn period_of(&mut self, placement: &[NodeId]) -> Nanos {
        self.figure_of(placement, Figure::Period)
    }

    /// The summed latency of an untiled placement.
    pub fn latency_sum_of(&mut self, placement: &[NodeId]) -> Nanos {
        self.figure_of(placement, Figure::LatencySum)
    }

    /// One frame's makespan of a plan, tiled stages included.
    pub fn makespan(&mut self, plan: &Plan) -> Nanos {
        self.figure(plan, Figure::Makespan)
    }

    /// The pipelined period of a plan, tiled stages included.
    pub fn period(&mut self, plan: &Plan) -> Nanos {
        self.figure(plan, Figure::Period)
    }

    /// Every figure of a plan.
    pub fn evaluate(&mut self, plan: &Plan) -> Prediction {
        let tiled = self.prepare(plan);
        let expanded = std::mem::take(&mut self.scratch.placement);
        let (net, placement) = match tiled {
            Some(i) => (&self.expansions[i].priced.net, expanded.as_slice()),
            None => (&self.base.net, plan.placement.as_slice()),
        };
        let prediction = self.scratch.prediction(net, placement);
        self.scratch.placement = expanded;
        prediction
    }
}

impl Scratch {
    /// One figure of a routed placement.
    fn figure(&mut self, net: &Net, placement: &[NodeId], figure: Figure) -> Nanos {
        match figure {
            Figure::Makespan => self.makespan(net, placement),
            Figure::Period => {
                self.load(net, placement);
                self.period()
            }
            Figure::LatencySum => {
                let transfers = self.load(net, placement);
                self.compute.iter().copied().sum::<Nanos>() + transfers
            }
        }
    }

    /// Every figure of a routed placement.
    fn prediction(&mut self, net: &Net, placement: &[NodeId]) -> Prediction {
        let transfer_sum = self.load(net, placement);
        let period = self.period();
        let makespan = self.makespan(net, placement);
        let n = net.nodes;
        let links: Vec<LinkLoad> = (0..n * n)
            .filter(|&k| self.messages[k] > 0)
            .map(|k| LinkLoad {
                from: NodeId(k / n),
                to: NodeId(k % n),
                bytes: self.bytes[k],
                messages: self.messages[k],
                busy: self.busy[k],
            })
            .collect();
        let backbone_bytes = links
            .iter()
            .filter(|l| Tier::is_backbone(net.tiers[l.from.0], net.tiers[l.to.0]))
            .map(|l| l.bytes)
            .sum();
        Prediction {
            latency_sum: self.compute.iter().copied().sum::<Nanos>() + transfer_sum,
            makespan,
            period,
            throughput_fps: if period.0 == 0 {
                f64::INFINITY
            } else {
                1e9 / period.0 as f64
            },
            compute: self.compute.clone(),
            links,
            backbone_bytes,
        }
    }
}

/// Scores a plan. The plan must be valid for the problem (see [`Plan::validate`]): an
/// invalid tiled stage panics. Planners that score many candidates keep a `Scorer`.
pub fn evaluate(p: &Problem, plan: &Plan) -> Prediction {
    Scorer::new(p).evaluate(plan)
}
