//! Resize and its predecessor Upsample.

use super::{Ctx, Inferred, Op, Registry};
use crate::error::Result;

pub(super) fn register(r: &mut Registry) {
    r.register("Resize", Resize { upsample: false });
    r.register("Upsample", Resize { upsample: true });
}

struct Resize {
    upsample: bool,
}

impl Resize {
    /// Scales and sizes, wherever the node's opset keeps them.
    #[allow(clippy::type_complexity)]
    fn targets(&self, cx: &Ctx) -> Result<(Option<Vec<f32>>, Option<Vec<i64>>)> {
        Ok(if self.upsample {
            let scales = if cx.opset >= 9 {
                cx.const_floats(1, "scales")?
            } else {
                cx.a.floats("scales")
            };
            (scales, None)
        } else if cx.opset < 11 {
            (cx.const_floats(1, "scales")?, None)
        } else {
            (
                cx.const_floats(2, "scales")?,
                cx.const_ints(3, "sizes")?.filter(|s| !s.is_empty()),
            )
        })
    }
}

impl Op for Resize {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let x = cx.input(0)?;
        let r = x.shape.len();
        let (scales, sizes) = self.targets(cx)?;
        if cx.a.has("axes") {
            return Err(cx.error("the axes attribute of Resize is not supported"));
        }
        let out: Vec<u64> = match (sizes, scales) {
            (Some(s), _) if s.len() == r => s.iter().map(|&v| v.max(0) as u64).collect(),
            (None, Some(sc)) if sc.len() == r && sc.iter().all(|s| s.is_finite() && *s > 0.0) => x
                .shape
                .iter()
                .zip(&sc)
                .map(|(&d, &s)| (d as f64 * s as f64).floor() as u64)
                .collect(),
            _ => {
                return Err(cx.error(format!(
                    "needs scales or sizes with one value per axis of {:?}",
                    x.shape
                )))
            }
        };
        let n = out.iter().fold(1u64, |p, &d| p.saturating_mul(d));
        Inferred::one(x.dtype, out, n)
    }
}
