use crate::input_args::InputArgs;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use tiersplit_session::{
    load_unsplit, model_inputs, run_named, top_classes, write_npy, ModelSource,
};

#[derive(clap::Args)]
pub struct Args {
    /// An .onnx file, or zoo:NAME for a built-in model.
    model: String,
    #[command(flatten)]
    inputs: InputArgs,
    /// Write the first output as .npy.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Class names, one per line, for the top-5 listing.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Seed of the random input used when neither --image nor --input is given.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let source = ModelSource::open(&a.model)?;
    let model = source.import(&a.inputs.import_options())?;
    let inputs = model_inputs(&model, &a.inputs.choice(a.seed))?;
    let loaded = load_unsplit(&source, &model)?;
    let start = Instant::now();
    let outputs = run_named(loaded.as_ref(), &inputs)?;
    let elapsed = start.elapsed();
    let labels: Option<Vec<String>> = match &a.labels {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("reading {}", p.display()))?
                .lines()
                .map(str::to_string)
                .collect(),
        ),
        None => None,
    };
    for (name, t) in loaded.output_names().iter().zip(&outputs) {
        println!("output {name} {:?}", t.shape);
        for (i, logit, p) in top_classes(t, 5) {
            let label = labels
                .as_ref()
                .and_then(|l| l.get(i))
                .map(String::as_str)
                .unwrap_or("");
            println!("  class {i:>4}  logit {logit:>9.4}  p {p:.3}  {label}");
        }
    }
    println!(
        "inference took {:.1} ms (tract, unsplit)",
        elapsed.as_secs_f64() * 1e3
    );
    if let Some(p) = &a.output {
        write_npy(p, &outputs[0])?;
        println!("wrote {}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}
