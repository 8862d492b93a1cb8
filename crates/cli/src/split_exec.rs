//! The pieces every command that runs a model shares: inputs, the unsplit reference run and
//! the chained split run.

use crate::model_source::ModelSource;
use crate::preprocess::{image_tensor, Preprocess};
use anyhow::{bail, Context, Result};
use rand::{Rng, SeedableRng};
use std::path::Path;
use tiersplit_exec::{ChainRunner, Executor, HostTensor, LoadedModel, TractExecutor};
use tiersplit_graph::Partitioning;
use tiersplit_onnx::OnnxModel;

/// Where input values come from.
pub struct InputChoice<'a> {
    pub image: Option<&'a Path>,
    pub npy: Option<&'a Path>,
    pub preprocess: Preprocess,
    pub seed: u64,
}

impl InputChoice<'static> {
    /// Seeded random values, no image or file.
    pub fn random(seed: u64) -> InputChoice<'static> {
        InputChoice {
            image: None,
            npy: None,
            preprocess: Preprocess::Imagenet,
            seed,
        }
    }
}

/// One tensor per graph input: the image or .npy for a single-input model, otherwise seeded
/// uniform values in [-1, 1].
pub fn model_inputs(model: &OnnxModel, choice: &InputChoice) -> Result<Vec<(String, HostTensor)>> {
    let g = &model.graph;
    if (choice.image.is_some() || choice.npy.is_some()) && g.inputs.len() != 1 {
        bail!(
            "--image and --input need a single-input model; this one has {}",
            g.inputs.len()
        );
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(choice.seed);
    g.inputs
        .iter()
        .map(|&t| {
            let info = g.tensor(t);
            let shape: Vec<usize> = info.shape.iter().map(|&d| d as usize).collect();
            let tensor = if let Some(p) = choice.image {
                image_tensor(p, &info.shape, choice.preprocess)?
            } else if let Some(p) = choice.npy {
                let t = crate::npy::read(p)?;
                if t.shape != shape {
                    bail!(
                        "{}: shape {:?} does not match model input '{}' {:?}",
                        p.display(),
                        t.shape,
                        info.name,
                        shape
                    );
                }
                t
            } else {
                let n = shape.iter().product();
                HostTensor::f32(
                    shape,
                    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect(),
                )?
            };
            Ok((info.name.clone(), tensor))
        })
        .collect()
}

/// The original file loaded whole, with the graph inputs fixed to the imported shapes: the
/// reference every split run is compared with.
pub fn load_unsplit(source: &ModelSource, model: &OnnxModel) -> Result<Box<dyn LoadedModel>> {
    let g = &model.graph;
    let shapes: Vec<(String, Vec<usize>)> = g
        .inputs
        .iter()
        .map(|&t| {
            (
                g.tensor(t).name.clone(),
                g.tensor(t).shape.iter().map(|&d| d as usize).collect(),
            )
        })
        .collect();
    TractExecutor
        .load(&source.bytes, &shapes)
        .with_context(|| format!("loading {} unsplit", source.label))
}

/// Runs a loaded model on named inputs, returning outputs in the model's output order.
pub fn run_named(m: &dyn LoadedModel, inputs: &[(String, HostTensor)]) -> Result<Vec<HostTensor>> {
    let args = m
        .input_names()
        .iter()
        .map(|n| {
            inputs
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, t)| t.clone())
                .with_context(|| format!("no value for input '{n}'"))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(m.run(args)?)
}

/// Loads every part of a partitioning as its own sub-model, chained.
pub fn load_chain(model: &OnnxModel, p: &Partitioning) -> Result<ChainRunner> {
    let parts = p
        .parts
        .iter()
        .map(|part| model.sub_model_bytes(part))
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = model
        .graph
        .outputs
        .iter()
        .map(|&t| model.graph.tensor(t).name.clone())
        .collect();
    Ok(ChainRunner::load(&TractExecutor, &parts, outputs)?)
}
