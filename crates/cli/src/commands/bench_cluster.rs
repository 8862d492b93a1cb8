//! `tiersplit bench cluster`: the distributed runtime against its targets, each printed as a
//! ratio measured in one run on a local cluster of worker processes: the cost model's
//! prediction error on the emulated cluster, goodput on an emulated link, and the runtime's
//! overhead over the compute of its parts on unshaped loopback.

use crate::commands::run::start_local_nodes;
use crate::listing;
use anyhow::{Context, Result};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use tiersplit_cost::{Profile, Scenario};
use tiersplit_session::assets::assets_dir;
use tiersplit_session::bench::{
    every_plan, goodput, link_scenario, runtime_overhead, Case, ErrorSpread,
};
use tiersplit_session::{median, LocalTls, ModelSource, Session, StartedNodes};

const LOCAL: &str = include_str!("../../../../scenarios/local-cluster.toml");

/// The real MobileNetV2 when its file is here, GoogLeNet and ResNet-18 of the zoo.
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
    if let Some(s) = assets_dir() {
        let path = s.join("models/mobilenet_v2_imagenet.onnx");
        add(
            "mobilenet_v2 (real)",
            path.display().to_string(),
            "mobilenet_v2_imagenet.json",
        )?;
    }
    add("googlenet (zoo)", "zoo:googlenet".into(), "googlenet.json")?;
    add("resnet18 (zoo)", "zoo:resnet18".into(), "resnet18.json")?;
    Ok(v)
}

async fn connect(scenario: &Scenario, tls: LocalTls) -> Result<(Session, StartedNodes)> {
    let nodes = start_local_nodes(scenario, tls)?;
    let c = nodes.connect("device", Duration::from_secs(60));
    Ok((Session::connect(&c).await?, nodes))
}

/// Goodput and round-trip time with mutual TLS and in plaintext, over each link, interleaved
/// size by size.
async fn tls_cost(frames: usize) -> Result<()> {
    println!("4. what mutual TLS costs: the same transfers over TLS and in plaintext (tensor there and back)");
    for (mbps, delay_ms, label) in [
        (100.0, 10.0, "emulated 100 Mbps, 20 ms RTT"),
        (1e5, 0.0, "loopback, unshaped"),
    ] {
        let link = link_scenario(mbps, delay_ms)?;
        for mb in [1, 4, 16] {
            let mut got = Vec::new();
            for tls in [LocalTls::OnTheFly, LocalTls::Off] {
                let (mut session, local) = connect(&link, tls).await?;
                got.push(goodput(&mut session, &link, &[mb << 10], frames).await?[0]);
                drop(local);
            }
            let (t, p) = (got[0], got[1]);
            println!(
                "   {label:<30} {mb:>2} MiB: goodput TLS {:.1}% vs plaintext {:.1}% ({:.3}x); round trip p50 {:.1} vs {:.1} ms ({:+.1}%)",
                t.ratio * 100.0,
                p.ratio * 100.0,
                t.ratio / p.ratio,
                t.p50_ms,
                p.p50_ms,
                (t.p50_ms / p.p50_ms - 1.0) * 100.0
            );
        }
    }
    Ok(())
}

/// Rates and the tensor sizes (KiB) tried at each: a round trip of at most about 11 s.
const SWEEP: [(f64, &[u64]); 5] = [
    (0.1, &[64]),
    (1.0, &[64]),
    (10.0, &[64, 1024]),
    (100.0, &[64, 1024, 16384]),
    (1000.0, &[64, 1024, 16384]),
];

/// Goodput over one emulated link at each rate of [`SWEEP`], against the 3% target.
async fn rate_sweep(frames: usize) -> Result<()> {
    println!("3. the emulated link keeps its rate: goodput (a tensor there and back over one link with 1 ms one-way delay; the delays and the compute taken out) as a share of the configured rate");
    let mut worst: f64 = 0.0;
    for (mbps, sizes) in SWEEP {
        let link = link_scenario(mbps, 1.0)?;
        let (mut session, local) = connect(&link, LocalTls::OnTheFly).await?;
        for &kib in sizes {
            // Slow links get fewer frames: about 20 s of transfers each at most.
            let round_trip_s = 2.0 * (kib << 10) as f64 * 8.0 / (mbps * 1e6);
            let n = ((20.0 / round_trip_s) as usize).clamp(2, frames.max(2));
            let g = goodput(&mut session, &link, &[kib], n).await?[0];
            worst = worst.max((g.ratio - 1.0).abs());
            println!(
                "   {mbps:>7} Mbit/s {kib:>6} KiB: {:>6.1}% of the rate, {n} frames, round trip p50 {:.1} ms ({})",
                g.ratio * 100.0,
                g.p50_ms,
                if (g.ratio - 1.0).abs() <= 0.03 { "met" } else { "NOT met" }
            );
        }
        drop(local);
    }
    println!(
        "   worst |goodput / rate - 1| {:.1}%: ratio to the 3% target {:.2}\n",
        worst * 100.0,
        worst / 0.03
    );
    Ok(())
}

pub fn run(frames: usize) -> Result<ExitCode> {
    let scenario = Scenario::from_toml(LOCAL)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        println!("1. prediction error on the emulated local cluster ({}), {frames} frames per plan, one at a time", scenario.name);
        let (mut session, local) = connect(&scenario, LocalTls::OnTheFly).await?;
        let cases = cases()?;
        let mut all = Vec::new();
        for (label, rows) in every_plan(&mut session, &scenario, &cases, true, frames, None).await? {
            let e = ErrorSpread::of(&rows);
            println!(
                "   {label:<22} {} plans: median |error| {:>5.1}%, worst {:>5.1}% ({}), all exact: {}",
                rows.len(),
                e.median * 100.0,
                e.worst * 100.0,
                e.worst_plan,
                e.all_exact
            );
            all.extend(e.errors);
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
        for (label, rows) in every_plan(&mut session, &scenario, &cases, false, frames, Some(&chains)).await? {
            let ratios: Vec<f64> = rows.iter().map(runtime_overhead).collect();
            let listed = listing(rows.iter().zip(&ratios), |(m, r)| {
                format!("{} {r:.3}", m.algorithm)
            });
            println!("   {label:<22} latency / compute: {listed}");
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

        rate_sweep(frames).await?;
        tls_cost(frames).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
