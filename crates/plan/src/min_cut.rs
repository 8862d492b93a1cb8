//! Minimum s-t cuts by push-relabel max-flow on integer (nanosecond) capacities, over flat
//! arrays.
//!
//! Hand-written rather than petgraph's `dinics`: DSH solves dozens of cuts per plan and the
//! combined planner re-plans inside a frame. petgraph's generic Dinic took about 0.2 ms per
//! GoogLeNet cut, and any Dinic needs hundreds to a thousand phases (one breadth-first search
//! each) on the long chains of a 2,400-layer DAG, because augmenting paths there grow by one
//! edge per phase. Push-relabel (first in, first out, with global relabelling and the gap rule)
//! has no phases. The tests hold it to petgraph's flow value and to the same cut.
use std::collections::VecDeque;

/// Larger than any finite cut of a real problem, small enough that sums never overflow.
pub(crate) const INF: u64 = 1 << 52;

/// A vertex of a [`CutGraph`]: a binary variable, the source or the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Var(u32);

impl Var {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A cut problem over binary variables: a variable on the source side is 0, on the sink side 1.
pub(crate) struct CutGraph {
    vertices: u32,
    /// (from, to, capacity) of every edge, in the order added.
    edges: Vec<(u32, u32, u64)>,
    /// What the objective adds to the cut's value (negative slopes of [`CutGraph::linear`]).
    constant: i128,
    pub s: Var,
    pub t: Var,
}

impl CutGraph {
    pub fn new() -> CutGraph {
        CutGraph {
            vertices: 2,
            edges: Vec::new(),
            constant: 0,
            s: Var(0),
            t: Var(1),
        }
    }

    pub fn var(&mut self) -> Var {
        self.vertices += 1;
        Var(self.vertices - 1)
    }

    /// Costs `cap` when `a` is 0 and `b` is 1.
    pub fn edge(&mut self, a: Var, b: Var, cap: u64) {
        if cap > 0 && a != b {
            self.edges.push((a.0, b.0, cap.min(INF)));
        }
    }

    /// Adds `slope * v` to the objective: an edge from the source when positive; when
    /// negative, `slope + (-slope) * (1 - v)`, an edge to the sink and a constant.
    pub fn linear(&mut self, v: Var, slope: i128) {
        if slope > 0 {
            self.edge(self.s, v, slope as u64);
        } else if slope < 0 {
            self.edge(v, self.t, (-slope) as u64);
            self.constant += slope;
        }
    }

    /// The objective of a cut of value `cut`: the cut plus the constants [`CutGraph::linear`]
    /// set aside.
    pub fn objective(&self, cut: u64) -> i128 {
        self.constant + cut as i128
    }

    /// One tier boundary for one tensor: crossing it costs `cost` once however many readers
    /// sit beyond it (an auxiliary vertex, as DADS builds it), and no reader may sit before
    /// the producer (infinite reverse edges). `producer: None` is the raw input, pinned to the
    /// source side.
    pub fn tensor_boundary(
        &mut self,
        vars: &[Var],
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

    /// Solves; returns the cut value and, for every vertex, whether it is 1 (sink side). The
    /// source side is the smallest of the minimum cuts (unique): the vertices that reach the
    /// source in the residual graph of a maximum preflow of the reversed graph, from the sink
    /// to the source.
    pub fn solve(&self) -> (u64, Vec<bool>) {
        let reversed: Vec<(u32, u32, u64)> =
            self.edges.iter().map(|&(a, b, c)| (b, a, c)).collect();
        let mut flow = Flow::new(self.vertices as usize, &reversed);
        let value = flow.max_preflow(self.t.index(), self.s.index());
        let reaches = flow.reaching(self.s.index());
        (value, reaches.into_iter().map(|r| !r).collect())
    }
}

/// A residual graph and a preflow on it: arcs of vertex `v` are `first[v]..first[v + 1]`; arc
/// `a`'s reverse is `twin[a]`.
struct Flow {
    first: Vec<usize>,
    head: Vec<u32>,
    twin: Vec<usize>,
    residual: Vec<u64>,
    height: Vec<usize>,
    excess: Vec<u128>,
    next_arc: Vec<usize>,
    /// Vertices at each height below the vertex count (for the gap rule).
    count: Vec<usize>,
    active: VecDeque<u32>,
}

impl Flow {
    fn new(vertices: usize, edges: &[(u32, u32, u64)]) -> Flow {
        let mut first = vec![0usize; vertices + 1];
        for &(a, b, _) in edges {
            first[a as usize + 1] += 1;
            first[b as usize + 1] += 1;
        }
        for v in 0..vertices {
            first[v + 1] += first[v];
        }
        let arcs = first[vertices];
        let (mut head, mut twin, mut residual) = (vec![0; arcs], vec![0; arcs], vec![0; arcs]);
        let mut fill = first.clone();
        for &(a, b, cap) in edges {
            let (fa, fb) = (fill[a as usize], fill[b as usize]);
            (head[fa], twin[fa], residual[fa]) = (b, fb, cap);
            (head[fb], twin[fb], residual[fb]) = (a, fa, 0);
            fill[a as usize] += 1;
            fill[b as usize] += 1;
        }
        Flow {
            next_arc: first[..vertices].to_vec(),
            first,
            head,
            twin,
            residual,
            height: vec![0; vertices],
            excess: vec![0; vertices],
            count: vec![0; vertices + 1],
            active: VecDeque::new(),
        }
    }

    fn vertices(&self) -> usize {
        self.height.len()
    }

    /// A maximum preflow from `src` to `sink`; returns its value (what reaches the sink).
    fn max_preflow(&mut self, src: usize, sink: usize) -> u64 {
        let n = self.vertices();
        for a in self.first[src]..self.first[src + 1] {
            let c = self.residual[a];
            let w = self.head[a] as usize;
            if c > 0 {
                self.residual[a] = 0;
                self.residual[self.twin[a]] += c;
                if self.excess[w] == 0 && w != sink {
                    self.active.push_back(w as u32);
                }
                self.excess[w] += c as u128;
            }
        }
        self.global_relabel(src, sink);
        let mut relabels = 0;
        while let Some(v) = self.active.pop_front() {
            let v = v as usize;
            if v == src || self.height[v] >= n {
                continue;
            }
            relabels += self.discharge(v, src, sink);
            if relabels >= n {
                self.global_relabel(src, sink);
                relabels = 0;
            }
        }
        self.excess[sink].min(u64::MAX as u128) as u64
    }

    /// Pushes `v`'s excess down admissible arcs, relabelling when none is left, until it has
    /// no excess or cannot reach the sink; returns how many relabels it took.
    fn discharge(&mut self, v: usize, src: usize, sink: usize) -> usize {
        let n = self.vertices();
        let mut relabels = 0;
        while self.excess[v] > 0 {
            if self.next_arc[v] == self.first[v + 1] {
                self.relabel(v);
                relabels += 1;
                if self.height[v] >= n {
                    break;
                }
                continue;
            }
            let a = self.next_arc[v];
            let w = self.head[a] as usize;
            if self.residual[a] > 0 && self.height[v] == self.height[w] + 1 {
                let d = (self.residual[a] as u128).min(self.excess[v]) as u64;
                self.residual[a] -= d;
                self.residual[self.twin[a]] += d;
                self.excess[v] -= d as u128;
                if self.excess[w] == 0 && w != src && w != sink {
                    self.active.push_back(w as u32);
                }
                self.excess[w] += d as u128;
            } else {
                self.next_arc[v] += 1;
            }
        }
        relabels
    }

    /// Lifts `v` to one above its lowest residual neighbour; when that empties its old height,
    /// every vertex above the gap can no longer reach the sink (the gap rule).
    fn relabel(&mut self, v: usize) {
        let n = self.vertices();
        let old = self.height[v];
        let lowest = (self.first[v]..self.first[v + 1])
            .filter(|&a| self.residual[a] > 0)
            .map(|a| self.height[self.head[a] as usize])
            .min();
        self.count[old] -= 1;
        self.next_arc[v] = self.first[v];
        if self.count[old] == 0 {
            for u in 0..n {
                if self.height[u] > old && self.height[u] < n {
                    self.count[self.height[u]] -= 1;
                    self.height[u] = n;
                }
            }
            self.height[v] = n;
            return;
        }
        self.height[v] = lowest.map_or(n, |h| (h + 1).min(n));
        if self.height[v] < n {
            self.count[self.height[v]] += 1;
        }
    }

    /// Exact distances to the sink in the residual graph (the vertex count for vertices that
    /// cannot reach it), by a breadth-first search backwards from the sink.
    fn global_relabel(&mut self, src: usize, sink: usize) {
        let n = self.vertices();
        self.height.fill(n);
        self.count.fill(0);
        self.height[sink] = 0;
        self.count[0] = 1;
        let mut queue = VecDeque::from([sink]);
        while let Some(w) = queue.pop_front() {
            for a in self.first[w]..self.first[w + 1] {
                let u = self.head[a] as usize;
                if self.residual[self.twin[a]] > 0 && self.height[u] == n && u != src {
                    self.height[u] = self.height[w] + 1;
                    self.count[self.height[u]] += 1;
                    queue.push_back(u);
                }
            }
        }
        self.height[src] = n;
        self.next_arc.copy_from_slice(&self.first[..n]);
    }

    /// Which vertices reach `target` in the residual graph.
    fn reaching(&self, target: usize) -> Vec<bool> {
        let mut seen = vec![false; self.vertices()];
        seen[target] = true;
        let mut queue = VecDeque::from([target]);
        while let Some(w) = queue.pop_front() {
            for a in self.first[w]..self.first[w + 1] {
                let u = self.head[a] as usize;
                if self.residual[self.twin[a]] > 0 && !seen[u] {
                    seen[u] = true;
                    queue.push_back(u);
                }
            }
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    proptest! {
        /// The flow value is petgraph's, the returned side is a cut of exactly that value (so
        /// it is a minimum cut), and it is the smallest source side, as petgraph's residual
        /// graph gives it.
        #[test]
        fn agrees_with_petgraph(
            vars in 0usize..10,
            edges in proptest::collection::vec((0usize..12, 0usize..12, 0u64..50), 0..60),
        ) {
            let mut c = CutGraph::new();
            let v: Vec<Var> = std::iter::once(c.s)
                .chain(std::iter::once(c.t))
                .chain((0..vars).map(|_| c.var()))
                .collect();
            let mut g = petgraph::graph::DiGraph::<(), u64>::new();
            let nodes: Vec<_> = v.iter().map(|_| g.add_node(())).collect();
            let mut kept = Vec::new();
            for &(a, b, cap) in &edges {
                let (a, b) = (a % v.len(), b % v.len());
                if cap > 0 && a != b {
                    c.edge(v[a], v[b], cap);
                    g.add_edge(nodes[a], nodes[b], cap);
                    kept.push((a, b, cap));
                }
            }
            let (expected, flows) = petgraph::algo::dinics(&g, nodes[0], nodes[1]);
            let (value, side) = c.solve();
            prop_assert_eq!(value, expected);
            prop_assert!(!side[0] && side[1]);
            // The smallest source side: what the source reaches in petgraph's residual graph.
            let mut reach = vec![false; v.len()];
            reach[0] = true;
            let mut changed = true;
            while changed {
                changed = false;
                for (e, &(a, b, cap)) in kept.iter().enumerate() {
                    let f = flows[e];
                    if reach[a] && !reach[b] && f < cap || reach[b] && !reach[a] && f > 0 {
                        (reach[a], reach[b], changed) = (true, true, true);
                    }
                }
            }
            let smallest: Vec<bool> = reach.iter().map(|&r| !r).collect();
            prop_assert_eq!(&side, &smallest);
            let cut: u64 = kept
                .iter()
                .filter(|&&(a, b, _)| !side[a] && side[b])
                .map(|&(_, _, cap)| cap)
                .sum();
            prop_assert_eq!(cut, value);
        }
    }
}
