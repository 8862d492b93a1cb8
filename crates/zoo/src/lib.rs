//! The built-in model zoo: AlexNet (also in its original two-tower form), VGG16, ResNet-18,
//! ResNet-50, GoogLeNet, MobileNetV2, NiN, tiny YOLOv2, a ViT-B/16 and a U-Net, generated in Rust
//! as ONNX (opset 13; 20 for the ViT) with deterministic seeded weights.
//!
//! Architectures follow the reference definitions (torchvision for the ImageNet classifiers,
//! the Darknet cfg for tiny YOLOv2, Lin et al. for NiN), so parameter counts equal the published
//! ones. Weights are He-uniform random, not trained: enough to exercise every code path with
//! realistic activation ranges, while the real pretrained models live in `../shared/models`.
//! Large models are generated on demand and never stored.

#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

mod builder;
mod nets;

pub use builder::{NetBuilder, Sym};
pub use nets::{build, build_bytes, ZooEntry, ZOO};

/// Why a zoo model could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ZooError {
    /// No zoo model has this name (the first field); the second lists the known names.
    #[error("unknown zoo model '{0}' (known: {1})")]
    Unknown(String, String),
}
