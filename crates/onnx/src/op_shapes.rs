//! Static shape inference, FLOP counting and constant evaluation for the supported operators.

use crate::attributes::{normalize_axis, Attributes};
use crate::const_tensor::{ConstData, ConstTensor};
use crate::error::Result;
use crate::proto::NodeProto;
use tiersplit_graph::DType;

/// Operators tiersplit can import (shape inference and FLOPs); tract runs all of them.
pub const SUPPORTED_OPS: &[&str] = &[
    "Abs",
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Clip",
    "Concat",
    "Constant",
    "Conv",
    "Div",
    "Dropout",
    "Elu",
    "Erf",
    "Exp",
    "Flatten",
    "Gather",
    "Gemm",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "LRN",
    "LeakyRelu",
    "Log",
    "LogSoftmax",
    "MatMul",
    "Max",
    "MaxPool",
    "Min",
    "Mul",
    "Neg",
    "Pad",
    "Pow",
    "PRelu",
    "Reciprocal",
    "ReduceMax",
    "ReduceMean",
    "ReduceSum",
    "Relu",
    "Reshape",
    "Resize",
    "Selu",
    "Shape",
    "Sigmoid",
    "Slice",
    "Softmax",
    "Softplus",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Sum",
    "Tanh",
    "Transpose",
    "Unsqueeze",
    "Upsample",
];

/// What a node reads: type, static shape, and the value when it is a small constant.
#[derive(Debug, Clone)]
pub(crate) struct Val {
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub value: Option<ConstTensor>,
}

impl Val {
    fn elements(&self) -> u64 {
        self.shape.iter().product()
    }
}

/// Output types and shapes of a node, and its FLOPs (a multiply-add counts as two).
#[derive(Debug, Clone)]
pub(crate) struct Inferred {
    pub outputs: Vec<(DType, Vec<u64>)>,
    pub flops: u64,
}

fn one(dtype: DType, shape: Vec<u64>, flops: u64) -> Result<Inferred> {
    Ok(Inferred {
        outputs: vec![(dtype, shape)],
        flops,
    })
}

fn input<'a>(a: &Attributes, inputs: &'a [Option<Val>], i: usize) -> Result<&'a Val> {
    inputs
        .get(i)
        .and_then(|v| v.as_ref())
        .ok_or_else(|| a.error(format!("input {i} is required")))
}

fn const_input(
    a: &Attributes,
    inputs: &[Option<Val>],
    i: usize,
    what: &str,
) -> Result<Option<Vec<i64>>> {
    match inputs.get(i).and_then(|v| v.as_ref()) {
        None => Ok(None),
        Some(v) => match &v.value {
            Some(c) => Ok(Some(c.as_i64())),
            None => Err(a.error(format!(
                "{what} (input {i}) must be a constant known at import time"
            ))),
        },
    }
}

fn const_f32_input(
    a: &Attributes,
    inputs: &[Option<Val>],
    i: usize,
    what: &str,
) -> Result<Option<Vec<f32>>> {
    match inputs.get(i).and_then(|v| v.as_ref()) {
        None => Ok(None),
        Some(v) if v.elements() == 0 => Ok(None),
        Some(v) => match &v.value {
            Some(c) => Ok(Some(c.as_f32())),
            None => Err(a.error(format!(
                "{what} (input {i}) must be a constant known at import time"
            ))),
        },
    }
}

pub(crate) fn broadcast(a: &Attributes, shapes: &[&[u64]]) -> Result<Vec<u64>> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1u64; rank];
    for s in shapes {
        let off = rank - s.len();
        for (i, &d) in s.iter().enumerate() {
            let o = &mut out[off + i];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                return Err(a.error(format!("shapes {shapes:?} do not broadcast")));
            }
        }
    }
    Ok(out)
}

/// Spatial output size of a sliding window, following the ONNX Conv/Pool formulas.
#[allow(clippy::too_many_arguments)]
fn window_out(
    a: &Attributes,
    input: u64,
    k: u64,
    s: u64,
    d: u64,
    pb: u64,
    pe: u64,
    auto_pad: &str,
    ceil: bool,
) -> Result<u64> {
    let dk = (k - 1) * d + 1;
    let out = match auto_pad {
        "SAME_UPPER" | "SAME_LOWER" => input.div_ceil(s),
        "VALID" => {
            if input < dk {
                return Err(a.error(format!("window {dk} larger than input {input}")));
            }
            (input - dk) / s + 1
        }
        _ => {
            let span = input + pb + pe;
            if span < dk {
                return Err(a.error(format!("window {dk} larger than padded input {span}")));
            }
            if ceil {
                let mut o = (span - dk).div_ceil(s) + 1;
                // As PyTorch and ONNX Runtime: the last window must start inside the input or
                // its leading padding.
                if (o - 1) * s >= input + pb {
                    o -= 1;
                }
                o
            } else {
                (span - dk) / s + 1
            }
        }
    };
    Ok(out)
}

struct Window {
    out: Vec<u64>,
    kernel: Vec<u64>,
}

fn window(a: &Attributes, x: &Val, kernel: Vec<u64>, ceil: bool) -> Result<Window> {
    let sp = x
        .shape
        .len()
        .checked_sub(2)
        .filter(|&n| n > 0)
        .ok_or_else(|| {
            a.error(format!(
                "input rank {} is not N,C,spatial...",
                x.shape.len()
            ))
        })?;
    if kernel.len() != sp || kernel.contains(&0) {
        return Err(a.error(format!(
            "kernel {kernel:?} does not fit input {:?}",
            x.shape
        )));
    }
    let strides = a.ints("strides").unwrap_or_else(|| vec![1; sp]);
    let dil = a.ints("dilations").unwrap_or_else(|| vec![1; sp]);
    let pads = a.ints("pads").unwrap_or_else(|| vec![0; 2 * sp]);
    let auto_pad = a.string("auto_pad").unwrap_or_default();
    if strides.len() != sp || dil.len() != sp || pads.len() != 2 * sp {
        return Err(a.error("strides, dilations or pads do not match the spatial rank"));
    }
    if strides.iter().chain(&dil).any(|&v| v < 1) || pads.iter().any(|&p| p < 0) {
        return Err(a.error("strides and dilations must be positive and pads non-negative"));
    }
    let mut out = Vec::with_capacity(sp);
    for i in 0..sp {
        out.push(window_out(
            a,
            x.shape[2 + i],
            kernel[i],
            strides[i] as u64,
            dil[i] as u64,
            pads[i] as u64,
            pads[sp + i] as u64,
            &auto_pad,
            ceil,
        )?);
    }
    Ok(Window { out, kernel })
}

/// Infers output types and shapes and FLOPs of `node`. `inputs[i]` is `None` for an omitted
/// optional input.
pub(crate) fn infer(node: &NodeProto, opset: i64, inputs: &[Option<Val>]) -> Result<Inferred> {
    let a = Attributes::of(node);
    let op = node.op_type.as_str();
    match op {
        "Relu" | "LeakyRelu" | "Sigmoid" | "Tanh" | "HardSigmoid" | "HardSwish" | "Clip"
        | "Elu" | "Selu" | "Softplus" | "Exp" | "Log" | "Neg" | "Abs" | "Sqrt" | "Reciprocal"
        | "Erf" | "Identity" | "Dropout" | "BatchNormalization" | "LRN" | "Softmax"
        | "LogSoftmax" => {
            let x = input(&a, inputs, 0)?;
            let per = match op {
                "Identity" | "Dropout" => 0,
                "BatchNormalization" => 2,
                "Softmax" | "LogSoftmax" => 3,
                "LRN" => a.int("size", 1) as u64 + 3,
                _ => 1,
            };
            if op == "BatchNormalization" && x.shape.len() < 2 {
                return Err(a.error("input must have a channel axis"));
            }
            let mut outputs = vec![(x.dtype, x.shape.clone())];
            if op == "Dropout" && node.output.len() > 1 {
                outputs.push((DType::Bool, x.shape.clone()));
            }
            Ok(Inferred {
                outputs,
                flops: per * x.elements(),
            })
        }
        "Add" | "Sub" | "Mul" | "Div" | "Pow" | "PRelu" | "Max" | "Min" | "Sum" => {
            let vals: Vec<&Val> = inputs.iter().flatten().collect();
            if vals.len()
                < if matches!(op, "Max" | "Min" | "Sum") {
                    1
                } else {
                    2
                }
            {
                return Err(a.error("missing operand"));
            }
            let shapes: Vec<&[u64]> = vals.iter().map(|v| v.shape.as_slice()).collect();
            let out = broadcast(&a, &shapes)?;
            let n: u64 = out.iter().product();
            one(vals[0].dtype, out, n * (vals.len() as u64 - 1).max(1))
        }
        "Cast" => {
            let x = input(&a, inputs, 0)?;
            let to = DType::from_onnx(a.int("to", 0) as i32)
                .ok_or_else(|| a.error(format!("unsupported target type {}", a.int("to", 0))))?;
            one(to, x.shape.clone(), 0)
        }
        "Conv" => {
            let x = input(&a, inputs, 0)?;
            let w = input(&a, inputs, 1)?;
            if w.shape.len() != x.shape.len() {
                return Err(a.error(format!(
                    "weight shape {:?} does not match input {:?}",
                    w.shape, x.shape
                )));
            }
            let group = a.int("group", 1).max(1) as u64;
            let kernel = a
                .ints("kernel_shape")
                .map(|k| k.iter().map(|&v| v as u64).collect())
                .unwrap_or_else(|| w.shape[2..].to_vec());
            let win = window(&a, x, kernel, false)?;
            let (m, cg) = (w.shape[0], w.shape[1]);
            if x.shape[1] != cg * group || !m.is_multiple_of(group) {
                return Err(a.error(format!(
                    "input channels {} do not match weight {:?} with group {group}",
                    x.shape[1], w.shape
                )));
            }
            let mut out = vec![x.shape[0], m];
            out.extend(&win.out);
            let positions: u64 = out.iter().product();
            let k: u64 = win.kernel.iter().product::<u64>() * cg;
            let bias = if inputs.get(2).is_some_and(|b| b.is_some()) {
                positions
            } else {
                0
            };
            one(x.dtype, out, 2 * positions * k + bias)
        }
        "MaxPool" | "AveragePool" => {
            let x = input(&a, inputs, 0)?;
            let kernel: Vec<u64> = a
                .ints("kernel_shape")
                .ok_or_else(|| a.error("kernel_shape is required"))?
                .iter()
                .map(|&v| v as u64)
                .collect();
            let win = window(&a, x, kernel, a.int("ceil_mode", 0) != 0)?;
            let mut out = x.shape[..2].to_vec();
            out.extend(&win.out);
            let n: u64 = out.iter().product();
            if node.output.len() > 1 {
                return Err(a.error("the Indices output of MaxPool is not supported"));
            }
            one(x.dtype, out, n * win.kernel.iter().product::<u64>())
        }
        "GlobalAveragePool" | "GlobalMaxPool" => {
            let x = input(&a, inputs, 0)?;
            if x.shape.len() < 3 {
                return Err(a.error("input must be N,C,spatial..."));
            }
            let mut out = x.shape[..2].to_vec();
            out.extend(std::iter::repeat_n(1, x.shape.len() - 2));
            one(x.dtype, out, x.elements())
        }
        "Gemm" => {
            let x = input(&a, inputs, 0)?;
            let w = input(&a, inputs, 1)?;
            if x.shape.len() != 2 || w.shape.len() != 2 {
                return Err(a.error(format!(
                    "operands must be matrices, got {:?} and {:?}",
                    x.shape, w.shape
                )));
            }
            let (m, k) = if a.int("transA", 0) != 0 {
                (x.shape[1], x.shape[0])
            } else {
                (x.shape[0], x.shape[1])
            };
            let (k2, n) = if a.int("transB", 0) != 0 {
                (w.shape[1], w.shape[0])
            } else {
                (w.shape[0], w.shape[1])
            };
            if k != k2 {
                return Err(a.error(format!("inner dimensions differ: {k} vs {k2}")));
            }
            let bias = if inputs.get(2).is_some_and(|b| b.is_some()) {
                m * n
            } else {
                0
            };
            one(x.dtype, vec![m, n], 2 * m * n * k + bias)
        }
        "MatMul" => {
            let x = input(&a, inputs, 0)?;
            let w = input(&a, inputs, 1)?;
            if x.shape.is_empty() || w.shape.is_empty() {
                return Err(a.error("scalar operands are not allowed"));
            }
            let xs = if x.shape.len() == 1 {
                vec![1, x.shape[0]]
            } else {
                x.shape.clone()
            };
            let ws = if w.shape.len() == 1 {
                vec![w.shape[0], 1]
            } else {
                w.shape.clone()
            };
            let (m, k) = (xs[xs.len() - 2], xs[xs.len() - 1]);
            let (k2, n) = (ws[ws.len() - 2], ws[ws.len() - 1]);
            if k != k2 {
                return Err(a.error(format!(
                    "inner dimensions differ: {:?} x {:?}",
                    x.shape, w.shape
                )));
            }
            let batch = broadcast(&a, &[&xs[..xs.len() - 2], &ws[..ws.len() - 2]])?;
            let mut out = batch.clone();
            if x.shape.len() > 1 {
                out.push(m);
            }
            if w.shape.len() > 1 {
                out.push(n);
            }
            one(x.dtype, out, 2 * batch.iter().product::<u64>() * m * n * k)
        }
        "Flatten" => {
            let x = input(&a, inputs, 0)?;
            let axis = normalize_axis(a.int("axis", 1), x.shape.len() + 1)
                .ok_or_else(|| a.error("axis out of range"))?;
            let outer: u64 = x.shape[..axis].iter().product();
            one(x.dtype, vec![outer, x.elements() / outer.max(1)], 0)
        }
        "Reshape" => {
            let x = input(&a, inputs, 0)?;
            let spec = if opset < 5 {
                a.ints("shape")
            } else {
                const_input(&a, inputs, 1, "target shape")?
            }
            .ok_or_else(|| a.error("target shape is required"))?;
            one(
                x.dtype,
                reshape(&a, &x.shape, &spec, a.int("allowzero", 0) != 0)?,
                0,
            )
        }
        "Transpose" => {
            let x = input(&a, inputs, 0)?;
            let perm = a
                .ints("perm")
                .unwrap_or_else(|| (0..x.shape.len() as i64).rev().collect());
            let mut seen = vec![false; x.shape.len()];
            let mut out = Vec::with_capacity(perm.len());
            for &p in &perm {
                let p = normalize_axis(p, x.shape.len())
                    .filter(|&p| !seen[p])
                    .ok_or_else(|| a.error(format!("perm {perm:?} is not a permutation")))?;
                seen[p] = true;
                out.push(x.shape[p]);
            }
            if out.len() != x.shape.len() {
                return Err(a.error(format!("perm {perm:?} is not a permutation")));
            }
            one(x.dtype, out, 0)
        }
        "Concat" => {
            let vals: Vec<&Val> = inputs.iter().flatten().collect();
            let first = vals.first().ok_or_else(|| a.error("no inputs"))?;
            let axis = a.axis("axis", 0, first.shape.len())?;
            let mut out = first.shape.clone();
            out[axis] = 0;
            for v in &vals {
                if v.shape.len() != out.len()
                    || v.shape
                        .iter()
                        .enumerate()
                        .any(|(i, &d)| i != axis && d != out[i])
                {
                    return Err(a.error(format!(
                        "input shape {:?} does not match {:?} outside axis {axis}",
                        v.shape, first.shape
                    )));
                }
                out[axis] += v.shape[axis];
            }
            one(first.dtype, out, 0)
        }
        "Split" => {
            let x = input(&a, inputs, 0)?;
            let axis = a.axis("axis", 0, x.shape.len())?;
            let parts = node.output.len() as u64;
            let split = if opset >= 13 {
                const_input(&a, inputs, 1, "split")?
            } else {
                a.ints("split")
            };
            let sizes: Vec<u64> = match split {
                Some(s) => s.iter().map(|&v| v as u64).collect(),
                None => {
                    let d = x.shape[axis];
                    let chunk = d.div_ceil(parts);
                    (0..parts)
                        .map(|i| chunk.min(d.saturating_sub(i * chunk)))
                        .collect()
                }
            };
            if sizes.len() as u64 != parts || sizes.iter().sum::<u64>() != x.shape[axis] {
                return Err(a.error(format!(
                    "split {sizes:?} does not divide axis of size {}",
                    x.shape[axis]
                )));
            }
            let outputs = sizes.iter().map(|&s| {
                let mut o = x.shape.clone();
                o[axis] = s;
                (x.dtype, o)
            });
            Ok(Inferred {
                outputs: outputs.collect(),
                flops: 0,
            })
        }
        "Squeeze" | "Unsqueeze" => {
            let x = input(&a, inputs, 0)?;
            let axes = if opset >= 13 {
                const_input(&a, inputs, 1, "axes")?
            } else {
                a.ints("axes")
            };
            one(x.dtype, squeeze(&a, op == "Unsqueeze", &x.shape, axes)?, 0)
        }
        "Shape" => {
            let x = input(&a, inputs, 0)?;
            let r = x.shape.len() as i64;
            let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r);
            let start = clamp(a.int("start", 0));
            let end = clamp(a.int("end", r));
            one(DType::I64, vec![(end - start).max(0) as u64], 0)
        }
        "Gather" => {
            let x = input(&a, inputs, 0)?;
            let idx = input(&a, inputs, 1)?;
            let axis = a.axis("axis", 0, x.shape.len())?;
            let mut out = x.shape[..axis].to_vec();
            out.extend(&idx.shape);
            out.extend(&x.shape[axis + 1..]);
            one(x.dtype, out, 0)
        }
        "Slice" => {
            let x = input(&a, inputs, 0)?;
            let (starts, ends, axes, steps) = if opset < 10 {
                (a.ints("starts"), a.ints("ends"), a.ints("axes"), None)
            } else {
                (
                    const_input(&a, inputs, 1, "starts")?,
                    const_input(&a, inputs, 2, "ends")?,
                    const_input(&a, inputs, 3, "axes")?,
                    const_input(&a, inputs, 4, "steps")?,
                )
            };
            let ranges = slice_ranges(&a, &x.shape, starts, ends, axes, steps)?;
            one(x.dtype, ranges.iter().map(|r| r.len()).collect(), 0)
        }
        "Pad" => {
            let x = input(&a, inputs, 0)?;
            let pads = if opset < 11 {
                a.ints("pads")
            } else {
                const_input(&a, inputs, 1, "pads")?
            }
            .ok_or_else(|| a.error("pads are required"))?;
            if opset >= 18 && inputs.get(3).is_some_and(|v| v.is_some()) {
                return Err(a.error("the axes input of Pad is not supported"));
            }
            let r = x.shape.len();
            if pads.len() != 2 * r {
                return Err(a.error(format!("pads {pads:?} do not match rank {r}")));
            }
            let out = (0..r)
                .map(|i| x.shape[i] as i64 + pads[i] + pads[r + i])
                .collect::<Vec<i64>>();
            if out.iter().any(|&d| d < 0) {
                return Err(a.error("negative output size"));
            }
            one(x.dtype, out.into_iter().map(|d| d as u64).collect(), 0)
        }
        "ReduceMean" | "ReduceSum" | "ReduceMax" => {
            let x = input(&a, inputs, 0)?;
            let axes = if (op == "ReduceSum" && opset >= 13) || opset >= 18 {
                const_input(&a, inputs, 1, "axes")?
            } else {
                a.ints("axes")
            };
            let keep = a.int("keepdims", 1) != 0;
            let r = x.shape.len();
            let axes: Vec<usize> = match axes {
                Some(ax) if !ax.is_empty() => ax
                    .iter()
                    .map(|&v| {
                        normalize_axis(v, r)
                            .ok_or_else(|| a.error(format!("axis {v} out of range")))
                    })
                    .collect::<Result<_>>()?,
                _ => (0..r).collect(),
            };
            let mut out = Vec::new();
            for (i, &d) in x.shape.iter().enumerate() {
                if axes.contains(&i) {
                    if keep {
                        out.push(1);
                    }
                } else {
                    out.push(d);
                }
            }
            one(x.dtype, out, x.elements())
        }
        "Resize" | "Upsample" => {
            let x = input(&a, inputs, 0)?;
            let r = x.shape.len();
            let (scales, sizes) = if op == "Upsample" {
                let s = if opset >= 9 {
                    const_f32_input(&a, inputs, 1, "scales")?
                } else {
                    a.floats("scales")
                };
                (s, None)
            } else if opset < 11 {
                (const_f32_input(&a, inputs, 1, "scales")?, None)
            } else {
                (
                    const_f32_input(&a, inputs, 2, "scales")?,
                    const_input(&a, inputs, 3, "sizes")?.filter(|s| !s.is_empty()),
                )
            };
            if a.has("axes") {
                return Err(a.error("the axes attribute of Resize is not supported"));
            }
            let out: Vec<u64> = match (sizes, scales) {
                (Some(s), _) if s.len() == r => s.iter().map(|&v| v as u64).collect(),
                (None, Some(sc)) if sc.len() == r => x
                    .shape
                    .iter()
                    .zip(&sc)
                    .map(|(&d, &s)| (d as f64 * s as f64).floor() as u64)
                    .collect(),
                _ => {
                    return Err(a.error(format!(
                        "needs scales or sizes with one value per axis of {:?}",
                        x.shape
                    )))
                }
            };
            let n: u64 = out.iter().product();
            one(x.dtype, out, n)
        }
        _ => Err(crate::OnnxError::UnsupportedOp {
            node: node.name.clone(),
            op: node.op_type.clone(),
            supported: SUPPORTED_OPS.join(", "),
        }),
    }
}

fn reshape(a: &Attributes, input: &[u64], spec: &[i64], allowzero: bool) -> Result<Vec<u64>> {
    let total: u64 = input.iter().product();
    let mut out = Vec::with_capacity(spec.len());
    let mut infer_at = None;
    for (i, &d) in spec.iter().enumerate() {
        match d {
            -1 if infer_at.is_none() => {
                infer_at = Some(i);
                out.push(1);
            }
            0 if !allowzero => out.push(*input.get(i).ok_or_else(|| {
                a.error(format!("shape {spec:?}: 0 at axis {i} beyond input rank"))
            })?),
            d if d >= 0 => out.push(d as u64),
            _ => return Err(a.error(format!("invalid target shape {spec:?}"))),
        }
    }
    let known: u64 = out.iter().product();
    if let Some(i) = infer_at {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(a.error(format!("cannot reshape {input:?} to {spec:?}")));
        }
        out[i] = total / known;
    } else if known != total {
        return Err(a.error(format!(
            "cannot reshape {input:?} ({total} elements) to {spec:?}"
        )));
    }
    Ok(out)
}

fn squeeze(
    a: &Attributes,
    unsqueeze: bool,
    shape: &[u64],
    axes: Option<Vec<i64>>,
) -> Result<Vec<u64>> {
    if unsqueeze {
        let axes = axes.ok_or_else(|| a.error("axes are required"))?;
        let r = shape.len() + axes.len();
        let mut norm: Vec<usize> = axes
            .iter()
            .map(|&v| normalize_axis(v, r).ok_or_else(|| a.error(format!("axis {v} out of range"))))
            .collect::<Result<_>>()?;
        norm.sort();
        let mut out = shape.to_vec();
        for ax in norm {
            out.insert(ax, 1);
        }
        Ok(out)
    } else {
        let r = shape.len();
        let norm: Vec<usize> = match axes {
            Some(ax) => ax
                .iter()
                .map(|&v| {
                    normalize_axis(v, r).ok_or_else(|| a.error(format!("axis {v} out of range")))
                })
                .collect::<Result<_>>()?,
            None => (0..r).filter(|&i| shape[i] == 1).collect(),
        };
        if norm.iter().any(|&i| shape[i] != 1) {
            return Err(a.error(format!(
                "cannot squeeze a dimension that is not 1 in {shape:?}"
            )));
        }
        Ok(shape
            .iter()
            .enumerate()
            .filter(|(i, _)| !norm.contains(i))
            .map(|(_, &d)| d)
            .collect())
    }
}

/// The selected indices along one axis of a Slice.
#[derive(Debug, Clone)]
pub(crate) struct AxisRange {
    start: i64,
    step: i64,
    len: u64,
}

impl AxisRange {
    fn len(&self) -> u64 {
        self.len
    }
    fn index(&self, i: u64) -> u64 {
        (self.start + self.step * i as i64) as u64
    }
}

fn slice_ranges(
    a: &Attributes,
    shape: &[u64],
    starts: Option<Vec<i64>>,
    ends: Option<Vec<i64>>,
    axes: Option<Vec<i64>>,
    steps: Option<Vec<i64>>,
) -> Result<Vec<AxisRange>> {
    let starts = starts.ok_or_else(|| a.error("starts are required"))?;
    let ends = ends.ok_or_else(|| a.error("ends are required"))?;
    let r = shape.len();
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(a.error("starts, ends, axes and steps differ in length"));
    }
    let mut ranges: Vec<AxisRange> = shape
        .iter()
        .map(|&d| AxisRange {
            start: 0,
            step: 1,
            len: d,
        })
        .collect();
    for i in 0..starts.len() {
        let ax = normalize_axis(axes[i], r)
            .ok_or_else(|| a.error(format!("axis {} out of range", axes[i])))?;
        let d = shape[ax] as i64;
        let step = steps[i];
        if step == 0 {
            return Err(a.error("step 0"));
        }
        let fix = |v: i64| if v < 0 { v + d } else { v };
        let (start, end) = if step > 0 {
            (fix(starts[i]).clamp(0, d), fix(ends[i]).clamp(0, d))
        } else {
            (
                fix(starts[i]).clamp(-1, d - 1),
                fix(ends[i]).clamp(-1, d - 1),
            )
        };
        let (span, stride) = if step > 0 {
            ((end - start).max(0), step)
        } else {
            ((start - end).max(0), -step)
        };
        let len = (span + stride - 1) / stride;
        ranges[ax] = AxisRange {
            start,
            step,
            len: len as u64,
        };
    }
    Ok(ranges)
}

/// Evaluates a node whose inputs are all known constants, for the small integer shape
/// computations exporters emit. Returns `None` for ops it does not evaluate; those stay layers.
pub(crate) fn fold(
    node: &NodeProto,
    opset: i64,
    inputs: &[Option<Val>],
    inferred: &Inferred,
) -> Result<Option<Vec<ConstTensor>>> {
    let a = Attributes::of(node);
    let op = node.op_type.as_str();
    if op == "Shape" {
        let x = input(&a, inputs, 0)?;
        let r = x.shape.len() as i64;
        let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
        let dims = &x.shape
            [clamp(a.int("start", 0))..clamp(a.int("end", r)).max(clamp(a.int("start", 0)))];
        return Ok(Some(vec![ConstTensor::from_i64(
            vec![dims.len() as u64],
            dims.iter().map(|&d| d as i64).collect(),
        )]));
    }
    let mut vals = Vec::new();
    for v in inputs {
        match v {
            Some(Val { value: Some(c), .. }) => vals.push(Some(c)),
            Some(_) => return Ok(None),
            None => vals.push(None),
        }
    }
    let (dtype, shape) = inferred.outputs[0].clone();
    let out = |data: ConstData| {
        Ok(Some(vec![ConstTensor {
            dtype,
            shape: shape.clone(),
            data,
        }]))
    };
    let x = match vals.first() {
        Some(Some(x)) => *x,
        _ => return Ok(None),
    };
    match op {
        "Identity" | "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" | "Dropout"
            if node.output.len() == 1 =>
        {
            out(x.data.clone())
        }
        "Cast" => out(match (dtype, &x.data) {
            (DType::F32 | DType::F64 | DType::F16, _) => ConstData::F32(x.as_f32()),
            _ => ConstData::I64(x.as_i64()),
        }),
        "Concat" => {
            let axis = a.axis("axis", 0, x.shape.len())?;
            if axis != 0 || x.shape.len() != 1 {
                return Ok(None);
            }
            match x.data {
                ConstData::I64(_) => out(ConstData::I64(
                    vals.iter().flatten().flat_map(|c| c.as_i64()).collect(),
                )),
                ConstData::F32(_) => out(ConstData::F32(
                    vals.iter().flatten().flat_map(|c| c.as_f32()).collect(),
                )),
            }
        }
        "Gather" => {
            let idx = match vals.get(1) {
                Some(Some(i)) => i.as_i64(),
                _ => return Ok(None),
            };
            if x.shape.len() != 1 {
                return Ok(None);
            }
            let d = x.shape[0] as i64;
            let pick: Vec<usize> = idx
                .iter()
                .map(|&i| if i < 0 { i + d } else { i })
                .filter(|&i| (0..d).contains(&i))
                .map(|i| i as usize)
                .collect();
            if pick.len() != idx.len() {
                return Err(a.error(format!("indices {idx:?} out of range for {d} elements")));
            }
            out(match &x.data {
                ConstData::I64(v) => ConstData::I64(pick.iter().map(|&i| v[i]).collect()),
                ConstData::F32(v) => ConstData::F32(pick.iter().map(|&i| v[i]).collect()),
            })
        }
        "Slice" => {
            if x.shape.len() != 1 {
                return Ok(None);
            }
            let get = |i: usize| vals.get(i).copied().flatten().map(|c| c.as_i64());
            let (starts, ends, axes, steps) = if opset < 10 {
                (a.ints("starts"), a.ints("ends"), a.ints("axes"), None)
            } else {
                (get(1), get(2), get(3), get(4))
            };
            let r = &slice_ranges(&a, &x.shape, starts, ends, axes, steps)?[0];
            out(match &x.data {
                ConstData::I64(v) => {
                    ConstData::I64((0..r.len()).map(|i| v[r.index(i) as usize]).collect())
                }
                ConstData::F32(v) => {
                    ConstData::F32((0..r.len()).map(|i| v[r.index(i) as usize]).collect())
                }
            })
        }
        "Add" | "Sub" | "Mul" | "Div" => {
            let y = match vals.get(1) {
                Some(Some(y)) => *y,
                _ => return Ok(None),
            };
            let n: u64 = shape.iter().product();
            // Only scalar-with-vector or same-shape cases appear in shape arithmetic.
            let at = |c: &ConstTensor, i: usize| if c.len() == 1 { 0 } else { i };
            if (x.len() as u64 != n && x.len() != 1) || (y.len() as u64 != n && y.len() != 1) {
                return Ok(None);
            }
            match (&x.data, &y.data) {
                (ConstData::I64(p), ConstData::I64(q)) => {
                    let f = |u: i64, v: i64| match op {
                        "Add" => Some(u + v),
                        "Sub" => Some(u - v),
                        "Mul" => Some(u * v),
                        _ => (v != 0).then(|| u.div_euclid(v)),
                    };
                    let r: Option<Vec<i64>> = (0..n as usize)
                        .map(|i| f(p[at(x, i)], q[at(y, i)]))
                        .collect();
                    match r {
                        Some(r) => out(ConstData::I64(r)),
                        None => Err(a.error("integer division by zero in a constant")),
                    }
                }
                _ => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
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
        let unknown =
            infer(&node("Reshape", vec![]), 13, &[act(&[2, 3, 4]), act(&[2])]).unwrap_err();
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
}
