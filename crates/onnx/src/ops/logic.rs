//! Comparisons, logic and selection: Equal, Less, Greater, LessOrEqual, GreaterOrEqual, And,
//! Or, Xor, Not, Where, Mod. Exporters emit them in shape arithmetic (`Where(Equal(shape, 0),
//! ...)`), so each folds when its operands are constants; with activations they stay layers
//! (none tiles yet: tiles are cut from float maps, and the broadcasting ones are like Add).

use super::{broadcast, Ctx, Inferred, Op, Registry};
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
    let n = count(shape);
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

/// Operand values when all are int64 constants, broadcast to `shape` as in
/// [`const_operands`]: exact where f64 is not (beyond 2^53, as `i64::MAX` sentinels are).
fn const_i64_operands(cx: &Ctx, shape: &[u64]) -> Option<Vec<Vec<i64>>> {
    let all: Vec<usize> = (0..cx.inputs.len()).collect();
    const_i64_operands_of(cx, shape, &all)
}

/// [`const_i64_operands`] of inputs `which` only.
fn const_i64_operands_of(cx: &Ctx, shape: &[u64], which: &[usize]) -> Option<Vec<Vec<i64>>> {
    let n = count(shape);
    let values = cx.const_values()?;
    which
        .iter()
        .map(|&i| values.get(i).copied().flatten())
        .map(|v| match &v?.data {
            ConstData::I64(x) if x.len() == 1 => Some(vec![x[0]; n as usize]),
            ConstData::I64(x) if x.len() as u64 == n => Some(x.clone()),
            _ => None,
        })
        .collect()
}

/// The element count of a broadcast shape, which the importer bounds after inference.
fn count(shape: &[u64]) -> u64 {
    shape.iter().fold(1u64, |n, &d| n.saturating_mul(d))
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
        let n = count(&shape);
        Inferred::one(DType::Bool, shape, n)
    }

    fn fold(&self, cx: &Ctx, out: &Inferred) -> Result<Option<Vec<ConstTensor>>> {
        let c = self.0;
        let holds = |o: std::cmp::Ordering| match c {
            Cmp::Eq => o.is_eq(),
            Cmp::Lt => o.is_lt(),
            Cmp::Gt => o.is_gt(),
            Cmp::Le => o.is_le(),
            Cmp::Ge => o.is_ge(),
        };
        if let Some(ops) = const_i64_operands(cx, &out.outputs[0].1) {
            let r = (0..ops[0].len())
                .map(|i| i64::from(holds(ops[0][i].cmp(&ops[1][i]))))
                .collect();
            return cx.folded(out, ConstData::I64(r));
        }
        // NaN compares false, as in ONNX.
        fold_bools(cx, out, |v| v[0].partial_cmp(&v[1]).is_some_and(holds))
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
        let n = count(&shape);
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
        let n = count(&shape);
        Inferred::one(x.dtype, shape, n)
    }

    fn fold(&self, cx: &Ctx, out: &Inferred) -> Result<Option<Vec<ConstTensor>>> {
        let shape = &out.outputs[0].1;
        if let (Some(cond), Some(xy)) = (
            const_operands(cx, shape),
            const_i64_operands_of(cx, shape, &[1, 2]),
        ) {
            let r = (0..cond[0].len())
                .map(|i| {
                    if cond[0][i] != 0.0 {
                        xy[0][i]
                    } else {
                        xy[1][i]
                    }
                })
                .collect();
            return cx.folded(out, ConstData::I64(r));
        }
        let Some(ops) = const_operands(cx, shape) else {
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
        let n = count(&shape);
        Inferred::one(x.dtype, shape, n)
    }

    fn fold(&self, cx: &Ctx, out: &Inferred) -> Result<Option<Vec<ConstTensor>>> {
        let Some(ops) = const_operands(cx, &out.outputs[0].1) else {
            return Ok(None);
        };
        let fmod = cx.a.int("fmod", 0) == 1;
        let n = ops[0].len();
        if !fmod {
            let ints = const_i64_operands(cx, &out.outputs[0].1)
                .ok_or_else(|| cx.error("fmod = 0 needs integer operands"))?;
            let r: Option<Vec<i64>> = (0..n)
                .map(|i| {
                    let (a, b) = (ints[0][i], ints[1][i]);
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
