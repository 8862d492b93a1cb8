//! A one-machine cluster made to behave like the scenario's: the profile calibrated to this
//! machine, and the emulation (link rates and delays in the transport, node speeds by
//! stretching compute) that makes the scenario's nodes out of local processes.

use crate::measured::Workload;
use std::sync::Arc;
use tiersplit_cost::{Problem, Profile, Scenario, Tier};
use tiersplit_onnx::OnnxModel;
use tiersplit_runtime::{Emulation, LinkShape};

/// How much of the scenario the transport and the nodes emulate.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EmulateMode {
    /// Emulate when any node runs as a local process (a one-machine cluster).
    Auto,
    /// Link rates, delays and node speeds.
    On,
    /// Nothing: real links, real speeds.
    Off,
    /// Only the links' one-way delays, in the transport: rates and node speeds are shaped by
    /// the kernel (`scripts/testbed`: tc and cgroup CPU quotas), predictions scaled as with
    /// full emulation.
    Delays,
}

impl EmulateMode {
    /// `Auto` decided: on when some node runs as a local process.
    pub fn resolve(self, any_local: bool) -> EmulateMode {
        match self {
            EmulateMode::Auto if any_local => EmulateMode::On,
            EmulateMode::Auto => EmulateMode::Off,
            m => m,
        }
    }
}

/// Scenario speeds as emulation: links shaped at their rate with half their round trip as
/// one-way delay, nodes' radios shared by their links; compute slowed relative to the node of
/// speed `fastest`, which runs at this machine's own speed (so predictions use the profile
/// scaled by that speed). With
/// `delays_only`, just the one-way delays (the testbed shapes rates and compute in the
/// kernel). `fastest` is the scenario's fastest speed as configured: a trace that slows the
/// fastest node must not speed the others up.
pub fn emulation(scenario: &Scenario, delays_only: bool, fastest: f64) -> Emulation {
    let mut links = Vec::new();
    for l in &scenario.links {
        let shape = |from: &str, to: &str| LinkShape {
            from: from.into(),
            to: to.into(),
            mbps: (!delays_only).then_some(l.bandwidth_mbps),
            delay_ms: l.rtt_ms / 2.0,
            cut: false,
        };
        links.push(shape(&l.from, &l.to));
        if l.bidirectional {
            links.push(shape(&l.to, &l.from));
        }
    }
    let slowdown = if delays_only {
        Default::default()
    } else {
        scenario
            .nodes
            .iter()
            .map(|n| (n.name.clone(), (fastest / n.speed).max(1.0)))
            .collect()
    };
    // A radio caps its links in the shaper itself, so a link keeps its own rate here.
    let radios = if delays_only {
        Default::default()
    } else {
        scenario
            .nodes
            .iter()
            .filter_map(|n| Some((n.name.clone(), n.uplink_mbps?)))
            .collect()
    };
    Emulation {
        links,
        slowdown,
        radios,
    }
}

/// The profile and emulation for a scenario. With emulation the fastest node runs at this
/// machine's own speed, so the profile is first calibrated to this machine (its layer times
/// scaled so they add up to `whole_ms`, the unsplit model's time measured here now) and then
/// scaled by the fastest node's speed factor.
pub fn calibrate(
    scenario: &Scenario,
    profile: Profile,
    whole_ms: f64,
    mode: EmulateMode,
) -> (Profile, Emulation) {
    if matches!(mode, EmulateMode::Off | EmulateMode::Auto) {
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
        emulation(scenario, mode == EmulateMode::Delays, fastest),
    )
}

/// A model ready to run on a scenario's cluster: one frame's inputs, the unsplit model's
/// answer and time measured here, and the profile calibrated to that time with the emulation
/// that goes with it.
pub struct Calibrated {
    /// One frame's inputs.
    pub inputs: Vec<crate::engine::NamedTensor>,
    /// The unsplit model's outputs on `inputs`, in the model's output order.
    pub reference: Vec<tiersplit_exec::HostTensor>,
    /// The unsplit model's median time here (ms).
    pub whole_ms: f64,
    /// The profile calibrated to this machine (and scaled to the fastest node when emulating).
    pub profile: Profile,
    /// The link shapes and node slowdowns that go with the profile (none without emulation).
    pub emulation: Emulation,
}

impl Calibrated {
    /// Runs `model` unsplit on `inputs` (`runs` timed runs after one) on the device's engine
    /// and calibrates `profile` for `scenario` as `mode` says.
    pub fn measure(
        source: &crate::source::ModelSource,
        model: &OnnxModel,
        scenario: &Scenario,
        profile: Profile,
        inputs: Vec<crate::engine::NamedTensor>,
        runs: usize,
        mode: EmulateMode,
    ) -> crate::error::Result<Calibrated> {
        // The device's engine: the one a cluster on this machine runs (mixed engines need
        // per-node profiles for their predictions).
        let engine = crate::node_engine(scenario.device()).executor()?;
        let unsplit = crate::engine::load_unsplit_on(engine.as_ref(), source, model)?;
        let (reference, whole_ms) = crate::engine::time_unsplit(unsplit.as_ref(), &inputs, runs)?;
        let (profile, emulation) = calibrate(scenario, profile, whole_ms.max(1e-3), mode);
        Ok(Calibrated {
            inputs,
            reference,
            whole_ms,
            profile,
            emulation,
        })
    }

    /// `model` on `problem` (made with this profile) fed these inputs and checked against
    /// this reference, without a live switch.
    pub fn workload<'a>(&'a self, model: &'a Arc<OnnxModel>, problem: &'a Problem) -> Workload<'a> {
        Workload {
            model,
            problem,
            inputs: &self.inputs,
            reference: &self.reference,
            switch: None,
        }
    }
}
