//! Scoring many candidate plans of one problem: the problem's net built once, routes priced
//! once, tiled expansions kept, and candidates near an anchored placement scored from where
//! they differ.

use crate::net::{Links, Net};
use crate::priced::{tensor_hops, Hop, Priced};
use crate::schedule::{Clocks, Figure, Scratch, ABSENT};
use crate::tiled_stage::{expand, expanded_placement};
use crate::{Plan, Prediction, TiledStage};
use tiersplit_cost::{Nanos, NodeId, Problem};

/// One placement's schedule, kept layer by layer, so that a placement differing from it in a
/// few layers is scheduled only from the first layer whose inputs or outputs moved (what a
/// local search asks for).
#[derive(Debug, Default)]
struct Anchor {
    scratch: Scratch,
    clocks: Clocks,
    placement: Vec<NodeId>,
    /// Tensors touched by the layers a candidate moved (`touched[t] == stamp`).
    touched: Vec<u32>,
    stamp: u32,
    dirty: Vec<usize>,
    hops: Vec<Hop>,
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
    anchor: Option<Anchor>,
}

impl<'p> Scorer<'p> {
    pub fn new(p: &'p Problem) -> Scorer<'p> {
        Scorer {
            p,
            links: Links::new(p),
            base: Priced::new(Net::of(p)),
            expansions: Vec::new(),
            scratch: Scratch::default(),
            anchor: None,
        }
    }

    /// Keeps the schedule of an untiled placement for [`Scorer::makespan_near`]; returns its
    /// makespan.
    pub fn anchor(&mut self, placement: &[NodeId]) -> Nanos {
        let a = self.anchor.get_or_insert_with(Anchor::default);
        a.scratch.route(&self.links, &mut self.base, placement);
        a.clocks.clear();
        a.scratch.start(&self.base.net);
        a.scratch
            .run(&self.base.net, placement, 0, Some(&mut a.clocks));
        a.scratch.load(&self.base.net, placement);
        a.placement.clear();
        a.placement.extend_from_slice(placement);
        a.scratch.end(&self.base.net)
    }

    /// The pipelined period of an untiled placement that differs from the anchored one only in
    /// the layers `moved` (each listed once): the anchor's loads with the moved layers' compute and the traffic of
    /// the tensors they touch taken out and put back as the placement has them.
    pub fn period_near(&mut self, placement: &[NodeId], moved: &[usize]) -> Nanos {
        let Some(a) = self.anchor.as_mut() else {
            return self.period_of(placement);
        };
        let net = &self.base.net;
        let n = net.nodes;
        let w = &mut self.scratch;
        w.compute.clear();
        w.compute.extend_from_slice(&a.scratch.compute);
        w.busy.clear();
        w.busy.extend_from_slice(&a.scratch.busy);
        w.radio_busy.clear();
        w.radio_busy.extend_from_slice(&a.scratch.radio_busy);
        a.stamp = a.stamp.wrapping_add(1);
        if a.touched.len() != net.tensors() || a.stamp == 0 {
            a.touched = vec![0; net.tensors()];
            a.stamp = 1;
        }
        a.dirty.clear();
        for &l in moved {
            let (old, new) = (a.placement[l], placement[l]);
            w.compute[old.0] = Nanos(w.compute[old.0].0 - net.time(l, old).0);
            w.compute[new.0] += net.time(l, new);
            for &t in net.inputs.row(l).iter().chain(net.outputs.row(l)) {
                if a.touched[t] != a.stamp {
                    a.touched[t] = a.stamp;
                    a.dirty.push(t);
                }
            }
        }
        for &t in &a.dirty {
            let anchored = &a.scratch.hops[a.scratch.hop_at[t]..a.scratch.hop_at[t + 1]];
            for hop in anchored {
                let k = hop.from.0 * n + hop.to.0;
                // Saturating: sums that saturated (times near u64::MAX) cannot go negative.
                w.busy[k] = Nanos(w.busy[k].0.saturating_sub(hop.occupancy.0));
                let r = &mut w.radio_busy[hop.from.0];
                *r = Nanos(r.0.saturating_sub(hop.airtime.0));
            }
            a.hops.clear();
            tensor_hops(
                &self.links,
                &mut self.base,
                placement,
                t,
                &mut w.dest,
                &mut a.hops,
            );
            for hop in &a.hops {
                w.busy[hop.from.0 * n + hop.to.0] += hop.occupancy;
                w.radio_busy[hop.from.0] += hop.airtime;
            }
        }
        w.period()
    }

    /// The makespan of an untiled placement that differs from the anchored one
    /// ([`Scorer::anchor`]) only in the layers `moved`: the schedule is the anchor's up to the
    /// first layer that makes or reads a tensor a moved layer touches, and run from there.
    pub fn makespan_near(&mut self, placement: &[NodeId], moved: &[usize]) -> Nanos {
        let net = &self.base.net;
        let mut first = usize::MAX;
        for &l in moved {
            first = first.min(l);
            for &t in net.inputs.row(l) {
                match net.producer[t] {
                    Some(u) => first = first.min(u),
                    None => return self.makespan_of(placement),
                }
            }
        }
        let Some(a) = &self.anchor else {
            return self.makespan_of(placement);
        };
        if first == usize::MAX {
            return a.scratch.end(net);
        }
        let (n, t0) = (net.nodes, net.tensors_from(first));
        let w = &mut self.scratch;
        w.hops.clear();
        w.hops
            .extend_from_slice(&a.scratch.hops[..a.scratch.hop_at[t0]]);
        w.hop_at.clear();
        w.hop_at.extend_from_slice(&a.scratch.hop_at[..=t0]);
        w.route_from(&self.links, &mut self.base, placement, t0);
        let net = &self.base.net;
        w.node_free.clear();
        w.node_free
            .extend_from_slice(&a.clocks.nodes[first * n..(first + 1) * n]);
        w.link_free.clear();
        w.link_free
            .extend_from_slice(&a.clocks.links[first * n * n..(first + 1) * n * n]);
        w.radio_free.clear();
        w.radio_free
            .extend_from_slice(&a.clocks.radios[first * n..(first + 1) * n]);
        w.avail.clear();
        w.avail.extend_from_slice(&a.scratch.avail);
        w.avail[t0 * n..].fill(ABSENT);
        w.run(net, placement, first, None);
        w.end(net)
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tiersplit_cost::{Bandwidth, LinkCost, ProblemLayer, ProblemNode, ProblemTensor, Tier};
    use tiersplit_graph::Bytes;

    /// A random DAG on four fully linked nodes, some with a shared radio: layer `i` reads the
    /// input or earlier outputs (in an order that is not by producer), sinks are outputs.
    fn arb_problem() -> impl Strategy<Value = Problem> {
        let layer = (
            prop::collection::vec(any::<prop::sample::Index>(), 1..3),
            prop::collection::vec(1u64..30, 4),
            1u64..500_000,
        );
        let radios = prop::collection::vec(prop::option::of(1.0f64..200.0), 4);
        (prop::collection::vec(layer, 1..14), 1u64..1_000_000, radios).prop_map(
            |(spec, input, radios)| {
                let tier = [Tier::Device, Tier::Edge, Tier::Edge, Tier::Cloud];
                let nodes = (0..4)
                    .map(|i| ProblemNode {
                        name: format!("n{i}"),
                        tier: tier[i],
                        memory: None,
                        uplink: None,
                    })
                    .collect();
                let mut tensors = vec![ProblemTensor {
                    name: "x".into(),
                    bytes: Bytes(input),
                    producer: None,
                    consumers: vec![],
                    graph_output: false,
                    hw: None,
                }];
                let mut layers = Vec::new();
                for (i, (reads, ms, out)) in spec.into_iter().enumerate() {
                    for r in reads {
                        let t = r.index(tensors.len());
                        if !tensors[t].consumers.contains(&i) {
                            tensors[t].consumers.push(i);
                        }
                    }
                    layers.push(ProblemLayer {
                        name: format!("l{i}"),
                        op: "Conv".into(),
                        time: ms.into_iter().map(|v| Nanos(v * 1_000_000)).collect(),
                        weights: Bytes(0),
                        spatial: None,
                    });
                    // Outputs listed before the input, so tensor order is not producer order.
                    tensors.insert(
                        1,
                        ProblemTensor {
                            name: format!("t{i}"),
                            bytes: Bytes(out),
                            producer: Some(i),
                            consumers: vec![],
                            graph_output: false,
                            hw: None,
                        },
                    );
                }
                for t in &mut tensors {
                    t.graph_output = t.producer.is_some() && t.consumers.is_empty();
                }
                let mut links = Vec::new();
                for a in 0..4 {
                    for b in (0..4).filter(|&b| b != a) {
                        links.push(LinkCost {
                            from: NodeId(a),
                            to: NodeId(b),
                            bandwidth: Bandwidth::from_mbps(5.0 + 40.0 * (a * 4 + b) as f64),
                            latency: Nanos(((a + b) as u64) * 1_000_000),
                        });
                    }
                }
                let mut p = Problem {
                    model: "random".into(),
                    scenario: "random".into(),
                    nodes,
                    device: NodeId(0),
                    layers,
                    tensors,
                    links,
                    frame_rate: 10.0,
                };
                // Some nodes send through one radio, so transfers from them take turns.
                for (i, r) in radios.into_iter().enumerate() {
                    if let Some(mbps) = r {
                        p.set_uplink(NodeId(i), Bandwidth::from_mbps(mbps));
                    }
                }
                p
            },
        )
    }

    proptest! {
        /// Scheduling from the anchor's clocks, and the anchor's loads with the moved layers'
        /// share replaced, give what scoring from scratch gives, for any placement and any
        /// layers moved from it.
        #[test]
        fn scores_near_an_anchor_are_exact(
            p in arb_problem(),
            placement in prop::collection::vec(0usize..4, 14),
            moves in prop::collection::vec((any::<prop::sample::Index>(), 0usize..4), 0..4),
        ) {
            let anchor: Vec<NodeId> = placement[..p.layers.len()].iter().map(|&n| NodeId(n)).collect();
            let mut scorer = Scorer::new(&p);
            prop_assert_eq!(scorer.anchor(&anchor), scorer.makespan_of(&anchor));
            let mut cand = anchor.clone();
            let mut moved = Vec::new();
            for (l, n) in moves {
                let l = l.index(p.layers.len());
                cand[l] = NodeId(n);
                if !moved.contains(&l) {
                    moved.push(l);
                }
            }
            let expected = scorer.makespan_of(&cand);
            prop_assert_eq!(scorer.makespan_near(&cand, &moved), expected);
            let expected = scorer.period_of(&cand);
            prop_assert_eq!(scorer.period_near(&cand, &moved), expected);
        }
    }

    proptest! {
        /// A node's memory is the weights it runs plus the most bytes of tensors live on it at
        /// one step, counted directly from each tensor's steps on each node.
        #[test]
        fn memory_is_weights_and_the_peak_of_live_tensors(
            mut p in arb_problem(),
            placement in prop::collection::vec(0usize..4, 14),
        ) {
            for (i, l) in p.layers.iter_mut().enumerate() {
                l.weights = Bytes(1_000 * (i as u64 % 5));
            }
            let placement: Vec<NodeId> = placement[..p.layers.len()].iter().map(|&n| NodeId(n)).collect();
            let steps = p.layers.len();
            let got = Net::of(&p).memory_use(&placement);
            for node in p.node_ids() {
                let weights: u64 = (0..steps)
                    .filter(|&l| placement[l] == node)
                    .map(|l| p.layers[l].weights.0)
                    .sum();
                let range = |t: &ProblemTensor| {
                    let mut at: Vec<usize> = Vec::new();
                    match t.producer {
                        Some(u) if placement[u] == node => at.push(u),
                        None if node == p.device => at.push(0),
                        _ => {}
                    }
                    at.extend(t.consumers.iter().filter(|&&c| placement[c] == node));
                    if t.graph_output && node == p.device {
                        at.push(steps);
                    }
                    Some((*at.iter().min()?, *at.iter().max()?))
                };
                let peak = (0..=steps)
                    .map(|step| {
                        p.tensors
                            .iter()
                            .filter(|t| range(t).is_some_and(|(a, b)| a <= step && step <= b))
                            .map(|t| t.bytes.0)
                            .sum::<u64>()
                    })
                    .max()
                    .unwrap_or(0);
                prop_assert_eq!(got[node.0], Bytes(weights + peak), "node {}", node.0);
            }
        }
    }
}
