//! The evaluator's view of a problem: numbers in flat arrays (layer times, tensor sizes,
//! producers and readers in compressed rows, links in a node-by-node matrix), with no names, so
//! a plan's tiled expansion costs a few vector pushes and scoring a placement allocates
//! nothing. Planners score thousands of candidates; [`Problem`]'s owned strings and per-layer
//! vectors made allocation most of that time.

use crate::PlanError;
use tiersplit_cost::{Bandwidth, LinkCost, Nanos, NodeId, Problem, Tier};
use tiersplit_graph::Bytes;

/// Directed links by (from, to), and the routing [`Problem::route`] defines.
#[derive(Debug, Clone)]
pub(crate) struct Links {
    n: usize,
    cost: Vec<Option<LinkCost>>,
    /// Each node's radio, when it has one.
    uplink: Vec<Option<Bandwidth>>,
}

/// The hops of one route: none (same node), the direct link, or through one relay.
pub(crate) type Route = ([(NodeId, NodeId); 2], usize);

impl Links {
    pub fn new(p: &Problem) -> Links {
        let n = p.nodes.len();
        let mut cost = vec![None; n * n];
        // The first of duplicate links wins, as `Problem::link` finds it. No link runs faster
        // than its sender's radio (problems made from scenarios are capped already).
        for l in p.links.iter().rev() {
            let bandwidth = p.nodes[l.from.0].capped(l.bandwidth);
            cost[l.from.0 * n + l.to.0] = Some(LinkCost { bandwidth, ..*l });
        }
        let uplink = p.nodes.iter().map(|n| n.uplink).collect();
        Links { n, cost, uplink }
    }

    /// Time `from`'s radio is busy sending `bytes` (zero when it has no radio).
    pub fn airtime(&self, from: NodeId, bytes: Bytes) -> Nanos {
        self.uplink[from.0].map_or(Nanos(0), |r| r.time_for(bytes))
    }

    /// The direct link `a -> b`.
    pub fn get(&self, a: NodeId, b: NodeId) -> Option<&LinkCost> {
        self.cost[a.0 * self.n + b.0].as_ref()
    }

    /// The link of a hop a route uses.
    pub fn hop(&self, (a, b): (NodeId, NodeId)) -> &LinkCost {
        self.get(a, b).expect("routes use links")
    }

    /// The same choice as [`Problem::route`]: the direct link, or the quickest path through one
    /// relay when that is quicker or there is no direct link (the first such relay on a tie).
    pub fn route(&self, from: NodeId, to: NodeId, bytes: Bytes) -> Option<Route> {
        let none = (NodeId(0), NodeId(0));
        if from == to {
            return Some(([none; 2], 0));
        }
        let mut best: Option<(Nanos, Route)> = self
            .get(from, to)
            .map(|l| (l.time(bytes), ([(from, to), none], 1)));
        for mid in (0..self.n).map(NodeId).filter(|&m| m != from && m != to) {
            if let (Some(a), Some(b)) = (self.get(from, mid), self.get(mid, to)) {
                let t = a.time(bytes) + b.time(bytes);
                if best.as_ref().is_none_or(|(bt, _)| t < *bt) {
                    best = Some((t, ([(from, mid), (mid, to)], 2)));
                }
            }
        }
        best.map(|(_, r)| r)
    }
}

/// Compressed rows: row `i` is `items[at[i]..at[i + 1]]`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rows {
    at: Vec<usize>,
    items: Vec<usize>,
}

impl Rows {
    fn new() -> Rows {
        Rows {
            at: vec![0],
            items: Vec::new(),
        }
    }

    fn push_row(&mut self, row: impl IntoIterator<Item = usize>) {
        self.items.extend(row);
        self.at.push(self.items.len());
    }

    pub fn row(&self, i: usize) -> &[usize] {
        &self.items[self.at[i]..self.at[i + 1]]
    }

    /// Rows of the transposed relation: for every target, the sources listing it, in source
    /// order.
    fn transposed(pairs: impl Iterator<Item = (usize, usize)> + Clone, rows: usize) -> Rows {
        let mut count = vec![0usize; rows + 1];
        for (_, target) in pairs.clone() {
            count[target + 1] += 1;
        }
        for i in 0..rows {
            count[i + 1] += count[i];
        }
        let mut items = vec![0; count[rows]];
        let mut next = count.clone();
        for (source, target) in pairs {
            items[next[target]] = source;
            next[target] += 1;
        }
        Rows { at: count, items }
    }
}

/// A problem, or the expansion of a plan's tiled stages, as the evaluator reads it.
#[derive(Debug, Clone)]
pub(crate) struct Net {
    pub nodes: usize,
    pub device: NodeId,
    pub tiers: Vec<Tier>,
    /// Time of layer `l` on node `n` at `l * nodes + n`.
    pub time: Vec<Nanos>,
    /// The problem layer each layer stands for (itself, or the stage a tile belongs to).
    pub layer_origin: Vec<usize>,
    /// Bytes of weights the node running each layer holds (a tile: its whole stage's).
    pub weights: Vec<Bytes>,
    /// Memory of each node, when limited.
    pub memory: Vec<Option<Bytes>>,
    /// Whether everything each node sends shares one radio (its transfers take turns on it).
    pub radio: Vec<bool>,
    pub bytes: Vec<Bytes>,
    pub producer: Vec<Option<usize>>,
    pub graph_output: Vec<bool>,
    /// The problem tensor each tensor stands for (itself, or the map a tile cuts).
    pub tensor_origin: Vec<usize>,
    /// (height, width) of each tensor when it is an NCHW map.
    pub hw: Vec<Option<(u64, u64)>>,
    pub consumers: Rows,
    /// See [`Net::tensors_from`]; empty in a tiled expansion.
    first_from: Vec<usize>,
    /// Tensors each layer reads and writes, in tensor order.
    pub inputs: Rows,
    pub outputs: Rows,
}

impl Net {
    /// The problem as it is, no tiles, with its tensors ordered by producer (graph inputs
    /// first, otherwise in the problem's order), so the tensors a layer and those after it
    /// produce are one run at the end (see [`Net::tensors_from`]).
    pub fn of(p: &Problem) -> Net {
        let mut b = NetBuilder::new(p);
        for (l, layer) in p.layers.iter().enumerate() {
            b.layer(l, layer.weights, layer.time.iter().copied());
        }
        let mut order: Vec<usize> = (0..p.tensors.len()).collect();
        order.sort_by_key(|&t| p.tensors[t].producer.map_or(0, |l| l + 1));
        for ti in order {
            let t = &p.tensors[ti];
            b.tensor(ti, t.bytes, t.producer, t.graph_output, t.hw, &t.consumers);
        }
        let mut net = b.finish();
        net.first_from = (0..=p.layers.len())
            .map(|k| net.producer.partition_point(|u| u.is_none_or(|u| u < k)))
            .collect();
        net
    }

    /// The index of the first tensor produced by layer `k` or a later one: in a net made by
    /// [`Net::of`], those tensors are `tensors_from(k)..`.
    pub fn tensors_from(&self, k: usize) -> usize {
        self.first_from[k]
    }

    pub fn layers(&self) -> usize {
        self.layer_origin.len()
    }

    pub fn tensors(&self) -> usize {
        self.bytes.len()
    }

    pub fn time(&self, l: usize, n: NodeId) -> Nanos {
        self.time[l * self.nodes + n.0]
    }

    /// Whether any node sends through a shared radio.
    pub fn has_radios(&self) -> bool {
        self.radio.iter().any(|&r| r)
    }

    /// Whether any node's memory is limited.
    pub fn limits_memory(&self) -> bool {
        self.memory.iter().any(Option::is_some)
    }

    /// Bytes each node holds for one frame of `placement`: the weights of the layers it runs,
    /// plus the peak, over the layer order, of the activations live on it. A tensor is live on
    /// a node from the layer that makes it there (the start, for graph inputs on the device)
    /// or its first reader there, to its last reader there; graph outputs are held on the
    /// device at the end.
    pub fn memory_use(&self, placement: &[NodeId]) -> Vec<Bytes> {
        let (n, layers) = (self.nodes, self.layers());
        let mut held = vec![0u64; n];
        for (l, node) in placement.iter().enumerate() {
            held[node.0] = held[node.0].saturating_add(self.weights[l].0);
        }
        // Per node, bytes that become live at step i and stop being live after it.
        let steps = layers + 1;
        let mut change = vec![0i128; n * (steps + 1)];
        let mut span: Vec<Option<(usize, usize)>> = vec![None; n];
        for t in 0..self.tensors() {
            span.iter_mut().for_each(|s| *s = None);
            let mut touch = |node: NodeId, step: usize| {
                let s = &mut span[node.0];
                *s = Some(s.map_or((step, step), |(a, b)| (a.min(step), b.max(step))));
            };
            match self.producer[t] {
                Some(u) => touch(placement[u], u),
                None => touch(self.device, 0),
            }
            for &c in self.consumers.row(t) {
                touch(placement[c], c);
            }
            if self.graph_output[t] {
                touch(self.device, layers);
            }
            for (node, s) in span.iter().enumerate() {
                if let Some((a, b)) = *s {
                    change[node * (steps + 1) + a] += self.bytes[t].0 as i128;
                    change[node * (steps + 1) + b + 1] -= self.bytes[t].0 as i128;
                }
            }
        }
        (0..n)
            .map(|node| {
                let mut live = 0i128;
                let mut peak = 0i128;
                for step in 0..steps {
                    live += change[node * (steps + 1) + step];
                    peak = peak.max(live);
                }
                Bytes(held[node].saturating_add(peak as u64))
            })
            .collect()
    }

    /// The first node whose memory `placement` exceeds, with what it would hold.
    pub fn over_memory(&self, placement: &[NodeId]) -> Option<(NodeId, Bytes, Bytes)> {
        if !self.limits_memory() {
            return None;
        }
        let used = self.memory_use(placement);
        (0..self.nodes).find_map(|i| match self.memory[i] {
            Some(has) if used[i] > has => Some((NodeId(i), used[i], has)),
            _ => None,
        })
    }

    /// No tensor flows to a lower tier than its producer's node (see [`crate::Plan::validate`]).
    pub fn check_tiers(&self, p: &Problem, placement: &[NodeId]) -> Result<(), PlanError> {
        for t in 0..self.tensors() {
            let from = self.producer[t].map_or(self.device, |l| placement[l]);
            for &c in self.consumers.row(t) {
                let to = placement[c];
                if self.tiers[to.0] < self.tiers[from.0] {
                    return Err(PlanError::Backward {
                        tensor: p.tensors[self.tensor_origin[t]].name.clone(),
                        consumer: p.layers[self.layer_origin[c]].name.clone(),
                        consumer_tier: self.tiers[to.0].to_string(),
                        producer_tier: self.tiers[from.0].to_string(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Builds a [`Net`] layer by layer and tensor by tensor.
pub(crate) struct NetBuilder {
    net: Net,
}

impl NetBuilder {
    pub fn new(p: &Problem) -> NetBuilder {
        NetBuilder {
            net: Net {
                nodes: p.nodes.len(),
                device: p.device,
                tiers: p.nodes.iter().map(|n| n.tier).collect(),
                weights: Vec::with_capacity(p.layers.len()),
                memory: p.nodes.iter().map(|n| n.memory).collect(),
                radio: p.nodes.iter().map(|n| n.uplink.is_some()).collect(),
                time: Vec::with_capacity(p.layers.len() * p.nodes.len()),
                layer_origin: Vec::with_capacity(p.layers.len()),
                bytes: Vec::with_capacity(p.tensors.len()),
                producer: Vec::with_capacity(p.tensors.len()),
                graph_output: Vec::with_capacity(p.tensors.len()),
                tensor_origin: Vec::with_capacity(p.tensors.len()),
                hw: Vec::with_capacity(p.tensors.len()),
                consumers: Rows::new(),
                first_from: Vec::new(),
                inputs: Rows::default(),
                outputs: Rows::default(),
            },
        }
    }

    /// Adds a layer standing for problem layer `origin`, holding `weights`; returns its index.
    pub fn layer(
        &mut self,
        origin: usize,
        weights: Bytes,
        time: impl IntoIterator<Item = Nanos>,
    ) -> usize {
        self.net.time.extend(time);
        self.net.layer_origin.push(origin);
        self.net.weights.push(weights);
        debug_assert_eq!(
            self.net.time.len(),
            self.net.layer_origin.len() * self.net.nodes
        );
        self.net.layer_origin.len() - 1
    }

    /// Adds a tensor standing for problem tensor `origin`.
    pub fn tensor(
        &mut self,
        origin: usize,
        bytes: Bytes,
        producer: Option<usize>,
        graph_output: bool,
        hw: Option<(u64, u64)>,
        consumers: &[usize],
    ) {
        let n = &mut self.net;
        n.tensor_origin.push(origin);
        n.bytes.push(bytes);
        n.producer.push(producer);
        n.graph_output.push(graph_output);
        n.hw.push(hw);
        n.consumers.push_row(consumers.iter().copied());
    }

    pub fn finish(mut self) -> Net {
        let n = &mut self.net;
        let layers = n.layer_origin.len();
        let (consumers, producer) = (&n.consumers, &n.producer);
        let reads = (0..producer.len()).flat_map(|t| consumers.row(t).iter().map(move |&c| (t, c)));
        let inputs = Rows::transposed(reads, layers);
        let writes = (0..producer.len()).filter_map(|t| producer[t].map(|u| (t, u)));
        let outputs = Rows::transposed(writes, layers);
        (n.inputs, n.outputs) = (inputs, outputs);
        self.net
    }
}
