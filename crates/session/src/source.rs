//! Where a model comes from: an ONNX file, or a generated zoo model.

use crate::error::{read, Context, Result, SessionError};
use crate::folding::folding;
use std::path::Path;
use tiersplit_onnx::{ImportOptions, OnnxModel};

/// A model's bytes and the name the user gave it.
pub struct ModelSource {
    /// The model as the user named it (a path, or `zoo:NAME[@SEED]`), for messages and titles.
    pub label: String,
    /// The ONNX file's bytes.
    pub bytes: Vec<u8>,
}

impl ModelSource {
    /// Opens `spec`: an ONNX file path, or `zoo:NAME[@SEED]` for a generated zoo model.
    pub fn open(spec: &str) -> Result<ModelSource> {
        let bytes = match spec.strip_prefix("zoo:") {
            Some(rest) => zoo_bytes(spec, rest)?,
            None => {
                let path = Path::new(spec);
                if !path.exists() {
                    return Err(SessionError::invalid(format!(
                        "model file '{spec}' does not exist (give an .onnx path or zoo:NAME)"
                    )));
                }
                read(path)?
            }
        };
        Ok(ModelSource {
            label: spec.to_string(),
            bytes,
        })
    }

    /// The model's layer DAG.
    /// Nodes whose inputs are all constants are folded on tract unless `options` lends
    /// another evaluator ([`folding()`]).
    pub fn import(&self, options: &ImportOptions) -> Result<OnnxModel> {
        OnnxModel::from_bytes(&self.bytes, &folding(options))
            .with_context(|| format!("importing {}", self.label))
    }

    /// The label's last path component (the file name), for titles.
    pub fn short_label(&self) -> String {
        Path::new(&self.label)
            .file_name()
            .map_or(self.label.clone(), |f| f.to_string_lossy().to_string())
    }
}

fn zoo_bytes(spec: &str, rest: &str) -> Result<Vec<u8>> {
    let (name, seed) = match rest.split_once('@') {
        Some((n, s)) => (
            n,
            s.parse::<u64>()
                .map_err(|_| SessionError::invalid(format!("bad seed in '{spec}'")))?,
        ),
        None => (rest, 0),
    };
    Ok(tiersplit_zoo::build_bytes(name, seed)?)
}
