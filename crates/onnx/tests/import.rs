//! Import edge cases on small hand-written ONNX graphs: the shapes exporters produce (Constant
//! nodes, IR 3 initializers listed as inputs, shape-computation chains, symbolic dimensions)
//! and the errors bad files must give.

use prost::Message;
use tiersplit_graph::LayerId;
use tiersplit_onnx::proto::{
    tensor_shape_proto::{dimension::Value as Dim, Dimension},
    type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use tiersplit_onnx::{ConstTensor, ImportOptions, OnnxError, OnnxModel};

fn vi(name: &str, dims: &[Dim]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: 1,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            value: Some(d.clone()),
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

fn fixed(dims: &[i64]) -> Vec<Dim> {
    dims.iter().map(|&d| Dim::DimValue(d)).collect()
}

fn node(
    op: &str,
    name: &str,
    ins: &[&str],
    outs: &[&str],
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: ins.iter().map(|s| s.to_string()).collect(),
        output: outs.iter().map(|s| s.to_string()).collect(),
        attribute: attrs,
        ..Default::default()
    }
}

fn weight(name: &str, shape: &[u64]) -> TensorProto {
    let n: u64 = shape.iter().product();
    ConstTensor::from_f32(
        shape.to_vec(),
        (0..n).map(|i| (i % 7) as f32 * 0.1 - 0.3).collect(),
    )
    .to_proto(name)
}

fn model(
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: &[&str],
    ir: i64,
) -> Vec<u8> {
    ModelProto {
        ir_version: ir,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(GraphProto {
            name: "t".into(),
            node: nodes,
            initializer: inits,
            input: inputs,
            output: outputs.iter().map(|o| vi(o, &[])).collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// x -> Conv(w from a Constant node, via Identity) -> Relu -> Shape-derived Reshape -> Gemm.
fn exporter_style(ir: i64, batch: Dim) -> Vec<u8> {
    let const_w = AttributeProto {
        name: "value".into(),
        r#type: 4,
        t: Some(weight("ignored", &[4, 3, 3, 3])),
        ..Default::default()
    };
    let ints = |name: &str, v: &[i64]| AttributeProto {
        name: name.into(),
        r#type: 7,
        ints: v.to_vec(),
        ..Default::default()
    };
    let int = |name: &str, v: i64| AttributeProto {
        name: name.into(),
        r#type: 2,
        i: v,
        ..Default::default()
    };
    let nodes = vec![
        node("Constant", "", &[], &["w_const"], vec![const_w]),
        node("Identity", "", &["w_const"], &["w"], vec![]),
        node(
            "Conv",
            "conv",
            &["x", "w", "b"],
            &["c"],
            vec![ints("pads", &[1, 1, 1, 1])],
        ),
        node("Relu", "relu", &["c"], &["r"], vec![]),
        node("Shape", "shape", &["r"], &["s"], vec![]),
        node(
            "Gather",
            "gather",
            &["s", "zero"],
            &["n"],
            vec![int("axis", 0)],
        ),
        node("Unsqueeze", "unsq", &["n", "axes0"], &["n1"], vec![]),
        node(
            "Concat",
            "cat",
            &["n1", "minus1"],
            &["target"],
            vec![int("axis", 0)],
        ),
        node("Reshape", "flat", &["r", "target"], &["f"], vec![]),
        node(
            "Gemm",
            "fc",
            &["f", "fc_w", "fc_b"],
            &["y"],
            vec![int("transB", 1)],
        ),
    ];
    let mut inits = vec![
        weight("b", &[4]),
        weight("fc_w", &[5, 4 * 8 * 8]),
        weight("fc_b", &[5]),
        ConstTensor::from_i64(vec![], vec![0]).to_proto("zero"),
        ConstTensor::from_i64(vec![1], vec![0]).to_proto("axes0"),
        ConstTensor::from_i64(vec![1], vec![-1]).to_proto("minus1"),
    ];
    let mut inputs = vec![vi(
        "x",
        &[batch, Dim::DimValue(3), Dim::DimValue(8), Dim::DimValue(8)],
    )];
    if ir == 3 {
        // IR 3 files list every initializer as a graph input too.
        inputs.extend(inits.iter().map(|t| vi(&t.name, &fixed(&t.dims))));
    }
    inits.rotate_left(1);
    model(nodes, inits, inputs, &["y"], ir)
}

#[test]
fn folds_constants_and_shape_chains() {
    for ir in [3, 8] {
        let m = OnnxModel::from_bytes(
            &exporter_style(ir, Dim::DimParam("batch".into())),
            &ImportOptions::default(),
        )
        .unwrap();
        let g = &m.graph;
        let ops: Vec<&str> = g.layers.iter().map(|l| l.op.as_str()).collect();
        assert_eq!(ops, ["Conv", "Relu", "Reshape", "Gemm"], "ir {ir}");
        assert_eq!(
            g.tensor(g.inputs[0]).shape,
            vec![1, 3, 8, 8],
            "symbolic batch defaults to 1"
        );
        assert_eq!(g.tensor(g.outputs[0]).shape, vec![1, 5]);
        let conv = g.layer(LayerId(0));
        assert_eq!(conv.params, 4 * 27 + 4);
        assert_eq!(conv.flops.0, 2 * 4 * 64 * 27 + 4 * 64);
        assert_eq!(g.layer(LayerId(3)).params, 5 * 256 + 5);
        assert_eq!(g.total_params(), 4 * 27 + 4 + 5 * 256 + 5);
    }
}

#[test]
fn input_shape_option_fixes_symbolic_and_checks_rank() {
    let bytes = exporter_style(8, Dim::DimParam("batch".into()));
    let m =
        OnnxModel::from_bytes(&bytes, &ImportOptions::with_input_shape(vec![2, 3, 8, 8])).unwrap();
    assert_eq!(m.graph.tensor(m.graph.outputs[0]).shape, vec![2, 5]);
    let e =
        OnnxModel::from_bytes(&bytes, &ImportOptions::with_input_shape(vec![2, 3, 8])).unwrap_err();
    assert!(
        e.to_string()
            .contains("rank 3 but the model declares rank 4"),
        "{e}"
    );
    let named = ImportOptions {
        input_shapes: vec![(Some("nope".into()), vec![1])],
        evaluator: None,
    };
    assert!(OnnxModel::from_bytes(&bytes, &named)
        .unwrap_err()
        .to_string()
        .contains("'nope': no such graph input"));
}

#[test]
fn symbolic_spatial_dimension_needs_a_shape() {
    let mut bytes = ModelProto::decode(&exporter_style(8, Dim::DimValue(1))[..]).unwrap();
    let g = bytes.graph.as_mut().unwrap();
    g.input[0] = vi(
        "x",
        &[
            Dim::DimValue(1),
            Dim::DimValue(3),
            Dim::DimParam("h".into()),
            Dim::DimValue(8),
        ],
    );
    let e = OnnxModel::from_bytes(&bytes.encode_to_vec(), &ImportOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "graph input 'x': dimension 2 is symbolic: pass --input-shape"
    );
}

#[test]
fn sub_models_carry_only_their_weights_and_boundary() {
    let m = OnnxModel::from_bytes(
        &exporter_style(8, Dim::DimValue(1)),
        &ImportOptions::default(),
    )
    .unwrap();
    let sub = m.sub_model(&[LayerId(1), LayerId(2)]).unwrap();
    let g = sub.graph.unwrap();
    assert_eq!(
        g.input.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
        ["c"]
    );
    assert_eq!(
        g.output.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
        ["f"]
    );
    assert_eq!(
        g.initializer
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>(),
        ["target"]
    );
    let whole = ModelProto::decode(&m.to_bytes()[..])
        .unwrap()
        .graph
        .unwrap();
    assert_eq!(whole.node.len(), 4);
    assert!(whole
        .node
        .iter()
        .all(|n| n.op_type != "Constant" && n.op_type != "Shape"));
    let e = m.sub_model(&[LayerId(0), LayerId(2)]).unwrap_err();
    assert!(e.to_string().contains("not convex"), "{e}");
}

#[test]
fn malformed_files_give_clear_errors() {
    let e = OnnxModel::from_bytes(b"this is not a protobuf at all", &ImportOptions::default())
        .unwrap_err();
    assert!(matches!(e, OnnxError::Decode(_)), "{e}");
    assert!(e.to_string().starts_with("not a valid ONNX protobuf file"));
    let full = exporter_style(8, Dim::DimValue(1));
    let e = OnnxModel::from_bytes(&full[..full.len() / 2], &ImportOptions::default()).unwrap_err();
    assert!(
        e.to_string().starts_with("not a valid ONNX protobuf file"),
        "{e}"
    );
    assert!(matches!(
        OnnxModel::from_bytes(&[], &ImportOptions::default()),
        Err(OnnxError::NoGraph)
    ));
}

#[test]
fn graph_errors_name_the_node() {
    let x = vi("x", &fixed(&[1, 4]));
    let unsupported = model(
        vec![node("NonMaxSuppression", "nms", &["x"], &["y"], vec![])],
        vec![],
        vec![x.clone()],
        &["y"],
        8,
    );
    let e = OnnxModel::from_bytes(&unsupported, &ImportOptions::default()).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("node 'nms' (op NonMaxSuppression): unsupported operator"),
        "{e}"
    );

    let missing = model(
        vec![node("Relu", "r", &["ghost"], &["y"], vec![])],
        vec![],
        vec![x.clone()],
        &["y"],
        8,
    );
    let e = OnnxModel::from_bytes(&missing, &ImportOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "node 'r' (op Relu) reads tensor 'ghost', which no node, input or initializer provides"
    );

    let cycle = model(
        vec![
            node("Add", "a", &["x", "q"], &["p"], vec![]),
            node("Relu", "b", &["p"], &["q"], vec![]),
        ],
        vec![],
        vec![x.clone()],
        &["q"],
        8,
    );
    let e = OnnxModel::from_bytes(&cycle, &ImportOptions::default()).unwrap_err();
    assert!(e.to_string().contains("node 'a' can never run"), "{e}");

    let bad_shapes = model(
        vec![node("MatMul", "mm", &["x", "w"], &["y"], vec![])],
        vec![weight("w", &[5, 2])],
        vec![x.clone()],
        &["y"],
        8,
    );
    let e = OnnxModel::from_bytes(&bad_shapes, &ImportOptions::default()).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("node 'mm' (op MatMul): inner dimensions differ"),
        "{e}"
    );

    let foreign = model(
        vec![NodeProto {
            domain: "com.microsoft".into(),
            ..node("FusedConv", "fc", &["x"], &["y"], vec![])
        }],
        vec![],
        vec![x],
        &["y"],
        8,
    );
    let e = OnnxModel::from_bytes(&foreign, &ImportOptions::default()).unwrap_err();
    assert!(e.to_string().contains("com.microsoft:FusedConv"), "{e}");
}

#[test]
fn rejects_unsupported_opsets() {
    let mut m = ModelProto::decode(&exporter_style(8, Dim::DimValue(1))[..]).unwrap();
    m.opset_import[0].version = 99;
    let e = OnnxModel::from_bytes(&m.encode_to_vec(), &ImportOptions::default()).unwrap_err();
    assert!(e.to_string().contains("unsupported ONNX opset 99"), "{e}");
}
