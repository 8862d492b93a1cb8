//! A model run with one tileable run executed tile by tile (halo tiles scattered, run and
//! stitched), everything else as ordinary partitions before and after it: the exactness check
//! of vertical separation, and its halo overhead.

use crate::compile::nchw_shape;
use crate::engine::{load_unsplit, model_inputs, run_named, InputChoice, NamedTensor};
use crate::error::{Context, Result, SessionError};
use crate::source::ModelSource;
use std::collections::{HashMap, HashSet};
use tiersplit_exec::{Difference, Executor, HostTensor, TiledRunner, TractExecutor};
use tiersplit_graph::{LayerId, Partitioning};
use tiersplit_onnx::{OnnxModel, TiledRun};
use tiersplit_tile::Grid;

/// How the output of a tiled run is cut.
#[derive(Debug, Clone)]
pub enum GridSpec {
    /// Rows by columns of even tiles.
    Even(usize, usize),
    /// One row of tiles per node, heights in proportion to these node speeds.
    Rows(Vec<f64>),
}

/// A run of layers executed tile by tile inside its model, against the unsplit model.
pub struct TileCheck {
    /// The run's layers, its tile geometry and tile models.
    pub tiled: TiledRun,
    /// The tiles of the run's output.
    pub grid: Grid,
    /// The model's outputs with the run tiled, against the unsplit model's.
    pub diff: Difference,
    /// The halo's extra FLOPs: [`flops_overhead`].
    pub flops: f64,
}

impl TileCheck {
    /// Cuts `run` (one of `model`'s tileable runs) as `grid` says and runs the model with it
    /// tiled on the inputs `choice` gives, checked against the unsplit model from `source`.
    pub fn run(
        source: &ModelSource,
        model: &OnnxModel,
        run: &[LayerId],
        grid: &GridSpec,
        choice: &InputChoice,
    ) -> Result<TileCheck> {
        let g = &model.graph;
        let last = run
            .last()
            .ok_or_else(|| SessionError::invalid("the run to tile has no layer"))?;
        let out = g.tensor(g.layer(*last).outputs[0]);
        let (oh, ow) = (out.shape[2], out.shape[3]);
        let grid = match grid {
            GridSpec::Even(rows, cols) => Grid::even(oh, ow, *rows, *cols),
            GridSpec::Rows(speeds) => Grid::weighted_rows(oh, ow, speeds),
        }
        .map_err(|e| {
            SessionError::invalid(format!(
                "grid does not fit the {oh}x{ow} output of the run: {e}"
            ))
        })?;
        let tiled = model.tiled_run(run, &grid)?;
        let inputs = model_inputs(model, choice)?;
        let reference = run_named(load_unsplit(source, model)?.as_ref(), &inputs)?;
        let result = run_tiled(model, &tiled, &inputs, &TractExecutor::default())?;
        Ok(TileCheck {
            diff: Difference::between(&result, &reference),
            flops: flops_overhead(model, &tiled),
            tiled,
            grid,
        })
    }
}

/// Runs `model` on `inputs` with `tiled` executed tile by tile, every piece on `executor`; the
/// graph outputs, in order.
pub fn run_tiled(
    model: &OnnxModel,
    tiled: &TiledRun,
    inputs: &[NamedTensor],
    executor: &dyn Executor,
) -> Result<Vec<HostTensor>> {
    let g = &model.graph;
    let in_run: HashSet<LayerId> = tiled.layers.iter().copied().collect();
    let first = tiled.layers[0];
    let outside = |before: bool| -> Vec<LayerId> {
        g.layers
            .iter()
            .map(|l| l.id)
            .filter(|l| (*l < first) == before && *l != first && !in_run.contains(l))
            .collect()
    };
    let (before, after) = (outside(true), outside(false));
    let parts: Vec<Vec<LayerId>> = [before.clone(), tiled.layers.clone(), after.clone()]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    Partitioning::new(g, parts)
        .context("the layers around the tiled run do not form legal partitions")?;
    let mut env: HashMap<String, HostTensor> = inputs.iter().cloned().collect();
    run_part(model, &before, &mut env, executor)?;
    let input = env
        .get(&g.tensor(tiled.input).name)
        .ok_or_else(|| SessionError::invalid("the tiled run's input was not computed"))?
        .clone();
    let stitched = tile_runner(model, tiled, executor)?.run(&input)?;
    env.insert(g.tensor(tiled.output).name.clone(), stitched);
    run_part(model, &after, &mut env, executor)?;
    g.outputs
        .iter()
        .map(|&t| {
            env.remove(&g.tensor(t).name)
                .ok_or_else(|| SessionError::invalid("a graph output was not produced"))
        })
        .collect()
}

/// Runs `part` as one sub-model on the tensors in `env`, adding its outputs to it.
fn run_part(
    model: &OnnxModel,
    part: &[LayerId],
    env: &mut HashMap<String, HostTensor>,
    executor: &dyn Executor,
) -> Result<()> {
    if part.is_empty() {
        return Ok(());
    }
    let m = executor.load(&model.sub_model_bytes(part)?, &[])?;
    let args: Vec<NamedTensor> = env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let outs = run_named(m.as_ref(), &args)?;
    for (name, t) in m.output_names().iter().zip(outs) {
        env.insert(name.clone(), t);
    }
    Ok(())
}

/// The tile models loaded, with each tile's input region and output region.
fn tile_runner(
    model: &OnnxModel,
    tiled: &TiledRun,
    executor: &dyn Executor,
) -> Result<TiledRunner> {
    let out_shape = nchw_shape(&model.graph, tiled.output)
        .ok_or_else(|| SessionError::invalid("the tiled run's output is not NCHW"))?;
    let r = |s: tiersplit_tile::Span| s.start as usize..s.end as usize;
    let jobs: Vec<_> = tiled
        .plan
        .tiles
        .iter()
        .zip(&tiled.tile_models)
        .map(|(t, bytes)| {
            let (ir, ic) = t.input();
            let (or, oc) = t.output();
            (bytes.clone(), (r(ir), r(ic)), (r(or), r(oc)))
        })
        .collect();
    Ok(TiledRunner::load(executor, &jobs, out_shape)?)
}

/// FLOPs of the tiled run's layers over the unsplit run's: every tile's share of each layer
/// by output area, halos included (1 = no overhead).
pub fn flops_overhead(model: &OnnxModel, tiled: &TiledRun) -> f64 {
    let g = &model.graph;
    let plan = &tiled.plan;
    let run_flops: u64 = tiled.layers.iter().map(|&l| g.layer(l).flops.0).sum();
    let tiled_flops: f64 = tiled
        .layers
        .iter()
        .enumerate()
        .map(|(k, &l)| {
            let (h, w) = plan.sizes[k + 1];
            let area: u64 = plan
                .tiles
                .iter()
                .map(|t| t.layers[k].output_rows.len() * t.layers[k].output_cols.len())
                .sum();
            g.layer(l).flops.0 as f64 * area as f64 / (h * w) as f64
        })
        .sum();
    tiled_flops / run_flops.max(1) as f64
}
