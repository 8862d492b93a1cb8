//! Where every layer runs.
//!
//! All planners implement [`Planner`]: they read one [`tiersplit_cost::Problem`] and return one
//! [`Plan`] (a node per layer). One evaluator ([`evaluate`]) scores every plan the same way:
//! summed latency (the papers' objective), the makespan of the real DAG schedule, pipelined
//! throughput and bytes per link. [`oracle`] enumerates every placement of small problems, so
//! property tests can hold the exact planners to the true optimum.
//!
//! Pure: no engine, no network, no async runtime.

#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

mod best;
mod chain_sweep;
mod dads_dynamic;
mod decc;
mod dsh;
mod dsl;
mod error;
mod evaluate;
mod exact_three_tier;
mod fail_over;
mod fit;
mod hpa;
mod hpa_vsm;
mod min_cut;
mod net;
mod neurosurgeon;
pub mod oracle;
mod plan;
mod planner;
mod priced;
mod reference;
mod schedule;
mod scorer;
mod single_node;
mod tiled_stage;

pub use best::{Best, Objective};
pub use dads_dynamic::DadsDynamic;
pub use decc::Decc;
pub use dsh::Dsh;
pub use dsl::Dsl;
pub use error::PlanError;
pub use evaluate::{evaluate, LinkLoad, Prediction};
pub use exact_three_tier::{ExactThreeTier, ThreeTierCut};
pub use fail_over::plan_surviving;
pub use hpa::{Hpa, Readjustment, SplitPoints};
pub use hpa_vsm::HpaVsm;
pub use neurosurgeon::{Neurosurgeon, Neurosurgeon3};
pub use plan::Plan;
pub use planner::{all_baseline_planners, all_planners, planner_by_name, Planner};
pub use reference::{reference_optimum, ReferenceOptimum};
pub use single_node::SingleNode;
pub use tiled_stage::{tileable_runs, TiledStage};
