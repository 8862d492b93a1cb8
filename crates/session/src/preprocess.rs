//! Images made into a model's input tensor.

use crate::error::{Result, SessionError};
use image::imageops::FilterType;
use std::path::Path;
use tiersplit_exec::HostTensor;

/// How an image becomes a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preprocess {
    /// ImageNet: shorter side to 256/224 of the input size (bilinear), centre crop, scale to
    /// 0 to 1, normalise with the ImageNet mean and std.
    #[default]
    Imagenet,
    /// Plain: resize to the input size, scale to 0 to 1 (Darknet/YOLO style).
    Unit,
}

const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Loads an image as an NCHW f32 tensor of `shape` = [1, 3, H, W].
pub fn image_tensor(path: &Path, shape: &[u64], mode: Preprocess) -> Result<HostTensor> {
    if shape.len() != 4 || shape[0] != 1 || shape[1] != 3 {
        return Err(SessionError::invalid(format!(
            "an image needs a model input of shape [1,3,H,W], this one is {shape:?}"
        )));
    }
    let (h, w) = (shape[2] as u32, shape[3] as u32);
    let img = image::open(path)
        .map_err(|e| SessionError::invalid(format!("reading image {}: {e}", path.display())))?
        .to_rgb8();
    let img = match mode {
        Preprocess::Imagenet => {
            let short = ((h.min(w) as f64) * 256.0 / 224.0).round() as u32;
            let (iw, ih) = img.dimensions();
            let (rw, rh) = if iw <= ih {
                (
                    short,
                    ((ih as f64) * short as f64 / iw as f64).round() as u32,
                )
            } else {
                (
                    ((iw as f64) * short as f64 / ih as f64).round() as u32,
                    short,
                )
            };
            let resized = image::imageops::resize(&img, rw, rh, FilterType::Triangle);
            let (x0, y0) = ((rw - w) / 2, (rh - h) / 2);
            image::imageops::crop_imm(&resized, x0, y0, w, h).to_image()
        }
        Preprocess::Unit => image::imageops::resize(&img, w, h, FilterType::Triangle),
    };
    let plane = (h * w) as usize;
    let mut data = vec![0f32; 3 * plane];
    for (x, y, p) in img.enumerate_pixels() {
        for c in 0..3 {
            let v = p[c] as f32 / 255.0;
            data[c * plane + (y * w + x) as usize] = match mode {
                Preprocess::Imagenet => (v - MEAN[c]) / STD[c],
                Preprocess::Unit => v,
            };
        }
    }
    Ok(HostTensor::f32(vec![1, 3, h as usize, w as usize], data)?)
}
