//! Operators that rearrange or scan elements along axes: DepthToSpace, SpaceToDepth (pixel
//! shuffles), Hardmax (one-hot of the largest along an axis), CumSum (running sums).

use super::{Ctx, Inferred, Op, Registry};
use crate::error::Result;

pub(super) fn register(r: &mut Registry) {
    r.register("DepthToSpace", Shuffle { to_space: true });
    r.register("SpaceToDepth", Shuffle { to_space: false });
    r.register("Hardmax", SameShape { per_element: 2 });
    r.register("CumSum", SameShape { per_element: 1 });
}

/// DepthToSpace (N, C*b*b, H, W -> N, C, H*b, W*b) and SpaceToDepth (the inverse).
struct Shuffle {
    to_space: bool,
}

impl Op for Shuffle {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let x = cx.input(0)?;
        let b = cx.a.int("blocksize", 0);
        let [n, c, h, w] = x.shape[..] else {
            return Err(cx.error(format!("input must be N,C,H,W, not {:?}", x.shape)));
        };
        if b < 1 {
            return Err(cx.error(format!("blocksize must be positive, not {b}")));
        }
        let b = b as u64;
        let bb = b.saturating_mul(b);
        let out = if self.to_space {
            if !c.is_multiple_of(bb) {
                return Err(cx.error(format!("{c} channels do not divide by blocksize² {bb}")));
            }
            vec![n, c / bb, h.saturating_mul(b), w.saturating_mul(b)]
        } else {
            if !h.is_multiple_of(b) || !w.is_multiple_of(b) {
                return Err(cx.error(format!("{h}x{w} does not divide by blocksize {b}")));
            }
            vec![n, c.saturating_mul(bb), h / b, w / b]
        };
        Inferred::one(x.dtype, out, 0)
    }
}

/// An operator whose output has its input's type and shape and that reads along an axis
/// (so it does not tile): Hardmax, CumSum.
struct SameShape {
    per_element: u64,
}

impl Op for SameShape {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let x = cx.input(0)?;
        if cx.node.op_type == "CumSum" {
            let axis = cx
                .const_ints(1, "axis")?
                .ok_or_else(|| cx.error("axis (input 1) is required"))?;
            let rank = x.shape.len() as i64;
            if axis.len() != 1 || !(-rank..rank).contains(&axis[0]) {
                return Err(cx.error(format!("axis {axis:?} out of range for rank {rank}")));
            }
        } else {
            // Hardmax's axis: coerced to 2-D before opset 13, one axis after; either way the
            // shape is kept.
            cx.a.axis("axis", if cx.opset < 13 { 1 } else { -1 }, x.shape.len())?;
        }
        Inferred::one(
            x.dtype,
            x.shape.clone(),
            x.elements().saturating_mul(self.per_element),
        )
    }
}
