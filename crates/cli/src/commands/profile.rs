use crate::input_args::{import_options, parse_input_shape};
use crate::progress_bar::Bar;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;
use tiersplit_session::{measure, ModelSource};

#[derive(clap::Args)]
pub struct Args {
    /// An .onnx file, or zoo:NAME for a built-in model.
    model: String,
    /// Where to write the profile (JSON).
    #[arg(short, long)]
    output: PathBuf,
    /// Measured runs per layer and per segment, after one warm-up run.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Calibration segments (FLOP-balanced runs of layers measured whole).
    #[arg(long, default_value_t = 8)]
    segments: usize,
    #[arg(long = "input-shape", value_parser = parse_input_shape)]
    input_shape: Vec<(Option<String>, Vec<u64>)>,
    #[command(flatten)]
    engine: crate::engine_args::EngineArgs,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let source = ModelSource::open(&a.model)?;
    let model = source.import(&import_options(&a.input_shape))?;
    let engine = a.engine.spec()?;
    let profile = measure(
        &source,
        &model,
        a.repeats,
        a.segments,
        &engine,
        &mut Bar::new(),
    )?;
    let sum_measured: f64 = profile.layers.iter().map(|l| l.measured_ms).sum();
    let sum: f64 = profile.layers.iter().map(|l| l.ms).sum();
    std::fs::write(&a.output, serde_json::to_string_pretty(&profile)?)
        .with_context(|| format!("writing {}", a.output.display()))?;
    println!(
        "{}: {} layers on {} ({engine}); whole model {:.2} ms, layers one by one {:.2} ms, calibrated sum {:.2} ms",
        source.label,
        profile.layers.len(),
        profile.machine,
        profile.whole_model_ms,
        sum_measured,
        sum
    );
    println!("wrote {}", a.output.display());
    Ok(ExitCode::SUCCESS)
}
