//! Running ONNX models and sub-models on a real inference engine.
//!
//! [`Executor`] is the engine seam: it loads ONNX bytes into a [`LoadedModel`] that runs on
//! named host tensors. [`TractExecutor`] is the default backend (tract, pure Rust); a second
//! backend (ONNX Runtime) only needs another implementation of the two traits.
//! [`ChainRunner`] runs a list of partitions one after another, passing tensors by name, which
//! is how split execution is checked against the unsplit model ([`Difference`]).

#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

mod chain_runner;
mod difference;
mod error;
mod executor;
mod host_tensor;
mod tiles;
mod tract_backend;

pub use chain_runner::{ChainRunner, PartTiming};
pub use difference::Difference;
pub use error::ExecError;
pub use executor::{Executor, LoadedModel};
pub use host_tensor::{HostTensor, TensorData};
pub use tiles::{crop_nchw, stitch_nchw, Region, TileJob, TiledRunner};
pub use tract_backend::TractExecutor;
