//! Minimum s-t cuts by Dinic's max-flow on integer (nanosecond) capacities, over flat arrays.
//!
//! Hand-written rather than petgraph's `dinics`: DSH solves dozens of cuts per plan and the
//! combined planner re-plans inside a frame, and petgraph's generic version (graph traits,
//! allocations per phase) took about 0.2 ms per GoogLeNet cut. The tests hold this one to
//! petgraph's on random graphs.

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
    /// source side is what the source reaches in the residual graph: the smallest minimum cut,
    /// the same for every maximum flow.
    pub fn solve(&self) -> (u64, Vec<bool>) {
        let mut flow = Flow::new(self.vertices as usize, &self.edges);
        let (s, t) = (self.s.index(), self.t.index());
        let mut value = 0u64;
        while flow.levels(s, t) {
            flow.next_arc
                .copy_from_slice(&flow.first[..flow.first.len() - 1]);
            value = value.saturating_add(flow.blocking_flow(s, t));
        }
        let side = flow.level.iter().map(|&l| l == UNSEEN).collect();
        (value, side)
    }
}

const UNSEEN: u32 = u32::MAX;

/// The residual graph: arcs of vertex `v` are `first[v]..first[v + 1]`; arc `a`'s reverse is
/// `twin[a]`.
struct Flow {
    first: Vec<usize>,
    head: Vec<u32>,
    twin: Vec<usize>,
    residual: Vec<u64>,
    level: Vec<u32>,
    next_arc: Vec<usize>,
    queue: VecDeque<u32>,
    path: Vec<usize>,
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
            first,
            head,
            twin,
            residual,
            level: vec![UNSEEN; vertices],
            next_arc: vec![0; vertices],
            queue: VecDeque::new(),
            path: Vec::new(),
        }
    }

    /// Breadth-first levels from `s` over arcs with room; whether `t` is reached.
    fn levels(&mut self, s: usize, t: usize) -> bool {
        self.level.fill(UNSEEN);
        self.level[s] = 0;
        self.queue.clear();
        self.queue.push_back(s as u32);
        while let Some(v) = self.queue.pop_front() {
            let v = v as usize;
            for a in self.first[v]..self.first[v + 1] {
                let w = self.head[a] as usize;
                if self.residual[a] > 0 && self.level[w] == UNSEEN {
                    self.level[w] = self.level[v] + 1;
                    self.queue.push_back(w as u32);
                }
            }
        }
        self.level[t] != UNSEEN
    }

    /// A blocking flow of the level graph: augmenting paths found depth first, each vertex
    /// resuming at its next untried arc, and after each path the search resumes at the tail
    /// of its first saturated arc rather than at the source. Returns the flow pushed.
    fn blocking_flow(&mut self, s: usize, t: usize) -> u64 {
        self.path.clear();
        let mut total = 0u64;
        let mut v = s;
        loop {
            if v == t {
                total = total.saturating_add(self.push_path());
                let saturated = self.path.iter().position(|&a| self.residual[a] == 0);
                let k = saturated.expect("an augmenting path saturates an arc");
                v = self.head[self.twin[self.path[k]]] as usize;
                self.path.truncate(k);
                continue;
            }
            match self.advance(v) {
                Some(a) => {
                    self.path.push(a);
                    v = self.head[a] as usize;
                }
                None => {
                    // A dead end: no path to t through v in this phase.
                    self.level[v] = UNSEEN - 1;
                    let Some(a) = self.path.pop() else {
                        return total;
                    };
                    v = self.head[self.twin[a]] as usize;
                    self.next_arc[v] += 1;
                }
            }
        }
    }

    /// The next arc out of `v` with room that goes one level down, if any.
    fn advance(&mut self, v: usize) -> Option<usize> {
        while self.next_arc[v] < self.first[v + 1] {
            let a = self.next_arc[v];
            let w = self.head[a] as usize;
            if self.residual[a] > 0 && self.level[w] == self.level[v].wrapping_add(1) {
                return Some(a);
            }
            self.next_arc[v] += 1;
        }
        None
    }

    fn push_path(&mut self) -> u64 {
        let pushed = self
            .path
            .iter()
            .map(|&a| self.residual[a])
            .min()
            .unwrap_or(0);
        for &a in &self.path {
            self.residual[a] -= pushed;
            self.residual[self.twin[a]] += pushed;
        }
        pushed
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
        /// The flow value is petgraph's, and the returned side is a cut of exactly that value
        /// (so it is a minimum cut).
        #[test]
        fn agrees_with_petgraph(
            vars in 0usize..10,
            edges in proptest::collection::vec((0usize..12, 0usize..12, 0u64..50), 0..40),
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
            let (expected, _) = petgraph::algo::dinics(&g, nodes[0], nodes[1]);
            let (value, side) = c.solve();
            prop_assert_eq!(value, expected);
            prop_assert!(!side[0] && side[1]);
            let cut: u64 = kept
                .iter()
                .filter(|&&(a, b, _)| !side[a] && side[b])
                .map(|&(_, _, cap)| cap)
                .sum();
            prop_assert_eq!(cut, value);
        }
    }
}
