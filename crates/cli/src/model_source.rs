use anyhow::{bail, Context, Result};
use std::path::Path;
use tiersplit_onnx::{ImportOptions, OnnxModel};

/// Where a model comes from: an ONNX file, or `zoo:NAME[@SEED]` for a generated zoo model.
pub struct ModelSource {
    pub label: String,
    pub bytes: Vec<u8>,
}

impl ModelSource {
    pub fn open(spec: &str) -> Result<ModelSource> {
        if let Some(rest) = spec.strip_prefix("zoo:") {
            let (name, seed) = match rest.split_once('@') {
                Some((n, s)) => (
                    n,
                    s.parse::<u64>()
                        .with_context(|| format!("bad seed in '{spec}'"))?,
                ),
                None => (rest, 0),
            };
            let bytes = tiersplit_zoo::build_bytes(name, seed)?;
            return Ok(ModelSource {
                label: spec.to_string(),
                bytes,
            });
        }
        let path = Path::new(spec);
        if !path.exists() {
            bail!("model file '{spec}' does not exist (give an .onnx path or zoo:NAME)");
        }
        let bytes = std::fs::read(path).with_context(|| format!("reading '{spec}'"))?;
        Ok(ModelSource {
            label: spec.to_string(),
            bytes,
        })
    }

    pub fn import(&self, options: &ImportOptions) -> Result<OnnxModel> {
        OnnxModel::from_bytes(&self.bytes, options)
            .with_context(|| format!("importing {}", self.label))
    }
}

/// Parses `1,3,224,224` or `NAME=1,3,224,224`.
pub fn parse_input_shape(s: &str) -> Result<(Option<String>, Vec<u64>), String> {
    let (name, dims) = match s.split_once('=') {
        Some((n, d)) => (Some(n.to_string()), d),
        None => (None, s),
    };
    let dims = dims
        .split(',')
        .map(|d| {
            d.trim()
                .parse::<u64>()
                .map_err(|_| format!("'{d}' is not a dimension in '{s}'"))
        })
        .collect::<Result<Vec<u64>, String>>()?;
    if dims.is_empty() || dims.contains(&0) {
        return Err(format!("'{s}' must list positive dimensions"));
    }
    Ok((name, dims))
}

pub fn import_options(shapes: &[(Option<String>, Vec<u64>)]) -> ImportOptions {
    ImportOptions {
        input_shapes: shapes.to_vec(),
    }
}
