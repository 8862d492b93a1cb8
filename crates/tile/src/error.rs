use thiserror::Error;

/// Why a tiling could not be planned.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TileError {
    /// An axis cannot be cut into this many parts (none, more parts than elements, or a
    /// weight that is not positive).
    #[error("grid of {parts} parts does not fit an axis of {size}")]
    TooManyParts {
        /// Parts asked for.
        parts: usize,
        /// Length of the axis.
        size: u64,
    },
    /// A grid's sizes along one axis do not add up to the map's size, or one is zero.
    #[error("split sizes {sizes:?} do not add up to {size}")]
    BadSplit {
        /// The grid's row heights or column widths.
        sizes: Vec<u64>,
        /// The axis length they must add up to.
        size: u64,
    },
    /// A layer of the run has invalid geometry (a zero kernel, stride or dilation, padding
    /// not smaller than the window, or an empty output).
    #[error("layer {layer}: {msg}")]
    Layer {
        /// Index of the layer in the run.
        layer: usize,
        /// What is wrong with it.
        msg: String,
    },
    /// The run to tile has no layers.
    #[error("the run has no layers")]
    Empty,
}
