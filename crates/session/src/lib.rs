//! tiersplit as a library: everything between a model file and answered frames, for the
//! command line and for applications that embed tiersplit (a camera service calling it
//! in-process).
//!
//! - [`ModelSource`] opens a model (an ONNX file or a generated zoo model); [`Setting`] is a
//!   scenario with the node profiles it names, and [`Setting::problem`] sets up the
//!   [`tiersplit_cost::Problem`] of a model on it in one call (layer times and tiling
//!   geometry).
//! - [`measure`] profiles a model on the real engine, reporting through [`Progress`];
//!   [`calibrate`] scales a profile to this machine and derives the emulation that makes a
//!   one-machine cluster behave like the scenario.
//! - [`compile`] turns any [`tiersplit_plan::Plan`] into a [`tiersplit_runtime::Deployment`]
//!   (parts, tile models, stitchers, routes): pure, no cluster needed; node addresses are bound
//!   when a [`Session`] deploys it.
//! - A [`Session`] is the device's side of a cluster (this process is the device node); the
//!   emulation belongs to it. Every run goes through one [`FrameLoop`]: frames produced,
//!   fed, answered and checked, conditions changed on time, plans changed by a
//!   [`PlanChanges`] source (none, a schedule, the adaptive controller). [`run_plan`] runs
//!   frames through one plan and measures them against the prediction; [`run_trace`] plays a
//!   trace of changing conditions with a static or an adaptive plan.
//! - [`start_nodes`] starts worker processes on loopback for a one-machine cluster;
//!   [`Sandbox`] starts the same workers inside this process (tests, embedding).

#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

pub mod assets;
pub mod bench;
mod calibrate;
pub mod certs;
mod compile;
pub mod corpus;
mod engine;
mod error;
mod faults;
mod folding;
mod frame_loop;
mod local_cluster;
mod measured;
mod median;
mod node_engine;
mod npy;
mod parts;
mod plan_kind;
mod preprocess;
mod profiler;
mod report;
mod sandbox;
mod session;
mod setup;
mod source;
mod summary;
mod tiles;
mod trace_run;

pub use calibrate::{calibrate, emulation, Calibrated, EmulateMode};
pub use compile::{compile, Compiled, PartWork};
pub use engine::{
    load_chain, load_chain_on, load_unsplit, load_unsplit_on, model_inputs, run_named,
    time_unsplit, top_classes, InputChoice, NamedTensor,
};
pub use error::{Context, Result, SessionError};
pub use faults::{FaultInjector, FaultPlayer, HookFaults, LocalFaults, Shaping};
pub use folding::{folding, EngineEvaluator};
pub use frame_loop::{
    Condition, Deployed, FailOverLog, FaultLog, FrameLog, FrameLoop, Frames, HedgeLog, LoopReport,
    LoopSetup, PhaseLog, PlanChanges, SwitchLog, TruthCheck, Until, Won,
};
pub use local_cluster::{start_nodes, start_nodes_with, LocalTls, LocalWorker, StartedNodes};
pub use measured::{run_plan, Feed, FrameBreakdown, MeanBreakdown, Measured, Workload};
pub use median::{median, percentile, quietest_median};
pub use node_engine::node_engine;
pub use npy::{read_npy, write_npy};
pub use parts::read_parts;
pub use plan_kind::{PlanKind, PLAN_KIND_LEGEND};
pub use preprocess::{image_tensor, Preprocess};
pub use profiler::{machine_name, measure, NoProgress, Progress};
pub use report::{graph_json, plan_dot, plans_json};
pub use sandbox::Sandbox;
pub use session::{Connect, Session};
pub use setup::{read_profile, read_scenario, NodeProfiles, ProfileSource, Setting};
pub use source::ModelSource;
pub use summary::{node_names, placement_summary, uplink_bytes, Predicted};
pub use tiles::{flops_overhead, run_tiled, GridSpec, TileCheck};
pub use trace_run::{
    fault_figures, latency_bins, phase_plans, read_trace, run_all, run_trace, strategies,
    FaultFigure, PartSample, PhaseTruth, Strategy, TraceReport, TraceSetup,
};
