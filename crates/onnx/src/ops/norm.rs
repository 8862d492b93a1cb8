//! Normalisations over parts of a tensor: InstanceNormalization (per sample and channel),
//! LayerNormalization (over the trailing axes from `axis`), GroupNormalization (per group of
//! channels). Each keeps its input's shape; their scale and bias are learned.

use super::{Ctx, Inferred, Op, Registry};
use crate::error::Result;
use tiersplit_graph::DType;

pub(super) fn register(r: &mut Registry) {
    r.register("InstanceNormalization", Norm::Instance);
    r.register("LayerNormalization", Norm::Layer);
    r.register("GroupNormalization", Norm::Group);
}

/// Which statistics are taken.
#[derive(Clone, Copy)]
enum Norm {
    Instance,
    Layer,
    Group,
}

/// Mean, variance, normalise, scale and shift: about 8 operations per element.
const FLOPS_PER_ELEMENT: u64 = 8;

impl Op for Norm {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let x = cx.input(0)?;
        let flops = x.elements().saturating_mul(FLOPS_PER_ELEMENT);
        let mut outputs = vec![(x.dtype, x.shape.clone())];
        match self {
            Norm::Instance => {
                if x.shape.len() < 3 {
                    return Err(cx.error("input must be N,C,spatial..."));
                }
            }
            Norm::Group => {
                let groups = cx.a.int("num_groups", 0);
                let c = x.shape.get(1).copied().unwrap_or(0);
                if groups < 1 || !c.is_multiple_of(groups as u64) {
                    return Err(cx.error(format!(
                        "num_groups {groups} must be positive and divide the {c} channels"
                    )));
                }
            }
            Norm::Layer => {
                let axis = cx.a.axis("axis", -1, x.shape.len())?;
                // Optional Mean and InvStdDev outputs: the statistics, reduced from `axis` on.
                let stats: Vec<u64> = x
                    .shape
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| if i < axis { d } else { 1 })
                    .collect();
                for _ in 1..cx.node.output.len().min(3) {
                    outputs.push((DType::F32, stats.clone()));
                }
            }
        }
        Ok(Inferred { outputs, flops })
    }

    fn learnable(&self, input: usize) -> bool {
        input == 1 || input == 2
    }
}
