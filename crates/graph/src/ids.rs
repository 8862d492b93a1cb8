use serde::{Deserialize, Serialize};
use std::fmt;

/// Index of a layer in [`crate::ModelGraph::layers`]; layers are stored in topological order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LayerId(pub u32);

/// Index of an activation tensor in [`crate::ModelGraph::tensors`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TensorId(pub u32);

impl LayerId {
    /// The id as an index into `ModelGraph::layers`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl TensorId {
    /// The id as an index into `ModelGraph::tensors`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for LayerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "L{}", self.0)
    }
}

impl fmt::Display for TensorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "T{}", self.0)
    }
}
