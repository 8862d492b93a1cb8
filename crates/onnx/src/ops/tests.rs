use super::*;
use crate::proto::{AttributeProto, NodeProto};

fn node(op: &str, attrs: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: "n".into(),
        attribute: attrs,
        output: vec!["y".into()],
        ..Default::default()
    }
}
fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: v.to_vec(),
        r#type: 7,
        ..Default::default()
    }
}
fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i: v,
        r#type: 2,
        ..Default::default()
    }
}
fn act(shape: &[u64]) -> Option<Val> {
    Some(Val {
        dtype: DType::F32,
        shape: shape.to_vec(),
        value: None,
    })
}

#[test]
fn conv_shapes_and_flops() {
    // AlexNet conv1: 3->64, k11, s4, p2 on 224 -> 55.
    let n = node(
        "Conv",
        vec![ints("strides", &[4, 4]), ints("pads", &[2, 2, 2, 2])],
    );
    let r = infer(
        &n,
        13,
        &[act(&[1, 3, 224, 224]), act(&[64, 3, 11, 11]), act(&[64])],
    )
    .unwrap();
    assert_eq!(r.outputs[0].1, vec![1, 64, 55, 55]);
    assert_eq!(r.flops, 2 * 64 * 55 * 55 * 3 * 121 + 64 * 55 * 55);
    // Depthwise, dilated, SAME_UPPER.
    let n = node(
        "Conv",
        vec![
            int("group", 32),
            ints("dilations", &[2, 2]),
            ints("strides", &[2, 2]),
            AttributeProto {
                name: "auto_pad".into(),
                s: b"SAME_UPPER".to_vec(),
                ..Default::default()
            },
        ],
    );
    let r = infer(&n, 13, &[act(&[1, 32, 15, 15]), act(&[32, 1, 3, 3])]).unwrap();
    assert_eq!(r.outputs[0].1, vec![1, 32, 8, 8]);
    let bad = infer(&n, 13, &[act(&[1, 31, 15, 15]), act(&[32, 1, 3, 3])]).unwrap_err();
    assert!(bad.to_string().contains("input channels"), "{bad}");
}

#[test]
fn pool_ceil_mode_matches_pytorch() {
    // GoogLeNet maxpool 3/2 ceil on 112 -> 56; on 14 -> 7.
    let n = node(
        "MaxPool",
        vec![
            ints("kernel_shape", &[3, 3]),
            ints("strides", &[2, 2]),
            int("ceil_mode", 1),
        ],
    );
    assert_eq!(
        infer(&n, 13, &[act(&[1, 64, 112, 112])]).unwrap().outputs[0].1,
        vec![1, 64, 56, 56]
    );
    assert_eq!(
        infer(&n, 13, &[act(&[1, 64, 14, 14])]).unwrap().outputs[0].1,
        vec![1, 64, 7, 7]
    );
    // The last window may not start in the trailing padding: 2/2 ceil with pad 1 on 4 -> 3.
    let n = node(
        "MaxPool",
        vec![
            ints("kernel_shape", &[2, 2]),
            ints("strides", &[2, 2]),
            ints("pads", &[1, 1, 1, 1]),
            int("ceil_mode", 1),
        ],
    );
    assert_eq!(
        infer(&n, 13, &[act(&[1, 1, 4, 4])]).unwrap().outputs[0].1,
        vec![1, 1, 3, 3]
    );
}

#[test]
fn reshape_slice_and_shape_folding() {
    let shape_node = node("Shape", vec![]);
    let x = act(&[1, 1280, 1, 1]);
    let inf = infer(&shape_node, 13, std::slice::from_ref(&x)).unwrap();
    let folded = fold(&shape_node, 13, &[x], &inf).unwrap().unwrap();
    assert_eq!(folded[0].as_i64(), vec![1, 1280, 1, 1]);
    let c = |v: &[i64]| {
        Some(Val {
            dtype: DType::I64,
            shape: vec![v.len() as u64],
            value: Some(ConstTensor::from_i64(vec![v.len() as u64], v.to_vec())),
        })
    };
    let slice = node("Slice", vec![]);
    let ins = [
        Some(Val {
            dtype: DType::I64,
            shape: vec![4],
            value: Some(folded[0].clone()),
        }),
        c(&[0]),
        c(&[1]),
        c(&[0]),
    ];
    let inf = infer(&slice, 13, &ins).unwrap();
    assert_eq!(
        fold(&slice, 13, &ins, &inf).unwrap().unwrap()[0].as_i64(),
        vec![1]
    );
    let r = infer(
        &node("Reshape", vec![]),
        13,
        &[act(&[2, 3, 4]), c(&[0, -1])],
    )
    .unwrap();
    assert_eq!(r.outputs[0].1, vec![2, 12]);
    assert!(infer(
        &node("Reshape", vec![]),
        13,
        &[act(&[2, 3, 4]), c(&[5, -1])]
    )
    .is_err());
    let unknown = infer(&node("Reshape", vec![]), 13, &[act(&[2, 3, 4]), act(&[2])]).unwrap_err();
    assert!(
        unknown.to_string().contains("must be a constant"),
        "{unknown}"
    );
}

#[test]
fn unsupported_op_names_node_and_op() {
    let e = infer(&node("NonMaxSuppression", vec![]), 13, &[act(&[1])]).unwrap_err();
    assert!(
        e.to_string()
            .contains("node 'n' (op NonMaxSuppression): unsupported operator"),
        "{e}"
    );
}

#[test]
fn matmul_gemm_broadcast() {
    let r = infer(
        &node("MatMul", vec![]),
        13,
        &[act(&[2, 1, 5, 3]), act(&[4, 3, 6])],
    )
    .unwrap();
    assert_eq!(r.outputs[0].1, vec![2, 4, 5, 6]);
    assert_eq!(r.flops, 2 * 8 * 5 * 6 * 3);
    let r = infer(
        &node("Gemm", vec![int("transB", 1)]),
        13,
        &[act(&[1, 1280]), act(&[1000, 1280]), act(&[1000])],
    )
    .unwrap();
    assert_eq!(r.outputs[0].1, vec![1, 1000]);
    let r = infer(
        &node("Add", vec![]),
        13,
        &[act(&[1, 3, 1, 5]), act(&[4, 1])],
    )
    .unwrap();
    assert_eq!(r.outputs[0].1, vec![1, 3, 4, 5]);
}

fn ints_const(shape: &[u64], v: &[i64]) -> Option<Val> {
    Some(Val {
        dtype: DType::I64,
        shape: shape.to_vec(),
        value: Some(ConstTensor::from_i64(shape.to_vec(), v.to_vec())),
    })
}

fn bools_const(v: &[i64]) -> Option<Val> {
    Some(Val {
        dtype: DType::Bool,
        shape: vec![v.len() as u64],
        value: Some(ConstTensor {
            dtype: DType::Bool,
            shape: vec![v.len() as u64],
            data: ConstData::I64(v.to_vec()),
        }),
    })
}

/// Infers and folds `op` on `ins`: the folded values as integers.
fn folds_to(op: &str, attrs: Vec<AttributeProto>, ins: &[Option<Val>]) -> (Vec<u64>, Vec<i64>) {
    let n = node(op, attrs);
    let inf = infer(&n, 17, ins).unwrap();
    let out = fold(&n, 17, ins, &inf).unwrap().expect("folds");
    (out[0].shape.clone(), out[0].as_i64())
}

#[test]
fn comparisons_logic_and_where_fold_shape_arithmetic() {
    // The pattern exporters emit to replace zeros in a target shape: Where(Equal(s, 0), x, s).
    let s = ints_const(&[3], &[2, 0, 5]);
    let (_, eq) = folds_to("Equal", vec![], &[s.clone(), ints_const(&[], &[0])]);
    assert_eq!(eq, [0, 1, 0]);
    let (shape, picked) = folds_to(
        "Where",
        vec![],
        &[bools_const(&eq), ints_const(&[3], &[7, 7, 7]), s.clone()],
    );
    assert_eq!((shape, picked), (vec![3], vec![2, 7, 5]));
    for (op, want) in [
        ("Less", [0, 1, 0]),
        ("Greater", [1, 0, 1]),
        ("LessOrEqual", [0, 1, 0]),
        ("GreaterOrEqual", [1, 0, 1]),
    ] {
        assert_eq!(
            folds_to(op, vec![], &[s.clone(), ints_const(&[], &[1])]).1,
            want,
            "{op}"
        );
    }
    let (a, b) = (bools_const(&[1, 1, 0, 0]), bools_const(&[1, 0, 1, 0]));
    assert_eq!(
        folds_to("And", vec![], &[a.clone(), b.clone()]).1,
        [1, 0, 0, 0]
    );
    assert_eq!(
        folds_to("Or", vec![], &[a.clone(), b.clone()]).1,
        [1, 1, 1, 0]
    );
    assert_eq!(folds_to("Xor", vec![], &[a.clone(), b]).1, [0, 1, 1, 0]);
    assert_eq!(folds_to("Not", vec![], &[a]).1, [0, 0, 1, 1]);
    // On activations: a boolean layer of the broadcast shape, not tiled (tiles are f32 maps).
    let r = infer(
        &node("Greater", vec![]),
        17,
        &[act(&[1, 8, 4, 4]), act(&[1])],
    )
    .unwrap();
    assert_eq!(r.outputs[0], (DType::Bool, vec![1, 8, 4, 4]));
    assert_eq!(tiling("Greater"), Tiling::None);
    assert_eq!(tiling("Not"), Tiling::None);
    // Integers beyond f64's 53 bits compare exactly (i64::MAX is the exporters' "to the end").
    let big = ints_const(&[2], &[i64::MAX, i64::MAX - 1]);
    assert_eq!(
        folds_to("Equal", vec![], &[big, ints_const(&[], &[i64::MAX])]).1,
        [1, 0]
    );
    let e = infer(&node("Not", vec![]), 17, &[act(&[4])]).unwrap_err();
    assert!(e.to_string().contains("boolean"), "{e}");
    let e = infer(
        &node("Where", vec![]),
        17,
        &[act(&[4]), act(&[4]), act(&[4])],
    )
    .unwrap_err();
    assert!(e.to_string().contains("condition"), "{e}");
}

#[test]
fn mod_follows_the_divisor_or_the_dividend() {
    let (x, y) = (
        ints_const(&[4], &[7, -7, 7, -7]),
        ints_const(&[4], &[3, 3, -3, -3]),
    );
    assert_eq!(
        folds_to("Mod", vec![], &[x.clone(), y.clone()]).1,
        [1, 2, -2, -1]
    );
    assert_eq!(
        folds_to("Mod", vec![int("fmod", 1)], &[x, y]).1,
        [1, -1, 1, -1]
    );
    let n = node("Mod", vec![]);
    let ins = [ints_const(&[1], &[3]), ints_const(&[1], &[0])];
    let inf = infer(&n, 17, &ins).unwrap();
    assert!(fold(&n, 17, &ins, &inf).is_err());
    let e = infer(&n, 17, &[act(&[2]), act(&[2])]).unwrap_err();
    assert!(e.to_string().contains("fmod must be 1"), "{e}");
}

#[test]
fn generated_tensors_fold_and_shape_inputs_must_be_constant() {
    let (shape, v) = folds_to("ConstantOfShape", vec![], &[ints_const(&[2], &[2, 3])]);
    assert_eq!((shape, v), (vec![2, 3], vec![0; 6]));
    let (shape, v) = folds_to(
        "Range",
        vec![],
        &[
            ints_const(&[], &[10]),
            ints_const(&[], &[1]),
            ints_const(&[], &[-3]),
        ],
    );
    assert_eq!((shape, v), (vec![3], vec![10, 7, 4]));
    let (shape, v) = folds_to(
        "Expand",
        vec![],
        &[ints_const(&[2, 1], &[1, 2]), ints_const(&[2], &[2, 3])],
    );
    assert_eq!((shape, v), (vec![2, 3], vec![1, 1, 1, 2, 2, 2]));
    let (shape, v) = folds_to(
        "Tile",
        vec![],
        &[ints_const(&[1, 2], &[1, 2]), ints_const(&[2], &[2, 2])],
    );
    assert_eq!((shape, v), (vec![2, 4], vec![1, 2, 1, 2, 1, 2, 1, 2]));
    let (_, v) = folds_to("Floor", vec![], &[ints_const(&[2], &[3, -3])]);
    assert_eq!(v, [3, -3]);
    // On activations, with constant shapes: layers of static shape.
    let r = infer(
        &node("Expand", vec![]),
        17,
        &[act(&[1, 1, 4]), ints_const(&[3], &[2, 3, 1])],
    )
    .unwrap();
    assert_eq!(r.outputs[0].1, vec![2, 3, 4]);
    let r = infer(
        &node("Tile", vec![]),
        17,
        &[act(&[1, 3, 2, 2]), ints_const(&[4], &[1, 1, 2, 3])],
    )
    .unwrap();
    assert_eq!(r.outputs[0].1, vec![1, 3, 4, 6]);
    // A computed shape is refused with the input named; bad values are errors, not panics.
    let e = infer(&node("Expand", vec![]), 17, &[act(&[4]), act(&[1])]).unwrap_err();
    assert!(e.to_string().contains("must be a constant"), "{e}");
    let e = infer(
        &node("Range", vec![]),
        17,
        &[
            ints_const(&[], &[0]),
            ints_const(&[], &[5]),
            ints_const(&[], &[0]),
        ],
    )
    .unwrap_err();
    assert!(e.to_string().contains("delta"), "{e}");
    let e = infer(
        &node("ConstantOfShape", vec![]),
        17,
        &[ints_const(&[2], &[-1, 3])],
    )
    .unwrap_err();
    assert!(e.to_string().contains("negative"), "{e}");
    let e = infer(
        &node("Tile", vec![]),
        17,
        &[act(&[1, 3]), ints_const(&[2], &[i64::MAX, i64::MAX])],
    )
    .unwrap_err();
    assert!(e.to_string().contains("overflow"), "{e}");
}

#[test]
fn conv_transpose_normalisations_and_rearrangements() {
    // A U-Net decoder step: 8 -> 16 with stride 2, pads 1, output_padding 1.
    let n = node(
        "ConvTranspose",
        vec![
            ints("strides", &[2, 2]),
            ints("pads", &[1, 1, 1, 1]),
            ints("output_padding", &[1, 1]),
        ],
    );
    let r = infer(&n, 17, &[act(&[1, 8, 8, 8]), act(&[8, 4, 3, 3]), act(&[4])]).unwrap();
    assert_eq!(r.outputs[0].1, vec![1, 4, 16, 16]);
    assert_eq!(r.flops, 2 * 8 * 64 * 4 * 9 + 4 * 256);
    // Grouped, with the output shape given instead of the paddings.
    let n = node(
        "ConvTranspose",
        vec![
            int("group", 2),
            ints("strides", &[2, 2]),
            ints("output_shape", &[15, 17]),
        ],
    );
    let r = infer(&n, 17, &[act(&[1, 8, 8, 8]), act(&[8, 3, 3, 3])]).unwrap();
    assert_eq!(r.outputs[0].1, vec![1, 6, 15, 17]);
    let e = infer(&n, 17, &[act(&[1, 8, 8, 8]), act(&[4, 3, 3, 3])]).unwrap_err();
    assert!(e.to_string().contains("input channels"), "{e}");
    let e = infer(
        &node("ConvTranspose", vec![ints("pads", &[9, 9, 9, 9])]),
        17,
        &[act(&[1, 1, 2, 2]), act(&[1, 1, 3, 3])],
    )
    .unwrap_err();
    assert!(e.to_string().contains("leave no output"), "{e}");
    // A kernel_shape that does not fit the weight is an error, not a panic.
    let e = infer(
        &node("ConvTranspose", vec![ints("kernel_shape", &[3])]),
        17,
        &[act(&[1, 1, 4, 4]), act(&[1, 1, 3, 3])],
    )
    .unwrap_err();
    assert!(e.to_string().contains("does not fit weight"), "{e}");

    let d2s = infer(
        &node("DepthToSpace", vec![int("blocksize", 2)]),
        17,
        &[act(&[1, 16, 4, 5])],
    )
    .unwrap();
    assert_eq!(d2s.outputs[0].1, vec![1, 4, 8, 10]);
    let s2d = infer(
        &node("SpaceToDepth", vec![int("blocksize", 2)]),
        17,
        &[act(&[1, 4, 8, 10])],
    )
    .unwrap();
    assert_eq!(s2d.outputs[0].1, vec![1, 16, 4, 5]);
    let e = infer(
        &node("DepthToSpace", vec![int("blocksize", 3)]),
        17,
        &[act(&[1, 16, 4, 5])],
    )
    .unwrap_err();
    assert!(e.to_string().contains("do not divide"), "{e}");

    let mut ln = node("LayerNormalization", vec![int("axis", 2)]);
    ln.output = vec!["y".into(), "mean".into(), "inv".into()];
    let r = infer(&ln, 17, &[act(&[2, 3, 4, 5]), act(&[4, 5])]).unwrap();
    assert_eq!(r.outputs[0].1, vec![2, 3, 4, 5]);
    assert_eq!(r.outputs[1].1, vec![2, 3, 1, 1]);
    assert!(learnable("LayerNormalization", 1));
    let e = infer(
        &node("GroupNormalization", vec![int("num_groups", 3)]),
        18,
        &[act(&[1, 8, 4, 4])],
    )
    .unwrap_err();
    assert!(e.to_string().contains("num_groups"), "{e}");
    let r = infer(
        &node("InstanceNormalization", vec![]),
        17,
        &[act(&[1, 8, 4, 4])],
    )
    .unwrap();
    assert_eq!(r.outputs[0].1, vec![1, 8, 4, 4]);

    let am = infer(
        &node("ArgMax", vec![int("axis", 1), int("keepdims", 0)]),
        17,
        &[act(&[1, 10, 7])],
    )
    .unwrap();
    assert_eq!(am.outputs[0], (DType::I64, vec![1, 7]));
    // Reductions with their axes as an input from opset 18; a shape's product folds.
    let r = infer(
        &node("ReduceL2", vec![]),
        18,
        &[act(&[1, 4, 6]), ints_const(&[1], &[1])],
    )
    .unwrap();
    assert_eq!(r.outputs[0].1, vec![1, 1, 6]);
    let (_, p) = folds_to(
        "ReduceProd",
        vec![int("keepdims", 0)],
        &[ints_const(&[3], &[2, 3, 4])],
    );
    assert_eq!(p, [24]);
    let e = infer(
        &node("CumSum", vec![]),
        17,
        &[act(&[2, 3]), ints_const(&[], &[2])],
    )
    .unwrap_err();
    assert!(e.to_string().contains("out of range"), "{e}");
}

fn string(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        s: v.as_bytes().to_vec(),
        r#type: 3,
        ..Default::default()
    }
}

#[test]
fn index_selection_and_einsum_shapes() {
    let mut topk = node("TopK", vec![int("axis", 1)]);
    topk.output = vec!["v".into(), "i".into()];
    let r = infer(&topk, 17, &[act(&[2, 10, 3]), ints_const(&[1], &[4])]).unwrap();
    assert_eq!(r.outputs[0], (DType::F32, vec![2, 4, 3]));
    assert_eq!(r.outputs[1], (DType::I64, vec![2, 4, 3]));
    let e = infer(&topk, 17, &[act(&[2, 10, 3]), ints_const(&[1], &[11])]).unwrap_err();
    assert!(e.to_string().contains("k = 11"), "{e}");
    let e = infer(&topk, 17, &[act(&[2, 10, 3]), act(&[1])]).unwrap_err();
    assert!(e.to_string().contains("must be a constant"), "{e}");

    let idx = |shape: &[u64]| {
        Some(Val {
            dtype: DType::I64,
            shape: shape.to_vec(),
            value: None,
        })
    };
    let r = infer(
        &node("GatherElements", vec![int("axis", 1)]),
        17,
        &[act(&[2, 5]), idx(&[2, 3])],
    )
    .unwrap();
    assert_eq!(r.outputs[0].1, vec![2, 3]);
    // GatherND with a batch axis: [2, 3, 4, 5] data, [2, 6, 2] indices -> [2, 6, 5].
    let r = infer(
        &node("GatherND", vec![int("batch_dims", 1)]),
        17,
        &[act(&[2, 3, 4, 5]), idx(&[2, 6, 2])],
    )
    .unwrap();
    assert_eq!(r.outputs[0].1, vec![2, 6, 5]);
    let e = infer(&node("GatherND", vec![]), 17, &[act(&[2, 3]), idx(&[4, 3])]).unwrap_err();
    assert!(e.to_string().contains("do not fit"), "{e}");
    let e = infer(&node("GatherND", vec![]), 17, &[act(&[2, 3]), idx(&[4, 0])]).unwrap_err();
    assert!(e.to_string().contains("do not fit"), "{e}");
    let r = infer(
        &node("ScatterND", vec![]),
        17,
        &[act(&[4, 5]), idx(&[2, 1]), act(&[2, 5])],
    )
    .unwrap();
    assert_eq!(r.outputs[0].1, vec![4, 5]);
    let e = infer(
        &node("ScatterND", vec![]),
        17,
        &[act(&[4, 5]), idx(&[2, 1]), act(&[2, 4])],
    )
    .unwrap_err();
    assert!(e.to_string().contains("updates"), "{e}");
    let e = infer(
        &node("ScatterElements", vec![]),
        17,
        &[act(&[4, 5]), idx(&[2, 2]), act(&[2, 3])],
    )
    .unwrap_err();
    assert!(e.to_string().contains("do not fit"), "{e}");

    // Attention scores: batch, heads, queries x keys.
    let r = infer(
        &node("Einsum", vec![string("equation", "bhqd, bhkd -> bhqk")]),
        17,
        &[act(&[1, 12, 197, 64]), act(&[1, 12, 197, 64])],
    )
    .unwrap();
    assert_eq!(r.outputs[0].1, vec![1, 12, 197, 197]);
    assert_eq!(r.flops, 2 * 12 * 197 * 197 * 64);
    // Implicit output: the subscripts seen once, sorted.
    let r = infer(
        &node("Einsum", vec![string("equation", "ij,jk")]),
        17,
        &[act(&[2, 3]), act(&[3, 4])],
    )
    .unwrap();
    assert_eq!(r.outputs[0].1, vec![2, 4]);
    let e = infer(
        &node("Einsum", vec![string("equation", "ij,jk->ik")]),
        17,
        &[act(&[2, 3]), act(&[4, 4])],
    )
    .unwrap_err();
    assert!(e.to_string().contains("subscript 'j' is 3 and 4"), "{e}");
    let e = infer(
        &node("Einsum", vec![string("equation", "...ij->...ji")]),
        17,
        &[act(&[2, 3])],
    )
    .unwrap_err();
    assert!(e.to_string().contains("ellipses"), "{e}");
}

#[test]
fn pad_with_axes_pads_only_those() {
    let r = infer(
        &node("Pad", vec![]),
        18,
        &[
            act(&[1, 3, 8, 8]),
            ints_const(&[4], &[1, 2, 3, 4]),
            None,
            ints_const(&[2], &[2, -1]),
        ],
    )
    .unwrap();
    assert_eq!(r.outputs[0].1, vec![1, 3, 12, 14]);
    let e = infer(
        &node("Pad", vec![]),
        18,
        &[
            act(&[1, 3, 8, 8]),
            ints_const(&[2], &[1, 2]),
            None,
            ints_const(&[2], &[2, 3]),
        ],
    )
    .unwrap_err();
    assert!(e.to_string().contains("do not match axes"), "{e}");
}

#[test]
fn recurrent_layers_shapes_flops_and_weights() {
    // A bidirectional LSTM over 40 columns of 512 features, 256 hidden units (a CRNN's).
    let mut n = node(
        "LSTM",
        vec![
            int("hidden_size", 256),
            string("direction", "bidirectional"),
        ],
    );
    n.output = vec!["y".into(), "".into(), "c".into()];
    let ins = [
        act(&[40, 1, 512]),
        act(&[2, 1024, 512]),
        act(&[2, 1024, 256]),
    ];
    let r = infer(&n, 14, &ins).unwrap();
    assert_eq!(r.outputs[0].1, vec![40, 2, 1, 256]);
    assert_eq!(r.outputs[1].1, vec![2, 1, 256]);
    assert_eq!(r.outputs[2].1, vec![2, 1, 256]);
    assert_eq!(r.flops, 40 * 2 * (2 * 4 * 256 * (512 + 256) + 10 * 256));
    assert!(learnable("LSTM", 1) && learnable("LSTM", 2) && !learnable("LSTM", 4));
    // GRU, batch first, hidden size taken from W; no cell state.
    let n = node("GRU", vec![int("layout", 1)]);
    let r = infer(&n, 14, &[act(&[2, 7, 16]), act(&[1, 96, 16])]).unwrap();
    assert_eq!(r.outputs.len(), 2);
    assert_eq!(r.outputs[0].1, vec![2, 7, 1, 32]);
    assert_eq!(r.outputs[1].1, vec![2, 1, 32]);
    // W that does not fit X is named.
    let e = infer(
        &node("RNN", vec![]),
        14,
        &[act(&[5, 1, 8]), act(&[1, 4, 9])],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("W [1, 4, 9]"), "{e}");
    let e = infer(
        &node("RNN", vec![string("direction", "sideways")]),
        14,
        &[act(&[5, 1, 8]), act(&[1, 4, 8])],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("sideways"), "{e}");
}

#[test]
fn trigonometry_folds_on_float_constants_only() {
    let x = Some(Val {
        dtype: DType::F32,
        shape: vec![2],
        value: Some(ConstTensor::from_f32(vec![2], vec![0.0, 1.0])),
    });
    let n = node("Sin", vec![]);
    let ins = [x];
    let out = infer(&n, 13, &ins).unwrap();
    let folded = fold(&n, 13, &ins, &out).unwrap().unwrap();
    assert_eq!(folded[0].as_f32(), vec![0.0, 1f32.sin()]);
    let n = node("Cos", vec![]);
    let ins = [ints_const(&[1], &[0])];
    let out = infer(&n, 13, &ins).unwrap();
    assert!(fold(&n, 13, &ins, &out).unwrap().is_none());
}

#[test]
fn dropout_masks_are_boolean_from_opset_10_only() {
    let mut n = node("Dropout", vec![]);
    n.output = vec!["y".into(), "mask".into()];
    for (opset, mask) in [
        (7, DType::F32),
        (9, DType::F32),
        (10, DType::Bool),
        (13, DType::Bool),
    ] {
        let r = infer(&n, opset, &[act(&[1, 4])]).unwrap();
        assert_eq!(r.outputs[1], (mask, vec![1, 4]), "opset {opset}");
    }
}
