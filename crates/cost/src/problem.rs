use crate::{Bandwidth, CostError, LinkCost, Nanos, Profile, Scenario, Tier};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tiersplit_graph::{Bytes, ModelGraph};
use tiersplit_tile::SpatialOp;

/// Index of a machine in [`Problem::nodes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub usize);

/// One machine of a [`Problem`], in the scenario's node order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemNode {
    /// The node's name in the scenario.
    pub name: String,
    /// The node's tier.
    pub tier: Tier,
    /// Memory the node has for weights and activations; no limit when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Bytes>,
    /// The node's radio, when everything it sends shares one (see
    /// [`crate::NodeSpec::uplink_mbps`]): transfers from the node take turns on it, and none of
    /// its links is faster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplink: Option<Bandwidth>,
}

impl ProblemNode {
    /// A link rate from this node: `rate`, or the node's radio when that is slower.
    pub fn capped(&self, rate: Bandwidth) -> Bandwidth {
        match self.uplink {
            Some(radio) if radio.0 < rate.0 => radio,
            _ => rate,
        }
    }
}

/// One layer of a [`Problem`], with its time on every node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemLayer {
    /// The layer's name in the model graph.
    pub name: String,
    /// Operator type, from the ONNX node (such as `Conv`).
    pub op: String,
    /// Time of this layer on each node, indexed by [`NodeId`].
    pub time: Vec<Nanos>,
    /// Bytes of its learned weights, which the node running it holds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub weights: Bytes,
    /// The layer's window geometry when it can run cut into spatial tiles (D3's vertical
    /// separation); `None` for layers that cannot (or when the caller gave no geometry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spatial: Option<SpatialOp>,
}

fn is_zero(b: &Bytes) -> bool {
    b.0 == 0
}

/// A tensor that may cross the network: a layer output or a graph input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemTensor {
    /// The tensor's name in the model graph.
    pub name: String,
    /// Size of the tensor for one frame.
    pub bytes: Bytes,
    /// `None`: a graph input, produced on the device (the raw upload).
    pub producer: Option<usize>,
    /// Indices in [`Problem::layers`] of the layers that read it.
    pub consumers: Vec<usize>,
    /// Graph outputs go back to the device.
    pub graph_output: bool,
    /// (height, width) of an NCHW feature map, so a tile's share of the bytes can be priced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hw: Option<(u64, u64)>,
}

/// Everything a planner needs, the same for every planner: per-layer time on every node, the
/// tensors with their sizes, and the links. Serialisable, so a plan can be checked by anyone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Problem {
    /// Name of the model graph.
    pub model: String,
    /// Name of the scenario.
    pub scenario: String,
    /// The machines, indexed by [`NodeId`].
    pub nodes: Vec<ProblemNode>,
    /// The device: where graph inputs are produced and where outputs must return.
    pub device: NodeId,
    /// In topological order.
    pub layers: Vec<ProblemLayer>,
    /// Layer outputs and graph inputs; [`Problem::layer_io`] maps layers to them.
    pub tensors: Vec<ProblemTensor>,
    /// Directed links; a bidirectional scenario link appears once per direction.
    pub links: Vec<LinkCost>,
    /// Frames per second the device produces (the scenario's `frame_rate`).
    pub frame_rate: f64,
}

impl Problem {
    /// Combines a model, a scenario and a reference profile: a node's layer time is the
    /// profile's time divided by the node's speed.
    pub fn new(
        graph: &ModelGraph,
        scenario: &Scenario,
        profile: &Profile,
    ) -> Result<Problem, CostError> {
        Problem::with_node_profiles(graph, scenario, profile, &HashMap::new())
    }

    /// Like [`Problem::new`], but nodes named in `node_profiles` take their layer times from
    /// their own measured profile (their `speed` is then not applied).
    pub fn with_node_profiles(
        graph: &ModelGraph,
        scenario: &Scenario,
        profile: &Profile,
        node_profiles: &HashMap<String, Profile>,
    ) -> Result<Problem, CostError> {
        scenario.validate()?;
        let reference = profile.times_for(graph)?;
        let mut own: HashMap<&str, Vec<Nanos>> = HashMap::new();
        for (name, p) in node_profiles {
            if !scenario.nodes.iter().any(|n| &n.name == name) {
                return Err(CostError::Profile(format!(
                    "a profile is given for node '{name}', which the scenario does not have"
                )));
            }
            own.insert(
                name.as_str(),
                p.times_for(graph)
                    .map_err(|e| CostError::Profile(format!("node '{name}': {e}")))?,
            );
        }
        let nodes: Vec<ProblemNode> = scenario
            .nodes
            .iter()
            .map(|n| ProblemNode {
                name: n.name.clone(),
                tier: n.tier,
                memory: n.memory_mb.map(|m| Bytes((m * 1024.0 * 1024.0) as u64)),
                uplink: n.uplink_mbps.map(Bandwidth::from_mbps),
            })
            .collect();
        let device = NodeId(
            scenario
                .nodes
                .iter()
                .position(|n| n.tier == Tier::Device)
                .expect("validated"),
        );
        let layers = graph
            .layers
            .iter()
            .zip(&reference)
            .enumerate()
            .map(|(i, (l, &t))| ProblemLayer {
                name: l.name.clone(),
                op: l.op.clone(),
                time: scenario
                    .nodes
                    .iter()
                    .map(|n| match own.get(n.name.as_str()) {
                        Some(times) => times[i],
                        None => Nanos((t.0 as f64 / n.speed).round() as u64),
                    })
                    .collect(),
                weights: l.param_bytes,
                spatial: None,
            })
            .collect();
        let tensors = graph
            .tensors
            .iter()
            .map(|t| ProblemTensor {
                name: t.name.clone(),
                bytes: t.bytes(),
                producer: t.producer.map(|p| p.index()),
                consumers: t.consumers.iter().map(|c| c.index()).collect(),
                graph_output: graph.outputs.contains(&t.id),
                hw: (t.shape.len() == 4).then(|| (t.shape[2], t.shape[3])),
            })
            .collect();
        let index = |name: &str| {
            NodeId(
                scenario
                    .nodes
                    .iter()
                    .position(|n| n.name == name)
                    .expect("validated"),
            )
        };
        let overhead = Nanos::from_millis_f64(scenario.message_overhead_ms);
        let mut links = Vec::new();
        for l in &scenario.links {
            let latency = Nanos::from_millis_f64(l.rtt_ms / 2.0) + overhead;
            let own = Scenario::link_bandwidth(l);
            let mut ends = vec![(index(&l.from), index(&l.to))];
            if l.bidirectional {
                ends.push((index(&l.to), index(&l.from)));
            }
            for (from, to) in ends {
                links.push(LinkCost {
                    from,
                    to,
                    bandwidth: nodes[from.0].capped(own),
                    latency,
                });
            }
        }
        let p = Problem {
            model: graph.name.clone(),
            scenario: scenario.name.clone(),
            nodes,
            device,
            layers,
            tensors,
            links,
            frame_rate: scenario.frame_rate,
        };
        p.check_routes()?;
        Ok(p)
    }

    /// Gives the layers their tiling geometry (one entry per layer, in layer order), which the
    /// importer knows and the graph does not carry.
    pub fn set_spatial(&mut self, ops: Vec<Option<SpatialOp>>) -> Result<(), CostError> {
        if ops.len() != self.layers.len() {
            return Err(CostError::Geometry(format!(
                "given for {} layers to a problem with {}",
                ops.len(),
                self.layers.len()
            )));
        }
        for (l, op) in self.layers.iter_mut().zip(ops) {
            l.spatial = op;
        }
        Ok(())
    }

    /// Gives `node` a radio of rate `uplink` that everything it sends shares, and caps its
    /// links at it (see [`ProblemNode::uplink`]).
    pub fn set_uplink(&mut self, node: NodeId, uplink: Bandwidth) {
        let n = &mut self.nodes[node.0];
        n.uplink = Some(uplink);
        let n = n.clone();
        for l in self.links.iter_mut().filter(|l| l.from == node) {
            l.bandwidth = n.capped(l.bandwidth);
        }
    }

    /// The tensors each layer reads and writes, by index, in layer order:
    /// (inputs of every layer, outputs of every layer).
    pub fn layer_io(&self) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
        let mut inputs = vec![Vec::new(); self.layers.len()];
        let mut outputs = vec![Vec::new(); self.layers.len()];
        for (ti, t) in self.tensors.iter().enumerate() {
            if let Some(l) = t.producer {
                outputs[l].push(ti);
            }
            for &c in &t.consumers {
                inputs[c].push(ti);
            }
        }
        (inputs, outputs)
    }

    /// The node called `name`.
    pub fn node_by_name(&self, name: &str) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.name == name).map(NodeId)
    }

    /// Every node's id, in order.
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.nodes.len()).map(NodeId)
    }

    /// The nodes of `tier`, in id order.
    pub fn nodes_of(&self, tier: Tier) -> Vec<NodeId> {
        self.node_ids()
            .filter(|&n| self.nodes[n.0].tier == tier)
            .collect()
    }

    /// The fastest node of a tier (by total layer time), the one tier-level planners use.
    pub fn main_node(&self, tier: Tier) -> Option<NodeId> {
        self.nodes_of(tier)
            .into_iter()
            .min_by_key(|&n| self.layers.iter().map(|l| l.time[n.0]).sum::<Nanos>())
    }

    /// The direct link `from -> to`, if there is one.
    pub fn link(&self, from: NodeId, to: NodeId) -> Option<&LinkCost> {
        self.links.iter().find(|l| l.from == from && l.to == to)
    }

    /// The hops a message of `bytes` takes from `from` to `to`: the direct link, or the
    /// fastest path through one relay node when that is quicker or there is no direct link.
    pub fn route(&self, from: NodeId, to: NodeId, bytes: Bytes) -> Option<Vec<(NodeId, NodeId)>> {
        if from == to {
            return Some(vec![]);
        }
        let mut best: Option<(Nanos, Vec<(NodeId, NodeId)>)> = self
            .link(from, to)
            .map(|l| (l.time(bytes), vec![(from, to)]));
        for mid in self.node_ids().filter(|&m| m != from && m != to) {
            if let (Some(a), Some(b)) = (self.link(from, mid), self.link(mid, to)) {
                let t = a.time(bytes) + b.time(bytes);
                if best.as_ref().is_none_or(|(bt, _)| t < *bt) {
                    best = Some((t, vec![(from, mid), (mid, to)]));
                }
            }
        }
        best.map(|(_, r)| r)
    }

    /// Time for `bytes` to go from `from` to `to` along [`Problem::route`].
    pub fn transfer_time(&self, from: NodeId, to: NodeId, bytes: Bytes) -> Nanos {
        match self.route(from, to, bytes) {
            Some(hops) => hops
                .iter()
                .map(|&(a, b)| self.link(a, b).expect("route uses links").time(bytes))
                .sum(),
            None => Nanos(u64::MAX / 4),
        }
    }

    pub(crate) fn check_routes(&self) -> Result<(), CostError> {
        for a in self.node_ids() {
            for b in self.node_ids() {
                if a != b && self.route(a, b, Bytes(1)).is_none() {
                    return Err(CostError::NoRoute {
                        from: self.nodes[a.0].name.clone(),
                        to: self.nodes[b.0].name.clone(),
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tiersplit_graph::{DType, Flops, Layer, LayerId, TensorId, TensorInfo};

    fn tiny() -> ModelGraph {
        let t = |i: u32, p: Option<LayerId>, c: Vec<LayerId>| TensorInfo {
            id: TensorId(i),
            name: format!("t{i}"),
            dtype: DType::F32,
            shape: vec![1, 10],
            producer: p,
            consumers: c,
        };
        ModelGraph {
            name: "m".into(),
            layers: vec![Layer {
                id: LayerId(0),
                name: "l0".into(),
                op: "Relu".into(),
                inputs: vec![TensorId(0)],
                outputs: vec![TensorId(1)],
                flops: Flops(10),
                params: 0,
                param_bytes: Bytes(0),
            }],
            tensors: vec![t(0, None, vec![LayerId(0)]), t(1, Some(LayerId(0)), vec![])],
            inputs: vec![TensorId(0)],
            outputs: vec![TensorId(1)],
        }
    }

    /// A node's radio caps every link it sends on, and only those.
    #[test]
    fn a_radio_caps_the_links_it_sends_on() {
        let scenario = Scenario::from_toml(
            "name = \"s\"\nframe_rate = 1\n[[nodes]]\nname = \"d\"\ntier = \"device\"\nuplink_mbps = 20\n[[nodes]]\nname = \"e\"\ntier = \"edge\"\n[[nodes]]\nname = \"c\"\ntier = \"cloud\"\n[[links]]\nfrom = \"d\"\nto = \"e\"\nbandwidth_mbps = 50\n[[links]]\nfrom = \"d\"\nto = \"c\"\nbandwidth_mbps = 10\n",
        )
        .unwrap();
        let p = Problem::new(&tiny(), &scenario, &Profile::estimate(&tiny(), 1.0)).unwrap();
        let mbps = |a, b| p.link(NodeId(a), NodeId(b)).unwrap().bandwidth.as_mbps();
        assert!((mbps(0, 1) - 20.0).abs() < 1e-9);
        assert!((mbps(1, 0) - 50.0).abs() < 1e-9);
        assert!((mbps(0, 2) - 10.0).abs() < 1e-9);
        assert_eq!(p.nodes[0].uplink, Some(Bandwidth::from_mbps(20.0)));
        assert_eq!(p.nodes[1].uplink, None);
    }

    #[test]
    fn node_profiles_override_speed() {
        let g = tiny();
        let scenario = Scenario::from_toml(
            "name = \"s\"\nframe_rate = 1\n[[nodes]]\nname = \"d\"\ntier = \"device\"\nspeed = 0.5\n[[nodes]]\nname = \"c\"\ntier = \"cloud\"\nspeed = 2\n[[links]]\nfrom = \"d\"\nto = \"c\"\nbandwidth_mbps = 10\n",
        )
        .unwrap();
        let mut reference = Profile::estimate(&g, 1.0);
        reference.layers[0].ms = 4.0;
        let p = Problem::new(&g, &scenario, &reference).unwrap();
        assert_eq!(p.layers[0].time, vec![Nanos(8_000_000), Nanos(2_000_000)]);
        let mut own = reference.clone();
        own.layers[0].ms = 3.0;
        let p = Problem::with_node_profiles(
            &g,
            &scenario,
            &reference,
            &HashMap::from([("c".to_string(), own.clone())]),
        )
        .unwrap();
        assert_eq!(p.layers[0].time, vec![Nanos(8_000_000), Nanos(3_000_000)]);
        let e = Problem::with_node_profiles(
            &g,
            &scenario,
            &reference,
            &HashMap::from([("x".to_string(), own)]),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("node 'x', which the scenario does not have"),
            "{e}"
        );
    }
}
