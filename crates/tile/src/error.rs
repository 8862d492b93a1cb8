use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TileError {
    #[error("grid of {parts} parts does not fit an axis of {size}")]
    TooManyParts { parts: usize, size: u64 },
    #[error("split sizes {sizes:?} do not add up to {size}")]
    BadSplit { sizes: Vec<u64>, size: u64 },
    #[error("layer {layer}: {msg}")]
    Layer { layer: usize, msg: String },
    #[error("the run has no layers")]
    Empty,
}
