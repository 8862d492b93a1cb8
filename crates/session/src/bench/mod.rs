//! The measurements behind `tiersplit bench`: each returns rows of figures measured side by
//! side in one run (ratios within a round, so a shared machine's drift cancels), for a front
//! end to print. Speed targets live here, never in timed unit tests.

mod cluster;
mod engine;
mod planning;

pub use cluster::{every_plan, goodput, link_scenario, mean_ms, Case};
pub use engine::{split_overhead, EngineRow};
pub use planning::{generated_dag, planning_times, readjust_rows, ReadjustRow};
