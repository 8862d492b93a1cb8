//! Summed latency of chain placements (a prefix of the topological order on one node, the next
//! run on another, ...) updated incrementally as one layer moves, so that Neurosurgeon's
//! exhaustive search over split points costs O(n * (n + tensors)) instead of a full evaluation
//! per candidate. Transfer costs use the evaluator's own routing, so results are identical.

use crate::evaluate::{hops_time, hops_to};
use tiersplit_cost::{Nanos, NodeId, Problem};

/// A placement over a few candidate nodes (`tiers[k]`), with its summed latency kept current.
pub(crate) struct ChainSweep<'a> {
    p: &'a Problem,
    nodes: Vec<NodeId>,
    /// Index into `nodes` of each layer.
    at: Vec<usize>,
    /// cost[t][from][mask]: transfer time of tensor t produced on nodes[from] with readers on
    /// the nodes whose bits are set in mask (bit k = nodes[k]; the device bit for outputs).
    cost: Vec<Vec<Vec<Nanos>>>,
    /// readers[t][k]: readers of tensor t placed on nodes[k] (plus 1 on the device for outputs).
    readers: Vec<Vec<u32>>,
    tensor_cost: Vec<Nanos>,
    pub total: Nanos,
    /// Tensors each layer produces or reads.
    touching: Vec<Vec<usize>>,
    device_slot: usize,
}

impl<'a> ChainSweep<'a> {
    /// Starts with every layer on `nodes[start]`. `nodes` must contain the device.
    pub fn new(p: &'a Problem, nodes: Vec<NodeId>, start: usize) -> ChainSweep<'a> {
        let k = nodes.len();
        let device_slot = nodes
            .iter()
            .position(|&n| n == p.device)
            .expect("the device is a candidate");
        let cost = p
            .tensors
            .iter()
            .map(|t| {
                (0..k)
                    .map(|from| {
                        (0..1usize << k)
                            .map(|mask| {
                                let dests = (0..k).filter(|b| mask >> b & 1 == 1).map(|b| nodes[b]);
                                hops_time(p, t.bytes, &hops_to(p, t.bytes, nodes[from], dests))
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        let mut touching = vec![Vec::new(); p.layers.len()];
        for (ti, t) in p.tensors.iter().enumerate() {
            if let Some(u) = t.producer {
                touching[u].push(ti);
            }
            for &c in &t.consumers {
                if !touching[c].contains(&ti) {
                    touching[c].push(ti);
                }
            }
        }
        let mut s = ChainSweep {
            p,
            nodes,
            at: vec![start; p.layers.len()],
            cost,
            readers: vec![vec![0; k]; p.tensors.len()],
            tensor_cost: vec![Nanos(0); p.tensors.len()],
            total: Nanos(0),
            touching,
            device_slot,
        };
        for (ti, t) in p.tensors.iter().enumerate() {
            for _ in &t.consumers {
                s.readers[ti][start] += 1;
            }
            if t.graph_output {
                s.readers[ti][device_slot] += 1;
            }
            s.tensor_cost[ti] = s.current_cost(ti);
        }
        s.total = s.tensor_cost.iter().copied().sum::<Nanos>()
            + (0..p.layers.len())
                .map(|l| p.layers[l].time[s.nodes[start].0])
                .sum();
        s
    }

    fn current_cost(&self, ti: usize) -> Nanos {
        let t = &self.p.tensors[ti];
        let from = t.producer.map(|u| self.at[u]).unwrap_or(self.device_slot);
        let mask = self.readers[ti]
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .fold(0usize, |m, (b, _)| m | 1 << b);
        self.cost[ti][from][mask]
    }

    /// Moves `layer` to `nodes[to]`, updating the total.
    pub fn set(&mut self, layer: usize, to: usize) {
        let from = self.at[layer];
        if from == to {
            return;
        }
        let time = &self.p.layers[layer].time;
        self.total = Nanos(self.total.0 - time[self.nodes[from].0].0) + time[self.nodes[to].0];
        for &ti in &self.touching[layer] {
            let reads = self.p.tensors[ti]
                .consumers
                .iter()
                .filter(|&&c| c == layer)
                .count() as u32;
            self.readers[ti][from] -= reads;
            self.readers[ti][to] += reads;
        }
        self.at[layer] = to;
        for i in 0..self.touching[layer].len() {
            let ti = self.touching[layer][i];
            let new = self.current_cost(ti);
            self.total = Nanos(self.total.0 - self.tensor_cost[ti].0) + new;
            self.tensor_cost[ti] = new;
        }
    }
}
