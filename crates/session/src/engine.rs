//! What every run of a model shares: its inputs, the unsplit reference run and the chained
//! split run, on an engine.

use crate::error::{Context, Result, SessionError};
use crate::median::median;
use crate::npy::read_npy;
use crate::preprocess::{image_tensor, Preprocess};
use crate::source::ModelSource;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::time::Instant;
use tiersplit_exec::{ChainRunner, Executor, HostTensor, LoadedModel, TractExecutor};
use tiersplit_graph::Partitioning;
use tiersplit_onnx::OnnxModel;

/// A graph input's name and value.
pub type NamedTensor = (String, HostTensor);

/// Where input values come from.
#[derive(Debug, Clone, Default)]
pub struct InputChoice<'a> {
    /// An image, preprocessed to the model's single input.
    pub image: Option<&'a Path>,
    /// A `.npy` tensor of the model's single input's shape.
    pub npy: Option<&'a Path>,
    /// How an image becomes the input tensor (with `image` only).
    pub preprocess: Preprocess,
    /// Seed of the random values used when there is neither.
    pub seed: u64,
}

impl InputChoice<'static> {
    /// Seeded random values, no image or file.
    pub fn random(seed: u64) -> InputChoice<'static> {
        InputChoice {
            seed,
            ..InputChoice::default()
        }
    }
}

/// One tensor per graph input: the image or .npy for a single-input model, otherwise seeded
/// uniform values in [-1, 1].
pub fn model_inputs(model: &OnnxModel, choice: &InputChoice) -> Result<Vec<NamedTensor>> {
    let g = &model.graph;
    if (choice.image.is_some() || choice.npy.is_some()) && g.inputs.len() != 1 {
        return Err(SessionError::invalid(format!(
            "an image or .npy input needs a single-input model; this one has {}",
            g.inputs.len()
        )));
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
                let t = read_npy(p)?;
                if t.shape != shape {
                    return Err(SessionError::invalid(format!(
                        "{}: shape {:?} does not match model input '{}' {:?}",
                        p.display(),
                        t.shape,
                        info.name,
                        shape
                    )));
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

/// The original file loaded whole on tract, with the graph inputs fixed to the imported
/// shapes: the reference every split run is compared with.
pub fn load_unsplit(source: &ModelSource, model: &OnnxModel) -> Result<Box<dyn LoadedModel>> {
    load_unsplit_on(&TractExecutor::default(), source, model)
}

/// [`load_unsplit`] on any engine.
pub fn load_unsplit_on(
    executor: &dyn Executor,
    source: &ModelSource,
    model: &OnnxModel,
) -> Result<Box<dyn LoadedModel>> {
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
    // No engine runs an opset-6 file as it is: its opset-7 reading stands in for it.
    let read;
    let bytes = match model.read_from_opset6() {
        true => {
            read = model.to_bytes();
            &read
        }
        false => &source.bytes,
    };
    executor
        .load(bytes, &shapes)
        .with_context(|| format!("loading {} unsplit", source.label))
}

/// Runs a loaded model on named inputs, returning outputs in the model's output order.
pub fn run_named(m: &dyn LoadedModel, inputs: &[NamedTensor]) -> Result<Vec<HostTensor>> {
    let args = m
        .input_names()
        .iter()
        .map(|n| {
            inputs
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, t)| t.clone())
                .ok_or_else(|| SessionError::invalid(format!("no value for input '{n}'")))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(m.run(args)?)
}

/// Loads every part of a partitioning as its own sub-model on tract, chained.
pub fn load_chain(model: &OnnxModel, p: &Partitioning) -> Result<ChainRunner> {
    load_chain_on(&TractExecutor::default(), model, p)
}

/// [`load_chain`] on any engine.
pub fn load_chain_on(
    executor: &dyn Executor,
    model: &OnnxModel,
    p: &Partitioning,
) -> Result<ChainRunner> {
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
    Ok(ChainRunner::load(executor, &parts, outputs)?)
}

/// The unsplit model's outputs on `inputs` (the reference) and its median time here over
/// `runs` runs after that first one (ms).
pub fn time_unsplit(
    m: &dyn LoadedModel,
    inputs: &[NamedTensor],
    runs: usize,
) -> Result<(Vec<HostTensor>, f64)> {
    let reference = run_named(m, inputs)?;
    let mut times = Vec::new();
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        run_named(m, inputs)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok((reference, median(times)))
}

/// The `k` classes of highest logit of a classifier's output (shape 1 x N, N > 1), each as
/// (class, logit, softmax probability); none for any other output.
pub fn top_classes(t: &HostTensor, k: usize) -> Vec<(usize, f32, f32)> {
    let v = t.to_f32();
    if t.shape.len() != 2 || t.shape[0] != 1 || v.len() < 2 {
        return Vec::new();
    }
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&x, &y| v[y].total_cmp(&v[x]));
    let max = v[idx[0]];
    let z: f32 = v.iter().map(|&x| (x - max).exp()).sum();
    idx.into_iter()
        .take(k)
        .map(|i| (i, v[i], (v[i] - max).exp() / z))
        .collect()
}
