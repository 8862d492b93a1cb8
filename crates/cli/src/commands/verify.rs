use crate::input_args::InputArgs;
use anyhow::Result;
use serde_json::json;
use std::process::ExitCode;
use tiersplit_exec::Difference;
use tiersplit_graph::Partitioning;
use tiersplit_session::{load_chain, load_unsplit, model_inputs, run_named, ModelSource};

#[derive(clap::Args)]
pub struct Args {
    /// An .onnx file, or zoo:NAME for a built-in model.
    model: String,
    #[command(flatten)]
    inputs: InputArgs,
    /// Number of random legal partitions.
    #[arg(long, default_value_t = 3)]
    partitions: usize,
    /// Seed of the partitioning (and of the random input).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let source = ModelSource::open(&a.model)?;
    let model = source.import(&a.inputs.import_options())?;
    let g = &model.graph;
    let partitioning = Partitioning::random(g, a.partitions, a.seed)?;
    let inputs = model_inputs(&model, &a.inputs.choice(a.seed))?;
    let reference = run_named(load_unsplit(&source, &model)?.as_ref(), &inputs)?;
    let chain = load_chain(&model, &partitioning)?;
    let (split, timings) = chain.run(inputs)?;
    let diff = Difference::between(&split, &reference);
    let ok = diff.within_tolerance();
    let top1 = |ts: &[tiersplit_exec::HostTensor]| {
        ts.first()
            .filter(|t| t.shape.len() == 2 && t.shape[0] == 1)
            .and_then(|t| t.argmax())
    };
    if a.json {
        let out = json!({
            "model": source.label,
            "partitions": partitioning.parts.iter().map(|p| p.iter().map(|&l| g.layer(l).name.clone()).collect::<Vec<_>>()).collect::<Vec<_>>(),
            "seed": a.seed,
            "max_abs_diff": diff.max_abs,
            "max_rel_diff": diff.max_rel,
            "tolerance_rel": Difference::TOLERANCE,
            "values": diff.elements,
            "part_ms": timings.iter().map(|t| t.elapsed.as_secs_f64() * 1e3).collect::<Vec<_>>(),
            "top1_unsplit": top1(&reference),
            "top1_split": top1(&split),
            "pass": ok,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{}: {} layers cut into {} random legal partitions (seed {})",
            source.label,
            g.layers.len(),
            partitioning.parts.len(),
            a.seed
        );
        for (part, t) in partitioning.parts.iter().zip(&timings) {
            println!(
                "  part {}: {:>4} layers  {:>8.2} ms",
                t.part,
                part.len(),
                t.elapsed.as_secs_f64() * 1e3
            );
        }
        if let (Some(r), Some(s)) = (top1(&reference), top1(&split)) {
            println!("  top-1 class: unsplit {r}, split {s}");
        }
        println!(
            "  {diff}; tolerance {:.0e} relative: {}",
            Difference::TOLERANCE,
            if ok { "PASS" } else { "FAIL" }
        );
    }
    Ok(crate::exit_code(ok))
}
