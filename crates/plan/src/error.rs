use thiserror::Error;

/// Why a plan could not be made, or is not valid for its problem.
#[derive(Debug, Error, PartialEq)]
pub enum PlanError {
    /// The planner needs a node of a tier the scenario does not have.
    #[error("{algorithm} needs a node of tier {tier}, and the scenario has none")]
    MissingTier {
        /// Name of the planner.
        algorithm: &'static str,
        /// The missing tier (`device`, `edge` or `cloud`).
        tier: &'static str,
    },
    /// The placement does not give one node per layer of the problem.
    #[error("plan places {placed} layers but the model has {layers}")]
    WrongLength {
        /// Layers the plan places.
        placed: usize,
        /// Layers the model has.
        layers: usize,
    },
    /// A layer is placed on a node the problem does not have.
    #[error("plan places layer '{layer}' on node {node}, and the problem has {nodes} nodes")]
    UnknownNode {
        /// Name of the layer.
        layer: String,
        /// The node index the plan gives.
        node: usize,
        /// How many nodes the problem has.
        nodes: usize,
    },
    /// A node would hold more weights and activations than its memory.
    #[error("plan does not fit: node {node} would hold {needs} of weights and activations, and has {has}")]
    OutOfMemory {
        /// Name of the node.
        node: String,
        /// What the plan puts on it.
        needs: tiersplit_graph::Bytes,
        /// Its memory.
        has: tiersplit_graph::Bytes,
    },
    /// No plan the planner found fits the nodes' memory.
    #[error("{0} found no plan that fits the nodes' memory")]
    NothingFits(&'static str),
    /// A tensor would flow to a lower tier than its producer's (cloud to edge, or anything
    /// to the device).
    #[error("plan is invalid: layer '{consumer}' on {consumer_tier} reads '{tensor}' from {producer_tier}: data may not flow back toward the device")]
    Backward {
        /// Name of the tensor.
        tensor: String,
        /// Name of the layer reading it.
        consumer: String,
        /// Tier of the reading layer's node.
        consumer_tier: String,
        /// Tier of the node the tensor comes from.
        producer_tier: String,
    },
    /// A tiled stage is not a tileable chain with one tile per distinct node, or its tiles
    /// cannot be planned.
    #[error("tiled stage: {0}")]
    BadTiledStage(String),
    /// No planner has this name (the first field); the second lists the known names.
    #[error("unknown algorithm '{0}' (known: {1})")]
    UnknownAlgorithm(String, String),
}
