use crate::model_source::parse_input_shape;
use crate::preprocess::Preprocess;
use crate::split_exec::InputChoice;
use std::path::PathBuf;
use tiersplit_onnx::ImportOptions;

/// The input options every command that runs a model shares.
#[derive(clap::Args)]
pub struct InputArgs {
    /// An image (PNG or JPEG), preprocessed to the model's input size.
    #[arg(long, conflicts_with = "input")]
    pub image: Option<PathBuf>,
    /// A float32 .npy tensor of the model's input shape (default: seeded random values).
    #[arg(long)]
    pub input: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "imagenet")]
    pub preprocess: Preprocess,
    /// Fix input shapes: 1,3,224,224 (the only input) or NAME=1,3,224,224; repeatable.
    #[arg(long = "input-shape", value_parser = parse_input_shape)]
    pub input_shape: Vec<(Option<String>, Vec<u64>)>,
}

impl InputArgs {
    pub fn import_options(&self) -> ImportOptions {
        ImportOptions {
            input_shapes: self.input_shape.clone(),
        }
    }

    pub fn choice(&self, seed: u64) -> InputChoice<'_> {
        InputChoice {
            image: self.image.as_deref(),
            npy: self.input.as_deref(),
            preprocess: self.preprocess,
            seed,
        }
    }
}
