//! The embedded default: a local cluster (device, two edge nodes, cloud) as separate processes
//! on loopback with emulated link rates and node speeds, a real model run through every
//! planner's plan, measured against predicted.

use crate::cluster_run::{run_plan, Feed, Measured, Workload};
use crate::commands::run::{emulated, start_nodes, time_unsplit, EmulateMode, StartedNodes};
use crate::model_source::ModelSource;
use crate::preprocess::Preprocess;
use crate::problem_setup;
use crate::shared_dir::shared_dir;
use crate::split_exec::{load_unsplit, model_inputs, InputChoice};
use anyhow::{Context, Result};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tiersplit_cost::{Profile, Scenario};
use tiersplit_onnx::ImportOptions;
use tiersplit_plan::all_planners;
use tiersplit_runtime::ClusterDriver;

const SCENARIO: &str = include_str!("../../../../scenarios/local-cluster.toml");
const SHARED_PROFILE: &str = include_str!("../../../../profiles/mobilenet_v2_imagenet.json");
const ZOO_PROFILE: &str = include_str!("../../../../profiles/mobilenetv2.json");

#[derive(clap::Args)]
pub struct Args {
    /// Frames per plan (after one warm-up frame).
    #[arg(long, default_value_t = 4)]
    frames: usize,
    /// Only these algorithms (default: every one).
    #[arg(long, value_delimiter = ',')]
    algos: Vec<String>,
    /// Another model (an .onnx path or zoo:NAME) instead of MobileNetV2; its layer times are
    /// estimated from FLOPs unless --profile is given.
    #[arg(long)]
    model: Option<String>,
    /// Reference profile for --model.
    #[arg(long, requires = "model")]
    profile: Option<std::path::PathBuf>,
    /// `off`: no emulated rates, delays or speeds (a quick exactness run of every plan).
    #[arg(long, value_enum, default_value = "on")]
    emulate: EmulateMode,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let started = Instant::now();
    let scenario = Scenario::from_toml(SCENARIO).context("embedded scenario")?;
    let shared = shared_dir();
    let (source, profile, image) = match (&a.model, &shared) {
        (Some(spec), _) => {
            let source = ModelSource::open(spec)?;
            let profile = match &a.profile {
                Some(p) => Profile::from_json(
                    &std::fs::read_to_string(p)
                        .with_context(|| format!("reading {}", p.display()))?,
                )?,
                None => Profile::estimate(&source.import(&ImportOptions::default())?.graph, 20.0),
            };
            (source, profile, None)
        }
        (None, Some(dir)) if dir.join("models/mobilenet_v2_imagenet.onnx").exists() => (
            ModelSource::open(
                dir.join("models/mobilenet_v2_imagenet.onnx")
                    .to_str()
                    .context("path")?,
            )?,
            Profile::from_json(SHARED_PROFILE).context("embedded profile")?,
            Some(dir.join("images/chelsea.png")),
        ),
        _ => (
            ModelSource::open("zoo:mobilenetv2")?,
            Profile::from_json(ZOO_PROFILE).context("embedded profile")?,
            None,
        ),
    };
    let model = source.import(&ImportOptions::default())?;
    let inputs = model_inputs(
        &model,
        &InputChoice {
            image: image.as_deref(),
            npy: None,
            preprocess: Preprocess::Imagenet,
            seed: 0,
        },
    )?;
    let (reference, whole_ms) = time_unsplit(load_unsplit(&source, &model)?.as_ref(), &inputs, 5)?;
    let mode = if a.emulate == EmulateMode::Off {
        EmulateMode::Off
    } else {
        EmulateMode::On
    };
    let (profile, emulation) = emulated(&scenario, profile, whole_ms, mode);
    let problem = problem_setup::problem(
        &model,
        &scenario,
        Path::new("scenarios/local-cluster.toml"),
        &profile,
    )?;
    println!(
        "tiersplit demo: {} ({} layers) on a local cluster\n",
        source.label,
        model.graph.layers.len()
    );
    println!("{}", scenario.description);
    if mode == EmulateMode::On {
        println!("EMULATED on this machine: links shaped in the transport (token bucket at the link rate, half the RTT as one-way delay); node speeds by stretching each node's compute (device x{:.0}, edge x{:.0}, cloud x1 against this machine, where the unsplit model takes {whole_ms:.1} ms)",
            emulation.slowdown["device"], emulation.slowdown["edge0"]);
    } else {
        println!("NOT emulated: every node at this machine's speed, links unshaped (predictions use the scenario's speeds and links, so they do not apply)");
    }
    let StartedNodes { remotes, local } = start_nodes(&scenario)?;
    for w in &local {
        println!("  {} : worker process {}", w.name, w.addr);
    }
    let rt = tokio::runtime::Runtime::new()?;
    let mut rows: Vec<Measured> = Vec::new();
    let mut throughput: Option<Measured> = None;
    let w = Workload {
        model: &model,
        problem: &problem,
        inputs: &inputs,
        reference: &reference,
        switch: None,
    };
    rt.block_on(async {
        let mut driver =
            ClusterDriver::start("device", "127.0.0.1:0", &remotes, Duration::from_secs(30))
                .await?;
        println!("  device : this process {}\n", driver.device_addr());
        for planner in all_planners() {
            if !a.algos.is_empty() && !a.algos.iter().any(|x| x == planner.name()) {
                continue;
            }
            let plan = planner.plan(&problem)?;
            let m = run_plan(
                &mut driver,
                &w,
                &plan,
                emulation.clone(),
                a.frames,
                Feed::Sequential,
            )
            .await?;
            if plan.algorithm == "best-throughput" {
                // And pipelined: frames fed faster than the plan's predicted rate.
                let fps = m.predicted_fps * 1.25;
                throughput = Some(
                    run_plan(
                        &mut driver,
                        &w,
                        &plan,
                        emulation.clone(),
                        a.frames * 3,
                        Feed::Paced { fps, window: 4 },
                    )
                    .await?,
                );
            }
            rows.push(m);
        }
        anyhow::Ok(())
    })?;
    drop(local);
    let by = |name: &str| rows.iter().find(|m| m.algorithm == name).map(|m| m.p50_ms);
    let (dev, cloud) = (by("device-only"), by("cloud-only"));
    println!(
        "MEASURED on the {} cluster ({} frame(s) per plan, one at a time) vs PREDICTED by the cost model:\n",
        if mode == EmulateMode::On { "emulated" } else { "unshaped" },
        a.frames
    );
    println!(
        "{:<18} {:>9} {:>9} {:>9} {:>7} {:>7} {:>7} {:>10} {:>6}  placement",
        "algorithm",
        "pred ms",
        "p50 ms",
        "p95 ms",
        "error",
        "vs dev",
        "vs cld",
        "backbone",
        "exact"
    );
    let ratio = |b: Option<f64>, m: f64| b.map_or("-".into(), |b| format!("{:.2}x", b / m));
    let mut ok = true;
    for m in &rows {
        ok &= m.exact && m.failures.is_empty();
        println!(
            "{:<18} {:>9.1} {:>9.1} {:>9.1} {:>+6.1}% {:>7} {:>7} {:>10} {:>6}  {}",
            m.algorithm,
            m.predicted_ms,
            m.p50_ms,
            m.p95_ms,
            m.error * 100.0,
            ratio(dev, m.p50_ms),
            ratio(cloud, m.p50_ms),
            tiersplit_graph::Bytes(m.backbone_bytes).to_string(),
            if m.exact { "PASS" } else { "FAIL" },
            m.placement
        );
    }
    let mut errors: Vec<f64> = rows.iter().map(|m| m.error.abs()).collect();
    errors.sort_by(f64::total_cmp);
    if !errors.is_empty() {
        println!(
            "\nmedian |prediction error| {:.1}%, worst {:.1}%",
            errors[errors.len() / 2] * 100.0,
            errors[errors.len() - 1] * 100.0
        );
    }
    if let Some(t) = &throughput {
        ok &= t.exact && t.failures.is_empty();
        println!(
            "pipelined, best-throughput plan fed at {:.2} fps (window 4): {:.2} fps measured, predicted {:.2} ({:+.1}%), latency p50 {:.1} ms; {}",
            t.predicted_fps * 1.25,
            t.fps,
            t.predicted_fps,
            t.error * 100.0,
            t.p50_ms,
            if t.exact { "exact PASS" } else { "exact FAIL" }
        );
    }
    if image.is_some() {
        println!("(input: chelsea.png, ImageNet class 285 'Egyptian cat'; outputs compared with the unsplit model for every plan)");
    }
    println!(
        "\n{} plans run in {:.1} s: {}",
        rows.len(),
        started.elapsed().as_secs_f64(),
        if ok { "all exact" } else { "SOME FAILED" }
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
