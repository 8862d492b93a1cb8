//! `.npy` tensors in and out: the format numpy and most tools exchange arrays in.

use crate::error::{read, Result, SessionError};
use npyz::WriterBuilder;
use std::path::Path;
use tiersplit_exec::{HostTensor, TensorData};

/// Reads a little-endian `.npy` array: float32 (float64 is narrowed to it), int64 (int32 is
/// widened to it) or bool, the element types tensors take in tiersplit.
pub fn read_npy(path: &Path) -> Result<HostTensor> {
    let bytes = read(path)?;
    let bad = |e: std::io::Error| SessionError::io(path, e);
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(bad)?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let code = match npy.dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        other => {
            return Err(SessionError::invalid(format!(
                "{}: unsupported .npy dtype {other:?}",
                path.display()
            )))
        }
    };
    let tensor = match code.trim_start_matches(['<', '|', '=']) {
        "f4" => HostTensor::f32(shape, npy.into_vec::<f32>().map_err(bad)?),
        "f8" => {
            let v = npy.into_vec::<f64>().map_err(bad)?;
            HostTensor::f32(shape, v.into_iter().map(|x| x as f32).collect())
        }
        "i8" => HostTensor::i64(shape, npy.into_vec::<i64>().map_err(bad)?),
        "i4" => {
            let v = npy.into_vec::<i32>().map_err(bad)?;
            HostTensor::i64(shape, v.into_iter().map(i64::from).collect())
        }
        "b1" => {
            let v = npy.into_vec::<bool>().map_err(bad)?;
            HostTensor::bool(shape, v)
        }
        other => {
            return Err(SessionError::invalid(format!(
                "{}: unsupported .npy dtype '{other}' (float32, float64, int64, int32 or bool)",
                path.display()
            )))
        }
    };
    Ok(tensor?)
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
        TensorData::Bool(v) => {
            let options = npyz::WriteOptions::new().default_dtype().shape(&shape);
            let mut out = options.writer(w).begin_nd().map_err(io)?;
            out.extend(v.iter().copied()).map_err(io)?;
            out.finish().map_err(io)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_element_type_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let tensors = [
            HostTensor::f32(vec![2, 2], vec![1.5, -2.0, 0.0, 3.25]).unwrap(),
            HostTensor::i64(vec![3], vec![-7, 0, 1 << 40]).unwrap(),
            HostTensor::bool(vec![1, 3], vec![true, false, true]).unwrap(),
        ];
        for (k, t) in tensors.iter().enumerate() {
            let path = dir.path().join(format!("{k}.npy"));
            write_npy(&path, t).unwrap();
            assert_eq!(&read_npy(&path).unwrap(), t);
        }
    }

    #[test]
    fn other_element_types_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u2.npy");
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let header = "{'descr': '<u2', 'fortran_order': False, 'shape': (1,), }";
        let header = format!("{header:<117}\n");
        bytes.extend((header.len() as u16).to_le_bytes());
        bytes.extend(header.as_bytes());
        bytes.extend([1, 0]);
        std::fs::write(&path, bytes).unwrap();
        let e = read_npy(&path).unwrap_err().to_string();
        assert!(e.contains("'u2'"), "{e}");
    }
}
