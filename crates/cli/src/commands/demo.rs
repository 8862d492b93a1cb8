use crate::commands::run_remote::run_on_workers;
use crate::local_cluster::LocalWorker;
use crate::median::median;
use crate::model_source::ModelSource;
use crate::preprocess::Preprocess;
use crate::shared_dir::shared_dir;
use crate::split_exec::{load_chain, load_unsplit, model_inputs, run_named, InputChoice};
use anyhow::{Context, Result};
use std::process::ExitCode;
use std::time::Instant;
use tiersplit_exec::Difference;
use tiersplit_graph::Partitioning;
use tiersplit_onnx::ImportOptions;

#[derive(clap::Args)]
pub struct Args {
    /// Zoo model to export and split.
    #[arg(long, default_value = "googlenet")]
    zoo: String,
    /// Number of partitions.
    #[arg(long, default_value_t = 3)]
    partitions: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

struct Outcome {
    ok: bool,
}

fn split_and_run(
    source: &ModelSource,
    k: usize,
    seed: u64,
    image: Option<&std::path::Path>,
) -> Result<Outcome> {
    let model = source.import(&ImportOptions::default())?;
    let g = &model.graph;
    println!(
        "{}: {} layers, {} edges, {}, {} parameters",
        source.label,
        g.layers.len(),
        g.edges().len(),
        g.total_flops(),
        g.total_params()
    );
    let p = Partitioning::random(g, k, seed)?;
    let inputs = model_inputs(
        &model,
        &InputChoice {
            image,
            npy: None,
            preprocess: Preprocess::Imagenet,
            seed,
        },
    )?;
    let unsplit = load_unsplit(source, &model)?;
    let chain = load_chain(&model, &p)?;
    run_named(unsplit.as_ref(), &inputs)?; // warm-up
    let start = Instant::now();
    let reference = run_named(unsplit.as_ref(), &inputs)?;
    let unsplit_ms = start.elapsed().as_secs_f64() * 1e3;
    chain.run(inputs.clone())?; // warm-up
    let (split, timings) = chain.run(inputs)?;
    for (part, t) in p.parts.iter().zip(&timings) {
        let b = g.boundary(part)?;
        let sent: u64 = b.outputs.iter().map(|&t| g.tensor(t).bytes().0).sum();
        println!(
            "  part {}: layers {:>3}..{:<3} ({:>3} layers) {:>8.2} ms, sends {}",
            t.part,
            part[0].0,
            part.last().unwrap().0,
            part.len(),
            t.elapsed.as_secs_f64() * 1e3,
            tiersplit_graph::Bytes(sent)
        );
    }
    let split_ms: f64 = timings.iter().map(|t| t.elapsed.as_secs_f64() * 1e3).sum();
    println!("  unsplit {unsplit_ms:.2} ms, split (sum of parts) {split_ms:.2} ms");
    let diff = Difference::between(&split, &reference);
    let ok = diff.within_tolerance();
    println!("  exactness: {diff}: {}", if ok { "PASS" } else { "FAIL" });
    if let (Some(r), Some(s)) = (reference[0].argmax(), split[0].argmax()) {
        println!("  top-1 class: unsplit {r}, split {s}");
    }
    Ok(Outcome {
        ok: ok && reference[0].argmax() == split[0].argmax(),
    })
}

/// The same model split over two worker processes on loopback, frames sent over TCP.
fn on_worker_processes(source: &ModelSource, k: usize, image: &std::path::Path) -> Result<bool> {
    let model = source.import(&ImportOptions::default())?;
    let workers = [LocalWorker::start("edge0")?, LocalWorker::start("cloud")?];
    let addrs: Vec<String> = workers.iter().map(|w| w.addr.clone()).collect();
    let names: Vec<String> = workers
        .iter()
        .map(|w| format!("{} ({})", w.addr, w.name))
        .collect();
    println!(
        "
the same model in {k} FLOP-balanced parts on worker processes {}, over TCP:",
        names.join(" and ")
    );
    let p = Partitioning::balanced(&model.graph, k)?;
    let inputs = model_inputs(
        &model,
        &InputChoice {
            image: Some(image),
            npy: None,
            preprocess: Preprocess::Imagenet,
            seed: 0,
        },
    )?;
    let reference = run_named(load_unsplit(source, &model)?.as_ref(), &inputs)?;
    let r = run_on_workers(
        &model,
        &p,
        &inputs,
        &reference,
        &addrs,
        5,
        std::time::Duration::from_secs(20),
    )?;
    for (i, (w, _)) in r.placed.iter().enumerate() {
        println!(
            "  part {i}: {:>3} layers on {w}, compute {:.2} ms (median of 5 frames)",
            p.parts[i].len(),
            median(r.compute[i].clone())
        );
    }
    let ok = r.worst.within_tolerance();
    println!(
        "  frame latency seen by the device: median {:.2} ms",
        median(r.latencies.clone())
    );
    println!(
        "  exactness over 5 frames: {}: {}",
        r.worst,
        if ok { "PASS" } else { "FAIL" }
    );
    Ok(ok)
}

pub fn run(a: Args) -> Result<ExitCode> {
    println!("tiersplit demo: split a model into {} legal partitions, run them chained on tract, compare with unsplit\n", a.partitions);
    let dir = std::env::temp_dir().join(format!("tiersplit-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{}.onnx", a.zoo));
    let bytes = tiersplit_zoo::build_bytes(&a.zoo, a.seed)?;
    std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
    println!(
        "exported zoo:{} to {} ({} bytes)",
        a.zoo,
        path.display(),
        bytes.len()
    );
    let mut ok = split_and_run(
        &ModelSource::open(path.to_str().context("temp path")?)?,
        a.partitions,
        a.seed,
        None,
    )?
    .ok;
    std::fs::remove_dir_all(&dir).ok();
    match shared_dir() {
        Some(shared) => {
            let model = shared.join("models/mobilenet_v2_imagenet.onnx");
            let image = shared.join("images/chelsea.png");
            println!();
            let source = ModelSource::open(model.to_str().context("path")?)?;
            let out = split_and_run(&source, a.partitions, a.seed, Some(&image))?;
            println!("  (reference: chelsea.png is class 285, Egyptian cat)");
            ok &= out.ok;
            ok &= on_worker_processes(&source, a.partitions, &image)?;
        }
        None => {
            println!("\n(../shared not found: skipped the pretrained MobileNetV2 on chelsea.png)")
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
