//! Reductions over axes: ReduceMean, ReduceSum, ReduceMax.

use super::{Ctx, Inferred, Op, Registry};
use crate::attributes::normalize_axis;
use crate::error::Result;

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
    r.register(
        "ReduceMax",
        Reduce {
            axes_input_from: 18,
        },
    );
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
        let axes: Vec<usize> = match axes {
            Some(ax) if !ax.is_empty() => ax
                .iter()
                .map(|&v| {
                    normalize_axis(v, r).ok_or_else(|| cx.error(format!("axis {v} out of range")))
                })
                .collect::<Result<_>>()?,
            _ => (0..r).collect(),
        };
        let mut out = Vec::new();
        for (i, &d) in x.shape.iter().enumerate() {
            if !axes.contains(&i) {
                out.push(d);
            } else if keep {
                out.push(1);
            }
        }
        Inferred::one(x.dtype, out, x.elements())
    }
}
