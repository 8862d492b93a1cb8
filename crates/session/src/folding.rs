//! General constant folding at import: an engine lent to the importer.

use std::sync::Arc;
use tiersplit_exec::{Executor, HostTensor, TensorData, TractExecutor};
use tiersplit_onnx::{ConstEvaluator, Evaluated, EvaluatedData, ImportOptions};

/// Evaluates, at import, the nodes whose inputs are all constants and whose arithmetic the
/// importer does not know ([`tiersplit_onnx::ConstEvaluator`]), on an engine: tract by
/// default, which needs nothing installed. A folded float value then differs from what another
/// engine would compute at run time as two engines' answers differ
/// ([`tiersplit_exec::Difference::ENGINE_TOLERANCE`]); an integer or boolean one is tract's,
/// where an engine rounding differently (Floor, Cast of a value on a boundary) would disagree.
pub struct EngineEvaluator {
    executor: Arc<dyn Executor>,
}

impl EngineEvaluator {
    /// Evaluation on tract, one thread.
    pub fn tract() -> EngineEvaluator {
        EngineEvaluator::on(Arc::new(TractExecutor::new(1)))
    }

    /// Evaluation on `executor`.
    pub fn on(executor: Arc<dyn Executor>) -> EngineEvaluator {
        EngineEvaluator { executor }
    }
}

impl std::fmt::Debug for EngineEvaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EngineEvaluator({})", self.executor.name())
    }
}

impl ConstEvaluator for EngineEvaluator {
    fn evaluate(&self, model: &[u8]) -> Result<Vec<Evaluated>, String> {
        let run = || self.executor.load(model, &[])?.run(Vec::new());
        // A file is outside input: an engine's panic on a node it cannot handle leaves the
        // node a layer rather than ending the import.
        let outputs = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
            .map_err(|_| "the engine panicked".to_string())?
            .map_err(|e| e.to_string())?;
        Ok(outputs.into_iter().map(evaluated).collect())
    }
}

fn evaluated(t: HostTensor) -> Evaluated {
    Evaluated {
        shape: t.shape.iter().map(|&d| d as u64).collect(),
        data: match t.data {
            TensorData::F32(v) => EvaluatedData::F32(v),
            TensorData::I64(v) => EvaluatedData::I64(v),
            TensorData::Bool(v) => EvaluatedData::Bool(v),
        },
    }
}

/// `options` with general constant folding on tract ([`EngineEvaluator`]) when they lend no
/// evaluator of their own.
pub fn folding(options: &ImportOptions) -> ImportOptions {
    let mut options = options.clone();
    if options.evaluator.is_none() {
        options.evaluator = Some(Arc::new(EngineEvaluator::tract()));
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use tiersplit_exec::Difference;
    use tiersplit_onnx::proto::{
        tensor_shape_proto::dimension, tensor_shape_proto::Dimension, type_proto, GraphProto,
        ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto,
        ValueInfoProto,
    };
    use tiersplit_onnx::OnnxModel;

    const FLOAT: i32 = 1;

    fn info(name: &str, dims: &[i64]) -> ValueInfoProto {
        let dim = dims
            .iter()
            .map(|&v| Dimension {
                value: Some(dimension::Value::DimValue(v)),
                ..Default::default()
            })
            .collect();
        ValueInfoProto {
            name: name.into(),
            r#type: Some(TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: FLOAT,
                    shape: Some(TensorShapeProto { dim }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn weight(name: &str, dims: &[i64], k: usize) -> TensorProto {
        let n: i64 = dims.iter().product();
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: FLOAT,
            float_data: (0..n as usize)
                .map(|i| ((i * 13 + k) % 17) as f32 / 17.0 - 0.5)
                .collect(),
            ..Default::default()
        }
    }

    fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
        NodeProto {
            op_type: op.into(),
            name: output.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            ..Default::default()
        }
    }

    /// A convolution whose weight is generated (a 128x4x3x3 weight, too large for the
    /// importer's own arithmetic, times a scale) and a MatMul by a product of two constants.
    fn generated_weights() -> Vec<u8> {
        model(
            vec![
                node("Mul", &["w_raw", "scale"], "w"),
                node("Conv", &["x", "w"], "y"),
                node("MatMul", &["a", "b"], "m"),
                node("MatMul", &["x", "m"], "t"),
            ],
            vec![
                weight("w_raw", &[128, 4, 3, 3], 1),
                weight("scale", &[1], 2),
                weight("a", &[8, 8], 3),
                weight("b", &[8, 8], 4),
            ],
            &[1, 4, 8, 8],
            vec![info("y", &[1, 128, 6, 6]), info("t", &[1, 4, 8, 8])],
        )
    }

    #[test]
    fn generated_weights_fold_away_and_the_model_answers_the_same() {
        let bytes = generated_weights();
        let plain = OnnxModel::from_bytes(&bytes, &ImportOptions::default()).unwrap();
        let folded = OnnxModel::from_bytes(&bytes, &folding(&ImportOptions::default())).unwrap();
        let ops = |m: &OnnxModel| -> Vec<String> {
            m.graph.layers.iter().map(|l| l.op.clone()).collect()
        };
        assert_eq!(ops(&plain), ["Mul", "Conv", "MatMul", "MatMul"]);
        assert_eq!(ops(&folded), ["Conv", "MatMul"]);
        let tract = TractExecutor::new(1);
        let x = HostTensor::f32(
            vec![1, 4, 8, 8],
            (0..256).map(|i| (i % 9) as f32 / 4.0 - 1.0).collect(),
        )
        .unwrap();
        let run = |b: &[u8]| tract.load(b, &[]).unwrap().run(vec![x.clone()]).unwrap();
        let d = Difference::between(&run(&folded.to_bytes()), &run(&bytes));
        assert!(d.max_rel <= 1e-6, "{d:?}");
    }

    /// A model of `nodes` on initializers `inits` (from [`weight`]), with graph input `x` of
    /// `input` and graph `outputs`.
    fn model(
        nodes: Vec<NodeProto>,
        inits: Vec<TensorProto>,
        input: &[i64],
        outputs: Vec<ValueInfoProto>,
    ) -> Vec<u8> {
        ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            graph: Some(GraphProto {
                name: "m".into(),
                node: nodes,
                initializer: inits,
                input: vec![info("x", input)],
                output: outputs,
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    /// Counts the evaluations it passes on to tract.
    #[derive(Debug, Default)]
    struct Counting(std::sync::atomic::AtomicUsize);

    impl ConstEvaluator for Counting {
        fn evaluate(&self, model: &[u8]) -> Result<Vec<Evaluated>, String> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            EngineEvaluator::tract().evaluate(model)
        }
    }

    #[test]
    fn a_graph_output_made_of_constants_stays_computed() {
        // Anchors a detector outputs: a product of constants, and a graph output.
        let bytes = model(
            vec![
                node("MatMul", &["a", "b"], "anchors"),
                node("Relu", &["x"], "y"),
            ],
            vec![weight("a", &[8, 8], 1), weight("b", &[8, 8], 2)],
            &[1, 4],
            vec![info("anchors", &[8, 8]), info("y", &[1, 4])],
        );
        let m = OnnxModel::from_bytes(&bytes, &folding(&ImportOptions::default())).unwrap();
        let ops: Vec<&str> = m.graph.layers.iter().map(|l| l.op.as_str()).collect();
        assert_eq!(ops, ["MatMul", "Relu"]);
    }

    /// `y = x (a b)` with `x` of 1 x k and `a b` k x n, counting evaluations.
    fn product_of_constants(k: i64, n: i64) -> (usize, usize) {
        let bytes = model(
            vec![
                node("MatMul", &["a", "b"], "w"),
                node("MatMul", &["x", "w"], "y"),
            ],
            vec![weight("a", &[k, k], 1), weight("b", &[k, n], 2)],
            &[1, k],
            vec![info("y", &[1, n])],
        );
        let counting = Arc::new(Counting::default());
        let options = ImportOptions::default().with_evaluator(counting.clone());
        let m = OnnxModel::from_bytes(&bytes, &options).unwrap();
        let calls = counting.0.load(std::sync::atomic::Ordering::Relaxed);
        (m.graph.layers.len(), calls)
    }

    #[test]
    fn folding_past_its_budget_leaves_layers() {
        // 2 x 256 x 256 x 16 FLOPs: folded.
        assert_eq!(product_of_constants(256, 16), (1, 1));
        // 2 x 1024^3 FLOPs, past a node's 2^30: never handed to the engine.
        assert_eq!(product_of_constants(1024, 1024), (2, 0));
    }

    #[test]
    fn a_failing_engine_leaves_the_node_a_layer() {
        #[derive(Debug)]
        struct Broken;
        impl ConstEvaluator for Broken {
            fn evaluate(&self, _: &[u8]) -> Result<Vec<Evaluated>, String> {
                Err("no".into())
            }
        }
        let options = ImportOptions::default().with_evaluator(Arc::new(Broken));
        let m = OnnxModel::from_bytes(&generated_weights(), &options).unwrap();
        assert_eq!(m.graph.layers.len(), 4);
    }
}
