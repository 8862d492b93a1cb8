use crate::const_tensor::{proto_type, ConstTensor};
use crate::error::{OnnxError, Result};
use crate::op_shapes::{fold, infer, Inferred, Val};
use crate::proto::{
    tensor_shape_proto, type_proto, ModelProto, NodeProto, TensorProto, TensorShapeProto,
    TypeProto, ValueInfoProto,
};
use prost::Message;
use std::collections::{HashMap, HashSet};
use tiersplit_graph::{Bytes, DType, Flops, Layer, LayerId, ModelGraph, TensorId, TensorInfo};

/// Opsets of the default ONNX domain that tiersplit imports.
pub const SUPPORTED_OPSETS: std::ops::RangeInclusive<i64> = 7..=21;

/// Constants up to this many elements are decoded for shape computations; larger ones (weights)
/// are only measured.
const DECODE_LIMIT: u64 = 4096;

/// How to fix what the file leaves open.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Shapes for graph inputs, by name; `None` as the name means "the only input".
    pub input_shapes: Vec<(Option<String>, Vec<u64>)>,
}

impl ImportOptions {
    pub fn with_input_shape(shape: Vec<u64>) -> ImportOptions {
        ImportOptions {
            input_shapes: vec![(None, shape)],
        }
    }
}

/// An imported model: its layer graph and the folded ONNX graph (static shapes, constants
/// folded into initializers, one node per layer in the same order) that sub-models are cut from.
#[derive(Debug, Clone)]
pub struct OnnxModel {
    pub graph: ModelGraph,
    pub(crate) proto: ModelProto,
    pub(crate) initializers: HashMap<String, TensorProto>,
}

pub(crate) fn value_info_of(name: &str, dtype: DType, shape: &[u64]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: dtype.onnx_code(),
                shape: Some(TensorShapeProto {
                    dim: shape
                        .iter()
                        .map(|&d| tensor_shape_proto::Dimension {
                            value: Some(tensor_shape_proto::dimension::Value::DimValue(d as i64)),
                            denotation: String::new(),
                        })
                        .collect(),
                }),
            })),
            denotation: String::new(),
        }),
        doc_string: String::new(),
    }
}

pub(crate) fn tensor_value_info(t: &TensorInfo) -> ValueInfoProto {
    value_info_of(&t.name, t.dtype, &t.shape)
}

/// Declared element type and dimensions (`None` where symbolic or absent) of a graph input.
fn declared(vi: &ValueInfoProto) -> Result<(DType, Option<Vec<Option<u64>>>)> {
    let err = |msg: String| OnnxError::Input {
        input: vi.name.clone(),
        msg,
    };
    let Some(type_proto::Value::TensorType(t)) = vi.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Err(err("is not a tensor".into()));
    };
    let dtype = DType::from_onnx(t.elem_type)
        .ok_or_else(|| err(format!("unsupported element type {}", t.elem_type)))?;
    let dims = t.shape.as_ref().map(|s| {
        s.dim
            .iter()
            .map(|d| match d.value {
                Some(tensor_shape_proto::dimension::Value::DimValue(v)) if v > 0 => Some(v as u64),
                _ => None,
            })
            .collect()
    });
    Ok((dtype, dims))
}

fn constant_node_value(node: &NodeProto) -> Result<TensorProto> {
    let a = crate::Attributes::of(node);
    let name = node.output.first().cloned().unwrap_or_default();
    if let Some(t) = a.tensor("value") {
        let mut t = t.clone();
        t.name = name;
        return Ok(t);
    }
    let c = if let Some(v) = a.floats("value_floats") {
        ConstTensor::from_f32(vec![v.len() as u64], v)
    } else if let Some(v) = a.ints("value_ints") {
        ConstTensor::from_i64(vec![v.len() as u64], v)
    } else if a.has("value_float") {
        ConstTensor::from_f32(vec![], vec![a.float("value_float", 0.0)])
    } else if a.has("value_int") {
        ConstTensor::from_i64(vec![], vec![a.int("value_int", 0)])
    } else {
        return Err(a.error("Constant without a supported value attribute"));
    };
    Ok(c.to_proto(&name))
}

/// Parameters that are learned (as frameworks count them): float constants read by weight
/// bearing ops, excluding BatchNormalization running statistics.
fn learnable(op: &str, input_index: usize) -> bool {
    match op {
        "Conv" | "ConvTranspose" | "Gemm" | "MatMul" | "PRelu" | "Add" | "Sub" | "Mul" | "Div" => {
            true
        }
        "BatchNormalization" => input_index == 1 || input_index == 2,
        _ => false,
    }
}

impl OnnxModel {
    pub fn from_path(path: &std::path::Path, options: &ImportOptions) -> Result<OnnxModel> {
        let bytes = std::fs::read(path).map_err(|e| OnnxError::Tensor {
            name: path.display().to_string(),
            msg: e.to_string(),
        })?;
        OnnxModel::from_bytes(&bytes, options)
    }

    pub fn from_bytes(bytes: &[u8], options: &ImportOptions) -> Result<OnnxModel> {
        let mut model = ModelProto::decode(bytes)?;
        let mut g = model.graph.take().ok_or(OnnxError::NoGraph)?;
        if g.node.is_empty() {
            return Err(OnnxError::NoGraph);
        }
        let opset = model
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map(|o| o.version)
            .unwrap_or(if model.ir_version <= 3 { 8 } else { 0 });
        if !SUPPORTED_OPSETS.contains(&opset) {
            return Err(OnnxError::Opset {
                domain: "ai.onnx".into(),
                version: opset,
                supported: format!("{} to {}", SUPPORTED_OPSETS.start(), SUPPORTED_OPSETS.end()),
            });
        }

        let mut consts: HashMap<String, TensorProto> = HashMap::new();
        for t in std::mem::take(&mut g.initializer) {
            proto_type(&t)?;
            consts.insert(t.name.clone(), t);
        }
        let mut vals: HashMap<String, Val> = HashMap::new();
        let const_val = |t: &TensorProto| -> Result<Val> {
            let (dtype, shape) = proto_type(t)?;
            let small = shape.iter().product::<u64>() <= DECODE_LIMIT;
            let value = if small && dtype != DType::F16 {
                Some(ConstTensor::decode(t)?)
            } else {
                None
            };
            Ok(Val {
                dtype,
                shape,
                value,
            })
        };
        for (name, t) in &consts {
            vals.insert(name.clone(), const_val(t)?);
        }

        // Graph inputs, minus initializers listed as inputs (IR 3), with static shapes.
        let mut graph_inputs: Vec<(String, DType, Vec<u64>)> = Vec::new();
        let real_inputs: Vec<&ValueInfoProto> = g
            .input
            .iter()
            .filter(|i| !consts.contains_key(&i.name))
            .collect();
        for (name, _) in &options.input_shapes {
            if let Some(n) = name {
                if !real_inputs.iter().any(|i| &i.name == n) {
                    return Err(OnnxError::Input {
                        input: n.clone(),
                        msg: "no such graph input".into(),
                    });
                }
            } else if real_inputs.len() != 1 {
                return Err(OnnxError::Input {
                    input: real_inputs.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", "),
                    msg: "the model has several inputs: name the one a shape is for (NAME=1,3,224,224)".into(),
                });
            }
        }
        for vi in &real_inputs {
            let (dtype, dims) = declared(vi)?;
            let given = options
                .input_shapes
                .iter()
                .find(|(n, _)| n.as_deref().is_none_or(|n| n == vi.name))
                .map(|(_, s)| s.clone());
            let err = |msg: String| OnnxError::Input {
                input: vi.name.clone(),
                msg,
            };
            let shape = match (given, dims) {
                (Some(s), Some(d)) if s.len() != d.len() => {
                    return Err(err(format!(
                        "given shape {s:?} has rank {} but the model declares rank {}",
                        s.len(),
                        d.len()
                    )))
                }
                (Some(s), _) if s.contains(&0) => {
                    return Err(err(format!("given shape {s:?} has a zero dimension")))
                }
                (Some(s), _) => s,
                (None, None) => {
                    return Err(err("has no declared shape: pass --input-shape".into()))
                }
                (None, Some(d)) => d
                    .iter()
                    .enumerate()
                    .map(|(i, v)| match (i, v) {
                        (_, Some(v)) => Ok(*v),
                        (0, None) => Ok(1),
                        (i, None) => Err(err(format!(
                            "dimension {i} is symbolic: pass --input-shape"
                        ))),
                    })
                    .collect::<Result<Vec<u64>>>()?,
            };
            vals.insert(
                vi.name.clone(),
                Val {
                    dtype,
                    shape: shape.clone(),
                    value: None,
                },
            );
            graph_inputs.push((vi.name.clone(), dtype, shape));
        }

        // Unique node names: empty or repeated names would make layers ambiguous.
        let mut seen = HashSet::new();
        for (i, node) in g.node.iter_mut().enumerate() {
            if node.name.is_empty() || !seen.insert(node.name.clone()) {
                node.name = format!("{}_{i}", node.op_type);
                seen.insert(node.name.clone());
            }
            if !(node.domain.is_empty() || node.domain == "ai.onnx") {
                return Err(OnnxError::UnsupportedOp {
                    node: node.name.clone(),
                    op: format!("{}:{}", node.domain, node.op_type),
                    supported: "operators of the default ONNX domain".into(),
                });
            }
        }

        // Everything a node reads must be provided somewhere.
        let produced: HashSet<&str> = g
            .node
            .iter()
            .flat_map(|n| n.output.iter().map(|s| s.as_str()))
            .collect();
        for node in &g.node {
            for i in node.input.iter().filter(|i| !i.is_empty()) {
                if !produced.contains(i.as_str()) && !vals.contains_key(i) {
                    return Err(OnnxError::MissingTensor {
                        node: node.name.clone(),
                        op: node.op_type.clone(),
                        tensor: i.clone(),
                    });
                }
            }
        }

        // Topological order, keeping file order where it already is one.
        let mut pending: Vec<NodeProto> = std::mem::take(&mut g.node);
        let mut available: HashSet<String> = vals.keys().cloned().collect();
        let mut layers_nodes: Vec<NodeProto> = Vec::new();
        let mut layer_flops: Vec<u64> = Vec::new();
        while !pending.is_empty() {
            let before = pending.len();
            let mut rest = Vec::new();
            for node in pending {
                if !node
                    .input
                    .iter()
                    .all(|i| i.is_empty() || available.contains(i))
                {
                    rest.push(node);
                    continue;
                }
                if node.op_type == "Constant" {
                    let t = constant_node_value(&node)?;
                    vals.insert(t.name.clone(), const_val(&t)?);
                    available.insert(t.name.clone());
                    consts.insert(t.name.clone(), t);
                    continue;
                }
                let ins: Vec<Option<Val>> = node
                    .input
                    .iter()
                    .map(|i| {
                        if i.is_empty() {
                            None
                        } else {
                            vals.get(i).cloned()
                        }
                    })
                    .collect();
                let inferred: Inferred = infer(&node, opset, &ins)?;
                if inferred.outputs.len() < node.output.len() {
                    return Err(crate::Attributes::of(&node).error(format!(
                        "declares {} outputs, only {} supported",
                        node.output.len(),
                        inferred.outputs.len()
                    )));
                }
                let all_const = node
                    .input
                    .iter()
                    .all(|i| i.is_empty() || consts.contains_key(i));
                let folded = if node.op_type == "Identity" && all_const {
                    let mut t = consts[&node.input[0]].clone();
                    t.name = node.output[0].clone();
                    Some(vec![t])
                } else if all_const || node.op_type == "Shape" {
                    fold(&node, opset, &ins, &inferred)?.map(|cs| {
                        cs.iter()
                            .zip(&node.output)
                            .map(|(c, n)| c.to_proto(n))
                            .collect()
                    })
                } else {
                    None
                };
                match folded {
                    Some(ts) => {
                        for t in ts {
                            vals.insert(t.name.clone(), const_val(&t)?);
                            available.insert(t.name.clone());
                            consts.insert(t.name.clone(), t);
                        }
                    }
                    None => {
                        for (name, (dtype, shape)) in node.output.iter().zip(&inferred.outputs) {
                            if !name.is_empty() {
                                vals.insert(
                                    name.clone(),
                                    Val {
                                        dtype: *dtype,
                                        shape: shape.clone(),
                                        value: None,
                                    },
                                );
                                available.insert(name.clone());
                            }
                        }
                        layer_flops.push(inferred.flops);
                        layers_nodes.push(node);
                    }
                }
            }
            if rest.len() == before {
                return Err(OnnxError::Cycle(rest[0].name.clone()));
            }
            pending = rest;
        }

        // Build the layer graph.
        let mut tensors: Vec<TensorInfo> = Vec::new();
        let mut tensor_ids: HashMap<String, TensorId> = HashMap::new();
        fn add_tensor(
            name: &str,
            dtype: DType,
            shape: Vec<u64>,
            producer: Option<LayerId>,
            tensors: &mut Vec<TensorInfo>,
            tensor_ids: &mut HashMap<String, TensorId>,
        ) -> TensorId {
            let id = TensorId(tensors.len() as u32);
            tensors.push(TensorInfo {
                id,
                name: name.to_string(),
                dtype,
                shape,
                producer,
                consumers: vec![],
            });
            tensor_ids.insert(name.to_string(), id);
            id
        }
        let inputs: Vec<TensorId> = graph_inputs
            .iter()
            .map(|(n, d, s)| add_tensor(n, *d, s.clone(), None, &mut tensors, &mut tensor_ids))
            .collect();
        let mut layers = Vec::new();
        let mut used_consts: HashSet<String> = HashSet::new();
        for (i, node) in layers_nodes.iter().enumerate() {
            let id = LayerId(i as u32);
            let mut ins = Vec::new();
            let mut params = 0u64;
            let mut param_bytes = 0u64;
            for (k, name) in node.input.iter().enumerate().filter(|(_, n)| !n.is_empty()) {
                if let Some(t) = consts.get(name) {
                    let (dtype, shape) = proto_type(t)?;
                    let n: u64 = shape.iter().product();
                    param_bytes += n * dtype.size();
                    if learnable(&node.op_type, k)
                        && matches!(dtype, DType::F32 | DType::F16 | DType::F64)
                    {
                        params += n;
                    }
                    used_consts.insert(name.clone());
                } else {
                    let tid = tensor_ids[name];
                    if !ins.contains(&tid) {
                        ins.push(tid);
                        tensors[tid.index()].consumers.push(id);
                    }
                }
            }
            let mut outs = Vec::new();
            for name in node.output.iter().filter(|n| !n.is_empty()) {
                let v = &vals[name];
                outs.push(add_tensor(
                    name,
                    v.dtype,
                    v.shape.clone(),
                    Some(id),
                    &mut tensors,
                    &mut tensor_ids,
                ));
            }
            layers.push(Layer {
                id,
                name: node.name.clone(),
                op: node.op_type.clone(),
                inputs: ins,
                outputs: outs,
                flops: Flops(layer_flops[i]),
                params,
                param_bytes: Bytes(param_bytes),
            });
        }
        let mut outputs = Vec::new();
        for o in &g.output {
            match tensor_ids.get(&o.name) {
                Some(&t) if tensors[t.index()].producer.is_some() => outputs.push(t),
                Some(_) => {
                    return Err(OnnxError::MissingOutput(format!(
                        "{} (it is a graph input passed through unchanged)",
                        o.name
                    )))
                }
                None if consts.contains_key(&o.name) => {
                    return Err(OnnxError::MissingOutput(format!(
                        "{} (it is a constant)",
                        o.name
                    )))
                }
                None => return Err(OnnxError::MissingOutput(o.name.clone())),
            }
        }
        let name = if g.name.is_empty() {
            "model".to_string()
        } else {
            g.name.clone()
        };
        let graph = ModelGraph {
            name,
            layers,
            tensors,
            inputs,
            outputs,
        };
        graph.validate()?;

        // The folded model: layers only, static shapes, used constants as initializers.
        let initializers: HashMap<String, TensorProto> = consts
            .into_iter()
            .filter(|(n, _)| used_consts.contains(n))
            .collect();
        g.node = layers_nodes;
        g.input = graph
            .inputs
            .iter()
            .map(|&t| tensor_value_info(graph.tensor(t)))
            .collect();
        g.output = graph
            .outputs
            .iter()
            .map(|&t| tensor_value_info(graph.tensor(t)))
            .collect();
        g.value_info.clear();
        model.graph = Some(g);
        model.ir_version = model.ir_version.max(4);
        if !model
            .opset_import
            .iter()
            .any(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        {
            model.opset_import.push(crate::proto::OperatorSetIdProto {
                domain: String::new(),
                version: opset,
            });
        }
        Ok(OnnxModel {
            graph,
            proto: model,
            initializers,
        })
    }

    /// The opset of the default domain the model was written for.
    pub fn opset(&self) -> i64 {
        self.proto
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map(|o| o.version)
            .unwrap_or(0)
    }

    /// The whole folded model as ONNX bytes (static shapes, no Constant or shape nodes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let all: Vec<LayerId> = self.graph.layers.iter().map(|l| l.id).collect();
        self.sub_model(&all)
            .expect("the whole model is a legal partition")
            .encode_to_vec()
    }
}
