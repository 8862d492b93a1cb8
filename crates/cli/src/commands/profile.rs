use crate::median::median;
use crate::model_source::{import_options, parse_input_shape, ModelSource};
use crate::split_exec::{load_chain, load_unsplit, model_inputs, run_named, InputChoice};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use tiersplit_cost::{LayerTime, Profile};
use tiersplit_graph::{LayerId, Partitioning};
use tiersplit_onnx::OnnxModel;

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
}

fn machine_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!("{host} ({cpu}, {cores} cores)")
}

/// Measures per-layer times by running the model as a chain of one-layer sub-models on real
/// activations, then rescales them so each calibration segment's layers add up to the
/// segment's time measured whole.
pub fn measure(
    source: &ModelSource,
    model: &OnnxModel,
    repeats: usize,
    segments: usize,
) -> Result<Profile> {
    let g = &model.graph;
    let repeats = repeats.max(1);
    let inputs = model_inputs(model, &InputChoice::random(0))?;
    let bar = ProgressBar::new((repeats + 1) as u64 * 3);
    bar.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len}")
            .expect("valid template")
            .progress_chars("=> "),
    );

    bar.set_message("whole model");
    let unsplit = load_unsplit(source, model)?;
    let mut whole = Vec::new();
    for i in 0..=repeats {
        let t = Instant::now();
        run_named(unsplit.as_ref(), &inputs)?;
        if i > 0 {
            whole.push(t.elapsed().as_secs_f64() * 1e3);
        }
        bar.inc(1);
    }

    bar.set_message("layers");
    let singles = Partitioning::new(g, g.layers.iter().map(|l| vec![l.id]).collect())?;
    let chain = load_chain(model, &singles)?;
    let mut per_layer: Vec<Vec<f64>> = vec![Vec::new(); g.layers.len()];
    for i in 0..=repeats {
        let (_, timings) = chain.run(inputs.clone())?;
        if i > 0 {
            for (part, t) in singles.parts.iter().zip(&timings) {
                per_layer[part[0].index()].push(t.elapsed.as_secs_f64() * 1e3);
            }
        }
        bar.inc(1);
    }
    let measured: Vec<f64> = per_layer.into_iter().map(median).collect();

    bar.set_message("segments");
    let seg = Partitioning::balanced(g, segments.clamp(1, g.layers.len()))
        .or_else(|_| Partitioning::random(g, 1, 0))?;
    let seg_chain = load_chain(model, &seg)?;
    let mut seg_times: Vec<Vec<f64>> = vec![Vec::new(); seg.parts.len()];
    for i in 0..=repeats {
        let (_, timings) = seg_chain.run(inputs.clone())?;
        if i > 0 {
            for (s, t) in timings.iter().enumerate() {
                seg_times[s].push(t.elapsed.as_secs_f64() * 1e3);
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mut calibrated = measured.clone();
    for (part, times) in seg.parts.iter().zip(seg_times) {
        let whole_seg = median(times);
        let sum: f64 = part.iter().map(|l: &LayerId| measured[l.index()]).sum();
        let factor = if sum > 0.0 { whole_seg / sum } else { 1.0 };
        for l in part {
            calibrated[l.index()] = measured[l.index()] * factor;
        }
    }
    Ok(Profile {
        format: tiersplit_cost::PROFILE_FORMAT.into(),
        model: g.name.clone(),
        machine: machine_name(),
        engine: "tract 0.23".into(),
        threads: 1,
        repeats: repeats as u32,
        whole_model_ms: median(whole),
        layers: g
            .layers
            .iter()
            .map(|l| LayerTime {
                name: l.name.clone(),
                measured_ms: measured[l.id.index()],
                ms: calibrated[l.id.index()],
            })
            .collect(),
    })
}

pub fn run(a: Args) -> Result<ExitCode> {
    let source = ModelSource::open(&a.model)?;
    let model = source.import(&import_options(&a.input_shape))?;
    let profile = measure(&source, &model, a.repeats, a.segments)?;
    let sum_measured: f64 = profile.layers.iter().map(|l| l.measured_ms).sum();
    let sum: f64 = profile.layers.iter().map(|l| l.ms).sum();
    std::fs::write(&a.output, serde_json::to_string_pretty(&profile)?)
        .with_context(|| format!("writing {}", a.output.display()))?;
    println!(
        "{}: {} layers on {}; whole model {:.2} ms, layers one by one {:.2} ms, calibrated sum {:.2} ms",
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
