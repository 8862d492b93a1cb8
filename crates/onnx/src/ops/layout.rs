//! Operators that move or select elements without arithmetic: reshapes, transposes, concat,
//! split, slice, gather, pad, and Shape (folded at import once shapes are static).

use super::elementwise::same_data;
use super::{Ctx, Inferred, Op, Registry};
use crate::attributes::{normalize_axis, Attributes};
use crate::const_tensor::{ConstData, ConstTensor};
use crate::error::Result;
use tiersplit_graph::DType;

pub(super) fn register(r: &mut Registry) {
    r.register("Flatten", Flatten);
    r.register("Reshape", Reshape);
    r.register("Transpose", Transpose);
    r.register("Concat", Concat);
    r.register("Split", Split);
    r.register("Squeeze", Squeeze { unsqueeze: false });
    r.register("Unsqueeze", Squeeze { unsqueeze: true });
    r.register("Shape", Shape);
    r.register("Gather", Gather);
    r.register("Slice", Slice);
    r.register("Pad", Pad);
}

struct Flatten;

impl Op for Flatten {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let x = cx.input(0)?;
        let axis = normalize_axis(cx.a.int("axis", 1), x.shape.len() + 1)
            .ok_or_else(|| cx.error("axis out of range"))?;
        let outer: u64 = x.shape[..axis].iter().product();
        Inferred::one(x.dtype, vec![outer, x.elements() / outer.max(1)], 0)
    }

    fn fold(&self, cx: &Ctx, out: &Inferred) -> Result<Option<Vec<ConstTensor>>> {
        same_data(cx, out)
    }
}

struct Reshape;

impl Op for Reshape {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let x = cx.input(0)?;
        let spec = if cx.opset < 5 {
            cx.a.ints("shape")
        } else {
            cx.const_ints(1, "target shape")?
        }
        .ok_or_else(|| cx.error("target shape is required"))?;
        let allowzero = cx.a.int("allowzero", 0) != 0;
        Inferred::one(x.dtype, reshape(&cx.a, &x.shape, &spec, allowzero)?, 0)
    }

    fn fold(&self, cx: &Ctx, out: &Inferred) -> Result<Option<Vec<ConstTensor>>> {
        same_data(cx, out)
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
    let known = out
        .iter()
        .try_fold(1u64, |p, &d| p.checked_mul(d))
        .ok_or_else(|| a.error(format!("target shape {spec:?} overflows")))?;
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

struct Transpose;

impl Op for Transpose {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let x = cx.input(0)?;
        let r = x.shape.len();
        let perm =
            cx.a.ints("perm")
                .unwrap_or_else(|| (0..r as i64).rev().collect());
        let not_perm = || cx.error(format!("perm {perm:?} is not a permutation"));
        let mut seen = vec![false; r];
        let mut out = Vec::with_capacity(perm.len());
        for &p in &perm {
            let p = normalize_axis(p, r)
                .filter(|&p| p < r && !seen[p])
                .ok_or_else(not_perm)?;
            seen[p] = true;
            out.push(x.shape[p]);
        }
        if out.len() != r {
            return Err(not_perm());
        }
        Inferred::one(x.dtype, out, 0)
    }
}

struct Concat;

impl Op for Concat {
    /// A float constant joined to activations is a learned token (a transformer's class
    /// token), counted as frameworks count it. (A Concat of constants only is folded.)
    fn learnable(&self, _input: usize) -> bool {
        true
    }

    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let vals = cx.operands();
        let first = vals.first().ok_or_else(|| cx.error("no inputs"))?;
        let axis = cx.a.axis("axis", 0, first.shape.len())?;
        let mut out = first.shape.clone();
        out[axis] = 0;
        for v in &vals {
            let fits = v.shape.len() == out.len()
                && v.shape
                    .iter()
                    .enumerate()
                    .all(|(i, &d)| i == axis || d == out[i]);
            if !fits {
                return Err(cx.error(format!(
                    "input shape {:?} does not match {:?} outside axis {axis}",
                    v.shape, first.shape
                )));
            }
            out[axis] = out[axis].saturating_add(v.shape[axis]);
        }
        Inferred::one(first.dtype, out, 0)
    }

    /// Only the 1-D concatenations of shape arithmetic.
    fn fold(&self, cx: &Ctx, out: &Inferred) -> Result<Option<Vec<ConstTensor>>> {
        let Some(values) = cx.const_values() else {
            return Ok(None);
        };
        let Some(Some(x)) = values.first() else {
            return Ok(None);
        };
        let axis = cx.a.axis("axis", 0, x.shape.len())?;
        if axis != 0 || x.shape.len() != 1 {
            return Ok(None);
        }
        let given = values.iter().flatten();
        let data = match x.data {
            ConstData::I64(_) => ConstData::I64(given.flat_map(|c| c.as_i64()).collect()),
            ConstData::F32(_) => ConstData::F32(given.flat_map(|c| c.as_f32()).collect()),
        };
        cx.folded(out, data)
    }
}

struct Split;

impl Op for Split {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let x = cx.input(0)?;
        let axis = cx.a.axis("axis", 0, x.shape.len())?;
        let parts = cx.node.output.len() as u64;
        if parts == 0 {
            return Err(cx.error("Split has no outputs"));
        }
        let split = if cx.opset >= 13 {
            cx.const_ints(1, "split")?
        } else {
            cx.a.ints("split")
        };
        let d = x.shape[axis];
        let sizes: Vec<u64> = match split {
            Some(s) => s.iter().map(|&v| v.max(0) as u64).collect(),
            None => {
                let chunk = d.div_ceil(parts);
                (0..parts)
                    .map(|i| chunk.min(d.saturating_sub(i * chunk)))
                    .collect()
            }
        };
        let total = sizes.iter().try_fold(0u64, |t, &s| t.checked_add(s));
        if sizes.len() as u64 != parts || total != Some(d) {
            return Err(cx.error(format!("split {sizes:?} does not divide axis of size {d}")));
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
}

struct Squeeze {
    unsqueeze: bool,
}

impl Op for Squeeze {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let x = cx.input(0)?;
        let axes = if cx.opset >= 13 {
            cx.const_ints(1, "axes")?
        } else {
            cx.a.ints("axes")
        };
        let out = if self.unsqueeze {
            unsqueeze(&cx.a, &x.shape, axes)?
        } else {
            squeeze(&cx.a, &x.shape, axes)?
        };
        Inferred::one(x.dtype, out, 0)
    }

    fn fold(&self, cx: &Ctx, out: &Inferred) -> Result<Option<Vec<ConstTensor>>> {
        same_data(cx, out)
    }
}

fn axes_of(a: &Attributes, axes: &[i64], rank: usize) -> Result<Vec<usize>> {
    let mut norm = Vec::with_capacity(axes.len());
    for &v in axes {
        let ax = normalize_axis(v, rank)
            .filter(|&ax| ax < rank.max(1))
            .ok_or_else(|| a.error(format!("axis {v} out of range")))?;
        if norm.contains(&ax) {
            return Err(a.error(format!("axis {v} given twice")));
        }
        norm.push(ax);
    }
    Ok(norm)
}

fn unsqueeze(a: &Attributes, shape: &[u64], axes: Option<Vec<i64>>) -> Result<Vec<u64>> {
    let axes = axes.ok_or_else(|| a.error("axes are required"))?;
    let mut norm = axes_of(a, &axes, shape.len() + axes.len())?;
    norm.sort();
    let mut out = shape.to_vec();
    for ax in norm {
        out.insert(ax, 1);
    }
    Ok(out)
}

fn squeeze(a: &Attributes, shape: &[u64], axes: Option<Vec<i64>>) -> Result<Vec<u64>> {
    let norm: Vec<usize> = match axes {
        Some(ax) => axes_of(a, &ax, shape.len())?,
        None => (0..shape.len()).filter(|&i| shape[i] == 1).collect(),
    };
    if norm.iter().any(|&i| shape.get(i) != Some(&1)) {
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

/// Shape, with the `start` and `end` of opset 15.
struct Shape;

impl Shape {
    fn dims<'v>(cx: &Ctx, shape: &'v [u64]) -> &'v [u64] {
        let r = shape.len() as i64;
        let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
        let start = clamp(cx.a.int("start", 0));
        let end = clamp(cx.a.int("end", r)).max(start);
        &shape[start..end]
    }
}

impl Op for Shape {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let x = cx.input(0)?;
        let n = Shape::dims(cx, &x.shape).len() as u64;
        Inferred::one(DType::I64, vec![n], 0)
    }

    /// Shapes are static after import, so Shape always folds, whatever its input holds.
    fn fold(&self, cx: &Ctx, _out: &Inferred) -> Result<Option<Vec<ConstTensor>>> {
        let x = cx.input(0)?;
        let dims = Shape::dims(cx, &x.shape);
        Ok(Some(vec![ConstTensor::from_i64(
            vec![dims.len() as u64],
            dims.iter().map(|&d| d as i64).collect(),
        )]))
    }
}

struct Gather;

impl Op for Gather {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let x = cx.input(0)?;
        let idx = cx.input(1)?;
        let axis = cx.a.axis("axis", 0, x.shape.len())?;
        if x.shape.is_empty() {
            return Err(cx.error("cannot gather from a scalar"));
        }
        let mut out = x.shape[..axis].to_vec();
        out.extend(&idx.shape);
        out.extend(&x.shape[axis + 1..]);
        Inferred::one(x.dtype, out, 0)
    }

    /// Only picks from 1-D constants (shape arithmetic).
    fn fold(&self, cx: &Ctx, out: &Inferred) -> Result<Option<Vec<ConstTensor>>> {
        let values = cx.const_values().unwrap_or_default();
        let (Some(Some(x)), Some(Some(idx))) = (values.first(), values.get(1)) else {
            return Ok(None);
        };
        if x.shape.len() != 1 {
            return Ok(None);
        }
        let idx = idx.as_i64();
        let d = x.shape[0] as i64;
        let pick: Vec<usize> = idx
            .iter()
            .map(|&i| if i < 0 { i + d } else { i })
            .filter(|&i| (0..d).contains(&i))
            .map(|i| i as usize)
            .collect();
        if pick.len() != idx.len() {
            return Err(cx.error(format!("indices {idx:?} out of range for {d} elements")));
        }
        let data = match &x.data {
            ConstData::I64(v) => ConstData::I64(pick.iter().map(|&i| v[i]).collect()),
            ConstData::F32(v) => ConstData::F32(pick.iter().map(|&i| v[i]).collect()),
        };
        cx.folded(out, data)
    }
}

/// The selected indices along one axis of a Slice.
#[derive(Debug, Clone)]
struct AxisRange {
    start: i64,
    step: i64,
    len: u64,
}

impl AxisRange {
    fn index(&self, i: u64) -> usize {
        (self.start + self.step * i as i64) as usize
    }
}

/// Slice's starts, ends, axes and steps, from attributes before opset 10 and inputs after.
struct SliceSpec {
    starts: Option<Vec<i64>>,
    ends: Option<Vec<i64>>,
    axes: Option<Vec<i64>>,
    steps: Option<Vec<i64>>,
}

impl SliceSpec {
    fn of(cx: &Ctx) -> Result<SliceSpec> {
        Ok(if cx.opset < 10 {
            SliceSpec {
                starts: cx.a.ints("starts"),
                ends: cx.a.ints("ends"),
                axes: cx.a.ints("axes"),
                steps: None,
            }
        } else {
            SliceSpec {
                starts: cx.const_ints(1, "starts")?,
                ends: cx.const_ints(2, "ends")?,
                axes: cx.const_ints(3, "axes")?,
                steps: cx.const_ints(4, "steps")?,
            }
        })
    }

    fn ranges(self, a: &Attributes, shape: &[u64]) -> Result<Vec<AxisRange>> {
        let starts = self.starts.ok_or_else(|| a.error("starts are required"))?;
        let ends = self.ends.ok_or_else(|| a.error("ends are required"))?;
        let n = starts.len();
        let axes = self.axes.unwrap_or_else(|| (0..n as i64).collect());
        let steps = self.steps.unwrap_or_else(|| vec![1; n]);
        if ends.len() != n || axes.len() != n || steps.len() != n {
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
        for i in 0..n {
            let ax = normalize_axis(axes[i], shape.len())
                .filter(|&ax| ax < shape.len())
                .ok_or_else(|| a.error(format!("axis {} out of range", axes[i])))?;
            if steps[i] == 0 {
                return Err(a.error("step 0"));
            }
            ranges[ax] = axis_range(shape[ax] as i64, starts[i], ends[i], steps[i]);
        }
        Ok(ranges)
    }
}

/// The indices `start..end` by `step` select on an axis of size `d`, clamped as ONNX says.
fn axis_range(d: i64, start: i64, end: i64, step: i64) -> AxisRange {
    let fix = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
    let (start, end) = if step > 0 {
        (fix(start).clamp(0, d), fix(end).clamp(0, d))
    } else {
        (fix(start).clamp(-1, d - 1), fix(end).clamp(-1, d - 1))
    };
    let (span, stride) = if step > 0 {
        ((end - start).max(0), step)
    } else {
        ((start - end).max(0), step.saturating_neg())
    };
    AxisRange {
        start,
        step,
        len: (span / stride + i64::from(span % stride != 0)) as u64,
    }
}

struct Slice;

impl Op for Slice {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let x = cx.input(0)?;
        let ranges = SliceSpec::of(cx)?.ranges(&cx.a, &x.shape)?;
        Inferred::one(x.dtype, ranges.iter().map(|r| r.len).collect(), 0)
    }

    /// Only slices of 1-D constants (shape arithmetic).
    fn fold(&self, cx: &Ctx, out: &Inferred) -> Result<Option<Vec<ConstTensor>>> {
        let Some(values) = cx.const_values() else {
            return Ok(None);
        };
        let Some(Some(x)) = values.first() else {
            return Ok(None);
        };
        if x.shape.len() != 1 {
            return Ok(None);
        }
        let r = &SliceSpec::of(cx)?.ranges(&cx.a, &x.shape)?[0];
        let data = match &x.data {
            ConstData::I64(v) => ConstData::I64((0..r.len).map(|i| v[r.index(i)]).collect()),
            ConstData::F32(v) => ConstData::F32((0..r.len).map(|i| v[r.index(i)]).collect()),
        };
        cx.folded(out, data)
    }
}

struct Pad;

impl Op for Pad {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let x = cx.input(0)?;
        let pads = if cx.opset < 11 {
            cx.a.ints("pads")
        } else {
            cx.const_ints(1, "pads")?
        }
        .ok_or_else(|| cx.error("pads are required"))?;
        let r = x.shape.len();
        // From opset 18 the pads may cover only the axes given (begins, then ends).
        let pads = match cx.const_ints(3, "axes")? {
            Some(axes) if cx.opset >= 18 => {
                if pads.len() != 2 * axes.len() {
                    return Err(cx.error(format!("pads {pads:?} do not match axes {axes:?}")));
                }
                let mut full = vec![0i64; 2 * r];
                for (k, &a) in axes.iter().enumerate() {
                    let i = normalize_axis(a, r)
                        .ok_or_else(|| cx.error(format!("axis {a} out of range for rank {r}")))?;
                    full[i] = pads[k];
                    full[r + i] = pads[axes.len() + k];
                }
                full
            }
            _ => pads,
        };
        if pads.len() != 2 * r {
            return Err(cx.error(format!("pads {pads:?} do not match rank {r}")));
        }
        let out: Option<Vec<u64>> = (0..r)
            .map(|i| {
                let d = i64::try_from(x.shape[i]).ok()?;
                let o = d.checked_add(pads[i])?.checked_add(pads[r + i])?;
                u64::try_from(o).ok()
            })
            .collect();
        let out = out.ok_or_else(|| cx.error("negative or overflowing output size"))?;
        Inferred::one(x.dtype, out, 0)
    }
}
