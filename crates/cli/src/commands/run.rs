use crate::input_args::InputArgs;
use crate::profile_args::ProfileArgs;
use crate::trace_table::print_trace_reports;
use crate::{exit_code, listing};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tiersplit_graph::Bytes;
use tiersplit_plan::planner_by_name;
use tiersplit_runtime::HealthConfig;
use tiersplit_session::{
    model_inputs, read_trace, run_all, run_plan, start_nodes_with, strategies, Calibrated, Connect,
    EmulateMode, FaultInjector, FaultPlayer, Feed, HookFaults, LocalFaults, LocalTls, Measured,
    ModelSource, Session, Setting, StartedNodes, TraceReport, TraceSetup, Workload,
};

/// How much of the scenario is emulated, as a command-line option.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum EmulateArg {
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
    emulate: EmulateArg,
    /// Address the device listens on for results.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Speak mutual TLS on both planes with the certificates in this directory (`tiersplit
    /// certs`): the device's own (named as the scenario's device) and the cluster CA's.
    #[arg(long)]
    certs: Option<PathBuf>,
    /// No TLS between the nodes (local clusters speak mutual TLS on certificates made for the
    /// run by default): to measure what TLS costs.
    #[arg(long, conflicts_with = "certs")]
    plaintext: bool,
    /// Seconds any network wait (and any frame) may take before the run fails.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Heartbeat interval to every node, in milliseconds: a killed node is seen at the next
    /// heartbeat, a hung one after two heartbeats unanswered within twice this.
    #[arg(long, default_value_t = 250)]
    heartbeat_ms: u64,
    /// Seconds each node keeps this device's session (deployments, emulation) after the last
    /// heartbeat: how long a device that dies leaves anything behind.
    #[arg(long, default_value_t = 10.0)]
    lease: f64,
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
    /// With --trace, do its faults (kill, stop, resume, restart) by running `COMMAND FAULT
    /// NODE` instead of signalling the local worker processes, and with --emulate delays its
    /// changes of conditions by `COMMAND rate FROM->TO MBPS` and `COMMAND speed NODE SHARE`
    /// (`scripts/testbed` does both for its namespaces: tc rates and cgroup CPU quotas).
    #[arg(long, requires = "trace")]
    fault_hook: Option<PathBuf>,
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
    /// With --trace: copy a frame caught on an older plan (a link collapsed under it) onto
    /// the new plan when the copy is expected to answer at least twice as soon, the first
    /// answer winning; `both` runs the adaptive strategy with and then without, to compare.
    #[arg(long, value_enum, default_value = "on", requires = "trace")]
    hedge: Hedging,
}

/// Whether adaptive runs hedge frames caught on an older plan.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Hedging {
    On,
    Off,
    Both,
}

impl Hedging {
    /// One adaptive run per policy.
    fn policies(self) -> Vec<tiersplit_adapt::HedgePolicy> {
        let on = tiersplit_adapt::HedgePolicy::default();
        let off = tiersplit_adapt::HedgePolicy {
            enabled: false,
            ..on
        };
        match self {
            Hedging::On => vec![on],
            Hedging::Off => vec![off],
            Hedging::Both => vec![on, off],
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

impl From<EmulateArg> for EmulateMode {
    fn from(a: EmulateArg) -> EmulateMode {
        match a {
            EmulateArg::Auto => EmulateMode::Auto,
            EmulateArg::On => EmulateMode::On,
            EmulateArg::Off => EmulateMode::Off,
            EmulateArg::Delays => EmulateMode::Delays,
        }
    }
}

/// Starts a local worker process of this binary for each node without an address.
pub fn start_local_nodes(
    scenario: &tiersplit_cost::Scenario,
    tls: LocalTls,
) -> Result<StartedNodes> {
    let exe = std::env::current_exe().context("locating the tiersplit binary")?;
    Ok(start_nodes_with(scenario, &exe, tls)?)
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
    let mean = m.mean_breakdown();
    let ms = |map: &BTreeMap<String, f64>| listing(map, |(k, v)| format!("{k} {v:.1}"));
    println!(
        "per frame (mean ms): compute [{}]; transfer [{}]; queued {:.1}",
        ms(&mean.compute_ms),
        ms(&mean.transfer_ms),
        mean.queued_ms
    );
    println!(
        "bytes per frame: {}; backbone {} (predicted {})",
        listing(&m.link_bytes, |(k, v)| format!("{k} {}", Bytes(*v))),
        Bytes(m.backbone_bytes),
        Bytes(m.predicted_backbone_bytes)
    );
    if !m.link_mbps_estimated.is_empty() {
        println!(
            "link rates estimated from the transfers (Mbit/s): {}",
            ms(&m.link_mbps_estimated)
        );
    }
    for (plan, first, at) in &m.switches {
        println!("switched live to plan {plan} at {at:.0} ms: frames from {first} on use it");
    }
    for f in &m.failovers {
        let lost = listing(&f.lost, |(n, why)| format!("{n} ({why})"));
        let what = match f.kept {
            true => "CUT (the plan crosses none: kept)",
            false => "FAIL-OVER",
        };
        println!(
            "{what}: lost {lost} at {:.0} ms; plan {} ({}) serving from frame {} at {:.0} ms; recovered (first answer) after {}; frames fed again: {:?}",
            f.down_s * 1e3,
            f.algorithm,
            f.placement,
            f.first_frame,
            f.ready_s * 1e3,
            f.recovery_ms().map_or("no answer yet".into(), |ms| format!("{ms:.0} ms")),
            f.reissued
        );
    }
    for (node, at) in &m.readmitted {
        let back = match node.contains("->") {
            true => format!("LINK BACK: {node} carries again"),
            false => format!("RE-ADMITTED: {node} answers again"),
        };
        println!("{back} at {:.0} ms; plans may use it again", at * 1e3);
    }
    if let Some(why) = &m.ended {
        println!("RUN ENDED EARLY: {why}");
    }
    println!(
        "frames fed {}, answered {} ({} fed again after a fail-over), failed {}",
        m.fed,
        m.frames,
        m.reissued,
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

/// What every run needs, set up before any frame flows.
struct Prepared {
    setting: Setting,
    source: ModelSource,
    model: std::sync::Arc<tiersplit_onnx::OnnxModel>,
    device: String,
    nodes: StartedNodes,
    mode: EmulateMode,
    run: Calibrated,
}

fn check_args(a: &Args) -> Result<()> {
    health_config(a)?;
    if a.frames == 0 {
        bail!("--frames must be at least 1");
    }
    if let Some(f) = a.fps {
        if !(f.is_finite() && f > 0.0) {
            bail!("--fps must be positive, got {f}");
        }
    }
    Ok(())
}

/// Reads the scenario and model, profiles, starts the local nodes, times the unsplit model
/// here and calibrates the profile to it.
fn prepare(a: &Args) -> Result<Prepared> {
    let setting = Setting::read(&a.scenario)?;
    let source = ModelSource::open(&a.model)?;
    let model = std::sync::Arc::new(source.import(&a.inputs.import_options())?);
    let engine = tiersplit_session::node_engine(setting.scenario.device());
    let profile = a.profiles.resolve(&source, &model, engine)?;
    let device = setting.device_name()?.to_string();
    let tls = match (&a.certs, a.plaintext) {
        (Some(dir), _) => LocalTls::Dir(dir.clone()),
        (None, true) => LocalTls::Off,
        (None, false) => LocalTls::OnTheFly,
    };
    let nodes = start_local_nodes(&setting.scenario, tls)?;
    let mode = EmulateMode::from(a.emulate).resolve(!nodes.local.is_empty());
    if let Some(path) = &a.trace {
        let trace = read_trace(path, &setting.scenario)?;
        let kernel_shapes = mode == EmulateMode::Delays && a.fault_hook.is_some();
        if trace.changes_conditions() && mode != EmulateMode::On && !kernel_shapes {
            bail!("--trace changes link rates and node speeds: it needs --emulate on (or auto with local nodes), or --emulate delays with a --fault-hook that shapes them (scripts/testbed does)");
        }
    }
    let inputs = model_inputs(&model, &a.inputs.choice(0))?;
    let run = Calibrated::measure(&source, &model, &setting.scenario, profile, inputs, 5, mode)?;
    Ok(Prepared {
        setting,
        source,
        model,
        device,
        nodes,
        mode,
        run,
    })
}

fn connect(a: &Args, device: &str, nodes: &StartedNodes) -> Result<Connect> {
    let timeout = Duration::from_secs(a.timeout);
    Ok(Connect {
        listen: a.listen.clone(),
        health: health_config(a)?,
        ..nodes.connect(device, timeout)
    })
}

/// The heartbeats and lease the options ask for.
fn health_config(a: &Args) -> Result<HealthConfig> {
    if a.heartbeat_ms == 0 || a.heartbeat_ms > 60_000 {
        bail!(
            "--heartbeat-ms must be between 1 and 60000, not {}",
            a.heartbeat_ms
        );
    }
    if !(a.lease.is_finite() && a.lease >= 1.0 && a.lease <= 600.0) {
        bail!("--lease must be between 1 and 600 seconds, not {}", a.lease);
    }
    let interval = Duration::from_millis(a.heartbeat_ms);
    if Duration::from_secs_f64(a.lease) < interval * 4 {
        bail!("--lease must span at least 4 heartbeats, or a live device loses its session");
    }
    Ok(HealthConfig {
        interval,
        timeout: interval * 2,
        misses: 2,
        lease: Duration::from_secs_f64(a.lease),
    })
}

pub fn run(a: Args) -> Result<ExitCode> {
    check_args(&a)?;
    if let Some(path) = &a.trace {
        // A bad trace is refused before any node starts.
        let scenario = Setting::read(&a.scenario)?.scenario;
        let trace = read_trace(path, &scenario)?;
        let p = prepare(&a)?;
        return run_traced(&a, p, trace);
    }
    let p = prepare(&a)?;
    let problem = p.setting.problem(&p.model, &p.run.profile)?;
    let plan = planner_by_name(&a.algo)?.plan(&problem)?;
    let next_plan = match &a.switch_to {
        Some(algo) => Some(planner_by_name(algo)?.plan(&problem)?),
        None => None,
    };
    let feed = Feed::at(a.fps, a.window);
    print_cluster(&p);
    let c = connect(&a, &p.device, &p.nodes)?;
    let rt = tokio::runtime::Runtime::new()?;
    let measured = rt.block_on(async {
        let mut session = Session::connect(&c).await?;
        print_engines(&session, &p.setting.scenario);
        session.set_emulation(p.run.emulation.clone()).await?;
        let w = Workload {
            switch: next_plan
                .as_ref()
                .map(|n| (n, a.switch_after.unwrap_or(a.frames / 2))),
            ..p.run.workload(&p.model, &problem)
        };
        run_plan(&mut session, &w, &plan, a.frames, feed).await
    });
    // A run that ended early still reports every frame it fed, answered or failed.
    let measured = match measured {
        Ok(m) => m,
        Err(e) => {
            if let Some(m) = e.partial_measured() {
                report_measured(&a, m, &plan, feed)?;
            }
            return Err(e.into());
        }
    };
    report_measured(&a, &measured, &plan, feed)?;
    Ok(exit_code(measured.passed()))
}

/// Prints what a run measured, and writes it as JSON when asked to.
fn report_measured(a: &Args, m: &Measured, plan: &tiersplit_plan::Plan, feed: Feed) -> Result<()> {
    print_measured(m, feed);
    for note in &plan.notes {
        println!("note: {note}");
    }
    if let Some(path) = &a.json {
        std::fs::write(path, serde_json::to_string_pretty(m)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Which engine every node runs, and where that is not what the scenario asks.
fn print_engines(session: &Session, scenario: &tiersplit_cost::Scenario) {
    println!("  engines: {}", session.engines_line());
    for m in session.engine_mismatches(scenario) {
        eprintln!("warning: {m}");
    }
}

/// The cluster and what is emulated, before the run.
fn print_cluster(p: &Prepared) {
    let scenario = &p.setting.scenario;
    println!(
        "run {} on {} ({} nodes{}), this process is {}",
        p.source.label,
        scenario.name,
        scenario.nodes.len(),
        match p.mode {
            EmulateMode::Delays =>
                ", link delays EMULATED in the transport, rates and speeds shaped by the kernel",
            EmulateMode::Off | EmulateMode::Auto => "",
            EmulateMode::On => ", EMULATED link rates, delays and node speeds",
        },
        p.device
    );
    if !matches!(p.mode, EmulateMode::Off | EmulateMode::Auto) {
        println!(
            "  unsplit model here: {:.1} ms (median of 5); the profile is calibrated to it",
            p.run.whole_ms
        );
    }
    for (name, addr) in &p.nodes.remotes {
        let how = if p.nodes.local.iter().any(|w| &w.name == name) {
            "local worker process"
        } else {
            "worker"
        };
        println!("  {name}: {how} at {addr}");
    }
}

/// `run --trace`: the adaptive run, then each static plan, over the same trace; a table, each
/// switch, the plot and the JSON.
fn run_traced(a: &Args, p: Prepared, trace: tiersplit_adapt::Trace) -> Result<ExitCode> {
    let problem = p.setting.problem(&p.model, &p.run.profile)?;
    let plan = planner_by_name(&a.algo)?.plan(&problem)?;
    let c = connect(a, &p.device, &p.nodes)?;
    let setup = TraceSetup {
        fps: a.fps,
        window: a.window,
        overload: a.overload,
        queue: a.queue,
        ..TraceSetup::new(p.source.label.clone(), p.model, p.setting, p.run, trace)
    };
    let strategies = strategies(
        &setup,
        &plan,
        &a.compare,
        (a.adapt == OnOff::On)
            .then(|| tiersplit_adapt::SwitchPolicy::new(a.min_gain, a.cooldown_frames)),
        &a.hedge.policies(),
    )?;
    println!(
        "trace {} ({:.0} s, {} change(s)): {}",
        setup.trace.name,
        setup.trace.duration_s,
        setup.trace.steps.len(),
        setup.trace.description
    );
    let shaped = if setup.kernel_shapes() {
        "link rates and node speeds shaped by the kernel through the fault hook, delays EMULATED in the transport"
    } else {
        "EMULATED link rates, delays and node speeds"
    };
    println!(
        "  on {}, {shaped}; unsplit model here {:.1} ms (median of 5), the profile calibrated to it",
        setup.base().name, setup.whole_ms
    );
    let mut nodes = p.nodes;
    let hooked = a.fault_hook.is_some() && setup.trace.changes_conditions();
    let faults = (!setup.trace.faults().is_empty() || hooked).then(|| {
        let injector: Box<dyn FaultInjector> = match &a.fault_hook {
            Some(hook) => Box::new(HookFaults::new(hook.clone())),
            None => Box::new(LocalFaults::new(std::mem::take(&mut nodes.local))),
        };
        FaultPlayer::new(injector)
    });
    let rt = tokio::runtime::Runtime::new()?;
    let reports: Vec<TraceReport> = rt.block_on(async {
        let mut session = Session::connect(&c).await?;
        if let Some(f) = faults {
            session.set_faults(f);
        }
        print_engines(&session, setup.base());
        run_all(&mut session, &setup, strategies, |r| {
            println!(
                "  {}: {} frames, mean {:.1} ms",
                r.label,
                r.frames.len(),
                r.mean_ms
            )
        })
        .await
    })?;
    drop(nodes);
    let title = format!(
        "{} on {} under trace {}",
        p.source.short_label(),
        setup.base().name,
        setup.trace.name
    );
    write_trace_outputs(a, &title, &setup, &reports)?;
    Ok(exit_code(reports.iter().all(TraceReport::passed)))
}

/// The table, the plot (titled `title`) and the JSON of a trace run.
fn write_trace_outputs(
    a: &Args,
    title: &str,
    setup: &TraceSetup,
    reports: &[TraceReport],
) -> Result<()> {
    print_trace_reports(reports);
    if let Some(path) = &a.plot {
        crate::latency_plot::draw(path, title, reports, setup.trace.duration_s)?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = &a.json {
        std::fs::write(path, serde_json::to_string_pretty(reports)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
