//! `tiersplit bench faults`: what faults cost on the local cluster. A fault trace (by default
//! the shipped node faults: an edge worker killed and restarted, the other hung and woken, the
//! cloud restarted; `--trace traces/link-faults.toml` cuts and mends links) is played by
//! `tiersplit run --trace` (this binary, a cluster of worker processes) for a few rounds; for
//! each fault, the time to see it, to answer again without the node or link and to take it
//! back, the frames fed again or failed, and the latency meanwhile.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use tiersplit_session::bench::fault_summary;
use tiersplit_session::FaultFigure;

pub fn run(trace: Option<PathBuf>, model: String, fps: f64, rounds: usize) -> Result<ExitCode> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let trace = trace.unwrap_or_else(|| root.join("traces/node-faults.toml"));
    let exe = std::env::current_exe().context("locating the tiersplit binary")?;
    let dir = std::env::temp_dir().join(format!("tiersplit-bench-faults-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut all = Vec::new();
    let (mut fed, mut answered, mut twice, mut exact) = (0, 0, 0, true);
    for round in 0..rounds.max(1) {
        let json = dir.join(format!("faults-{round}.json"));
        println!("round {}: playing {} ...", round + 1, trace.display());
        let status = Command::new(&exe)
            .arg("run")
            .arg(&model)
            .arg("--scenario")
            .arg(root.join("scenarios/local-cluster.toml"))
            .arg("--trace")
            .arg(&trace)
            .args([
                "--estimate-gflops",
                "20",
                "--compare",
                "none",
                "--window",
                "4",
            ])
            .arg("--fps")
            .arg(fps.to_string())
            .arg("--json")
            .arg(&json)
            .status()
            .context("running tiersplit run --trace")?;
        if !status.success() {
            bail!(
                "tiersplit run --trace {} failed ({status})",
                trace.display()
            );
        }
        let reports: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(&json).context("reading the run")?)?;
        let r = reports
            .first()
            .context("the run reported no strategy over the trace")?;
        let frames = r["frames"].as_array().map_or(&[][..], |f| f.as_slice());
        fed += r["fed"].as_u64().unwrap_or(0);
        answered += frames.len() as u64;
        let mut numbers: Vec<u64> = frames.iter().filter_map(|f| f["frame"].as_u64()).collect();
        numbers.sort_unstable();
        numbers.dedup();
        twice += frames.len() - numbers.len();
        exact &= r["all_exact"].as_bool().unwrap_or(false);
        let figs: Vec<FaultFigure> = serde_json::from_value(r["fault_figures"].clone())?;
        all.push(figs);
    }
    let _ = std::fs::remove_dir_all(&dir);
    print_summary(&model, fps, &all, (fed, answered, twice, exact));
    Ok(ExitCode::SUCCESS)
}

fn print_summary(
    model: &str,
    fps: f64,
    rounds: &[Vec<FaultFigure>],
    frames: (u64, u64, usize, bool),
) {
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
    println!();
    println!(
        "faults on the emulated local cluster ({model}, {fps} fps, adaptive best), medians over {} round(s), measured in this run",
        rounds.len()
    );
    println!("seen: fault to the verdict (heartbeats for a node, its sender's pings for a link); recovered: verdict to the first answer without it, of which plan (the run's planner on what survives) and deploy (compile, upload, start); back: fault to re-admission (a link: to its pings answered again)");
    println!(
        "{:>6} {:<8} {:<13} {:>8} {:>13} {:>8} {:>10} {:>8} {:>10} {:>7} {:>10} {:>15}",
        "at s",
        "fault",
        "node",
        "seen ms",
        "recovered ms",
        "plan ms",
        "deploy ms",
        "back ms",
        "fed again",
        "failed",
        "before ms",
        "worst after ms",
    );
    for s in fault_summary(rounds) {
        println!(
            "{:>6.1} {:<8} {:<13} {:>8} {:>13} {:>8} {:>10} {:>8} {:>10} {:>7} {:>10.1} {:>15.1}",
            s.at_s,
            s.fault.name(),
            s.node,
            ms(s.detected_ms),
            ms(s.recovered_ms),
            ms(s.planning_ms),
            ms(s.deploying_ms),
            ms(s.readmitted_ms),
            s.reissued,
            s.failed,
            s.before_ms,
            s.worst_after_ms
        );
    }
    let (fed, answered, twice, exact) = frames;
    println!("frames: fed {fed}, answered {answered}, answered twice {twice}, all exact: {exact}");
}
