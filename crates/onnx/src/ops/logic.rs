//! Comparisons, logic and selection: Equal, Less, Greater, LessOrEqual, GreaterOrEqual, And,
//! Or, Xor, Not, Where, Mod. Exporters emit them in shape arithmetic (`Where(Equal(shape, 0),
//! ...)`), so each folds when its operands are constants; with activations they stay layers
//! (Not tiles per element; the broadcasting ones, like Add, do not tile yet).

use super::{broadcast, Ctx, Inferred, Op, Registry, Tiling};
use crate::const_tensor::{ConstData, ConstTensor};
use crate::error::Result;
use tiersplit_graph::DType;

pub(super) fn register(r: &mut Registry) {
    for (name, cmp) in [
        ("Equal", Cmp::Eq),
        ("Less", Cmp::Lt),
        ("Greater", Cmp::Gt),
        ("LessOrEqual", Cmp::Le),
        ("GreaterOrEqual", Cmp::Ge),
    ] {
        r.register(name, Compare(cmp));
    }
    for (name, l) in [("And", Logic::And), ("Or", Logic::Or), ("Xor", Logic::Xor)] {
        r.register(name, BoolOp(l));
    }
    r.register("Not", Not);
    r.register("Where", Where);
    r.register("Mod", Mod);
}

/// The broadcast output shape of a node's operands, and its element count.
fn broadcast_of(cx: &Ctx, want: usize) -> Result<Vec<u64>> {
    let vals = cx.operands();
    if vals.len() != want {
        return Err(cx.error(format!("takes {want} operands, got {}", vals.len())));
    }
    let shapes: Vec<&[u64]> = vals.iter().map(|v| v.shape.as_slice()).collect();
    broadcast(&cx.a, &shapes)
}

/// Operand values when all are constants, as f64 (exact for the integers of shape arithmetic)
/// broadcast to `shape`; `None` when any is not constant or the broadcast is not a plain
/// scalar-or-same-shape one.
fn const_operands(cx: &Ctx, shape: &[u64]) -> Option<Vec<Vec<f64>>> {
    let n: u64 = shape.iter().product();
    let values = cx.const_values()?;
    values
        .into_iter()
        .map(|v| {
            let c = v?;
            let all: Vec<f64> = match &c.data {
                ConstData::F32(x) => x.iter().map(|&f| f64::from(f)).collect(),
                ConstData::I64(x) => x.iter().map(|&i| i as f64).collect(),
            };
            match all.len() as u64 {
                1 => Some(vec![all[0]; n as usize]),
                m if m == n => Some(all),
                _ => None,
            }
        })
        .collect()
}

/// Folded booleans (stored as 0 and 1).
fn fold_bools(
    cx: &Ctx,
    out: &Inferred,
    f: impl Fn(&[f64]) -> bool,
) -> Result<Option<Vec<ConstTensor>>> {
    let Some(ops) = const_operands(cx, &out.outputs[0].1) else {
        return Ok(None);
    };
    let n = ops.first().map_or(0, Vec::len);
    let r = (0..n)
        .map(|i| {
            let row: Vec<f64> = ops.iter().map(|o| o[i]).collect();
            i64::from(f(&row))
        })
        .collect();
    cx.folded(out, ConstData::I64(r))
}

#[derive(Clone, Copy)]
enum Cmp {
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
}

/// A comparison: a boolean per element of the broadcast shape.
struct Compare(Cmp);

impl Op for Compare {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let shape = broadcast_of(cx, 2)?;
        let n = shape.iter().product();
        Inferred::one(DType::Bool, shape, n)
    }

    fn fold(&self, cx: &Ctx, out: &Inferred) -> Result<Option<Vec<ConstTensor>>> {
        let c = self.0;
        fold_bools(cx, out, |v| match c {
            Cmp::Eq => v[0] == v[1],
            Cmp::Lt => v[0] < v[1],
            Cmp::Gt => v[0] > v[1],
            Cmp::Le => v[0] <= v[1],
            Cmp::Ge => v[0] >= v[1],
        })
    }
}

#[derive(Clone, Copy)]
enum Logic {
    And,
    Or,
    Xor,
}

/// A logical operator on two boolean tensors.
struct BoolOp(Logic);

impl Op for BoolOp {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let shape = broadcast_of(cx, 2)?;
        if cx.operands().iter().any(|v| v.dtype != DType::Bool) {
            return Err(cx.error("operands must be boolean"));
        }
        let n = shape.iter().product();
        Inferred::one(DType::Bool, shape, n)
    }

    fn fold(&self, cx: &Ctx, out: &Inferred) -> Result<Option<Vec<ConstTensor>>> {
        let l = self.0;
        fold_bools(cx, out, |v| {
            let (a, b) = (v[0] != 0.0, v[1] != 0.0);
            match l {
                Logic::And => a && b,
                Logic::Or => a || b,
                Logic::Xor => a != b,
            }
        })
    }
}

/// Logical negation of a boolean tensor.
struct Not;

impl Op for Not {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let x = cx.input(0)?;
        if x.dtype != DType::Bool {
            return Err(cx.error("input must be boolean"));
        }
        Inferred::one(DType::Bool, x.shape.clone(), x.elements())
    }

    fn fold(&self, cx: &Ctx, out: &Inferred) -> Result<Option<Vec<ConstTensor>>> {
        fold_bools(cx, out, |v| v[0] == 0.0)
    }

    fn tiling(&self) -> Tiling {
        Tiling::Elementwise
    }
}

/// `Where(condition, x, y)`: x where the condition holds, y elsewhere, broadcast.
struct Where;

impl Op for Where {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let shape = broadcast_of(cx, 3)?;
        let (c, x, y) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
        if c.dtype != DType::Bool {
            return Err(cx.error("the condition (input 0) must be boolean"));
        }
        if x.dtype != y.dtype {
            return Err(cx.error(format!(
                "x and y differ in type ({:?}, {:?})",
                x.dtype, y.dtype
            )));
        }
        let n = shape.iter().product();
        Inferred::one(x.dtype, shape, n)
    }

    fn fold(&self, cx: &Ctx, out: &Inferred) -> Result<Option<Vec<ConstTensor>>> {
        let Some(ops) = const_operands(cx, &out.outputs[0].1) else {
            return Ok(None);
        };
        let pick = |i: usize| {
            if ops[0][i] != 0.0 {
                ops[1][i]
            } else {
                ops[2][i]
            }
        };
        let n = ops[0].len();
        let data = match out.outputs[0].0 {
            DType::F32 | DType::F64 | DType::F16 => {
                ConstData::F32((0..n).map(|i| pick(i) as f32).collect())
            }
            _ => ConstData::I64((0..n).map(|i| pick(i) as i64).collect()),
        };
        cx.folded(out, data)
    }
}

/// `Mod`: the remainder, with the divisor's sign (`fmod = 0`, integers) or the dividend's
/// (`fmod = 1`, C's fmod).
struct Mod;

impl Op for Mod {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let shape = broadcast_of(cx, 2)?;
        let x = cx.input(0)?;
        let fmod = cx.a.int("fmod", 0);
        if fmod == 0 && matches!(x.dtype, DType::F32 | DType::F64 | DType::F16) {
            return Err(cx.error("fmod must be 1 for floating-point operands"));
        }
        let n = shape.iter().product();
        Inferred::one(x.dtype, shape, n)
    }

    fn fold(&self, cx: &Ctx, out: &Inferred) -> Result<Option<Vec<ConstTensor>>> {
        let Some(ops) = const_operands(cx, &out.outputs[0].1) else {
            return Ok(None);
        };
        let fmod = cx.a.int("fmod", 0) == 1;
        let n = ops[0].len();
        if !fmod {
            let r: Option<Vec<i64>> = (0..n)
                .map(|i| {
                    let (a, b) = (ops[0][i] as i64, ops[1][i] as i64);
                    // Python's remainder: the sign of the divisor.
                    a.checked_rem(b).map(|r| {
                        if r != 0 && (r < 0) != (b < 0) {
                            r + b
                        } else {
                            r
                        }
                    })
                })
                .collect();
            return match r {
                Some(r) => cx.folded(out, ConstData::I64(r)),
                None => Err(cx.error("integer remainder by zero in a constant")),
            };
        }
        let r = (0..n).map(|i| ops[0][i] % ops[1][i]);
        match out.outputs[0].0 {
            DType::F32 | DType::F64 | DType::F16 => {
                cx.folded(out, ConstData::F32(r.map(|v| v as f32).collect()))
            }
            _ => cx.folded(out, ConstData::I64(r.map(|v| v as i64).collect())),
        }
    }
}
