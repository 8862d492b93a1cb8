//! Operators that make tensors from shapes: ConstantOfShape, Range, Expand, Tile. Their
//! shape inputs must be constants known at import time (static shapes are what planners
//! need); their outputs fold into constants when small enough, so export-time shape plumbing
//! never crosses a cut.

use super::{broadcast, Ctx, Inferred, Op, Registry, Tiling};
use crate::const_tensor::{element_count, ConstData, ConstTensor, MAX_FOLDED};
use crate::error::Result;
use tiersplit_graph::DType;

pub(super) fn register(r: &mut Registry) {
    r.register("ConstantOfShape", ConstantOfShape);
    r.register("Range", Range);
    r.register("Expand", Expand);
    r.register("Tile", Tile);
}

/// A shape from integer constant input `i`: every dimension non-negative, the element count
/// within u64.
fn shape_input(cx: &Ctx, i: usize, what: &str) -> Result<Vec<u64>> {
    let dims = cx
        .const_ints(i, what)?
        .ok_or_else(|| cx.error(format!("{what} (input {i}) is required")))?;
    let shape: Vec<u64> = dims
        .iter()
        .map(|&d| u64::try_from(d))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| cx.error(format!("{what} {dims:?} has a negative dimension")))?;
    element_count(&shape).ok_or_else(|| cx.error(format!("{what} {dims:?} overflows")))?;
    Ok(shape)
}

/// Whether a tensor of `shape` is small enough to fold into a constant.
fn foldable(shape: &[u64]) -> bool {
    element_count(shape).is_some_and(|n| n <= MAX_FOLDED)
}

/// `ConstantOfShape(shape)`: a tensor of `shape` filled with the `value` attribute (a
/// one-element tensor; float 0 when absent).
struct ConstantOfShape;

impl ConstantOfShape {
    fn fill(cx: &Ctx) -> Result<ConstTensor> {
        match cx.a.tensor("value") {
            None => Ok(ConstTensor::from_f32(vec![1], vec![0.0])),
            Some(t) => {
                let c = ConstTensor::decode(t)?;
                if c.len() != 1 {
                    return Err(cx.error(format!("value must hold one element, not {}", c.len())));
                }
                Ok(c)
            }
        }
    }
}

impl Op for ConstantOfShape {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let shape = shape_input(cx, 0, "the shape")?;
        Inferred::one(Self::fill(cx)?.dtype, shape, 0)
    }

    fn fold(&self, cx: &Ctx, out: &Inferred) -> Result<Option<Vec<ConstTensor>>> {
        let shape = &out.outputs[0].1;
        if !foldable(shape) {
            return Ok(None);
        }
        let n = element_count(shape).unwrap_or(0) as usize;
        let data = match Self::fill(cx)?.data {
            ConstData::F32(v) => ConstData::F32(vec![v[0]; n]),
            ConstData::I64(v) => ConstData::I64(vec![v[0]; n]),
        };
        cx.folded(out, data)
    }
}

/// `Range(start, limit, delta)`: 1-D, `max(ceil((limit - start) / delta), 0)` elements.
struct Range;

impl Range {
    fn operands(cx: &Ctx) -> Result<(DType, [f64; 3])> {
        let mut v = [0.0; 3];
        for (i, what) in ["start", "limit", "delta"].iter().enumerate() {
            let x = cx.input(i)?;
            let c = x.value.as_ref().ok_or_else(|| cx.not_constant(i, what))?;
            if c.len() != 1 {
                return Err(cx.error(format!("{what} must be a scalar")));
            }
            v[i] = match &c.data {
                ConstData::F32(f) => f64::from(f[0]),
                ConstData::I64(n) => n[0] as f64,
            };
        }
        if v[2] == 0.0 || !v.iter().all(|x| x.is_finite()) {
            return Err(cx.error(format!(
                "delta must be finite and not 0 (start {}, limit {}, delta {})",
                v[0], v[1], v[2]
            )));
        }
        Ok((cx.input(0)?.dtype, v))
    }

    fn count(v: [f64; 3]) -> u64 {
        ((v[1] - v[0]) / v[2]).ceil().max(0.0) as u64
    }
}

impl Op for Range {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let (dtype, v) = Self::operands(cx)?;
        let n = Self::count(v);
        if n > MAX_FOLDED {
            return Err(cx.error(format!("{n} elements: too many for a range")));
        }
        Inferred::one(dtype, vec![n], 0)
    }

    fn fold(&self, cx: &Ctx, out: &Inferred) -> Result<Option<Vec<ConstTensor>>> {
        let (dtype, [start, _, delta]) = Self::operands(cx)?;
        let n = out.outputs[0].1[0];
        let at = |k: u64| start + k as f64 * delta;
        let data = match dtype {
            DType::F32 | DType::F64 | DType::F16 => {
                ConstData::F32((0..n).map(|k| at(k) as f32).collect())
            }
            _ => ConstData::I64((0..n).map(|k| at(k) as i64).collect()),
        };
        cx.folded(out, data)
    }
}

/// `Expand(x, shape)`: x broadcast with `shape` (numpy rules, either side may be 1).
struct Expand;

impl Op for Expand {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let x = cx.input(0)?;
        let shape = shape_input(cx, 1, "the shape")?;
        let out = broadcast(&cx.a, &[&x.shape, &shape])?;
        Inferred::one(x.dtype, out, 0)
    }

    fn fold(&self, cx: &Ctx, out: &Inferred) -> Result<Option<Vec<ConstTensor>>> {
        let shape = &out.outputs[0].1;
        let x = cx.input(0)?;
        match &x.value {
            Some(c) if foldable(shape) => {
                let data = gather(
                    &c.data,
                    &x.shape,
                    |idx| broadcast_source(&x.shape, shape, idx),
                    shape,
                );
                cx.folded(out, data)
            }
            _ => Ok(None),
        }
    }

    fn tiling(&self) -> Tiling {
        Tiling::None
    }
}

/// `Tile(x, repeats)`: x repeated `repeats[i]` times along axis i.
struct Tile;

impl Op for Tile {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let x = cx.input(0)?;
        let repeats = shape_input(cx, 1, "repeats")?;
        if repeats.len() != x.shape.len() {
            return Err(cx.error(format!(
                "repeats has {} entries for an input of rank {}",
                repeats.len(),
                x.shape.len()
            )));
        }
        let shape: Option<Vec<u64>> = x
            .shape
            .iter()
            .zip(&repeats)
            .map(|(d, r)| d.checked_mul(*r))
            .collect();
        let shape = shape
            .filter(|s| element_count(s).is_some())
            .ok_or_else(|| cx.error("the tiled shape overflows"))?;
        Inferred::one(x.dtype, shape, 0)
    }

    fn fold(&self, cx: &Ctx, out: &Inferred) -> Result<Option<Vec<ConstTensor>>> {
        let shape = &out.outputs[0].1;
        let x = cx.input(0)?;
        match &x.value {
            Some(c) if foldable(shape) => {
                let src = |idx: &[u64]| -> Vec<u64> {
                    idx.iter().zip(&x.shape).map(|(i, d)| i % d).collect()
                };
                let data = gather(&c.data, &x.shape, src, shape);
                cx.folded(out, data)
            }
            _ => Ok(None),
        }
    }
}

/// The index in `from` (rank-aligned to the right) that broadcasting reads for `idx` of `to`.
fn broadcast_source(from: &[u64], to: &[u64], idx: &[u64]) -> Vec<u64> {
    let off = to.len() - from.len();
    from.iter()
        .enumerate()
        .map(|(i, &d)| if d == 1 { 0 } else { idx[off + i] })
        .collect()
}

/// A tensor of `shape` whose element at each index is `data`'s (row-major in `src_shape`) at
/// `source(index)`.
fn gather(
    data: &ConstData,
    src_shape: &[u64],
    source: impl Fn(&[u64]) -> Vec<u64>,
    shape: &[u64],
) -> ConstData {
    let n = element_count(shape).unwrap_or(0);
    let strides = row_major_strides(src_shape);
    let mut idx = vec![0u64; shape.len()];
    let mut picks = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let s = source(&idx);
        picks.push(s.iter().zip(&strides).map(|(i, st)| i * st).sum::<u64>() as usize);
        for a in (0..idx.len()).rev() {
            idx[a] += 1;
            if idx[a] < shape[a] {
                break;
            }
            idx[a] = 0;
        }
    }
    match data {
        ConstData::F32(v) => ConstData::F32(picks.iter().map(|&p| v[p]).collect()),
        ConstData::I64(v) => ConstData::I64(picks.iter().map(|&p| v[p]).collect()),
    }
}

fn row_major_strides(shape: &[u64]) -> Vec<u64> {
    let mut strides = vec![1u64; shape.len()];
    for a in (0..shape.len().saturating_sub(1)).rev() {
        strides[a] = strides[a + 1] * shape[a + 1];
    }
    strides
}
