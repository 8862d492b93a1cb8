//! The importer under crafted files: a small CNN with export-style shape plumbing, mutated at
//! the byte level and at the protobuf level (operators swapped, attributes set to extreme
//! values, inputs rewired, outputs added or dropped, dimensions and constants changed). Every
//! file imports or is refused with an error; none panics. CI runs a bounded number of cases;
//! `TIERSPLIT_FUZZ_CASES=1000000 cargo test --release -p tiersplit-zoo --test hostile_onnx`
//! runs the long soak.

use proptest::prelude::*;
use prost::Message;
use tiersplit_onnx::proto::{AttributeProto, ModelProto, NodeProto, TensorProto};
use tiersplit_onnx::{supported_ops, ConstTensor, ImportOptions, OnnxModel};
use tiersplit_zoo::NetBuilder;

fn cases() -> u32 {
    std::env::var("TIERSPLIT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn int_const(name: &str, v: &[i64]) -> TensorProto {
    ConstTensor::from_i64(vec![v.len() as u64], v.to_vec()).to_proto(name)
}

/// A small CNN, then `Shape -> Gather -> Unsqueeze -> Concat -> Reshape` plumbing as exporters
/// write it, so mutations reach the folding code as well as the layer shapes.
fn seed() -> ModelProto {
    let mut b = NetBuilder::new("seed", 1);
    let x = b.input("x", &[1, 3, 16, 16]);
    let c = b.conv(&x, 4, 3, 1, 1, 1, true);
    let r = b.relu(&c);
    let p = b.max_pool(&r, 2, 2, 0, false);
    let c2 = b.conv(&p, 4, 1, 1, 0, 1, false);
    let a = b.add(&p, &c2);
    let cat = b.concat(&[a, p]);
    let g = b.global_avg_pool(&cat);
    let mut m = b.finish(std::slice::from_ref(&g));
    let graph = m.graph.as_mut().expect("built");
    graph.initializer.push(int_const("zero", &[0]));
    graph.initializer.push(int_const("minus1", &[-1]));
    let node = |op: &str, inputs: &[&str], output: &str| NodeProto {
        op_type: op.into(),
        name: output.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        ..Default::default()
    };
    graph.node.extend([
        node("Shape", &[&g.name], "shape"),
        node("Gather", &["shape", "zero"], "batch"),
        node("Concat", &["batch", "minus1"], "target"),
        node("Reshape", &[&g.name, "target"], "flat"),
    ]);
    if let Some(n) = graph
        .node
        .iter_mut()
        .find(|n| n.op_type == "Concat" && n.name == "target")
    {
        n.attribute.push(attr_ints("axis", &[0]));
    }
    graph.output[0].name = "flat".into();
    graph.output[0].r#type = None;
    m
}

fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: v.to_vec(),
        i: v.first().copied().unwrap_or(0),
        r#type: if v.len() == 1 { 2 } else { 7 },
        ..Default::default()
    }
}

const ATTRS: &[&str] = &[
    "axis",
    "axes",
    "kernel_shape",
    "pads",
    "strides",
    "dilations",
    "group",
    "perm",
    "split",
    "shape",
    "starts",
    "ends",
    "to",
    "keepdims",
    "ceil_mode",
    "allowzero",
    "transA",
    "transB",
    "size",
    "start",
    "end",
    "output_padding",
];

fn extreme() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(i64::MIN),
        Just(i64::MAX),
        Just(-1i64),
        Just(0i64),
        Just(1i64),
        Just(2i64),
        Just(1i64 << 40),
        -8i64..8,
    ]
}

/// One change to the model's protobuf.
#[derive(Debug, Clone)]
enum Mutation {
    Op(usize, usize),
    Attr(usize, usize, Vec<i64>),
    Input(usize, usize, usize),
    Outputs(usize, usize),
    Dims(usize, Vec<i64>),
    Values(usize, Vec<i64>),
    Opset(i64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let idx = || 0usize..64;
    prop_oneof![
        (idx(), idx()).prop_map(|(n, o)| Mutation::Op(n, o)),
        (idx(), idx(), prop::collection::vec(extreme(), 0..6))
            .prop_map(|(n, a, v)| Mutation::Attr(n, a, v)),
        (idx(), idx(), idx()).prop_map(|(n, i, t)| Mutation::Input(n, i, t)),
        (idx(), 0usize..4).prop_map(|(n, k)| Mutation::Outputs(n, k)),
        (idx(), prop::collection::vec(extreme(), 0..6)).prop_map(|(t, d)| Mutation::Dims(t, d)),
        (idx(), prop::collection::vec(extreme(), 0..4)).prop_map(|(t, v)| Mutation::Values(t, v)),
        extreme().prop_map(Mutation::Opset),
    ]
}

fn apply(m: &mut ModelProto, mutation: &Mutation) {
    let ops = supported_ops();
    let g = m.graph.as_mut().expect("seed has a graph");
    let names: Vec<String> = g
        .node
        .iter()
        .flat_map(|n| n.output.clone())
        .chain(g.initializer.iter().map(|t| t.name.clone()))
        .chain([String::new()])
        .collect();
    let nodes = g.node.len();
    let inits = g.initializer.len();
    match mutation {
        Mutation::Op(n, o) => g.node[n % nodes].op_type = ops[o % ops.len()].to_string(),
        Mutation::Attr(n, a, v) => {
            let node = &mut g.node[n % nodes];
            let name = ATTRS[a % ATTRS.len()];
            node.attribute.retain(|x| x.name != name);
            node.attribute.push(attr_ints(name, v));
        }
        Mutation::Input(n, i, t) => {
            let node = &mut g.node[n % nodes];
            let t = names[t % names.len()].clone();
            if node.input.is_empty() || i % 3 == 0 {
                node.input.push(t);
            } else {
                let k = i % node.input.len();
                node.input[k] = t;
            }
        }
        Mutation::Outputs(n, k) => {
            let node = &mut g.node[n % nodes];
            node.output.truncate(*k);
            while node.output.len() < *k {
                let extra = format!("{}_extra{}", node.name, node.output.len());
                node.output.push(extra);
            }
        }
        Mutation::Dims(t, d) => g.initializer[t % inits].dims = d.clone(),
        Mutation::Values(t, v) => {
            let name = g.initializer[t % inits].name.clone();
            g.initializer[t % inits] = int_const(&name, v);
        }
        Mutation::Opset(v) => m.opset_import[0].version = *v,
    }
}

/// Imports `bytes`; when that works, writes the folded model back too.
fn import(bytes: &[u8]) {
    if let Ok(m) = OnnxModel::from_bytes(bytes, &ImportOptions::default()) {
        let _ = m.to_bytes();
    }
}

#[test]
fn the_seed_imports() {
    let m = OnnxModel::from_bytes(&seed().encode_to_vec(), &ImportOptions::default()).unwrap();
    assert_eq!(m.graph.tensor(m.graph.outputs[0]).shape, vec![1, 8]);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn protobuf_mutations_never_panic(ms in prop::collection::vec(mutation(), 1..6)) {
        let mut m = seed();
        for x in &ms {
            apply(&mut m, x);
        }
        import(&m.encode_to_vec());
    }

    #[test]
    fn byte_mutations_never_panic(
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..16),
    ) {
        let mut bytes = seed().encode_to_vec();
        for (at, b) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= b;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        import(&bytes);
    }
}
