//! Partition files, as `tiersplit split --parts` reads them: a JSON list of partitions, each a
//! list of layer names or ids.

use crate::error::{Result, SessionError};
use serde_json::Value;
use tiersplit_graph::{LayerId, ModelGraph};

/// Reads a partition file (`[["conv1", 1], [2, 3]]` or `{"parts": [...]}`), resolving layer
/// names and ids against `g`; whether the partitions are legal is left to the caller.
pub fn read_parts(g: &ModelGraph, text: &str) -> Result<Vec<Vec<LayerId>>> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| SessionError::invalid(format!("partition file is not valid JSON: {e}")))?;
    let list = match &v {
        Value::Array(a) => a,
        Value::Object(o) => o
            .get("parts")
            .and_then(Value::as_array)
            .ok_or_else(|| SessionError::invalid("partition file object has no \"parts\" array"))?,
        _ => {
            return Err(SessionError::invalid(
                "partition file must be a JSON array of partitions or {\"parts\": [...]}",
            ));
        }
    };
    list.iter()
        .enumerate()
        .map(|(p, part)| -> Result<Vec<LayerId>> {
            let items = part.as_array().ok_or_else(|| {
                SessionError::invalid(format!("partition {p} is not a list of layers"))
            })?;
            items.iter().map(|item| layer_of(g, p, item)).collect()
        })
        .collect()
}

/// An item of partition `p`: a layer name or id.
fn layer_of(g: &ModelGraph, p: usize, item: &Value) -> Result<LayerId> {
    let bad = |what: String| SessionError::invalid(format!("partition {p}: {what}"));
    match item {
        Value::String(s) => g
            .layer_by_name(s)
            .map(|l| l.id)
            .ok_or_else(|| bad(format!("no layer named '{s}'"))),
        Value::Number(n) => match n.as_u64() {
            Some(i) if (i as usize) < g.layers.len() => Ok(LayerId(i as u32)),
            Some(i) => Err(bad(format!(
                "layer id {i} out of range (the model has {} layers)",
                g.layers.len()
            ))),
            None => Err(bad(format!("{n} is not a layer id"))),
        },
        other => Err(bad(format!("{other} is neither a layer name nor an id"))),
    }
}
