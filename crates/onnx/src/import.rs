use crate::const_tensor::{element_count, proto_type, ConstTensor, MAX_ELEMENTS};
use crate::error::{OnnxError, Result};
use crate::evaluate::{one_node_model, to_initializer, ConstEvaluator, ModelHeader, MAX_EVALUATED};
use crate::ops::{fold, infer, learnable, Inferred, Val};
use crate::proto::{
    tensor_shape_proto, type_proto, GraphProto, ModelProto, NodeProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use prost::Message;
use std::collections::{HashMap, HashSet};
use tiersplit_graph::{Bytes, DType, Flops, Layer, LayerId, ModelGraph, TensorId, TensorInfo};

/// Opsets of the default ONNX domain that tiersplit imports.
pub const SUPPORTED_OPSETS: std::ops::RangeInclusive<i64> = 6..=21;

/// Constants up to this many elements are decoded for shape computations; larger ones (weights)
/// are only measured.
const DECODE_LIMIT: u64 = 4096;

/// How to fix what the file leaves open.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Shapes for graph inputs, by name; `None` as the name means "the only input".
    pub input_shapes: Vec<(Option<String>, Vec<u64>)>,
    /// An engine that evaluates the nodes whose inputs are all constants and whose arithmetic
    /// the importer does not know (see [`crate::ConstEvaluator`]); without one they stay layers.
    pub evaluator: Option<std::sync::Arc<dyn ConstEvaluator>>,
}

impl ImportOptions {
    /// The shape of the only graph input, for the common single-input model.
    pub fn with_input_shape(shape: Vec<u64>) -> ImportOptions {
        ImportOptions {
            input_shapes: vec![(None, shape)],
            evaluator: None,
        }
    }

    /// These options with `evaluator` folding what the importer cannot.
    pub fn with_evaluator(mut self, evaluator: std::sync::Arc<dyn ConstEvaluator>) -> Self {
        self.evaluator = Some(evaluator);
        self
    }
}

/// An imported model: its layer graph and the folded ONNX graph (static shapes, constants
/// folded into initializers, one node per layer in the same order) that sub-models are cut from.
#[derive(Debug, Clone)]
pub struct OnnxModel {
    /// The layer DAG that planning and partitioning work on.
    pub graph: ModelGraph,
    pub(crate) proto: ModelProto,
    pub(crate) initializers: HashMap<String, TensorProto>,
    /// The file was written for opset 6 and is read as opset 7.
    from_opset6: bool,
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
    // Values given to a model are float32, int64 or bool tensors (what engines, the wire and
    // .npy files carry here); another element type would only fail later, at the first run.
    if !matches!(dtype, DType::F32 | DType::I64 | DType::Bool) {
        return Err(err(format!(
            "element type {dtype} is not supported for graph inputs (f32, i64 or bool)"
        )));
    }
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

impl OnnxModel {
    /// Reads the file and imports it as [`OnnxModel::from_bytes`] does; a failed read is
    /// reported as a tensor error naming the path.
    pub fn from_path(path: &std::path::Path, options: &ImportOptions) -> Result<OnnxModel> {
        let bytes = std::fs::read(path).map_err(|e| OnnxError::Tensor {
            name: path.display().to_string(),
            msg: e.to_string(),
        })?;
        OnnxModel::from_bytes(&bytes, options)
    }

    /// Imports an ONNX model. Shapes must be static after `options` are applied, since every
    /// activation size, FLOP count and sub-model boundary is computed from them.
    pub fn from_bytes(bytes: &[u8], options: &ImportOptions) -> Result<OnnxModel> {
        let (model, mut g, opset) = decode_model(bytes)?;
        let mut folder = Folder::new(opset, take_initializers(&mut g)?)?;
        folder.evaluator = options.evaluator.clone().map(|engine| Evaluation {
            engine,
            header: ModelHeader::of(&model, opset.max(7)),
            graph_outputs: g.output.iter().map(|o| o.name.clone()).collect(),
            budget: EvaluationBudget::default(),
        });
        let graph_inputs = static_inputs(&g.input, &folder.consts, options)?;
        for (name, dtype, shape) in &graph_inputs {
            folder.add_activation(name, *dtype, shape.clone());
        }
        name_nodes(&mut g.node)?;
        drop_unread_dropout_masks(&mut g.node, &g.output);
        check_reads_provided(&g.node, &folder.vals)?;
        folder.run(std::mem::take(&mut g.node))?;
        let (graph, used_consts) = build_graph(&g, &graph_inputs, &folder)?;
        let Folder {
            consts,
            layers_nodes,
            ..
        } = folder;
        let initializers: HashMap<String, TensorProto> = consts
            .into_iter()
            .filter(|(n, _)| used_consts.contains(n))
            .collect();
        let proto = folded_proto(model, g, opset.max(7), &graph, layers_nodes);
        Ok(OnnxModel {
            graph,
            proto,
            initializers,
            from_opset6: opset == 6,
        })
    }

    /// Whether the file was written for opset 6, which engines starting at opset 7 (ONNX
    /// Runtime) and tract's reading of initializers listed as inputs cannot run as it is: its
    /// reference run is then its opset-7 reading ([`OnnxModel::to_bytes`]).
    pub fn read_from_opset6(&self) -> bool {
        self.from_opset6
    }

    /// The opset of the default domain the model is read as (an opset-6 file reads as 7).
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

/// Decodes the file and checks that its opset of the default domain is supported.
fn decode_model(bytes: &[u8]) -> Result<(ModelProto, GraphProto, i64)> {
    let mut model = ModelProto::decode(bytes)?;
    let g = model.graph.take().ok_or(OnnxError::NoGraph)?;
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
    if opset == 6 {
        // Read as opset 7 (`legacy`), which its partitions then declare.
        model
            .opset_import
            .retain(|o| !(o.domain.is_empty() || o.domain == "ai.onnx"));
        model.opset_import.push(crate::proto::OperatorSetIdProto {
            domain: String::new(),
            version: 7,
        });
    }
    Ok((model, g, opset))
}

/// Moves the initializers out of the graph, by name; every one's type is checked before any
/// is decoded.
fn take_initializers(g: &mut GraphProto) -> Result<HashMap<String, TensorProto>> {
    let mut consts: HashMap<String, TensorProto> = HashMap::new();
    for t in std::mem::take(&mut g.initializer) {
        proto_type(&t)?;
        consts.insert(t.name.clone(), t);
    }
    Ok(consts)
}

/// What shape inference sees of a constant: small ones are decoded so that shape computations
/// can read them.
fn const_val(t: &TensorProto) -> Result<Val> {
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
}

/// Graph inputs, minus initializers listed as inputs (IR 3), with static shapes.
fn static_inputs(
    inputs: &[ValueInfoProto],
    consts: &HashMap<String, TensorProto>,
    options: &ImportOptions,
) -> Result<Vec<(String, DType, Vec<u64>)>> {
    let real_inputs: Vec<&ValueInfoProto> = inputs
        .iter()
        .filter(|i| !consts.contains_key(&i.name))
        .collect();
    check_given_shapes(&real_inputs, options)?;
    real_inputs
        .iter()
        .map(|vi| -> Result<(String, DType, Vec<u64>)> {
            let (dtype, dims) = declared(vi)?;
            let shape = static_shape(vi, dims, options)?;
            Ok((vi.name.clone(), dtype, shape))
        })
        .collect()
}

/// Every shape in `options` must be for an existing input, and an unnamed one is only
/// unambiguous when there is a single input.
fn check_given_shapes(real_inputs: &[&ValueInfoProto], options: &ImportOptions) -> Result<()> {
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
                input: real_inputs
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                msg: "the model has several inputs: name the one a shape is for (NAME=1,3,224,224)"
                    .into(),
            });
        }
    }
    Ok(())
}

/// The shape given in `options` for an input, else its declared one with a symbolic batch
/// dimension taken as 1.
fn static_shape(
    vi: &ValueInfoProto,
    dims: Option<Vec<Option<u64>>>,
    options: &ImportOptions,
) -> Result<Vec<u64>> {
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
        (None, None) => return Err(err("has no declared shape: pass --input-shape".into())),
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
    if element_count(&shape).is_none() {
        return Err(err(format!(
            "shape {shape:?} has over {MAX_ELEMENTS} elements"
        )));
    }
    Ok(shape)
}

/// Unique node names: empty or repeated names would make layers ambiguous. Only the default
/// domain is supported.
fn name_nodes(nodes: &mut [NodeProto]) -> Result<()> {
    let mut seen: HashSet<String> = HashSet::new();
    for (i, node) in nodes.iter_mut().enumerate() {
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
    Ok(())
}

/// Dropout's mask output is of the input's type before opset 10 and boolean after, and tract
/// insists on a boolean one at every opset; at inference it is all ones, and nothing reads it
/// in exported models. An unread mask is dropped, so that a written part means the same to
/// every engine.
fn drop_unread_dropout_masks(nodes: &mut [NodeProto], outputs: &[ValueInfoProto]) {
    let read: HashSet<String> = nodes
        .iter()
        .flat_map(|n| n.input.iter().cloned())
        .chain(outputs.iter().map(|o| o.name.clone()))
        .collect();
    for node in nodes.iter_mut().filter(|n| n.op_type == "Dropout") {
        if node.output.get(1).is_some_and(|mask| !read.contains(mask)) {
            node.output.truncate(1);
        }
    }
}

/// Everything a node reads must be provided somewhere, so that a failed topological order
/// can only mean a cycle.
fn check_reads_provided(nodes: &[NodeProto], vals: &HashMap<String, Val>) -> Result<()> {
    let produced: HashSet<&str> = nodes
        .iter()
        .flat_map(|n| n.output.iter().map(|s| s.as_str()))
        .collect();
    for node in nodes {
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
    Ok(())
}

/// The outputs (name, type, shape) of `node` if an engine may evaluate it at import: every
/// output named, none a graph output (which must stay computed) or also an input, each
/// float32, int64 or bool, together at most [`MAX_EVALUATED`] elements; and the operator
/// deterministic and meaningful at inference (not Dropout, whose training mode is random).
fn evaluable(
    node: &NodeProto,
    inferred: &Inferred,
    graph_outputs: &HashSet<String>,
) -> Option<Vec<(String, DType, Vec<u64>)>> {
    if node.op_type == "Dropout"
        || node.op_type.starts_with("Random")
        || inferred.outputs.len() != node.output.len()
        || node
            .output
            .iter()
            .any(|o| o.is_empty() || graph_outputs.contains(o) || node.input.contains(o))
    {
        return None;
    }
    let outputs: Vec<(String, DType, Vec<u64>)> = node
        .output
        .iter()
        .zip(&inferred.outputs)
        .map(|(n, (dtype, shape))| (n.clone(), *dtype, shape.clone()))
        .collect();
    let elements = outputs
        .iter()
        .try_fold(0u64, |n, (_, _, s)| n.checked_add(element_count(s)?))?;
    let typed = outputs
        .iter()
        .all(|(_, d, _)| matches!(d, DType::F32 | DType::I64 | DType::Bool));
    (elements <= MAX_EVALUATED && typed).then_some(outputs)
}

/// Bytes a stored tensor holds (its raw bytes, or its typed values at 8 bytes each).
fn stored_bytes(t: &TensorProto) -> u64 {
    let typed = t.float_data.len() + t.int64_data.len() + t.int32_data.len() + t.double_data.len();
    t.raw_data.len() as u64 + 8 * typed as u64
}

/// What general folding may still spend on one import, so that a small hostile file cannot
/// make it compute for hours or hold gigabytes: past any bound, nodes stay layers (and cost
/// at run time what they cost in the file).
#[derive(Debug, Clone, Copy)]
struct EvaluationBudget {
    /// FLOPs one node may take.
    node_flops: u64,
    /// Bytes of inputs one node may read (each evaluation copies them).
    node_input_bytes: u64,
    /// FLOPs left for the whole import.
    flops: u64,
    /// Bytes of evaluated constants left for the whole import.
    bytes: u64,
}

impl Default for EvaluationBudget {
    fn default() -> Self {
        EvaluationBudget {
            node_flops: 1 << 30,
            node_input_bytes: 1 << 28,
            flops: 1 << 33,
            bytes: 1 << 30,
        }
    }
}

impl EvaluationBudget {
    /// Takes a node's cost from the budget; false (nothing taken) when it does not fit.
    fn spend(&mut self, flops: u64, input_bytes: u64, output_bytes: u64) -> bool {
        let fits = flops <= self.node_flops
            && input_bytes <= self.node_input_bytes
            && flops <= self.flops
            && output_bytes <= self.bytes;
        if fits {
            self.flops -= flops;
            self.bytes -= output_bytes;
        }
        fits
    }
}

/// Visits nodes in topological order, folding those whose outputs are constant and keeping the
/// rest as layers with inferred shapes and FLOPs.
struct Folder {
    opset: i64,
    /// The file was written for opset 6: each node is rewritten as opset 7 first.
    from_opset6: bool,
    /// Type, shape and (small constants only) value of every tensor known so far.
    vals: HashMap<String, Val>,
    /// Initializers and folded values.
    consts: HashMap<String, TensorProto>,
    /// Tensors computed so far; a node is visited once it reads only these.
    available: HashSet<String>,
    /// Nodes kept as layers, in topological order.
    layers_nodes: Vec<NodeProto>,
    /// FLOPs of each of `layers_nodes`.
    layer_flops: Vec<u64>,
    /// The engine lent for general folding, what its one-node models need of the file, and
    /// what it may still spend.
    evaluator: Option<Evaluation>,
}

/// General folding under way: the engine, the file's header, the graph outputs (left layers:
/// a graph output must be computed) and the budget left.
struct Evaluation {
    engine: std::sync::Arc<dyn ConstEvaluator>,
    header: ModelHeader,
    graph_outputs: HashSet<String>,
    budget: EvaluationBudget,
}

impl Folder {
    fn new(opset: i64, consts: HashMap<String, TensorProto>) -> Result<Folder> {
        let mut vals: HashMap<String, Val> = HashMap::new();
        for (name, t) in &consts {
            vals.insert(name.clone(), const_val(t)?);
        }
        Ok(Folder {
            opset: opset.max(7),
            from_opset6: opset == 6,
            available: consts.keys().cloned().collect(),
            vals,
            consts,
            layers_nodes: Vec::new(),
            layer_flops: Vec::new(),
            evaluator: None,
        })
    }

    fn add_const(&mut self, t: TensorProto) -> Result<()> {
        self.vals.insert(t.name.clone(), const_val(&t)?);
        self.available.insert(t.name.clone());
        self.consts.insert(t.name.clone(), t);
        Ok(())
    }

    /// A graph input or layer output: known type and shape, value only at run time.
    fn add_activation(&mut self, name: &str, dtype: DType, shape: Vec<u64>) {
        self.vals.insert(
            name.to_string(),
            Val {
                dtype,
                shape,
                value: None,
            },
        );
        self.available.insert(name.to_string());
    }

    /// Topological order, keeping file order where it already is one.
    fn run(&mut self, mut pending: Vec<NodeProto>) -> Result<()> {
        while !pending.is_empty() {
            let before = pending.len();
            let mut rest = Vec::new();
            for node in pending {
                if self.is_ready(&node) {
                    self.visit(node)?;
                } else {
                    rest.push(node);
                }
            }
            if rest.len() == before {
                return Err(OnnxError::Cycle(rest[0].name.clone()));
            }
            pending = rest;
        }
        Ok(())
    }

    fn is_ready(&self, node: &NodeProto) -> bool {
        node.input
            .iter()
            .all(|i| i.is_empty() || self.available.contains(i))
    }

    fn visit(&mut self, mut node: NodeProto) -> Result<()> {
        if node.op_type == "Constant" {
            return self.add_const(constant_node_value(&node)?);
        }
        if self.from_opset6 {
            let ins = self.inputs_of(&node);
            if let Some(c) = crate::legacy::to_opset7(&mut node, &ins, &self.consts)? {
                self.add_const(c)?;
            }
        }
        let opset = self.opset;
        let ins = self.inputs_of(&node);
        let inferred: Inferred = infer(&node, opset, &ins)?;
        if let Some((_, shape)) = inferred
            .outputs
            .iter()
            .find(|(_, s)| element_count(s).is_none())
        {
            return Err(crate::Attributes::of(&node).error(format!(
                "output shape {shape:?} has over {MAX_ELEMENTS} elements"
            )));
        }
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
            .all(|i| i.is_empty() || self.consts.contains_key(i));
        let folded = if node.op_type == "Identity" && all_const {
            let mut t = self.consts[&node.input[0]].clone();
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
        let folded = match folded {
            None if all_const && !self.from_opset6 => self.evaluate(&node, &inferred),
            f => f,
        };
        match folded {
            Some(ts) => {
                for t in ts {
                    self.add_const(t)?;
                }
            }
            None => self.keep_layer(node, &inferred),
        }
        Ok(())
    }

    /// The node's outputs computed by the lent engine, when there is one, the node may be
    /// evaluated ([`evaluable`]) within the budget left, and the engine answers with the
    /// inferred types and shapes; `None` keeps the node a layer.
    fn evaluate(&mut self, node: &NodeProto, inferred: &Inferred) -> Option<Vec<TensorProto>> {
        let ev = self.evaluator.as_mut()?;
        let outputs = evaluable(node, inferred, &ev.graph_outputs)?;
        let mut inputs: Vec<&TensorProto> = Vec::new();
        for name in node.input.iter().filter(|n| !n.is_empty()) {
            if !inputs.iter().any(|t| &t.name == name) {
                inputs.push(self.consts.get(name)?);
            }
        }
        let in_bytes = inputs.iter().map(|t| stored_bytes(t)).sum();
        let out_bytes = outputs
            .iter()
            .map(|(_, d, s)| element_count(s).map_or(u64::MAX, |n| n.saturating_mul(d.size())))
            .fold(0u64, u64::saturating_add);
        if !ev.budget.spend(inferred.flops, in_bytes, out_bytes) {
            tracing::debug!(node = %node.name, op = %node.op_type, "not folded: past the evaluation budget");
            return None;
        }
        let inputs = inputs.into_iter().cloned().collect();
        let model = one_node_model(&ev.header, node, inputs, &outputs);
        let values = match ev.engine.evaluate(&model) {
            Ok(v) if v.len() == outputs.len() => v,
            Ok(_) => return None,
            Err(e) => {
                tracing::debug!(node = %node.name, op = %node.op_type, error = %e, "not folded: the engine failed");
                return None;
            }
        };
        outputs
            .iter()
            .zip(values)
            .map(|((n, dtype, shape), v)| to_initializer(n, *dtype, shape, v))
            .collect()
    }

    /// What `infer` and `fold` see of a node's inputs; `None` for omitted optional ones.
    fn inputs_of(&self, node: &NodeProto) -> Vec<Option<Val>> {
        node.input
            .iter()
            .map(|i| {
                if i.is_empty() {
                    None
                } else {
                    self.vals.get(i).cloned()
                }
            })
            .collect()
    }

    fn keep_layer(&mut self, node: NodeProto, inferred: &Inferred) {
        for (name, (dtype, shape)) in node.output.iter().zip(&inferred.outputs) {
            if !name.is_empty() {
                self.add_activation(name, *dtype, shape.clone());
            }
        }
        self.layer_flops.push(inferred.flops);
        self.layers_nodes.push(node);
    }
}

/// Builds the layer graph of the folded nodes; also returns the names of the constants the
/// layers read, the only ones the folded model needs to keep.
fn build_graph(
    g: &GraphProto,
    graph_inputs: &[(String, DType, Vec<u64>)],
    folder: &Folder,
) -> Result<(ModelGraph, HashSet<String>)> {
    let mut b = GraphBuilder::default();
    let inputs: Vec<TensorId> = graph_inputs
        .iter()
        .map(|(n, d, s)| b.add_tensor(n, *d, s.clone(), None))
        .collect();
    for (i, node) in folder.layers_nodes.iter().enumerate() {
        b.add_layer(LayerId(i as u32), node, folder.layer_flops[i], folder)?;
    }
    let outputs = b.graph_outputs(&g.output, &folder.consts)?;
    let name = if g.name.is_empty() {
        "model".to_string()
    } else {
        g.name.clone()
    };
    let graph = ModelGraph {
        name,
        layers: b.layers,
        tensors: b.tensors,
        inputs,
        outputs,
    };
    graph.validate()?;
    Ok((graph, b.used_consts))
}

/// The layer graph under construction.
#[derive(Default)]
struct GraphBuilder {
    tensors: Vec<TensorInfo>,
    tensor_ids: HashMap<String, TensorId>,
    layers: Vec<Layer>,
    /// Constants read by some layer.
    used_consts: HashSet<String>,
}

impl GraphBuilder {
    fn add_tensor(
        &mut self,
        name: &str,
        dtype: DType,
        shape: Vec<u64>,
        producer: Option<LayerId>,
    ) -> TensorId {
        let id = TensorId(self.tensors.len() as u32);
        self.tensors.push(TensorInfo {
            id,
            name: name.to_string(),
            dtype,
            shape,
            producer,
            consumers: vec![],
        });
        self.tensor_ids.insert(name.to_string(), id);
        id
    }

    /// Constant inputs count as the layer's parameters rather than as tensors it reads.
    fn add_layer(
        &mut self,
        id: LayerId,
        node: &NodeProto,
        flops: u64,
        folder: &Folder,
    ) -> Result<()> {
        let mut ins = Vec::new();
        let mut params = 0u64;
        let mut param_bytes = 0u64;
        for (k, name) in node.input.iter().enumerate().filter(|(_, n)| !n.is_empty()) {
            if let Some(t) = folder.consts.get(name) {
                let (dtype, shape) = proto_type(t)?;
                let n: u64 = shape.iter().product();
                param_bytes += n * dtype.size();
                if learnable(&node.op_type, k)
                    && matches!(dtype, DType::F32 | DType::F16 | DType::F64)
                {
                    params += n;
                }
                self.used_consts.insert(name.clone());
            } else {
                let tid = self.tensor_ids[name];
                if !ins.contains(&tid) {
                    ins.push(tid);
                    self.tensors[tid.index()].consumers.push(id);
                }
            }
        }
        let mut outs = Vec::new();
        for name in node.output.iter().filter(|n| !n.is_empty()) {
            let v = &folder.vals[name];
            outs.push(self.add_tensor(name, v.dtype, v.shape.clone(), Some(id)));
        }
        self.layers.push(Layer {
            id,
            name: node.name.clone(),
            op: node.op_type.clone(),
            inputs: ins,
            outputs: outs,
            flops: Flops(flops),
            params,
            param_bytes: Bytes(param_bytes),
        });
        Ok(())
    }

    /// Graph outputs must be computed by a layer: sub-models and plans only move layer outputs.
    fn graph_outputs(
        &self,
        outputs: &[ValueInfoProto],
        consts: &HashMap<String, TensorProto>,
    ) -> Result<Vec<TensorId>> {
        let mut ids = Vec::new();
        for o in outputs {
            match self.tensor_ids.get(&o.name) {
                Some(&t) if self.tensors[t.index()].producer.is_some() => ids.push(t),
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
        Ok(ids)
    }
}

/// The folded model: layers only, static shapes, used constants as initializers (those are
/// kept apart, so that each sub-model carries only its own).
fn folded_proto(
    mut model: ModelProto,
    mut g: GraphProto,
    opset: i64,
    graph: &ModelGraph,
    layers_nodes: Vec<NodeProto>,
) -> ModelProto {
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
    model
}
