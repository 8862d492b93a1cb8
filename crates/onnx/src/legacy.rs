//! Opset 6 graphs read as opset 7, so older exports import and their partitions load in
//! engines that start at opset 7 (ONNX Runtime). Between the two, the operators changed in
//! ways that matter here are:
//! - the binary arithmetic, logic and comparison operators dropped `broadcast`/`axis`
//!   (opset 6 aligns a smaller second operand at `axis`; opset 7 broadcasts numpy-style from
//!   the trailing dimensions): a constant operand gets trailing dimensions of 1;
//! - `Gemm` dropped `broadcast` (opset 7 always broadcasts C), `Dropout` and
//!   `BatchNormalization` dropped `is_test` (inference is the only mode here);
//! - `PRelu`'s slope broadcasts numpy-style from opset 7: a per-channel slope of shape `[C]`
//!   becomes `[C, 1, ...]`.
//!
//! Each node is rewritten just before its shapes are inferred, when its inputs' shapes are
//! known.

use crate::attributes::Attributes;
use crate::error::Result;
use crate::ops::Val;
use crate::proto::{NodeProto, TensorProto};
use std::collections::HashMap;

/// Operators that took `broadcast` and `axis` up to opset 6.
const LEGACY_BROADCAST: [&str; 11] = [
    "Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor", "Equal", "Greater", "Less",
];

/// Rewrites opset-6 `node` (inputs `ins`, constants `consts`) as its opset-7 equivalent;
/// returns a reshaped constant it now reads, to be added.
pub(crate) fn to_opset7(
    node: &mut NodeProto,
    ins: &[Option<Val>],
    consts: &HashMap<String, TensorProto>,
) -> Result<Option<TensorProto>> {
    let added = match node.op_type.as_str() {
        op if LEGACY_BROADCAST.contains(&op) => {
            let added = broadcast_at_axis(node, ins, consts)?;
            drop_attributes(node, &["broadcast", "axis"]);
            added
        }
        "Gemm" => {
            drop_attributes(node, &["broadcast"]);
            None
        }
        "Dropout" => {
            drop_attributes(node, &["is_test"]);
            None
        }
        "BatchNormalization" => {
            let a = Attributes::of(node);
            if a.int("spatial", 1) != 1 {
                return Err(
                    a.error("opset 6 `spatial = 0` (per-element statistics) is not supported")
                );
            }
            drop_attributes(node, &["is_test"]);
            None
        }
        "PRelu" => per_channel_slope(node, ins, consts)?,
        _ => None,
    };
    Ok(added)
}

fn drop_attributes(node: &mut NodeProto, names: &[&str]) {
    node.attribute.retain(|a| !names.contains(&a.name.as_str()));
}

/// The operand `input` of `node` as a constant with `trailing` more dimensions of 1, under a
/// name of its own (another node may read the original as it is).
fn padded(
    node: &mut NodeProto,
    input: usize,
    trailing: usize,
    consts: &HashMap<String, TensorProto>,
) -> Result<Option<TensorProto>> {
    if trailing == 0 {
        return Ok(None);
    }
    let Some(t) = consts.get(&node.input[input]) else {
        return Err(Attributes::of(node).error(
            "opset 6 broadcasting of a computed operand along an axis is not supported: \
             export the model at opset 7 or later",
        ));
    };
    let mut t = t.clone();
    t.dims.extend(std::iter::repeat_n(1, trailing));
    t.name = format!("{}/opset7:{}", node.input[input], node.name);
    node.input[input] = t.name.clone();
    Ok(Some(t))
}

/// Opset 6's `broadcast = 1, axis = k`: the second operand lines up with the first from
/// dimension k, which numpy-style broadcasting does once it has trailing dimensions of 1.
fn broadcast_at_axis(
    node: &mut NodeProto,
    ins: &[Option<Val>],
    consts: &HashMap<String, TensorProto>,
) -> Result<Option<TensorProto>> {
    let a = Attributes::of(node);
    if a.int("broadcast", 0) == 0 || !a.has("axis") {
        return Ok(None);
    }
    let (Some(Some(x)), Some(Some(b))) = (ins.first(), ins.get(1)) else {
        return Ok(None);
    };
    let (rank_a, rank_b) = (x.shape.len() as i64, b.shape.len() as i64);
    let axis = match a.int("axis", 0) {
        k if k < 0 => k + rank_a,
        k => k,
    };
    if axis < 0 || axis + rank_b > rank_a {
        return Err(a.error(format!(
            "broadcast axis {} does not fit a rank-{rank_b} operand into a rank-{rank_a} one",
            a.int("axis", 0)
        )));
    }
    let trailing = (rank_a - axis - rank_b) as usize;
    padded(node, 1, trailing, consts)
}

/// A slope of shape `[C]` on an input of shape `[N, C, ...]`: per channel in opset 6, so it
/// gets the trailing dimensions numpy-style broadcasting needs.
fn per_channel_slope(
    node: &mut NodeProto,
    ins: &[Option<Val>],
    consts: &HashMap<String, TensorProto>,
) -> Result<Option<TensorProto>> {
    let (Some(Some(x)), Some(Some(slope))) = (ins.first(), ins.get(1)) else {
        return Ok(None);
    };
    let channels = x.shape.get(1).copied();
    if x.shape.len() < 3 || slope.shape.len() != 1 || Some(slope.shape[0]) != channels {
        return Ok(None);
    }
    padded(node, 1, x.shape.len() - 2, consts)
}
