//! `.npy` tensors in and out: the format numpy and most tools exchange arrays in.

use crate::error::{read, Result, SessionError};
use npyz::WriterBuilder;
use std::path::Path;
use tiersplit_exec::{HostTensor, TensorData};

/// Reads a little-endian f32 (or f64, converted) `.npy` array.
pub fn read_npy(path: &Path) -> Result<HostTensor> {
    let bytes = read(path)?;
    let bad = |e: std::io::Error| SessionError::io(path, e);
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(bad)?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let data: Vec<f32> = match npy.dtype() {
        npyz::DType::Plain(t) if t.to_string().ends_with("f4") => {
            npy.into_vec::<f32>().map_err(bad)?
        }
        npyz::DType::Plain(t) if t.to_string().ends_with("f8") => npy
            .into_vec::<f64>()
            .map_err(bad)?
            .into_iter()
            .map(|x| x as f32)
            .collect(),
        other => {
            return Err(SessionError::invalid(format!(
                "{}: unsupported .npy dtype {other:?} (use float32)",
                path.display()
            )))
        }
    };
    Ok(HostTensor::f32(shape, data)?)
}

/// Writes `t` as a `.npy` array.
pub fn write_npy(path: &Path, t: &HostTensor) -> Result<()> {
    let io = |e: std::io::Error| SessionError::io(path, e);
    let file = std::fs::File::create(path).map_err(io)?;
    let shape: Vec<u64> = t.shape.iter().map(|&d| d as u64).collect();
    let w = std::io::BufWriter::new(file);
    match &t.data {
        TensorData::F32(v) => {
            let options = npyz::WriteOptions::new().default_dtype().shape(&shape);
            let mut out = options.writer(w).begin_nd().map_err(io)?;
            out.extend(v.iter().copied()).map_err(io)?;
            out.finish().map_err(io)
        }
        TensorData::I64(v) => {
            let options = npyz::WriteOptions::new().default_dtype().shape(&shape);
            let mut out = options.writer(w).begin_nd().map_err(io)?;
            out.extend(v.iter().copied()).map_err(io)?;
            out.finish().map_err(io)
        }
        // numpy's bool arrays hold one byte per element; npyz writes them as u8.
        TensorData::Bool(v) => {
            let options = npyz::WriteOptions::new().default_dtype().shape(&shape);
            let mut out = options.writer(w).begin_nd().map_err(io)?;
            out.extend(v.iter().map(|&b| u8::from(b))).map_err(io)?;
            out.finish().map_err(io)
        }
    }
}
