//! Scatter and gather for tiled execution: cut NCHW regions out of a feature map and put tile
//! outputs back together.

use crate::{ExecError, Executor, HostTensor, LoadedModel};
use std::ops::Range;

/// Rows and columns of an NCHW feature map.
pub type Region = (Range<usize>, Range<usize>);

fn f32_of(t: &HostTensor) -> Result<&[f32], ExecError> {
    t.as_f32()
        .ok_or_else(|| ExecError::DType("tiles need f32 feature maps".into()))
}

/// The rows x cols region of an NCHW tensor.
pub fn crop_nchw(
    t: &HostTensor,
    rows: Range<usize>,
    cols: Range<usize>,
) -> Result<HostTensor, ExecError> {
    let [n, c, h, w]: [usize; 4] = t
        .shape
        .clone()
        .try_into()
        .map_err(|_| ExecError::DType(format!("expected NCHW, got {:?}", t.shape)))?;
    if rows.end > h || cols.end > w || rows.start > rows.end || cols.start > cols.end {
        return Err(ExecError::BadTensor {
            shape: t.shape.clone(),
            expected: rows.end.max(cols.end),
            got: h.min(w),
        });
    }
    let data = f32_of(t)?;
    let mut out = Vec::with_capacity(n * c * rows.len() * cols.len());
    for plane in 0..n * c {
        for y in rows.clone() {
            let base = plane * h * w + y * w;
            out.extend_from_slice(&data[base + cols.start..base + cols.end]);
        }
    }
    HostTensor::f32(vec![n, c, rows.len(), cols.len()], out)
}

/// Assembles an NCHW tensor of `shape` from tiles placed at (rows, cols).
pub fn stitch_nchw(
    shape: [usize; 4],
    pieces: &[(Range<usize>, Range<usize>, HostTensor)],
) -> Result<HostTensor, ExecError> {
    let [n, c, h, w] = shape;
    let mut out = vec![f32::NAN; n * c * h * w];
    let mut covered = 0;
    for (rows, cols, t) in pieces {
        if t.shape != [n, c, rows.len(), cols.len()] || rows.end > h || cols.end > w {
            return Err(ExecError::BadTensor {
                shape: t.shape.clone(),
                expected: n * c * rows.len() * cols.len(),
                got: t.len(),
            });
        }
        let data = f32_of(t)?;
        for plane in 0..n * c {
            for (dy, y) in rows.clone().enumerate() {
                let src = plane * rows.len() * cols.len() + dy * cols.len();
                let dst = plane * h * w + y * w + cols.start;
                out[dst..dst + cols.len()].copy_from_slice(&data[src..src + cols.len()]);
            }
        }
        covered += rows.len() * cols.len();
    }
    if covered != h * w {
        return Err(ExecError::BadTensor {
            shape: shape.to_vec(),
            expected: h * w,
            got: covered,
        });
    }
    HostTensor::f32(shape.to_vec(), out)
}

/// One tile ready to run: its model, the input region it reads and the output region it makes.
pub struct TileJob {
    /// The tile's sub-model: one input (the cropped region) and one output (its piece of the
    /// output map).
    pub model: Box<dyn LoadedModel>,
    /// Rows and columns of the run's input map that the tile reads, halo included.
    pub input: Region,
    /// Rows and columns of the stitched output map that the tile produces.
    pub output: Region,
}

/// Runs the tiles of one run of layers one after another (the distributed runtime runs them on
/// different nodes) and stitches their outputs.
pub struct TiledRunner {
    /// The tiles, run in this order; their output regions must together cover the output map.
    pub jobs: Vec<TileJob>,
    /// NCHW shape of the stitched output.
    pub output_shape: [usize; 4],
}

impl TiledRunner {
    /// Loads one model per tile from (ONNX bytes, input region, output region), keeping the given
    /// order; `output_shape` is the NCHW shape of the stitched result.
    pub fn load(
        executor: &dyn Executor,
        tiles: &[(Vec<u8>, Region, Region)],
        output_shape: [usize; 4],
    ) -> Result<TiledRunner, ExecError> {
        let jobs = tiles
            .iter()
            .map(|(bytes, input, output)| {
                Ok(TileJob {
                    model: executor.load(bytes, &[])?,
                    input: input.clone(),
                    output: output.clone(),
                })
            })
            .collect::<Result<_, ExecError>>()?;
        Ok(TiledRunner { jobs, output_shape })
    }

    /// Crops each tile's input region out of `input` (an f32 NCHW map), runs the tile and stitches
    /// the tile outputs into one map of `output_shape`.
    pub fn run(&self, input: &HostTensor) -> Result<HostTensor, ExecError> {
        let mut pieces = Vec::with_capacity(self.jobs.len());
        for job in &self.jobs {
            let region = crop_nchw(input, job.input.0.clone(), job.input.1.clone())?;
            let out = job
                .model
                .run(vec![region])?
                .into_iter()
                .next()
                .ok_or_else(|| ExecError::MissingTensor("tile output".into()))?;
            pieces.push((job.output.0.clone(), job.output.1.clone(), out));
        }
        stitch_nchw(self.output_shape, &pieces)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_and_stitch_round_trip() {
        let t = HostTensor::f32(vec![1, 2, 5, 4], (0..40).map(|v| v as f32).collect()).unwrap();
        let pieces: Vec<_> = [(0..2, 0..4), (2..5, 0..1), (2..5, 1..4)]
            .into_iter()
            .map(|(r, c)| {
                let p = crop_nchw(&t, r.clone(), c.clone()).unwrap();
                (r, c, p)
            })
            .collect();
        assert_eq!(stitch_nchw([1, 2, 5, 4], &pieces).unwrap(), t);
        assert!(
            stitch_nchw([1, 2, 5, 4], &pieces[..2]).is_err(),
            "a gap is an error"
        );
        assert_eq!(
            crop_nchw(&t, 1..2, 2..4).unwrap().as_f32().unwrap(),
            &[6.0, 7.0, 26.0, 27.0]
        );
    }
}
