//! The operator registry: one entry per ONNX operator, holding what the importer knows of it
//! (shape inference and FLOPs, constant folding, which inputs are learned weights, how it tiles).
//!
//! Operators are grouped in families, each registering its entries (as tract's per-family
//! `register_all_ops`); the importer, the unsupported-operator error and the tiler all read the
//! one registry, so the list of supported operators cannot drift from what is implemented.

mod einsum;
mod elementwise;
mod generate;
mod layout;
mod linear;
mod logic;
mod norm;
mod rearrange;
mod recurrent;
mod reduce;
mod resize;
mod select;
mod window;

use crate::attributes::Attributes;
use crate::const_tensor::{ConstData, ConstTensor};
use crate::error::{OnnxError, Result};
use crate::proto::NodeProto;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use tiersplit_graph::DType;

/// What a node reads: type, static shape, and the value when it is a small constant.
#[derive(Debug, Clone)]
pub(crate) struct Val {
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub value: Option<ConstTensor>,
}

impl Val {
    fn elements(&self) -> u64 {
        self.shape.iter().fold(1u64, |n, &d| n.saturating_mul(d))
    }
}

/// Output types and shapes of a node, and its FLOPs (a multiply-add counts as two).
#[derive(Debug, Clone)]
pub(crate) struct Inferred {
    pub outputs: Vec<(DType, Vec<u64>)>,
    pub flops: u64,
}

impl Inferred {
    fn one(dtype: DType, shape: Vec<u64>, flops: u64) -> Result<Inferred> {
        Ok(Inferred {
            outputs: vec![(dtype, shape)],
            flops,
        })
    }
}

/// How a layer of an operator can run cut into spatial tiles (D3's vertical separation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tiling {
    /// Not spatially local, or not supported by the tiler.
    None,
    /// Each output element depends on the input element at the same place only.
    Elementwise,
    /// A 2-D sliding window (Conv, MaxPool, AveragePool): tiles need a halo.
    Window,
}

/// A node being imported: its attributes, the opset and what it reads.
pub(crate) struct Ctx<'a> {
    pub node: &'a NodeProto,
    pub a: Attributes<'a>,
    pub opset: i64,
    pub inputs: &'a [Option<Val>],
}

impl<'a> Ctx<'a> {
    fn new(node: &'a NodeProto, opset: i64, inputs: &'a [Option<Val>]) -> Ctx<'a> {
        Ctx {
            node,
            a: Attributes::of(node),
            opset,
            inputs,
        }
    }

    fn error(&self, msg: impl Into<String>) -> OnnxError {
        self.a.error(msg)
    }

    /// Input `i`, which the operator requires.
    fn input(&self, i: usize) -> Result<&'a Val> {
        self.inputs
            .get(i)
            .and_then(|v| v.as_ref())
            .ok_or_else(|| self.error(format!("input {i} is required")))
    }

    /// Whether optional input `i` is given.
    fn has_input(&self, i: usize) -> bool {
        self.inputs.get(i).is_some_and(|v| v.is_some())
    }

    /// The inputs given, omitted optional ones skipped.
    fn operands(&self) -> Vec<&'a Val> {
        self.inputs.iter().flatten().collect()
    }

    /// Integer input `i`, which must be a constant known at import time, if given.
    fn const_ints(&self, i: usize, what: &str) -> Result<Option<Vec<i64>>> {
        match self.inputs.get(i).and_then(|v| v.as_ref()) {
            None => Ok(None),
            Some(v) => match &v.value {
                Some(c) => Ok(Some(c.as_i64())),
                None => Err(self.not_constant(i, what)),
            },
        }
    }

    /// Float input `i`, which must be a constant known at import time, if given and not empty.
    fn const_floats(&self, i: usize, what: &str) -> Result<Option<Vec<f32>>> {
        match self.inputs.get(i).and_then(|v| v.as_ref()) {
            None => Ok(None),
            Some(v) if v.elements() == 0 => Ok(None),
            Some(v) => match &v.value {
                Some(c) => Ok(Some(c.as_f32())),
                None => Err(self.not_constant(i, what)),
            },
        }
    }

    fn not_constant(&self, i: usize, what: &str) -> OnnxError {
        self.error(format!(
            "{what} (input {i}) must be a constant known at import time"
        ))
    }

    /// The values of the inputs when every given one is a decoded constant, `None` otherwise.
    fn const_values(&self) -> Option<Vec<Option<&'a ConstTensor>>> {
        self.inputs
            .iter()
            .map(|v| match v {
                Some(Val { value: Some(c), .. }) => Some(Some(c)),
                Some(_) => None,
                None => Some(None),
            })
            .collect()
    }

    /// A folded single output with the inferred type and shape.
    fn folded(&self, out: &Inferred, data: ConstData) -> Result<Option<Vec<ConstTensor>>> {
        let (dtype, shape) = out.outputs[0].clone();
        Ok(Some(vec![ConstTensor { dtype, shape, data }]))
    }
}

/// One ONNX operator as the importer knows it.
pub(crate) trait Op: Send + Sync {
    /// Output types and shapes, and FLOPs.
    fn infer(&self, cx: &Ctx) -> Result<Inferred>;

    /// The outputs' values when the node can be evaluated at import time (its inputs are
    /// constants, or only their shapes matter); `None` keeps the node as a layer.
    fn fold(&self, _cx: &Ctx, _out: &Inferred) -> Result<Option<Vec<ConstTensor>>> {
        Ok(None)
    }

    /// Whether a float constant read as input `i` counts as learned parameters (as frameworks
    /// count them: BatchNormalization's running statistics do not).
    fn learnable(&self, _input: usize) -> bool {
        false
    }

    /// How a layer of this operator tiles.
    fn tiling(&self) -> Tiling {
        Tiling::None
    }
}

/// Every operator tiersplit imports, by ONNX name.
pub(crate) struct Registry {
    ops: BTreeMap<&'static str, Box<dyn Op>>,
}

impl Registry {
    fn register(&mut self, name: &'static str, op: impl Op + 'static) {
        let previous = self.ops.insert(name, Box::new(op));
        debug_assert!(previous.is_none(), "{name} registered twice");
    }

    /// The entry for an operator, if it is supported.
    pub fn get(&self, name: &str) -> Option<&dyn Op> {
        self.ops.get(name).map(|op| op.as_ref())
    }

    fn all() -> Registry {
        let mut r = Registry {
            ops: BTreeMap::new(),
        };
        elementwise::register(&mut r);
        window::register(&mut r);
        linear::register(&mut r);
        layout::register(&mut r);
        reduce::register(&mut r);
        recurrent::register(&mut r);
        resize::register(&mut r);
        logic::register(&mut r);
        generate::register(&mut r);
        norm::register(&mut r);
        rearrange::register(&mut r);
        select::register(&mut r);
        einsum::register(&mut r);
        r
    }
}

/// The registry, built on first use.
pub(crate) fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::all)
}

/// Operators tiersplit imports (shape inference and FLOPs), sorted; tract runs all of them.
/// `Constant` is among them: the importer folds it into an initializer.
pub fn supported_ops() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = registry().ops.keys().copied().collect();
    names.push("Constant");
    names.sort_unstable();
    names
}

fn unsupported(node: &NodeProto) -> OnnxError {
    OnnxError::UnsupportedOp {
        node: node.name.clone(),
        op: node.op_type.clone(),
        supported: supported_ops().join(", "),
    }
}

/// Infers output types and shapes and FLOPs of `node`. `inputs[i]` is `None` for an omitted
/// optional input.
pub(crate) fn infer(node: &NodeProto, opset: i64, inputs: &[Option<Val>]) -> Result<Inferred> {
    let op = registry()
        .get(&node.op_type)
        .ok_or_else(|| unsupported(node))?;
    op.infer(&Ctx::new(node, opset, inputs))
}

/// Evaluates `node` at import time where its operator can, for the small integer shape
/// computations exporters emit; `None` where it stays a layer.
pub(crate) fn fold(
    node: &NodeProto,
    opset: i64,
    inputs: &[Option<Val>],
    inferred: &Inferred,
) -> Result<Option<Vec<ConstTensor>>> {
    match registry().get(&node.op_type) {
        Some(op) => op.fold(&Ctx::new(node, opset, inputs), inferred),
        None => Err(unsupported(node)),
    }
}

/// Whether a float constant read by `op` as input `i` is a learned parameter.
pub(crate) fn learnable(op: &str, input: usize) -> bool {
    registry().get(op).is_some_and(|o| o.learnable(input))
}

/// How layers of `op` tile.
pub(crate) fn tiling(op: &str) -> Tiling {
    registry().get(op).map_or(Tiling::None, |o| o.tiling())
}

/// The broadcast shape of `shapes` (numpy rules).
fn broadcast(a: &Attributes, shapes: &[&[u64]]) -> Result<Vec<u64>> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1u64; rank];
    for s in shapes {
        let off = rank - s.len();
        for (i, &d) in s.iter().enumerate() {
            let o = &mut out[off + i];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                return Err(a.error(format!("shapes {shapes:?} do not broadcast")));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
