//! `tiersplit bench adapt`: run-time adaptation against its targets, on the shipped traces:
//! how soon after a bandwidth step the new plan is ready (target: 1 s), and the adaptive run's
//! mean latency against every static plan's over the same trace (target: below all of them).
//! Each trace is played by `tiersplit run --trace` (this binary, a local cluster of worker
//! processes) and its JSON read back, so the benchmark measures exactly what users run.

use crate::assets::assets_dir;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// A bandwidth change of the trace and the switch that answered it.
struct StepAnswer {
    trace: String,
    at_s: f64,
    what: String,
    ready_after_s: Option<f64>,
    first_answer_after_s: Option<f64>,
}

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
                .arg(&json);
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
            let adaptive = reports
                .iter()
                .find(|r| r["adaptive"] == true)
                .context("no adaptive run")?;
            for key in ["mean_ms", "time_mean_ms"] {
                let mean = |r: &Value| r[key].as_f64().unwrap_or(f64::NAN);
                let best_static = reports
                    .iter()
                    .filter(|r| r["adaptive"] != true)
                    .map(|r| (r["label"].as_str().unwrap_or("?").to_string(), mean(r)))
                    .min_by(|a, b| a.1.total_cmp(&b.1));
                rows.push((round, name.clone(), key, mean(adaptive), best_static));
            }
            steps.extend(step_answers(adaptive, &format!("{name} #{}", round + 1)));
        }
    }
    print_summary(&model, &rows, &steps);
    Ok(ExitCode::SUCCESS)
}

/// A run's figures: (round, trace, metric, adaptive, best static plan and its figure).
type Row = (usize, String, &'static str, f64, Option<(String, f64)>);

/// Each bandwidth change of an adaptive run and the first switch seen after it (before the
/// next change).
fn step_answers(adaptive: &Value, trace: &str) -> Vec<StepAnswer> {
    let mut steps = Vec::new();
    let switches = adaptive["switches"].as_array().cloned().unwrap_or_default();
    for p in adaptive["phases"].as_array().into_iter().flatten() {
        let what = p["what"].as_str().unwrap_or("").to_string();
        if !what.contains("Mbit/s") {
            continue;
        }
        let at = p["at_s"].as_f64().unwrap_or(0.0);
        let next = adaptive["phases"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|q| q["at_s"].as_f64())
            .find(|&t| t > at)
            .unwrap_or(f64::INFINITY);
        let sw = switches.iter().find(|s| {
            let seen = s["seen_s"].as_f64().unwrap_or(-1.0);
            seen >= at && seen < next
        });
        steps.push(StepAnswer {
            trace: trace.to_string(),
            at_s: at,
            what,
            ready_after_s: sw.and_then(|s| s["ready_s"].as_f64()).map(|r| r - at),
            first_answer_after_s: sw
                .and_then(|s| s["first_answer_s"].as_f64())
                .map(|r| r - at),
        });
    }
    steps
}

/// The tables: per round and trace, the ratios' medians, and each step's answer.
fn print_summary(model: &str, rows: &[Row], steps: &[StepAnswer]) {
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
    // (trace, metric) -> ratios of the rounds.
    let mut ratios: std::collections::BTreeMap<(String, usize), Vec<f64>> = Default::default();
    for (round, name, key, a, best) in rows {
        let (label, s) = best.clone().unwrap_or(("-".into(), f64::NAN));
        let k = usize::from(*key != "mean_ms");
        ratios.entry((name.clone(), k)).or_default().push(s / a);
        println!(
            "{name:<18} {:<10} {:>6} {:>10.1} ms {label:>26} {:>10.1} ms {:>7.2}x",
            ["mean", "over time"][k],
            round + 1,
            a,
            s,
            s / a
        );
    }
    println!();
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
