//! `tiersplit tile`: a run of convolution layers cut into halo tiles, run, stitched, checked.

use crate::input_args::InputArgs;
use anyhow::{bail, Result};
use serde_json::json;
use std::process::ExitCode;
use tiersplit_session::{GridSpec, ModelSource, TileCheck};

#[derive(clap::Args)]
pub struct Args {
    /// An .onnx file, or zoo:NAME for a built-in model.
    model: String,
    #[command(flatten)]
    inputs: InputArgs,
    /// Output grid ROWSxCOLS, e.g. 2x2.
    #[arg(long, default_value = "2x2", value_parser = parse_grid)]
    grid: (usize, usize),
    /// Instead of --grid: one row of tiles per node, heights in proportion to these node
    /// speeds, e.g. 1,3.
    #[arg(long, value_delimiter = ',', conflicts_with = "grid")]
    weights: Vec<f64>,
    /// Tile only the first N layers of the run.
    #[arg(long)]
    layers: Option<usize>,
    /// Which tileable run: 0 is the longest.
    #[arg(long, default_value_t = 0)]
    run: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long)]
    json: bool,
}

fn parse_grid(s: &str) -> Result<(usize, usize), String> {
    let (r, c) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("grid '{s}' is not ROWSxCOLS"))?;
    let p = |v: &str| {
        v.trim()
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("'{v}' in grid '{s}' is not a positive number"))
    };
    Ok((p(r)?, p(c)?))
}

pub fn run(a: Args) -> Result<ExitCode> {
    let source = ModelSource::open(&a.model)?;
    let model = source.import(&a.inputs.import_options())?;
    let g = &model.graph;
    let runs = model.tileable_runs();
    let Some(mut run) = runs.get(a.run).cloned() else {
        bail!("the model has {} tileable runs (chains of Conv, pooling and per-element layers on NCHW maps); --run {} does not exist", runs.len(), a.run);
    };
    if let Some(n) = a.layers {
        run.truncate(n.max(1));
    }
    let grid = if a.weights.is_empty() {
        GridSpec::Even(a.grid.0, a.grid.1)
    } else {
        GridSpec::Rows(a.weights.clone())
    };
    let TileCheck {
        tiled,
        grid,
        diff,
        flops,
    } = TileCheck::run(&source, &model, &run, &grid, &a.inputs.choice(a.seed))?;
    let ok = diff.within_tolerance();
    // Halo overhead: FLOPs of every tile's layers over the unsplit run's, bytes sent to tiles
    // over the run input's bytes.
    let (plan, out) = (&tiled.plan, g.tensor(tiled.output));
    let input_bytes = g.tensor(tiled.input).bytes().0 as f64;
    if a.json {
        let tiles: Vec<_> = plan
            .tiles
            .iter()
            .map(|t| {
                let (ir, ic) = t.input();
                let (or, oc) = t.output();
                json!({"row": t.row, "col": t.col, "input_rows": [ir.start, ir.end], "input_cols": [ic.start, ic.end], "output_rows": [or.start, or.end], "output_cols": [oc.start, oc.end]})
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "model": source.label,
                "layers": run.iter().map(|&l| g.layer(l).name.clone()).collect::<Vec<_>>(),
                "grid": {"rows": grid.rows, "cols": grid.cols},
                "tiles": tiles,
                "flops_overhead": flops,
                "input_bytes_overhead": plan.input_overhead(),
                "max_abs_diff": diff.max_abs,
                "max_rel_diff": diff.max_rel,
                "pass": ok,
            }))?
        );
    } else {
        println!(
            "{}: tiling {} layers ({} .. {}), input {:?} -> output {:?}, grid rows {:?} cols {:?}",
            source.label,
            run.len(),
            g.layer(run[0]).name,
            g.layer(*run.last().unwrap()).name,
            g.tensor(tiled.input).shape,
            out.shape,
            grid.rows,
            grid.cols
        );
        for t in &plan.tiles {
            let (ir, ic) = t.input();
            let (or, oc) = t.output();
            println!(
                "  tile ({}, {}): reads rows {}..{} cols {}..{}, makes rows {}..{} cols {}..{}",
                t.row,
                t.col,
                ir.start,
                ir.end,
                ic.start,
                ic.end,
                or.start,
                or.end,
                oc.start,
                oc.end
            );
        }
        println!(
            "  halo overhead: {:.1}% extra FLOPs in the run, {:.1}% extra input bytes ({:.0} kB sent vs {:.0} kB)",
            (flops - 1.0) * 100.0,
            (plan.input_overhead() - 1.0) * 100.0,
            input_bytes * plan.input_overhead() / 1e3,
            input_bytes / 1e3
        );
        println!(
            "  exactness vs unsplit: {diff}: {}",
            if ok { "PASS" } else { "FAIL" }
        );
    }
    Ok(crate::exit_code(ok))
}
