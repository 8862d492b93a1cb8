use thiserror::Error;

/// Errors from loading and running models and from building, cropping or stitching host tensors.
#[derive(Debug, Error)]
pub enum ExecError {
    /// The engine could not load the ONNX bytes (decoding, shape inference or optimisation
    /// failed).
    #[error("{backend} could not load the model: {msg}")]
    Load {
        /// Name of the engine that failed (`Executor::name`, such as `"tract"`).
        backend: &'static str,
        /// The engine's message, with its chain of causes.
        msg: String,
    },
    /// The engine failed while running a loaded model, or was given the wrong number of inputs.
    #[error("{backend} failed to run the model: {msg}")]
    Run {
        /// Name of the engine that failed (`Executor::name`).
        backend: &'static str,
        /// The engine's message, with its chain of causes.
        msg: String,
    },
    /// A named model input does not exist (when fixing input shapes at load) or was given a tensor
    /// of the wrong shape.
    #[error("input '{name}': {msg}")]
    Input {
        /// Name of the model input.
        name: String,
        /// What is wrong with it.
        msg: String,
    },
    /// A tensor needed by name was never produced: no input or earlier part made it, or a tile
    /// model returned no output. Carries the name.
    #[error("tensor '{0}' is needed but was never produced")]
    MissingTensor(String),
    /// A tensor's element count does not match its shape, or a crop or stitch region does not fit
    /// the NCHW map or leaves part of it uncovered.
    #[error("tensor of shape {shape:?} needs {expected} values, got {got}")]
    BadTensor {
        /// Shape of the offending tensor (for a stitch gap, of the map being assembled).
        shape: Vec<usize>,
        /// Number of values the shape needs; for a crop, the region end that does not fit; for a
        /// stitch, the area the tiles must cover.
        expected: usize,
        /// Number of values given; for a crop, the smaller map dimension; for a stitch, the area
        /// the tiles covered.
        got: usize,
    },
    /// An element type or layout this crate cannot handle (an engine output that converts to
    /// neither f32 nor i64, or a tile input that is not an f32 NCHW map); the string says which.
    #[error("unsupported element type {0}")]
    DType(String),
}
