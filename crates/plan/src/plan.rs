use crate::net::Net;
use crate::tiled_stage::{expand, expanded_placement};
use crate::{PlanError, TiledStage};
use serde::{Deserialize, Serialize};
use tiersplit_cost::{NodeId, Problem};

/// Where each layer runs: the output of every planner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Name of the planner that made the plan.
    pub algorithm: String,
    /// Node of every layer, in the problem's layer order.
    pub placement: Vec<NodeId>,
    /// What the planner wants the user to know (a switch to heavy-load mode, a warning).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Chains of layers that run as spatial tiles across several nodes (D3's VSM).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiled: Vec<TiledStage>,
}

impl Plan {
    /// A plan of `placement` by `algorithm`, with no notes and no tiled stages.
    pub fn new(algorithm: &str, placement: Vec<NodeId>) -> Plan {
        Plan {
            algorithm: algorithm.to_string(),
            placement,
            notes: vec![],
            tiled: vec![],
        }
    }

    /// This plan, made on a problem restricted to some nodes (such as
    /// [`tiersplit_cost::Problem::surviving`]), with its node ids mapped back to the full
    /// problem's: node `i` of the restricted problem is `kept[i]`.
    pub fn on_nodes(&self, kept: &[NodeId]) -> Plan {
        let map = |n: &NodeId| kept[n.0];
        Plan {
            algorithm: self.algorithm.clone(),
            placement: self.placement.iter().map(map).collect(),
            notes: self.notes.clone(),
            tiled: self
                .tiled
                .iter()
                .map(|t| TiledStage {
                    nodes: t.nodes.iter().map(map).collect(),
                    ..t.clone()
                })
                .collect(),
        }
    }

    /// Whether any layer or tile of the plan runs on one of `nodes`.
    pub fn uses_any(&self, nodes: &[NodeId]) -> bool {
        self.placement.iter().any(|n| nodes.contains(n))
            || self
                .tiled
                .iter()
                .any(|t| t.nodes.iter().any(|n| nodes.contains(n)))
    }

    /// Every layer placed, and no tensor flows to a lower tier than its producer's (edge to
    /// edge is allowed; cloud to edge or anything to the device is not); tiled stages are
    /// tileable chains with one tile per node, and their tiles obey the same tier rule; no
    /// node holds more than its memory ([`Prediction::memory`](crate::Prediction::memory)).
    pub fn validate(&self, p: &Problem) -> Result<(), PlanError> {
        if self.placement.len() != p.layers.len() {
            return Err(PlanError::WrongLength {
                placed: self.placement.len(),
                layers: p.layers.len(),
            });
        }
        if let Some((l, n)) = self
            .placement
            .iter()
            .enumerate()
            .find(|(_, n)| n.0 >= p.nodes.len())
        {
            return Err(PlanError::UnknownNode {
                layer: p.layers[l].name.clone(),
                node: n.0,
                nodes: p.nodes.len(),
            });
        }
        let net = Net::of(p);
        let (net, placement) = if self.tiled.is_empty() {
            (net, self.placement.clone())
        } else {
            let (tiled, pinned) = expand(p, &net, self)?;
            let placement = expanded_placement(&tiled, &pinned, &self.placement).collect();
            (tiled, placement)
        };
        net.check_tiers(p, &placement)?;
        match net.over_memory(&placement) {
            Some((node, needs, has)) => Err(PlanError::OutOfMemory {
                node: p.nodes[node.0].name.clone(),
                needs,
                has,
            }),
            None => Ok(()),
        }
    }

    /// Number of layers on each node.
    pub fn layers_per_node(&self, p: &Problem) -> Vec<usize> {
        let mut n = vec![0; p.nodes.len()];
        for &node in &self.placement {
            n[node.0] += 1;
        }
        n
    }
}
