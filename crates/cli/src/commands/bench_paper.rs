//! `tiersplit bench paper dads`: the DADS paper's experiments re-run on a local cluster of
//! worker processes (the emulated two-tier setting of `scenarios/dads-wifi.toml`, its uplink
//! set to each of the paper's networks), printed as Markdown tables: every plan predicted and
//! measured, the paper's headline figures beside ours, and the bandwidth sweeps of its Figs.
//! 17 and 18. `docs/papers.md` is made from its output.

use crate::commands::run::start_local_nodes;
use crate::paper_plot::{self, Bars, Series};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use tiersplit_cost::{Profile, Scenario};
use tiersplit_session::bench::{
    d3_claims, dads_claims, dads_rows, dads_sweep, decc_claims, find, on_one_machine, plans_on,
    Claim, CloudHw, DadsRow, Load, MeasureBudget, PaperModel, Pin, PlanFigures, ScenarioRow,
    SweepPoint, Uplink, D3_MODELS, D3_PLANNERS, D3_TWO_TIER, DADS_PLANNERS, DADS_UPLINKS,
    DECC_MODELS, DECC_PLANNERS,
};
use tiersplit_session::{LocalTls, ModelSource, Session, StartedNodes};

const DADS_BASE: &str = include_str!("../../../../scenarios/dads-wifi.toml");
const SLOW_DEVICE: &str = include_str!("../../../../scenarios/dads-slow-device.toml");
const D3_SCENARIOS: [&str; 3] = [
    include_str!("../../../../scenarios/d3-2edge.toml"),
    include_str!("../../../../scenarios/d3-3edge.toml"),
    include_str!("../../../../scenarios/d3-4edge.toml"),
];
const DECC_SCENARIOS: [&str; 2] = [
    include_str!("../../../../scenarios/d3-2edge.toml"),
    include_str!("../../../../scenarios/local-cluster.toml"),
];

/// The papers whose experiments can be re-run.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Paper {
    /// DADS (INFOCOM 2019): two tiers, four uplinks, five models, light and heavy load.
    Dads,
    /// D3 (2021): three tiers with VSM tiles on 2 to 4 edge nodes, five models.
    D3,
    /// DECC (TETC 2024): branch-parallel execution across edge and cloud on multi-branch models.
    Decc,
}

/// What `bench paper` was asked for.
pub struct PaperArgs {
    pub paper: Paper,
    pub models: Vec<String>,
    pub uplinks: Vec<String>,
    pub budget: MeasureBudget,
    pub predict_only: bool,
    pub sweeps: bool,
    pub plots: Option<PathBuf>,
    pub cloud: CloudHw,
}

/// A zoo model with its reference profile from `profiles/`.
fn paper_model(name: &str) -> Result<PaperModel> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let file = root
        .join("profiles")
        .join(format!("{}.json", name.replace('-', "_")));
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("reading the reference profile {}", file.display()))?;
    Ok(PaperModel {
        name: name.into(),
        source: ModelSource::open(&format!("zoo:{name}"))?,
        profile: Profile::from_json(&text)?,
    })
}

fn uplinks(names: &[String]) -> Result<Vec<Uplink>> {
    if names.is_empty() {
        return Ok(DADS_UPLINKS.to_vec());
    }
    names
        .iter()
        .map(|n| {
            DADS_UPLINKS
                .iter()
                .find(|u| u.name.eq_ignore_ascii_case(n))
                .copied()
                .with_context(|| format!("unknown uplink '{n}' (known: CAT1, 3G, 4G, WiFi)"))
        })
        .collect()
}

/// A local cluster of `scenario`'s nodes and the device's session on it; none when only
/// predicting.
async fn cluster(
    scenario: &Scenario,
    predict_only: bool,
) -> Result<Option<(Session, StartedNodes)>> {
    if predict_only {
        return Ok(None);
    }
    let nodes = start_local_nodes(scenario, LocalTls::OnTheFly)?;
    let c = nodes.connect(&scenario.device().name, Duration::from_secs(60));
    Ok(Some((Session::connect(&c).await?, nodes)))
}

fn models_or(given: &[String], default: &[&str]) -> Result<Vec<PaperModel>> {
    let names: Vec<String> = if given.is_empty() {
        default.iter().map(|s| s.to_string()).collect()
    } else {
        given.to_vec()
    };
    names.iter().map(|m| paper_model(m)).collect()
}

/// Fails when any measured plan's answers differed from the unsplit model's.
fn all_exact<'a>(plans: impl IntoIterator<Item = &'a PlanFigures>) -> Result<ExitCode> {
    if plans.into_iter().any(|p| p.exact == Some(false)) {
        bail!("a measured plan's answers differed from the unsplit model's");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(a: PaperArgs) -> Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new()?;
    match a.paper {
        Paper::Dads => rt.block_on(dads(&a)),
        Paper::D3 => rt.block_on(on_scenarios(&a, &D3)),
        Paper::Decc => rt.block_on(on_scenarios(&a, &DECC)),
    }
}

async fn dads(a: &PaperArgs) -> Result<ExitCode> {
    if a.cloud == CloudHw::V100 {
        return dads_on_v100(a).await;
    }
    let base = on_one_machine(&Scenario::from_toml(DADS_BASE)?);
    let models = models_or(&a.models, &DADS_MODELS)?;
    let uplinks = uplinks(&a.uplinks)?;
    let mut c = cluster(&base, a.predict_only).await?;
    let rows = dads_rows(
        c.as_mut().map(|c| &mut c.0),
        &base,
        &models,
        &uplinks,
        a.budget,
        a.cloud,
    )
    .await?;
    drop(c);
    let slow = on_one_machine(&Scenario::from_toml(SLOW_DEVICE)?);
    let towers_model = paper_model("alexnet-towers")?;
    let mut c = cluster(&slow, a.predict_only).await?;
    let algorithms = ["neurosurgeon", "dads-dsl"];
    let session = c.as_mut().map(|c| &mut c.0);
    let towers = plans_on(
        session,
        &slow,
        &towers_model,
        &algorithms,
        Pin::Reference,
        a.budget,
    )
    .await?;
    drop(c);
    print_setting(&rows, a);
    print_rows(&rows);
    print_claims(&dads_claims(&rows));
    print_towers(&towers);
    let r18 = models.iter().find(|m| m.name == "resnet18");
    if let Some(r18) = r18.filter(|_| a.sweeps) {
        print_sweeps(r18, &base)?;
    }
    if let Some(dir) = &a.plots {
        plot_dads(r18.unwrap_or(&models[0]), &base, &rows, dir)?;
    }
    all_exact(rows.iter().flat_map(|r| &r.plans).chain(&towers))
}

/// DADS's models and the two-tower AlexNet.
const DADS_MODELS: [&str; 6] = [
    "nin",
    "tinyyolov2",
    "vgg16",
    "alexnet",
    "resnet18",
    "alexnet-towers",
];

/// The DADS experiment with a V100 GPU server for its cloud, predicted only: the emulated
/// cluster runs its fastest node at this machine's speed, and a V100 is quicker.
async fn dads_on_v100(a: &PaperArgs) -> Result<ExitCode> {
    let base = on_one_machine(&Scenario::from_toml(DADS_BASE)?);
    let models = models_or(&a.models, &DADS_MODELS)?;
    let rows = dads_rows(
        None,
        &base,
        &models,
        &uplinks(&a.uplinks)?,
        a.budget,
        a.cloud,
    )
    .await?;
    print_setting(&rows, a);
    print_rows(&rows);
    print_claims(&dads_claims(&rows));
    Ok(ExitCode::SUCCESS)
}

/// Draws an experiment's rows into a folder.
type PlotRows = fn(&[ScenarioRow], &Path) -> Result<()>;

/// One experiment run on each of its scenarios as configured: its title, scenarios (TOML),
/// default models, planners, whether its tables show backbone bytes (or frames per second),
/// and its claims.
struct OnScenarios {
    title: &'static str,
    scenarios: &'static [&'static str],
    models: &'static [&'static str],
    planners: &'static [&'static str],
    backbone: bool,
    claims: fn(&[ScenarioRow]) -> Vec<Claim>,
    /// Its figures as pictures into a folder (`--plots`), when it has any.
    plot: Option<PlotRows>,
}

const D3: OnScenarios = OnScenarios {
    title: "D3 re-run: three tiers, VSM tiles on 2 to 4 edge nodes",
    scenarios: &D3_SCENARIOS,
    models: &D3_MODELS,
    planners: &D3_PLANNERS,
    backbone: true,
    claims: d3_claims,
    plot: Some(plot_d3),
};

const DECC: OnScenarios = OnScenarios {
    title: "DECC re-run: branches in parallel on edge and cloud, against consecutive splits",
    scenarios: &DECC_SCENARIOS,
    models: &DECC_MODELS,
    planners: &DECC_PLANNERS,
    backbone: false,
    claims: decc_claims,
    plot: None,
};

/// Every model's plans on each of the experiment's scenarios, printed.
async fn on_scenarios(a: &PaperArgs, e: &OnScenarios) -> Result<ExitCode> {
    let models = models_or(&a.models, e.models)?;
    let mut rows = Vec::new();
    for text in e.scenarios {
        let scenario = on_one_machine(&Scenario::from_toml(text)?);
        let mut c = cluster(&scenario, a.predict_only).await?;
        for m in &models {
            let session = c.as_mut().map(|c| &mut c.0);
            let plans = plans_on(session, &scenario, m, e.planners, Pin::Configured, a.budget);
            rows.push(ScenarioRow {
                model: m.name.clone(),
                scenario: scenario.name.clone(),
                plans: plans.await?,
            });
        }
    }
    println!("## {}\n", e.title);
    print_budget(a);
    print_plans(
        rows.iter().map(|r| (&r.model, &r.scenario, &r.plans[..])),
        e.planners,
        e.backbone,
    );
    print_claims(&(e.claims)(&rows));
    if let (Some(dir), Some(plot)) = (&a.plots, e.plot) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        plot(&rows, dir)?;
    }
    all_exact(rows.iter().flat_map(|r| &r.plans))
}

fn print_budget(a: &PaperArgs) {
    if a.predict_only {
        println!("Predicted only (`--predict-only`): nothing was run on the cluster.");
    } else {
        println!(
            "Measured on a local cluster of worker processes, each scenario emulated with its fastest node at this machine's speed: latency the median of up to {} frames one at a time (after a warm-up frame){}; plans predicted over {} s a frame are not run; every answer checked against the unsplit model.",
            a.budget.frames,
            if a.budget.throughput { ", throughput fed 1.25 times the predicted rate with 4 in flight" } else { "" },
            a.budget.max_frame_s
        );
    }
}

/// One table row per (model, scenario): each plan's latency (and backbone bytes or frames per
/// second), predicted / measured.
fn print_plans<'a>(
    rows: impl Iterator<Item = (&'a String, &'a String, &'a [PlanFigures])> + Clone,
    algorithms: &[&str],
    backbone: bool,
) {
    let second = if backbone { "backbone kB" } else { "fps" };
    println!("\n### Every plan: latency ms and {second}, predicted / measured\n");
    let head: Vec<String> = algorithms
        .iter()
        .map(|p| format!("{p} ms | {p} {second}"))
        .collect();
    println!("| model | scenario | {} |", head.join(" | "));
    println!("|---|---|{}", "---|---|".repeat(algorithms.len()));
    for (model, scenario, plans) in rows.clone() {
        let cells: Vec<String> = plans
            .iter()
            .map(|p| {
                let other = if backbone {
                    backbone_cell(p)
                } else {
                    fps_cell(p)
                };
                format!("{} | {other}", ms_cell(p))
            })
            .collect();
        println!("| {model} | {scenario} | {} |", cells.join(" | "));
    }
    println!("\nPlans (layers per node, `~` tiled):\n");
    for (model, scenario, plans) in rows {
        let listed: Vec<String> = plans
            .iter()
            .map(|p| format!("{} {}", p.algorithm, p.placement))
            .collect();
        println!("- {model} on {scenario}: {}", listed.join("; "));
    }
}

fn backbone_cell(p: &PlanFigures) -> String {
    let kb = |b: u64| format!("{:.0}", b as f64 / 1e3);
    format!(
        "{} / {}",
        kb(p.predicted_backbone),
        p.measured_backbone.map_or("-".into(), kb)
    )
}

fn print_setting(rows: &[DadsRow], a: &PaperArgs) {
    println!("## DADS (INFOCOM 2019) re-run: `scenarios/dads-wifi.toml`, uplink set per row\n");
    match a.cloud {
        CloudHw::ThisMachine => println!("The device runs each model in a Raspberry Pi 3B+'s time; the cloud at this machine's speed on the device's engine.\n"),
        CloudHw::V100 => println!("The device runs each model in a Raspberry Pi 3B+'s time; the cloud is a Tesla V100 GPU server, each model in its time in ncnn's table.\n"),
    }
    let mut seen: Vec<&str> = Vec::new();
    for r in rows {
        if !seen.contains(&r.model.as_str()) {
            let cloud = r.cloud_ms.as_ref().map_or(String::new(), |(ms, why)| {
                format!(", cloud {ms:.2} ms ({why})")
            });
            println!(
                "- {}: device {:.0} ms ({}){cloud}",
                r.model, r.device_ms.0, r.device_ms.1
            );
            seen.push(&r.model);
        }
    }
    if a.cloud == CloudHw::V100 {
        println!("\nPredicted only: a V100 cloud is not emulated, as the emulated cluster runs its fastest node at this machine's speed and a V100 is quicker.");
    } else if a.predict_only {
        println!("\nPredicted only (`--predict-only`): nothing was run on the cluster.");
    } else {
        println!(
            "\nMeasured: latency the median of up to {} frames one at a time (after a warm-up frame), throughput fed 1.25 times the predicted rate with 4 in flight; plans predicted over {} s a frame are not run; every answer checked against the unsplit model.",
            a.budget.frames, a.budget.max_frame_s
        );
    }
}

fn ms_cell(p: &PlanFigures) -> String {
    let measured = p.measured_ms.map_or("-".into(), |m| format!("{m:.0}"));
    format!("{:.0} / {measured}", p.predicted_ms)
}

fn fps_cell(p: &PlanFigures) -> String {
    let measured = p.measured_fps.map_or("-".into(), |m| format!("{m:.2}"));
    format!("{:.2} / {measured}", p.predicted_fps)
}

fn print_rows(rows: &[DadsRow]) {
    println!("\n### Every plan: latency ms and frames/s, predicted / measured\n");
    let head: Vec<String> = DADS_PLANNERS.iter().map(|p| format!("{p} ms")).collect();
    println!(
        "| model | uplink | load | {} | dads fps | dads's plan |",
        head.join(" | ")
    );
    println!(
        "|---|---|---|{}---|---|",
        "---|".repeat(DADS_PLANNERS.len())
    );
    for r in rows {
        let cells: Vec<String> = r.plans.iter().map(ms_cell).collect();
        let dads = r.plan("dads").expect("every row has DADS's plan");
        println!(
            "| {} | {} ({} Mbps) | {} | {} | {} | {} |",
            r.model,
            r.uplink.name,
            r.uplink.mbps,
            r.load.name(),
            cells.join(" | "),
            fps_cell(dads),
            dads.placement
        );
    }
    for r in rows {
        for p in r.plans.iter().filter(|p| p.skipped.is_some()) {
            if r.load == tiersplit_session::bench::Load::Light {
                println!(
                    "\n{} on {}: {} not run: {}",
                    r.model,
                    r.uplink.name,
                    p.algorithm,
                    p.skipped.as_deref().unwrap_or_default()
                );
            }
        }
    }
}

fn print_claims(claims: &[Claim]) {
    println!("\n### The paper's figures beside ours\n");
    println!("| figure | claim | paper | ours, predicted | ours, measured |");
    println!("|---|---|---|---|---|");
    for c in claims {
        println!(
            "| {} | {} | {} | {} | {} |",
            c.figure, c.what, c.paper, c.predicted, c.measured
        );
    }
}

fn print_towers(plans: &[PlanFigures]) {
    println!("\n### Where the min-cut leaves the chain: the two-tower AlexNet on `scenarios/dads-slow-device.toml`\n");
    println!("| plan | layers per node | latency ms, predicted / measured | frames/s, predicted / measured |");
    println!("|---|---|---|---|");
    for p in plans {
        println!(
            "| {} | {} | {} | {} |",
            p.algorithm,
            p.placement,
            ms_cell(p),
            fps_cell(p)
        );
    }
    if let [ns, dsl] = plans {
        let measured = ns.measured_ms.zip(dsl.measured_ms);
        println!(
            "\nDSL's latency over Neurosurgeon's: predicted {:.3}, measured {}",
            dsl.predicted_ms / ns.predicted_ms,
            measured.map_or("-".into(), |(n, d)| format!("{:.3}", d / n))
        );
    }
}

fn print_sweeps(m: &PaperModel, base: &Scenario) -> Result<()> {
    println!("\n### Figs. 17 and 18: ResNet-18 as the uplink changes (predicted)\n");
    let rates: Vec<f64> = [0.5, 1.0, 1.51, 1.72, 2.15, 3.41, 5.0, 10.0, 18.88].to_vec();
    for fps in [1.0, 20.0] {
        println!("At {fps} frames/s:\n");
        println!("| uplink Mbps | DADS's mode | DSL ms | DSL fps | DSL sends up |");
        println!("|---|---|---|---|---|");
        for p in dads_sweep(m, base, fps, &rates)? {
            println!(
                "| {} | {} | {:.0} | {:.2} | {} |",
                p.mbps,
                if p.heavy {
                    "heavy (DSH)"
                } else {
                    "light (DSL)"
                },
                p.dsl_ms,
                p.dsl_fps,
                if p.dsl_cut.is_empty() {
                    "nothing (device only)".to_string()
                } else {
                    p.dsl_cut.join(", ")
                }
            );
        }
        println!();
    }
    Ok(())
}

/// The planners of DADS's figures, by the paper's names.
const DADS_PLOTTED: [(&str, &str); 4] = [
    ("device-only", "Edge-Only"),
    ("cloud-only", "Cloud-Only"),
    ("neurosurgeon", "Neurosurgeon"),
    ("dads", "DADS"),
];

/// One of DADS's figures: its load, name, axis, and the figure predicted (from a plan's
/// predicted ms and frames per second) and measured.
struct DadsFigure {
    load: Load,
    what: &'static str,
    y_desc: &'static str,
    predicted: fn(f64, f64) -> f64,
    measured: fn(&PlanFigures) -> Option<f64>,
}

const DADS_FIGURES: [DadsFigure; 2] = [
    DadsFigure {
        load: Load::Light,
        what: "latency",
        y_desc: "latency of one frame (ms, log scale)",
        predicted: |ms, _| ms,
        measured: |f| f.measured_ms,
    },
    DadsFigure {
        load: Load::Heavy,
        what: "throughput",
        y_desc: "frames per second, pipelined (log scale)",
        predicted: |_, fps| fps,
        measured: |f| f.measured_fps,
    },
];

/// DADS's Figs. 15 and 16 in the paper's style for `m`: latency under light load and
/// throughput under heavy load against the uplink, each planner predicted along a sweep from
/// 0.1 to 100 Mbit/s, with the points measured at Table I's rates; then its switching point.
fn plot_dads(m: &PaperModel, base: &Scenario, rows: &[DadsRow], dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // From 0.1 to 100 Mbit/s, ten rates a decade.
    let rates: Vec<f64> = (0..=30)
        .map(|i| 0.1 * 10f64.powf(i as f64 / 10.0))
        .collect();
    let light = dads_sweep(m, base, Load::Light.fps(), &rates)?;
    let heavy = dads_sweep(m, base, Load::Heavy.fps(), &rates)?;
    for fig in &DADS_FIGURES {
        let sweep = if fig.load == Load::Heavy {
            &heavy
        } else {
            &light
        };
        let mut series = Vec::new();
        for (name, label) in DADS_PLOTTED {
            let i = DADS_PLANNERS
                .iter()
                .position(|p| *p == name)
                .expect("a DADS planner");
            let predicted = sweep
                .iter()
                .map(|p| (p.mbps, (fig.predicted)(p.plans[i].1, p.plans[i].2)));
            let measured = rows
                .iter()
                .filter(|r| r.model == m.name && r.load == fig.load)
                .filter_map(|r| Some((r.uplink.mbps, (fig.measured)(r.plan(name)?)?)));
            series.push(Series {
                label: format!("{label} (predicted; dots measured)"),
                predicted: predicted.collect(),
                measured: measured.collect(),
            });
        }
        let file = dir.join(format!("paper-dads-{}.svg", fig.what));
        let title = format!(
            "DADS, {}: {} under {} load against the uplink",
            m.name,
            fig.what,
            fig.load.name()
        );
        paper_plot::draw(&file, &title, fig.y_desc, &series)?;
        println!("wrote {}", file.display());
    }
    plot_switch(m, &heavy, rows, dir)
}

/// DADS's switching point for `m` (its Fig. 17's question) as a picture: DSL's and DSH's
/// pipelined frame period against the uplink, predicted along `sweep` (under heavy load),
/// DSL's measured under heavy load at Table I's rates, and the frame interval 1/Q of each
/// load. DADS turns to heavy-load mode where DSL's period is above 1/Q.
fn plot_switch(m: &PaperModel, sweep: &[SweepPoint], rows: &[DadsRow], dir: &Path) -> Result<()> {
    let (first, last) = match (sweep.first(), sweep.last()) {
        (Some(a), Some(b)) => (a.mbps, b.mbps),
        _ => bail!("no sweep to draw"),
    };
    let period = |name: &str| -> Vec<(f64, f64)> {
        let i = DADS_PLANNERS.iter().position(|p| *p == name);
        sweep
            .iter()
            .filter_map(|p| Some((p.mbps, 1e3 / p.plans[i?].2)))
            .collect()
    };
    let measured = rows
        .iter()
        .filter(|r| r.model == m.name && r.load == Load::Heavy)
        .filter_map(|r| Some((r.uplink.mbps, 1e3 / r.plan("dads-dsl")?.measured_fps?)))
        .filter(|p| p.1.is_finite())
        .collect();
    let mut series = vec![
        Series {
            label: "DSL's frame period (predicted; dots measured)".into(),
            predicted: period("dads-dsl"),
            measured,
        },
        Series {
            label: "DSH's frame period (predicted)".into(),
            predicted: period("dads-dsh"),
            measured: Vec::new(),
        },
    ];
    for load in [Load::Light, Load::Heavy] {
        let interval = 1e3 / load.fps();
        series.push(Series {
            label: format!("1/Q, {} load ({} frames/s)", load.name(), load.fps()),
            predicted: vec![(first, interval), (last, interval)],
            measured: Vec::new(),
        });
    }
    let file = dir.join("paper-dads-switch.svg");
    let title = format!(
        "DADS's switching point, {}: heavy-load mode where DSL's period is above 1/Q",
        m.name
    );
    let y_desc = "ms per frame, pipelined (log scale)";
    paper_plot::draw(&file, &title, y_desc, &series)?;
    println!("wrote {}", file.display());
    Ok(())
}

/// D3's backbone figure: bytes per frame on edge-cloud links for each model and scenario,
/// the quicker two-tier plan's against HPA's, HPA-VSM's and `best`'s, predicted as bars and
/// measured as dots.
fn plot_d3(rows: &[ScenarioRow], dir: &Path) -> Result<()> {
    let categories: Vec<String> = rows
        .iter()
        .map(|r| format!("{}\n{}", r.model, r.scenario))
        .collect();
    let kb = |b: u64| b as f64 / 1e3;
    let two_tier = Bars {
        label: "two-tier (quicker of Neurosurgeon, DSL)".into(),
        predicted: rows
            .iter()
            .map(|r| {
                r.quickest(&D3_TWO_TIER)
                    .map_or(0.0, |p| kb(p.predicted_backbone))
            })
            .collect(),
        measured: rows
            .iter()
            .map(|r| Some(kb(r.quickest(&D3_TWO_TIER)?.measured_backbone?)))
            .collect(),
    };
    let mut series = vec![two_tier];
    for (name, label) in [
        ("hpa", "HPA"),
        ("hpa-vsm", "HPA + VSM (D3)"),
        ("best", "our best"),
    ] {
        series.push(Bars {
            label: label.into(),
            predicted: rows
                .iter()
                .map(|r| find(&r.plans, name).map_or(0.0, |p| kb(p.predicted_backbone)))
                .collect(),
            measured: rows
                .iter()
                .map(|r| Some(kb(find(&r.plans, name)?.measured_backbone?)))
                .collect(),
        });
    }
    let file = dir.join("paper-d3-backbone.svg");
    let title = "D3: backbone (edge-cloud) traffic per frame, bars predicted, dots measured";
    paper_plot::draw_bars(&file, title, "kB per frame", &categories, &series)?;
    println!("wrote {}", file.display());
    Ok(())
}
