//! Routes and link times of a net's tensors, worked out once per tensor and pair of nodes as
//! scoring asks for them.

use crate::net::{Links, Net};
use crate::schedule::reset;
use tiersplit_cost::{Nanos, NodeId};

/// One hop of a tensor's route, priced for that tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Hop {
    pub(crate) from: NodeId,
    pub(crate) to: NodeId,
    /// Time the link is busy with the tensor.
    pub(crate) occupancy: Nanos,
    /// The link's fixed delay per message.
    pub(crate) latency: Nanos,
    /// Time the sender's radio is busy with the tensor (zero when it has none): its bytes at
    /// the radio's rate, which may be quicker than the link's.
    pub(crate) airtime: Nanos,
}

/// A tensor's route between two nodes: up to two priced hops.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RouteEntry {
    pub(crate) len: usize,
    pub(crate) hops: [Hop; 2],
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
            airtime: links.airtime(a, self.net.bytes[t]),
        }
    }

    /// Tensor `t`'s route from `from` to another node `to` (no hops when there is no route).
    pub(crate) fn route(
        &mut self,
        links: &Links,
        t: usize,
        from: NodeId,
        to: NodeId,
    ) -> RouteEntry {
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
                airtime: Nanos(0),
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

/// Appends tensor `t`'s hops to `hops` (see [`crate::schedule::Scratch::route`]); `dest` is scratch space.
pub(crate) fn tensor_hops(
    links: &Links,
    priced: &mut Priced,
    placement: &[NodeId],
    t: usize,
    dest: &mut Vec<bool>,
    hops: &mut Vec<Hop>,
) {
    let net = &priced.net;
    let from = net.producer[t].map_or(net.device, |l| placement[l]);
    reset(dest, net.nodes, false);
    for &c in net.consumers.row(t) {
        dest[placement[c].0] = true;
    }
    if net.graph_output[t] {
        dest[net.device.0] = true;
    }
    dest[from.0] = false;
    let first = hops.len();
    for (d, _) in dest.iter().enumerate().filter(|(_, &wanted)| wanted) {
        let entry = priced.route(links, t, from, NodeId(d));
        for hop in &entry.hops[..entry.len] {
            let seen = hops[first..]
                .iter()
                .any(|h| (h.from, h.to) == (hop.from, hop.to));
            if !seen {
                hops.push(*hop);
            }
        }
    }
}
