use crate::{GraphError, LayerId, ModelGraph, TensorId};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// The tensors crossing the border of a set of layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Boundary {
    /// Tensors read inside the set but produced outside it (or graph inputs), in first-use order.
    pub inputs: Vec<TensorId>,
    /// Tensors produced inside the set and read outside it, or graph outputs.
    pub outputs: Vec<TensorId>,
}

/// A cut of the whole model into legal partitions, listed in an order in which they can run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partitioning {
    /// The parts, each a list of layer ids in ascending order; every part comes after the parts it
    /// reads from.
    pub parts: Vec<Vec<LayerId>>,
}

impl ModelGraph {
    fn membership(&self, set: &[LayerId]) -> Result<Vec<bool>, GraphError> {
        if set.is_empty() {
            return Err(GraphError::EmptyPartition);
        }
        let mut inside = vec![false; self.layers.len()];
        for &l in set {
            let slot = inside
                .get_mut(l.index())
                .ok_or(GraphError::NoSuchLayer(l, self.layers.len()))?;
            if *slot {
                return Err(GraphError::DuplicateLayer(self.layer(l).name.clone()));
            }
            *slot = true;
        }
        Ok(inside)
    }

    /// A set is a legal partition when it is convex: no path leaves the set and comes back.
    /// Otherwise the set could not run as one unit, since it would wait on its own output.
    pub fn check_convex(&self, set: &[LayerId]) -> Result<(), GraphError> {
        let inside = self.membership(set)?;
        // Walk forward from the set through outside layers only; reaching the set again is a
        // violation. `via[v]` remembers the set layer the walk left from, for the message.
        let mut via: Vec<Option<LayerId>> = vec![None; self.layers.len()];
        let mut queue = VecDeque::new();
        for &l in set {
            for s in self.successors(l) {
                if !inside[s.index()] && via[s.index()].is_none() {
                    via[s.index()] = Some(l);
                    queue.push_back(s);
                }
            }
        }
        while let Some(v) = queue.pop_front() {
            for s in self.successors(v) {
                if inside[s.index()] {
                    return Err(GraphError::NotConvex {
                        leaves: self
                            .layer(via[v.index()].expect("set on walk"))
                            .name
                            .clone(),
                        outside: self.layer(v).name.clone(),
                        reenters: self.layer(s).name.clone(),
                    });
                }
                if via[s.index()].is_none() {
                    via[s.index()] = via[v.index()];
                    queue.push_back(s);
                }
            }
        }
        Ok(())
    }

    /// The tensors entering and leaving a set of layers.
    pub fn boundary(&self, set: &[LayerId]) -> Result<Boundary, GraphError> {
        let inside = self.membership(set)?;
        let mut sorted = set.to_vec();
        sorted.sort();
        let mut inputs = Vec::new();
        let mut outputs = Vec::new();
        for &l in &sorted {
            for &t in &self.layer(l).inputs {
                let external = self.tensor(t).producer.is_none_or(|p| !inside[p.index()]);
                if external && !inputs.contains(&t) {
                    inputs.push(t);
                }
            }
            for &t in &self.layer(l).outputs {
                let info = self.tensor(t);
                if self.outputs.contains(&t) || info.consumers.iter().any(|c| !inside[c.index()]) {
                    outputs.push(t);
                }
            }
        }
        Ok(Boundary { inputs, outputs })
    }
}

impl ModelGraph {
    /// Whether cutting the stored order before position `i` (layers `..i` | `i..`) keeps every
    /// elementwise follower with its producer: no crossing edge may enter a layer that an engine
    /// would fuse into the layer producing its input (see [`crate::Layer::fuses_into_producer`]).
    pub fn fusion_safe_cut(&self, i: usize) -> bool {
        self.layers[i.min(self.layers.len())..].iter().all(|l| {
            !l.fuses_into_producer()
                || l.inputs
                    .iter()
                    .all(|&t| self.tensor(t).producer.is_none_or(|p| p.index() >= i))
        })
    }
}

impl Partitioning {
    /// Validates that `parts` cover every layer exactly once with convex sets and orders them
    /// so that each part runs after every part it reads from.
    pub fn new(graph: &ModelGraph, parts: Vec<Vec<LayerId>>) -> Result<Partitioning, GraphError> {
        let n = graph.layers.len();
        let mut owner: Vec<Option<usize>> = vec![None; n];
        for (p, part) in parts.iter().enumerate() {
            graph.check_convex(part)?;
            for &l in part {
                if owner[l.index()].replace(p).is_some() {
                    return Err(GraphError::DuplicateLayer(graph.layer(l).name.clone()));
                }
            }
        }
        if let Some(missing) = owner.iter().position(|o| o.is_none()) {
            return Err(GraphError::MissingLayer(graph.layers[missing].name.clone()));
        }
        // Convex parts make the quotient graph acyclic (a cycle would leave and re-enter a
        // part), so Kahn's algorithm on it always succeeds.
        let k = parts.len();
        let mut succ: Vec<Vec<usize>> = vec![Vec::new(); k];
        let mut indeg = vec![0usize; k];
        for e in graph.edges() {
            let (a, b) = (owner[e.from.index()].unwrap(), owner[e.to.index()].unwrap());
            if a != b && !succ[a].contains(&b) {
                succ[a].push(b);
                indeg[b] += 1;
            }
        }
        let mut ready: Vec<usize> = (0..k).filter(|&p| indeg[p] == 0).collect();
        ready.sort_by_key(|&p| std::cmp::Reverse(parts[p].iter().min().copied()));
        let mut order = Vec::with_capacity(k);
        while let Some(p) = ready.pop() {
            order.push(p);
            for &s in &succ[p] {
                indeg[s] -= 1;
                if indeg[s] == 0 {
                    ready.push(s);
                }
            }
        }
        debug_assert_eq!(order.len(), k);
        let mut parts = parts;
        let mut ordered: Vec<Vec<LayerId>> = order
            .into_iter()
            .map(|p| std::mem::take(&mut parts[p]))
            .collect();
        for part in &mut ordered {
            part.sort();
        }
        Ok(Partitioning { parts: ordered })
    }

    /// A random legal partitioning into `k` parts: a random topological order cut at `k - 1`
    /// random points. Every contiguous run of a topological order is convex, and randomising
    /// the order interleaves parallel branches so parts also mix branches.
    pub fn random(graph: &ModelGraph, k: usize, seed: u64) -> Result<Partitioning, GraphError> {
        let n = graph.layers.len();
        if k == 0 || k > n {
            return Err(GraphError::TooManyParts {
                layers: n,
                parts: k,
            });
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let order = random_topological_order(graph, &mut rng);
        let mut cuts: Vec<usize> = rand::seq::index::sample(&mut rng, n - 1, k - 1)
            .into_iter()
            .map(|c| c + 1)
            .collect();
        cuts.sort();
        let mut parts = Vec::with_capacity(k);
        let mut start = 0;
        for end in cuts.into_iter().chain(std::iter::once(n)) {
            parts.push(order[start..end].to_vec());
            start = end;
        }
        Partitioning::new(graph, parts)
    }

    /// Cuts the stored topological order into `k` contiguous runs of about equal FLOPs, only
    /// at positions where [`ModelGraph::fusion_safe_cut`] holds, the way a planner would cut:
    /// separating a convolution from its BatchNormalization or activation forces the engine to
    /// run them unfused, which costs time that no partitioning needs to pay. Among the
    /// positions within a quarter of a part's FLOPs of each balanced point (or as near as the
    /// nearest position, when none is that near), give or take 1% of the model's FLOPs, the one
    /// whose crossing tensors are smallest is taken, as a planner would: a block boundary rather
    /// than the middle of a residual block, where the skip tensor crosses too; after a pooling
    /// layer rather than before it. The 1% keeps a cheap layer (a pool, an activation) from
    /// pushing the better cut just outside the window; every cut costs an engine time in
    /// proportion to the bytes crossing it (ONNX Runtime converts them to and from its blocked
    /// layout on both sides).
    pub fn balanced(graph: &ModelGraph, k: usize) -> Result<Partitioning, GraphError> {
        let n = graph.layers.len();
        let allowed: Vec<usize> = (1..n).filter(|&i| graph.fusion_safe_cut(i)).collect();
        if k == 0 || k - 1 > allowed.len() {
            return Err(GraphError::TooManyParts {
                layers: n,
                parts: k,
            });
        }
        // prefix[i] = FLOPs of layers before position i.
        let mut prefix = vec![0u64; n + 1];
        for (i, l) in graph.layers.iter().enumerate() {
            prefix[i + 1] = prefix[i] + l.flops.0.max(1);
        }
        let crossing = crossing_bytes(graph);
        let total = prefix[n] as f64;
        let slack = total / k as f64 / 4.0;
        let give = total / 100.0;
        let mut cuts = Vec::with_capacity(k - 1);
        let mut from = 0; // index into `allowed` of the first usable candidate
        for j in 1..k {
            let target = total * j as f64 / k as f64;
            // Leave enough candidates for the cuts still to place.
            let last = allowed.len() - (k - 1 - j) - 1;
            let off = |a: usize| (prefix[allowed[a]] as f64 - target).abs();
            let nearest = (from..=last)
                .min_by(|&a, &b| off(a).total_cmp(&off(b)))
                .expect("enough candidates");
            let best = (from..=last)
                .filter(|&a| off(a) <= off(nearest).max(slack) + give)
                .min_by_key(|&a| (crossing[allowed[a]], (off(a) * 1e3) as u64))
                .unwrap_or(nearest);
            cuts.push(allowed[best]);
            from = best + 1;
        }
        let mut parts = Vec::with_capacity(k);
        let mut start = 0;
        for end in cuts.into_iter().chain(std::iter::once(n)) {
            parts.push((start..end).map(|i| LayerId(i as u32)).collect());
            start = end;
        }
        Partitioning::new(graph, parts)
    }

    /// The part index of every layer.
    pub fn owners(&self, layer_count: usize) -> Vec<usize> {
        let mut owner = vec![0; layer_count];
        for (p, part) in self.parts.iter().enumerate() {
            for &l in part {
                owner[l.index()] = p;
            }
        }
        owner
    }
}

fn random_topological_order(graph: &ModelGraph, rng: &mut impl Rng) -> Vec<LayerId> {
    let n = graph.layers.len();
    let mut indeg: Vec<usize> = (0..n)
        .map(|i| graph.predecessors(LayerId(i as u32)).len())
        .collect();
    let mut ready: Vec<LayerId> = (0..n)
        .filter(|&i| indeg[i] == 0)
        .map(|i| LayerId(i as u32))
        .collect();
    let mut order = Vec::with_capacity(n);
    while !ready.is_empty() {
        let pick = *ready.choose(rng).expect("non-empty");
        ready.retain(|&l| l != pick);
        order.push(pick);
        for s in graph.successors(pick) {
            indeg[s.index()] -= 1;
            if indeg[s.index()] == 0 {
                ready.push(s);
            }
        }
    }
    order
}

/// Bytes of the layer outputs crossing a cut of the stored order before each position `i`
/// (produced before `i`, read at or after it), for `i` in `0..=layers`.
fn crossing_bytes(graph: &ModelGraph) -> Vec<u64> {
    let n = graph.layers.len();
    // A difference array: a tensor adds its bytes to every cut between its producer and its
    // last consumer.
    let mut delta = vec![0i128; n + 2];
    for t in &graph.tensors {
        let (Some(p), Some(last)) = (t.producer, t.consumers.iter().map(|c| c.index()).max())
        else {
            continue;
        };
        if last > p.index() {
            delta[p.index() + 1] += i128::from(t.bytes().0);
            delta[last + 1] -= i128::from(t.bytes().0);
        }
    }
    let mut out = Vec::with_capacity(n + 1);
    let mut running = 0i128;
    for d in delta.iter().take(n + 1) {
        running += d;
        out.push(u64::try_from(running).unwrap_or(u64::MAX));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model_graph::tests::graph;
    use proptest::prelude::*;

    fn diamond() -> ModelGraph {
        // x -> a -> b -> d ; a -> c -> d ; d -> e
        graph(&[
            ("a", &["x"]),
            ("b", &["a"]),
            ("c", &["a"]),
            ("d", &["b", "c"]),
            ("e", &["d"]),
        ])
    }

    #[test]
    fn convexity_detects_a_path_that_leaves_and_returns() {
        let g = diamond();
        let err = g.check_convex(&[LayerId(0), LayerId(3)]).unwrap_err();
        assert!(matches!(err, GraphError::NotConvex { .. }), "{err}");
        assert!(err.to_string().contains("re-enters at layer d"), "{err}");
        g.check_convex(&[LayerId(1), LayerId(2)]).unwrap();
        g.check_convex(&[LayerId(0), LayerId(1), LayerId(2), LayerId(3)])
            .unwrap();
        assert_eq!(g.check_convex(&[]), Err(GraphError::EmptyPartition));
        assert!(matches!(
            g.check_convex(&[LayerId(9)]),
            Err(GraphError::NoSuchLayer(..))
        ));
    }

    #[test]
    fn boundary_lists_entering_and_leaving_tensors() {
        let g = diamond();
        let b = g.boundary(&[LayerId(1), LayerId(2)]).unwrap();
        let names = |ts: &[TensorId]| {
            ts.iter()
                .map(|&t| g.tensor(t).name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&b.inputs), ["a"]);
        assert_eq!(names(&b.outputs), ["b", "c"]);
        let b = g.boundary(&[LayerId(4)]).unwrap();
        assert_eq!(names(&b.outputs), ["e"]);
    }

    #[test]
    fn partitioning_orders_parts_and_rejects_bad_covers() {
        let g = diamond();
        let p = Partitioning::new(
            &g,
            vec![
                vec![LayerId(3), LayerId(4)],
                vec![LayerId(0)],
                vec![LayerId(1), LayerId(2)],
            ],
        )
        .unwrap();
        assert_eq!(p.parts[0], vec![LayerId(0)]);
        assert_eq!(p.parts[2], vec![LayerId(3), LayerId(4)]);
        assert!(matches!(
            Partitioning::new(&g, vec![vec![LayerId(0)]]),
            Err(GraphError::MissingLayer(_))
        ));
        assert!(Partitioning::random(&g, 6, 1).is_err());
    }

    #[test]
    fn balanced_cuts_keep_activations_with_their_producers() {
        // conv0 relu0 conv1 relu1 conv2 relu2 conv3 relu3, each conv 100 FLOPs.
        let mut g = graph(&[
            ("c0", &["x"]),
            ("r0", &["c0"]),
            ("c1", &["r0"]),
            ("r1", &["c1"]),
            ("c2", &["r1"]),
            ("r2", &["c2"]),
            ("c3", &["r2"]),
            ("r3", &["c3"]),
        ]);
        for l in g.layers.iter_mut().filter(|l| l.name.starts_with('c')) {
            l.op = "Conv".into();
            l.flops = crate::Flops(100);
        }
        assert!(!g.fusion_safe_cut(1) && g.fusion_safe_cut(2));
        let p = Partitioning::balanced(&g, 4).unwrap();
        let names: Vec<Vec<&str>> = p
            .parts
            .iter()
            .map(|part| part.iter().map(|&l| g.layer(l).name.as_str()).collect())
            .collect();
        assert_eq!(
            names,
            [["c0", "r0"], ["c1", "r1"], ["c2", "r2"], ["c3", "r3"]]
        );
        assert!(Partitioning::balanced(&g, 5).is_err());
        assert_eq!(Partitioning::balanced(&g, 1).unwrap().parts.len(), 1);
    }

    #[test]
    fn balanced_cuts_avoid_the_middle_of_a_residual_block() {
        // A chain of 16 equal layers where l8 adds l7 to l6: the balanced point (before l8)
        // would cut both l7 and the skip tensor l6; a cut near it crosses one tensor.
        let names: Vec<String> = (0..16).map(|i| format!("l{i}")).collect();
        let inputs: Vec<Vec<&str>> = (0..16)
            .map(|i| match i {
                0 => vec!["x"],
                8 => vec!["l7", "l6"],
                i => vec![names[i - 1].as_str()],
            })
            .collect();
        let spec: Vec<(&str, &[&str])> = names
            .iter()
            .zip(&inputs)
            .map(|(n, i)| (n.as_str(), i.as_slice()))
            .collect();
        let mut g = graph(&spec);
        for l in &mut g.layers {
            l.op = "Conv".into();
        }
        let crossing = crossing_bytes(&g);
        assert!(crossing[8] > crossing[7] && crossing[8] > crossing[9]);
        let p = Partitioning::balanced(&g, 2).unwrap();
        let cut = p.parts[0].len();
        assert!((6..=10).contains(&cut), "{:?}", p.parts);
        assert!(crossing[cut] < crossing[8], "{:?}", p.parts);
    }

    #[test]
    fn balanced_cuts_take_the_pool_just_past_the_window() {
        // c1's big map is pooled to a small one by p1 (5 FLOPs): the nearest cut (after c1)
        // crosses the big map; the cut after p1 is 5 FLOPs further and crosses the small one.
        let mut g = graph(&[
            ("c0", &["x"]),
            ("c1", &["c0"]),
            ("p1", &["c1"]),
            ("c2", &["p1"]),
        ]);
        for (l, (op, flops)) in g.layers.iter_mut().zip([
            ("Conv", 100),
            ("Conv", 4000),
            ("MaxPool", 5),
            ("Conv", 2000),
        ]) {
            l.op = op.into();
            l.flops = crate::Flops(flops);
        }
        g.tensors[2].shape = vec![1, 1000];
        g.tensors[3].shape = vec![1, 10];
        let p = Partitioning::balanced(&g, 2).unwrap();
        assert_eq!(p.parts[0].len(), 3, "{:?}", p.parts);
    }

    /// Random DAGs: each layer reads one or two earlier tensors.
    fn arb_graph() -> impl Strategy<Value = ModelGraph> {
        prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                any::<prop::sample::Index>(),
                any::<bool>(),
            ),
            1..14,
        )
        .prop_map(|spec| {
            let names: Vec<String> = (0..spec.len()).map(|i| format!("n{i}")).collect();
            let mut owned: Vec<(String, Vec<String>)> = Vec::new();
            for (i, (a, b, two)) in spec.iter().enumerate() {
                let pool: Vec<String> = std::iter::once("x".to_string())
                    .chain(names[..i].iter().cloned())
                    .collect();
                let mut ins = vec![a.get(&pool).clone()];
                let second = b.get(&pool).clone();
                if *two && !ins.contains(&second) {
                    ins.push(second);
                }
                owned.push((names[i].clone(), ins));
            }
            let refs: Vec<Vec<&str>> = owned
                .iter()
                .map(|(_, ins)| ins.iter().map(|s| s.as_str()).collect())
                .collect();
            let spec: Vec<(&str, &[&str])> = owned
                .iter()
                .zip(&refs)
                .map(|((n, _), r)| (n.as_str(), r.as_slice()))
                .collect();
            graph(&spec)
        })
    }

    /// Brute-force convexity: a set is convex iff no outside layer is both reachable from the
    /// set and reaches it.
    fn convex_oracle(g: &ModelGraph, set: &[LayerId]) -> bool {
        let n = g.layers.len();
        let mut reach = vec![vec![false; n]; n];
        for i in (0..n).rev() {
            for s in g.successors(LayerId(i as u32)) {
                let from_s = reach[s.index()].clone();
                reach[i][s.index()] = true;
                for (r, f) in reach[i].iter_mut().zip(from_s) {
                    *r |= f;
                }
            }
        }
        (0..n)
            .filter(|v| !set.contains(&LayerId(*v as u32)))
            .all(|v| {
                !(set.iter().any(|a| reach[a.index()][v])
                    && set.iter().any(|b| reach[v][b.index()]))
            })
    }

    proptest! {
        #[test]
        fn convexity_matches_oracle(g in arb_graph(), mask in any::<u32>()) {
            let set: Vec<LayerId> = (0..g.layers.len()).filter(|i| mask >> i & 1 == 1).map(|i| LayerId(i as u32)).collect();
            prop_assume!(!set.is_empty());
            prop_assert_eq!(g.check_convex(&set).is_ok(), convex_oracle(&g, &set));
        }

        #[test]
        fn random_partitionings_are_legal_and_ordered(g in arb_graph(), k in 1usize..6, seed in any::<u64>()) {
            prop_assume!(k <= g.layers.len());
            let p = Partitioning::random(&g, k, seed).unwrap();
            prop_assert_eq!(p.parts.len(), k);
            let owner = p.owners(g.layers.len());
            for e in g.edges() {
                prop_assert!(owner[e.from.index()] <= owner[e.to.index()]);
            }
        }
    }
}
