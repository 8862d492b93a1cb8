//! One frame's schedule of a placement on a net, the one cost model every plan is scored
//! with: hops per tensor, compute per node, traffic per link and per shared radio, the
//! pipelined period and the list schedule's makespan, in buffers kept between calls.
//!
//! A node with a radio ([`tiersplit_cost::ProblemNode::uplink`]) puts everything it sends, over
//! any link, through it: a hop starts when its link and its sender's radio are both free, holds
//! the radio for its bytes at the radio's rate and the link for its bytes at the link's (never
//! quicker), so transfers that overlap on a radio take turns in first-come order, as they do on
//! a link, while slow links under a fast radio still run side by side.

use crate::net::{Links, Net};
use crate::priced::{tensor_hops, Hop, Priced};
use crate::{LinkLoad, Prediction};
use tiersplit_cost::{Nanos, NodeId, Tier};
use tiersplit_graph::Bytes;

/// Everything scoring needs besides the problem, kept between calls so scoring a candidate
/// allocates nothing.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// Hops of every tensor: tensor `t`'s are `hops[hop_at[t]..hop_at[t + 1]]`.
    pub(crate) hops: Vec<Hop>,
    pub(crate) hop_at: Vec<usize>,
    pub(crate) dest: Vec<bool>,
    pub(crate) compute: Vec<Nanos>,
    /// Per link, by `from * nodes + to`.
    pub(crate) busy: Vec<Nanos>,
    /// Per node, the time its radio is busy (zero for nodes without one).
    pub(crate) radio_busy: Vec<Nanos>,
    pub(crate) bytes: Vec<Bytes>,
    pub(crate) messages: Vec<usize>,
    pub(crate) node_free: Vec<Nanos>,
    pub(crate) link_free: Vec<Nanos>,
    /// Per node, when its radio is next free.
    pub(crate) radio_free: Vec<Nanos>,
    /// When tensor `t` is present on node `n`, at `t * nodes + n`; [`ABSENT`] before.
    pub(crate) avail: Vec<Nanos>,
    /// The placement of an expanded plan.
    pub(crate) placement: Vec<NodeId>,
}

/// What a score is wanted for.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Figure {
    Makespan,
    Period,
    LatencySum,
}

/// In [`Scratch::avail`]: the tensor is not on that node (yet).
pub(crate) const ABSENT: Nanos = Nanos(u64::MAX);

pub(crate) fn reset<T: Clone>(v: &mut Vec<T>, len: usize, value: T) {
    v.clear();
    v.resize(len, value);
}

impl Scratch {
    /// For each tensor, the hops it travels: from its producer's node to every node that reads
    /// it, plus back to the device when it is a graph output; the union of their routes in
    /// destination order, so a hop shared by several destinations is paid once.
    pub(crate) fn route(&mut self, links: &Links, priced: &mut Priced, placement: &[NodeId]) {
        self.hops.clear();
        self.hop_at.clear();
        self.hop_at.push(0);
        self.route_from(links, priced, placement, 0);
    }

    /// [`Scratch::route`] for tensors `from..`, after the hops of those before.
    pub(crate) fn route_from(
        &mut self,
        links: &Links,
        priced: &mut Priced,
        placement: &[NodeId],
        from: usize,
    ) {
        debug_assert_eq!(self.hop_at.len(), from + 1);
        for t in from..priced.net.tensors() {
            tensor_hops(links, priced, placement, t, &mut self.dest, &mut self.hops);
            self.hop_at.push(self.hops.len());
        }
    }

    /// Compute per node and traffic per link for one frame, after [`Scratch::route`]; returns
    /// the summed transfer time.
    pub(crate) fn load(&mut self, net: &Net, placement: &[NodeId]) -> Nanos {
        let n = net.nodes;
        reset(&mut self.compute, n, Nanos(0));
        for (l, &node) in placement.iter().enumerate() {
            self.compute[node.0] += net.time(l, node);
        }
        reset(&mut self.busy, n * n, Nanos(0));
        reset(&mut self.radio_busy, n, Nanos(0));
        reset(&mut self.bytes, n * n, Bytes(0));
        reset(&mut self.messages, n * n, 0);
        let mut transfer_sum = Nanos(0);
        for t in 0..net.tensors() {
            for i in self.hop_at[t]..self.hop_at[t + 1] {
                let hop = self.hops[i];
                transfer_sum += hop.latency + hop.occupancy;
                let k = hop.from.0 * n + hop.to.0;
                self.busy[k] += hop.occupancy;
                self.radio_busy[hop.from.0] += hop.airtime;
                self.bytes[k] += net.bytes[t];
                self.messages[k] += 1;
            }
        }
        transfer_sum
    }

    /// The busiest node's compute, or the busiest link's or radio's transfer time, after
    /// [`Scratch::load`].
    pub(crate) fn period(&self) -> Nanos {
        self.compute
            .iter()
            .chain(&self.busy)
            .chain(&self.radio_busy)
            .copied()
            .max()
            .unwrap_or(Nanos(0))
    }

    /// Tensor `t`, present on `at` from `ready`, sent along its hops.
    pub(crate) fn send(&mut self, radio: &[bool], t: usize, at: NodeId, ready: Nanos) {
        let n = radio.len();
        self.avail[t * n + at.0] = ready;
        for i in self.hop_at[t]..self.hop_at[t + 1] {
            let hop = self.hops[i];
            let present = self.avail[t * n + hop.from.0];
            debug_assert!(present != ABSENT, "hops follow the route");
            let link = hop.from.0 * n + hop.to.0;
            let mut start = present.max(self.link_free[link]);
            if radio[hop.from.0] {
                start = start.max(self.radio_free[hop.from.0]);
            }
            let busy_until = start + hop.occupancy;
            self.link_free[link] = busy_until;
            if radio[hop.from.0] {
                self.radio_free[hop.from.0] = start + hop.airtime;
            }
            let slot = &mut self.avail[t * n + hop.to.0];
            *slot = (*slot).min(busy_until + hop.latency);
        }
    }

    /// List scheduling of one frame in topological order (see [`Prediction::makespan`]), after
    /// [`Scratch::route`].
    pub(crate) fn makespan(&mut self, net: &Net, placement: &[NodeId]) -> Nanos {
        self.start(net);
        self.run(net, placement, 0, None);
        self.end(net)
    }

    /// Before any layer runs: nodes and links idle, the graph inputs sent from the device.
    pub(crate) fn start(&mut self, net: &Net) {
        let n = net.nodes;
        reset(&mut self.node_free, n, Nanos(0));
        reset(&mut self.link_free, n * n, Nanos(0));
        reset(&mut self.radio_free, n, Nanos(0));
        reset(&mut self.avail, net.tensors() * n, ABSENT);
        for t in 0..net.tensors() {
            if net.producer[t].is_none() {
                self.send(&net.radio, t, net.device, Nanos(0));
            }
        }
    }

    /// Runs layers `from..` in order, each when its inputs are in and its node is free, and
    /// sends its outputs; `clocks` records the node and link clocks before each layer.
    pub(crate) fn run(
        &mut self,
        net: &Net,
        placement: &[NodeId],
        from: usize,
        mut clocks: Option<&mut Clocks>,
    ) {
        let n = net.nodes;
        for (l, &node) in placement.iter().enumerate().skip(from) {
            if let Some(c) = clocks.as_mut() {
                c.nodes.extend_from_slice(&self.node_free);
                c.links.extend_from_slice(&self.link_free);
                c.radios.extend_from_slice(&self.radio_free);
            }
            let mut ready = Nanos(0);
            for &t in net.inputs.row(l) {
                let at = self.avail[t * n + node.0];
                debug_assert!(at != ABSENT, "inputs routed to their readers");
                ready = ready.max(at);
            }
            let finish = ready.max(self.node_free[node.0]) + net.time(l, node);
            self.node_free[node.0] = finish;
            for &t in net.outputs.row(l) {
                self.send(&net.radio, t, node, finish);
            }
        }
    }

    /// When the last graph output is back on the device.
    pub(crate) fn end(&self, net: &Net) -> Nanos {
        let n = net.nodes;
        (0..net.tensors())
            .filter(|&t| net.graph_output[t])
            .map(|t| self.avail[t * n + net.device.0])
            .max()
            .unwrap_or(Nanos(0))
    }
}

/// Node, link and radio clocks before every layer of one schedule: `nodes[l * n..]`,
/// `links[l * n * n..]` and `radios[l * n..]` before layer `l`.
#[derive(Debug, Default)]
pub(crate) struct Clocks {
    pub(crate) nodes: Vec<Nanos>,
    pub(crate) links: Vec<Nanos>,
    pub(crate) radios: Vec<Nanos>,
}

impl Clocks {
    pub(crate) fn clear(&mut self) {
        self.nodes.clear();
        self.links.clear();
        self.radios.clear();
    }
}

impl Scratch {
    /// One figure of a routed placement.
    pub(crate) fn figure(&mut self, net: &Net, placement: &[NodeId], figure: Figure) -> Nanos {
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
    pub(crate) fn prediction(&mut self, net: &Net, placement: &[NodeId]) -> Prediction {
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
            radio_busy: if net.has_radios() {
                self.radio_busy.clone()
            } else {
                Vec::new()
            },
            links,
            backbone_bytes,
            memory: net.memory_use(placement),
        }
    }
}
