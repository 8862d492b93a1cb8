use crate::{LayerId, TensorId};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum GraphError {
    #[error("layer {0} does not exist (the model has {1} layers)")]
    NoSuchLayer(LayerId, usize),
    #[error("a partition must contain at least one layer")]
    EmptyPartition,
    #[error("layer {0} is listed in more than one partition")]
    DuplicateLayer(String),
    #[error("layer {0} is in no partition")]
    MissingLayer(String),
    #[error(
        "partition is not convex: data leaves it at layer {leaves}, passes through layer {outside} \
         outside it, and re-enters at layer {reenters}"
    )]
    NotConvex {
        leaves: String,
        outside: String,
        reenters: String,
    },
    #[error("tensor {0} has no producer and is not a graph input")]
    DanglingTensor(TensorId),
    #[error("graph has a cycle through layer {0}")]
    Cycle(LayerId),
    #[error("cannot cut {layers} layers into {parts} non-empty partitions")]
    TooManyParts { layers: usize, parts: usize },
}
