//! The input options every command that runs a model shares.

use std::path::PathBuf;
use tiersplit_onnx::ImportOptions;
use tiersplit_session::{InputChoice, Preprocess};

/// How an image becomes a tensor.
#[derive(Debug, Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub enum PreprocessArg {
    /// ImageNet: shorter side to 256/224 of the input size (bilinear), centre crop, scale to
    /// 0 to 1, normalise with the ImageNet mean and std.
    Imagenet,
    /// Plain: resize to the input size, scale to 0 to 1 (Darknet/YOLO style).
    Unit,
}

impl From<PreprocessArg> for Preprocess {
    fn from(p: PreprocessArg) -> Preprocess {
        match p {
            PreprocessArg::Imagenet => Preprocess::Imagenet,
            PreprocessArg::Unit => Preprocess::Unit,
        }
    }
}

#[derive(clap::Args)]
pub struct InputArgs {
    /// An image (PNG or JPEG), preprocessed to the model's input size.
    #[arg(long, conflicts_with = "input")]
    pub image: Option<PathBuf>,
    /// A float32 .npy tensor of the model's input shape (default: seeded random values).
    #[arg(long)]
    pub input: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "imagenet")]
    pub preprocess: PreprocessArg,
    /// Fix input shapes: 1,3,224,224 (the only input) or NAME=1,3,224,224; repeatable.
    #[arg(long = "input-shape", value_parser = parse_input_shape)]
    pub input_shape: Vec<(Option<String>, Vec<u64>)>,
}

impl InputArgs {
    pub fn import_options(&self) -> ImportOptions {
        import_options(&self.input_shape)
    }

    pub fn choice(&self, seed: u64) -> InputChoice<'_> {
        InputChoice {
            image: self.image.as_deref(),
            npy: self.input.as_deref(),
            preprocess: self.preprocess.into(),
            seed,
        }
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
        evaluator: None,
    }
}
