//! Reductions over axes (ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceProd, ReduceL1,
//! ReduceL2, ReduceLogSumExp, ReduceSumSquare) and the index reductions ArgMax and ArgMin.

use super::{Ctx, Inferred, Op, Registry};
use crate::attributes::normalize_axis;
use crate::const_tensor::{ConstData, ConstTensor};
use crate::error::Result;
use tiersplit_graph::DType;

pub(super) fn register(r: &mut Registry) {
    // ReduceSum took its axes as an input from opset 13, the others from opset 18.
    r.register(
        "ReduceSum",
        Reduce {
            axes_input_from: 13,
        },
    );
    r.register(
        "ReduceMean",
        Reduce {
            axes_input_from: 18,
        },
    );
    for name in [
        "ReduceMax",
        "ReduceMin",
        "ReduceProd",
        "ReduceL1",
        "ReduceL2",
        "ReduceLogSumExp",
        "ReduceSumSquare",
    ] {
        r.register(
            name,
            Reduce {
                axes_input_from: 18,
            },
        );
    }
    r.register("ArgMax", ArgReduce);
    r.register("ArgMin", ArgReduce);
}

struct Reduce {
    axes_input_from: i64,
}

impl Op for Reduce {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let x = cx.input(0)?;
        let axes = if cx.opset >= self.axes_input_from {
            cx.const_ints(1, "axes")?
        } else {
            cx.a.ints("axes")
        };
        let keep = cx.a.int("keepdims", 1) != 0;
        let r = x.shape.len();
        let noop = cx.a.int("noop_with_empty_axes", 0) != 0;
        let axes: Vec<usize> = match axes {
            Some(ax) if !ax.is_empty() => ax
                .iter()
                .map(|&v| {
                    normalize_axis(v, r).ok_or_else(|| cx.error(format!("axis {v} out of range")))
                })
                .collect::<Result<_>>()?,
            _ if noop => Vec::new(),
            _ => (0..r).collect(),
        };
        Inferred::one(x.dtype, reduced(&x.shape, &axes, keep), x.elements())
    }

    /// Reductions of a 1-D integer constant (a shape: its element count, its largest
    /// dimension) fold; others stay layers.
    fn fold(&self, cx: &Ctx, out: &Inferred) -> Result<Option<Vec<ConstTensor>>> {
        let x = cx.input(0)?;
        let Some(ConstTensor {
            data: ConstData::I64(v),
            ..
        }) = &x.value
        else {
            return Ok(None);
        };
        if x.shape.len() != 1 || out.outputs[0].1.iter().product::<u64>() != 1 {
            return Ok(None);
        }
        let r = match cx.node.op_type.as_str() {
            "ReduceSum" => v.iter().try_fold(0i64, |a, &b| a.checked_add(b)),
            "ReduceProd" => v.iter().try_fold(1i64, |a, &b| a.checked_mul(b)),
            "ReduceMax" => v.iter().copied().max(),
            "ReduceMin" => v.iter().copied().min(),
            _ => return Ok(None),
        };
        match r {
            Some(r) => cx.folded(out, ConstData::I64(vec![r])),
            None => Err(cx.error("integer overflow, or an empty input, in a constant reduction")),
        }
    }
}

/// The shape left when `axes` of `shape` are reduced (kept as 1 with `keep`).
fn reduced(shape: &[u64], axes: &[usize], keep: bool) -> Vec<u64> {
    let mut out = Vec::new();
    for (i, &d) in shape.iter().enumerate() {
        if !axes.contains(&i) {
            out.push(d);
        } else if keep {
            out.push(1);
        }
    }
    out
}

/// ArgMax and ArgMin: the index of the extreme along `axis`, as int64.
struct ArgReduce;

impl Op for ArgReduce {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let x = cx.input(0)?;
        let axis = cx.a.axis("axis", 0, x.shape.len())?;
        let keep = cx.a.int("keepdims", 1) != 0;
        Inferred::one(DType::I64, reduced(&x.shape, &[axis], keep), x.elements())
    }
}
