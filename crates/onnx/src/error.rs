use thiserror::Error;

/// Errors from reading an ONNX model, inferring its shapes and writing sub-models or tiles.
#[derive(Debug, Error)]
pub enum OnnxError {
    /// The bytes are not a valid ONNX `ModelProto`.
    #[error("not a valid ONNX protobuf file: {0}")]
    Decode(#[from] prost::DecodeError),
    /// The model has no graph, or a graph without nodes.
    #[error("the model has no graph")]
    NoGraph,
    /// The model imports an opset of the default domain outside `SUPPORTED_OPSETS`.
    #[error("unsupported ONNX opset {version} for domain '{domain}' (supported: {supported})")]
    Opset {
        /// Operator domain (`ai.onnx`).
        domain: String,
        /// Opset version the model imports.
        version: i64,
        /// The supported range, as text.
        supported: String,
    },
    /// A node uses an operator tiersplit cannot infer shapes for, or one outside the default
    /// domain.
    #[error("node '{node}' (op {op}): unsupported operator; supported ops: {supported}")]
    UnsupportedOp {
        /// Name of the node.
        node: String,
        /// Operator type (`domain:op` for an operator of another domain).
        op: String,
        /// What is supported, as text: the supported operators, or the supported domain.
        supported: String,
    },
    /// A node's attributes or inputs are invalid or unsupported for its operator, or it cannot be
    /// tiled.
    #[error("node '{node}' (op {op}): {msg}")]
    Node {
        /// Name of the node.
        node: String,
        /// Operator type of the node.
        op: String,
        /// What is wrong.
        msg: String,
    },
    /// A node reads a tensor that no node, graph input or initializer provides.
    #[error("node '{node}' (op {op}) reads tensor '{tensor}', which no node, input or initializer provides")]
    MissingTensor {
        /// Name of the node.
        node: String,
        /// Operator type of the node.
        op: String,
        /// Name of the missing tensor.
        tensor: String,
    },
    /// A graph input is not a tensor, has no usable static shape, or does not match the shape
    /// given for it (or a given shape names no input).
    #[error("graph input '{input}': {msg}")]
    Input {
        /// Name of the graph input (the list of inputs when a shape does not say which one it is
        /// for).
        input: String,
        /// What is wrong.
        msg: String,
    },
    /// A graph output is not computed by a layer (no node makes it, or it is a constant or a graph
    /// input passed through). Carries its name and why.
    #[error("graph output '{0}' is not produced by any node")]
    MissingOutput(String),
    /// A constant or initializer cannot be decoded, or a run of layers cannot be planned as tiles.
    #[error("tensor '{name}': {msg}")]
    Tensor {
        /// Name of the tensor.
        name: String,
        /// What is wrong.
        msg: String,
    },
    /// The nodes cannot be ordered (a cycle, or a node that reads a tensor produced later).
    /// Carries the name of a node that can never run.
    #[error("graph has a cycle or a node reads a tensor produced later: node '{0}' can never run")]
    Cycle(String),
    /// The layer graph built from the model breaks a `ModelGraph` invariant.
    #[error(transparent)]
    Graph(#[from] tiersplit_graph::GraphError),
}

pub type Result<T, E = OnnxError> = std::result::Result<T, E>;
