//! The layer DAG of a neural network, independent of any file format or engine.
//!
//! A [`ModelGraph`] holds the layers (one per ONNX node that computes on activations), the
//! activation tensors between them with static shapes and byte sizes, per-layer FLOPs and
//! parameter sizes, and the graph's inputs and outputs. On top of it this crate answers the
//! structural questions every planner and executor needs: topological order, DAG edges with the
//! bytes they carry, whether a set of layers is a legal (convex) partition, what enters and
//! leaves a partition, and random legal partitionings for exactness tests.
//!
//! Pure: no I/O, no async runtime, no inference engine.

#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

mod dtype;
mod error;
mod ids;
mod model_graph;
mod partition;
mod units;

pub use dtype::DType;
pub use error::GraphError;
pub use ids::{LayerId, TensorId};
pub use model_graph::{Edge, Layer, ModelGraph, TensorInfo};
pub use partition::{Boundary, Partitioning};
pub use units::{Bytes, Flops};
