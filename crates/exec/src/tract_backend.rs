use crate::{ExecError, Executor, HostTensor, LoadedModel, TensorData};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::{AttributeProto, ModelProto, NodeProto};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::InferenceOp;

type OpBuilder =
    fn(&ParsingContext, &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

/// tract's own builder of an operator, which the builders below wrap; tract's registry is made
/// once.
fn builtin(op: &str) -> OpBuilder {
    static TRACT: OnceLock<HashMap<String, OpBuilder>> = OnceLock::new();
    *TRACT
        .get_or_init(|| tract_onnx::onnx().op_register.0)
        .get(op)
        .expect("tract registers the operators it is asked for here")
}

/// tract has no Upsample (opset 7 to 9, deprecated by Resize in opset 10). Upsample-9 takes
/// (X, scales) with the same meaning as Resize-10, so it is built as a Resize-10.
fn upsample(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    if ctx.onnx_operator_set_version < 9 {
        anyhow::bail!("Upsample before opset 9 (scales as an attribute) is not supported");
    }
    let mut ctx = ctx.clone();
    ctx.onnx_operator_set_version = 10;
    resize(&ctx, node)
}

/// Resize, with the nearest pixel of opsets before 11 made explicit. Those opsets have no
/// `nearest_mode`, and tract reads them with Resize-11's default, `round_prefer_floor`; ONNX
/// Runtime, which exporters of that time checked their models against, truncates the source
/// coordinate on an axis it enlarges and rounds it up on one it shrinks (and so answers as
/// Upsample's repeat does). At 4x, `round_prefer_floor` takes the next source pixel from the
/// third output pixel on: a PaddleOCR text detector's map differed by up to 1.0 before this.
/// One mode serves every axis, so a node that enlarges some axes and shrinks others is
/// refused; scales computed at run time (not a constant of the file) are taken to enlarge, as
/// every exported model seen does.
fn resize(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let resize = builtin("Resize");
    let attribute = |name: &str| node.attribute.iter().find(|a| a.name == name);
    // Nearest is the default mode of Resize-10 and Upsample.
    let nearest = attribute("mode").is_none_or(|a| a.s == b"nearest");
    if ctx.onnx_operator_set_version >= 11 || !nearest || attribute("nearest_mode").is_some() {
        return resize(ctx, node);
    }
    let scales = node
        .input
        .get(1)
        .and_then(|name| constant_floats(ctx.model, name))
        .unwrap_or_default();
    let (grows, shrinks) = (
        scales.iter().any(|&v| v > 1.0),
        scales.iter().any(|&v| v < 1.0),
    );
    if grows && shrinks {
        anyhow::bail!(
            "a nearest Resize before opset 11 that enlarges some axes and shrinks others \
             (scales {scales:?}) is not supported on tract; run this model on ONNX Runtime"
        );
    }
    let mode: &[u8] = if shrinks { b"ceil" } else { b"floor" };
    let mut node = node.clone();
    node.attribute.push(AttributeProto {
        name: "nearest_mode".into(),
        r#type: AttributeType::String as i32,
        s: mode.to_vec(),
        ..AttributeProto::default()
    });
    resize(ctx, &node)
}

/// The values of a float initializer or Constant node of the main graph, if `name` is one.
fn constant_floats(model: &ModelProto, name: &str) -> Option<Vec<f32>> {
    let graph = model.graph.as_ref()?;
    let tensor = graph
        .initializer
        .iter()
        .find(|t| t.name == name)
        .or_else(|| {
            graph
                .node
                .iter()
                .find(|n| n.op_type == "Constant" && n.output.iter().any(|o| o == name))
                .and_then(|n| n.attribute.iter().find(|a| a.name == "value"))
                .and_then(|a| a.t.as_ref())
        })?;
    if !tensor.float_data.is_empty() {
        return Some(tensor.float_data.clone());
    }
    let raw = &tensor.raw_data;
    (raw.len() % 4 == 0).then(|| {
        raw.chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    })
}

/// tract 0.23 computes GlobalLpPool as the mean of `x^p`, with neither the absolute value nor
/// the p-th root of ONNX's `(sum |x|^p)^(1/p)`: a wrong answer, so it is refused with the way out.
fn global_lp_pool(
    _: &ParsingContext,
    _: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    anyhow::bail!(
        "tract computes GlobalLpPool wrongly (a mean of x^p, no root); run this model on ONNX \
         Runtime (engine \"ort\")"
    )
}

/// tract 0.23 runs a recurrent layer with `direction = "reverse"` as if it ran forward (GRU
/// and RNN answered up to 1.0 away from ONNX Runtime in the corpus): a wrong answer, so it is
/// refused with the way out. Bidirectional layers agree.
fn recurrent(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let reverse = node
        .attribute
        .iter()
        .any(|a| a.name == "direction" && a.s == b"reverse");
    if reverse {
        anyhow::bail!(
            "tract computes a reverse {} wrongly; run this model on ONNX Runtime (engine \"ort\")",
            node.op_type
        );
    }
    builtin(&node.op_type)(ctx, node)
}

fn framework() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    onnx.op_register.insert("Upsample", upsample);
    onnx.op_register.insert("Resize", resize);
    onnx.op_register.insert("GlobalLpPool", global_lp_pool);
    for op in ["LSTM", "GRU", "RNN"] {
        onnx.op_register.insert(op, recurrent);
    }
    onnx
}

/// The default engine: tract, pure Rust, optimised plans, on the calling thread or a thread
/// pool of its own.
#[derive(Debug, Default, Clone)]
pub struct TractExecutor {
    /// tract's multithreaded executor when more than one thread is asked for.
    pool: Option<tract_linalg::multithread::Executor>,
    /// Threads asked for (0, the default, is one).
    threads: usize,
}

impl TractExecutor {
    /// tract on `threads` threads: one runs on the caller's thread, more on a pool of that
    /// many, shared by the models this executor loads.
    pub fn new(threads: usize) -> TractExecutor {
        TractExecutor {
            threads: threads.max(1),
            pool: (threads > 1).then(|| {
                tract_linalg::multithread::Executor::multithread_with_name(threads, "tract")
            }),
        }
    }
}

struct TractModel {
    plan: Arc<TypedRunnableModel>,
    inputs: Vec<String>,
    outputs: Vec<String>,
    pool: Option<tract_linalg::multithread::Executor>,
}

fn load_err(e: impl std::fmt::Display) -> ExecError {
    ExecError::Load {
        backend: "tract",
        msg: format!("{e:#}"),
    }
}

fn run_err(e: impl std::fmt::Display) -> ExecError {
    ExecError::Run {
        backend: "tract",
        msg: format!("{e:#}"),
    }
}

impl Executor for TractExecutor {
    fn name(&self) -> &'static str {
        "tract"
    }

    fn threads(&self) -> usize {
        self.threads.max(1)
    }

    fn load(
        &self,
        onnx: &[u8],
        input_shapes: &[(String, Vec<usize>)],
    ) -> Result<Box<dyn LoadedModel>, ExecError> {
        // Fixing symbolic input dimensions contradicts symbolic shapes the file declares for
        // intermediate tensors and outputs, so those declarations are dropped and re-inferred.
        let overriding = !input_shapes.is_empty();
        let mut model = framework()
            .with_ignore_value_info(overriding)
            .with_ignore_output_shapes(overriding)
            .model_for_read(&mut &*onnx)
            .map_err(load_err)?;
        let input_outlets = model.input_outlets().map_err(load_err)?.to_vec();
        let inputs: Vec<String> = input_outlets
            .iter()
            .map(|o| model.node(o.node).name.clone())
            .collect();
        for (name, shape) in input_shapes {
            let ix = inputs
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| ExecError::Input {
                    name: name.clone(),
                    msg: format!("no such input (inputs: {})", inputs.join(", ")),
                })?;
            let dt = model
                .input_fact(ix)
                .map_err(load_err)?
                .datum_type()
                .unwrap_or(f32::datum_type());
            model
                .set_input_fact(ix, InferenceFact::dt_shape(dt, shape.clone()))
                .map_err(load_err)?;
        }
        let outputs: Vec<String> = model
            .output_outlets()
            .map_err(load_err)?
            .iter()
            .map(|&o| {
                model
                    .outlet_label(o)
                    .map(str::to_string)
                    .unwrap_or_else(|| model.node(o.node).name.clone())
            })
            .collect();
        let plan = model
            .into_optimized()
            .map_err(load_err)?
            .into_runnable()
            .map_err(load_err)?;
        Ok(Box::new(TractModel {
            plan,
            inputs,
            outputs,
            pool: self.pool.clone(),
        }))
    }
}

fn to_tract(t: HostTensor) -> Result<TValue, ExecError> {
    let tensor = match &t.data {
        TensorData::F32(v) => Tensor::from_shape(&t.shape, v),
        TensorData::I64(v) => Tensor::from_shape(&t.shape, v),
        TensorData::Bool(v) => Tensor::from_shape(&t.shape, v),
    }
    .map_err(run_err)?;
    Ok(tensor.into_tvalue())
}

fn from_tract(t: &Tensor) -> Result<HostTensor, ExecError> {
    let shape = t.shape().to_vec();
    match t.datum_type() {
        DatumType::F32 => {
            let v = t.to_plain_array_view::<f32>().map_err(run_err)?;
            HostTensor::f32(shape, v.iter().copied().collect())
        }
        DatumType::I64 => {
            let v = t.to_plain_array_view::<i64>().map_err(run_err)?;
            HostTensor::i64(shape, v.iter().copied().collect())
        }
        DatumType::Bool => {
            let v = t.to_plain_array_view::<bool>().map_err(run_err)?;
            HostTensor::bool(shape, v.iter().copied().collect())
        }
        other => {
            let cast = t
                .cast_to::<f32>()
                .map_err(|_| ExecError::DType(format!("{other:?}")))?;
            let v = cast.to_plain_array_view::<f32>().map_err(run_err)?;
            HostTensor::f32(shape, v.iter().copied().collect())
        }
    }
}

impl LoadedModel for TractModel {
    fn input_names(&self) -> &[String] {
        &self.inputs
    }

    fn output_names(&self) -> &[String] {
        &self.outputs
    }

    fn run(&self, inputs: Vec<HostTensor>) -> Result<Vec<HostTensor>, ExecError> {
        crate::executor::check_input_count("tract", &self.inputs, &inputs)?;
        for (i, (name, t)) in self.inputs.iter().zip(&inputs).enumerate() {
            let fact = self.plan.model().input_fact(i).map_err(run_err)?;
            if let Some(shape) = fact.shape.as_concrete() {
                if shape != t.shape.as_slice() {
                    return Err(ExecError::Input {
                        name: name.clone(),
                        msg: format!("expected shape {shape:?}, got {:?}", t.shape),
                    });
                }
            }
        }
        let values: TVec<TValue> = inputs.into_iter().map(to_tract).collect::<Result<_, _>>()?;
        let out = match &self.pool {
            Some(pool) => tract_linalg::multithread::multithread_tract_scope(pool.clone(), || {
                self.plan.run(values)
            }),
            None => self.plan.run(values),
        }
        .map_err(run_err)?;
        out.iter().map(|v| from_tract(v)).collect()
    }
}
