use thiserror::Error;

#[derive(Debug, Error)]
pub enum ExecError {
    #[error("{backend} could not load the model: {msg}")]
    Load { backend: &'static str, msg: String },
    #[error("{backend} failed to run the model: {msg}")]
    Run { backend: &'static str, msg: String },
    #[error("input '{name}': {msg}")]
    Input { name: String, msg: String },
    #[error("tensor '{0}' is needed but was never produced")]
    MissingTensor(String),
    #[error("tensor of shape {shape:?} needs {expected} values, got {got}")]
    BadTensor {
        shape: Vec<usize>,
        expected: usize,
        got: usize,
    },
    #[error("unsupported element type {0}")]
    DType(String),
}
