use crate::cluster_run::{run_plan, Feed, Measured, Workload};
use crate::input_args::InputArgs;
use crate::local_cluster::LocalWorker;
use crate::model_source::ModelSource;
use crate::plan_deployment::emulation_of;
use crate::problem_setup::{self, read_scenario, reference_profile, ProfileArgs};
use crate::split_exec::{load_unsplit, model_inputs, run_named};
use crate::trace_run::{read_trace, run_all, strategies, TraceReport, TraceSetup};
use crate::trace_table::print_trace_reports;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tiersplit_cost::{Scenario, Tier};
use tiersplit_plan::planner_by_name;
use tiersplit_runtime::{ClientTls, ClusterDriver, Emulation};

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum EmulateMode {
    /// Emulate when any node runs as a local process (a one-machine cluster).
    Auto,
    On,
    Off,
    /// Only the links' one-way delays, in the transport: rates and node speeds are shaped by
    /// the kernel (`scripts/testbed`: tc and cgroup CPU quotas), predictions scaled as with
    /// full emulation.
    Delays,
}

#[derive(clap::Args)]
pub struct Args {
    /// An .onnx file, or zoo:NAME for a built-in model.
    model: String,
    /// Scenario TOML; nodes with an `address` are reached there, the others are started as
    /// local worker processes on loopback. This process is the device.
    #[arg(long)]
    scenario: PathBuf,
    #[arg(long, default_value = "best")]
    algo: String,
    #[arg(long, default_value_t = 10)]
    frames: usize,
    /// Feed frames at this rate, pipelined (default: one frame at a time, for latency).
    #[arg(long)]
    fps: Option<f64>,
    /// Switch live to this algorithm's plan during the run (frames in flight finish on the
    /// first plan, later frames use the new one).
    #[arg(long)]
    switch_to: Option<String>,
    /// Frames fed before the switch (default: half of --frames).
    #[arg(long, requires = "switch_to")]
    switch_after: Option<usize>,
    /// Frames in flight at most when pipelining.
    #[arg(long, default_value_t = 8)]
    window: usize,
    #[command(flatten)]
    inputs: InputArgs,
    #[command(flatten)]
    profiles: ProfileArgs,
    /// Shape links to the scenario's rates and delays and slow nodes to its speeds.
    #[arg(long, value_enum, default_value = "auto")]
    emulate: EmulateMode,
    /// Address the device listens on for results.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Speak TLS to the nodes' control plane, trusting this PEM CA.
    #[arg(long)]
    tls_ca: Option<PathBuf>,
    /// The name the nodes' certificates are for (default: each node's address).
    #[arg(long, default_value = "", requires = "tls_ca")]
    tls_domain: String,
    /// Seconds any network wait (and any frame) may take before the run fails.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Write the measurements (with the per-frame breakdown) as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Play this trace of changing link rates and node loads (TOML, `docs/traces.md`) on the
    /// emulated cluster for its duration, adapting the plan as the device measures the change,
    /// then run the static plans over the same trace for comparison.
    #[arg(long, conflicts_with_all = ["switch_to", "frames"])]
    trace: Option<PathBuf>,
    /// With --trace: `off` runs only the static plans.
    #[arg(long, value_enum, default_value = "on", requires = "trace")]
    adapt: OnOff,
    /// With --trace, the static plans to compare with: `phases` (the plan --algo picks for
    /// each phase of the trace), `none`, or a list of algorithms planned for the start.
    #[arg(long, default_value = "phases", requires = "trace")]
    compare: String,
    /// With --trace, draw latency against time into this SVG file.
    #[arg(long, requires = "trace")]
    plot: Option<PathBuf>,
    /// When frames come faster than the cluster answers (--fps): `back-pressure` (the source
    /// waits, nothing dropped) or `drop-oldest` (the oldest waiting frame is dropped, counted).
    #[arg(long, default_value = "back-pressure")]
    overload: tiersplit_adapt::Overload,
    /// Frames waiting on the device at most before the overload policy applies.
    #[arg(long, default_value_t = 2)]
    queue: usize,
    /// A switch needs at least this predicted gain (0.1 = 10%): hysteresis.
    #[arg(long, default_value_t = 0.1)]
    min_gain: f64,
    /// Frames after a switch before another may happen.
    #[arg(long, default_value_t = 3)]
    cooldown_frames: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

/// Every node but the device: (name, address), and the processes started for them here.
pub struct StartedNodes {
    pub remotes: Vec<(String, String)>,
    pub local: Vec<LocalWorker>,
}

/// Starts a local worker process for each non-device node without an address.
pub fn start_nodes(scenario: &Scenario) -> Result<StartedNodes> {
    let mut remotes = Vec::new();
    let mut local = Vec::new();
    for n in scenario.nodes.iter().filter(|n| n.tier != Tier::Device) {
        match &n.address {
            Some(a) => remotes.push((n.name.clone(), a.clone())),
            None => {
                let w = LocalWorker::start(&n.name)?;
                remotes.push((n.name.clone(), w.addr.clone()));
                local.push(w);
            }
        }
    }
    Ok(StartedNodes { remotes, local })
}

pub fn print_measured(m: &Measured, feed: Feed) {
    println!("plan {}: {} ({} parts)", m.algorithm, m.placement, m.parts);
    match feed {
        Feed::Sequential => println!(
            "{} frames one at a time: latency p50 {:.1} ms, p95 {:.1} ms; predicted {:.1} ms ({:+.1}%)",
            m.frames,
            m.p50_ms,
            m.p95_ms,
            m.predicted_ms,
            m.error * 100.0
        ),
        Feed::Paced { fps, window } => println!(
            "{} frames fed at {fps:.1} fps (window {window}): {:.2} fps measured, predicted {:.2} ({:+.1}%); latency p50 {:.1} ms, p95 {:.1} ms",
            m.frames,
            m.fps,
            m.predicted_fps,
            m.error * 100.0,
            m.p50_ms,
            m.p95_ms
        ),
    }
    let n = m.breakdown.len().max(1) as f64;
    let mut compute: std::collections::BTreeMap<&str, f64> = Default::default();
    let mut transfer: std::collections::BTreeMap<&str, f64> = Default::default();
    let mut queued = 0.0;
    for b in &m.breakdown {
        for (k, v) in &b.compute_ms {
            *compute.entry(k).or_default() += v / n;
        }
        for (k, v) in &b.transfer_ms {
            *transfer.entry(k).or_default() += v / n;
        }
        queued += b.queued_ms / n;
    }
    let fmt = |m: &std::collections::BTreeMap<&str, f64>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "per frame (mean ms): compute [{}]; transfer [{}]; queued {queued:.1}",
        fmt(&compute),
        fmt(&transfer)
    );
    println!(
        "bytes per frame: {}; backbone {} (predicted {})",
        m.link_bytes
            .iter()
            .map(|(k, v)| format!("{k} {}", tiersplit_graph::Bytes(*v)))
            .collect::<Vec<_>>()
            .join(", "),
        tiersplit_graph::Bytes(m.backbone_bytes),
        tiersplit_graph::Bytes(m.predicted_backbone_bytes)
    );
    if !m.link_mbps_estimated.is_empty() {
        println!(
            "link rates estimated from the transfers (Mbit/s): {}",
            m.link_mbps_estimated
                .iter()
                .map(|(k, v)| format!("{k} {v:.1}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for (plan, first, at) in &m.switches {
        println!("switched live to plan {plan} at {at:.0} ms: frames from {first} on use it");
    }
    println!(
        "frames fed {}, answered {}, failed {}",
        m.fed,
        m.frames,
        m.failures.len()
    );
    for (f, e) in &m.failures {
        println!("frame {f} FAILED: {e}");
    }
    println!(
        "exactness against the unsplit model: max relative difference {:.2e}: {}",
        m.max_rel_diff,
        if m.exact { "PASS" } else { "FAIL" }
    );
}

/// The profile and emulation for a scenario. With emulation the fastest node runs at this
/// machine's own speed, so the profile is first calibrated to this machine (its layer times
/// scaled so they add up to `whole_ms`, the unsplit model's time measured here now) and then
/// scaled by the fastest node's speed factor.
pub fn emulated(
    scenario: &Scenario,
    profile: tiersplit_cost::Profile,
    whole_ms: f64,
    mode: EmulateMode,
) -> (tiersplit_cost::Profile, Emulation) {
    if mode == EmulateMode::Off {
        return (profile, Emulation::default());
    }
    let fastest = scenario.fastest_speed();
    // Under the testbed the device itself runs under its CPU quota, so the unsplit time it
    // measured is its own (slower) speed: bring it back to the fastest node's.
    let whole_ms = if mode == EmulateMode::Delays {
        let device = scenario
            .nodes
            .iter()
            .find(|n| n.tier == Tier::Device)
            .map_or(fastest, |n| n.speed);
        whole_ms * device / fastest
    } else {
        whole_ms
    };
    let layers_ms: f64 = profile.layers.iter().map(|l| l.ms).sum();
    let calibration = if layers_ms > 0.0 {
        whole_ms / layers_ms
    } else {
        1.0
    };
    (
        profile.scaled(calibration * fastest),
        emulation_of(scenario, mode == EmulateMode::Delays),
    )
}

/// Median time of the unsplit model on `inputs` here, over `runs` runs after a warm-up.
pub fn time_unsplit(
    m: &dyn tiersplit_exec::LoadedModel,
    inputs: &[(String, tiersplit_exec::HostTensor)],
    runs: usize,
) -> Result<(Vec<tiersplit_exec::HostTensor>, f64)> {
    let reference = run_named(m, inputs)?;
    let mut times = Vec::new();
    for _ in 0..runs.max(1) {
        let t = std::time::Instant::now();
        run_named(m, inputs)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok((reference, crate::median::median(times)))
}

pub fn run(a: Args) -> Result<ExitCode> {
    if a.frames == 0 {
        bail!("--frames must be at least 1");
    }
    if let Some(f) = a.fps {
        if !(f.is_finite() && f > 0.0) {
            bail!("--fps must be positive, got {f}");
        }
    }
    let scenario = read_scenario(&a.scenario)?;
    // A bad trace is refused before any node starts.
    let trace = match &a.trace {
        Some(p) => Some(read_trace(p, &scenario)?),
        None => None,
    };
    let source = ModelSource::open(&a.model)?;
    let model = source.import(&a.inputs.import_options())?;
    let profile = reference_profile(&a.profiles, &source, &model)?;
    let device = scenario
        .nodes
        .iter()
        .find(|n| n.tier == Tier::Device)
        .context("the scenario has no device")?
        .name
        .clone();
    let StartedNodes { remotes, local } = start_nodes(&scenario)?;
    let mode = match a.emulate {
        EmulateMode::Auto if local.is_empty() => EmulateMode::Off,
        EmulateMode::Auto => EmulateMode::On,
        m => m,
    };
    let emulate = mode != EmulateMode::Off;
    if a.trace.is_some() && !matches!(mode, EmulateMode::On) {
        bail!("--trace changes the emulated link rates and node speeds: it needs --emulate on (or auto with local nodes)");
    }
    let inputs = model_inputs(&model, &a.inputs.choice(0))?;
    let (reference, whole_ms) = time_unsplit(load_unsplit(&source, &model)?.as_ref(), &inputs, 5)?;
    let (profile, emulation) = emulated(&scenario, profile, whole_ms, mode);
    let problem = problem_setup::problem(&model, &scenario, &a.scenario, &profile)?;
    let plan = planner_by_name(&a.algo)?.plan(&problem)?;
    if let Some(trace) = trace {
        let setup = TraceSetup {
            label: source.label.clone(),
            model: std::sync::Arc::new(model),
            base: scenario.clone(),
            scenario_path: a.scenario.clone(),
            profile,
            trace,
            fastest: scenario.fastest_speed(),
            whole_ms,
            inputs,
            reference,
            fps: a.fps,
            window: a.window,
            overload: a.overload,
            queue: a.queue,
        };
        let out = run_traced(&a, &setup, plan, &device, &remotes);
        drop(local);
        return out;
    }
    let next_plan = match &a.switch_to {
        Some(algo) => Some(planner_by_name(algo)?.plan(&problem)?),
        None => None,
    };
    let feed = match a.fps {
        None => Feed::Sequential,
        Some(fps) => Feed::Paced {
            fps,
            window: a.window,
        },
    };
    println!(
        "run {} on {} ({} nodes{}), this process is {device}",
        source.label,
        scenario.name,
        scenario.nodes.len(),
        match mode {
            EmulateMode::Delays =>
                ", link delays EMULATED in the transport, rates and speeds shaped by the kernel",
            EmulateMode::Off => "",
            _ => ", EMULATED link rates, delays and node speeds",
        }
    );
    if emulate {
        println!(
            "  unsplit model here: {whole_ms:.1} ms (median of 5); the profile is calibrated to it"
        );
    }
    for (name, addr) in &remotes {
        let how = if local.iter().any(|w| &w.name == name) {
            "local worker process"
        } else {
            "worker"
        };
        println!("  {name}: {how} at {addr}");
    }
    let tls = match &a.tls_ca {
        Some(p) => Some(ClientTls {
            ca_pem: std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
            domain: a.tls_domain.clone(),
        }),
        None => None,
    };
    let rt = tokio::runtime::Runtime::new()?;
    let measured = rt.block_on(async {
        let mut driver = ClusterDriver::start_tls(
            &device,
            &a.listen,
            &remotes,
            Duration::from_secs(a.timeout),
            tls.as_ref(),
        )
        .await?;
        let w = Workload {
            model: &model,
            problem: &problem,
            inputs: &inputs,
            reference: &reference,
            switch: next_plan
                .as_ref()
                .map(|p| (p, a.switch_after.unwrap_or(a.frames / 2))),
        };
        run_plan(&mut driver, &w, &plan, emulation, a.frames, feed).await
    })?;
    print_measured(&measured, feed);
    for note in &plan.notes {
        println!("note: {note}");
    }
    if let Some(path) = &a.json {
        std::fs::write(path, serde_json::to_string_pretty(&measured)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    drop(local);
    Ok(if measured.exact && measured.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `run --trace`: the adaptive run, then each static plan, over the same trace; a table, each
/// switch, the plot and the JSON.
fn run_traced(
    a: &Args,
    setup: &TraceSetup,
    plan: tiersplit_plan::Plan,
    device: &str,
    remotes: &[(String, String)],
) -> Result<ExitCode> {
    let strategies = strategies(
        setup,
        &plan,
        &a.compare,
        (a.adapt == OnOff::On)
            .then(|| tiersplit_adapt::SwitchPolicy::new(a.min_gain, a.cooldown_frames)),
    )?;
    println!(
        "trace {} ({:.0} s, {} change(s)): {}",
        setup.trace.name,
        setup.trace.duration_s,
        setup.trace.steps.len(),
        setup.trace.description
    );
    println!(
        "  on {}, EMULATED link rates, delays and node speeds; unsplit model here {:.1} ms (median of 5), the profile calibrated to it",
        setup.base.name, setup.whole_ms
    );
    let rt = tokio::runtime::Runtime::new()?;
    let reports: Vec<TraceReport> = rt.block_on(async {
        let mut driver =
            ClusterDriver::start(device, &a.listen, remotes, Duration::from_secs(a.timeout))
                .await?;
        run_all(&mut driver, setup, strategies).await
    })?;
    print_trace_reports(&reports);
    if let Some(path) = &a.plot {
        crate::latency_plot::draw(
            path,
            &format!(
                "{} on {} under trace {}",
                std::path::Path::new(&setup.label)
                    .file_name()
                    .map_or(setup.label.clone(), |f| f.to_string_lossy().to_string()),
                setup.base.name,
                setup.trace.name
            ),
            &reports,
            setup.trace.duration_s,
        )?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = &a.json {
        std::fs::write(path, serde_json::to_string_pretty(&reports)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    let ok = reports
        .iter()
        .all(|r| r.all_exact && r.failures.is_empty() && r.fed == r.frames.len() as u64);
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
