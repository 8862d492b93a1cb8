//! Operators that pick or place elements by index: TopK, GatherElements, GatherND, ScatterND,
//! ScatterElements. Their index inputs are data (computed by the model) but their shapes are
//! static, so every output shape is known at import; TopK's `k` must be a constant.

use super::{Ctx, Inferred, Op, Registry};
use crate::error::Result;
use tiersplit_graph::DType;

pub(super) fn register(r: &mut Registry) {
    r.register("TopK", TopK);
    r.register("GatherElements", GatherElements);
    r.register("GatherND", GatherNd);
    r.register("ScatterND", Scatter { elements: false });
    r.register("ScatterElements", Scatter { elements: true });
}

/// TopK: the `k` largest (or smallest) along `axis`, values and their int64 indices.
struct TopK;

impl Op for TopK {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let x = cx.input(0)?;
        let axis = cx.a.axis("axis", -1, x.shape.len())?;
        let k = if cx.opset < 10 {
            cx.a.int("k", -1)
        } else {
            match cx.const_ints(1, "k")?.as_deref() {
                Some([k]) => *k,
                _ => return Err(cx.error("k (input 1) must be one integer")),
            }
        };
        let dim = x.shape[axis];
        if k < 0 || k as u64 > dim {
            return Err(cx.error(format!(
                "k = {k} outside 0..={dim}, the size of axis {axis}"
            )));
        }
        let mut shape = x.shape.clone();
        shape[axis] = k as u64;
        // A partial sort: about log2(k) comparisons per element.
        let per = u64::from(64 - (k as u64).leading_zeros()).max(1);
        Ok(Inferred {
            outputs: vec![(x.dtype, shape.clone()), (DType::I64, shape)],
            flops: x.elements().saturating_mul(per),
        })
    }
}

/// GatherElements: `data` read at `indices` along `axis`; the output has the indices' shape.
struct GatherElements;

impl Op for GatherElements {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let (data, idx) = (cx.input(0)?, cx.input(1)?);
        cx.a.axis("axis", 0, data.shape.len())?;
        if idx.shape.len() != data.shape.len() {
            return Err(cx.error(format!(
                "indices {:?} and data {:?} differ in rank",
                idx.shape, data.shape
            )));
        }
        Inferred::one(data.dtype, idx.shape.clone(), 0)
    }
}

/// GatherND: slices of `data` at index tuples, `batch_dims` leading axes shared.
struct GatherNd;

impl Op for GatherNd {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let (data, idx) = (cx.input(0)?, cx.input(1)?);
        let b = usize::try_from(cx.a.int("batch_dims", 0))
            .map_err(|_| cx.error("batch_dims must not be negative"))?;
        let Some((&depth, lead)) = idx.shape.split_last() else {
            return Err(cx.error("indices must have rank 1 or more"));
        };
        let depth = depth as usize;
        if depth == 0
            || b >= idx.shape.len()
            || b + depth > data.shape.len()
            || data.shape[..b] != idx.shape[..b]
        {
            return Err(cx.error(format!(
                "indices {:?} do not fit data {:?} with batch_dims {b}",
                idx.shape, data.shape
            )));
        }
        let mut out = lead.to_vec();
        out.extend_from_slice(&data.shape[b + depth..]);
        Inferred::one(data.dtype, out, 0)
    }
}

/// ScatterND and ScatterElements: `data` with `updates` written at `indices`.
struct Scatter {
    elements: bool,
}

impl Op for Scatter {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let (data, idx, upd) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
        if self.elements {
            cx.a.axis("axis", 0, data.shape.len())?;
            if idx.shape != upd.shape || idx.shape.len() != data.shape.len() {
                return Err(cx.error(format!(
                    "indices {:?}, updates {:?} and data {:?} do not fit",
                    idx.shape, upd.shape, data.shape
                )));
            }
        } else {
            let Some((&depth, lead)) = idx.shape.split_last() else {
                return Err(cx.error("indices must have rank 1 or more"));
            };
            let depth = depth as usize;
            let mut want = lead.to_vec();
            want.extend_from_slice(data.shape.get(depth..).unwrap_or(&[]));
            if depth > data.shape.len() || upd.shape != want {
                return Err(cx.error(format!(
                    "updates {:?} should be {want:?} for indices {:?} into data {:?}",
                    upd.shape, idx.shape, data.shape
                )));
            }
        }
        Inferred::one(data.dtype, data.shape.clone(), upd.elements())
    }
}
