//! Running ONNX models and sub-models on a real inference engine.
//!
//! [`Executor`] is the engine seam: it loads ONNX bytes into a [`LoadedModel`] that runs on
//! named host tensors. [`TractExecutor`] is the default backend (tract, pure Rust, on one or
//! more threads); [`OrtExecutor`] is ONNX Runtime, loaded from its shared library at run time
//! when it is installed. [`EngineSpec`] names an engine and its threads and makes the executor.
//! [`ChainRunner`] runs a list of partitions one after another, passing tensors by name, which
//! is how split execution is checked against the unsplit model ([`Difference`]).

#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

mod chain_runner;
mod difference;
mod engine;
mod error;
mod executor;
mod host_tensor;
mod ort_backend;
mod tiles;
mod tract_backend;

pub use chain_runner::{ChainRunner, PartTiming};
pub use difference::Difference;
pub use engine::{EngineKind, EngineSpec};
pub use error::ExecError;
pub use executor::{Executor, LoadedModel};
pub use host_tensor::{HostTensor, TensorData};
pub use ort_backend::{ort_library, Accelerator, OrtExecutor};
pub use tiles::{crop_nchw, stitch_nchw, Region, TileJob, TiledRunner};
pub use tract_backend::TractExecutor;
