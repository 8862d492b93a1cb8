//! General constant folding: a node whose inputs are all constants once input shapes are fixed,
//! and whose arithmetic the importer's own folding does not cover (it knows shape computations
//! and small elementwise ones), is evaluated at import by an engine through [`ConstEvaluator`],
//! so generated weights and export-time arithmetic become initializers, never layers, and never
//! cross a cut. The importer stays free of engines: the caller lends one
//! ([`crate::ImportOptions::evaluator`]; `tiersplit-session`'s `EngineEvaluator` runs tract).

use crate::proto::{GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto};
use tiersplit_graph::DType;

/// Most elements a node's outputs may have together to be evaluated at import (2^26, 256 MB
/// of float32: the largest weight tensors); larger ones stay layers.
pub const MAX_EVALUATED: u64 = 1 << 26;

/// The values an engine computed for one output.
#[derive(Debug, Clone, PartialEq)]
pub enum EvaluatedData {
    /// float32 values.
    F32(Vec<f32>),
    /// int64 values.
    I64(Vec<i64>),
    /// Boolean values.
    Bool(Vec<bool>),
}

/// One output an engine computed: its dimensions and values (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluated {
    /// Dimensions, outermost first.
    pub shape: Vec<u64>,
    /// The values.
    pub data: EvaluatedData,
}

/// An engine that runs, at import, a model of one node with no graph inputs (its inputs are
/// initializers) and returns its outputs in order. A failure, or an answer of another type,
/// shape or length than the node's, is not an error of the import: the node then stays a
/// layer, as it would without an evaluator. The importer bounds what it asks for (FLOPs and
/// bytes per node and per import), so the engine needs no bounds of its own.
pub trait ConstEvaluator: Send + Sync + std::fmt::Debug {
    /// Runs `model` (ONNX bytes) and returns the values of its graph outputs, in order.
    fn evaluate(&self, model: &[u8]) -> Result<Vec<Evaluated>, String>;
}

/// What a one-node model needs of the file it comes from.
#[derive(Debug, Clone)]
pub(crate) struct ModelHeader {
    pub ir_version: i64,
    pub opset_import: Vec<OperatorSetIdProto>,
}

impl ModelHeader {
    /// `model`'s IR version and opsets, with the default domain at `opset`, the one the import
    /// reads it at (a file may leave it out, which engines would read as opset 0).
    pub fn of(model: &ModelProto, opset: i64) -> ModelHeader {
        let mut opset_import: Vec<OperatorSetIdProto> = model
            .opset_import
            .iter()
            .filter(|o| !o.domain.is_empty() && o.domain != "ai.onnx")
            .cloned()
            .collect();
        opset_import.push(OperatorSetIdProto {
            domain: String::new(),
            version: opset,
        });
        ModelHeader {
            ir_version: model.ir_version,
            opset_import,
        }
    }
}

/// A model running `node` alone: its constant inputs as initializers, its outputs (with the
/// inferred types and shapes) as graph outputs.
pub(crate) fn one_node_model(
    header: &ModelHeader,
    node: &NodeProto,
    inputs: Vec<TensorProto>,
    outputs: &[(String, DType, Vec<u64>)],
) -> Vec<u8> {
    let graph = GraphProto {
        name: "fold".into(),
        node: vec![node.clone()],
        initializer: inputs,
        output: outputs
            .iter()
            .map(|(n, dtype, shape)| crate::import::value_info_of(n, *dtype, shape))
            .collect(),
        ..Default::default()
    };
    let model = ModelProto {
        ir_version: header.ir_version.max(4),
        opset_import: header.opset_import.clone(),
        graph: Some(graph),
        ..Default::default()
    };
    prost::Message::encode_to_vec(&model)
}

/// `value` as the initializer `name` of type `dtype`, if the engine's answer has that type and
/// `shape`; `None` otherwise (the node then stays a layer).
pub(crate) fn to_initializer(
    name: &str,
    dtype: DType,
    shape: &[u64],
    value: Evaluated,
) -> Option<TensorProto> {
    let count = crate::const_tensor::element_count(shape)?;
    let len = match &value.data {
        EvaluatedData::F32(v) => v.len(),
        EvaluatedData::I64(v) => v.len(),
        EvaluatedData::Bool(v) => v.len(),
    };
    if value.shape != shape || len as u64 != count {
        return None;
    }
    let raw: Vec<u8> = match (dtype, value.data) {
        (DType::F32, EvaluatedData::F32(v)) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        (DType::I64, EvaluatedData::I64(v)) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        (DType::Bool, EvaluatedData::Bool(v)) => v.iter().map(|&b| u8::from(b)).collect(),
        _ => return None,
    };
    Some(TensorProto {
        name: name.to_string(),
        dims: shape.iter().map(|&d| d as i64).collect(),
        data_type: dtype.onnx_code(),
        raw_data: raw,
        ..Default::default()
    })
}
