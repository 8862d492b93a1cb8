//! A reference optimum for one frame's makespan: branch and bound over every untiled
//! placement, so how far `best` is from optimal can be stated on real models and not only on
//! the small random DAGs the brute-force oracle enumerates.
//!
//! Layers are placed in topological order. A partial placement is bounded by the list schedule
//! of the evaluator with no link or radio contention (contention only delays) and every
//! transfer at the quickest path over the links, any number of hops (the evaluator forwards a
//! tensor along the union of its routes, so it can arrive by a path no single route takes), and
//! every layer not yet placed on whichever allowed node it would finish soonest on. That
//! relaxation keeps each node's order and the tier rule (no tensor flows to a lower tier), and
//! every time in it is no later than the evaluator's, so it is a lower bound: a search that ends
//! within its budget has proven its plan optimal, and one that does not still returns the least
//! bound of what it left unexplored.

use crate::net::{Links, Net};
use crate::scorer::Scorer;
use crate::Plan;
use tiersplit_cost::{Nanos, NodeId, Problem};
use tiersplit_graph::Bytes;

/// What the search found: the reference `best` is measured against.
#[derive(Debug, Clone)]
pub struct ReferenceOptimum {
    /// The quickest valid untiled placement found (the starting plan when nothing beat it).
    pub plan: Plan,
    /// Its makespan.
    pub makespan: Nanos,
    /// No valid untiled placement has a smaller makespan.
    pub lower_bound: Nanos,
    /// Partial and complete placements looked at.
    pub explored: u64,
}

impl ReferenceOptimum {
    /// Whether the plan is proven optimal among untiled placements.
    pub fn proven(&self) -> bool {
        self.lower_bound >= self.makespan
    }
}

/// Not reachable: a node a layer cannot run on (problem files keep real times far below it).
const NEVER: Nanos = Nanos(u64::MAX / 4);

/// The least makespan over every valid untiled placement of `p`, by branch and bound from the
/// quickest valid untiled plan of `starts` (such as every planner's), looking at no more than
/// `budget` partial or complete placements; `None` when it found no untiled placement that
/// fits the nodes' memory (there is none when the search ended within its budget).
pub fn reference_optimum(p: &Problem, starts: &[Plan], budget: u64) -> Option<ReferenceOptimum> {
    let mut search = Search::new(p, budget);
    for plan in starts {
        if plan.tiled.is_empty() && plan.validate(p).is_ok() {
            let t = search.scorer.makespan_of(&plan.placement);
            if t < search.incumbent {
                search.incumbent = t;
                search.best.clone_from(&plan.placement);
            }
        }
    }
    search.descend();
    (!search.best.is_empty()).then(|| ReferenceOptimum {
        plan: Plan::new("reference-optimum", search.best.clone()),
        makespan: search.incumbent,
        lower_bound: search.unexplored.min(search.incumbent),
        explored: search.explored,
    })
}

/// The quickest time of `bytes` between every two nodes over any path of links, without
/// contention (Floyd-Warshall): at `a * n + b`.
fn quickest_paths(links: &Links, n: usize, bytes: Bytes) -> Vec<Nanos> {
    let mut d = vec![NEVER; n * n];
    for a in 0..n {
        d[a * n + a] = Nanos(0);
        for b in (0..n).filter(|&b| b != a) {
            if let Some(l) = links.get(NodeId(a), NodeId(b)) {
                d[a * n + b] = l.time(bytes).min(NEVER);
            }
        }
    }
    for k in 0..n {
        for a in 0..n {
            for b in 0..n {
                let via = d[a * n + k] + d[k * n + b];
                if via < d[a * n + b] {
                    d[a * n + b] = via;
                }
            }
        }
    }
    d
}

struct Search<'p> {
    net: Net,
    scorer: Scorer<'p>,
    /// Quickest time of tensor `t` from node `a` to `b`, at `(t * n + a) * n + b`.
    dist: Vec<Nanos>,
    budget: u64,
    explored: u64,
    /// Least bound of a branch left unexplored when the budget ran out.
    unexplored: Nanos,
    incumbent: Nanos,
    best: Vec<NodeId>,
    placement: Vec<NodeId>,
    /// Finish times of the placed layers in the contention-free schedule.
    finish: Vec<Nanos>,
    /// When each node is free in that schedule, after the placed layers.
    node_free: Vec<Nanos>,
    /// Weights each node holds for the placed layers.
    weights: Vec<u64>,
    /// Scratch for the bound: each layer's soonest finish on each node.
    finish_on: Vec<Nanos>,
}

impl<'p> Search<'p> {
    fn new(p: &'p Problem, budget: u64) -> Search<'p> {
        let scorer = Scorer::new(p);
        let net = Net::of(p);
        let n = net.nodes;
        let links = Links::new(p);
        let dist = (0..net.tensors())
            .flat_map(|t| quickest_paths(&links, n, net.bytes[t]))
            .collect();
        Search {
            dist,
            budget,
            explored: 0,
            unexplored: Nanos(u64::MAX),
            incumbent: Nanos(u64::MAX),
            best: Vec::new(),
            placement: Vec::with_capacity(net.layers()),
            finish: Vec::with_capacity(net.layers()),
            node_free: vec![Nanos(0); n],
            weights: vec![0; n],
            finish_on: vec![NEVER; net.layers() * n],
            net,
            scorer,
        }
    }

    fn dist(&self, t: usize, a: usize, b: usize) -> Nanos {
        let n = self.net.nodes;
        self.dist[(t * n + a) * n + b]
    }

    /// Where tensor `t` is made: its producer's node, or the device for a graph input.
    fn source(&self, t: usize) -> Option<(usize, Nanos)> {
        match self.net.producer[t] {
            None => Some((self.net.device.0, Nanos(0))),
            Some(u) if u < self.placement.len() => Some((self.placement[u].0, self.finish[u])),
            Some(_) => None,
        }
    }

    /// Soonest arrival of tensor `t` on node `m` in the relaxation: from its producer's node
    /// when placed, else from whichever node the producer would finish soonest on (one no
    /// higher in tier than `m` when `tiers`, for a reader there).
    fn arrival(&self, t: usize, m: usize, tiers: bool) -> Nanos {
        let net = &self.net;
        let n = net.nodes;
        let allowed = |a: usize| !tiers || net.tiers[a] <= net.tiers[m];
        match self.source(t) {
            Some((a, at)) if allowed(a) => at + self.dist(t, a, m),
            Some(_) => NEVER,
            None => {
                let u = net.producer[t].expect("unplaced layers make their tensors");
                (0..n)
                    .filter(|&a| allowed(a))
                    .map(|a| self.finish_on[u * n + a] + self.dist(t, a, m))
                    .min()
                    .unwrap_or(NEVER)
            }
        }
    }

    /// Soonest finish of layer `l` on node `m` in the relaxation, with the placed layers
    /// fixed and the unplaced ones before it at their soonest on any node they may run on.
    fn soonest(&self, l: usize, m: usize) -> Nanos {
        let net = &self.net;
        let mut ready = Nanos(0);
        for &t in net.inputs.row(l) {
            ready = ready.max(self.arrival(t, m, true));
        }
        if ready >= NEVER {
            return NEVER;
        }
        ready.max(self.node_free[m]) + net.time(l, NodeId(m))
    }

    /// A lower bound of the makespan of every completion of the current partial placement.
    fn bound(&mut self) -> Nanos {
        let n = self.net.nodes;
        for l in self.placement.len()..self.net.layers() {
            for m in 0..n {
                self.finish_on[l * n + m] = self.soonest(l, m);
            }
        }
        let device = self.net.device.0;
        let mut end = Nanos(0);
        for t in (0..self.net.tensors()).filter(|&t| self.net.graph_output[t]) {
            // Outputs go back to the device whatever its tier.
            end = end.max(self.arrival(t, device, false));
        }
        end
    }

    /// Places the next layer on each node it may run on, best bound first, and searches on.
    fn descend(&mut self) {
        self.explored += 1;
        let l = self.placement.len();
        if l == self.net.layers() {
            self.leaf();
            return;
        }
        let n = self.net.nodes;
        let mut children: Vec<(Nanos, usize, Nanos)> = Vec::with_capacity(n);
        for m in 0..n {
            let f = self.soonest(l, m);
            let w = self.weights[m].saturating_add(self.net.weights[l].0);
            if f >= NEVER || self.net.memory[m].is_some_and(|has| w > has.0) {
                continue;
            }
            let bound = self.with_placed(l, m, f, |s| s.bound());
            children.push((bound, m, f));
        }
        children.sort();
        for (bound, m, f) in children {
            if bound >= self.incumbent {
                break;
            }
            if self.explored >= self.budget {
                self.unexplored = self.unexplored.min(bound);
                continue;
            }
            self.with_placed(l, m, f, |s| s.descend());
        }
    }

    /// Runs `f` with layer `l` placed on `m`, finishing at `finish` in the relaxation.
    fn with_placed<R>(
        &mut self,
        l: usize,
        m: usize,
        finish: Nanos,
        f: impl FnOnce(&mut Self) -> R,
    ) -> R {
        let free = self.node_free[m];
        self.placement.push(NodeId(m));
        self.finish.push(finish);
        self.node_free[m] = finish;
        let held = self.weights[m];
        self.weights[m] = held.saturating_add(self.net.weights[l].0);
        let r = f(self);
        self.weights[m] = held;
        self.node_free[m] = free;
        self.finish.pop();
        self.placement.pop();
        r
    }

    /// A complete placement: scored exactly, kept when it fits and beats the incumbent.
    fn leaf(&mut self) {
        if self.net.over_memory(&self.placement).is_some() {
            return;
        }
        let t = self.scorer.makespan_of(&self.placement);
        if t < self.incumbent {
            self.incumbent = t;
            self.best.clone_from(&self.placement);
        }
    }
}
