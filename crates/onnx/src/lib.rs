//! ONNX in and out.
//!
//! [`OnnxModel::from_bytes`] decodes an ONNX file as written by PyTorch, Darknet converters,
//! PaddlePaddle or the older model zoo, fixes symbolic input dimensions, folds everything that is
//! constant once shapes are static (Constant nodes, `Shape -> Slice -> Concat` chains feeding
//! `Reshape`, Identity of weights, and with an engine lent through [`ConstEvaluator`] any node
//! whose inputs are all constants), infers every activation's shape and computes each layer's
//! FLOPs and parameter bytes, producing a [`tiersplit_graph::ModelGraph`]. The folded model is
//! kept so that any legal set of layers can be written back as a standalone ONNX sub-model
//! ([`OnnxModel::sub_model`]) whose inputs and outputs are the tensors crossing the set's border
//! and which carries only the weights it uses.

#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

mod attributes;
mod const_tensor;
mod error;
mod evaluate;
mod import;
mod legacy;
mod ops;
mod sealed;
mod sub_model;
mod tiled_run;

/// Generated prost types for the subset of the ONNX schema in `proto/onnx_subset.proto`.
#[allow(clippy::all, missing_docs)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
}

pub use attributes::Attributes;
pub use const_tensor::ConstTensor;
pub use error::OnnxError;
pub use evaluate::{ConstEvaluator, Evaluated, EvaluatedData, MAX_EVALUATED};
pub use import::{ImportOptions, OnnxModel, SUPPORTED_OPSETS};
pub use ops::supported_ops;
pub use sealed::sealed_model;
pub use tiled_run::TiledRun;
