//! Minimum s-t cuts with petgraph's Dinic max-flow, on integer (nanosecond) capacities.

use petgraph::algo::dinics;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use std::collections::VecDeque;

/// Larger than any finite cut of a real problem, small enough that sums never overflow.
pub(crate) const INF: u64 = 1 << 52;

/// A cut problem over binary variables: a variable on the source side is 0, on the sink side 1.
pub(crate) struct CutGraph {
    g: DiGraph<(), u64>,
    pub s: NodeIndex,
    pub t: NodeIndex,
}

impl CutGraph {
    pub fn new() -> CutGraph {
        let mut g = DiGraph::new();
        let s = g.add_node(());
        let t = g.add_node(());
        CutGraph { g, s, t }
    }

    pub fn var(&mut self) -> NodeIndex {
        self.g.add_node(())
    }

    /// Costs `cap` when `a` is 0 and `b` is 1.
    pub fn edge(&mut self, a: NodeIndex, b: NodeIndex, cap: u64) {
        if cap > 0 && a != b {
            self.g.add_edge(a, b, cap.min(INF));
        }
    }

    /// Adds `slope * v` to the objective (up to a constant, which the cut does not need).
    pub fn linear(&mut self, v: NodeIndex, slope: i128) {
        if slope > 0 {
            self.edge(self.s, v, slope as u64);
        } else if slope < 0 {
            self.edge(v, self.t, (-slope) as u64);
        }
    }

    /// One tier boundary for one tensor: crossing it costs `cost` once however many readers
    /// sit beyond it (an auxiliary vertex, as DADS builds it), and no reader may sit before
    /// the producer (infinite reverse edges). `producer: None` is the raw input, pinned to the
    /// source side.
    pub fn tensor_boundary(
        &mut self,
        vars: &[NodeIndex],
        producer: Option<usize>,
        consumers: &[usize],
        cost: u64,
    ) {
        let aux = self.var();
        let from = producer.map(|u| vars[u]).unwrap_or(self.s);
        self.edge(from, aux, cost);
        for &w in consumers {
            self.edge(aux, vars[w], INF);
            if let Some(u) = producer {
                self.edge(vars[w], vars[u], INF);
            }
        }
    }

    /// Solves; returns the cut value and, for every graph vertex, whether it is 1 (sink side).
    pub fn solve(self) -> (u64, Vec<bool>) {
        let (value, flows) = dinics(&self.g, self.s, self.t);
        // Source side = vertices reachable from s in the residual graph.
        let mut reach = vec![false; self.g.node_count()];
        let mut queue = VecDeque::from([self.s]);
        reach[self.s.index()] = true;
        while let Some(v) = queue.pop_front() {
            for e in self.g.edges_directed(v, petgraph::Direction::Outgoing) {
                if flows[e.id().index()] < *e.weight() && !reach[e.target().index()] {
                    reach[e.target().index()] = true;
                    queue.push_back(e.target());
                }
            }
            for e in self.g.edges_directed(v, petgraph::Direction::Incoming) {
                if flows[e.id().index()] > 0 && !reach[e.source().index()] {
                    reach[e.source().index()] = true;
                    queue.push_back(e.source());
                }
            }
        }
        (value, reach.into_iter().map(|r| !r).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_side_follows_costs() {
        let mut c = CutGraph::new();
        let a = c.var();
        let b = c.var();
        c.linear(a, -5); // a prefers 1
        c.linear(b, 3); // b prefers 0
        c.edge(b, a, INF); // a = 1 forces b = 1
        let (_, side) = c.solve();
        assert!(side[a.index()] && side[b.index()]);
    }
}
