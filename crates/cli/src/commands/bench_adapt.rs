//! `tiersplit bench adapt`: run-time adaptation against its targets, on the shipped traces:
//! how soon after a bandwidth step the new plan is ready (target: 1 s), and the adaptive run's
//! mean latency against every static plan's over the same trace (target: below all of them),
//! and the first answer after each switch with hedging and without (target: 2x sooner where a
//! frame was caught on a collapsed link).
//! Each trace is played by `tiersplit run --trace` (this binary, a local cluster of worker
//! processes) and its JSON read back, so the benchmark measures exactly what users run.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use tiersplit_session::assets::assets_dir;
use tiersplit_session::bench::{adapt_rows, ratios, AdaptRow, StepAnswer};

pub fn run(
    traces: Vec<PathBuf>,
    model: Option<String>,
    plots: Option<PathBuf>,
    rounds: usize,
) -> Result<ExitCode> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let traces = if traces.is_empty() {
        vec![
            root.join("traces/wifi-3g-4g.toml"),
            root.join("traces/edge-overload.toml"),
        ]
    } else {
        traces
    };
    let (model, profile, image) = match model {
        Some(m) => (m, None, None),
        None => {
            let shared = assets_dir().context("../shared/models (the real MobileNetV2)")?;
            (
                shared
                    .join("models/mobilenet_v2_imagenet.onnx")
                    .display()
                    .to_string(),
                Some(root.join("profiles/mobilenet_v2_imagenet.json")),
                Some(shared.join("images/chelsea.png")),
            )
        }
    };
    let exe = std::env::current_exe().context("locating the tiersplit binary")?;
    let dir = tempfile_dir()?;
    let mut rows = Vec::new();
    let mut steps = Vec::new();
    // Rounds of every trace in turn: the machine's speed drifts over minutes, so each ratio
    // is taken within a round and the median over rounds is reported.
    for round in 0..rounds.max(1) {
        for trace in &traces {
            let name = trace
                .file_stem()
                .map_or("trace".into(), |s| s.to_string_lossy().to_string());
            let json = dir.join(format!("{name}-{round}.json"));
            let mut cmd = Command::new(&exe);
            cmd.arg("run")
                .arg(&model)
                .arg("--scenario")
                .arg(root.join("scenarios/local-cluster.toml"))
                .arg("--trace")
                .arg(trace)
                .arg("--json")
                .arg(&json)
                .args(["--hedge", "both"]);
            match &profile {
                Some(p) => cmd.arg("--profile").arg(p),
                None => cmd.args(["--estimate-gflops", "20"]),
            };
            if let Some(i) = &image {
                cmd.arg("--image").arg(i);
            }
            if let (Some(d), 0) = (&plots, round) {
                std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
                cmd.arg("--plot").arg(d.join(format!("adapt-{name}.svg")));
            }
            println!("round {}: playing {} ...", round + 1, trace.display());
            let status = cmd.status().context("running tiersplit run --trace")?;
            if !status.success() {
                bail!(
                    "tiersplit run --trace {} failed ({status})",
                    trace.display()
                );
            }
            let reports: Vec<Value> =
                serde_json::from_str(&std::fs::read_to_string(&json).context("reading the run")?)?;
            let (trace_rows, trace_steps) = adapt_rows(&reports, &name, round)?;
            rows.extend(trace_rows);
            steps.extend(trace_steps);
        }
    }
    print_summary(&model, &rows, &steps);
    Ok(ExitCode::SUCCESS)
}

/// The tables: per round and trace, the ratios' medians, and each step's answer.
fn print_summary(model: &str, rows: &[AdaptRow], steps: &[StepAnswer]) {
    println!();
    println!(
        "adaptation on the emulated local cluster ({model}), every figure measured in this run"
    );
    println!();
    println!("mean: per answered frame; over time: each frame weighted by how long it took");
    println!(
        "{:<18} {:<10} {:>6} {:>13} {:>26} {:>13} {:>8}",
        "trace", "latency", "round", "adaptive", "best static plan", "its", "ratio"
    );
    for r in rows {
        let (label, s) = r.best_static.clone().unwrap_or(("-".into(), f64::NAN));
        println!(
            "{:<18} {:<10} {:>6} {:>10.1} ms {label:>26} {:>10.1} ms {:>7.2}x",
            r.trace,
            ["mean", "over time"][r.metric],
            r.round + 1,
            r.adaptive_ms,
            s,
            r.ratio()
        );
    }
    println!();
    let ratios = ratios(rows);
    let mut beats = [0, 0];
    for ((name, k), r) in &ratios {
        let m = tiersplit_session::median(r.clone());
        beats[*k] += usize::from(m > 1.0);
        println!(
            "{name:<18} {:<10} best static over adaptive, median of {} round(s): {m:.2}x",
            ["mean", "over time"][*k],
            r.len()
        );
    }
    println!();
    println!("bandwidth steps and the switch that answered each (ready: the new plan serves every frame fed from then on):");
    let (mut within, mut switched) = (0, 0);
    for s in steps {
        within += usize::from(s.ready_after_s.is_some_and(|r| r <= 1.0));
        switched += usize::from(s.ready_after_s.is_some());
        println!(
            "  {:<16} at {:5.1} s ({}): {}",
            s.trace,
            s.at_s,
            s.what,
            match (s.ready_after_s, s.first_answer_after_s) {
                (Some(r), Some(f)) =>
                    format!("ready after {r:.2} s, first answer on it after {f:.2} s"),
                (Some(r), None) => format!("ready after {r:.2} s"),
                _ => "no switch (the plan in use stayed best)".into(),
            }
        );
        if let (Some(h), Some(u)) = (s.next_answer_s, s.unhedged_next_answer_s) {
            println!(
                "  {:<16} first answer of any frame after the switch: {h:.2} s with hedging ({} frame(s) copied), {u:.2} s without: {:.2}x",
                "",
                s.hedged,
                u / h
            );
        }
    }
    println!();
    println!(
        "target: new plan ready within 1 s of a bandwidth step: {within} of the {switched} steps that changed the plan ({} steps in all)",
        steps.len()
    );
    let traces_n = ratios.len() / 2;
    println!(
        "target: adaptive mean latency below every static plan's: {} of {traces_n} traces per frame, {} of {traces_n} over time",
        beats[0], beats[1]
    );
}

/// A fresh directory for the runs' JSON under the system's temporary directory.
fn tempfile_dir() -> Result<PathBuf> {
    let d = std::env::temp_dir().join(format!("tiersplit-bench-adapt-{}", std::process::id()));
    std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    Ok(d)
}
