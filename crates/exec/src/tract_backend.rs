use crate::{ExecError, Executor, HostTensor, LoadedModel, TensorData};
use std::sync::{Arc, OnceLock};
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::InferenceOp;

type OpBuilder =
    fn(&ParsingContext, &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

/// tract has no Upsample (opset 7 to 9, deprecated by Resize in opset 10). Upsample-9 takes
/// (X, scales) with the same meaning as Resize-10, so it is built by tract's own Resize
/// builder as if the model were opset 10.
fn upsample(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    static RESIZE: OnceLock<OpBuilder> = OnceLock::new();
    let resize = RESIZE.get_or_init(|| {
        *tract_onnx::onnx()
            .op_register
            .0
            .get("Resize")
            .expect("tract registers Resize")
    });
    if ctx.onnx_operator_set_version < 9 {
        anyhow::bail!("Upsample before opset 9 (scales as an attribute) is not supported");
    }
    let mut ctx = ctx.clone();
    ctx.onnx_operator_set_version = 10;
    resize(&ctx, node)
}

fn framework() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    onnx.op_register.insert("Upsample", upsample);
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
