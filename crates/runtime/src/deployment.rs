//! What the device tells every node before frames flow: which parts it runs, where each tensor
//! goes next, and every node's data-plane address. The same description goes to every node;
//! each picks out its own share. Emulation is not part of it: it belongs to the session and is
//! set on every node on its own ([`Emulation`], the `Emulate` call), so a trace can change it
//! while deployments come and go.

use crate::ids::{DeploymentId, ModelHash, SessionId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A plan made executable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    /// Names this deployment in logs and statistics (the plan's algorithm, say).
    pub id: DeploymentId,
    /// The device's session the deployment belongs to; its frames carry it. Set by the
    /// driver (a compiled plan leaves it `SessionId::NONE`, which nodes refuse from the
    /// network).
    #[serde(default)]
    pub session: SessionId,
    /// The first frame this deployment serves; earlier frames finish on the deployment they
    /// started on (a live switch). Set by the driver.
    #[serde(default)]
    pub first_frame: u64,
    /// Every node's data-plane address, bound by the driver when it deploys (a compiled plan
    /// leaves it empty: it does not depend on where the nodes are).
    #[serde(default)]
    pub nodes: BTreeMap<String, String>,
    /// Every part on every node; each node runs the parts whose `node` is its name.
    pub parts: Vec<PartSpec>,
    /// Where tensors go once they are published on a node.
    pub routes: Vec<Route>,
    /// The node that feeds graph inputs and collects graph outputs (the device).
    pub sink: String,
    /// Graph input tensors, published on the sink node for every frame.
    pub inputs: Vec<String>,
    /// Graph output tensors, delivered to the sink node.
    pub outputs: Vec<String>,
    /// Directed links (from, to) the device wants watched: each node pings the peers of the
    /// ones leaving it and reports those that stop answering. Set by the driver.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watch: Vec<(String, String)>,
}

/// One piece of work on one node, run once per frame when all its inputs are there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartSpec {
    /// Names the part in statistics (`PartRecord::part`) and errors.
    pub id: String,
    /// Name of the node that runs the part (a key of `Deployment::nodes`).
    pub node: String,
    /// What the part computes.
    pub work: Work,
    /// (tensor name on the node, the model's input name), in the model's input order.
    pub inputs: Vec<(String, String)>,
    /// (the model's output name, tensor name on the node), in the model's output order.
    pub outputs: Vec<(String, String)>,
}

/// The computation of a part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Work {
    /// An ONNX sub-model, shipped beforehand as a blob and named by its content hash.
    Model {
        /// Content hash of the model bytes, uploaded to the node before it deploys.
        hash: ModelHash,
    },
    /// Assembles tiles into one NCHW map of `shape`: input `i` goes to `regions[i]`
    /// (row start, row end, column start, column end).
    Stitch {
        /// NCHW shape of the stitched map.
        shape: [usize; 4],
        /// Region of each input in the map, in input order.
        regions: Vec<[usize; 4]>,
    },
}

/// A tensor that leaves a node: when `tensor` is published on `from`, send it to `to` (cut to
/// `crop` first, if given) where it is published as `deliver_as`. Routes through a relay are two
/// routes; the relay publishes what it receives, which forwards it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    /// Name of the tensor on the sending node.
    pub tensor: String,
    /// Name of the sending node.
    pub from: String,
    /// Name of the receiving node.
    pub to: String,
    /// (row start, row end, column start, column end) of an NCHW map.
    #[serde(default)]
    pub crop: Option<[usize; 4]>,
    /// Name the tensor is published under on the receiving node.
    pub deliver_as: String,
}

/// Emulated speeds for a cluster on one machine (documented as emulation, not measurement):
/// links shaped in the sender's transport, compute stretched by a factor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Emulation {
    /// Shapes of the emulated links, one per directed (from, to) pair; a link not listed is not
    /// shaped.
    pub links: Vec<LinkShape>,
    /// Node name -> factor >= 1: after each part the node stays busy (factor - 1) times the
    /// part's measured compute time, as if its processor were that much slower.
    pub slowdown: BTreeMap<String, f64>,
    /// Node name -> rate of its radio, Mbit/s: every link the node sends on shares it (what
    /// overlaps takes turns chunk by chunk, as flows share a real radio), and none of them runs
    /// faster. Nodes not listed send on each link independently.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub radios: BTreeMap<String, f64>,
}

/// The emulated shape of the directed link from one node to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkShape {
    /// Name of the sending node, whose transport does the shaping.
    pub from: String,
    /// Name of the receiving node.
    pub to: String,
    /// Token-bucket rate: a message of b bytes holds the link for b * 8 / rate. `None`: the
    /// rate is not shaped here (the kernel shapes it, as in the testbed).
    #[serde(default)]
    pub mbps: Option<f64>,
    /// One-way delay added after the message leaves the bucket.
    pub delay_ms: f64,
    /// The link is cut: nothing crosses it (tensors wait, pings go unanswered) until the
    /// emulation mends it, as when a cable is pulled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cut: bool,
}

impl Deployment {
    /// Checks the description is self-consistent and within the node's bounds (part and
    /// route counts, stitch sizes, no route cycles), naming the first problem.
    pub fn check(&self) -> Result<(), String> {
        crate::validate::deployment(self)
    }

    /// Content hashes of the models `node` runs, each once.
    pub fn model_hashes(&self, node: &str) -> std::collections::BTreeSet<&ModelHash> {
        self.parts
            .iter()
            .filter(|p| p.node == node)
            .filter_map(|p| match &p.work {
                Work::Model { hash } => Some(hash),
                Work::Stitch { .. } => None,
            })
            .collect()
    }

    /// The nodes that run a part of it or relay one of its tensors (the sink included).
    pub fn nodes_with_work(&self) -> std::collections::BTreeSet<String> {
        let mut n: std::collections::BTreeSet<String> =
            self.parts.iter().map(|p| p.node.clone()).collect();
        for r in &self.routes {
            n.insert(r.from.clone());
            n.insert(r.to.clone());
        }
        n.insert(self.sink.clone());
        n
    }

    /// The directed links (from, to) its tensors cross.
    pub fn hops(&self) -> std::collections::BTreeSet<(String, String)> {
        self.routes
            .iter()
            .map(|r| (r.from.clone(), r.to.clone()))
            .collect()
    }

    /// The peers `node` watches its links to, with their addresses.
    pub(crate) fn watched_from(&self, node: &str) -> Vec<(String, String)> {
        self.watch
            .iter()
            .filter(|(from, _)| from == node)
            .filter_map(|(_, to)| Some((to.clone(), self.nodes.get(to)?.clone())))
            .collect()
    }
}

impl Emulation {
    /// The shape of the link from `from` to `to`, or `None` when it is not emulated.
    pub fn link(&self, from: &str, to: &str) -> Option<&LinkShape> {
        self.links.iter().find(|l| l.from == from && l.to == to)
    }

    /// The rate of `node`'s radio, Mbit/s, when it has one.
    pub fn radio_of(&self, node: &str) -> Option<f64> {
        self.radios.get(node).copied()
    }

    /// The factor `node`'s compute is stretched by (1: not slowed).
    pub fn slowdown_of(&self, node: &str) -> f64 {
        self.slowdown.get(node).copied().unwrap_or(1.0)
    }

    /// Checks rates, delays and factors are finite and in range, naming the first bad one.
    pub fn check(&self) -> Result<(), String> {
        crate::validate::emulation(self)
    }
}
