//! Recurrent layers: LSTM, GRU and RNN, as CRNN text recognisers use them over the columns of
//! a feature map. Each runs over the whole sequence, so none tiles.

use super::{Ctx, Inferred, Op, Registry};
use crate::error::Result;

pub(super) fn register(r: &mut Registry) {
    r.register("LSTM", Recurrent { gates: 4 });
    r.register("GRU", Recurrent { gates: 3 });
    r.register("RNN", Recurrent { gates: 1 });
}

/// A recurrent layer with `gates` weight blocks per direction.
struct Recurrent {
    gates: u64,
}

/// Activations and gate arithmetic per hidden unit and step, on top of the matrix products.
const FLOPS_PER_UNIT: u64 = 10;

impl Op for Recurrent {
    /// X is [seq, batch, input] (layout 0) or [batch, seq, input] (layout 1); W is
    /// [directions, gates * hidden, input]. Outputs: Y, Y_h and (LSTM) Y_c.
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let x = cx.input(0)?;
        let w = cx.input(1)?;
        let [a, b, input] = x.shape[..] else {
            return Err(cx.error(format!("X must have rank 3, not {:?}", x.shape)));
        };
        let batch_first = cx.a.int("layout", 0) == 1;
        let (seq, batch) = if batch_first { (b, a) } else { (a, b) };
        let directions: u64 = match cx.a.string("direction").as_deref().unwrap_or("forward") {
            "forward" | "reverse" => 1,
            "bidirectional" => 2,
            other => return Err(cx.error(format!("unknown direction '{other}'"))),
        };
        let hidden = match cx.a.int("hidden_size", 0) {
            h if h > 0 => h as u64,
            _ => w.shape.get(1).copied().unwrap_or(0) / self.gates,
        };
        let overflow = || cx.error("hidden_size is too large");
        let rows = self.gates.checked_mul(hidden).ok_or_else(overflow)?;
        if w.shape != [directions, rows, input] {
            return Err(cx.error(format!(
                "W {:?} must be [{directions}, {rows}, {input}] for {directions} direction(s), \
                 hidden size {hidden} and input size {input}",
                w.shape
            )));
        }
        let (y, state) = if batch_first {
            (
                vec![batch, seq, directions, hidden],
                vec![batch, directions, hidden],
            )
        } else {
            (
                vec![seq, directions, batch, hidden],
                vec![directions, batch, hidden],
            )
        };
        let mut outputs = vec![(x.dtype, y), (x.dtype, state.clone())];
        if self.gates == 4 {
            outputs.push((x.dtype, state));
        }
        // Per step: the products with the input and recurrent weights, and the gates.
        let per_step = rows
            .saturating_mul(2)
            .saturating_mul(input.saturating_add(hidden))
            .saturating_add(FLOPS_PER_UNIT.saturating_mul(hidden));
        let flops = per_step.saturating_mul(seq.saturating_mul(batch).saturating_mul(directions));
        Ok(Inferred { outputs, flops })
    }

    /// W, R, B and the peephole weights P; not sequence_lens nor the initial states.
    fn learnable(&self, input: usize) -> bool {
        matches!(input, 1 | 2 | 3 | 7)
    }
}
