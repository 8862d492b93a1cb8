//! Split overhead: a model run whole against the same model run as K chained partitions.

use crate::engine::{load_chain, load_unsplit, model_inputs, run_named, InputChoice};
use crate::error::Result;
use crate::median::median;
use crate::source::ModelSource;
use std::time::Instant;
use tiersplit_graph::Partitioning;
use tiersplit_onnx::ImportOptions;

/// One model's split overhead.
#[derive(Debug, Clone)]
pub struct EngineRow {
    /// Layers in the imported model.
    pub layers: usize,
    /// Median unsplit time (ms).
    pub unsplit_ms: f64,
    /// Median time over unsplit time, per configuration: the imported model as one part,
    /// then K random legal parts for each K, then K FLOP-balanced parts for each K.
    pub ratios: Vec<f64>,
}

/// Measures `source` whole and in every configuration, `rounds` interleaved rounds after a
/// warm-up run of each.
pub fn split_overhead(
    source: &ModelSource,
    rounds: usize,
    splits: &[usize],
    seed: u64,
) -> Result<EngineRow> {
    let model = source.import(&ImportOptions::default())?;
    let g = &model.graph;
    let inputs = model_inputs(&model, &InputChoice::random(seed))?;
    let unsplit = load_unsplit(source, &model)?;
    let mut configs = vec![Partitioning::random(g, 1, seed)?];
    for &k in splits {
        configs.push(Partitioning::random(g, k.min(g.layers.len()), seed)?);
    }
    for &k in splits {
        configs.push(
            Partitioning::balanced(g, k)
                .or_else(|_| Partitioning::random(g, k.min(g.layers.len()), seed))?,
        );
    }
    let chains = configs
        .iter()
        .map(|p| load_chain(&model, p))
        .collect::<Result<Vec<_>>>()?;
    run_named(unsplit.as_ref(), &inputs)?;
    for c in &chains {
        c.run(inputs.clone())?;
    }
    // Paired measurement: each round times the unsplit model and then every configuration,
    // and the ratio is taken within the round, so slow drifts of a shared machine cancel.
    let mut base = Vec::new();
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); chains.len()];
    for _ in 0..rounds.max(1) {
        let t = Instant::now();
        run_named(unsplit.as_ref(), &inputs)?;
        let b = t.elapsed().as_secs_f64() * 1e3;
        base.push(b);
        for (i, c) in chains.iter().enumerate() {
            let ins = inputs.clone();
            let t = Instant::now();
            c.run(ins)?;
            ratios[i].push(t.elapsed().as_secs_f64() * 1e3 / b);
        }
    }
    Ok(EngineRow {
        layers: g.layers.len(),
        unsplit_ms: median(base),
        ratios: ratios.into_iter().map(median).collect(),
    })
}
