use crate::error::{OnnxError, Result};
use crate::proto::{AttributeProto, NodeProto, TensorProto};

/// Typed access to a node's attributes, with errors that name the node.
pub struct Attributes<'a> {
    node: &'a NodeProto,
}

impl<'a> Attributes<'a> {
    /// Typed access to the attributes of `node`.
    pub fn of(node: &'a NodeProto) -> Attributes<'a> {
        Attributes { node }
    }

    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }

    /// Whether the node has an attribute named `name`.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// An `OnnxError::Node` naming this node and its operator, with `msg`.
    pub fn error(&self, msg: impl Into<String>) -> OnnxError {
        OnnxError::Node {
            node: self.node.name.clone(),
            op: self.node.op_type.clone(),
            msg: msg.into(),
        }
    }

    /// Integer attribute `name`, or `default` when the node does not have it.
    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.get(name).map(|a| a.i).unwrap_or(default)
    }

    /// Float attribute `name`, or `default` when the node does not have it.
    pub fn float(&self, name: &str, default: f32) -> f32 {
        self.get(name).map(|a| a.f).unwrap_or(default)
    }

    /// Integer-list attribute `name`, or `None` when the node does not have it.
    pub fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.get(name).map(|a| a.ints.clone())
    }

    /// Float-list attribute `name`, or `None` when the node does not have it.
    pub fn floats(&self, name: &str) -> Option<Vec<f32>> {
        self.get(name).map(|a| a.floats.clone())
    }

    /// String attribute `name` (invalid UTF-8 replaced), or `None` when the node does not have it.
    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }

    /// Tensor attribute `name`, or `None` when the node does not have it or it holds no tensor.
    pub fn tensor(&self, name: &str) -> Option<&'a TensorProto> {
        self.get(name).and_then(|a| a.t.as_ref())
    }

    /// An axis attribute normalised against `rank` (negative axes count from the end).
    pub fn axis(&self, name: &str, default: i64, rank: usize) -> Result<usize> {
        if rank == 0 {
            return Err(self.error(format!("attribute {name} needs an input of rank 1 or more")));
        }
        normalize_axis(self.int(name, default), rank).ok_or_else(|| {
            self.error(format!(
                "attribute {name}={} out of range for rank {rank}",
                self.int(name, default)
            ))
        })
    }
}

pub fn normalize_axis(axis: i64, rank: usize) -> Option<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    (0..r.max(1)).contains(&a).then_some(a as usize)
}
