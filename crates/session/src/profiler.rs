//! Per-layer times measured on the real engine: the reference profile planners work from.

use crate::engine::{load_chain_on, load_unsplit_on, model_inputs, run_named, InputChoice};
use crate::error::Result;
use crate::median::median;
use crate::source::ModelSource;
use std::time::Instant;
use tiersplit_cost::{LayerTime, Profile};
use tiersplit_exec::{Accelerator, EngineKind, EngineSpec, Executor};
use tiersplit_graph::{LayerId, Partitioning};
use tiersplit_onnx::OnnxModel;

/// Told how a long measurement is getting on; a command line draws a bar from it.
pub trait Progress {
    /// `total` steps follow, the first of them in `phase`.
    fn start(&mut self, total: u64);
    /// The steps from now on belong to `phase`.
    fn phase(&mut self, phase: &str);
    /// One more step done.
    fn step(&mut self);
    /// The measurement ended.
    fn finish(&mut self) {}
}

/// Progress nobody watches.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _: u64) {}
    fn phase(&mut self, _: &str) {}
    fn step(&mut self) {}
}

/// Measures per-layer times on `engine` by running the model as a chain of one-layer
/// sub-models on real activations, then rescales them so each calibration segment's layers
/// add up to the segment's time measured whole (running a layer alone misses fusions and cache
/// effects). The profile records the engine and its threads.
pub fn measure(
    source: &ModelSource,
    model: &OnnxModel,
    repeats: usize,
    segments: usize,
    engine: &EngineSpec,
    progress: &mut dyn Progress,
) -> Result<Profile> {
    let executor = engine.executor()?;
    let executor = executor.as_ref();
    let g = &model.graph;
    let repeats = repeats.max(1);
    progress.start((repeats + 1) as u64 * 3);
    progress.phase("whole model");
    let whole = time_whole(executor, source, model, repeats, progress)?;
    progress.phase("layers");
    let singles = Partitioning::new(g, g.layers.iter().map(|l| vec![l.id]).collect())?;
    let measured: Vec<f64> = time_parts(executor, model, &singles, repeats, progress)?
        .into_iter()
        .map(median)
        .collect();
    progress.phase("segments");
    let seg = Partitioning::balanced(g, segments.clamp(1, g.layers.len()))
        .or_else(|_| Partitioning::random(g, 1, 0))?;
    let seg_times = time_parts(executor, model, &seg, repeats, progress)?;
    progress.finish();
    let calibrated = calibrate_segments(&measured, &seg, seg_times);
    Ok(Profile {
        format: tiersplit_cost::PROFILE_FORMAT.into(),
        model: g.name.clone(),
        machine: machine_name(),
        engine: engine_label(engine),
        threads: engine.threads as u32,
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

/// The engine as a profile names it: `tract 0.23`, `ort`, `ort cuda`.
fn engine_label(engine: &EngineSpec) -> String {
    match (engine.kind, engine.accelerator) {
        (EngineKind::Tract, _) => "tract 0.23".into(),
        (EngineKind::Ort, Accelerator::Cpu) => "ort".into(),
        (EngineKind::Ort, Accelerator::Cuda) => "ort cuda".into(),
    }
}

/// The unsplit model's time per run, `repeats` runs after a warm-up (ms).
fn time_whole(
    executor: &dyn Executor,
    source: &ModelSource,
    model: &OnnxModel,
    repeats: usize,
    progress: &mut dyn Progress,
) -> Result<Vec<f64>> {
    let inputs = model_inputs(model, &InputChoice::random(0))?;
    let unsplit = load_unsplit_on(executor, source, model)?;
    let mut whole = Vec::new();
    for i in 0..=repeats {
        let t = Instant::now();
        run_named(unsplit.as_ref(), &inputs)?;
        if i > 0 {
            whole.push(t.elapsed().as_secs_f64() * 1e3);
        }
        progress.step();
    }
    Ok(whole)
}

/// Each part's times over `repeats` chained runs after a warm-up (ms), by part.
fn time_parts(
    executor: &dyn Executor,
    model: &OnnxModel,
    parts: &Partitioning,
    repeats: usize,
    progress: &mut dyn Progress,
) -> Result<Vec<Vec<f64>>> {
    let inputs = model_inputs(model, &InputChoice::random(0))?;
    let chain = load_chain_on(executor, model, parts)?;
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); parts.parts.len()];
    for i in 0..=repeats {
        let (_, timings) = chain.run(inputs.clone())?;
        if i > 0 {
            for (s, t) in timings.iter().enumerate() {
                times[s].push(t.elapsed.as_secs_f64() * 1e3);
            }
        }
        progress.step();
    }
    Ok(times)
}

/// Layer times scaled so each segment's layers add up to the segment's median time.
fn calibrate_segments(measured: &[f64], seg: &Partitioning, seg_times: Vec<Vec<f64>>) -> Vec<f64> {
    let mut calibrated = measured.to_vec();
    for (part, times) in seg.parts.iter().zip(seg_times) {
        let whole_seg = median(times);
        let sum: f64 = part.iter().map(|l: &LayerId| measured[l.index()]).sum();
        let factor = if sum > 0.0 { whole_seg / sum } else { 1.0 };
        for l in part {
            calibrated[l.index()] = measured[l.index()] * factor;
        }
    }
    calibrated
}

/// This machine as a profile records it: host, CPU model and cores.
pub fn machine_name() -> String {
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
