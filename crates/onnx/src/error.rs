use thiserror::Error;

#[derive(Debug, Error)]
pub enum OnnxError {
    #[error("not a valid ONNX protobuf file: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("the model has no graph")]
    NoGraph,
    #[error("unsupported ONNX opset {version} for domain '{domain}' (supported: {supported})")]
    Opset {
        domain: String,
        version: i64,
        supported: String,
    },
    #[error("node '{node}' (op {op}): unsupported operator; supported ops: {supported}")]
    UnsupportedOp {
        node: String,
        op: String,
        supported: String,
    },
    #[error("node '{node}' (op {op}): {msg}")]
    Node {
        node: String,
        op: String,
        msg: String,
    },
    #[error("node '{node}' (op {op}) reads tensor '{tensor}', which no node, input or initializer provides")]
    MissingTensor {
        node: String,
        op: String,
        tensor: String,
    },
    #[error("graph input '{input}': {msg}")]
    Input { input: String, msg: String },
    #[error("graph output '{0}' is not produced by any node")]
    MissingOutput(String),
    #[error("tensor '{name}': {msg}")]
    Tensor { name: String, msg: String },
    #[error("graph has a cycle or a node reads a tensor produced later: node '{0}' can never run")]
    Cycle(String),
    #[error(transparent)]
    Graph(#[from] tiersplit_graph::GraphError),
}

pub type Result<T, E = OnnxError> = std::result::Result<T, E>;
