//! The measurements behind `tiersplit bench`: each returns rows of figures measured side by
//! side in one run (ratios within a round, so a shared machine's drift cancels), for a front
//! end to print. Speed targets live here, never in timed unit tests.

mod adapt;
mod cluster;
mod engine;
mod faults;
mod optimum;
mod paper;
mod planning;

pub use adapt::{adapt_rows, ratios, AdaptRow, StepAnswer, METRICS};
pub use cluster::{
    every_plan, goodput, link_scenario, mean_ms, plans_measured, runtime_overhead, Case,
    ErrorSpread, OVERFEED,
};
pub use engine::{
    engine_speeds, ort_python, split_overhead, EngineRow, EngineSpeeds, SPEED_BLOCKS,
};
pub use faults::{fault_summary, FaultSummary};
pub use optimum::{optimum_row, reference_problems, OptimumRow};
pub use paper::{
    cut_of, d3_claims, dads_claims, dads_rows, dads_scenario, dads_sweep, decc_claims, find,
    latency_gain, on_one_machine, pi3bplus_ms, plans_on, spread, throughput_gain, v100_ms, Claim,
    CloudHw, DadsRow, Gain, Load, MeasureBudget, PaperModel, Pin, PlanFigures, ScenarioRow,
    SweepPoint, Uplink, D3_MODELS, D3_PLANNERS, D3_TWO_TIER, DADS_PLANNERS, DADS_UPLINKS,
    DECC_MODELS, DECC_PLANNERS, PI3BPLUS_GFLOPS, PI3BPLUS_MS, V100_GFLOPS, V100_MS,
};
pub use planning::{
    generated_dag, planning_problems, planning_times, readjust_problems, readjust_rows,
    refine_time, ReadjustRow,
};
