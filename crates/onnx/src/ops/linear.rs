//! Matrix products: Gemm and MatMul.

use super::{broadcast, Ctx, Inferred, Op, Registry};
use crate::error::Result;

pub(super) fn register(r: &mut Registry) {
    r.register("Gemm", Gemm);
    r.register("MatMul", MatMul);
}

fn flops(batch: u64, m: u64, n: u64, k: u64) -> u64 {
    [batch, m, n, k]
        .iter()
        .fold(2u64, |p, &d| p.saturating_mul(d))
}

/// Gemm: `alpha * A' B' + beta * C` on matrices, `'` an optional transpose.
struct Gemm;

impl Op for Gemm {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let x = cx.input(0)?;
        let w = cx.input(1)?;
        if x.shape.len() != 2 || w.shape.len() != 2 {
            return Err(cx.error(format!(
                "operands must be matrices, got {:?} and {:?}",
                x.shape, w.shape
            )));
        }
        let (m, k) = if cx.a.int("transA", 0) != 0 {
            (x.shape[1], x.shape[0])
        } else {
            (x.shape[0], x.shape[1])
        };
        let (k2, n) = if cx.a.int("transB", 0) != 0 {
            (w.shape[1], w.shape[0])
        } else {
            (w.shape[0], w.shape[1])
        };
        if k != k2 {
            return Err(cx.error(format!("inner dimensions differ: {k} vs {k2}")));
        }
        let bias = if cx.has_input(2) {
            m.saturating_mul(n)
        } else {
            0
        };
        Inferred::one(x.dtype, vec![m, n], flops(1, m, n, k).saturating_add(bias))
    }

    fn learnable(&self, _input: usize) -> bool {
        true
    }
}

/// MatMul with numpy semantics: batch axes broadcast, 1-D operands promoted and squeezed.
struct MatMul;

impl Op for MatMul {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let x = cx.input(0)?;
        let w = cx.input(1)?;
        if x.shape.is_empty() || w.shape.is_empty() {
            return Err(cx.error("scalar operands are not allowed"));
        }
        let xs = if x.shape.len() == 1 {
            vec![1, x.shape[0]]
        } else {
            x.shape.clone()
        };
        let ws = if w.shape.len() == 1 {
            vec![w.shape[0], 1]
        } else {
            w.shape.clone()
        };
        let (m, k) = (xs[xs.len() - 2], xs[xs.len() - 1]);
        let (k2, n) = (ws[ws.len() - 2], ws[ws.len() - 1]);
        if k != k2 {
            return Err(cx.error(format!(
                "inner dimensions differ: {:?} x {:?}",
                x.shape, w.shape
            )));
        }
        let batch = broadcast(&cx.a, &[&xs[..xs.len() - 2], &ws[..ws.len() - 2]])?;
        let batch_size = batch.iter().fold(1u64, |p, &d| p.saturating_mul(d));
        let mut out = batch;
        if x.shape.len() > 1 {
            out.push(m);
        }
        if w.shape.len() > 1 {
            out.push(n);
        }
        Inferred::one(x.dtype, out, flops(batch_size, m, n, k))
    }

    fn learnable(&self, _input: usize) -> bool {
        true
    }
}
