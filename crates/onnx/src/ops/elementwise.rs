//! Per-element operators: activations, normalisations that keep the shape, broadcasting
//! arithmetic, Cast.

use super::{broadcast, Ctx, Inferred, Op, Registry, Tiling};
use crate::const_tensor::{ConstData, ConstTensor};
use crate::error::Result;
use tiersplit_graph::DType;

pub(super) fn register(r: &mut Registry) {
    let tiled = |flops| Unary { flops, tiles: true };
    let whole = |flops| Unary {
        flops,
        tiles: false,
    };
    for name in [
        "Relu",
        "LeakyRelu",
        "Sigmoid",
        "Tanh",
        "HardSigmoid",
        "HardSwish",
        "Clip",
        "Elu",
        "Selu",
        "Softplus",
        "Exp",
        "Neg",
        "Abs",
        "Floor",
        "Ceil",
        "Round",
        "Sign",
        "Softsign",
        "Shrink",
        "ThresholdedRelu",
        "Celu",
    ] {
        r.register(name, tiled(PerElement::Fixed(1)));
    }
    // x * tanh(softplus(x)); x * Phi(x).
    r.register("Mish", tiled(PerElement::Fixed(4)));
    r.register("Gelu", tiled(PerElement::Fixed(4)));
    for name in ["Log", "Sqrt", "Reciprocal", "Erf"] {
        r.register(name, whole(PerElement::Fixed(1)));
    }
    // Trigonometric: positional encodings of transformers, mostly folded at import.
    for name in TRIGONOMETRIC {
        r.register(name, whole(PerElement::Fixed(1)));
    }
    r.register("Identity", tiled(PerElement::Fixed(0)));
    r.register("Dropout", tiled(PerElement::Fixed(0)));
    r.register("BatchNormalization", BatchNorm);
    r.register("Softmax", whole(PerElement::Fixed(3)));
    r.register("LogSoftmax", whole(PerElement::Fixed(3)));
    r.register("LRN", whole(PerElement::LrnSize));
    let binary = |op, learned| Binary {
        op,
        variadic: false,
        learned,
    };
    r.register("Add", binary(Arith::Add, true));
    r.register("Sub", binary(Arith::Sub, true));
    r.register("Mul", binary(Arith::Mul, true));
    r.register("Div", binary(Arith::Div, true));
    r.register("PRelu", binary(Arith::Other, true));
    r.register("Pow", binary(Arith::Other, false));
    for name in ["Max", "Min", "Sum"] {
        r.register(
            name,
            Binary {
                op: Arith::Other,
                variadic: true,
                learned: false,
            },
        );
    }
    r.register("Cast", Cast);
}

/// Trigonometric and hyperbolic operators but Tanh, an activation that tiles.
const TRIGONOMETRIC: [&str; 11] = [
    "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh",
];

/// FLOPs an operator spends per output element.
#[derive(Clone, Copy)]
enum PerElement {
    Fixed(u64),
    /// LRN: a sum over `size` channels and three more operations.
    LrnSize,
}

/// An operator whose output has its input's type and shape.
struct Unary {
    flops: PerElement,
    tiles: bool,
}

impl Op for Unary {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let x = cx.input(0)?;
        let per = match self.flops {
            PerElement::Fixed(n) => n,
            PerElement::LrnSize => (cx.a.int("size", 1).max(0) as u64).saturating_add(3),
        };
        let mut outputs = vec![(x.dtype, x.shape.clone())];
        if cx.node.op_type == "Dropout" && cx.node.output.len() > 1 {
            // The mask is boolean from opset 10 on, and of the input's type before.
            let mask = if cx.opset >= 10 { DType::Bool } else { x.dtype };
            outputs.push((mask, x.shape.clone()));
        }
        Ok(Inferred {
            outputs,
            flops: per.saturating_mul(x.elements()),
        })
    }

    fn fold(&self, cx: &Ctx, out: &Inferred) -> Result<Option<Vec<ConstTensor>>> {
        let f: fn(f64) -> f64 = match cx.node.op_type.as_str() {
            "Identity" | "Dropout" => return same_data(cx, out),
            // The rounding and sign operators appear in export-time shape arithmetic.
            "Floor" => f64::floor,
            "Ceil" => f64::ceil,
            "Round" => f64::round_ties_even,
            "Sign" => |x: f64| if x == 0.0 { 0.0 } else { x.signum() },
            "Neg" => |x: f64| -x,
            "Abs" => f64::abs,
            "Sin" => f64::sin,
            "Cos" => f64::cos,
            "Tan" => f64::tan,
            "Asin" => f64::asin,
            "Acos" => f64::acos,
            "Atan" => f64::atan,
            "Sinh" => f64::sinh,
            "Cosh" => f64::cosh,
            "Asinh" => f64::asinh,
            "Acosh" => f64::acosh,
            "Atanh" => f64::atanh,
            _ => return Ok(None),
        };
        let float_only = TRIGONOMETRIC.contains(&cx.node.op_type.as_str());
        let Some(x) = cx.const_values().and_then(|v| v.first().copied().flatten()) else {
            return Ok(None);
        };
        let data = match &x.data {
            ConstData::F32(v) => {
                ConstData::F32(v.iter().map(|&e| f(f64::from(e)) as f32).collect())
            }
            // ONNX defines these on floats only.
            ConstData::I64(_) if float_only => return Ok(None),
            // Integers exactly: rounding keeps them, the others have integer forms.
            ConstData::I64(v) => {
                let g = |e: i64| match cx.node.op_type.as_str() {
                    "Sign" => Some(e.signum()),
                    "Neg" => e.checked_neg(),
                    "Abs" => e.checked_abs(),
                    _ => Some(e),
                };
                let r: Option<Vec<i64>> = v.iter().map(|&e| g(e)).collect();
                ConstData::I64(r.ok_or_else(|| cx.error("integer overflow in a constant"))?)
            }
        };
        cx.folded(out, data)
    }

    fn tiling(&self) -> Tiling {
        if self.tiles {
            Tiling::Elementwise
        } else {
            Tiling::None
        }
    }
}

/// Folds an operator that only changes how its single input's elements are viewed (Identity,
/// Reshape, Flatten, Squeeze, ...): the output holds the same data.
pub(super) fn same_data(cx: &Ctx, out: &Inferred) -> Result<Option<Vec<ConstTensor>>> {
    if cx.node.output.len() != 1 {
        return Ok(None);
    }
    match cx.const_values().and_then(|v| v.first().copied().flatten()) {
        Some(x) => cx.folded(out, x.data.clone()),
        None => Ok(None),
    }
}

/// BatchNormalization at inference: a per-channel scale and shift.
struct BatchNorm;

impl Op for BatchNorm {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let x = cx.input(0)?;
        if x.shape.len() < 2 {
            return Err(cx.error("input must have a channel axis"));
        }
        Inferred::one(x.dtype, x.shape.clone(), 2 * x.elements())
    }

    fn learnable(&self, input: usize) -> bool {
        input == 1 || input == 2
    }

    fn tiling(&self) -> Tiling {
        Tiling::Elementwise
    }
}

/// The arithmetic folded on integer constants.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    /// Computed at run time only.
    Other,
}

impl Arith {
    /// `None` on division by zero or overflow.
    fn apply(self, u: i64, v: i64) -> Option<i64> {
        match self {
            Arith::Add => u.checked_add(v),
            Arith::Sub => u.checked_sub(v),
            Arith::Mul => u.checked_mul(v),
            Arith::Div => (v != 0).then(|| u.checked_div_euclid(v)).flatten(),
            Arith::Other => None,
        }
    }
}

/// A broadcasting operator of two (or, when variadic, one or more) operands.
struct Binary {
    op: Arith,
    variadic: bool,
    /// Whether a constant operand is a learned weight (a bias, a scale, PRelu's slope).
    learned: bool,
}

impl Op for Binary {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let vals = cx.operands();
        if vals.len() < if self.variadic { 1 } else { 2 } {
            return Err(cx.error("missing operand"));
        }
        let shapes: Vec<&[u64]> = vals.iter().map(|v| v.shape.as_slice()).collect();
        let out = broadcast(&cx.a, &shapes)?;
        let n: u64 = out.iter().product();
        let per = (vals.len() as u64 - 1).max(1);
        Inferred::one(vals[0].dtype, out, n.saturating_mul(per))
    }

    fn fold(&self, cx: &Ctx, out: &Inferred) -> Result<Option<Vec<ConstTensor>>> {
        let values = cx.const_values().unwrap_or_default();
        let (Some(Some(x)), Some(Some(y))) = (values.first(), values.get(1)) else {
            return Ok(None);
        };
        let (x, y) = (*x, *y);
        let n: u64 = out.outputs[0].1.iter().product();
        // Only scalar-with-vector or same-shape cases appear in shape arithmetic.
        let fits = |c: &ConstTensor| c.len() as u64 == n || c.len() == 1;
        if self.op == Arith::Other || !fits(x) || !fits(y) {
            return Ok(None);
        }
        let (ConstData::I64(p), ConstData::I64(q)) = (&x.data, &y.data) else {
            return Ok(None);
        };
        let at = |v: &[i64], i: usize| if v.len() == 1 { v[0] } else { v[i] };
        let r: Option<Vec<i64>> = (0..n as usize)
            .map(|i| self.op.apply(at(p, i), at(q, i)))
            .collect();
        match r {
            Some(r) => cx.folded(out, ConstData::I64(r)),
            None => Err(cx.error("integer division by zero or overflow in a constant")),
        }
    }

    fn learnable(&self, _input: usize) -> bool {
        self.learned
    }
}

/// Cast to the type of the `to` attribute.
struct Cast;

impl Op for Cast {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let x = cx.input(0)?;
        let code = cx.a.int("to", 0);
        let to = i32::try_from(code)
            .ok()
            .and_then(DType::from_onnx)
            .ok_or_else(|| cx.error(format!("unsupported target type {code}")))?;
        Inferred::one(to, x.shape.clone(), 0)
    }

    fn fold(&self, cx: &Ctx, out: &Inferred) -> Result<Option<Vec<ConstTensor>>> {
        let Some(x) = cx.const_values().and_then(|v| v.first().copied().flatten()) else {
            return Ok(None);
        };
        let data = match out.outputs[0].0 {
            DType::F32 | DType::F64 | DType::F16 => ConstData::F32(x.as_f32()),
            _ => ConstData::I64(x.as_i64()),
        };
        cx.folded(out, data)
    }
}
