//! One conformance suite, run against every executor: tract on one thread and on a pool, and
//! ONNX Runtime on one and two threads. Each loads the same models (a small CNN with two
//! inputs and two outputs, zoo networks with branches and residuals), keeps input and output
//! names in order, agrees with tract on one thread within the documented tolerance, and
//! refuses bad bytes, wrong input counts and unknown inputs with an error naming the engine.
//!
//! ONNX Runtime is found as `OrtExecutor` finds it (`scripts/install-ort`, which
//! `scripts/test` runs). Without it the ONNX Runtime cases are skipped with a note, unless
//! `TIERSPLIT_REQUIRE_ORT=1` (set by `scripts/test`) makes that a failure.

use prost::Message;
use tiersplit_exec::{Difference, EngineSpec, ExecError, Executor, HostTensor, OrtExecutor};

/// Every executor this machine has.
fn executors() -> Vec<(String, std::sync::Arc<dyn Executor>)> {
    let mut specs = vec![EngineSpec::tract(1), EngineSpec::tract(2)];
    if OrtExecutor::available() {
        specs.extend([EngineSpec::ort(1), EngineSpec::ort(2)]);
    } else {
        assert!(
            std::env::var_os("TIERSPLIT_REQUIRE_ORT").is_none(),
            "ONNX Runtime is required (TIERSPLIT_REQUIRE_ORT) but was not found"
        );
        eprintln!("ONNX Runtime not found: its conformance cases are skipped");
    }
    specs
        .into_iter()
        .map(|s| (s.to_string(), s.executor().unwrap()))
        .collect()
}

/// Two inputs, two outputs: a conv branch and a pooled branch, concatenated and averaged.
fn two_in_two_out() -> Vec<u8> {
    let mut b = tiersplit_zoo::NetBuilder::new("pair", 3);
    let x = b.input("image", &[1, 3, 16, 16]);
    let y = b.input("mask", &[1, 4, 16, 16]);
    let c = b.conv(&x, 4, 3, 1, 1, 1, true);
    let r = b.relu(&c);
    let s = b.add(&r, &y);
    let p = b.max_pool(&s, 2, 2, 0, false);
    let q = b.conv(&p, 8, 1, 1, 0, 1, false);
    let g = b.global_avg_pool(&q);
    b.finish(&[p, g]).encode_to_vec()
}

fn ramp(shape: &[usize], k: usize) -> HostTensor {
    let n = shape.iter().product::<usize>();
    HostTensor::f32(
        shape.to_vec(),
        (0..n)
            .map(|i| ((i * 7 + k) % 23) as f32 / 11.0 - 1.0)
            .collect(),
    )
    .unwrap()
}

/// Runs `bytes` on every executor and checks each against tract on one thread.
fn agree(bytes: &[u8], inputs: &[HostTensor]) {
    let all = executors();
    let (_, reference) = &all[0];
    let want = reference
        .load(bytes, &[])
        .unwrap()
        .run(inputs.to_vec())
        .unwrap();
    for (name, e) in &all {
        let m = e.load(bytes, &[]).unwrap();
        let got = m.run(inputs.to_vec()).unwrap();
        let d = Difference::between(&got, &want);
        assert!(d.within_tolerance(), "{name}: {d}");
        assert_eq!(got.len(), m.output_names().len(), "{name}");
    }
}

#[test]
fn names_stay_in_order_and_results_agree() {
    let bytes = two_in_two_out();
    for (name, e) in executors() {
        let m = e.load(&bytes, &[]).unwrap();
        assert_eq!(m.input_names(), ["image", "mask"], "{name}");
        assert_eq!(m.output_names().len(), 2, "{name}");
        let out = m
            .run(vec![ramp(&[1, 3, 16, 16], 0), ramp(&[1, 4, 16, 16], 5)])
            .unwrap();
        assert_eq!(out[0].shape, vec![1, 4, 8, 8], "{name}");
        assert_eq!(out[1].shape, vec![1, 8, 1, 1], "{name}");
    }
    agree(
        &bytes,
        &[ramp(&[1, 3, 16, 16], 0), ramp(&[1, 4, 16, 16], 5)],
    );
}

#[test]
fn zoo_networks_agree_on_every_engine() {
    for net in ["mobilenetv2", "googlenet", "resnet18"] {
        let bytes = tiersplit_zoo::build_bytes(net, 1).unwrap();
        agree(&bytes, &[ramp(&[1, 3, 224, 224], 1)]);
    }
}

#[test]
fn bad_input_is_refused_with_the_engine_named() {
    let bytes = two_in_two_out();
    for (name, e) in executors() {
        let engine = e.name();
        match e.load(b"not an onnx file", &[]) {
            Err(ExecError::Load { backend, .. }) => assert_eq!(backend, engine, "{name}"),
            other => panic!("{name}: {:?}", other.err()),
        }
        let m = e.load(&bytes, &[]).unwrap();
        let err = m.run(vec![ramp(&[1, 3, 16, 16], 0)]).unwrap_err();
        assert!(
            err.to_string().contains("expected 2 inputs"),
            "{name}: {err}"
        );
        assert!(
            m.run(vec![ramp(&[1, 3, 9, 9], 0), ramp(&[1, 4, 16, 16], 0)])
                .is_err(),
            "{name}: a wrong shape ran"
        );
        let err = e
            .load(&bytes, &[("nope".into(), vec![1, 3, 16, 16])])
            .err()
            .unwrap();
        assert!(matches!(err, ExecError::Input { .. }), "{name}: {err}");
    }
}

/// A Resize of an 8-wide ramp by `scale` (nearest pixel) alone in an opset-`opset` model.
fn resize_model(opset: i64, scale: f32, width: i64) -> Vec<u8> {
    /// ONNX's element type number of float32.
    const FLOAT: i32 = 1;
    use tiersplit_onnx::proto::{
        attribute_proto::AttributeType, tensor_shape_proto::dimension,
        tensor_shape_proto::Dimension, type_proto, AttributeProto, GraphProto, ModelProto,
        NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
    };
    let info = |name: &str, dims: Option<Vec<i64>>| ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: FLOAT,
                shape: dims.map(|d| TensorShapeProto {
                    dim: d
                        .into_iter()
                        .map(|v| Dimension {
                            value: Some(dimension::Value::DimValue(v)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    ModelProto {
        ir_version: 7,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: opset,
        }],
        graph: Some(GraphProto {
            name: "resize".into(),
            node: vec![NodeProto {
                op_type: "Resize".into(),
                input: vec!["x".into(), "scales".into()],
                output: vec!["y".into()],
                attribute: vec![AttributeProto {
                    name: "mode".into(),
                    r#type: AttributeType::String as i32,
                    s: b"nearest".to_vec(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            initializer: vec![TensorProto {
                name: "scales".into(),
                dims: vec![4],
                data_type: FLOAT,
                float_data: vec![1.0, 1.0, 1.0, scale],
                ..Default::default()
            }],
            input: vec![info("x", Some(vec![1, 1, 1, width]))],
            output: vec![info("y", None)],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

#[test]
fn resize_before_opset_11_takes_the_nearest_pixel_as_onnx_runtime_does() {
    // Enlarging repeats each pixel (the source coordinate truncated); shrinking rounds it up.
    // tract alone read these opsets with Resize-11's round_prefer_floor: [0, 0, 0, 1, 1, 1, 1, 1]
    // at 4x.
    let cases: [(f32, i64, &[f32]); 3] = [
        (4.0, 2, &[0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]),
        (3.0, 2, &[0.0, 0.0, 0.0, 1.0, 1.0, 1.0]),
        (0.75, 4, &[0.0, 2.0, 3.0]),
    ];
    for (scale, width, want) in cases {
        let bytes = resize_model(10, scale, width);
        let x = HostTensor::f32(
            vec![1, 1, 1, width as usize],
            (0..width).map(|v| v as f32).collect(),
        )
        .unwrap();
        for (name, e) in executors() {
            let got = e.load(&bytes, &[]).unwrap().run(vec![x.clone()]).unwrap();
            assert_eq!(got[0].to_f32(), want, "{name} at {scale}x");
        }
    }
}
