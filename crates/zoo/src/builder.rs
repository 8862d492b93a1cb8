use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tiersplit_onnx::proto::{
    tensor_shape_proto, type_proto, AttributeProto, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

/// A symbolic activation while building: its tensor name and static shape.
#[derive(Debug, Clone)]
pub struct Sym {
    /// Name of the tensor in the ONNX graph.
    pub name: String,
    /// Static shape: NCHW for feature maps, (N, features) after `flatten`.
    pub shape: Vec<u64>,
}

/// Writes an ONNX graph layer by layer, tracking shapes and drawing seeded weights.
pub struct NetBuilder {
    name: String,
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    rng: ChaCha8Rng,
    counter: usize,
    prefix: String,
    /// Opset the model declares: 13, raised by operators defined later (LayerNormalization
    /// 17, Gelu 20).
    opset: i64,
}

fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: 7,
        ints: v.to_vec(),
        ..Default::default()
    }
}
fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: 2,
        i: v,
        ..Default::default()
    }
}
fn attr_float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: 1,
        f: v,
        ..Default::default()
    }
}

fn value_info(name: &str, shape: &[u64]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: 1,
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

fn window(input: u64, k: u64, s: u64, p: u64, ceil: bool) -> u64 {
    let span = input + 2 * p - k;
    if ceil {
        let o = span.div_ceil(s) + 1;
        if (o - 1) * s >= input + p {
            o - 1
        } else {
            o
        }
    } else {
        span / s + 1
    }
}

impl NetBuilder {
    /// An empty graph called `name`, with weights drawn from a ChaCha8 stream seeded by `seed`.
    pub fn new(name: &str, seed: u64) -> NetBuilder {
        NetBuilder {
            name: name.into(),
            nodes: vec![],
            inits: vec![],
            inputs: vec![],
            rng: ChaCha8Rng::seed_from_u64(seed),
            counter: 0,
            prefix: String::new(),
            opset: 13,
        }
    }

    /// Names the nodes added until the next call (`layer1.0`, `inception3a`, ...).
    pub fn scope(&mut self, prefix: &str) {
        self.prefix = prefix.to_string();
    }

    /// Declares a graph input `name` of `shape` (f32).
    pub fn input(&mut self, name: &str, shape: &[u64]) -> Sym {
        self.inputs.push(value_info(name, shape));
        Sym {
            name: name.into(),
            shape: shape.to_vec(),
        }
    }

    fn fresh(&mut self, op: &str) -> String {
        self.counter += 1;
        if self.prefix.is_empty() {
            format!("{op}_{}", self.counter)
        } else {
            format!("{}/{op}_{}", self.prefix, self.counter)
        }
    }

    fn node(
        &mut self,
        op: &str,
        inputs: Vec<String>,
        attrs: Vec<AttributeProto>,
        shape: Vec<u64>,
    ) -> Sym {
        let name = self.fresh(op);
        let out = format!("{name}:0");
        self.nodes.push(NodeProto {
            name,
            op_type: op.into(),
            input: inputs,
            output: vec![out.clone()],
            attribute: attrs,
            ..Default::default()
        });
        Sym { name: out, shape }
    }

    fn init(&mut self, tag: &str, shape: &[u64], values: Vec<f32>) -> String {
        let name = format!("{}.{tag}", self.fresh("w"));
        self.inits.push(TensorProto {
            name: name.clone(),
            dims: shape.iter().map(|&d| d as i64).collect(),
            data_type: 1,
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name
    }

    fn uniform(&mut self, n: u64, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.rng.random_range(lo..hi)).collect()
    }

    /// Convolution with He-uniform weights (and a PyTorch-style uniform bias when `bias`).
    #[allow(clippy::too_many_arguments)]
    pub fn conv(
        &mut self,
        x: &Sym,
        cout: u64,
        k: u64,
        stride: u64,
        pad: u64,
        groups: u64,
        bias: bool,
    ) -> Sym {
        let cin = x.shape[1];
        let fan_in = (cin / groups) * k * k;
        let bound = (6.0 / fan_in as f32).sqrt();
        let wshape = [cout, cin / groups, k, k];
        let w = self.uniform(wshape.iter().product(), -bound, bound);
        let mut inputs = vec![x.name.clone(), self.init("weight", &wshape, w)];
        if bias {
            let b = 1.0 / (fan_in as f32).sqrt();
            let bv = self.uniform(cout, -b, b);
            inputs.push(self.init("bias", &[cout], bv));
        }
        let (h, w) = (
            window(x.shape[2], k, stride, pad, false),
            window(x.shape[3], k, stride, pad, false),
        );
        let attrs = vec![
            attr_ints("kernel_shape", &[k as i64, k as i64]),
            attr_ints("strides", &[stride as i64, stride as i64]),
            attr_ints("pads", &[pad as i64; 4]),
            attr_int("group", groups as i64),
        ];
        self.node("Conv", inputs, attrs, vec![x.shape[0], cout, h, w])
    }

    /// BatchNormalization with epsilon `eps` and random parameters near the identity.
    pub fn batch_norm(&mut self, x: &Sym, eps: f32) -> Sym {
        let c = x.shape[1];
        let gamma = self.uniform(c, 0.8, 1.2);
        let beta = self.uniform(c, -0.1, 0.1);
        let mean = self.uniform(c, -0.1, 0.1);
        let var = self.uniform(c, 0.5, 1.5);
        let inputs = vec![
            x.name.clone(),
            self.init("gamma", &[c], gamma),
            self.init("beta", &[c], beta),
            self.init("mean", &[c], mean),
            self.init("var", &[c], var),
        ];
        self.node(
            "BatchNormalization",
            inputs,
            vec![attr_float("epsilon", eps)],
            x.shape.clone(),
        )
    }

    /// Rectified linear unit (`Relu`), same shape as `x`.
    pub fn relu(&mut self, x: &Sym) -> Sym {
        self.node("Relu", vec![x.name.clone()], vec![], x.shape.clone())
    }

    /// ReLU6, as `Clip` between 0 and 6 (MobileNetV2).
    pub fn relu6(&mut self, x: &Sym) -> Sym {
        let lo = self.init("min", &[], vec![0.0]);
        let hi = self.init("max", &[], vec![6.0]);
        self.node(
            "Clip",
            vec![x.name.clone(), lo, hi],
            vec![],
            x.shape.clone(),
        )
    }

    /// LeakyRelu with slope `alpha` for negative inputs.
    pub fn leaky_relu(&mut self, x: &Sym, alpha: f32) -> Sym {
        self.node(
            "LeakyRelu",
            vec![x.name.clone()],
            vec![attr_float("alpha", alpha)],
            x.shape.clone(),
        )
    }

    fn pool(&mut self, op: &str, x: &Sym, k: u64, stride: u64, pads: [u64; 4], ceil: bool) -> Sym {
        let h = window(x.shape[2] + pads[2] - pads[0], k, stride, pads[0], ceil);
        let w = window(x.shape[3] + pads[3] - pads[1], k, stride, pads[1], ceil);
        let mut attrs = vec![
            attr_ints("kernel_shape", &[k as i64, k as i64]),
            attr_ints("strides", &[stride as i64, stride as i64]),
            attr_ints("pads", &pads.map(|p| p as i64)),
        ];
        if ceil {
            attrs.push(attr_int("ceil_mode", 1));
        }
        self.node(
            op,
            vec![x.name.clone()],
            attrs,
            vec![x.shape[0], x.shape[1], h, w],
        )
    }

    /// Max pooling: a `k` x `k` window, `stride`, `pad` on every side, ceil mode when `ceil`.
    pub fn max_pool(&mut self, x: &Sym, k: u64, stride: u64, pad: u64, ceil: bool) -> Sym {
        self.pool("MaxPool", x, k, stride, [pad; 4], ceil)
    }

    /// Max pooling with explicit (top, left, bottom, right) padding, as Darknet's stride-1 pool.
    pub fn max_pool_padded(&mut self, x: &Sym, k: u64, stride: u64, pads: [u64; 4]) -> Sym {
        self.pool("MaxPool", x, k, stride, pads, false)
    }

    /// Global average pooling: each channel averaged to 1 x 1.
    pub fn global_avg_pool(&mut self, x: &Sym) -> Sym {
        self.node(
            "GlobalAveragePool",
            vec![x.name.clone()],
            vec![],
            vec![x.shape[0], x.shape[1], 1, 1],
        )
    }

    /// Flattens from axis 1: `(N, C, H, W)` to `(N, C*H*W)`.
    pub fn flatten(&mut self, x: &Sym) -> Sym {
        let rest = x.shape[1..].iter().product();
        self.node(
            "Flatten",
            vec![x.name.clone()],
            vec![attr_int("axis", 1)],
            vec![x.shape[0], rest],
        )
    }

    /// Fully connected layer (Gemm with transposed weight, as PyTorch exports Linear).
    pub fn linear(&mut self, x: &Sym, out: u64) -> Sym {
        let fan_in = x.shape[1];
        let bound = (6.0 / fan_in as f32).sqrt();
        let w = self.uniform(out * fan_in, -bound, bound);
        let b = 1.0 / (fan_in as f32).sqrt();
        let bv = self.uniform(out, -b, b);
        let inputs = vec![
            x.name.clone(),
            self.init("weight", &[out, fan_in], w),
            self.init("bias", &[out], bv),
        ];
        self.node(
            "Gemm",
            inputs,
            vec![attr_int("transB", 1)],
            vec![x.shape[0], out],
        )
    }

    /// Elementwise sum of two tensors of the same shape (residual connections).
    pub fn add(&mut self, a: &Sym, b: &Sym) -> Sym {
        self.node(
            "Add",
            vec![a.name.clone(), b.name.clone()],
            vec![],
            a.shape.clone(),
        )
    }

    /// Concatenation along the channel axis (Inception branches).
    pub fn concat(&mut self, xs: &[Sym]) -> Sym {
        let mut shape = xs[0].shape.clone();
        shape[1] = xs.iter().map(|x| x.shape[1]).sum();
        self.node(
            "Concat",
            xs.iter().map(|x| x.name.clone()).collect(),
            vec![attr_int("axis", 1)],
            shape,
        )
    }

    fn init_i64(&mut self, tag: &str, shape: &[u64], values: &[i64]) -> String {
        let name = format!("{}.{tag}", self.fresh("c"));
        self.inits.push(TensorProto {
            name: name.clone(),
            dims: shape.iter().map(|&d| d as i64).collect(),
            data_type: 7,
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name
    }

    /// Transposed convolution (a decoder's learned upsampling) with He-uniform weights and a
    /// bias: a `k` x `k` kernel at `stride`, no padding.
    pub fn conv_transpose(&mut self, x: &Sym, cout: u64, k: u64, stride: u64) -> Sym {
        let cin = x.shape[1];
        let fan_in = cout * k * k;
        let bound = (6.0 / fan_in as f32).sqrt();
        let wshape = [cin, cout, k, k];
        let w = self.uniform(wshape.iter().product(), -bound, bound);
        let b = 1.0 / (fan_in as f32).sqrt();
        let bv = self.uniform(cout, -b, b);
        let inputs = vec![
            x.name.clone(),
            self.init("weight", &wshape, w),
            self.init("bias", &[cout], bv),
        ];
        let attrs = vec![
            attr_ints("kernel_shape", &[k as i64, k as i64]),
            attr_ints("strides", &[stride as i64, stride as i64]),
        ];
        let grow = |d: u64| (d - 1) * stride + k;
        let shape = vec![x.shape[0], cout, grow(x.shape[2]), grow(x.shape[3])];
        self.node("ConvTranspose", inputs, attrs, shape)
    }

    /// Concatenation along `axis`.
    pub fn concat_axis(&mut self, xs: &[Sym], axis: usize) -> Sym {
        let mut shape = xs[0].shape.clone();
        shape[axis] = xs.iter().map(|x| x.shape[axis]).sum();
        self.node(
            "Concat",
            xs.iter().map(|x| x.name.clone()).collect(),
            vec![attr_int("axis", axis as i64)],
            shape,
        )
    }

    /// A learned constant of `shape` (a class token, position embeddings), small random values.
    pub fn parameter(&mut self, tag: &str, shape: &[u64]) -> Sym {
        let v = self.uniform(shape.iter().product(), -0.02, 0.02);
        Sym {
            name: self.init(tag, shape, v),
            shape: shape.to_vec(),
        }
    }

    /// `x` with the same elements in `shape`.
    pub fn reshape(&mut self, x: &Sym, shape: &[u64]) -> Sym {
        let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        let target = self.init_i64("shape", &[dims.len() as u64], &dims);
        self.node(
            "Reshape",
            vec![x.name.clone(), target],
            vec![],
            shape.to_vec(),
        )
    }

    /// `x` with its axes permuted.
    pub fn transpose(&mut self, x: &Sym, perm: &[usize]) -> Sym {
        let shape = perm.iter().map(|&p| x.shape[p]).collect();
        let perm: Vec<i64> = perm.iter().map(|&p| p as i64).collect();
        self.node(
            "Transpose",
            vec![x.name.clone()],
            vec![attr_ints("perm", &perm)],
            shape,
        )
    }

    /// Entry `index` of `axis` (the axis removed).
    pub fn gather(&mut self, x: &Sym, index: i64, axis: usize) -> Sym {
        let i = self.init_i64("index", &[], &[index]);
        let mut shape = x.shape.clone();
        shape.remove(axis);
        self.node(
            "Gather",
            vec![x.name.clone(), i],
            vec![attr_int("axis", axis as i64)],
            shape,
        )
    }

    /// Softmax over the last axis.
    pub fn softmax(&mut self, x: &Sym) -> Sym {
        self.node(
            "Softmax",
            vec![x.name.clone()],
            vec![attr_int("axis", -1)],
            x.shape.clone(),
        )
    }

    /// A product of two activations (attention scores, attention-weighted values), numpy
    /// semantics over leading axes.
    pub fn matmul(&mut self, a: &Sym, b: &Sym) -> Sym {
        let mut shape = a.shape.clone();
        *shape.last_mut().expect("a matrix") = *b.shape.last().expect("a matrix");
        self.node(
            "MatMul",
            vec![a.name.clone(), b.name.clone()],
            vec![],
            shape,
        )
    }

    /// A linear layer on the last axis, as PyTorch exports one on a sequence: MatMul by a
    /// (in, out) weight, then Add of the bias. The first `scaled.0` output columns (weight and
    /// bias) are multiplied by `scaled.1` (attention's 1/sqrt(d) folded into the query
    /// projection).
    pub fn dense(&mut self, x: &Sym, out: u64, scaled: (u64, f32)) -> Sym {
        let fan_in = *x.shape.last().expect("a sequence");
        let bound = (6.0 / fan_in as f32).sqrt();
        let mut w = self.uniform(fan_in * out, -bound, bound);
        let b = 1.0 / (fan_in as f32).sqrt();
        let mut bv = self.uniform(out, -b, b);
        let (first, by) = scaled;
        for (i, v) in w.iter_mut().enumerate() {
            if (i as u64 % out) < first {
                *v *= by;
            }
        }
        for v in bv.iter_mut().take(first as usize) {
            *v *= by;
        }
        let weight = self.init("weight", &[fan_in, out], w);
        let mut shape = x.shape.clone();
        *shape.last_mut().expect("a sequence") = out;
        let y = self.node(
            "MatMul",
            vec![x.name.clone(), weight],
            vec![],
            shape.clone(),
        );
        let bias = self.init("bias", &[out], bv);
        self.node("Add", vec![y.name, bias], vec![], shape)
    }

    /// Layer normalisation over the last axis with a learned scale and bias (opset 17).
    pub fn layer_norm(&mut self, x: &Sym, eps: f32) -> Sym {
        self.opset = self.opset.max(17);
        let d = *x.shape.last().expect("a sequence");
        let gamma = self.uniform(d, 0.8, 1.2);
        let beta = self.uniform(d, -0.1, 0.1);
        let inputs = vec![
            x.name.clone(),
            self.init("gamma", &[d], gamma),
            self.init("beta", &[d], beta),
        ];
        let attrs = vec![attr_int("axis", -1), attr_float("epsilon", eps)];
        self.node("LayerNormalization", inputs, attrs, x.shape.clone())
    }

    /// Gaussian error linear unit, exact (erf) form (opset 20).
    pub fn gelu(&mut self, x: &Sym) -> Sym {
        self.opset = self.opset.max(20);
        self.node("Gelu", vec![x.name.clone()], vec![], x.shape.clone())
    }

    /// The finished ONNX model (IR version 8, opset 13 or the highest its operators need)
    /// with `outputs` as graph outputs.
    pub fn finish(self, outputs: &[Sym]) -> ModelProto {
        ModelProto {
            // IR 9 came with opset 19.
            ir_version: if self.opset >= 19 { 9 } else { 8 },
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: self.opset,
            }],
            producer_name: "tiersplit-zoo".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            graph: Some(GraphProto {
                name: self.name,
                node: self.nodes,
                initializer: self.inits,
                input: self.inputs,
                output: outputs
                    .iter()
                    .map(|o| value_info(&o.name, &o.shape))
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}
