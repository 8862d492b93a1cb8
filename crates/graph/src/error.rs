use crate::{LayerId, TensorId};
use thiserror::Error;

/// Errors about the structure of a [`crate::ModelGraph`]: bad ids, illegal partitions and broken
/// invariants.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum GraphError {
    /// A layer id is out of range, or (from `ModelGraph::validate`) a layer's id does not match
    /// its position. Carries the id and the number of layers.
    #[error("layer {0} does not exist (the model has {1} layers)")]
    NoSuchLayer(LayerId, usize),
    /// A partition, or a set checked for convexity, has no layers.
    #[error("a partition must contain at least one layer")]
    EmptyPartition,
    /// A layer (named) appears twice in one set or in two partitions.
    #[error("layer {0} is listed in more than one partition")]
    DuplicateLayer(String),
    /// A partitioning leaves out a layer (named).
    #[error("layer {0} is in no partition")]
    MissingLayer(String),
    /// The set is not convex: a path leaves it and comes back, so it cannot run as one unit.
    #[error(
        "partition is not convex: data leaves it at layer {leaves}, passes through layer {outside} \
         outside it, and re-enters at layer {reenters}"
    )]
    NotConvex {
        /// Name of the layer in the set that the path leaves from.
        leaves: String,
        /// Name of the outside layer the path passes through just before it comes back.
        outside: String,
        /// Name of the layer in the set that the path comes back to.
        reenters: String,
    },
    /// A layer reads a tensor that does not exist, or that has no producer and is not a graph
    /// input.
    #[error("tensor {0} has no producer and is not a graph input")]
    DanglingTensor(TensorId),
    /// A layer reads a tensor produced by itself or a later layer, so the stored order is not
    /// topological.
    #[error("graph has a cycle through layer {0}")]
    Cycle(LayerId),
    /// The graph cannot be cut into that many non-empty parts: zero parts, more parts than layers,
    /// or (for balanced cuts) more parts than fusion-safe cut points allow.
    #[error("cannot cut {layers} layers into {parts} non-empty partitions")]
    TooManyParts {
        /// Number of layers in the graph.
        layers: usize,
        /// Number of parts asked for.
        parts: usize,
    },
}
