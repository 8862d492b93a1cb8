use crate::error::{OnnxError, Result};
use crate::proto::{AttributeProto, NodeProto, TensorProto};

/// Typed access to a node's attributes, with errors that name the node.
pub struct Attributes<'a> {
    node: &'a NodeProto,
}

impl<'a> Attributes<'a> {
    pub fn of(node: &'a NodeProto) -> Attributes<'a> {
        Attributes { node }
    }

    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn error(&self, msg: impl Into<String>) -> OnnxError {
        OnnxError::Node {
            node: self.node.name.clone(),
            op: self.node.op_type.clone(),
            msg: msg.into(),
        }
    }

    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.get(name).map(|a| a.i).unwrap_or(default)
    }

    pub fn float(&self, name: &str, default: f32) -> f32 {
        self.get(name).map(|a| a.f).unwrap_or(default)
    }

    pub fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.get(name).map(|a| a.ints.clone())
    }

    pub fn floats(&self, name: &str) -> Option<Vec<f32>> {
        self.get(name).map(|a| a.floats.clone())
    }

    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }

    pub fn tensor(&self, name: &str) -> Option<&'a TensorProto> {
        self.get(name).and_then(|a| a.t.as_ref())
    }

    /// An axis attribute normalised against `rank` (negative axes count from the end).
    pub fn axis(&self, name: &str, default: i64, rank: usize) -> Result<usize> {
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
