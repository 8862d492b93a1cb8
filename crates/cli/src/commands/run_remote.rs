use crate::input_args::InputArgs;
use crate::median::median;
use crate::model_source::ModelSource;
use crate::split_exec::{load_unsplit, model_inputs, run_named};
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tiersplit_exec::{Difference, HostTensor};
use tiersplit_graph::Partitioning;
use tiersplit_onnx::OnnxModel;
use tiersplit_runtime::RemotePart;

#[derive(clap::Args)]
pub struct Args {
    /// An .onnx file, or zoo:NAME for a built-in model.
    model: String,
    #[command(flatten)]
    inputs: InputArgs,
    /// Worker addresses (HOST:PORT), comma separated; part i runs on worker i mod count.
    #[arg(long, value_delimiter = ',', required = true)]
    workers: Vec<String>,
    /// Number of FLOP-balanced legal partitions (default: one per worker).
    #[arg(long)]
    partitions: Option<usize>,
    /// Frames to run.
    #[arg(long, default_value_t = 3)]
    frames: u64,
    /// Seconds any network wait may take before the run fails.
    #[arg(long, default_value_t = 20)]
    timeout: u64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<ExitCode> {
    if a.frames == 0 {
        bail!("--frames must be at least 1");
    }
    let source = ModelSource::open(&a.model)?;
    let model = source.import(&a.inputs.import_options())?;
    let g = &model.graph;
    let k = a.partitions.unwrap_or(a.workers.len()).max(1);
    let p = Partitioning::balanced(g, k)
        .or_else(|_| Partitioning::random(g, k.min(g.layers.len()), a.seed))?;
    let inputs = model_inputs(&model, &a.inputs.choice(a.seed))?;
    let reference = run_named(load_unsplit(&source, &model)?.as_ref(), &inputs)?;
    let timeout = Duration::from_secs(a.timeout);
    let report = run_on_workers(
        &model, &p, &inputs, &reference, &a.workers, a.frames, timeout,
    )?;
    let RemoteReport {
        placed,
        latencies,
        compute,
        worst,
    } = report;
    let ok = worst.within_tolerance();
    if a.json {
        let out = json!({
            "model": source.label,
            "parts": placed.iter().enumerate().map(|(i, (w, cached))| json!({"part": i, "worker": w, "cached": cached, "layers": p.parts[i].len(), "compute_ms_median": median(compute[i].clone())})).collect::<Vec<_>>(),
            "frames": a.frames,
            "latency_ms": latencies,
            "max_rel_diff": worst.max_rel,
            "pass": ok,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{}: {} layers in {} parts on {} workers, {} frames",
            source.label,
            g.layers.len(),
            p.parts.len(),
            a.workers.len(),
            a.frames
        );
        for (i, (w, cached)) in placed.iter().enumerate() {
            println!(
                "  part {i}: {:>4} layers on {w}{}, compute {:.2} ms (median)",
                p.parts[i].len(),
                if *cached { " (cached)" } else { "" },
                median(compute[i].clone())
            );
        }
        println!(
            "  frame latency (device view): median {:.2} ms",
            median(latencies.clone())
        );
        println!(
            "  exactness vs local unsplit run: {worst}: {}",
            if ok { "PASS" } else { "FAIL" }
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What a run over workers measured.
pub struct RemoteReport {
    /// Worker address of each part, and whether its model was already cached there.
    pub placed: Vec<(String, bool)>,
    /// Device-side latency of each frame, ms.
    pub latencies: Vec<f64>,
    /// Worker compute time per part per frame, ms.
    pub compute: Vec<Vec<f64>>,
    /// The largest difference from the unsplit reference over all frames.
    pub worst: Difference,
}

/// Deploys part i of `p` to worker i mod count and runs `frames` frames through the parts in
/// order, each part's inputs sent from the device and its outputs returned to it.
pub fn run_on_workers(
    model: &OnnxModel,
    p: &Partitioning,
    inputs: &[(String, HostTensor)],
    reference: &[HostTensor],
    workers: &[String],
    frames: u64,
    timeout: Duration,
) -> Result<RemoteReport> {
    let g = &model.graph;
    let outputs: Vec<String> = g
        .outputs
        .iter()
        .map(|&t| g.tensor(t).name.clone())
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut parts = Vec::with_capacity(p.parts.len());
        for (i, part) in p.parts.iter().enumerate() {
            let addr = &workers[i % workers.len()];
            let bytes = model.sub_model_bytes(part)?;
            let remote = RemotePart::deploy(addr, &format!("part{i}"), bytes, timeout)
                .await
                .with_context(|| format!("deploying part {i} to {addr}"))?;
            parts.push(remote);
        }
        let mut latencies = Vec::new();
        let mut compute: Vec<Vec<f64>> = vec![Vec::new(); parts.len()];
        let mut worst = Difference::default();
        for frame in 0..frames {
            let start = Instant::now();
            let mut env: HashMap<String, HostTensor> = inputs.iter().cloned().collect();
            for (i, part) in parts.iter_mut().enumerate() {
                let args: Vec<(String, HostTensor)> = part
                    .inputs
                    .iter()
                    .filter_map(|n| env.get(n).map(|t| (n.clone(), t.clone())))
                    .collect();
                let (outs, took) = part
                    .run(frame, &args)
                    .await
                    .with_context(|| format!("frame {frame}, part {i} on {}", part.worker))?;
                compute[i].push(took.as_secs_f64() * 1e3);
                for (name, t) in part.outputs.clone().into_iter().zip(outs) {
                    env.insert(name, t);
                }
            }
            latencies.push(start.elapsed().as_secs_f64() * 1e3);
            let result: Vec<HostTensor> = outputs
                .iter()
                .map(|n| env.remove(n).context("graph output missing"))
                .collect::<Result<_>>()?;
            let d = Difference::between(&result, reference);
            if frame == 0 || d.max_rel > worst.max_rel || d.max_abs.is_nan() {
                worst = d;
            }
        }
        Ok(RemoteReport {
            placed: parts.iter().map(|p| (p.worker.clone(), p.cached)).collect(),
            latencies,
            compute,
            worst,
        })
    })
}
