//! `tiersplit`: run one DNN across device, edge and cloud. This binary is the front door:
//! model inspection, partitioning, execution, exactness checks, the model zoo, the demo and
//! benchmarks.

mod assets;
mod commands;
mod engine_args;
mod input_args;
mod latency_plot;
mod paper_plot;
mod profile_args;
mod progress_bar;
mod trace_table;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "tiersplit",
    version,
    about = "Split one DNN across device, edge and cloud, exactly"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show a model's layer DAG: shapes, FLOPs, bytes, parameters and edges.
    Inspect(commands::inspect::Args),
    /// Write legal partitions of a model as standalone ONNX sub-models.
    Split(commands::split::Args),
    /// Cut a run of convolution layers into spatial tiles with halos, run them, stitch, check.
    Tile(commands::tile::Args),
    /// Run a model on an image or a .npy tensor.
    Infer(commands::infer::Args),
    /// Cut a model into random legal partitions, run them chained and compare with unsplit.
    Verify(commands::verify::Args),
    /// Check a corpus of real models (scripts/make_corpus.py): import, run whole and cut,
    /// compare with ONNX Runtime; K/N per family.
    Corpus(commands::corpus::Args),
    /// List or export the built-in model zoo.
    #[command(subcommand)]
    Zoo(commands::zoo::ZooCommand),
    /// Measure per-layer latencies on the real engine (reference profile for planning).
    Profile(commands::profile::Args),
    /// Plan where every layer runs on a scenario, with every algorithm side by side.
    Plan(commands::plan::Args),
    /// Run as a worker node: receive partitions and run frames through them for a device.
    Worker(commands::worker::Args),
    /// Act as the device of a scenario: plan, deploy every node's parts with a routing table,
    /// stream frames through the cluster, report measured against predicted figures.
    Run(Box<commands::run::Args>),
    /// The embedded default: split a model three ways, run it, check exactness.
    Demo(commands::demo::Args),
    /// Benchmarks, printed as ratios measured side by side in one run.
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
    /// What each node with an address holds now: engine, sessions, deployments.
    Status(commands::status::Args),
    /// Certificates for mutual TLS: a cluster CA, and one certificate per node.
    #[command(subcommand)]
    Certs(commands::certs::CertsCommand),
}

/// Exit codes: 0 success, 1 a check failed (verify above tolerance), 2 an error (bad input,
/// unsupported model, engine failure).
fn main() -> ExitCode {
    let cli = Cli::parse();
    // Library warnings (a dropped tensor, a connection that ended) go to stderr; RUST_LOG
    // chooses more or less.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Inspect(a) => commands::inspect::run(a),
        Command::Split(a) => commands::split::run(a),
        Command::Tile(a) => commands::tile::run(a),
        Command::Infer(a) => commands::infer::run(a),
        Command::Verify(a) => commands::verify::run(a),
        Command::Corpus(a) => commands::corpus::run(a),
        Command::Zoo(c) => commands::zoo::run(c),
        Command::Profile(a) => commands::profile::run(a),
        Command::Plan(a) => commands::plan::run(a),
        Command::Worker(a) => commands::worker::run(a),
        Command::Run(a) => commands::run::run(*a),
        Command::Demo(a) => commands::demo::run(a),
        Command::Bench(c) => commands::bench::run(c),
        Command::Certs(c) => commands::certs::run(c),
        Command::Status(a) => commands::status::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Success, or 1 when a check failed.
fn exit_code(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Each of `items` as `f` formats it, separated by commas.
fn listing<I: IntoIterator>(items: I, f: impl FnMut(I::Item) -> String) -> String {
    items.into_iter().map(f).collect::<Vec<_>>().join(", ")
}
