use anyhow::{bail, Context, Result};
use npyz::WriterBuilder;
use std::path::Path;
use tiersplit_exec::{HostTensor, TensorData};

/// Reads a little-endian f32 (or f64, converted) `.npy` array.
pub fn read(path: &Path) -> Result<HostTensor> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .with_context(|| format!("{} is not a valid .npy file", path.display()))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let data: Vec<f32> = match npy.dtype() {
        npyz::DType::Plain(t) if t.to_string().ends_with("f4") => npy.into_vec::<f32>()?,
        npyz::DType::Plain(t) if t.to_string().ends_with("f8") => npy
            .into_vec::<f64>()?
            .into_iter()
            .map(|x| x as f32)
            .collect(),
        other => bail!(
            "{}: unsupported .npy dtype {other:?} (use float32)",
            path.display()
        ),
    };
    Ok(HostTensor::f32(shape, data)?)
}

pub fn write(path: &Path, t: &HostTensor) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let shape: Vec<u64> = t.shape.iter().map(|&d| d as u64).collect();
    let w = std::io::BufWriter::new(file);
    match &t.data {
        TensorData::F32(v) => {
            let mut out = npyz::WriteOptions::new()
                .default_dtype()
                .shape(&shape)
                .writer(w)
                .begin_nd()?;
            out.extend(v.iter().copied())?;
            out.finish()?;
        }
        TensorData::I64(v) => {
            let mut out = npyz::WriteOptions::new()
                .default_dtype()
                .shape(&shape)
                .writer(w)
                .begin_nd()?;
            out.extend(v.iter().copied())?;
            out.finish()?;
        }
    }
    Ok(())
}
