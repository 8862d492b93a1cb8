//! `tiersplit bench cluster`: the distributed runtime against its targets, each printed as a
//! ratio measured in one run on a local cluster of worker processes: the cost model's
//! prediction error on the emulated cluster, goodput on an emulated link, and the runtime's
//! overhead over the compute of its parts on unshaped loopback.

use crate::cluster_run::{run_plan, Feed, FrameBreakdown, Measured, Workload};
use crate::commands::run::{emulated, start_nodes, time_unsplit, EmulateMode, StartedNodes};
use crate::model_source::ModelSource;
use crate::problem_setup;
use crate::shared_dir::shared_dir;
use crate::split_exec::{load_unsplit, model_inputs, InputChoice};
use anyhow::{Context, Result};
use prost::Message;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use tiersplit_cost::{Profile, Scenario, Tier};
use tiersplit_onnx::{ImportOptions, OnnxModel};
use tiersplit_plan::{all_planners, Planner, SingleNode};
use tiersplit_runtime::ClusterDriver;

const LOCAL: &str = include_str!("../../../../scenarios/local-cluster.toml");

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

/// Mean over a run's frames of one figure of their breakdown.
fn mean_ms(m: &Measured, f: impl Fn(&FrameBreakdown) -> f64) -> f64 {
    m.breakdown.iter().map(f).sum::<f64>() / m.breakdown.len().max(1) as f64
}

struct Case {
    label: String,
    source: ModelSource,
    profile: Profile,
}

fn cases() -> Result<Vec<Case>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut v = Vec::new();
    let mut add = |label: &str, spec: String, profile: &str| -> Result<()> {
        let text = std::fs::read_to_string(root.join("profiles").join(profile))
            .with_context(|| format!("reading profiles/{profile}"))?;
        v.push(Case {
            label: label.into(),
            source: ModelSource::open(&spec)?,
            profile: Profile::from_json(&text)?,
        });
        Ok(())
    };
    if let Some(s) = shared_dir() {
        add(
            "mobilenet_v2 (real)",
            s.join("models/mobilenet_v2_imagenet.onnx")
                .display()
                .to_string(),
            "mobilenet_v2_imagenet.json",
        )?;
    }
    add("googlenet (zoo)", "zoo:googlenet".into(), "googlenet.json")?;
    add("resnet18 (zoo)", "zoo:resnet18".into(), "resnet18.json")?;
    Ok(v)
}

/// Every planner's plan of every case on the cluster; returns the measurements per case.
async fn every_plan(
    driver: &mut ClusterDriver,
    scenario: &Scenario,
    emulate: bool,
    frames: usize,
    only: Option<&[&str]>,
) -> Result<Vec<(String, Vec<Measured>)>> {
    let mut out = Vec::new();
    for case in cases()? {
        let model = case.source.import(&ImportOptions::default())?;
        let inputs = model_inputs(&model, &InputChoice::random(0))?;
        let (reference, whole_ms) =
            time_unsplit(load_unsplit(&case.source, &model)?.as_ref(), &inputs, 5)?;
        let (profile, emulation) = emulated(
            scenario,
            case.profile.clone(),
            whole_ms,
            if emulate {
                EmulateMode::On
            } else {
                EmulateMode::Off
            },
        );
        let problem = problem_setup::problem(&model, scenario, Path::new("."), &profile)?;
        let w = Workload {
            model: &model,
            problem: &problem,
            inputs: &inputs,
            reference: &reference,
            switch: None,
        };
        let mut rows = Vec::new();
        for planner in all_planners() {
            if only.is_some_and(|o| !o.contains(&planner.name())) {
                continue;
            }
            let plan = planner.plan(&problem)?;
            rows.push(
                run_plan(
                    driver,
                    &w,
                    &plan,
                    emulation.clone(),
                    frames,
                    Feed::Sequential,
                )
                .await?,
            );
        }
        out.push((case.label, rows));
    }
    Ok(out)
}

/// A model that only passes a tensor of `bytes` through (Relu), for link measurements.
fn pass_through(bytes: u64) -> Result<(ModelSource, OnnxModel)> {
    let channels = (bytes / 4 / (512 * 512)).max(1);
    let mut b = tiersplit_zoo::NetBuilder::new("pass-through", 0);
    let x = b.input("x", &[1, channels, 512, 512]);
    let y = b.relu(&x);
    let source = ModelSource {
        label: format!("pass-through of {channels}x512x512 floats"),
        bytes: b.finish(&[y]).encode_to_vec(),
    };
    let model = source.import(&ImportOptions::default())?;
    Ok((source, model))
}

async fn goodput(
    mbps: f64,
    delay_ms: f64,
    sizes_mb: &[u64],
    frames: usize,
) -> Result<Vec<(u64, f64)>> {
    let scenario = Scenario::from_toml(&format!(
        "name = \"link\"\nframe_rate = 1\n[[nodes]]\nname = \"device\"\ntier = \"device\"\n\
         [[nodes]]\nname = \"edge\"\ntier = \"edge\"\n\
         [[links]]\nfrom = \"device\"\nto = \"edge\"\nbandwidth_mbps = {mbps}\nrtt_ms = {}\n",
        2.0 * delay_ms
    ))?;
    let StartedNodes { remotes, local } = start_nodes(&scenario)?;
    let mut driver =
        ClusterDriver::start("device", "127.0.0.1:0", &remotes, Duration::from_secs(60)).await?;
    let mut out = Vec::new();
    for &mb in sizes_mb {
        let (source, model) = pass_through(mb << 20)?;
        let inputs = model_inputs(&model, &InputChoice::random(0))?;
        let (reference, whole_ms) =
            time_unsplit(load_unsplit(&source, &model)?.as_ref(), &inputs, 3)?;
        let profile = Profile::estimate(&model.graph, 1.0).scaled(0.0);
        let (profile, emulation) =
            emulated(&scenario, profile, whole_ms.max(1e-3), EmulateMode::On);
        let problem = problem_setup::problem(&model, &scenario, Path::new("."), &profile)?;
        let plan = SingleNode(Tier::Edge).plan(&problem)?;
        let m = run_plan(
            &mut driver,
            &Workload {
                model: &model,
                problem: &problem,
                inputs: &inputs,
                reference: &reference,
                switch: None,
            },
            &plan,
            emulation,
            frames,
            Feed::Sequential,
        )
        .await?;
        // The tensor crosses the shaped link twice (there and back); what is left of the
        // latency after the delays and the compute is the time the bytes took.
        let compute = mean_ms(&m, |b| b.compute_ms.values().sum());
        let sent = 2.0 * (mb << 20) as f64 * 8.0;
        let secs = (m.p50_ms - 2.0 * delay_ms - compute) / 1e3;
        out.push((mb, sent / secs / 1e6 / mbps));
    }
    drop(local);
    Ok(out)
}

pub fn run(frames: usize) -> Result<ExitCode> {
    let scenario = Scenario::from_toml(LOCAL)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        println!("1. prediction error on the emulated local cluster ({}), {frames} frames per plan, one at a time", scenario.name);
        let StartedNodes { remotes, local } = start_nodes(&scenario)?;
        let mut driver =
            ClusterDriver::start("device", "127.0.0.1:0", &remotes, Duration::from_secs(60))
                .await?;
        let mut all = Vec::new();
        for (label, rows) in every_plan(&mut driver, &scenario, true, frames, None).await? {
            let errs: Vec<f64> = rows.iter().map(|m| m.error.abs()).collect();
            println!(
                "   {label:<22} {} plans: median |error| {:>5.1}%, worst {:>5.1}% ({}), all exact: {}",
                rows.len(),
                median(errs.clone()) * 100.0,
                errs.iter().copied().fold(0.0, f64::max) * 100.0,
                rows.iter()
                    .max_by(|a, b| a.error.abs().total_cmp(&b.error.abs()))
                    .map_or("-", |m| m.algorithm.as_str()),
                rows.iter().all(|m| m.exact)
            );
            all.extend(errs);
        }
        let med = median(all);
        println!(
            "   median |prediction error| over all plans {:.1}%: ratio to the 15% target {:.2} ({})\n",
            med * 100.0,
            med / 0.15,
            if med <= 0.15 { "met" } else { "NOT met" }
        );

        println!("2. runtime overhead on unshaped loopback (no emulation): frame latency over the summed compute of its parts, chain plans");
        let chains = ["device-only", "edge-only", "cloud-only", "neurosurgeon-3tier", "exact-3tier", "hpa"];
        let mut overheads = Vec::new();
        for (label, rows) in every_plan(&mut driver, &scenario, false, frames, Some(&chains)).await? {
            let ratios: Vec<f64> = rows
                .iter()
                .map(|m| {
                    let compute = mean_ms(m, |b| b.compute_ms.values().sum());
                    let lat = mean_ms(m, |b| b.latency_ms);
                    lat / compute
                })
                .collect();
            println!(
                "   {label:<22} latency / compute: {}",
                rows.iter()
                    .zip(&ratios)
                    .map(|(m, r)| format!("{} {r:.3}", m.algorithm))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            overheads.extend(ratios);
        }
        let med = median(overheads);
        println!(
            "   median overhead {:+.1}%: ratio to the 5% target {:.2} ({})\n",
            (med - 1.0) * 100.0,
            (med - 1.0) / 0.05,
            if med <= 1.05 { "met" } else { "NOT met" }
        );
        drop(local);

        println!("3. goodput over one emulated 100 Mbps link with 5 ms one-way delay (tensor there and back)");
        let g = goodput(100.0, 5.0, &[1, 4, 16], frames).await?;
        for (mb, ratio) in &g {
            println!(
                "   {mb:>2} MiB tensor: goodput {:.1}% of the link rate ({})",
                ratio * 100.0,
                if *ratio >= 0.9 { "met" } else { "NOT met" }
            );
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
